//! Wiring: both gRPC services with authentication, health, reflection, request tracing and
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clearance_application_service::{ApplicationApi, ShipmentApi};
use clearance_auth::{
    Audience, DevKey, JwksSource, KeyAlgorithm, KeySet, Verifier, VerifierConfig, VerifyingKey,
};
use clearance_domain::policy::catalogue;
use clearance_grpc::{Authenticator, CallLimits, Clock, EventApi, RuleBook, Screener};
use clearance_proto::v1::application_service_server::ApplicationServiceServer;
use clearance_proto::v1::event_service_server::EventServiceServer;
use clearance_proto::v1::policy_service_server::PolicyServiceServer;
use clearance_proto::v1::review_service_server::ReviewServiceServer;
use clearance_proto::v1::shipment_service_server::ShipmentServiceServer;
use clearance_reviewer_service::{PolicyApi, ReviewApi};
use clearance_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::config::{AuthMode, Config, ServiceSelection};
use crate::tls::Connection;

const APPLICATION_SERVICES: [&str; 4] = [
    "clearance.v1.ApplicationService",
    "clearance.v1.ShipmentService",
    "clearance.v1.EventService",
    "clearance.v1.AuditService",
];
const REVIEWER_SERVICES: [&str; 4] = [
    "clearance.v1.ReviewService",
    "clearance.v1.PolicyService",
    "clearance.v1.EventService",
    "clearance.v1.AuditService",
];
/// How often licences past their validity are moved to EXPIRED.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(30);
/// How often each replica looks for list versions imported elsewhere (an import through the
/// process wakes its sweep at once).
const SCREENING_SWEEP_INTERVAL: Duration = Duration::from_secs(2);
/// HTTP/2 pings on a quiet connection (e.g. an idle event stream) keep proxies from closing it
/// and find a dead client; a ping unanswered for `HTTP2_KEEPALIVE_TIMEOUT` closes it.
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness checks that the database answers while it does.
const READINESS_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How often while it does not (or after one failed check), so service is back at once.
const READINESS_PROBE_RETRY: Duration = Duration::from_millis(250);
/// The longest one check waits: a hung database counts as down.
const READINESS_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Failed checks in a row before NOT_SERVING, so one slow ping does not take a replica out:
/// at most about 3.25 s from the database's loss to NOT_SERVING.
const READINESS_FAILURES_BEFORE_NOT_SERVING: u32 = 2;
/// How long `clearance serve` waits for a database that is still starting.
const DATABASE_STARTUP_WAIT: Duration = Duration::from_secs(30);

/// Builds the token verifier the configuration asks for. In development mode this generates
/// the local key pair on first use.
pub async fn build_verifier(config: &Config) -> anyhow::Result<Verifier> {
    let auth = &config.auth;
    let mut keys = Vec::new();
    for key in &auth.keys {
        let algorithm = match key.algorithm.as_str() {
            "EdDSA" => KeyAlgorithm::EdDsa,
            "ES256" => KeyAlgorithm::Es256,
            "RS256" => KeyAlgorithm::Rs256,
            other => {
                anyhow::bail!("unsupported key algorithm '{other}' (use EdDSA, ES256 or RS256)")
            }
        };
        let material = std::fs::read(&key.public_key_file)
            .with_context(|| format!("reading {}", key.public_key_file.display()))?;
        keys.push(VerifyingKey {
            algorithm,
            material,
        });
    }
    let development = auth.mode == AuthMode::Development;
    if development {
        let dev = DevKey::load_or_create(&auth.dev_key_dir)?;
        tracing::warn!(
            key = %dev.private_path.display(),
            "development mode: trusting a locally generated signing key; configure auth.mode = \"production\" with public keys for real deployments"
        );
        keys.push(dev.verifying_key());
        if let Some(secret) = &auth.hs256_secret {
            tracing::warn!(
                "development mode: also accepting HS256 tokens signed with a shared secret"
            );
            keys.push(VerifyingKey {
                algorithm: KeyAlgorithm::Hs256,
                material: secret.as_bytes().to_vec(),
            });
        }
    } else {
        anyhow::ensure!(
            auth.hs256_secret.is_none(),
            "auth.hs256_secret is refused in production mode"
        );
        anyhow::ensure!(
            !keys.is_empty() || auth.jwks.is_some(),
            "production mode needs the identity provider's keys: auth.jwks or entries in auth.keys"
        );
    }
    let key_set = match &auth.jwks {
        Some(jwks) => {
            let set = Arc::new(
                KeySet::load(
                    JwksSource::parse(&jwks.source),
                    Duration::from_secs(jwks.min_refresh_seconds),
                )
                .await?,
            );
            tracing::info!(source = %jwks.source, keys = ?set.key_ids(), "verification keys loaded");
            // Ends when the last verifier holding the set is dropped.
            set.spawn_refresh(Duration::from_secs(jwks.refresh_seconds.max(1)));
            Some(set)
        }
        None => None,
    };
    Ok(Verifier::new(VerifierConfig {
        issuer: auth.issuer.clone(),
        audience: auth.audience.clone(),
        keys,
        leeway_seconds: auth.leeway_seconds,
        development_mode: development,
        key_set,
    })?)
}

