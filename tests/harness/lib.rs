//! Test harness: both services in-process on port 0 with a fresh database (a temporary SQLite
//! file, or a new PostgreSQL database named by a uuid), tokens for any role, and clients.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test support: failing loudly is the point

use std::sync::Arc;

pub mod browser;
pub mod fault_proxy;
pub mod identity_provider;
pub mod object_storage;
pub mod raw;

use clearance_auth::{DevKey, TokenRequest};
use clearance_grpc::{Clock, SystemClock};
use clearance_proto::v1::application_service_client::ApplicationServiceClient;
use clearance_proto::v1::policy_service_client::PolicyServiceClient;
use clearance_proto::v1::review_service_client::ReviewServiceClient;
pub use clearance_server::Config;
use clearance_server::{Running, build_verifier, prepare, start};
use clearance_store::Store;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The clock tests set and move.
pub type ManualClock = clearance_grpc::SettableClock;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use: `DATABASE_URL` or the local server.
pub fn postgres_admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let server = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && i > base.find("://").map_or(0, |s| s + 2) => {
            &base[..i]
        }
        _ => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// A fresh, empty database for one test.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    postgres_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    /// The PostgreSQL database's name, for tests that act on the server itself.
    pub fn postgres_database(&self) -> Option<&str> {
        self.postgres_name.as_deref()
    }

    /// `None` when PostgreSQL is wanted but unreachable outside CI (a notice is printed);
    /// under `CI=true` an unreachable PostgreSQL fails the test.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("clearance.db").display());
                Some(TestDb {
                    backend,
                    url,
                    postgres_name: None,
                    _dir: dir,
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("clearance_test_{}", uuid::Uuid::now_v7().simple());
                match clearance_store::create_postgres_database(&admin, &name).await {
                    Ok(()) => Some(TestDb {
                        backend,
                        url: with_database(&admin, &name),
                        postgres_name: Some(name),
                        _dir: dir,
                    }),
                    Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                        eprintln!("NOTICE: skipping a PostgreSQL test: no server at {admin} ({e})");
                        None
                    }
                    Err(e) => panic!("PostgreSQL is required under CI=true: {e}"),
                }
            }
        }
    }

    pub async fn drop_database(&self) {
        let Some(name) = &self.postgres_name else {
            return;
        };
        if let Err(e) = clearance_store::drop_postgres_database(&postgres_admin_url(), name).await {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}

/// Both services running on a test database.
pub struct TestApp {
    pub store: Store,
    pub running: Option<Running>,
    pub application_channel: Channel,
    pub reviewer_channel: Channel,
    pub config: Config,
    /// Starts at the real time; tests may set it.
    pub clock: Arc<ManualClock>,
    pub dev_key: DevKey,
    /// Keeps a temporary key directory alive as long as the app.
    _own_key_dir: tempfile::TempDir,
}

impl TestApp {
    /// Where this app's development key lives.
    pub fn key_dir(&self) -> std::path::PathBuf {
        self.config.auth.dev_key_dir.clone()
    }
}

impl TestApp {
    /// Spawns both services on a new database of `backend`; `None` when skipped.
    pub async fn spawn(backend: Backend) -> Option<(TestDb, TestApp)> {
        Self::spawn_configured(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], with the configuration adjusted first (e.g. no built-in
    /// catalogue).
    pub async fn spawn_configured(
        backend: Backend,
        adjust: impl FnOnce(&mut Config),
    ) -> Option<(TestDb, TestApp)> {
        let db = TestDb::create(backend).await?;
        let app = TestApp::spawn_with(&db.url, None, adjust).await;
        Some((db, app))
    }

    /// Spawns both services on an existing database (e.g. after a crash), reusing the
    /// development key directory of `previous` when given.
    pub async fn spawn_on(db: &TestDb, previous: Option<&TestApp>) -> TestApp {
        let dir = previous.map(TestApp::key_dir);
        Self::spawn_with_keys(&db.url, dir).await
    }

    /// Spawns both services on `database_url`, with development keys in `key_dir` (a new
    /// temporary directory when `None`).
    pub async fn spawn_with_keys(
        database_url: &str,
        key_dir: Option<std::path::PathBuf>,
    ) -> TestApp {
        Self::spawn_with(database_url, key_dir, |_| {}).await
    }

    /// Spawns both services on a new PostgreSQL database reached through a [`FaultProxy`] the
    /// test controls; `None` when PostgreSQL is skipped.
    ///
    /// [`FaultProxy`]: fault_proxy::FaultProxy
    pub async fn spawn_behind_proxy() -> Option<(TestDb, fault_proxy::FaultProxy, TestApp)> {
        let db = TestDb::create(Backend::Postgres).await?;
        let (proxy, url) = fault_proxy::FaultProxy::before(&db.url).await;
        let app = TestApp::spawn_with(&url, None, |_| {}).await;
        Some((db, proxy, app))
    }

    /// Spawns both services on `database_url` with the configuration adjusted first.
    pub async fn spawn_with(
        database_url: &str,
        key_dir: Option<std::path::PathBuf>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        let own_dir = tempfile::tempdir().expect("key directory");
        let mut config = Config {
            database_url: database_url.to_owned(),
            application_listen: "127.0.0.1:0".parse().expect("address"),
            reviewer_listen: "127.0.0.1:0".parse().expect("address"),
            shutdown_grace_seconds: 0,
            ..Config::default()
        };
        config.auth.dev_key_dir = key_dir.unwrap_or_else(|| own_dir.path().to_path_buf());
        config.documents.dir = own_dir.path().join("documents");
        config.audit.checkpoint_dir = own_dir.path().join("checkpoints");
        // Each test's own console, on a free port.
        config.console.listen = Some("127.0.0.1:0".parse().expect("address"));
        adjust(&mut config);
        let verifier = build_verifier(&config).await.expect("verifier");
        // Production-mode tests sign with keys of their own; this one is then unused.
        let dev_key = DevKey::load_or_create(&config.auth.dev_key_dir).expect("development key");
        // As `clearance serve` connects: with the configured session timeouts.
        config.database_max_connections = 8;
        let store = clearance_server::serve::connect_store(&config)
            .await
            .expect("database");
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        prepare(&config, &store, clock.now())
            .await
            .expect("migrations and catalogue");
        let running = start(&config, store.clone(), verifier, clock.clone())
            .await
            .expect("services start");
        let connect = |addr: Option<std::net::SocketAddr>| async move {
            let addr = addr.expect("listening");
            Channel::from_shared(format!("http://{addr}"))
                .expect("endpoint")
                .connect()
                .await
                .expect("connect")
        };
        let application_channel = connect(running.application_addr).await;
        let reviewer_channel = connect(running.reviewer_addr).await;
        TestApp {
            store,
            running: Some(running),
            application_channel,
            reviewer_channel,
            config,
            clock,
            dev_key,
            _own_key_dir: own_dir,
        }
    }

    /// Whether the bytes of document `sha256` are stored (in the documents directory or the
    /// bucket).
    pub fn stored_document_exists(&self, sha256: &str) -> bool {
        match &self.config.documents.s3 {
            Some(s3) => object_storage::exists(s3, &format!("{}/{sha256}", s3.prefix)),
            None => self
                .config
                .documents
                .dir
                .join(&sha256[..2])
                .join(sha256)
                .exists(),
        }
    }

    /// Writes `bytes` over the stored document `sha256` (in the documents directory or the
    /// bucket), as someone with access to the storage could.
    pub fn overwrite_stored_document(&self, sha256: &str, bytes: &[u8]) {
        match &self.config.documents.s3 {
            Some(s3) => object_storage::overwrite(s3, &format!("{}/{sha256}", s3.prefix), bytes),
            None => {
                let stored = self.config.documents.dir.join(&sha256[..2]).join(sha256);
                std::fs::write(stored, bytes).expect("change the stored file");
            }
        }
    }

    /// A token for `roles` (and `org` for exporters) signed by the development key.
    pub fn token(&self, roles: &[&str], org: Option<&str>) -> String {
        self.token_for(
            &format!("{}@{}", roles.join("+"), org.unwrap_or("regulator")),
            roles,
            org,
        )
    }

    /// A token for a named person.
    pub fn token_for(&self, subject: &str, roles: &[&str], org: Option<&str>) -> String {
        self.dev_key
            .mint(&TokenRequest {
                subject: subject.to_owned(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                organisation: org.map(String::from),
                issuer: self.config.auth.issuer.clone(),
                audience: self.config.auth.audience.clone(),
                now: chrono::Utc::now(),
                lifetime_seconds: 3600,
            })
            .expect("token")
    }

    /// An applicant of `org`.
    pub fn applicant(&self, org: &str) -> ApplicationClient {
        self.applications_with(Some(self.token(&["applicant"], Some(org))))
    }

    /// An ApplicationService client sending `token` (or none).
    pub fn applications_with(&self, token: Option<String>) -> ApplicationClient {
        ApplicationServiceClient::with_interceptor(
            self.application_channel.clone(),
            Bearer::new(token),
        )
    }

    /// A named regulator with `roles` on the ReviewService.
    pub fn regulator(&self, subject: &str, roles: &[&str]) -> ReviewClient {
        self.reviews_with(Some(self.token_for(subject, roles, None)))
    }

    /// A named adviser of `agency` on the ReviewService.
    pub fn adviser(&self, subject: &str, agency: &str) -> ReviewClient {
        self.reviews_with(Some(self.token_for(subject, &["adviser"], Some(agency))))
    }

    /// A ReviewService client sending `token` (or none).
    pub fn reviews_with(&self, token: Option<String>) -> ReviewClient {
        ReviewServiceClient::with_interceptor(self.reviewer_channel.clone(), Bearer::new(token))
    }

    /// A PolicyService client sending `token` (or none).
    pub fn policies_with(&self, token: Option<String>) -> PolicyClient {
        PolicyServiceClient::with_interceptor(self.reviewer_channel.clone(), Bearer::new(token))
    }

    /// Calls `path` with raw message `body` and `token` (or none) on the reviewer port
    /// (`regulator_side`) or the application port; a streaming method answers with its first
    /// message, or an empty reply once it has opened.
    pub async fn call_raw(
        &self,
        regulator_side: bool,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, tonic::Status> {
        let channel = if regulator_side {
            self.reviewer_channel.clone()
        } else {
            self.application_channel.clone()
        };
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut request = tonic::Request::new(body);
        if let Some(token) = token {
            request.metadata_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("ascii token"),
            );
        }
        let path: http::uri::PathAndQuery = path.parse().expect("method path");
        if path.path().starts_with("/clearance.v1.EventService/") {
            let mut stream = grpc
                .server_streaming(request, path, raw::RawCodec)
                .await?
                .into_inner();
            return match tokio::time::timeout(
                std::time::Duration::from_millis(200),
                stream.message(),
            )
            .await
            {
                Ok(result) => result.map(Option::unwrap_or_default),
                Err(_) => Ok(Vec::new()),
            };
        }
        grpc.unary(request, path, raw::RawCodec)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Graceful stop.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("graceful shutdown");
        }
    }
}

pub type ApplicationClient = ApplicationServiceClient<InterceptedService<Channel, Bearer>>;
pub type ReviewClient = ReviewServiceClient<InterceptedService<Channel, Bearer>>;
pub type PolicyClient = PolicyServiceClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    pub fn new(token: Option<String>) -> Self {
        Bearer(token.map(|t| format!("Bearer {t}").parse().expect("ascii token")))
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Runs each scenario once on SQLite and once on PostgreSQL; `without_catalogue;` first
/// starts from an empty rule book instead of the built-in catalogue.
#[macro_export]
macro_rules! on_both_databases {
    (without_catalogue; $($scenario:ident),* $(,)?) => {
        $crate::on_both_databases!(@with |c: &mut $crate::Config| c.builtin_catalogue = false; $($scenario),*);
    };
    ($($scenario:ident),* $(,)?) => {
        $crate::on_both_databases!(@with |_: &mut $crate::Config| {}; $($scenario),*);
    };
    (@with $adjust:expr; $($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some((db, app)) = $crate::TestApp::spawn_configured($crate::Backend::Sqlite, $adjust).await {
                        super::$scenario(&db, app).await;
                        db.drop_database().await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some((db, app)) = $crate::TestApp::spawn_configured($crate::Backend::Postgres, $adjust).await {
                        super::$scenario(&db, app).await;
                        db.drop_database().await;
                    }
                }
            )*
        }
    };
}

/// What the gRPC health service on `channel` says of `service` ("" is liveness).
pub async fn health(
    channel: &Channel,
    service: &str,
) -> tonic_health::pb::health_check_response::ServingStatus {
    let response = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health answers whatever the database does")
        .into_inner();
    tonic_health::pb::health_check_response::ServingStatus::try_from(response.status)
        .expect("known status")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_test_database_replaces_the_admin_database_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
    }
}
