//! `clearancectl shipments`: checking, starting and cancelling shipments (ERP).

use std::path::PathBuf;

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{Ctx, Failure, LocalProblem, Outcome, Page, Retry, read_json, request_id};
use crate::output::{self, Format, print};
use crate::text;

#[derive(Subcommand)]
pub(crate) enum Shipments {
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

pub(crate) async fn run(ctx: &Ctx, cmd: Shipments) -> Outcome {
    let f = ctx.format;
    let mut client = ctx.shipments().await?;
    match cmd {
        Shipments::Check { file } => {
            let shipment: pb::Shipment = read_json(&file, "clearance.v1.Shipment")?;
            let shipment = crate::references::shipment_file(ctx, shipment).await?;
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
            let known = if f == Format::Text {
                crate::references::known_names(ctx).await?
            } else {
                Vec::new()
            };
            print(f, &r, "clearance.v1.CheckShipmentResponse", |r| {
                crate::references::humanise(
                    text::shipment_check(r, &shipment, covering.as_ref()),
                    &known,
                )
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
            let shipment = crate::references::shipment_file(ctx, shipment).await?;
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
