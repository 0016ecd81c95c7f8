//! What every command shares: the connection context, shared arguments, endpoint
//! problems and the failure type.

use std::path::PathBuf;

use clap::Args;
use clearance_proto::v1::application_service_client::ApplicationServiceClient;
use clearance_proto::v1::policy_service_client::PolicyServiceClient;
use clearance_proto::v1::review_service_client::ReviewServiceClient;
use clearance_proto::v1::shipment_service_client::ShipmentServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::output::{self, Format};
use crate::profile;

#[derive(Args)]
pub(crate) struct Page {
    /// e.g. `state = APPLICATION_STATE_DRAFT`.
    #[arg(long, default_value = "")]
    pub(crate) filter: String,
}

#[derive(Args)]
pub(crate) struct Change {
    /// Idempotency key; a new UUID when absent. Reuse it to retry safely.
    #[arg(long)]
    pub(crate) request_id: Option<String>,
    /// The etag read last; the current one is fetched when absent.
    #[arg(long)]
    pub(crate) etag: Option<String>,
}

/// A new resource or a one-shot action: retried safely with the same request id.
#[derive(Args)]
pub(crate) struct Retry {
    /// Idempotency key; a new UUID when absent. Reuse it to retry safely.
    #[arg(long)]
    pub(crate) request_id: Option<String>,
}

/// A decision (or licence action) names the version it was made on.
#[derive(Args)]
pub(crate) struct Decided {
    /// Idempotency key; a new UUID when absent. Reuse it to retry safely.
    #[arg(long)]
    pub(crate) request_id: Option<String>,
    /// The etag `show` printed: if the case or licence changed since, the decision is refused
    /// instead of overwriting the change. Required unless --latest.
    #[arg(long, conflicts_with = "latest")]
    pub(crate) etag: Option<String>,
    /// Act on the current version, whatever it is (the etag acted on is printed).
    #[arg(long)]
    pub(crate) latest: bool,
}

/// A failed command: a call the server refused, a service that could not be reached, or a
/// local problem.
pub(crate) enum Failure {
    Status(tonic::Status),
    Local(anyhow::Error),
}

/// A problem found before or instead of an answer: a service that did not answer (exit code
/// 6, whatever the command) or input that cannot be sent (exit code 2).
#[derive(Debug)]
pub(crate) enum LocalProblem {
    Unreachable(String),
    Invalid(String),
    /// A reference that names nothing the caller can see (exit code 3).
    NotFound(String),
    /// An answer that says no, already printed (exit code 4).
    Refused(String),
}

impl std::fmt::Display for LocalProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalProblem::Unreachable(text)
            | LocalProblem::Invalid(text)
            | LocalProblem::NotFound(text)
            | LocalProblem::Refused(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for LocalProblem {}

/// Every cause of `e`, outermost first ("transport error" alone says nothing).
pub(crate) fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut words = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !words.iter().any(|w| w.contains(&text)) {
            words.push(text);
        }
        next = cause.source();
    }
    words.join(": ")
}

/// Connects to `endpoint` (`which` says which service it should be, for the message).
pub(crate) async fn connect(
    endpoint: &str,
    which: &str,
    timeout: std::time::Duration,
    per_call_timeout: bool,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<Channel> {
    if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
        return Err(LocalProblem::Invalid(format!(
            "the {which} endpoint '{endpoint}' needs a scheme: try http://{endpoint}"
        ))
        .into());
    }
    let mut builder = Endpoint::from_shared(endpoint.to_owned()).map_err(|e| {
        LocalProblem::Invalid(format!(
            "the {which} endpoint '{endpoint}' is not an address: {}",
            causes(&e)
        ))
    })?;
    if endpoint.starts_with("https://") {
        let tls = match ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    LocalProblem::Invalid(format!(
                        "the CA file {} cannot be read: {e}",
                        path.display()
                    ))
                })?;
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
            }
            None => ClientTlsConfig::new().with_webpki_roots(),
        };
        builder = builder.tls_config(tls).map_err(|e| {
            LocalProblem::Invalid(format!("TLS settings for {endpoint}: {}", causes(&e)))
        })?;
    }
    // Replies must not wait for a delayed ACK.
    builder = builder.tcp_nodelay(true).connect_timeout(timeout);
    if per_call_timeout {
        builder = builder.timeout(timeout);
    } else {
        // A quiet stream stays open through proxies, and a dead peer is noticed.
        builder = builder
            .http2_keep_alive_interval(std::time::Duration::from_secs(30))
            .keep_alive_timeout(std::time::Duration::from_secs(10))
            .keep_alive_while_idle(true);
    }
    builder.connect().await.map_err(|e| {
        LocalProblem::Unreachable(format!(
            "cannot reach the {which} service at {endpoint} ({}). Is the server running, and \
             is this its address and port? Set it with --{which}-endpoint or in your profile.",
            causes(&e)
        ))
        .into()
    })
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        Failure::Status(s)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Local(e)
    }
}

pub(crate) type Outcome = Result<(), Failure>;

