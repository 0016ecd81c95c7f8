//! Checking a database against its own records (after a restore, say), and copying the
//! embedded database while it serves.

use std::path::Path;

use clearance_domain::history::{HistoryEntry, verify_chain};
use clearance_domain::ledger::LineBalance;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use std::collections::HashMap;

use clearance_domain::audit::merkle::{self, appended_subtrees};
use clearance_domain::audit::{Checkpoint, Hash, Subtree};

use crate::audit_log::{all_leaves, fetch_subtrees, leaf_hash_of};
use crate::connection::Store;
use crate::entities::{application, history_entry, log_leaf};
use crate::error::StoreError;
use crate::history::to_domain;

/// History entries read per query while checking chains.
const HISTORY_PAGE: u64 = 5_000;
/// Problems listed in full; past this, only counted.
const PROBLEMS_LISTED: usize = 100;

/// What [`Store::verify_integrity`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    pub chains: u64,
    pub entries: u64,
    /// Entries in the audit log, and checkpoints checked against it.
    pub log_entries: u64,
    pub checkpoints: u64,
    pub licence_lines: u64,
    /// The first [`PROBLEMS_LISTED`] problems, in words naming the resource.
    pub problems: Vec<String>,
    /// All problems, listed or not.
    pub problem_count: u64,
}

impl IntegrityReport {
    fn problem(&mut self, what: String) {
        self.problem_count += 1;
        if self.problems.len() < PROBLEMS_LISTED {
            self.problems.push(what);
        }
    }

    /// A problem found outside the database (e.g. a checkpoint file that does not open).
    pub fn add_problem(&mut self, what: String) {
        self.problem(what);
    }

    pub fn is_intact(&self) -> bool {
        self.problem_count == 0
    }

    fn check_chain(&mut self, entries: &[HistoryEntry]) {
        let Some(first) = entries.first() else {
            return;
        };
        self.chains += 1;
        self.entries += entries.len() as u64;
        if let Some(sequence) = verify_chain(entries).first_broken_sequence {
            self.problem(format!(
                "{}: history chain broken at entry {sequence}",
                first.resource
            ));
        }
    }
}

