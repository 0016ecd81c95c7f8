//! Signing the audit log's checkpoints and checking a database against them.
//!
//! The signing key never enters the database, and each checkpoint is written to its own file
//! that is never overwritten; so someone who can rewrite the database cannot rewrite what was
//! signed before, and `clearance verify` names what no longer matches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clearance_domain::audit::{Checkpoint, NoteVerifier};
use clearance_store::{IntegrityReport, Store, StoredCheckpoint};
use ed25519_dalek::SigningKey;

use crate::config::{AuthMode, Config};

/// The file extension of a checkpoint.
const EXTENSION: &str = "checkpoint";
/// The verifier key's file in the checkpoint directory, for whoever checks them.
pub const VERIFIER_FILE: &str = "verifier.vkey";

/// Who signs checkpoints, and where they go.
///
/// The signer remembers the last tree it signed outside the database (its own checkpoint
/// files, read at start) and signs nothing that is not an append-only extension of it: a log
/// rewritten by someone with database access is never signed, however its size was made to
/// match. On such a fork it stops for good, says so in the log with the evidence and raises
/// `clearance_audit_signer_halted`.
pub struct Signer {
    origin: String,
    key: SigningKey,
    dir: PathBuf,
    last_signed: std::sync::Mutex<Option<(u64, clearance_domain::audit::Hash)>>,
    halted: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("origin", &self.origin)
            .field("dir", &self.dir)
            .finish()
    }
}

/// The configured signing key: the key file, or in development one generated beside the
/// development token key; `None` in production without a key file.
fn signing_key(config: &Config) -> anyhow::Result<Option<SigningKey>> {
    match (&config.audit.signing_key_file, config.auth.mode) {
        (Some(path), _) => {
            use ed25519_dalek::pkcs8::DecodePrivateKey;
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("audit signing key {}", path.display()))?;
            let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
                anyhow::anyhow!(
                    "audit signing key {}: not an Ed25519 PKCS#8 PEM key: {e}",
                    path.display()
                )
            })?;
            Ok(Some(key))
        }
        (None, AuthMode::Development) => {
            let key =
                clearance_auth::DevKey::load_or_create(&config.auth.dev_key_dir.join("audit"))?;
            Ok(Some(key.ed25519()?))
        }
        (None, AuthMode::Production) => Ok(None),
    }
}

impl Signer {
    /// The configured signer, if any key is configured.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Signer>> {
        let Some(key) = signing_key(config)? else {
            return Ok(None);
        };
        let signer = Signer {
            origin: config.audit.origin.clone(),
            key,
            dir: config.audit.checkpoint_dir.clone(),
            last_signed: std::sync::Mutex::new(None),
            halted: std::sync::Mutex::new(None),
        };
        // A bad origin fails at start, not at the first checkpoint.
        let verifier = signer.verifier()?;
        let (signed, _) = read_checkpoints(&signer.dir, &verifier)?;
        if let Some(last) = signed.last() {
            *lock(&signer.last_signed) = Some((last.size, last.root));
        }
        Ok(Some(signer))
    }

    /// Why the signer stopped, if it found the log forked.
    pub fn halted(&self) -> Option<String> {
        lock(&self.halted).clone()
    }

    /// The verifier key of this signer's checkpoints.
    pub fn verifier(&self) -> anyhow::Result<NoteVerifier> {
        NoteVerifier::new(&self.origin, self.key.verifying_key())
            .map_err(|e| anyhow::anyhow!("audit.origin: {e}"))
    }

    /// Signs a checkpoint of the whole log now (unless the log has not grown since the
    /// latest) and writes it to its file.
    pub async fn checkpoint(
        &self,
        store: &Store,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<StoredCheckpoint> {
        if let Some(why) = self.halted() {
            anyhow::bail!("checkpoint signing stopped: {why}");
        }
        let extends = *lock(&self.last_signed);
        let stored = match store
            .record_checkpoint(now, extends, |size, root| {
                Checkpoint {
                    origin: self.origin.clone(),
                    size,
                    root: *root,
                }
                .sign(&self.origin, &self.key)
            })
            .await
        {
            Ok(stored) => stored,
            Err(clearance_store::StoreError::LogForked(evidence)) => {
                *lock(&self.halted) = Some(evidence.clone());
                anyhow::bail!("the audit log forked; checkpoint signing stopped: {evidence}");
            }
            Err(e) => return Err(e.into()),
        };
        self.publish(&stored)?;
        // Only a checkpoint this signer's checks passed becomes its own last.
        let mut last = lock(&self.last_signed);
        if last.is_none_or(|(size, _)| stored.size >= size) {
            *last = Some((stored.size, stored.root));
        }
        Ok(stored)
    }

    /// Writes the checkpoint's file (and the verifier key's) unless there already; a file of
    /// that size with other content is an alarm, never overwritten.
    fn publish(&self, checkpoint: &StoredCheckpoint) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("checkpoint directory {}", self.dir.display()))?;
        write_once(
            &self.dir.join(VERIFIER_FILE),
            &(self.verifier()?.to_text() + "\n"),
        )?;
        if checkpoint.size == 0 {
            return Ok(());
        }
        write_once(
            &checkpoint_path(&self.dir, checkpoint.size),
            &checkpoint.note,
        )
    }
}

