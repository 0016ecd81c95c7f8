//! Configuration: defaults < TOML file < `CLEARANCE_*` environment < command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Which services one process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ServiceSelection {
    Both,
    Application,
    Reviewer,
}

/// How tokens are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Generates and trusts a local Ed25519 key (and optionally a shared secret).
    Development,
    /// Trusts only the configured public keys; never generates anything.
    Production,
}

/// One trusted verification key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyConfig {
    /// `EdDSA`, `ES256` or `RS256`.
    pub algorithm: String,
    /// PEM file with the public key.
    pub public_key_file: PathBuf,
}

/// Where an identity provider publishes its keys, and how often they are read again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwksConfig {
    /// A file path, or an `https://` URL (the provider's `jwks_uri`).
    pub source: String,
    /// Seconds between periodic refreshes.
    #[serde(default = "JwksConfig::default_refresh")]
    pub refresh_seconds: u64,
    /// A token naming an unknown key id refreshes the set at most this often.
    #[serde(default = "JwksConfig::default_min_refresh")]
    pub min_refresh_seconds: u64,
}

impl JwksConfig {
    fn default_refresh() -> u64 {
        300
    }

    fn default_min_refresh() -> u64 {
        10
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    pub mode: AuthMode,
    pub issuer: String,
    pub audience: String,
    pub leeway_seconds: u64,
    /// Where the development key pair lives (development mode only).
    pub dev_key_dir: PathBuf,
    pub keys: Vec<KeyConfig>,
    /// An identity provider's key set (JWKS): keys chosen by the token's `kid`.
    pub jwks: Option<JwksConfig>,
    /// HS256 shared secret; development mode only, and logged as such.
    pub hs256_secret: Option<String>,
}

/// The review clock's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewConfig {
    /// Decide within this many working days of submission.
    pub target_working_days: i64,
    /// Default deadline for answers to information requests, in working days.
    pub response_working_days: i64,
    /// Days that are not working days besides Saturdays and Sundays (UTC dates).
    pub holidays: Vec<chrono::NaiveDate>,
    /// Agencies a case may be referred to for advice; an adviser's token names one in `org`.
    pub agencies: Vec<AgencyConfig>,
    /// Days after a denial within which the applicant may appeal.
    pub appeal_period_days: i64,
    /// Working days a senior reviewer has to decide an appeal (the appeal's own clock).
    pub appeal_decision_working_days: i64,
}

/// An advising agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyConfig {
    /// Lower-case letters, digits, `-` and `_`, e.g. `defense`.
    pub id: String,
    /// Working days it has to advise.
    #[serde(default = "default_advice_working_days")]
    pub advice_working_days: i64,
}

fn default_advice_working_days() -> i64 {
    clearance_domain::referral::DEFAULT_ADVICE_WORKING_DAYS
}

impl ReviewConfig {
    /// The review settings, or what is wrong with the agencies.
    pub fn settings(&self) -> anyhow::Result<clearance_domain::workflow::ReviewSettings> {
        use clearance_domain::referral::{AdvisingAgencies, AdvisingAgency};
        let agencies = AdvisingAgencies::new(
            self.agencies
                .iter()
                .map(|a| AdvisingAgency {
                    id: a.id.clone(),
                    advice_working_days: a.advice_working_days,
                })
                .collect(),
        )
        .map_err(|v| anyhow::anyhow!("invalid [review] agencies: {v}"))?;
        anyhow::ensure!(
            (1..=3650).contains(&self.appeal_period_days),
            "review.appeal_period_days must lie between 1 and 3650, not {}",
            self.appeal_period_days
        );
        anyhow::ensure!(
            (1..=250).contains(&self.appeal_decision_working_days),
            "review.appeal_decision_working_days must lie between 1 and 250, not {}",
            self.appeal_decision_working_days
        );
        Ok(clearance_domain::workflow::ReviewSettings {
            calendar: clearance_domain::calendar::WorkingCalendar::new(
                self.holidays.iter().copied(),
            ),
            target_working_days: self.target_working_days,
            response_working_days: self.response_working_days,
            agencies,
            appeals: clearance_domain::appeal::AppealPolicy {
                period_days: self.appeal_period_days,
                decision_working_days: self.appeal_decision_working_days,
            },
        })
    }
}

