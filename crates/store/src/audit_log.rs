//! The audit log: one Merkle tree over every history entry. Leaves are written with their
//! entries; the sequencer gives committed leaves the next indexes and stores the perfect
//! subtrees they complete; checkpoints record signed tree heads, one per size.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use clearance_domain::audit::merkle::{
    MissingSubtree, appended_subtrees, consistency_proof, inclusion_proof, root, subtrees_read,
    verify_consistency,
};
use clearance_domain::audit::{Hash, Subtree, from_hex, leaf_data, leaf_hash, to_hex};
use clearance_domain::history::HistoryEntry;
use sea_orm::sea_query::{Condition, InsertStatement, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
};

use crate::connection::Store;
use crate::entities::{log_checkpoint, log_leaf, log_subtree};
use crate::error::StoreError;

/// The PostgreSQL advisory lock held while leaves are given indexes.
pub(crate) const LOG_ORDER_LOCK: i64 = 7_276_012;
/// The PostgreSQL advisory lock held while a checkpoint is recorded.
const CHECKPOINT_LOCK: i64 = 7_276_013;
/// Leaves given indexes per sequencing transaction.
const SEQUENCE_BATCH: u64 = 5_000;

/// A signed tree head as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    /// The signed note.
    pub note: String,
    pub sign_time: DateTime<Utc>,
    /// Whether this call recorded it (false: the log had not grown since the latest).
    pub new: bool,
}

/// A history entry as the audit log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEntry {
    /// `None` until the sequencer has given it one.
    pub log_index: Option<u64>,
    pub entry_sha256: String,
    /// The owning organisation ("" for the regulator's), while the history holds the entry.
    pub owner: Option<String>,
    pub entry: Option<HistoryEntry>,
}

impl From<MissingSubtree> for StoreError {
    fn from(e: MissingSubtree) -> Self {
        StoreError::Corrupt(format!("audit log: {e}"))
    }
}

/// The insert of the leaves of freshly chained history entries.
pub(crate) fn insert_leaves(entries: &[(String, HistoryEntry)]) -> InsertStatement {
    log_leaf::Entity::insert_many(entries.iter().map(|(_, entry)| log_leaf::ActiveModel {
        resource: Set(entry.resource.clone()),
        sequence: Set(entry.sequence),
        entry_sha256: Set(entry.entry_sha256.clone()),
        ..Default::default()
    }))
    .into_query()
}

fn leaf_of(row: &log_leaf::Model) -> Hash {
    leaf_hash(&leaf_data(&row.resource, row.sequence, &row.entry_sha256))
}

/// How many leaves have indexes.
async fn log_size<C: ConnectionTrait>(conn: &C) -> Result<u64, StoreError> {
    let last = log_leaf::Entity::find()
        .filter(log_leaf::Column::LogIndex.is_not_null())
        .order_by_desc(log_leaf::Column::LogIndex)
        .limit(1)
        .one(conn)
        .await?;
    Ok(last
        .and_then(|l| l.log_index)
        .map_or(0, |i| u64::try_from(i).unwrap_or(0) + 1))
}

fn db_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The stored hashes of `wanted`.
pub(crate) async fn fetch_subtrees<C: ConnectionTrait>(
    conn: &C,
    wanted: &[Subtree],
) -> Result<HashMap<Subtree, Hash>, StoreError> {
    let mut found = HashMap::new();
    for chunk in wanted.chunks(200) {
        let mut any = Condition::any();
        for at in chunk {
            any = any.add(
                Condition::all()
                    .add(log_subtree::Column::Level.eq(i32::try_from(at.level).unwrap_or(i32::MAX)))
                    .add(log_subtree::Column::Idx.eq(db_i64(at.index))),
            );
        }
        for row in log_subtree::Entity::find().filter(any).all(conn).await? {
            let hash = from_hex(&row.hash).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "audit log: subtree ({}, {}) holds no hash",
                    row.level, row.idx
                ))
            })?;
            found.insert(
                Subtree {
                    level: u32::try_from(row.level).unwrap_or(0),
                    index: u64::try_from(row.idx).unwrap_or(0),
                },
                hash,
            );
        }
    }
    Ok(found)
}

