//! Retention: idempotency records and outbox events are kept for a configured period and then
//! pruned in small batches; history is never pruned (export records are kept at least five
//! years, 15 CFR 762.6).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use crate::connection::Store;
use crate::error::StoreError;

/// The retention mark of the outbox (see migration 14).
const OUTBOX_MARK: &str = "outbox_events";

/// What one pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub idempotency_records: u64,
    pub outbox_events: u64,
}

impl Store {
    /// Deletes up to `batch` idempotency records created before `cutoff`. A retry of such a
    /// request after that is a new request.
    pub async fn prune_idempotency_records(
        &self,
        cutoff: DateTime<Utc>,
        batch: u64,
    ) -> Result<u64, StoreError> {
        let backend = self.db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "DELETE FROM idempotency_records WHERE (scope, request_id) IN \
                 (SELECT scope, request_id FROM idempotency_records WHERE create_time < $1 LIMIT $2)"
            }
            _ => {
                "DELETE FROM idempotency_records WHERE rowid IN \
                 (SELECT rowid FROM idempotency_records WHERE create_time < ? LIMIT ?)"
            }
        };
        // Through the write gate: on SQLite a writer waits its turn instead of failing busy.
        let write = self.begin_write().await?;
        let done = write
            .txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [Value::from(cutoff), Value::from(batch as i64)],
            ))
            .await?;
        write.commit().await?;
        Ok(done.rows_affected())
    }

    /// Deletes the oldest outbox events, in stream order, up to `batch` of them and only while
    /// each was created before `cutoff`, and raises the retention mark past them in the same
    /// transaction, so a cursor from before the mark is refused rather than skipping events.
    pub async fn prune_outbox_events(
        &self,
        cutoff: DateTime<Utc>,
        batch: u64,
    ) -> Result<u64, StoreError> {
        let backend = self.db.get_database_backend();
        let write = self.begin_write().await?;
        let txn = &write.txn;
        let mark = read_mark(txn, backend).await?;
        let oldest = txn
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                placeholders(
                    backend,
                    "SELECT position, create_time FROM outbox_events \
                     WHERE position > ? ORDER BY position LIMIT ?",
                ),
                [Value::from(mark), Value::from(batch as i64)],
            ))
            .await?;
        let mut through = None;
        for row in oldest {
            let created: DateTime<Utc> = row.try_get("", "create_time")?;
            if created >= cutoff {
                break;
            }
            through = Some(row.try_get::<i64>("", "position")?);
        }
        let Some(through) = through else {
            write.commit().await?;
            return Ok(0);
        };
        let deleted = txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                placeholders(
                    backend,
                    "DELETE FROM outbox_events WHERE position > ? AND position <= ?",
                ),
                [Value::from(mark), Value::from(through)],
            ))
            .await?
            .rows_affected();
        // Only rises: another replica may have pruned further meanwhile.
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            placeholders(
                backend,
                "UPDATE retention_marks SET through_position = ? \
                 WHERE name = ? AND through_position < ?",
            ),
            [
                Value::from(through),
                Value::from(OUTBOX_MARK),
                Value::from(through),
            ],
        ))
        .await?;
        write.commit().await?;
        Ok(deleted)
    }

    /// Positions at or below this were pruned.
    pub async fn events_pruned_through(&self) -> Result<i64, StoreError> {
        read_mark(&self.db, self.db.get_database_backend()).await
    }
}

async fn read_mark<C: ConnectionTrait>(conn: &C, backend: DbBackend) -> Result<i64, StoreError> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            placeholders(
                backend,
                "SELECT through_position FROM retention_marks WHERE name = ?",
            ),
            [Value::from(OUTBOX_MARK)],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "through_position")?,
        None => 0,
    })
}

/// `?` placeholders as the backend writes them (`$1`, `$2`, … on PostgreSQL).
fn placeholders(backend: DbBackend, sql: &str) -> String {
    if backend != DbBackend::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}
