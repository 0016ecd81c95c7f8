//! `clearancectl`: the command-line client for compliance officers, ERP integrators and the
//! regulator's staff.

mod output;
mod profile;
mod references;
mod text;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use clearance_proto::v1 as pb;
use clearance_proto::v1::application_service_client::ApplicationServiceClient;
use clearance_proto::v1::policy_service_client::PolicyServiceClient;
use clearance_proto::v1::review_service_client::ReviewServiceClient;
use clearance_proto::v1::shipment_service_client::ShipmentServiceClient;
use output::{Format, exit, print};
use tonic::transport::{Channel, Endpoint};

#[derive(Parser)]
#[command(
    name = "clearancectl",
    version,
    about = "Work with Clearance from the terminal: catalogue, applications, cases, licences, shipments, rules, history.",
    after_help = "Examples:\n  export CLEARANCE_TOKEN=$(clearance token --role applicant --org acme)\n  clearancectl applications list\n  clearancectl --output json cases list --filter 'overdue = true'\n\nExit codes: 0 ok, 1 failure, 2 invalid input, 3 not found, 4 refused, 5 not authenticated, 6 unavailable."
)]
struct Cli {
    /// Profile of the profiles file (~/.config/clearance/config.toml).
    #[arg(
        long,
        env = "CLEARANCE_PROFILE",
        default_value = "default",
        global = true
    )]
    profile: String,
    /// Profiles file to read instead of the default.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Application (exporter) service address.
    #[arg(long, env = "CLEARANCE_ENDPOINT", global = true)]
    application_endpoint: Option<String>,
    /// Reviewer (regulator) service address.
    #[arg(long, env = "CLEARANCE_REVIEWER_ENDPOINT", global = true)]
    reviewer_endpoint: Option<String>,
    /// Bearer token.
    #[arg(long, env = "CLEARANCE_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// text for people, json for scripts.
    #[arg(long, value_enum, default_value = "text", global = true)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Health of both services.
    #[command(after_help = "Example:\n  clearancectl health")]
    Health,
    /// The organisation's product catalogue.
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl products list\n  clearancectl products create --file product.json\n  clearancectl products get H20-SXM     # by part number"
    )]
    Products(Products),
    /// The organisation's applications.
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl applications create --file application.json\n  clearancectl applications submit CL-2026-000002 --confirm-declaration\n  clearancectl applications get CL-2026-000002"
    )]
    Applications(Applications),
    /// The regulator's case queue and decisions.
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl cases list --filter 'overdue = true'\n  clearancectl cases show CL-2026-000002\n  clearancectl cases propose CL-2026-000002 --grant 80 --reason verified --etag '\"v5\"'"
    )]
    Cases(Cases),
    /// Licences: balances, suspension, revocation.
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl licences list --filter 'state = ACTIVE'\n  clearancectl licences show CLL-2026-000001\n  clearancectl licences suspend CLL-2026-000001 --reason 'under investigation' --etag '\"v3\"'"
    )]
    Licences(Licences),
    /// Shipments under licences (ERP).
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl shipments check --file shipment.json   # exits 4 when blocked\n  clearancectl shipments start --file shipment.json\n  clearancectl shipments cancel SO-4711 --reason 'order cancelled'   # by ERP reference"
    )]
    Shipments(Shipments),
    /// Control rules: versions, determination, impact, publishing.
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl rules list\n  clearancectl rules determine H20-SXM --destination CN --headquarters CN\n  clearancectl rules impact --file july-2025.json"
    )]
    Rules(Rules),
    /// The tamper-evident history of a resource.
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl history show CL-2026-000002\n  clearancectl history verify CLL-2026-000001"
    )]
    History(History),
    /// The event stream.
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl events watch\n  clearancectl --output json events watch --after <cursor>"
    )]
    Events(Events),
}

#[derive(Subcommand)]
enum Events {
    /// Follow every change you may see, in commit order, until interrupted.
    #[command(
        after_help = "Examples:\n  clearancectl events watch\n  clearancectl --output json events watch --after <cursor> --reviewer"
    )]
    Watch {
        /// Resume after this cursor (printed with every event).
        #[arg(long, default_value = "")]
        after: String,
        /// Watch through the reviewer service (regulator tokens).
        #[arg(long)]
        reviewer: bool,
    },
}

#[derive(Args)]
struct Page {
    /// e.g. `state = APPLICATION_STATE_DRAFT`.
    #[arg(long, default_value = "")]
    filter: String,
}

#[derive(Args)]
struct Change {
    /// Idempotency key; a new UUID when absent. Reuse it to retry safely.
    #[arg(long)]
    request_id: Option<String>,
    /// The etag read last; the current one is fetched when absent.
    #[arg(long)]
    etag: Option<String>,
}

/// A new resource or a one-shot action: retried safely with the same request id.
#[derive(Args)]
struct Retry {
    /// Idempotency key; a new UUID when absent. Reuse it to retry safely.
    #[arg(long)]
    request_id: Option<String>,
}

/// A decision (or licence action) names the version it was made on.
#[derive(Args)]
struct Decided {
    /// Idempotency key; a new UUID when absent. Reuse it to retry safely.
    #[arg(long)]
    request_id: Option<String>,
    /// The etag `show` printed: if the case or licence changed since, the decision is refused
    /// instead of overwriting the change. Required unless --latest.
    #[arg(long, conflicts_with = "latest")]
    etag: Option<String>,
    /// Act on the current version, whatever it is (the etag acted on is printed).
    #[arg(long)]
    latest: bool,
}