/// Denied-party screening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreeningConfig {
    /// Hits scoring at least this (0 to 1) are flagged on a case and block a shipment.
    pub threshold: f64,
}

impl ScreeningConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (0.5..=1.0).contains(&self.threshold),
            "screening.threshold must lie between 0.5 and 1, not {}",
            self.threshold
        );
        Ok(())
    }
}

/// Supporting documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentsConfig {
    /// Where document bytes are kept, one file per SHA-256 (relative to the working
    /// directory unless absolute). Every replica must see the same directory. With `s3`,
    /// only uploads being received are spooled here.
    pub dir: PathBuf,
    /// The largest document accepted, in bytes.
    pub max_bytes: i64,
    /// Keep documents in an S3-compatible bucket instead of `dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<clearance_store::ObjectStorage>,
}

impl DocumentsConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=clearance_domain::application::MAX_DOCUMENT_BYTES).contains(&self.max_bytes),
            "documents.max_bytes must lie between 1 and {}, not {}",
            clearance_domain::application::MAX_DOCUMENT_BYTES,
            self.max_bytes
        );
        if let Some(s3) = &self.s3 {
            anyhow::ensure!(
                !s3.bucket.trim().is_empty(),
                "documents.s3.bucket is required when documents are kept in object storage"
            );
            anyhow::ensure!(
                s3.access_key_id.is_empty() == s3.secret_access_key.is_empty(),
                "documents.s3.access_key_id and secret_access_key are given together or not at all"
            );
        }
        Ok(())
    }

    /// The document store this configuration names.
    pub fn files(&self) -> anyhow::Result<clearance_store::DocumentFiles> {
        self.check()?;
        Ok(match &self.s3 {
            None => clearance_store::DocumentFiles::new(&self.dir),
            Some(s3) => {
                clearance_store::DocumentFiles::object_storage(s3, self.dir.join("incoming"))
                    .map_err(|e| anyhow::anyhow!("documents.s3: {e}"))?
            }
        })
    }
}

/// How far from now a shipment's time may lie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentsConfig {
    /// A shipment may be recorded up to this many hours after it left.
    pub window_back_hours: u32,
    /// ... and up to this many hours before it leaves.
    pub window_ahead_hours: u32,
}

impl ShipmentsConfig {
    pub fn window(&self) -> clearance_domain::ledger::ShipmentWindow {
        clearance_domain::ledger::ShipmentWindow {
            back: chrono::Duration::hours(i64::from(self.window_back_hours)),
            ahead: chrono::Duration::hours(i64::from(self.window_ahead_hours)),
        }
    }
}

/// Bounds on calls, callers and database sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsConfig {
    /// The longest any call may take; a client's shorter deadline wins. Also the PostgreSQL
    /// sessions' statement timeout.
    pub call_timeout_seconds: u64,
    /// Calls served at once by this process; past it, RESOURCE_EXHAUSTED (OVERLOADED).
    pub max_concurrent_calls: usize,
    /// Sustained calls per second per caller (token subject); 0 turns rate limiting off.
    pub calls_per_second_per_caller: u32,
    /// Calls a caller may make at once above the sustained rate.
    pub burst_per_caller: u32,
    /// Open WatchEvents streams per caller.
    pub streams_per_caller: usize,
    /// Largest request or response message.
    pub max_message_bytes: usize,
    /// PostgreSQL: the longest wait for one lock.
    pub lock_timeout_seconds: u64,
    /// PostgreSQL: a transaction left idle this long is ended by the database.
    pub idle_in_transaction_timeout_seconds: u64,
    /// The longest a call waits for a database connection (including opening one) before it
    /// answers UNAVAILABLE, so a database that is down fails calls fast.
    pub pool_acquire_timeout_seconds: u64,
}