/// Gives committed leaves without an index the next ones, in id order, and stores the
/// subtrees they complete; how many. The caller holds the ordering lock (PostgreSQL) or is
/// the one writer (SQLite).
pub(crate) async fn sequence_leaves<C: ConnectionTrait>(conn: &C) -> Result<u64, StoreError> {
    // The leaves waiting, and (ordered first) the last one sequenced, whose index gives the
    // size: one query, as this runs at every commit on SQLite.
    let mut rows = log_leaf::Entity::find()
        .filter(
            Condition::any()
                .add(log_leaf::Column::LogIndex.is_null())
                .add(
                    log_leaf::Column::LogIndex.in_subquery(
                        sea_orm::sea_query::Query::select()
                            .expr(sea_orm::sea_query::Func::max(
                                sea_orm::sea_query::Expr::col(log_leaf::Column::LogIndex),
                            ))
                            .from(log_leaf::Entity)
                            .to_owned(),
                    ),
                ),
        )
        .order_by_asc(log_leaf::Column::LogIndex.is_null())
        .order_by_asc(log_leaf::Column::Id)
        .limit(SEQUENCE_BATCH + 1)
        .all(conn)
        .await?;
    let size = match rows.first().and_then(|r| r.log_index) {
        Some(last) => {
            rows.remove(0);
            u64::try_from(last).unwrap_or(0) + 1
        }
        None => 0,
    };
    let pending = rows;
    if pending.is_empty() {
        return Ok(0);
    }
    let leaves: Vec<Hash> = pending.iter().map(leaf_of).collect();
    let needed = subtrees_read(|s| appended_subtrees(size, &leaves, &s).map(|_| ()));
    let old = if needed.is_empty() {
        HashMap::new()
    } else {
        fetch_subtrees(conn, &needed).await?
    };
    let made = appended_subtrees(size, &leaves, &old)?;
    let cases: String = pending
        .iter()
        .enumerate()
        .map(|(i, leaf)| format!(" WHEN {} THEN {}", leaf.id, size + i as u64))
        .collect();
    let ids: Vec<String> = pending.iter().map(|l| l.id.to_string()).collect();
    conn.execute_unprepared(&format!(
        "UPDATE log_leaves SET log_index = CASE id{cases} END WHERE id IN ({})",
        ids.join(",")
    ))
    .await?;
    for chunk in made.chunks(1000) {
        log_subtree::Entity::insert_many(chunk.iter().map(|(at, hash)| log_subtree::ActiveModel {
            level: Set(i32::try_from(at.level).unwrap_or(i32::MAX)),
            idx: Set(db_i64(at.index)),
            hash: Set(to_hex(hash)),
        }))
        .exec(conn)
        .await?;
    }
    Ok(pending.len() as u64)
}

/// Sequences leaves in a transaction of its own under the ordering lock (PostgreSQL).
pub(crate) async fn sequence_committed_leaves(
    db: &sea_orm::DatabaseConnection,
) -> Result<u64, StoreError> {
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({LOG_ORDER_LOCK})"))
        .await?;
    let n = sequence_leaves(&txn).await?;
    txn.commit().await?;
    Ok(n)
}

/// The root of the first `size` leaves from the stored subtrees.
async fn root_of<C: ConnectionTrait>(conn: &C, size: u64) -> Result<Hash, StoreError> {
    let needed = subtrees_read(|s| root(size, &s));
    let found = fetch_subtrees(conn, &needed).await?;
    Ok(root(size, &found)?)
}

fn checkpoint_of(row: log_checkpoint::Model, new: bool) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: u64::try_from(row.tree_size).unwrap_or(0),
        root: from_hex(&row.root_hash).ok_or_else(|| {
            StoreError::Corrupt(format!("checkpoint {} holds no root", row.tree_size))
        })?,
        note: row.note,
        sign_time: row.sign_time,
        new,
    })
}

