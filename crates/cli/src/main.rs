//! `clearancectl`: the command-line client for compliance officers, ERP integrators and the
//! regulator's staff.

/// Prints every item of a paged list.
macro_rules! list_all {
    ($ctx:expr, $client:expr, $method:ident, $request:ident { $($field:ident: $value:expr),* }, $items:ident, $name:expr, $text:path) => {{
        let mut client = $client;
        let mut page_token = String::new();
        let mut all = Vec::new();
        loop {
            let page = client
                .$method(clearance_proto::v1::$request { page_size: 500, page_token, $($field: $value),* })
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

mod applications;
mod cases;
mod context;
mod documents;
mod events;
mod history;
mod licences;
mod output;
mod products;
mod profile;
mod references;
mod referrals;
mod retry;
mod rules;
mod screening;
mod shipments;
mod text;

use std::path::PathBuf;
use std::process::ExitCode;

use applications::Applications;
use cases::Cases;
use clap::{Parser, Subcommand};
use context::{Bearer, Ctx, Failure, LocalProblem, Outcome};
use events::Events;
use history::History;
use licences::Licences;
use output::{Format, exit};
use products::Products;
use referrals::Referrals;
use rules::Rules;
use shipments::Shipments;

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
    /// CA certificate (PEM) that signed the servers' certificates, for https endpoints with a
    /// private CA (e.g. from `clearance dev-cert`).
    #[arg(long, env = "CLEARANCE_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// text for people, json for scripts.
    #[arg(long, value_enum, default_value = "text", global = true)]
    output: Format,
    /// Times a call is sent again, unchanged (a change keeps its request_id), when it failed
    /// for no fault of its own: UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, or a race or limit
    /// the server says to retry. 0 sends each call once.
    #[arg(long, env = "CLEARANCE_RETRIES", default_value_t = retry::DEFAULT_RETRIES, global = true)]
    retries: u32,
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
    /// Cases referred to advising agencies, and their advice.
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl referrals list --filter 'outstanding = true'\n  clearancectl referrals advise referrals/0192... --advice 1:approve"
    )]
    Referrals(Referrals),
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
    /// Supporting documents: upload, download (checked against their SHA-256), delete.
    #[command(
        subcommand,
        after_help = "Examples:\n  clearancectl documents upload end-user-statement.pdf\n  clearancectl documents download CL-2026-000002 9f86d081... --to statement.pdf"
    )]
    Documents(documents::Documents),
    /// Denied-party screening lists.
    #[command(
        subcommand,
        after_help = "Example:\n  clearancectl screening import consolidated.csv --source 'US CSL' --format csl-csv"
    )]
    Screening(screening::Screening),
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

async fn run(cli: Cli) -> Outcome {
    let profile = profile::load(cli.config.as_deref(), &cli.profile)?;
    let settings = profile.settings(
        cli.application_endpoint,
        cli.reviewer_endpoint,
        cli.token,
        cli.ca_file,
    )?;
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
        retry: retry::RetryPolicy {
            retries: cli.retries,
            announce: cli.output == Format::Text,
        },
        last_endpoint: std::sync::Mutex::new(None),
    };
    let resolved = async {
        let command = references::resolve(&ctx, cli.command).await?;
        execute(&ctx, command).await
    };
    resolved.await.map_err(|e| ctx.explain(e))
}

async fn execute(ctx: &Ctx, command: Command) -> Outcome {
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
        Command::Products(cmd) => products::run(ctx, cmd).await,
        Command::Applications(cmd) => applications::run(ctx, cmd).await,
        Command::Cases(cmd) => cases::run(ctx, cmd).await,
        Command::Licences(cmd) => licences::run(ctx, cmd).await,
        Command::Referrals(cmd) => referrals::run(ctx, cmd).await,
        Command::Shipments(cmd) => shipments::run(ctx, cmd).await,
        Command::Rules(cmd) => rules::run(ctx, cmd).await,
        Command::Events(cmd) => events::run(ctx, cmd).await,
        Command::Documents(cmd) => documents::run(ctx, cmd).await,
        Command::Screening(cmd) => screening::run(ctx, cmd).await,
        Command::History(cmd) => history::run(ctx, cmd).await,
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

    /// clap's own checks of the command tree, e.g. no subcommand's flag shadows a global one
    /// (otherwise found only when that subcommand runs).
    #[test]
    fn the_command_tree_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