/// `dir/{size}.checkpoint`, zero-padded so names sort by size.
pub fn checkpoint_path(dir: &Path, size: u64) -> PathBuf {
    dir.join(format!("{size:020}.{EXTENSION}"))
}

/// Writes `content` to `path` unless a file is there: whole or not at all (written to a
/// temporary file, synced, then linked into place, which fails if the name exists), so a crash
/// never leaves a truncated checkpoint. A file of that name with other content is an error.
fn write_once(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("checkpoint");
    let temporary = dir.join(format!(".{name}.{}.partial", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(content.as_bytes())?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            // The new name is durable once the directory is.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let there = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            anyhow::ensure!(
                there == content,
                "{} already holds something else: a second checkpoint for one size is refused",
                path.display()
            );
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("writing {}: {e}", path.display())),
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Signs checkpoints every `interval` until `stopped`; failures are logged and retried.
/// Signs checkpoints every `interval` until `stopped`; failures are logged and retried. A fork
/// stops the signing for good: `halted` goes to 1 and the evidence is logged at every interval
/// until an operator restarts the process.
pub fn spawn_checkpoints(
    store: Store,
    signer: Signer,
    interval: Duration,
    halted: prometheus_client::metrics::gauge::Gauge,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            if let Some(evidence) = signer.halted() {
                halted.set(1);
                tracing::error!(%evidence, "the audit log forked: no checkpoint is signed until it is investigated");
                continue;
            }
            match signer.checkpoint(&store, chrono::Utc::now()).await {
                Ok(c) if c.new => tracing::info!(size = c.size, "audit log checkpoint signed"),
                Ok(_) => {}
                Err(e) if signer.halted().is_some() => {
                    halted.set(1);
                    tracing::error!(error = %format!("{e:#}"), "the audit log forked: checkpoint signing stopped");
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "signing an audit log checkpoint failed; retrying")
                }
            }
        }
    })
}

/// The checkpoints in `dir`, each opened with `verifier`, smallest first; a file that does
/// not open is a problem of its own.
pub fn read_checkpoints(
    dir: &Path,
    verifier: &NoteVerifier,
) -> anyhow::Result<(Vec<Checkpoint>, Vec<String>)> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((found, problems)),
        Err(e) => {
            return Err(anyhow::anyhow!(
                "checkpoint directory {}: {e}",
                dir.display()
            ));
        }
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
            continue;
        }
        let note = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        match Checkpoint::open(&note, verifier) {
            Ok(c) if c.origin == verifier.name => found.push(c),
            Ok(c) => problems.push(format!(
                "{} is a checkpoint of another log ({})",
                path.display(),
                c.origin
            )),
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    found.sort_by_key(|c| c.size);
    Ok((found, problems))
}

/// Checks the database against the checkpoints in `dir` signed by `verifier`: the report of
/// [`Store::verify_integrity`], with unreadable checkpoint files as problems too.
pub async fn verify(
    store: &Store,
    dir: &Path,
    verifier: &NoteVerifier,
    progress: &mut (dyn FnMut(u64) + Send),
) -> anyhow::Result<IntegrityReport> {
    let (checkpoints, unreadable) = read_checkpoints(dir, verifier)?;
    let mut report = store.verify_integrity(&checkpoints, progress).await?;
    for problem in unreadable {
        report.add_problem(problem);
    }
    Ok(report)
}

/// The verifier key: the given file, else the one the configured signing key makes.
pub fn verifier_for(config: &Config, file: Option<&Path>) -> anyhow::Result<NoteVerifier> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("verifier key {}", path.display()))?;
            NoteVerifier::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        None => Signer::from_config(config)?
            .map(|s| s.verifier())
            .transpose()?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no verifier key: pass --verifier-key (the {VERIFIER_FILE} published with the checkpoints) or configure audit.signing_key_file"
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A checkpoint file is whole or absent: what a crash can leave is a temporary file, which
    /// is never read as a checkpoint and does not stop the file being written again.
    #[test]
    fn a_checkpoint_file_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = checkpoint_path(dir.path(), 7);
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        // A write that crashed half-way, as it would have been left.
        std::fs::write(
            dir.path().join(format!(".{name}.4242.partial")),
            "clearance\n7\n",
        )
        .unwrap();
        let note = "clearance\n7\nroot\n\n— key signature\n";
        write_once(&path, note).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), note);
        write_once(&path, note).unwrap();
        assert!(
            write_once(&path, "another root").is_err(),
            "never a second for a size"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), note);
        let checkpoints: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().and_then(|x| x.to_str()) == Some(EXTENSION))
            .collect();
        assert_eq!(checkpoints.len(), 1, "the partial file is not a checkpoint");
        // This write left no temporary file of its own.
        let own_partial = dir
            .path()
            .join(format!(".{name}.{}.partial", std::process::id()));
        assert!(!own_partial.exists());
    }
}
