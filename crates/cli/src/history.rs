//! `clearancectl history`: a record's tamper-evident history.

use std::path::PathBuf;

use clap::Subcommand;
use clearance_contract::audit::merkle::{verify_consistency, verify_inclusion};
use clearance_contract::audit::{Checkpoint, Hash, NoteVerifier, leaf_data, leaf_hash};
use clearance_proto::v1 as pb;

use crate::context::{Ctx, Outcome};
use crate::output::{Format, print};
use crate::text;

#[derive(Subcommand)]
pub(crate) enum History {
    /// Every entry, oldest first.
    #[command(after_help = "Example:\n  clearancectl history show applications/0192...")]
    Show {
        /// An application (CL-…), a licence (CLL-…) or any resource name.
        resource: String,
    },
    /// Recompute the hash chain (regulators); with a checkpoint saved earlier, also prove
    /// every entry it covers is in the audit log as signed, and that the log served now
    /// still extends it. Names the first thing that does not match.
    #[command(
        after_help = "Examples:\n  clearancectl history verify applications/0192...\n  clearancectl history verify CL-2026-000002 --checkpoint saved.checkpoint --verifier-key verifier.vkey"
    )]
    Verify {
        /// An application (CL-…), a licence (CLL-…) or any resource name.
        resource: String,
        /// A checkpoint saved earlier (the signed note, e.g. from the checkpoint directory or
        /// `clearancectl history checkpoint`).
        #[arg(long, requires = "verifier_key")]
        checkpoint: Option<PathBuf>,
        /// The audit log's verifier key (name+id+key), as published with its checkpoints.
        #[arg(long, requires = "checkpoint")]
        verifier_key: Option<PathBuf>,
    },
    /// The audit log's latest signed checkpoint, to save and check against later.
    #[command(after_help = "Example:\n  clearancectl history checkpoint > saved.checkpoint")]
    Checkpoint,
}

pub(crate) async fn run(ctx: &Ctx, cmd: History) -> Outcome {
    let f = ctx.format;
    match cmd {
        History::Show { resource } => {
            // Exporters read their own records' history as they may see it; regulators
            // read every entry as recorded.
            let entries = entries(ctx, &resource).await?;
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
        History::Verify {
            resource,
            checkpoint: Some(checkpoint),
            verifier_key: Some(verifier_key),
        } => against_checkpoint(ctx, &resource, &checkpoint, &verifier_key).await,
        History::Verify { resource, .. } => {
            let r = ctx
                .reviews()
                .await?
                .verify_history(pb::VerifyHistoryRequest { resource })
                .await?
                .into_inner();
            Ok(print(f, &r, "clearance.v1.VerifyHistoryResponse", |r| {
                if r.intact {
                    return format!("intact: {} entries verified", r.entries_checked);
                }
                let mut lines = Vec::new();
                if r.first_broken_sequence > 0 {
                    lines.push(format!(
                        "BROKEN at entry {} ({} checked)",
                        r.first_broken_sequence, r.entries_checked
                    ));
                } else {
                    lines.push(format!(
                        "NOT INTACT: the {} entries verify, but documents do not",
                        r.entries_checked
                    ));
                }
                lines.extend(
                    r.altered_documents
                        .iter()
                        .map(|d| format!("  changed: {d}")),
                );
                lines.extend(
                    r.missing_documents
                        .iter()
                        .map(|d| format!("  missing: {d}")),
                );
                lines.join("\n")
            })?)
        }
        History::Checkpoint => {
            let c = ctx
                .audit()
                .await?
                .get_checkpoint(pb::GetCheckpointRequest::default())
                .await?
                .into_inner();
            match f {
                Format::Text => print!("{}", c.note),
                Format::Json => print(f, &c, "clearance.v1.Checkpoint", |_| String::new())?,
            }
            Ok(())
        }
    }
}

/// The resource's entries as this caller may read them (exporters: without hashes).
async fn entries(ctx: &Ctx, resource: &str) -> anyhow::Result<Vec<pb::HistoryEntry>> {
    let exporter = ctx.speaks_for_exporter();
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let (page, next) = if exporter {
            let r = ctx
                .applications()
                .await?
                .list_history(pb::ListHistoryRequest {
                    resource: resource.to_owned(),
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
                    resource: resource.to_owned(),
                    page_size: 500,
                    page_token,
                })
                .await?
                .into_inner();
            (r.entries, r.next_page_token)
        };
        entries.extend(page);
        if next.is_empty() {
            return Ok(entries);
        }
        page_token = next;
    }
}