#[derive(Clone)]
pub(crate) struct Bearer(pub(crate) Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
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

/// A channel to one service that retries by the command's policy and sends the token.
pub(crate) type Authed =
    tonic::service::interceptor::InterceptedService<crate::retry::Retrying, Bearer>;

pub(crate) struct Ctx {
    pub(crate) settings: profile::Settings,
    pub(crate) bearer: Bearer,
    pub(crate) format: Format,
    /// How calls that failed for no fault of the request are sent again.
    pub(crate) retry: crate::retry::RetryPolicy,
    /// The endpoint connected to last, and which service it should be, for messages.
    pub(crate) last_endpoint: std::sync::Mutex<Option<(String, &'static str)>>,
}

impl Ctx {
    pub(crate) async fn channel(&self, endpoint: &str) -> anyhow::Result<Channel> {
        let which = if endpoint == self.settings.reviewer_endpoint {
            "reviewer"
        } else {
            "application"
        };
        if let Ok(mut last) = self.last_endpoint.lock() {
            *last = Some((endpoint.to_owned(), which));
        }
        connect(
            endpoint,
            which,
            self.settings.timeout,
            true,
            self.settings.ca_file.as_deref(),
        )
        .await
    }

    /// Whether the token is an exporter's (applicant, erp): such callers use the application
    /// service, regulators the reviewer service. Read from the token's claims without
    /// verifying them (the server does that); a token that cannot be read counts as an
    /// exporter's, and the server says what is wrong with it.
    pub(crate) fn speaks_for_exporter(&self) -> bool {
        use base64::Engine;
        let Some(token) = &self.settings.token else {
            return true;
        };
        let claims = token
            .split('.')
            .nth(1)
            .and_then(|c| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
            })
            .and_then(|c| serde_json::from_slice::<serde_json::Value>(&c).ok());
        let Some(roles) = claims
            .as_ref()
            .and_then(|c| c.get("roles"))
            .and_then(|r| r.as_array())
        else {
            return true;
        };
        roles
            .iter()
            .any(|r| matches!(r.as_str(), Some("applicant" | "erp")))
    }

    /// A call that failed in the client's own transport (no status came from a server: a
    /// port where something else answers, a connection cut, a timeout) is "unavailable",
    /// with the endpoint named.
    pub(crate) fn explain(&self, failure: Failure) -> Failure {
        match failure {
            Failure::Status(status) if std::error::Error::source(&status).is_some() => {
                let (endpoint, which) = self
                    .last_endpoint
                    .lock()
                    .ok()
                    .and_then(|l| l.clone())
                    .unwrap_or_else(|| (self.settings.application_endpoint.clone(), "application"));
                Failure::Local(
                    LocalProblem::Unreachable(format!(
                        "no answer from a Clearance {which} service at {endpoint} ({}). Is \
                         this its address and port? Set it with --{which}-endpoint or in your \
                         profile.",
                        causes(&status)
                    ))
                    .into(),
                )
            }
            other => other,
        }
    }

    /// A channel to `endpoint` that retries and sends the token.
    async fn authed(&self, endpoint: &str) -> anyhow::Result<Authed> {
        Ok(Authed::new(
            crate::retry::Retrying::new(self.channel(endpoint).await?, self.retry),
            self.bearer.clone(),
        ))
    }

    pub(crate) async fn applications(&self) -> anyhow::Result<ApplicationServiceClient<Authed>> {
        Ok(ApplicationServiceClient::new(
            self.authed(&self.settings.application_endpoint).await?,
        ))
    }

    pub(crate) async fn shipments(&self) -> anyhow::Result<ShipmentServiceClient<Authed>> {
        Ok(ShipmentServiceClient::new(
            self.authed(&self.settings.application_endpoint).await?,
        ))
    }

    pub(crate) async fn reviews(&self) -> anyhow::Result<ReviewServiceClient<Authed>> {
        Ok(ReviewServiceClient::new(
            self.authed(&self.settings.reviewer_endpoint).await?,
        ))
    }

    /// The audit log's checkpoints and proofs, from the service this caller speaks to.
    pub(crate) async fn audit(
        &self,
    ) -> anyhow::Result<clearance_proto::v1::audit_service_client::AuditServiceClient<Authed>> {
        let endpoint = if self.speaks_for_exporter() {
            &self.settings.application_endpoint
        } else {
            &self.settings.reviewer_endpoint
        };
        Ok(
            clearance_proto::v1::audit_service_client::AuditServiceClient::new(
                self.authed(endpoint).await?,
            ),
        )
    }

    pub(crate) async fn policies(&self) -> anyhow::Result<PolicyServiceClient<Authed>> {
        Ok(PolicyServiceClient::new(
            self.authed(&self.settings.reviewer_endpoint).await?,
        ))
    }
}

pub(crate) fn request_id(given: &Option<String>) -> String {
    given
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The etag a decision acts on: the one the person saw, or with `--latest` the current one
/// (`current` fetches it), said aloud. Without either, refused with how to get it.
pub(crate) async fn decided_etag<F, Fut>(
    format: Format,
    decided: &Decided,
    what: &str,
    name: &str,
    current: F,
) -> Result<String, Failure>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, Failure>>,
{
    match (&decided.etag, decided.latest) {
        (Some(etag), _) => Ok(etag.clone()),
        (None, true) => {
            let etag = current().await?;
            // JSON callers find the version in the response; stderr stays JSON for them.
            if format == Format::Text {
                eprintln!("acting on the current version of {name}: etag {etag}");
            }
            Ok(etag)
        }
        (None, false) => Err(Failure::Local(
            LocalProblem::Invalid(format!(
                "--etag is required: run `clearancectl {what} show {name}` and pass the etag it \
                 prints, so a change made since you read it is refused rather than overwritten \
                 (or --latest to act on whatever the current version is)"
            ))
            .into(),
        )),
    }
}

pub(crate) fn read_json<M: prost::Message + Default>(
    file: &PathBuf,
    name: &str,
) -> anyhow::Result<M> {
    let text =
        std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    output::from_json(&text, name)
        .map_err(|e| anyhow::anyhow!("{}: not a valid {name}: {e}", file.display()))
}
