//! `clearancectl`: a command-line client for Clearance's gRPC services.
//!
//! The token comes from `--token` or `CLEARANCE_TOKEN` (e.g. `clearance token --role applicant
//! --org acme` on a development server).

use anyhow::Context;
use clap::{Parser, Subcommand};
use clearance_proto::v1 as pb;
use clearance_proto::v1::application_service_client::ApplicationServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[derive(Parser)]
#[command(
    name = "clearancectl",
    version,
    about = "Command-line client for Clearance"
)]
struct Cli {
    /// Application (exporter) service address.
    #[arg(
        long,
        env = "CLEARANCE_APPLICATION_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    application_endpoint: String,
    /// Reviewer (regulator) service address.
    #[arg(
        long,
        env = "CLEARANCE_REVIEWER_ENDPOINT",
        default_value = "http://127.0.0.1:50052"
    )]
    reviewer_endpoint: String,
    /// Bearer token.
    #[arg(long, env = "CLEARANCE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Health of both services.
    Health,
    /// The organisation's product catalogue.
    Products {
        #[command(subcommand)]
        command: ListOrGet,
    },
    /// The organisation's applications.
    Applications {
        #[command(subcommand)]
        command: ListOrGet,
    },
}

#[derive(Subcommand)]
enum ListOrGet {
    /// Every item, following pages.
    List {
        /// e.g. `state = APPLICATION_STATE_DRAFT` or `datacenter = true`.
        #[arg(long, default_value = "")]
        filter: String,
    },
    /// One item by resource name.
    Get { name: String },
}

async fn connect(endpoint: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(endpoint.to_owned())
        .with_context(|| format!("invalid endpoint {endpoint}"))?
        .connect()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))
}

fn authorised<T>(message: T, token: &Option<String>) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    let token = token
        .as_deref()
        .context("a token is needed: pass --token or set CLEARANCE_TOKEN")?;
    let value: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .context("the token is not valid header text")?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

fn describe(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

fn print_product(p: &pb::Product) {
    let params = p.parameters.unwrap_or_default();
    println!(
        "{}  {}  {}  {}  TPP {}  die {} mm²  mem {} GB/s  I/O {} GB/s{}",
        p.name,
        p.display_name,
        p.part_number,
        p.classification,
        params.total_processing_performance.unwrap_or_default(),
        params.die_area_mm2.unwrap_or_default(),
        params.memory_bandwidth_gbps.unwrap_or_default(),
        params.io_bandwidth_gbps.unwrap_or_default(),
        if p.datacenter { "  datacenter" } else { "" },
    );
}

fn print_application(a: &pb::Application) {
    let state = pb::ApplicationState::try_from(a.state)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("APPLICATION_STATE_")
                .to_owned()
        })
        .unwrap_or_else(|_| a.state.to_string());
    let units: i64 = a.lines.iter().map(|l| l.quantity).sum();
    println!(
        "{}  {}  {}  to {}  {} line(s), {} unit(s)",
        a.name,
        a.reference,
        state,
        if a.destination_country_code.is_empty() {
            "?"
        } else {
            &a.destination_country_code
        },
        a.lines.len(),
        units,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Health => {
            for (label, endpoint) in [
                ("application", &cli.application_endpoint),
                ("reviewer", &cli.reviewer_endpoint),
            ] {
                let status = match connect(endpoint).await {
                    Ok(channel) => match HealthClient::new(channel)
                        .check(HealthCheckRequest {
                            service: String::new(),
                        })
                        .await
                    {
                        Ok(r) => format!("{:?}", r.into_inner().status()),
                        Err(s) => format!("error: {}", s.message()),
                    },
                    Err(e) => format!("unreachable: {e:#}"),
                };
                println!("{label:12} {endpoint}  {status}");
            }
        }
        Command::Products { command } => {
            let mut client =
                ApplicationServiceClient::new(connect(&cli.application_endpoint).await?);
            match command {
                ListOrGet::Get { name } => {
                    let p = client
                        .get_product(authorised(pb::GetProductRequest { name }, &cli.token)?)
                        .await
                        .map_err(describe)?
                        .into_inner();
                    print_product(&p);
                }
                ListOrGet::List { filter } => {
                    let mut page_token = String::new();
                    loop {
                        let request = pb::ListProductsRequest {
                            page_size: 200,
                            page_token,
                            filter: filter.clone(),
                        };
                        let page = client
                            .list_products(authorised(request, &cli.token)?)
                            .await
                            .map_err(describe)?
                            .into_inner();
                        page.products.iter().for_each(print_product);
                        if page.next_page_token.is_empty() {
                            break;
                        }
                        page_token = page.next_page_token;
                    }
                }
            }
        }
        Command::Applications { command } => {
            let mut client =
                ApplicationServiceClient::new(connect(&cli.application_endpoint).await?);
            match command {
                ListOrGet::Get { name } => {
                    let a = client
                        .get_application(authorised(
                            pb::GetApplicationRequest { name },
                            &cli.token,
                        )?)
                        .await
                        .map_err(describe)?
                        .into_inner();
                    print_application(&a);
                    for line in &a.lines {
                        let value = line.unit_value.clone().unwrap_or_default();
                        println!(
                            "  {} × {}  at {} {} (minor units)",
                            line.quantity, line.product, value.minor_units, value.currency_code
                        );
                    }
                }
                ListOrGet::List { filter } => {
                    let mut page_token = String::new();
                    loop {
                        let request = pb::ListApplicationsRequest {
                            page_size: 200,
                            page_token,
                            filter: filter.clone(),
                        };
                        let page = client
                            .list_applications(authorised(request, &cli.token)?)
                            .await
                            .map_err(describe)?
                            .into_inner();
                        page.applications.iter().for_each(print_application);
                        if page.next_page_token.is_empty() {
                            break;
                        }
                        page_token = page.next_page_token;
                    }
                }
            }
        }
    }
    Ok(())
}