fn hashes(raw: &[Vec<u8>]) -> anyhow::Result<Vec<Hash>> {
    raw.iter()
        .map(|h| {
            Hash::try_from(h.as_slice())
                .map_err(|_| anyhow::anyhow!("the service sent a proof hash that is not 32 bytes"))
        })
        .collect()
}

fn open_note(note: &str, verifier: &NoteVerifier, what: &str) -> anyhow::Result<Checkpoint> {
    let opened = Checkpoint::open(note, verifier).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    anyhow::ensure!(
        opened.origin == verifier.name,
        "{what} is of another log ({})",
        opened.origin
    );
    Ok(opened)
}

/// Proves the resource's entries against a saved checkpoint, and the log served now against
/// that checkpoint.
async fn against_checkpoint(
    ctx: &Ctx,
    resource: &str,
    checkpoint: &std::path::Path,
    verifier_key: &std::path::Path,
) -> Outcome {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    };
    let verifier = NoteVerifier::parse(&read(verifier_key)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", verifier_key.display()))?;
    let saved = open_note(
        &read(checkpoint)?,
        &verifier,
        &checkpoint.display().to_string(),
    )?;
    let tree_size = i64::try_from(saved.size).unwrap_or(i64::MAX);
    let mut audit = ctx.audit().await?;

    // The log served now extends the saved checkpoint: nothing signed then was changed.
    let latest = audit
        .get_checkpoint(pb::GetCheckpointRequest::default())
        .await?
        .into_inner();
    let latest = open_note(&latest.note, &verifier, "the latest checkpoint served")?;
    let consistency = audit
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            first_tree_size: tree_size,
            second_tree_size: i64::try_from(latest.size).unwrap_or(i64::MAX),
        })
        .await?
        .into_inner();
    if !verify_consistency(
        saved.size,
        latest.size,
        &saved.root,
        &latest.root,
        &hashes(&consistency.hashes)?,
    ) {
        return Err(anyhow::anyhow!(
            "the audit log served now (size {}) does not extend your checkpoint (size {}): what was signed then has been changed",
            latest.size,
            saved.size
        )
        .into());
    }

    // Every entry the checkpoint covers is in its tree, with the hash the history shows.
    let entries = entries(ctx, resource).await?;
    if entries.is_empty() {
        return Err(anyhow::anyhow!("{resource} has no history to verify").into());
    }
    let (mut proven, mut later) = (0, 0);
    for entry in &entries {
        let proof = match audit
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                resource: entry.resource.clone(),
                sequence: entry.sequence,
                tree_size,
            })
            .await
        {
            Ok(p) => p.into_inner(),
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                later += 1;
                continue;
            }
            Err(status) => return Err(status.into()),
        };
        if !entry.entry_sha256.is_empty() && entry.entry_sha256 != proof.entry_sha256 {
            return Err(anyhow::anyhow!(
                "{} entry {} is not what the audit log recorded: its history was changed",
                entry.resource,
                entry.sequence
            )
            .into());
        }
        let leaf = leaf_hash(&leaf_data(
            &entry.resource,
            entry.sequence,
            &proof.entry_sha256,
        ));
        let index = u64::try_from(proof.log_index).unwrap_or(u64::MAX);
        if !verify_inclusion(
            &leaf,
            index,
            saved.size,
            &hashes(&proof.hashes)?,
            &saved.root,
        ) {
            return Err(anyhow::anyhow!(
                "{} entry {} is not in the audit log as your checkpoint (size {}) signed it",
                entry.resource,
                entry.sequence,
                saved.size
            )
            .into());
        }
        proven += 1;
    }
    match ctx.format {
        Format::Text => println!(
            "intact: {proven} entries of {resource} proven in your checkpoint (size {}), {later} added since; the log served now (size {}) extends it",
            saved.size, latest.size
        ),
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "intact": true,
                "resource": resource,
                "entries_proven": proven,
                "entries_after_checkpoint": later,
                "checkpoint_tree_size": saved.size,
                "latest_tree_size": latest.size,
            })
        ),
    }
    Ok(())
}