impl Store {
    /// Checks every resource's history chain and that every licence line's balance equals
    /// granted minus what its started shipments drew, all in one snapshot, so it may run while
    /// the service writes. `progress` hears the number of history entries checked so far.
    pub async fn verify_integrity(
        &self,
        checkpoints: &[Checkpoint],
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<IntegrityReport, StoreError> {
        // Entries committed but not yet in the tree join it first, so all are checked.
        self.sequence_log().await?;
        let txn = self.begin_read().await?;
        let mut report = IntegrityReport::default();
        let leaves = all_leaves(&txn).await?;
        let mut logged: HashMap<(String, i64), (u64, String)> =
            HashMap::with_capacity(leaves.len());
        let mut hashes = Vec::with_capacity(leaves.len());
        // Each run of missing indexes is one problem, not one per leaf after it.
        let mut next_index = 0u64;
        for leaf in &leaves {
            let index = leaf
                .log_index
                .and_then(|i| u64::try_from(i).ok())
                .unwrap_or(0);
            if index > next_index {
                report.problem(if index == next_index + 1 {
                    format!(
                        "the audit log has no entry at index {next_index}: entries were removed from it"
                    )
                } else {
                    format!(
                        "the audit log has no entries at indexes {next_index} to {}: entries were removed from it",
                        index - 1
                    )
                });
            }
            next_index = index.saturating_add(1);
            hashes.push(leaf_hash_of(leaf));
            logged.insert(
                (leaf.resource.clone(), leaf.sequence),
                (index, leaf.entry_sha256.clone()),
            );
        }
        report.log_entries = hashes.len() as u64;
        // Entries committed since the log was last sequenced are logged, awaiting an index.
        for leaf in log_leaf::Entity::find()
            .filter(log_leaf::Column::LogIndex.is_null())
            .all(&txn)
            .await?
        {
            logged.insert(
                (leaf.resource.clone(), leaf.sequence),
                (u64::MAX, leaf.entry_sha256.clone()),
            );
        }
        let mut chain: Vec<HistoryEntry> = Vec::new();
        let mut last_state: HashMap<String, String> = HashMap::new();
        let mut after: Option<(String, i64)> = None;
        loop {
            let mut query = history_entry::Entity::find();
            if let Some((resource, sequence)) = &after {
                query = query.filter(
                    Condition::any()
                        .add(history_entry::Column::Resource.gt(resource.as_str()))
                        .add(
                            Condition::all()
                                .add(history_entry::Column::Resource.eq(resource.as_str()))
                                .add(history_entry::Column::Sequence.gt(*sequence)),
                        ),
                );
            }
            let page = query
                .order_by_asc(history_entry::Column::Resource)
                .order_by_asc(history_entry::Column::Sequence)
                .limit(HISTORY_PAGE)
                .all(&txn)
                .await?;
            let full = page.len() as u64 == HISTORY_PAGE;
            for row in page {
                let entry = to_domain(row);
                match logged.remove(&(entry.resource.clone(), entry.sequence)) {
                    None => report.problem(format!(
                        "{} entry {} is not in the audit log: it was added afterwards",
                        entry.resource, entry.sequence
                    )),
                    Some((index, hash)) if hash != entry.entry_sha256 => report.problem(format!(
                        "{} entry {} differs from what the audit log recorded at index {index}",
                        entry.resource, entry.sequence
                    )),
                    Some(_) => {}
                }
                if entry.resource.starts_with("applications/") && !entry.to_state.is_empty() {
                    last_state.insert(entry.resource.clone(), entry.to_state.clone());
                }
                if chain.first().is_some_and(|c| c.resource != entry.resource) {
                    report.check_chain(&chain);
                    chain.clear();
                }
                after = Some((entry.resource.clone(), entry.sequence));
                chain.push(entry);
            }
            progress(report.entries + chain.len() as u64);
            if !full {
                break;
            }
        }
        report.check_chain(&chain);
        let mut missing: Vec<((String, i64), (u64, String))> = logged.into_iter().collect();
        missing.sort_by_key(|(_, (index, _))| *index);
        for ((resource, sequence), _) in missing {
            report.problem(format!(
                "{resource} entry {sequence} is in the audit log but missing from its history: it was deleted"
            ));
        }

        // The tree, rebuilt from the leaves, must have the root each checkpoint signed.
        let tree: HashMap<Subtree, Hash> = appended_subtrees(0, &hashes, &HashMap::new())?
            .into_iter()
            .collect();
        let size = hashes.len() as u64;
        for checkpoint in checkpoints {
            report.checkpoints += 1;
            if checkpoint.size > size {
                report.problem(format!(
                    "the checkpoint of size {} is larger than the audit log ({size} entries): entries were removed from it",
                    checkpoint.size
                ));
            } else if merkle::root(checkpoint.size, &tree)? != checkpoint.root {
                report.problem(format!(
                    "the audit log's first {} entries do not hash to the root signed for them: the log was rewritten, so it is not consistent with that checkpoint",
                    checkpoint.size
                ));
            }
        }
        // The stored subtrees (which proofs are made of) must agree with the leaves.
        let needed = merkle::subtrees_read(|s| merkle::root(size, &s));
        let stored = fetch_subtrees(&txn, &needed).await?;
        if merkle::root(size, &stored).ok() != Some(merkle::root(size, &tree)?) {
            report.problem(
                "the audit log's stored subtrees do not agree with its entries: proofs from it would not verify".into(),
            );
        }

        // Each application is in the state its last recorded transition led to.
        for row in application::Entity::find().all(&txn).await? {
            let resource = format!("applications/{}", row.id);
            match last_state.get(&resource) {
                Some(state) if *state != row.state => report.problem(format!(
                    "{resource} is {} but its history's last transition led to {state}",
                    row.state
                )),
                None => report.problem(format!("{resource} has no recorded history")),
                _ => {}
            }
        }

        let backend = txn.get_database_backend();
        let balances = txn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT l.licence_id, l.line_index, l.granted_quantity, l.remaining_quantity, \
                        l.granted_value_minor_units, l.remaining_value_minor_units, \
                        COALESCE(s.quantity, 0) AS shipped_quantity, \
                        COALESCE(s.value_minor_units, 0) AS shipped_value \
                 FROM licence_lines l LEFT JOIN ( \
                     SELECT sh.licence_id, sl.licence_line_index, \
                            CAST(SUM(sl.quantity) AS BIGINT) AS quantity, \
                            CAST(SUM(sl.value_minor_units) AS BIGINT) AS value_minor_units \
                     FROM shipment_lines sl JOIN shipments sh ON sh.id = sl.shipment_id \
                     WHERE sh.state = 'STARTED' AND sh.licence_id IS NOT NULL \
                     GROUP BY sh.licence_id, sl.licence_line_index) s \
                   ON s.licence_id = l.licence_id AND s.licence_line_index = l.line_index \
                 ORDER BY l.licence_id, l.line_index",
            ))
            .await?;
        for row in balances {
            report.licence_lines += 1;
            let licence: uuid::Uuid = row.try_get("", "licence_id")?;
            let line: i32 = row.try_get("", "line_index")?;
            let balance = LineBalance {
                granted_quantity: row.try_get("", "granted_quantity")?,
                remaining_quantity: row.try_get("", "remaining_quantity")?,
                shipped_quantity: row.try_get("", "shipped_quantity")?,
                granted_value_minor: row.try_get("", "granted_value_minor_units")?,
                remaining_value_minor: row.try_get("", "remaining_value_minor_units")?,
                shipped_value_minor: row.try_get("", "shipped_value")?,
            };
            if let Some(what) = balance.discrepancy() {
                report.problem(format!("licences/{licence} line {}: {what}", line + 1));
            }
        }
        txn.commit().await?;
        Ok(report)
    }

    /// Writes a consistent copy of the embedded database to `target` while it serves
    /// (`VACUUM INTO`: one read transaction, so the copy is a snapshot). PostgreSQL has its own
    /// tools for this (pg_dump, or base backups with WAL archiving for point-in-time recovery).
    pub async fn backup_to(&self, target: &Path) -> Result<(), StoreError> {
        if self.db.get_database_backend() != DbBackend::Sqlite {
            return Err(StoreError::Unsupported(
                "clearance backup copies the embedded (SQLite) database; back up PostgreSQL with \
                 pg_dump or base backups and WAL archiving (see deploy/README.md)"
                    .into(),
            ));
        }
        if target.exists() {
            return Err(StoreError::Unsupported(format!(
                "{} exists already; a backup never overwrites a file",
                target.display()
            )));
        }
        let path = target.to_str().ok_or_else(|| {
            StoreError::Unsupported(format!("{} is not a UTF-8 path", target.display()))
        })?;
        // A string literal: single quotes doubled.
        let literal = path.replace('\'', "''");
        self.db
            .execute_unprepared(&format!("VACUUM INTO '{literal}'"))
            .await?;
        Ok(())
    }
}