/// The running services.
pub struct Running {
    /// Where `GET /metrics` answers, if configured.
    pub metrics_addr: Option<SocketAddr>,
    metrics: Option<JoinHandle<()>>,
    pub application_addr: Option<SocketAddr>,
    pub reviewer_addr: Option<SocketAddr>,
    /// Where the web console answers, if it runs.
    pub console_addr: Option<SocketAddr>,
    console: Option<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<Result<(), tonic::transport::Error>>>,
    monitor: JoinHandle<()>,
    expiry: JoinHandle<()>,
    /// Screens cases against list versions imported since they were last screened.
    screening: JoinHandle<()>,
    pruning: JoinHandle<()>,
    /// Signs the audit log's checkpoints, when a key is configured.
    checkpoints: Option<JoinHandle<()>>,
    health: Vec<(HealthReporter, &'static [&'static str])>,
    grace: Duration,
}

/// Readiness: each named service is SERVING only while the database answers (checked in the
/// background, so a health call never waits on the database).
async fn set_readiness(
    health: &[(HealthReporter, &'static [&'static str])],
    status: ServingStatus,
) {
    for (reporter, services) in health {
        for service in services.iter() {
            reporter.set_service_status(*service, status).await;
        }
    }
}

/// Liveness and readiness together: the empty service name ("") is liveness — SERVING while
/// the process runs, whatever the database does, so an outage does not restart every
/// replica — and NOT_SERVING only at shutdown.
async fn set_health(health: &[(HealthReporter, &'static [&'static str])], status: ServingStatus) {
    for (reporter, _) in health {
        reporter.set_service_status("", status).await;
    }
    set_readiness(health, status).await;
}

impl Running {
    /// Sets how long shutdown reports NOT_SERVING before it stops accepting calls.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Graceful stop: report NOT_SERVING, give load balancers the grace period, then stop
    /// accepting and let in-flight RPCs finish.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        // The readiness monitor stops first (and is waited for), so a database that comes
        // back while the replica drains cannot report it SERVING again.
        self.monitor.abort();
        let _ = self.monitor.await;
        set_health(&self.health, ServingStatus::NotServing).await;
        tokio::time::sleep(self.grace).await;
        let _ = self.stop.send(true);
        self.expiry.abort();
        self.screening.abort();
        self.pruning.abort();
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.abort();
        }
        if let Some(metrics) = &self.metrics {
            metrics.abort();
        }
        for server in self.servers {
            server.await.context("server task")?.context("server")?;
        }
        if let Some(console) = self.console {
            console.await.context("console task")?;
        }
        Ok(())
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down: reporting NOT_SERVING and draining in-flight calls");
        self.shutdown().await
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

