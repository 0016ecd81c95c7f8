//! TLS end to end: `clearance serve` with a certificate from `clearance dev-cert`, called by
//! clearancectl and by a plain gRPC client, with an ERP system's client certificate bound to its
//! organisation, refusing plaintext, and serving a renewed certificate without a restart. On
//! SQLite and PostgreSQL.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clearance_proto::v1 as pb;
use clearance_proto::v1::application_service_client::ApplicationServiceClient;
use clearance_tests::{Backend, TestDb};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// The `clearance` binary, built beside `clearancectl` (`cargo test --workspace` builds both;
/// a run of this package alone builds it here).
fn clearance_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_clearancectl")).with_file_name("clearance");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--bin", "clearance"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building clearance");
    }
    path
}

fn clearance(home: &Path, db: &str, args: &[&str]) -> Command {
    let mut command = Command::new(clearance_binary());
    command
        .args(args)
        .current_dir(home)
        .env("CLEARANCE_DATABASE_URL", db)
        .env("CLEARANCE_AUTH__DEV_KEY_DIR", home.join("keys"));
    command
}

struct Server {
    child: Child,
    application: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_tls(home: &Path, db: &str) -> Server {
    let tls = home.join("tls");
    let mut child = clearance(
        home,
        db,
        &[
            "serve",
            "--application-listen",
            "127.0.0.1:0",
            "--reviewer-listen",
            "127.0.0.1:0",
        ],
    )
    .env("CLEARANCE_TLS__CERT_FILE", tls.join("server.pem"))
    .env("CLEARANCE_TLS__KEY_FILE", tls.join("server-key.pem"))
    .env("CLEARANCE_TLS__CLIENT_CA_FILE", tls.join("ca.pem"))
    .stderr(Stdio::piped())
    .spawn()
    .expect("clearance serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let application = lines
        .by_ref()
        .find_map(|line| {
            line.strip_prefix("application service (")
                .and_then(|rest| rest.rsplit_once(" on "))
                .map(|(_, addr)| addr.trim().to_owned())
        })
        .expect("the server reports its application address");
    // Keep draining the server's log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, application }
}

fn dev_cert(home: &Path) {
    let output = clearance(
        home,
        "sqlite://unused.db",
        &["dev-cert", "--dir", "tls", "--client", "acme"],
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let snippet = String::from_utf8_lossy(&output.stdout);
    assert!(
        snippet.contains("[tls]") && snippet.contains("server-key.pem"),
        "{snippet}"
    );
}

async fn tls_channel(addr: &str, ca: &Path) -> Result<Channel, tonic::transport::Error> {
    tls_channel_as(addr, ca, None).await
}

/// With `client`, presents that organisation's client certificate (mTLS).
async fn tls_channel_as(
    addr: &str,
    ca: &Path,
    client: Option<&str>,
) -> Result<Channel, tonic::transport::Error> {
    let ca_pem = Certificate::from_pem(std::fs::read(ca).unwrap());
    let mut tls = ClientTlsConfig::new().ca_certificate(ca_pem);
    if let Some(org) = client {
        let dir = ca.parent().unwrap();
        tls = tls.identity(Identity::from_pem(
            std::fs::read(dir.join(format!("client-{org}.pem"))).unwrap(),
            std::fs::read(dir.join(format!("client-{org}-key.pem"))).unwrap(),
        ));
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

async fn list_products(channel: Channel, token: &str) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(pb::ListProductsRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    ApplicationServiceClient::new(channel)
        .list_products(request)
        .await
        .map(|_| ())
}

async fn tls_serves_clearancectl_and_grpc_clients_and_refuses_plaintext(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    dev_cert(home);
    let server = serve_tls(home, &db.url);
    let token = clearance(
        home,
        &db.url,
        &["token", "--role", "applicant", "--org", "acme"],
    )
    .output()
    .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let ca = home.join("tls/ca.pem");

    // clearancectl over https with the CA in hand; without it, the server is not trusted.
    let ctl = |with_ca: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_clearancectl"));
        command
            .args(["--output", "json", "--application-endpoint"])
            .arg(format!("https://{}", server.application))
            .env("CLEARANCE_TOKEN", &token)
            .env("XDG_CONFIG_HOME", home)
            .env_remove("CLEARANCE_PROFILE");
        if with_ca {
            command.arg("--ca-file").arg(&ca);
        }
        command.args(["products", "list"]).output().unwrap()
    };
    let listed = ctl(true);
    assert!(listed.status.success(), "{listed:?}");
    let untrusted = ctl(false);
    assert_eq!(untrusted.status.code(), Some(6), "{untrusted:?}");

    // A plain gRPC client with TLS.
    let channel = tls_channel(&server.application, &ca)
        .await
        .expect("TLS connects");
    list_products(channel, &token)
        .await
        .expect("served over TLS");

    // An ERP system with acme's client certificate: acme's tokens pass, another
    // organisation's token over that connection is refused.
    let mtls = tls_channel_as(&server.application, &ca, Some("acme"))
        .await
        .expect("mTLS connects");
    list_products(mtls.clone(), &token)
        .await
        .expect("acme over acme's certificate");
    let globex = clearance(
        home,
        &db.url,
        &["token", "--role", "erp", "--org", "globex"],
    )
    .output()
    .unwrap();
    let globex = String::from_utf8(globex.stdout).unwrap().trim().to_owned();
    let refused = list_products(mtls, &globex).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("issued to organisation 'acme'"),
        "{refused:?}"
    );

    // Plaintext is refused: the handshake fails and the connection is closed.
    let plaintext = match Channel::from_shared(format!("http://{}", server.application))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
    {
        Ok(channel) => list_products(channel, &token).await.is_err(),
        Err(_) => true,
    };
    assert!(plaintext, "a plaintext call must not be served");

    // A renewed certificate (here from a new CA) is served without a restart.
    dev_cert(home);
    let mut renewed = false;
    for _ in 0..40 {
        if let Ok(channel) = tls_channel(&server.application, &ca).await
            && list_products(channel, &token).await.is_ok()
        {
            renewed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(renewed, "the new certificate was picked up");
    drop(server);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_sqlite() {
    tls_serves_clearancectl_and_grpc_clients_and_refuses_plaintext(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_postgres() {
    tls_serves_clearancectl_and_grpc_clients_and_refuses_plaintext(Backend::Postgres).await;
}