#[derive(Subcommand)]
enum Products {
    /// Every product, following pages.
    #[command(after_help = "Example:\n  clearancectl products list --filter 'datacenter = true'")]
    List(Page),
    /// One product.
    #[command(after_help = "Example:\n  clearancectl products get products/0192...")]
    Get {
        /// The product: its part number or products/{id}.
        name: String,
    },
    /// Create from a JSON file (clearance.v1.Product).
    #[command(after_help = "Example:\n  clearancectl products create --file h20.json")]
    Create {
        /// The product as JSON (clearance.v1.Product).
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        change: Retry,
    },
}

#[derive(Subcommand)]
enum Applications {
    /// Every application, following pages.
    #[command(
        after_help = "Example:\n  clearancectl applications list --filter 'state = APPLICATION_STATE_DRAFT'"
    )]
    List(Page),
    /// One application with its determinations, questions and visible notes.
    #[command(after_help = "Example:\n  clearancectl applications get applications/0192...")]
    Get {
        /// The application: its reference (CL-2026-000002) or applications/{id}.
        name: String,
    },
    /// Create a draft from a JSON file (clearance.v1.Application).
    #[command(after_help = "Example:\n  clearancectl applications create --file application.json")]
    Create {
        /// The application as JSON (clearance.v1.Application).
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        change: Retry,
    },
    /// Submit a draft, confirming the declaration that it is true and complete.
    #[command(
        after_help = "Example:\n  clearancectl applications submit applications/0192... --confirm-declaration"
    )]
    Submit {
        /// The application: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Confirm the declaration that the application is true and complete.
        #[arg(long)]
        confirm_declaration: bool,
        #[command(flatten)]
        change: Change,
    },
    /// Withdraw an application.
    #[command(
        after_help = "Example:\n  clearancectl applications withdraw applications/0192... --reason 'order cancelled'"
    )]
    Withdraw {
        /// The application: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Change,
    },
    /// Answer the regulator's question: RFI 1 is the first asked on the application.
    #[command(
        after_help = "Examples:\n  clearancectl applications answer CL-2026-000002 --rfi 1 --text 'DC-3, Shenzhen'\n  clearancectl applications answer applications/0192.../informationRequests/0192... --text 'DC-3, Shenzhen'"
    )]
    Answer {
        /// The application (reference or name) with --rfi, or the information request's name.
        name: String,
        /// Which question, counting from 1 in the order they were asked (`applications get`
        /// and `cases show` number them RFI 1, RFI 2…).
        #[arg(long)]
        rfi: Option<usize>,
        /// Your answer.
        #[arg(long)]
        text: String,
        #[command(flatten)]
        change: Change,
    },
}

#[derive(Subcommand)]
enum Cases {
    /// The queue, earliest due first.
    #[command(after_help = "Example:\n  clearancectl cases list --filter 'overdue = true'")]
    List(Page),
    /// One case with its clock, notes and proposals.
    #[command(after_help = "Example:\n  clearancectl cases show applications/0192...")]
    Show {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
    },
    /// Assign to yourself or to `--to`.
    #[command(
        after_help = "Example:\n  clearancectl cases assign applications/0192... --to alice@regulator"
    )]
    Assign {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// The regulator (token subject) to assign to; yourself when absent.
        #[arg(long, default_value = "")]
        to: String,
        #[command(flatten)]
        change: Change,
    },
    /// Ask the applicant a question (the clock stops until the answer).
    #[command(
        after_help = "Example:\n  clearancectl cases ask applications/0192... --question 'Which data centre?'"
    )]
    Ask {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// The question for the applicant.
        #[arg(long)]
        question: String,
        #[command(flatten)]
        change: Change,
    },
    /// Add a note, regulator-only unless `--visible-to-applicant`.
    #[command(
        after_help = "Example:\n  clearancectl cases note applications/0192... --text 'Checked the end user'"
    )]
    Note {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// The note's text.
        #[arg(long)]
        text: String,
        /// Show the note to the applicant as well.
        #[arg(long)]
        visible_to_applicant: bool,
        #[command(flatten)]
        change: Change,
    },
    /// Propose approval (or `--deny`) for a senior reviewer to countersign.
    #[command(
        after_help = "Example:\n  clearancectl cases propose applications/0192... --grant 800 --condition 'No re-export' --reason 'verified'"
    )]
    Propose {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Propose denial instead of approval.
        #[arg(long)]
        deny: bool,
        /// Why, for the record (the countersigner and the history see it).
        #[arg(long, default_value = "")]
        reason: String,
        /// Granted quantity per line, in line order (repeat); all as applied when absent.
        #[arg(long = "grant")]
        grants: Vec<i64>,
        /// A condition of the licence (repeat for several).
        #[arg(long = "condition")]
        conditions: Vec<String>,
        #[command(flatten)]
        change: Decided,
    },
    /// Countersign the pending proposal (senior reviewer, never the proposer).
    #[command(after_help = "Example:\n  clearancectl cases countersign applications/0192...")]
    Countersign {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Send the pending proposal back with a reason.
    #[command(
        after_help = "Example:\n  clearancectl cases reject applications/0192... --reason 'conditions too weak'"
    )]
    Reject {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Why, for the record (the countersigner and the history see it).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Return the application without action.
    #[command(
        name = "return",
        after_help = "Example:\n  clearancectl cases return applications/0192... --reason 'no licence required'"
    )]
    ReturnApplication {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Why, for the record (the countersigner and the history see it).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
}