fn trace_span(request: &http::Request<()>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let span = tracing::info_span!(
        "rpc",
        method = %request.uri().path(),
        request_id = %request_id,
        principal = tracing::field::Empty,
    );
    crate::telemetry::continue_incoming_trace(&span, request.headers());
    span
}

/// Reflection that advertises exactly the services this listener serves.
fn reflection(
    services: &[&str],
) -> anyhow::Result<(
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
)> {
    let builder = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(clearance_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection");
        for service in services {
            b = b.with_service_name(*service);
        }
        b
    };
    let v1 = builder().build_v1()?;
    let v1alpha = builder().build_v1alpha()?;
    Ok((v1, v1alpha))
}

async fn bind(
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> anyhow::Result<(ReceiverStream<std::io::Result<Connection>>, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    Ok((crate::tls::incoming(listener, tls), local))
}

/// Connects to the configured database with the configured session limits, waiting up to
/// `DATABASE_STARTUP_WAIT` for one that does not answer yet (started alongside the server).
pub async fn connect_store(config: &Config) -> anyhow::Result<Store> {
    let started = std::time::Instant::now();
    loop {
        match Store::connect_with(
            &config.database_url,
            config.database_max_connections,
            config.limits.session_timeouts(),
        )
        .await
        {
            Ok(store) => return Ok(store),
            Err(e @ clearance_store::StoreError::Unavailable(_))
                if started.elapsed() < DATABASE_STARTUP_WAIT =>
            {
                tracing::warn!(error = %e, "the database does not answer yet; waiting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("connecting to {}", redact(&config.database_url))));
            }
        }
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Makes the database ready: applies migrations and, unless disabled, installs the built-in
/// rule-set versions that are not there yet.
pub async fn prepare(
    config: &Config,
    store: &Store,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    store.migrate().await.context("migrating the database")?;
    if config.builtin_catalogue {
        let groups = catalogue::country_groups().map_err(anyhow::Error::msg)?;
        let rule_sets = catalogue::rule_sets(&groups).map_err(anyhow::Error::msg)?;
        let installed = store.install_rule_sets(&rule_sets, now).await?;
        if installed > 0 {
            tracing::info!(
                installed,
                "installed built-in rule-set versions (illustrative data, see policies/)"
            );
        }
    }
    Ok(())
}

/// Starts the selected services on `store` (already migrated) and returns once they listen
/// and health reports SERVING.
pub async fn start(
    config: &Config,
    store: Store,
    verifier: Verifier,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Running> {
    config.retention.check()?;
    config.limits.check()?;
    config.screening.check()?;
    config.documents.check()?;
    store.ping().await.context("the database does not answer")?;
    let groups = catalogue::country_groups().map_err(anyhow::Error::msg)?;
    let rules = RuleBook::new(store.clone(), Arc::new(groups));
    let screener = Screener::new(store.clone(), config.screening.threshold);
    let files = config.documents.files()?;
    tracing::info!(documents = %files.describe(), "documents kept");
    let store_for_expiry = store.clone();
    let store_for_pruning = store.clone();
    let settings = Arc::new(config.review.settings()?);
    let (stop, stopped) = watch::channel(false);
    let mut servers = Vec::new();
    let mut health = Vec::new();
    let mut application_addr = None;
    let mut reviewer_addr = None;

    // One set of limits for the whole process: both listeners share the cap on calls in flight
    // and each caller's rate.
    let limits = CallLimits::new(
        config.limits.call_timeout(),
        config.limits.max_concurrent_calls,
        config.limits.calls_per_second_per_caller,
        config.limits.burst_per_caller,
    );
    let max_message = config.limits.max_message_bytes;
    let tls = match &config.tls {
        Some(files) => Some(crate::tls::server_config(files)?),
        None => None,
    };
    let (recorders, mut gauges) = crate::metrics::registry(store.clone(), clock.clone());
    let signer_halted = gauges.signer_halted();
    let mut events = |store: Store| {
        let api = EventApi::new(store, stopped.clone())
            .with_streams_per_caller(config.limits.streams_per_caller);
        gauges.watch_streams(api.clone());
        EventServiceServer::new(api)
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message)
    };

    let audit = |store: Store| {
        clearance_proto::v1::audit_service_server::AuditServiceServer::new(
            clearance_grpc::AuditApi::new(store),
        )
        .max_decoding_message_size(max_message)
        .max_encoding_message_size(max_message)
    };

    let wait_for_stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    if config.services != ServiceSelection::Reviewer {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let (reflection_v1, reflection_v1alpha) = reflection(&APPLICATION_SERVICES)?;
        let auth = Authenticator::new(verifier.clone(), Audience::Exporter);
        let (incoming, addr) = bind(config.application_listen, tls.clone()).await?;
        let router = Server::builder()
            .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
            .trace_fn(trace_span)
            .layer(auth.layer_with(limits.clone(), recorders.calls.clone()))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(
                ApplicationServiceServer::new(ApplicationApi::new(
                    store.clone(),
                    rules.clone(),
                    screener.clone(),
                    clearance_application_service::Documents {
                        files: files.clone(),
                        max_bytes: config.documents.max_bytes,
                    },
                    settings.clone(),
                    clock.clone(),
                ))
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
            )
            .add_service(
                ShipmentServiceServer::new(
                    ShipmentApi::new(
                        store.clone(),
                        rules.clone(),
                        screener.clone(),
                        clock.clone(),
                        config.shipments.window(),
                    )
                    .with_metrics(recorders.shipments.clone()),
                )
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
            )
            .add_service(events(store.clone()))
            .add_service(audit(store.clone()));
        servers.push(tokio::spawn(router.serve_with_incoming_shutdown(
            incoming,
            wait_for_stop(stopped.clone()),
        )));
        health.push((reporter, &APPLICATION_SERVICES[..]));
        application_addr = Some(addr);
        tracing::info!(%addr, "application service listening");
    }

    if config.services != ServiceSelection::Application {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let (reflection_v1, reflection_v1alpha) = reflection(&REVIEWER_SERVICES)?;
        let auth = Authenticator::new(verifier.clone(), Audience::Regulator);
        let (incoming, addr) = bind(config.reviewer_listen, tls.clone()).await?;
        let router = Server::builder()
            .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
            .trace_fn(trace_span)
            .layer(auth.layer_with(limits.clone(), recorders.calls.clone()))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(
                ReviewServiceServer::new(ReviewApi::new(
                    store.clone(),
                    files.clone(),
                    settings.clone(),
                    clock.clone(),
                    rules.clone(),
                ))
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
            )
            .add_service(
                PolicyServiceServer::new(PolicyApi::new(
                    store.clone(),
                    rules.clone(),
                    screener.clone(),
                    clock.clone(),
                ))
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
            )
            .add_service(events(store.clone()))
            .add_service(audit(store.clone()));
        servers.push(tokio::spawn(router.serve_with_incoming_shutdown(
            incoming,
            wait_for_stop(stopped.clone()),
        )));
        health.push((reporter, &REVIEWER_SERVICES[..]));
        reviewer_addr = Some(addr);
        tracing::info!(%addr, "reviewer service listening");
    }

    let (console_addr, console) = start_console(config, reviewer_addr, stopped.clone()).await?;

    // SERVING only now that the database has answered; the monitor keeps it honest.
    let probe = Store::readiness_probe(&config.database_url, READINESS_PROBE_TIMEOUT)
        .await
        .context("the database does not answer the readiness probe")?;
    set_health(&health, ServingStatus::Serving).await;
    let monitor = {
        let health = health.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let mut serving = true;
            let mut failures = 0;
            loop {
                let wait = if serving && failures == 0 {
                    READINESS_PROBE_INTERVAL
                } else {
                    READINESS_PROBE_RETRY
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => return,
                }
                let answers = probe.database_answers().await;
                failures = if answers { 0 } else { failures + 1 };
                let ready = answers || failures < READINESS_FAILURES_BEFORE_NOT_SERVING;
                if ready != serving {
                    serving = ready;
                    tracing::warn!(database_answers = answers, "readiness changes");
                    let status = if ready {
                        ServingStatus::Serving
                    } else {
                        ServingStatus::NotServing
                    };
                    set_readiness(&health, status).await;
                }
            }
        })
    };

    // Expiry is due-time work; any number of replicas may run it (see expire_due_licences).
    let expiry = {
        let store = store_for_expiry;
        let clock = clock.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(EXPIRY_INTERVAL) => {}
                    _ = stopped.changed() => return,
                }
                match store.expire_due_licences(clock.now(), 100).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "licences expired"),
                    Err(e) => tracing::warn!(error = %e, "licence expiry sweep failed"),
                }
            }
        })
    };

    // The screening sweep runs on every replica: each write it makes is guarded, and a case
    // waits for it (no decision) until it has been screened against every list imported.
    let screening = tokio::spawn(clearance_grpc::run_screening_sweeps(
        store.clone(),
        screener.clone(),
        settings.clone(),
        clock.clone(),
        SCREENING_SWEEP_INTERVAL,
        stopped.clone(),
    ));

    let (metrics_addr, metrics) = match config.metrics_listen {
        Some(addr) => {
            let (addr, task) = crate::metrics::serve(addr, gauges, stopped.clone()).await?;
            tracing::info!(%addr, "metrics at http://{addr}/metrics");
            (Some(addr), Some(task))
        }
        None => (None, None),
    };

    let checkpoints = match (
        crate::audit::Signer::from_config(config)?,
        config.audit.checkpoint_interval_seconds,
    ) {
        (Some(signer), seconds) if seconds > 0 => Some(crate::audit::spawn_checkpoints(
            store_for_pruning.clone(),
            signer,
            Duration::from_secs(seconds),
            signer_halted,
            stopped.clone(),
        )),
        (Some(_), _) => None,
        (None, _) => {
            tracing::warn!(
                "the audit log is not checkpointed: set audit.signing_key_file to sign its checkpoints"
            );
            None
        }
    };
    let pruning = spawn_pruning(
        store_for_pruning,
        files.clone(),
        config.retention.clone(),
        clock.clone(),
        stopped.clone(),
    );

    Ok(Running {
        metrics_addr,
        metrics,
        application_addr,
        reviewer_addr,
        console_addr,
        console,
        stop,
        servers,
        monitor,
        expiry,
        screening,
        pruning,
        checkpoints,
        health,
        grace: Duration::from_secs(config.shutdown_grace_seconds),
    })
}