impl Store {
    /// Gives every committed leaf an index now (a checkpoint covers them all).
    pub async fn sequence_log(&self) -> Result<(), StoreError> {
        loop {
            let n = match self.db.get_database_backend() {
                DbBackend::Postgres => sequence_committed_leaves(&self.db).await?,
                _ => {
                    let write = self.begin_write().await?;
                    let n = sequence_leaves(&write.txn).await?;
                    write.commit().await?;
                    n
                }
            };
            if n < SEQUENCE_BATCH {
                return Ok(());
            }
        }
    }

    /// The log's size and root now.
    pub async fn log_head(&self) -> Result<(u64, Hash), StoreError> {
        let read = self.begin_read().await?;
        let size = log_size(&read).await?;
        let head = root_of(&read, size).await?;
        read.commit().await?;
        Ok((size, head))
    }

    /// Records a checkpoint of the whole log, signed by `sign` (given the size and root),
    /// unless the latest checkpoint is of this size already (then that one, `new` false).
    /// Replicas take turns: one signer at a time, and one checkpoint per size; a second root
    /// for a size already signed is refused as corruption, never stored.
    ///
    /// `extends` is the signer's own last signed tree (size and root, kept outside the
    /// database): nothing is signed unless the log now is an append-only extension of it,
    /// proven by a consistency proof from the stored subtrees; otherwise `LogForked`, with the
    /// evidence.
    pub async fn record_checkpoint(
        &self,
        now: DateTime<Utc>,
        extends: Option<(u64, Hash)>,
        sign: impl FnOnce(u64, &Hash) -> String,
    ) -> Result<StoredCheckpoint, StoreError> {
        self.sequence_log().await?;
        let write = self.begin_write().await?;
        if write.txn.get_database_backend() == DbBackend::Postgres {
            write
                .txn
                .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({CHECKPOINT_LOCK})"))
                .await?;
        }
        let size = log_size(&write.txn).await?;
        let head = root_of(&write.txn, size).await?;
        if let Some((signed_size, signed_root)) = extends {
            let forked = |why: String| {
                StoreError::LogForked(format!(
                    "the signer last signed size {signed_size} with root {}; the log now has \
                     size {size} with root {}: {why}",
                    to_hex(&signed_root),
                    to_hex(&head)
                ))
            };
            if size < signed_size {
                return Err(forked(
                    "the log is shorter than a tree already signed".into(),
                ));
            }
            let needed = subtrees_read(|s| consistency_proof(signed_size, size, &s));
            let found = fetch_subtrees(&write.txn, &needed).await?;
            let proof = consistency_proof(signed_size, size, &found)?;
            if !verify_consistency(signed_size, size, &signed_root, &head, &proof) {
                return Err(forked(
                    "no consistency proof from the signed tree: it is not a prefix of the log"
                        .into(),
                ));
            }
        }
        let latest = log_checkpoint::Entity::find()
            .order_by_desc(log_checkpoint::Column::TreeSize)
            .limit(1)
            .one(&write.txn)
            .await?;
        if let Some(latest) = latest
            && u64::try_from(latest.tree_size).unwrap_or(0) >= size
        {
            let stored = checkpoint_of(latest, false)?;
            if stored.size == size && stored.root != head {
                return Err(StoreError::Corrupt(format!(
                    "the log's root at size {size} is not the one signed for that size"
                )));
            }
            write.txn.rollback().await?;
            return Ok(stored);
        }
        let note = sign(size, &head);
        log_checkpoint::Entity::insert(log_checkpoint::ActiveModel {
            tree_size: Set(db_i64(size)),
            root_hash: Set(to_hex(&head)),
            note: Set(note.clone()),
            sign_time: Set(now),
        })
        .on_conflict(
            OnConflict::column(log_checkpoint::Column::TreeSize)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&write.txn)
        .await?;
        let stored = log_checkpoint::Entity::find_by_id(db_i64(size))
            .one(&write.txn)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a recorded checkpoint vanished".into()))?;
        if from_hex(&stored.root_hash) != Some(head) {
            return Err(StoreError::Corrupt(format!(
                "a checkpoint of size {size} with another root exists"
            )));
        }
        let new = stored.note == note;
        write.commit().await?;
        checkpoint_of(stored, new)
    }