#[derive(Subcommand)]
enum Licences {
    /// Licences with balances and etags: an exporter's own; for regulators every holder's
    /// (filter on state, organisation, application, expiring_before).
    #[command(
        after_help = "Examples:\n  clearancectl licences list --filter 'state = ACTIVE'\n  clearancectl licences list --filter 'organisation = acme AND expiring_before = 2027-01-01'"
    )]
    List(Page),
    /// One licence with its etag (exporters their own, regulators any).
    #[command(after_help = "Example:\n  clearancectl licences show licences/0192...")]
    Show {
        /// The licence: its number (CLL-2026-000001) or licences/{id}.
        name: String,
    },
    /// Suspend (senior reviewer).
    #[command(
        after_help = "Example:\n  clearancectl licences suspend licences/0192... --reason 'under investigation' --etag '\"v3\"'"
    )]
    Suspend {
        /// The licence: its number (CLL-2026-000001) or licences/{id}.
        name: String,
        /// Why, for the record (kept in the licence's history).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Revoke (senior reviewer).
    #[command(
        after_help = "Example:\n  clearancectl licences revoke licences/0192... --reason 'diversion' --etag '\"v4\"'"
    )]
    Revoke {
        /// The licence: its number (CLL-2026-000001) or licences/{id}.
        name: String,
        /// Why, for the record (kept in the licence's history).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Reinstate a suspended licence (senior reviewer).
    #[command(
        after_help = "Example:\n  clearancectl licences reinstate licences/0192... --reason 'cleared' --etag '\"v4\"'"
    )]
    Reinstate {
        /// The licence: its number (CLL-2026-000001) or licences/{id}.
        name: String,
        /// Why, for the record (kept in the licence's history).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Give up one of your licences (the holder's applicant); nothing more ships under it.
    #[command(
        after_help = "Example:\n  clearancectl licences surrender CLL-2026-000001 --reason 'order cancelled' --etag '\"v4\"'"
    )]
    Surrender {
        /// The licence: its number (CLL-2026-000001) or licences/{id}.
        name: String,
        /// Why, for the record (kept in the licence's history).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
}

#[derive(Subcommand)]
enum Shipments {
    /// Dry run: which licence covers a shipment (JSON file, clearance.v1.Shipment), or why none.
    #[command(after_help = "Example:\n  clearancectl shipments check --file shipment.json")]
    Check {
        /// The shipment as JSON (clearance.v1.Shipment).
        #[arg(long)]
        file: PathBuf,
    },
    /// Start a shipment, depleting the covering licence (ERP).
    #[command(
        after_help = "Example:\n  clearancectl shipments start --file shipment.json --request-id SO-4711"
    )]
    Start {
        /// The shipment as JSON (clearance.v1.Shipment).
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        change: Retry,
    },
    /// Cancel a shipment, restoring the licence.
    #[command(
        after_help = "Example:\n  clearancectl shipments cancel shipments/0192... --reason 'order cancelled'"
    )]
    Cancel {
        /// The shipment: its ERP reference or shipments/{id}.
        name: String,
        /// Why, for the record.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        change: Retry,
    },
    /// The organisation's shipments.
    #[command(after_help = "Example:\n  clearancectl shipments list --filter 'state = STARTED'")]
    List(Page),
}

#[derive(Subcommand)]
enum Rules {
    /// Published rule-set versions.
    #[command(after_help = "Example:\n  clearancectl rules list")]
    List(Page),
    /// One version with its rules.
    #[command(after_help = "Example:\n  clearancectl --output json rules show ruleSets/0192...")]
    Show {
        /// The rule set, ruleSets/{id}.
        name: String,
    },
    /// Whether one of your products needs a licence (exporters).
    #[command(
        after_help = "Example:\n  clearancectl rules determine products/0192... --destination CN --headquarters CN"
    )]
    Determine {
        /// The product: its part number or products/{id}.
        product: String,
        /// Destination country, ISO 3166 alpha-2 (e.g. CN).
        #[arg(long)]
        destination: String,
        /// The end user's headquarters country, when it matters to the rules.
        #[arg(long, default_value = "")]
        headquarters: String,
    },
    /// What a draft (JSON file, clearance.v1.RuleSet) would change, without publishing it.
    #[command(after_help = "Example:\n  clearancectl rules impact --file july-2025.json")]
    Impact {
        /// The rule set as JSON (clearance.v1.RuleSet).
        #[arg(long)]
        file: PathBuf,
    },
    /// Publish a new version (policy administrator).
    #[command(after_help = "Example:\n  clearancectl rules publish --file july-2025.json")]
    Publish {
        /// The rule set as JSON (clearance.v1.RuleSet).
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        change: Retry,
    },
}

#[derive(Subcommand)]
enum History {
    /// Every entry, oldest first.
    #[command(after_help = "Example:\n  clearancectl history show applications/0192...")]
    Show {
        /// An application (CL-…), a licence (CLL-…) or any resource name.
        resource: String,
    },
    /// Recompute the hash chain; names the first broken entry.
    #[command(after_help = "Example:\n  clearancectl history verify applications/0192...")]
    Verify {
        /// An application (CL-…), a licence (CLL-…) or any resource name.
        resource: String,
    },
}

/// A failed command: a call the server refused, a service that could not be reached, or a
/// local problem.
enum Failure {
    Status(tonic::Status),
    Local(anyhow::Error),
}

