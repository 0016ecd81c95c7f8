//! Nothing acknowledged is lost when the server process is killed mid-stream.
//!
//! The server runs in a child process (this test binary re-run as `crash_child`), is killed
//! with SIGKILL while clients stream creates, and is restarted on the same database.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clearance_auth::{DevKey, TokenRequest};
use clearance_proto::v1 as pb;
use clearance_proto::v1::application_service_client::ApplicationServiceClient;
use clearance_tests::{Bearer, TestApp, TestDb, on_both_databases};
use tonic::transport::Channel;

use crate::fixtures::{draft, h20, request_id};

const CHILD_DB: &str = "CLEARANCE_CRASH_CHILD_DATABASE_URL";
const CHILD_KEYS: &str = "CLEARANCE_CRASH_CHILD_KEY_DIR";
const CHILD_TEST: &str = "durability::crash_child";

/// The child side: serves on the given database until killed (or 120 s, as a bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run only as the child process of the crash test"]
async fn crash_child() {
    let (Ok(url), Ok(keys)) = (std::env::var(CHILD_DB), std::env::var(CHILD_KEYS)) else {
        return;
    };
    let app = TestApp::spawn_with_keys(&url, Some(keys.into())).await;
    let running = app.running.as_ref().expect("running");
    println!(
        "LISTENING {}",
        running.application_addr.expect("application address")
    );
    tokio::time::sleep(Duration::from_secs(120)).await;
}

/// Starts a server in a child process on `db` and returns it with its application address.
pub fn spawn_child_server(db: &TestDb, key_dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &db.url)
        .env(CHILD_KEYS, key_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child server");
    let stdout = child.stdout.take().expect("child stdout");
    let addr = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        // libtest prints "test <name> ... " before the child's own output on the same line.
        .find_map(|line| {
            line.split_once("LISTENING ")
                .map(|(_, addr)| addr.trim().to_owned())
        })
        .expect("the child server reports its address");
    (child, addr)
}

async fn a_killed_server_loses_no_acknowledged_write(db: &TestDb, mut app: TestApp) {
    // The in-process server steps aside; its key directory stays for the child and restart.
    app.stop().await;
    let key_dir = app.key_dir();
    let (mut child, addr) = spawn_child_server(db, &key_dir);

    let key = DevKey::load(&key_dir).expect("key");
    let token = key
        .mint(&TokenRequest {
            subject: "officer@acme".into(),
            roles: vec!["applicant".into()],
            organisation: Some("acme".into()),
            issuer: "clearance-dev".into(),
            audience: "clearance".into(),
            now: chrono::Utc::now(),
            lifetime_seconds: 600,
        })
        .expect("token");
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = || {
        ApplicationServiceClient::with_interceptor(
            channel.clone(),
            Bearer::new(Some(token.clone())),
        )
    };
    let product = client()
        .create_product(pb::CreateProductRequest {
            request_id: request_id(),
            product: Some(h20()),
        })
        .await
        .expect("product")
        .into_inner();

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for _ in 0..4 {
        let mut client = client();
        let acknowledged = acknowledged.clone();
        let product = product.name.clone();
        writers.push(tokio::spawn(async move {
            // Bounded: stops at the first failure (the kill) or after 2000 writes.
            for _ in 0..2000 {
                let result = client
                    .create_application(pb::CreateApplicationRequest {
                        request_id: request_id(),
                        application: Some(draft(&product)),
                    })
                    .await;
                match result {
                    Ok(r) => acknowledged.lock().unwrap().push(r.into_inner().name),
                    Err(_) => return,
                }
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL the server");
    child.wait().expect("reap");
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 40);

    let restarted = TestApp::spawn_with_keys(&db.url, Some(key_dir)).await;
    let mut acme = restarted.applicant("acme");
    for name in &acknowledged {
        let found = acme
            .get_application(pb::GetApplicationRequest { name: name.clone() })
            .await;
        assert!(
            found.is_ok(),
            "acknowledged {name} is missing after the kill: {found:?}"
        );
    }
}

on_both_databases!(a_killed_server_loses_no_acknowledged_write);