    /// Every checkpoint recorded, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        log_checkpoint::Entity::find()
            .order_by_asc(log_checkpoint::Column::TreeSize)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| checkpoint_of(row, false))
            .collect()
    }

    /// The checkpoint of `size`, if one was signed.
    pub async fn checkpoint_of_size(
        &self,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        log_checkpoint::Entity::find_by_id(db_i64(size))
            .one(&self.db)
            .await?
            .map(|row| checkpoint_of(row, false))
            .transpose()
    }

    /// The latest checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        log_checkpoint::Entity::find()
            .order_by_desc(log_checkpoint::Column::TreeSize)
            .limit(1)
            .one(&self.db)
            .await?
            .map(|row| checkpoint_of(row, false))
            .transpose()
    }

    /// `resource`'s entry `sequence` as logged: its leaf's index (once sequenced) and entry
    /// hash, with the history entry and its owner when the history still holds it.
    pub async fn logged_entry(
        &self,
        resource: &str,
        sequence: i64,
    ) -> Result<Option<LoggedEntry>, StoreError> {
        let read = self.begin_read().await?;
        let leaf = log_leaf::Entity::find()
            .filter(log_leaf::Column::Resource.eq(resource))
            .filter(log_leaf::Column::Sequence.eq(sequence))
            .one(&read)
            .await?;
        let Some(leaf) = leaf else {
            read.commit().await?;
            return Ok(None);
        };
        let entry = crate::entities::history_entry::Entity::find()
            .filter(crate::entities::history_entry::Column::Resource.eq(resource))
            .filter(crate::entities::history_entry::Column::Sequence.eq(sequence))
            .one(&read)
            .await?;
        read.commit().await?;
        Ok(Some(LoggedEntry {
            log_index: leaf.log_index.and_then(|i| u64::try_from(i).ok()),
            entry_sha256: leaf.entry_sha256,
            owner: entry.as_ref().map(|e| e.organisation_id.clone()),
            entry: entry.map(crate::history::to_domain),
        }))
    }

    /// The log index of `resource`'s entry `sequence`, once sequenced.
    pub async fn log_index_of(
        &self,
        resource: &str,
        sequence: i64,
    ) -> Result<Option<u64>, StoreError> {
        Ok(log_leaf::Entity::find()
            .filter(log_leaf::Column::Resource.eq(resource))
            .filter(log_leaf::Column::Sequence.eq(sequence))
            .one(&self.db)
            .await?
            .and_then(|l| l.log_index)
            .and_then(|i| u64::try_from(i).ok()))
    }

    /// The audit path of leaf `index` in the tree of `size` leaves.
    pub async fn log_inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        let needed = subtrees_read(|s| inclusion_proof(index, size, &s));
        let found = fetch_subtrees(&self.db, &needed).await?;
        Ok(inclusion_proof(index, size, &found)?)
    }

    /// The proof that the tree of `old_size` leaves is a prefix of that of `new_size`.
    pub async fn log_consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        let needed = subtrees_read(|s| consistency_proof(old_size, new_size, &s));
        let found = fetch_subtrees(&self.db, &needed).await?;
        Ok(consistency_proof(old_size, new_size, &found)?)
    }
}

/// Every sequenced leaf in index order, read in pages (for verification).
pub(crate) async fn all_leaves<C: ConnectionTrait>(
    conn: &C,
) -> Result<Vec<log_leaf::Model>, StoreError> {
    let mut all = Vec::new();
    let mut after = -1i64;
    loop {
        let page = log_leaf::Entity::find()
            .filter(log_leaf::Column::LogIndex.gt(after))
            .order_by_asc(log_leaf::Column::LogIndex)
            .limit(SEQUENCE_BATCH)
            .all(conn)
            .await?;
        let full = page.len() as u64 == SEQUENCE_BATCH;
        if let Some(last) = page.last().and_then(|l| l.log_index) {
            after = last;
        }
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// The leaf hash a stored leaf row stands for.
pub(crate) fn leaf_hash_of(row: &log_leaf::Model) -> Hash {
    leaf_of(row)
}