impl LimitsConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.call_timeout_seconds >= 1
                && self.max_concurrent_calls >= 1
                && self.streams_per_caller >= 1,
            "limits.call_timeout_seconds, limits.max_concurrent_calls and limits.streams_per_caller must be at least 1"
        );
        anyhow::ensure!(
            (1..=self.call_timeout_seconds).contains(&self.pool_acquire_timeout_seconds),
            "limits.pool_acquire_timeout_seconds must be at least 1 and at most limits.call_timeout_seconds"
        );
        anyhow::ensure!(
            self.calls_per_second_per_caller == 0 || self.burst_per_caller >= 1,
            "limits.burst_per_caller must be at least 1 when rate limiting is on"
        );
        anyhow::ensure!(
            (1024..=64 * 1024 * 1024).contains(&self.max_message_bytes),
            "limits.max_message_bytes must lie between 1 KiB and 64 MiB"
        );
        Ok(())
    }

    pub fn call_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.call_timeout_seconds)
    }

    pub fn session_timeouts(&self) -> clearance_store::SessionTimeouts {
        clearance_store::SessionTimeouts {
            statement: self.call_timeout(),
            lock: std::time::Duration::from_secs(self.lock_timeout_seconds),
            idle_in_transaction: std::time::Duration::from_secs(
                self.idle_in_transaction_timeout_seconds,
            ),
            acquire: std::time::Duration::from_secs(self.pool_acquire_timeout_seconds),
        }
    }
}

/// How long idempotency records and outbox events are kept. History is never pruned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionConfig {
    /// A retry with the same request_id within this many days returns the first answer.
    pub idempotency_days: u32,
    /// Events older than this are pruned; a stream cursor before them is OUT_OF_RANGE.
    pub event_days: u32,
    /// Seconds between pruning passes.
    pub prune_interval_seconds: u64,
    /// Rows deleted per statement, so pruning never holds long locks.
    pub prune_batch: u64,
}

impl RetentionConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.idempotency_days >= 1 && self.event_days >= 1,
            "retention.idempotency_days and retention.event_days must be at least 1"
        );
        anyhow::ensure!(
            self.prune_batch >= 1 && self.prune_interval_seconds >= 1,
            "retention.prune_batch and retention.prune_interval_seconds must be at least 1"
        );
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// `sqlite://clearance.db` (embedded default) or `postgres://user@host/db`.
    pub database_url: String,
    pub database_max_connections: u32,
    pub application_listen: SocketAddr,
    pub reviewer_listen: SocketAddr,
    /// Prometheus metrics (`GET /metrics`) on this address; none when unset.
    pub metrics_listen: Option<SocketAddr>,
    /// OpenTelemetry traces over OTLP/gRPC to this collector (e.g. `http://127.0.0.1:4317`);
    /// none when unset.
    pub otlp_endpoint: Option<String>,
    pub services: ServiceSelection,
    /// Seconds between reporting NOT_SERVING and stopping, so load balancers drain first.
    pub shutdown_grace_seconds: u64,
    /// `text` or `json`.
    pub log_format: String,
    /// Install the built-in (illustrative) rule-set versions from `policies/` on start.
    pub builtin_catalogue: bool,
    pub review: ReviewConfig,
    pub screening: ScreeningConfig,
    pub documents: DocumentsConfig,
    pub shipments: ShipmentsConfig,
    pub retention: RetentionConfig,
    pub limits: LimitsConfig,
    /// Serve both listeners over TLS with these files (reloaded when they change).
    pub tls: Option<crate::tls::TlsConfig>,
    pub auth: AuthConfig,
    pub console: ConsoleSettings,
    pub audit: AuditConfig,
}

/// The audit log's signed checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditConfig {
    /// Names the log in its checkpoints (origin line and key name): printable, no spaces.
    pub origin: String,
    /// The Ed25519 signing key (PKCS#8 PEM), kept out of the database. Unset in development
    /// mode: a key is generated under auth.dev_key_dir/audit. Unset in production: no
    /// checkpoints are signed (and the server says so).
    pub signing_key_file: Option<PathBuf>,
    /// Where each checkpoint is written, one file per tree size, never overwritten (meant for
    /// write-once storage, e.g. a bucket with object lock, or a directory shipped elsewhere).
    pub checkpoint_dir: PathBuf,
    /// Seconds between checkpoints signed in the background (0: only `clearance checkpoint`).
    pub checkpoint_interval_seconds: u64,
}