/// The web console's settings for a reviewer service at `reviewer_endpoint`: sessions as
/// configured; people signed in through the configured OpenID Connect provider, or, in
/// development mode without one, with the development key.
pub fn console_config(
    config: &Config,
    reviewer_endpoint: String,
) -> anyhow::Result<clearance_console::ConsoleConfig> {
    let sign_in = match (&config.console.oidc, config.auth.mode) {
        (Some(oidc), _) => clearance_console::SignIn::open_id_connect(oidc.settings()),
        (None, AuthMode::Development) => {
            let key = DevKey::load_or_create(&config.auth.dev_key_dir)?;
            clearance_console::SignIn::Development {
                key: Arc::new(key),
                issuer: config.auth.issuer.clone(),
                audience: config.auth.audience.clone(),
            }
        }
        (None, AuthMode::Production) => anyhow::bail!(
            "the web console needs [console.oidc] in production mode: people sign in through the organisation's OpenID Connect provider"
        ),
    };
    Ok(clearance_console::ConsoleConfig {
        reviewer_endpoint,
        session_lifetime: Duration::from_secs(config.console.session_minutes.saturating_mul(60)),
        secure_cookies: config.console.secure_cookies,
        sign_in,
    })
}

/// Starts the web console beside this process's reviewer service. Its calls to the reviewer
/// service go over plain HTTP/2 to this process, so it does not start when the services
/// serve TLS only; run `clearance console` beside it instead.
async fn start_console(
    config: &Config,
    reviewer_addr: Option<SocketAddr>,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<(Option<SocketAddr>, Option<JoinHandle<()>>)> {
    let (Some(listen), Some(reviewer)) = (config.console.listen, reviewer_addr) else {
        return Ok((None, None));
    };
    if config.tls.is_some() {
        tracing::warn!(
            "the web console is not started beside services that serve TLS; run `clearance console` with the reviewer service's endpoint"
        );
        return Ok((None, None));
    }
    let console_config = match console_config(config, format!("http://{reviewer}")) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "the web console is not started");
            return Ok((None, None));
        }
    };
    // The gRPC services are what ERP systems and clients depend on: a console that cannot
    // have its port (another server on this machine) is reported, not fatal.
    let (listener, addr) = match clearance_console::bind(listen).await {
        Ok(bound) => bound,
        Err(e) => {
            tracing::error!(error = %e, "the web console is not started");
            return Ok((None, None));
        }
    };
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(e) = clearance_console::serve(listener, console_config, stop).await {
            tracing::error!(error = %e, "the web console stopped");
        }
    });
    tracing::info!(%addr, "web console at http://{addr}/");
    Ok((Some(addr), Some(task)))
}

