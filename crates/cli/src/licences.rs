//! `clearancectl licences`: balances, and the actions on a licence.

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{Ctx, Decided, Failure, Outcome, Page, decided_etag, request_id};
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