/// What a person does to a licence.
#[derive(Clone, Copy)]
enum Act {
    Suspend,
    Revoke,
    Reinstate,
    Surrender,
}

/// Acts on the licence at the version the person saw (or, with --latest, the current one).
async fn licence_action(
    ctx: &Ctx,
    act: Act,
    name: String,
    reason: String,
    change: Decided,
) -> Result<tonic::Response<pb::Licence>, Failure> {
    let current = || async {
        Ok::<_, Failure>(if ctx.speaks_for_exporter() {
            ctx.applications()
                .await?
                .get_licence(pb::GetLicenceRequest { name: name.clone() })
                .await?
                .into_inner()
                .etag
        } else {
            ctx.reviews()
                .await?
                .get_any_licence(pb::GetAnyLicenceRequest { name: name.clone() })
                .await?
                .into_inner()
                .etag
        })
    };
    let etag = decided_etag(ctx.format, &change, "licences", &name, current).await?;
    let request_id = request_id(&change.request_id);
    Ok(match act {
        Act::Suspend => {
            let request = pb::SuspendLicenceRequest {
                name,
                request_id,
                etag,
                reason,
            };
            ctx.reviews().await?.suspend_licence(request).await?
        }
        Act::Revoke => {
            let request = pb::RevokeLicenceRequest {
                name,
                request_id,
                etag,
                reason,
            };
            ctx.reviews().await?.revoke_licence(request).await?
        }
        Act::Reinstate => {
            let request = pb::ReinstateLicenceRequest {
                name,
                request_id,
                etag,
                reason,
            };
            ctx.reviews().await?.reinstate_licence(request).await?
        }
        Act::Surrender => {
            let request = pb::SurrenderLicenceRequest {
                name,
                request_id,
                etag,
                reason,
            };
            ctx.applications().await?.surrender_licence(request).await?
        }
    })
}