/// Prunes idempotency records and outbox events past retention, in small batches with a pause
/// between them so writers never queue behind it, until a pass finds nothing more to do. Any
/// number of replicas may run it: deletions are idempotent and the retention mark only rises.
/// Document bytes no upload holds are kept this long after their last upload claimed them,
/// so an upload between its claim and its record never loses them.
const ORPHANED_DOCUMENT_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// Pruning past retention, and the bytes of documents nobody holds any more, in passes.
fn spawn_pruning(
    store: Store,
    files: clearance_store::DocumentFiles,
    retention: crate::config::RetentionConfig,
    clock: Arc<dyn Clock>,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let interval = Duration::from_secs(retention.prune_interval_seconds);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stopped.changed() => return,
            }
            match prune_once(&store, &retention, clock.now()).await {
                Ok(p) if p.idempotency_records + p.outbox_events > 0 => tracing::info!(
                    idempotency_records = p.idempotency_records,
                    outbox_events = p.outbox_events,
                    "pruned records past retention"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning failed; retrying at the next pass"),
            }
            match store
                .sweep_orphaned_documents(
                    &files,
                    clock.now(),
                    ORPHANED_DOCUMENT_GRACE,
                    retention.prune_batch,
                )
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(documents = n, "removed the bytes no upload holds"),
                Err(e) => {
                    tracing::warn!(error = %e, "removing orphaned document bytes failed; retrying at the next pass")
                }
            }
        }
    })
}

/// One pruning pass: batches until both kinds are done.
pub async fn prune_once(
    store: &Store,
    retention: &crate::config::RetentionConfig,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<clearance_store::Pruned> {
    let idempotency_cutoff = now - chrono::Duration::days(i64::from(retention.idempotency_days));
    let event_cutoff = now - chrono::Duration::days(i64::from(retention.event_days));
    let mut pruned = clearance_store::Pruned::default();
    loop {
        let records = store
            .prune_idempotency_records(idempotency_cutoff, retention.prune_batch)
            .await?;
        let events = store
            .prune_outbox_events(event_cutoff, retention.prune_batch)
            .await?;
        pruned.idempotency_records += records;
        pruned.outbox_events += events;
        if records < retention.prune_batch && events < retention.prune_batch {
            return Ok(pruned);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