/// The caseworkers' web console, served beside the reviewer service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSettings {
    /// Where the console answers (unset: no console).
    pub listen: Option<SocketAddr>,
    /// A session ends this many minutes after sign-in (or when the identity provider's access
    /// token does, if sooner).
    pub session_minutes: u64,
    /// Mark the session cookie Secure (when people reach the console over TLS).
    pub secure_cookies: bool,
    /// Sign people in through this OpenID Connect provider (required in production mode;
    /// unset in development mode: pick a name and a role).
    #[serde(default)]
    pub oidc: Option<ConsoleOidcConfig>,
}

/// The console's registration with an OpenID Connect provider.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleOidcConfig {
    /// The provider's issuer URL, exactly as its discovery document states it.
    pub issuer: String,
    pub client_id: String,
    /// For a confidential client; better set through CLEARANCE_CONSOLE__OIDC__CLIENT_SECRET.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The console's callback as registered with the provider, e.g.
    /// `https://console.example.gov/sign-in/callback`.
    pub redirect_url: String,
    #[serde(default = "ConsoleOidcConfig::default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim listing roles or groups; dots reach into objects
    /// (`realm_access.roles` for Keycloak).
    #[serde(default = "ConsoleOidcConfig::default_roles_claim")]
    pub roles_claim: String,
    /// The provider's names for Clearance roles, e.g. `"export-seniors" = "senior_reviewer"`.
    #[serde(default)]
    pub role_names: std::collections::BTreeMap<String, String>,
}

impl ConsoleOidcConfig {
    fn default_scopes() -> Vec<String> {
        vec!["openid".into(), "profile".into()]
    }

    fn default_roles_claim() -> String {
        "roles".into()
    }

    pub fn settings(&self) -> clearance_auth::OidcSettings {
        clearance_auth::OidcSettings {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            redirect_url: self.redirect_url.clone(),
            scopes: self.scopes.clone(),
            roles_claim: self.roles_claim.clone(),
            role_names: self
                .role_names
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

impl std::fmt::Debug for ConsoleOidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The settings' Debug leaves the client secret out.
        std::fmt::Debug::fmt(&self.settings(), f)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://clearance.db".into(),
            database_max_connections: 8,
            application_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            reviewer_listen: SocketAddr::from(([127, 0, 0, 1], 50052)),
            metrics_listen: None,
            otlp_endpoint: None,
            services: ServiceSelection::Both,
            shutdown_grace_seconds: 1,
            log_format: "text".into(),
            builtin_catalogue: true,
            review: ReviewConfig {
                target_working_days: 30,
                response_working_days: 20,
                holidays: Vec::new(),
                // The agencies EO 12981 has review US licence applications.
                agencies: ["defense", "state", "energy"]
                    .into_iter()
                    .map(|id| AgencyConfig {
                        id: id.into(),
                        advice_working_days: default_advice_working_days(),
                    })
                    .collect(),
                appeal_period_days: clearance_domain::appeal::DEFAULT_APPEAL_PERIOD_DAYS,
                appeal_decision_working_days:
                    clearance_domain::appeal::DEFAULT_APPEAL_DECISION_WORKING_DAYS,
            },
            screening: ScreeningConfig {
                threshold: clearance_domain::screening::DEFAULT_THRESHOLD,
            },
            documents: DocumentsConfig {
                dir: PathBuf::from("documents"),
                max_bytes: clearance_domain::documents::DEFAULT_MAX_DOCUMENT_BYTES,
                s3: None,
            },
            shipments: ShipmentsConfig {
                window_back_hours: 72,
                window_ahead_hours: 1,
            },
            retention: RetentionConfig {
                idempotency_days: 30,
                event_days: 30,
                prune_interval_seconds: 300,
                prune_batch: 500,
            },
            limits: LimitsConfig {
                call_timeout_seconds: 30,
                max_concurrent_calls: 1024,
                calls_per_second_per_caller: 1000,
                burst_per_caller: 2000,
                streams_per_caller: 8,
                max_message_bytes: 4 * 1024 * 1024,
                lock_timeout_seconds: 10,
                idle_in_transaction_timeout_seconds: 60,
                pool_acquire_timeout_seconds: 2,
            },
            tls: None,
            console: ConsoleSettings {
                listen: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
                session_minutes: 480,
                secure_cookies: false,
                oidc: None,
            },
            audit: AuditConfig {
                origin: "clearance/audit".into(),
                signing_key_file: None,
                checkpoint_dir: PathBuf::from("checkpoints"),
                checkpoint_interval_seconds: 60,
            },
            auth: AuthConfig {
                mode: AuthMode::Development,
                issuer: "clearance-dev".into(),
                audience: "clearance".into(),
                leeway_seconds: 30,
                dev_key_dir: PathBuf::from(".clearance"),
                keys: Vec::new(),
                jwks: None,
                hs256_secret: None,
            },
        }
    }
}

