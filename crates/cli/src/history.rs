//! `clearancectl history`: a record's tamper-evident history.

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{Ctx, Outcome};
use crate::output::print;
use crate::text;

#[derive(Subcommand)]
pub(crate) enum History {
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

pub(crate) async fn run(ctx: &Ctx, cmd: History) -> Outcome {
    let f = ctx.format;
    match cmd {
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
    }
}