/// A problem found before or instead of an answer: a service that did not answer (exit code
/// 6, whatever the command) or input that cannot be sent (exit code 2).
#[derive(Debug)]
enum LocalProblem {
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
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
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
async fn connect(
    endpoint: &str,
    which: &str,
    timeout: std::time::Duration,
    per_call_timeout: bool,
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

type Outcome = Result<(), Failure>;

#[derive(Clone)]
struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

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

type Authed = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

struct Ctx {
    settings: profile::Settings,
    bearer: Bearer,
    format: Format,
    /// The endpoint connected to last, and which service it should be, for messages.
    last_endpoint: std::sync::Mutex<Option<(String, &'static str)>>,
}

impl Ctx {
    async fn channel(&self, endpoint: &str) -> anyhow::Result<Channel> {
        let which = if endpoint == self.settings.reviewer_endpoint {
            "reviewer"
        } else {
            "application"
        };
        if let Ok(mut last) = self.last_endpoint.lock() {
            *last = Some((endpoint.to_owned(), which));
        }
        connect(endpoint, which, self.settings.timeout, true).await
    }

    /// Whether the token is an exporter's (applicant, erp): such callers use the application
    /// service, regulators the reviewer service. Read from the token's claims without
    /// verifying them (the server does that); a token that cannot be read counts as an
    /// exporter's, and the server says what is wrong with it.
    fn speaks_for_exporter(&self) -> bool {
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
    fn explain(&self, failure: Failure) -> Failure {
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

    async fn applications(&self) -> anyhow::Result<ApplicationServiceClient<Authed>> {
        Ok(ApplicationServiceClient::with_interceptor(
            self.channel(&self.settings.application_endpoint).await?,
            self.bearer.clone(),
        ))
    }

    async fn shipments(&self) -> anyhow::Result<ShipmentServiceClient<Authed>> {
        Ok(ShipmentServiceClient::with_interceptor(
            self.channel(&self.settings.application_endpoint).await?,
            self.bearer.clone(),
        ))
    }

    async fn reviews(&self) -> anyhow::Result<ReviewServiceClient<Authed>> {
        Ok(ReviewServiceClient::with_interceptor(
            self.channel(&self.settings.reviewer_endpoint).await?,
            self.bearer.clone(),
        ))
    }

    async fn policies(&self) -> anyhow::Result<PolicyServiceClient<Authed>> {
        Ok(PolicyServiceClient::with_interceptor(
            self.channel(&self.settings.reviewer_endpoint).await?,
            self.bearer.clone(),
        ))
    }
}

fn request_id(given: &Option<String>) -> String {
    given
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The etag a decision acts on: the one the person saw, or with `--latest` the current one
/// (`current` fetches it), said aloud. Without either, refused with how to get it.
async fn decided_etag<F, Fut>(
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

fn read_json<M: prost::Message + Default>(file: &PathBuf, name: &str) -> anyhow::Result<M> {
    let text =
        std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    output::from_json(&text, name)
        .map_err(|e| anyhow::anyhow!("{}: not a valid {name}: {e}", file.display()))
}

/// Prints every item of a paged list.
macro_rules! list_all {
    ($ctx:expr, $client:expr, $method:ident, $request:ident { $($field:ident: $value:expr),* }, $items:ident, $name:expr, $text:path) => {{
        let mut client = $client;
        let mut page_token = String::new();
        let mut all = Vec::new();
        loop {
            let page = client
                .$method(pb::$request { page_size: 500, page_token, $($field: $value),* })
                .await?
                .into_inner();
            all.extend(page.$items);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        match $ctx.format {
            Format::Json => {
                let items = all
                    .iter()
                    .map(|m| output::to_json(m, $name))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                println!("{}", serde_json::to_string_pretty(&items).map_err(anyhow::Error::from)?);
            }
            Format::Text => println!("{}", $text(&all)),
        }
        Ok(())
    }};
}

async fn run(cli: Cli) -> Outcome {
    let profile = profile::load(cli.config.as_deref(), &cli.profile)?;
    let settings = profile.settings(cli.application_endpoint, cli.reviewer_endpoint, cli.token)?;
    let bearer = Bearer(
        settings
            .token
            .as_ref()
            .map(|t| format!("Bearer {t}").parse())
            .transpose()
            .map_err(|_| anyhow::anyhow!("the token is not valid header text"))?,
    );
    let ctx = Ctx {
        settings,
        bearer,
        format: cli.output,
        last_endpoint: std::sync::Mutex::new(None),
    };
    let resolved = async {
        let command = references::resolve(&ctx, cli.command).await?;
        execute(&ctx, command).await
    };
    resolved.await.map_err(|e| ctx.explain(e))
}

async fn execute(ctx: &Ctx, command: Command) -> Outcome {
    let f = ctx.format;
    match command {
        Command::Health => {
            let mut down = Vec::new();
            for (label, endpoint) in [
                ("application", ctx.settings.application_endpoint.clone()),
                ("reviewer", ctx.settings.reviewer_endpoint.clone()),
            ] {
                let status = match ctx.channel(&endpoint).await {
                    Ok(channel) => {
                        match tonic_health::pb::health_client::HealthClient::new(channel)
                            .check(tonic_health::pb::HealthCheckRequest {
                                service: String::new(),
                            })
                            .await
                        {
                            Ok(r) => r.into_inner().status(),
                            Err(s) => {
                                println!("{label:12} {endpoint}  error: {}", output::in_words(&s));
                                down.push(label);
                                continue;
                            }
                        }
                    }
                    Err(e) => {
                        println!("{label:12} {endpoint}  unreachable: {e:#}");
                        down.push(label);
                        continue;
                    }
                };
                println!("{label:12} {endpoint}  {}", status.as_str_name());
                if status != tonic_health::pb::health_check_response::ServingStatus::Serving {
                    down.push(label);
                }
            }
            if down.is_empty() {
                Ok(())
            } else {
                Err(Failure::Local(
                    LocalProblem::Unreachable(format!("not serving: {}", down.join(", "))).into(),
                ))
            }
        }
        Command::Products(cmd) => match cmd {
            Products::List(p) => list_all!(
                ctx,
                ctx.applications().await?,
                list_products,
                ListProductsRequest {
                    filter: p.filter.clone()
                },
                products,
                "clearance.v1.Product",
                text::products_table
            ),
            Products::Get { name } => {
                let r = ctx
                    .applications()
                    .await?
                    .get_product(pb::GetProductRequest { name })
                    .await?
                    .into_inner();
                Ok(print(f, &r, "clearance.v1.Product", text::product)?)
            }
            Products::Create { file, change } => {
                let product: pb::Product = read_json(&file, "clearance.v1.Product")?;
                let r = ctx
                    .applications()
                    .await?
                    .create_product(pb::CreateProductRequest {
                        request_id: request_id(&change.request_id),
                        product: Some(product),
                    })
                    .await?
                    .into_inner();
                Ok(print(f, &r, "clearance.v1.Product", text::product)?)
            }
        },
        Command::Applications(cmd) => {
            let mut client = ctx.applications().await?;
            let etag_of = |name: String, etag: Option<String>| {
                let mut client = client.clone();
                async move {
                    match etag {
                        Some(e) => Ok::<_, Failure>(e),
                        None => Ok(client
                            .get_application(pb::GetApplicationRequest { name })
                            .await?
                            .into_inner()
                            .etag),
                    }
                }
            };
            let r = match cmd {
                Applications::List(p) => {
                    return list_all!(
                        ctx,
                        client,
                        list_applications,
                        ListApplicationsRequest {
                            filter: p.filter.clone()
                        },
                        applications,
                        "clearance.v1.Application",
                        text::applications_table
                    );
                }
                Applications::Get { name } => {
                    client
                        .get_application(pb::GetApplicationRequest { name })
                        .await?
                }
                Applications::Create { file, change } => {
                    let application: pb::Application =
                        read_json(&file, "clearance.v1.Application")?;
                    client
                        .create_application(pb::CreateApplicationRequest {
                            request_id: request_id(&change.request_id),
                            application: Some(application),
                        })
                        .await?
                }
                Applications::Submit {
                    name,
                    confirm_declaration,
                    change,
                } => {
                    let etag = etag_of(name.clone(), change.etag.clone()).await?;
                    client
                        .submit_application(pb::SubmitApplicationRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                            declaration_confirmed: confirm_declaration,
                        })
                        .await?
                }
                Applications::Withdraw {
                    name,
                    reason,
                    change,
                } => {
                    let etag = etag_of(name.clone(), change.etag.clone()).await?;
                    client
                        .withdraw_application(pb::WithdrawApplicationRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                            reason,
                        })
                        .await?
                }
                Applications::Answer {
                    name,
                    rfi,
                    text,
                    change,
                } => {
                    let application = name
                        .split("/informationRequests/")
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let name = match rfi {
                        None => name,
                        Some(number) => {
                            let asked = ctx
                                .applications()
                                .await?
                                .get_application(pb::GetApplicationRequest {
                                    name: application.clone(),
                                })
                                .await?
                                .into_inner()
                                .information_requests;
                            number
                                .checked_sub(1)
                                .and_then(|i| asked.get(i))
                                .map(|r| r.name.clone())
                                .ok_or_else(|| {
                                    Failure::Local(
                                        LocalProblem::NotFound(format!(
                                            "{application} has {} question(s); there is no RFI {number}",
                                            asked.len()
                                        ))
                                        .into(),
                                    )
                                })?
                        }
                    };
                    let etag = etag_of(application, change.etag.clone()).await?;
                    client
                        .answer_information_request(pb::AnswerInformationRequestRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                            answer: text,
                            documents: vec![],
                        })
                        .await?
                }
            };
            Ok(print(
                f,
                &r.into_inner(),
                "clearance.v1.Application",
                text::application,
            )?)
        }
        Command::Cases(cmd) => {
            let mut client = ctx.reviews().await?;
            let etag_of = |name: String, etag: Option<String>| {
                let mut client = client.clone();
                async move {
                    match etag {
                        Some(e) => Ok::<_, Failure>(e),
                        None => Ok(client
                            .get_case(pb::GetCaseRequest { name })
                            .await?
                            .into_inner()
                            .etag),
                    }
                }
            };
            let r = match cmd {
                Cases::List(p) => {
                    return list_all!(
                        ctx,
                        client,
                        list_cases,
                        ListCasesRequest {
                            filter: p.filter.clone()
                        },
                        cases,
                        "clearance.v1.Case",
                        text::cases_table
                    );
                }
                Cases::Show { name } => {
                    let case = client
                        .get_case(pb::GetCaseRequest { name })
                        .await?
                        .into_inner();
                    // The licence an approval issued, shown with the case.
                    let application = case
                        .application
                        .as_ref()
                        .map(|a| a.name.clone())
                        .unwrap_or_default();
                    let licence = ctx
                        .reviews()
                        .await?
                        .list_all_licences(pb::ListAllLicencesRequest {
                            filter: format!("application = \"{application}\""),
                            ..Default::default()
                        })
                        .await?
                        .into_inner()
                        .licences
                        .into_iter()
                        .next();
                    return Ok(print(f, &case, "clearance.v1.Case", |c| {
                        text::case_detail(c, licence.as_ref())
                    })?);
                }
                Cases::Assign { name, to, change } => {
                    let etag = etag_of(name.clone(), change.etag.clone()).await?;
                    client
                        .assign_case(pb::AssignCaseRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                            assignee: to,
                        })
                        .await?
                }
                Cases::Ask {
                    name,
                    question,
                    change,
                } => {
                    let etag = etag_of(name.clone(), change.etag.clone()).await?;
                    client
                        .request_information(pb::RequestInformationRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                            question,
                            response_due_time: None,
                        })
                        .await?
                }
                Cases::Note {
                    name,
                    text,
                    visible_to_applicant,
                    change,
                } => {
                    let etag = etag_of(name.clone(), change.etag.clone()).await?;
                    client
                        .add_note(pb::AddNoteRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                            text,
                            visible_to_applicant,
                        })
                        .await?
                }
                Cases::Propose {
                    name,
                    deny,
                    reason,
                    grants,
                    conditions,
                    change,
                } => {
                    let etag =
                        decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None))
                            .await?;
                    client
                        .propose_decision(pb::ProposeDecisionRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                            approve: !deny,
                            reason,
                            granted_quantities: grants,
                            conditions,
                            validity_months: 0,
                            value_tolerance_percent: None,
                        })
                        .await?
                }
                Cases::Countersign { name, change } => {
                    let etag =
                        decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None))
                            .await?;
                    client
                        .countersign_decision(pb::CountersignDecisionRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                        })
                        .await?
                }
                Cases::Reject {
                    name,
                    reason,
                    change,
                } => {
                    let etag =
                        decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None))
                            .await?;
                    client
                        .reject_proposal(pb::RejectProposalRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                            reason,
                        })
                        .await?
                }
                Cases::ReturnApplication {
                    name,
                    reason,
                    change,
                } => {
                    let etag =
                        decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None))
                            .await?;
                    client
                        .return_application(pb::ReturnApplicationRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            etag,
                            reason,
                        })
                        .await?
                }
            };
            Ok(print(f, &r.into_inner(), "clearance.v1.Case", text::case)?)
        }
        Command::Licences(cmd) => {
            let r = match cmd {
                // Regulators read every holder's licences on their own service.
                Licences::List(p) if !ctx.speaks_for_exporter() => {
                    return list_all!(
                        ctx,
                        ctx.reviews().await?,
                        list_all_licences,
                        ListAllLicencesRequest {
                            filter: p.filter.clone()
                        },
                        licences,
                        "clearance.v1.Licence",
                        text::licences_table
                    );
                }
                Licences::List(p) => {
                    return list_all!(
                        ctx,
                        ctx.applications().await?,
                        list_licences,
                        ListLicencesRequest {
                            filter: p.filter.clone()
                        },
                        licences,
                        "clearance.v1.Licence",
                        text::licences_table
                    );
                }
                Licences::Show { name } if !ctx.speaks_for_exporter() => {
                    ctx.reviews()
                        .await?
                        .get_any_licence(pb::GetAnyLicenceRequest { name })
                        .await?
                }
                Licences::Show { name } => {
                    ctx.applications()
                        .await?
                        .get_licence(pb::GetLicenceRequest { name })
                        .await?
                }
                Licences::Suspend {
                    name,
                    reason,
                    change,
                } => licence_action(ctx, Act::Suspend, name, reason, change).await?,
                Licences::Revoke {
                    name,
                    reason,
                    change,
                } => licence_action(ctx, Act::Revoke, name, reason, change).await?,
                Licences::Reinstate {
                    name,
                    reason,
                    change,
                } => licence_action(ctx, Act::Reinstate, name, reason, change).await?,
                Licences::Surrender {
                    name,
                    reason,
                    change,
                } => licence_action(ctx, Act::Surrender, name, reason, change).await?,
            };
            Ok(print(
                f,
                &r.into_inner(),
                "clearance.v1.Licence",
                text::licence,
            )?)
        }
        Command::Shipments(cmd) => {
            let mut client = ctx.shipments().await?;
            match cmd {
                Shipments::Check { file } => {
                    let shipment: pb::Shipment = read_json(&file, "clearance.v1.Shipment")?;
                    let r = client
                        .check_shipment(pb::CheckShipmentRequest {
                            shipment: Some(shipment.clone()),
                        })
                        .await?
                        .into_inner();
                    // The balance the covering licence keeps after this shipment.
                    let covering = match r.covering_licences.first() {
                        Some(name) => Some(
                            ctx.applications()
                                .await?
                                .get_licence(pb::GetLicenceRequest { name: name.clone() })
                                .await?
                                .into_inner(),
                        ),
                        None => None,
                    };
                    // Licences by number and products by part number, as people know them.
                    let mut known: Vec<(String, String)> = Vec::new();
                    if f == Format::Text {
                        let mut apps = ctx.applications().await?;
                        for l in apps
                            .list_licences(pb::ListLicencesRequest {
                                page_size: 1000,
                                ..Default::default()
                            })
                            .await?
                            .into_inner()
                            .licences
                        {
                            known.push((l.name, format!("licence {}", l.number)));
                        }
                        for p in apps
                            .list_products(pb::ListProductsRequest {
                                page_size: 1000,
                                ..Default::default()
                            })
                            .await?
                            .into_inner()
                            .products
                        {
                            known.push((p.name, format!("part {}", p.part_number)));
                        }
                    }
                    print(f, &r, "clearance.v1.CheckShipmentResponse", |r| {
                        let said = text::shipment_check(r, &shipment, covering.as_ref());
                        known
                            .iter()
                            .fold(said, |t, (name, human)| t.replace(name, human))
                    })?;
                    if r.licence_required && r.covering_licences.is_empty() {
                        // Blocked: scripts must not read this as "go".
                        return Err(Failure::Local(
                            LocalProblem::Refused("the shipment is blocked".into()).into(),
                        ));
                    }
                    Ok(())
                }
                Shipments::Start { file, change } => {
                    let shipment: pb::Shipment = read_json(&file, "clearance.v1.Shipment")?;
                    let r = client
                        .start_shipment(pb::StartShipmentRequest {
                            request_id: request_id(&change.request_id),
                            shipment: Some(shipment),
                        })
                        .await?
                        .into_inner();
                    Ok(print(f, &r, "clearance.v1.Shipment", text::shipment)?)
                }
                Shipments::Cancel {
                    name,
                    reason,
                    change,
                } => {
                    let r = client
                        .cancel_shipment(pb::CancelShipmentRequest {
                            name,
                            request_id: request_id(&change.request_id),
                            reason,
                        })
                        .await?
                        .into_inner();
                    Ok(print(f, &r, "clearance.v1.Shipment", text::shipment)?)
                }
                Shipments::List(p) => {
                    list_all!(
                        ctx,
                        client,
                        list_shipments,
                        ListShipmentsRequest {
                            filter: p.filter.clone()
                        },
                        shipments,
                        "clearance.v1.Shipment",
                        text::shipments_table
                    )
                }
            }
        }
        Command::Rules(cmd) => match cmd {
            Rules::List(p) => list_all!(
                ctx,
                ctx.policies().await?,
                list_rule_sets,
                ListRuleSetsRequest {
                    filter: p.filter.clone()
                },
                rule_sets,
                "clearance.v1.RuleSet",
                text::rule_sets_table
            ),
            Rules::Show { name } => {
                let r = ctx
                    .policies()
                    .await?
                    .get_rule_set(pb::GetRuleSetRequest { name })
                    .await?
                    .into_inner();
                Ok(print(f, &r, "clearance.v1.RuleSet", text::rule_set)?)
            }
            Rules::Determine {
                product,
                destination,
                headquarters,
            } => {
                let r = ctx
                    .applications()
                    .await?
                    .determine_requirement(pb::DetermineRequirementRequest {
                        product,
                        destination_country_code: destination,
                        end_user_headquarters_country_code: headquarters,
                        export_time: None,
                        item: None,
                    })
                    .await?
                    .into_inner();
                Ok(print(
                    f,
                    &r,
                    "clearance.v1.Determination",
                    text::determination,
                )?)
            }
            Rules::Impact { file } => {
                let draft: pb::RuleSet = read_json(&file, "clearance.v1.RuleSet")?;
                let mut client = ctx.policies().await?;
                let mut impacted = Vec::new();
                let mut page_token = String::new();
                loop {
                    let page = client
                        .analyze_impact(pb::AnalyzeImpactRequest {
                            rule_set: Some(draft.clone()),
                            page_size: 500,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    impacted.extend(page.impacted);
                    if page.next_page_token.is_empty() {
                        break;
                    }
                    page_token = page.next_page_token;
                }
                let response = pb::AnalyzeImpactResponse {
                    impacted,
                    next_page_token: String::new(),
                    lines_examined: 0,
                };
                Ok(print(
                    f,
                    &response,
                    "clearance.v1.AnalyzeImpactResponse",
                    |r| {
                        if r.impacted.is_empty() {
                            return "the draft changes no determination".into();
                        }
                        r.impacted
                            .iter()
                            .map(|i| format!("{} {}: {}", i.resource, i.line, i.summary))
                            .collect::<Vec<_>>()
                            .join("\n")
                    },
                )?)
            }
            Rules::Publish { file, change } => {
                let draft: pb::RuleSet = read_json(&file, "clearance.v1.RuleSet")?;
                let r = ctx
                    .policies()
                    .await?
                    .publish_rule_set(pb::PublishRuleSetRequest {
                        request_id: request_id(&change.request_id),
                        rule_set: Some(draft),
                    })
                    .await?
                    .into_inner();
                Ok(print(f, &r, "clearance.v1.RuleSet", text::rule_set)?)
            }
        },
        Command::Events(Events::Watch { after, reviewer }) => {
            let endpoint = if reviewer {
                &ctx.settings.reviewer_endpoint
            } else {
                &ctx.settings.application_endpoint
            };
            // A stream has no deadline: connect without the per-call timeout.
            let which = if reviewer { "reviewer" } else { "application" };
            let channel = connect(endpoint, which, ctx.settings.timeout, false).await?;
            let mut client =
                clearance_proto::v1::event_service_client::EventServiceClient::with_interceptor(
                    channel,
                    ctx.bearer.clone(),
                );
            let mut stream = client
                .watch_events(pb::WatchEventsRequest {
                    after_cursor: after,
                })
                .await?
                .into_inner();
            while let Some(event) = stream.message().await? {
                match f {
                    Format::Json => println!(
                        "{}",
                        serde_json::to_string(&output::to_json(&event, "clearance.v1.Event")?)
                            .map_err(anyhow::Error::from)?
                    ),
                    Format::Text => {
                        println!("{}  {:<32} {}", event.cursor, event.r#type, event.resource)
                    }
                }
            }
            Ok(())
        }
        Command::History(cmd) => match cmd {
            History::Show { resource } => {
                // Exporters read their own records' history as they may see it; regulators
                // read every entry as recorded.
                let exporter = ctx.speaks_for_exporter();
                let mut entries = Vec::new();
                let mut page_token = String::new();
                loop {
                    let (page, next) = if exporter {
                        let r = ctx
                            .applications()
                            .await?
                            .list_history(pb::ListHistoryRequest {
                                resource: resource.clone(),
                                page_size: 500,
                                page_token,
                            })
                            .await?
                            .into_inner();
                        (r.entries, r.next_page_token)
                    } else {
                        let r = ctx
                            .reviews()
                            .await?
                            .get_history(pb::GetHistoryRequest {
                                resource: resource.clone(),
                                page_size: 500,
                                page_token,
                            })
                            .await?
                            .into_inner();
                        (r.entries, r.next_page_token)
                    };
                    entries.extend(page);
                    if next.is_empty() {
                        break;
                    }
                    page_token = next;
                }
                let response = pb::GetHistoryResponse {
                    entries,
                    next_page_token: String::new(),
                };
                Ok(print(
                    f,
                    &response,
                    "clearance.v1.GetHistoryResponse",
                    |r| {
                        r.entries
                            .iter()
                            .map(text::history_entry)
                            .collect::<Vec<_>>()
                            .join("\n")
                    },
                )?)
            }
            History::Verify { resource } => {
                let r = ctx
                    .reviews()
                    .await?
                    .verify_history(pb::VerifyHistoryRequest { resource })
                    .await?
                    .into_inner();
                Ok(print(f, &r, "clearance.v1.VerifyHistoryResponse", |r| {
                    if r.intact {
                        format!("intact: {} entries verified", r.entries_checked)
                    } else {
                        format!(
                            "BROKEN at entry {} ({} checked)",
                            r.first_broken_sequence, r.entries_checked
                        )
                    }
                })?)
            }
        },
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli.output;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Status(status)) => ExitCode::from(output::report(&status, format)),
        Err(Failure::Local(e)) => {
            let (code, name) = match e.downcast_ref::<LocalProblem>() {
                Some(LocalProblem::Unreachable(_)) => (exit::UNAVAILABLE, "UNAVAILABLE"),
                Some(LocalProblem::Invalid(_)) => (exit::INVALID, "INVALID_ARGUMENT"),
                Some(LocalProblem::NotFound(_)) => (exit::NOT_FOUND, "NOT_FOUND"),
                Some(LocalProblem::Refused(_)) => (exit::REFUSED, "FAILED_PRECONDITION"),
                None => (exit::FAILURE, "FAILED"),
            };
            output::report_local(&e, format, name);
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod help_tests {
    use clap::CommandFactory;

    /// Every command says what it does and shows an example; every argument says what it is.
    #[test]
    fn every_command_has_an_example_and_every_argument_a_description() {
        let mut missing = Vec::new();
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() {
                missing.push(format!("{here}: no description"));
            }
            if !here.trim().eq("clearancectl") && cmd.get_after_help().is_none() {
                missing.push(format!("{here}: no example"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{here} <{id}>: no description"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &here, missing);
                }
            }
        }
        walk(&super::Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