impl Config {
    /// Defaults, then the TOML file (the given one, or `clearance.toml` if present), then
    /// `CLEARANCE_*` variables (`__` separates nested keys: `CLEARANCE_AUTH__ISSUER`).
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                anyhow::ensure!(
                    path.exists(),
                    "configuration file {} does not exist",
                    path.display()
                );
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("clearance.toml")),
        }
        figment = figment.merge(Env::prefixed("CLEARANCE_").split("__"));
        Ok(figment.extract()?)
    }
}

impl Config {
    /// The addresses this process will listen on.
    pub fn listen_addresses(&self) -> Vec<SocketAddr> {
        let mut addresses = match self.services {
            ServiceSelection::Both => vec![self.application_listen, self.reviewer_listen],
            ServiceSelection::Application => vec![self.application_listen],
            ServiceSelection::Reviewer => vec![self.reviewer_listen],
        };
        // The console runs beside the reviewer service.
        if self.services != ServiceSelection::Application {
            addresses.extend(self.console.listen);
        }
        addresses
    }

    /// Development mode trusts a key that anyone who can read the data directory can sign
    /// with, so it serves this machine only: refused on any address other machines can reach.
    pub fn refuse_development_mode_on_the_network(&self) -> anyhow::Result<()> {
        if self.auth.mode != AuthMode::Development {
            return Ok(());
        }
        if let Some(exposed) = self
            .listen_addresses()
            .into_iter()
            .find(|a| !a.ip().is_loopback())
        {
            anyhow::bail!(
                "refusing to listen on {exposed} in development mode: development tokens are signed \
                 with a key generated on this machine, so anyone who can read it could act as any \
                 role; listen on 127.0.0.1 or ::1, or set auth.mode = \"production\" with your \
                 identity provider's keys (auth.keys or auth.jwks)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type
    fn environment_overrides_the_file_and_the_file_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "clearance.toml",
                "database_url = \"sqlite://from-file.db\"\nlog_format = \"json\"",
            )?;
            jail.set_env("CLEARANCE_DATABASE_URL", "postgres://from-env/db");
            jail.set_env("CLEARANCE_AUTH__ISSUER", "corp-idp");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.database_url, "postgres://from-env/db");
            assert_eq!(config.log_format, "json");
            assert_eq!(config.auth.issuer, "corp-idp");
            assert_eq!(config.application_listen.port(), 50051);
            Ok(())
        });
    }

    /// The configurations shipped in deploy/ load, and serve on the network in production mode.
    #[test]
    fn the_deployment_configurations_load_and_may_listen_on_the_network() {
        let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        let compose = std::fs::read_to_string(deploy.join("compose.clearance.toml")).unwrap();
        let manifest = std::fs::read_to_string(deploy.join("kubernetes/clearance.yaml")).unwrap();
        // The ConfigMap's TOML is the indented block after `clearance.toml: |`.
        let kubernetes: String = manifest
            .split_once("clearance.toml: |\n")
            .unwrap()
            .1
            .lines()
            .take_while(|l| l.starts_with("    "))
            .map(|l| format!("{}\n", &l[4..]))
            .collect();
        for toml in [compose, kubernetes] {
            let mut config: Config = Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::string(&toml))
                .extract()
                .unwrap();
            assert_eq!(config.auth.mode, AuthMode::Production, "{toml}");
            config.application_listen = "0.0.0.0:50051".parse().unwrap();
            config.refuse_development_mode_on_the_network().unwrap();
        }
    }

    #[test]
    fn development_mode_serves_loopback_only() {
        let mut config = Config::default();
        config.refuse_development_mode_on_the_network().unwrap();
        config.application_listen = "0.0.0.0:50051".parse().unwrap();
        let refusal = config
            .refuse_development_mode_on_the_network()
            .unwrap_err()
            .to_string();
        assert!(refusal.contains("0.0.0.0:50051"), "{refusal}");
        // Serving only the other listener is fine.
        config.services = ServiceSelection::Reviewer;
        config.refuse_development_mode_on_the_network().unwrap();
        config.reviewer_listen = "[::]:50052".parse().unwrap();
        assert!(config.refuse_development_mode_on_the_network().is_err());
        config.auth.mode = AuthMode::Production;
        config.refuse_development_mode_on_the_network().unwrap();
    }

    #[test]
    fn object_storage_for_documents_is_configured_and_its_secret_never_printed() {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(
                "[documents.s3]\nbucket = \"docs\"\nendpoint = \"http://127.0.0.1:9000\"\n\
                 allow_http = true\naccess_key_id = \"AKIA\"\nsecret_access_key = \"s3cr3t\"\n",
            ))
            .extract()
            .unwrap();
        let s3 = config.documents.s3.as_ref().unwrap();
        assert_eq!(s3.bucket, "docs");
        assert!(s3.allow_http);
        assert!(config.documents.files().is_ok());
        assert!(!format!("{config:?}").contains("s3cr3t"));
        // A bucket is required, and a key needs its secret.
        let mut broken = config.clone();
        broken.documents.s3.as_mut().unwrap().bucket.clear();
        assert!(broken.documents.check().is_err());
        let mut broken = config;
        broken
            .documents
            .s3
            .as_mut()
            .unwrap()
            .secret_access_key
            .clear();
        assert!(broken.documents.check().is_err());
    }

    #[test]
    fn the_console_signs_in_through_a_configured_provider_and_its_secret_is_never_printed() {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(
                "[auth]\nmode = \"production\"\n\
                 [console.oidc]\nissuer = \"https://idp.example.gov/realms/bis\"\n\
                 client_id = \"clearance-console\"\nclient_secret = \"0idc-s3cr3t\"\n\
                 redirect_url = \"https://console.example.gov/sign-in/callback\"\n\
                 roles_claim = \"realm_access.roles\"\n\
                 [console.oidc.role_names]\n\"export-seniors\" = \"senior_reviewer\"\n",
            ))
            .extract()
            .unwrap();
        let oidc = config.console.oidc.as_ref().unwrap();
        assert_eq!(oidc.scopes, ["openid", "profile"], "default scopes");
        let settings = oidc.settings();
        assert_eq!(
            settings
                .role_names
                .get("export-seniors")
                .map(String::as_str),
            Some("senior_reviewer")
        );
        assert!(!format!("{config:?}").contains("0idc-s3cr3t"));
        // Production mode signs people in through the provider; without one the console has
        // no way to, and says so.
        assert!(crate::serve::console_config(&config, "http://127.0.0.1:1".into()).is_ok());
        let mut without = config;
        without.console.oidc = None;
        let refused = crate::serve::console_config(&without, "http://127.0.0.1:1".into())
            .err()
            .unwrap()
            .to_string();
        assert!(refused.contains("[console.oidc]"), "{refused}");
    }

    #[test]
    fn the_example_configuration_documents_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/clearance.example.toml");
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(path))
            .extract()
            .unwrap();
        assert_eq!(config, Config::default());
    }
}
