//! `clearancectl licences`: balances, and the actions on a licence.

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{Ctx, Decided, Failure, Outcome, Page, Retry, decided_etag, request_id};
use crate::output::{self, Format, print};
use crate::text;

#[derive(Subcommand)]
pub(crate) enum Licences {
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
    /// Ask to amend one of your licences (the holder's applicant): more units on a line, a
    /// longer validity. Files a draft amendment application; submit it like any application.
    #[command(
        after_help = "Example:\n  clearancectl licences amend CLL-2026-000001 --line 1=1200 --reasons 'a second data hall'\n  clearancectl applications submit CL-2026-000007 --confirm-declaration"
    )]
    Amend {
        /// The licence: its number (CLL-2026-000001) or licences/{id}.
        name: String,
        /// A licence line and its new total quantity, `LINE=QUANTITY`, lines counted from 1
        /// (repeat for several).
        #[arg(long = "line", value_parser = parse_amended_line)]
        lines: Vec<(i32, i64)>,
        /// A later end of validity, e.g. 2031-06-30.
        #[arg(long)]
        valid_until: Option<chrono::NaiveDate>,
        /// Why the amendment is needed.
        #[arg(long)]
        reasons: String,
        #[command(flatten)]
        change: Retry,
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

pub(crate) async fn run(ctx: &Ctx, cmd: Licences) -> Outcome {
    let f = ctx.format;
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
        Licences::Amend {
            name,
            lines,
            valid_until,
            reasons,
            change,
        } => {
            let draft = ctx
                .applications()
                .await?
                .request_amendment(pb::RequestAmendmentRequest {
                    licence: name,
                    request_id: request_id(&change.request_id),
                    lines: lines
                        .into_iter()
                        .map(|(line_number, quantity)| pb::AmendedLine {
                            line_number,
                            quantity,
                            unit_value: None,
                        })
                        .collect(),
                    consignee: None,
                    valid_until_time: valid_until.map(|d| prost_types::Timestamp {
                        seconds: d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp(),
                        nanos: 0,
                    }),
                    reasons,
                })
                .await?
                .into_inner();
            return Ok(print(f, &draft, "clearance.v1.Application", |a| {
                format!(
                    "{}\nsubmit it with: clearancectl applications submit {} --confirm-declaration",
                    text::application(a),
                    a.reference
                )
            })?);
        }
    };
    // Parts by part number and licences by number, where the reader can know them.
    let known = if f == Format::Text && ctx.speaks_for_exporter() {
        crate::references::known_names(ctx).await?
    } else {
        Vec::new()
    };
    Ok(print(f, &r.into_inner(), "clearance.v1.Licence", |m| {
        crate::references::humanise(text::licence(m), &known)
    })?)
}

/// `LINE=QUANTITY`, e.g. `1=1200`.
fn parse_amended_line(raw: &str) -> Result<(i32, i64), String> {
    let (line, quantity) = raw
        .split_once('=')
        .ok_or_else(|| format!("'{raw}' is not LINE=QUANTITY, e.g. 1=1200"))?;
    let line = line
        .trim()
        .parse()
        .map_err(|_| format!("'{line}' is not a line number"))?;
    let quantity = quantity
        .trim()
        .parse()
        .map_err(|_| format!("'{quantity}' is not a quantity"))?;
    Ok((line, quantity))
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
