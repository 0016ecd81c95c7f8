//! `clearancectl products`: the organisation's catalogue.

use std::path::PathBuf;

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{Ctx, Outcome, Page, Retry, read_json, request_id};
use crate::output::{self, Format, print};
use crate::text;

#[derive(Subcommand)]
pub(crate) enum Products {
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
    /// Report the units of a product shipped to US customers for US end use: what the
    /// January 2026 rule's aggregate cap is measured against (every report is kept).
    #[command(
        after_help = "Example:\n  clearancectl products report-us-shipments H200-SXM-141G --units 1000"
    )]
    ReportUsShipments {
        /// The product: its part number or products/{id}.
        name: String,
        /// Units shipped to US customers for US end use.
        #[arg(long)]
        units: i64,
        #[command(flatten)]
        change: Retry,
    },
    /// Every US figure reported for a product, newest first, and the units shipped so far
    /// under licences carrying an aggregate cap.
    #[command(after_help = "Example:\n  clearancectl products us-reports H200-SXM-141G")]
    UsReports {
        /// The product: its part number or products/{id}.
        name: String,
    },
}

pub(crate) async fn run(ctx: &Ctx, cmd: Products) -> Outcome {
    let f = ctx.format;
    match cmd {
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
        Products::ReportUsShipments {
            name,
            units,
            change,
        } => {
            let r = ctx
                .applications()
                .await?
                .report_us_shipments(pb::ReportUsShipmentsRequest {
                    product: name,
                    request_id: request_id(&change.request_id),
                    units_shipped: units,
                })
                .await?
                .into_inner();
            Ok(print(
                f,
                &r,
                "clearance.v1.UsShipmentReport",
                text::us_report,
            )?)
        }
        Products::UsReports { name } => {
            let r = ctx
                .applications()
                .await?
                .list_us_shipment_reports(pb::ListUsShipmentReportsRequest { product: name })
                .await?
                .into_inner();
            Ok(print(
                f,
                &r,
                "clearance.v1.ListUsShipmentReportsResponse",
                |r| {
                    let mut out = format!(
                        "{} unit(s) shipped under licences carrying an aggregate cap",
                        r.capped_units_shipped
                    );
                    for report in &r.reports {
                        out.push('\n');
                        out.push_str(&text::us_report(report));
                    }
                    out
                },
            )?)
        }
    }
}
