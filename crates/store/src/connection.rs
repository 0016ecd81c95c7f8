//! Connecting to SQLite (embedded default) or PostgreSQL, and running migrations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use clearance_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard, Notify, watch};

use crate::deadline::{SessionTimeouts, note_begun, note_commit_sent, note_committed, time_left};
use crate::error::StoreError;

/// How long after a call's deadline its statements are cancelled.
const DEADLINE_GRACE: Duration = Duration::from_millis(50);

/// The PostgreSQL advisory lock key held while migrating.
const MIGRATION_LOCK: i64 = 7_276_011;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
    /// SQLite has one writer at a time; queueing writers here instead of in SQLite's busy
    /// loop keeps them fair and never fails a write with SQLITE_BUSY.
    write_gate: Option<Arc<Mutex<()>>>,
    /// SQL statements sent so far (prepared ones counted as they run, BEGIN, the commit-time
    /// numbering and COMMIT of write transactions added by hand), for tests and telemetry.
    statements: Arc<AtomicU64>,
    /// PostgreSQL: the event sequencer's handle (kept alive by the stores) and its wake-up.
    sequencer: Option<(Arc<SequencerHandle>, Arc<Notify>)>,
    /// Ticks whenever events of this process may have been numbered, so event streams wake at
    /// once instead of at their next poll.
    numbered: Arc<watch::Sender<u64>>,
    /// The sessions' statement timeout (zero: none); a call with less time left shortens it.
    statement_timeout: Duration,
    /// Whether idempotency records from before exporters' keys became the organisation's may
    /// remain (until retention prunes them): then a new key is looked up in its old scope too.
    legacy_idempotency: Arc<std::sync::atomic::AtomicBool>,
}

/// An open write transaction, holding the write gate (SQLite) until it ends.
pub(crate) struct WriteTxn<'a> {
    pub(crate) txn: DatabaseTransaction,
    _gate: Option<MutexGuard<'a, ()>>,
    statements: Arc<AtomicU64>,
    sequencer: Option<Arc<Notify>>,
    numbered: Arc<watch::Sender<u64>>,
}

/// The PostgreSQL advisory lock held while event positions are assigned.
const OUTBOX_ORDER_LOCK: i64 = 7_276_010;
/// How often (at most) the sequencer gives committed history entries their audit log
/// indexes on PostgreSQL: batching them keeps the log's cost off the write path.
const LEAF_SEQUENCING_INTERVAL: Duration = Duration::from_millis(500);
/// How often the sequencer looks for committed events without a position even when no write
/// of this process asked it to (another replica's writer may have gone before sequencing).
const SEQUENCER_BACKSTOP: Duration = Duration::from_millis(100);

/// Numbers every committed event that has no position yet, after the highest position, in id
/// order, in a short transaction of its own under the ordering lock.
///
/// Events get positions only once committed, and only the lock holder assigns them, always
/// above every position committed before; so a stream reading `position > cursor` never passes
/// an event: one that commits later is numbered later. Writers commit in parallel (sharing WAL
/// flushes); only this small numbering transaction is serialised.
async fn sequence_committed(db: &DatabaseConnection) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock({OUTBOX_ORDER_LOCK}); \
         UPDATE outbox_events AS o SET position = m.base + s.n \
         FROM (SELECT id, row_number() OVER (ORDER BY id) AS n \
               FROM outbox_events WHERE position IS NULL) AS s, \
              (SELECT COALESCE(MAX(position), 0) AS base FROM outbox_events) AS m \
         WHERE o.id = s.id"
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

tokio::task_local! {
    /// Set while the sequencer runs, so its statements are not counted as any call's.
    static BACKGROUND: ();
}

/// What the sequencer task needs; it holds this weakly, so it ends with the last `Store`.
struct SequencerHandle {
    db: DatabaseConnection,
    numbered: Arc<watch::Sender<u64>>,
}

/// Runs [`sequence_committed`] whenever a writer of this process commits (notifications
/// coalesce) and every [`SEQUENCER_BACKSTOP`], until the store is dropped.
fn spawn_sequencer(handle: &Arc<SequencerHandle>, wake: Arc<Notify>) {
    let weak: Weak<SequencerHandle> = Arc::downgrade(handle);
    tokio::spawn(async move {
        let mut leaves_sequenced = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(SEQUENCER_BACKSTOP) => {}
            }
            let Some(handle) = weak.upgrade() else {
                return;
            };
            BACKGROUND
                .scope((), async {
                    match sequence_committed(&handle.db).await {
                        Ok(()) => {
                            handle.numbered.send_modify(|n| *n = n.wrapping_add(1));
                        }
                        Err(e) => tracing::warn!(error = %e, "assigning event positions failed; retrying"),
                    }
                    // The audit log's indexes are needed only by the next checkpoint (which
                    // sequences first), so leaves are indexed in larger, rarer batches.
                    if leaves_sequenced.elapsed() >= LEAF_SEQUENCING_INTERVAL {
                        leaves_sequenced = std::time::Instant::now();
                        if let Err(e) =
                            crate::audit_log::sequence_committed_leaves(&handle.db).await
                        {
                            tracing::warn!(error = %e, "adding history entries to the audit log failed; retrying");
                        }
                    }
                })
                .await;
        }
    });
}

impl WriteTxn<'_> {
    /// Commits. On PostgreSQL the transaction's events are numbered just after, by the
    /// sequencer (see [`sequence_committed`]); SQLite has one writer, so its events are
    /// numbered by id as the last statement before COMMIT.
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self.txn.get_database_backend() {
            DbBackend::Postgres => {
                self.statements.fetch_add(1, Ordering::Relaxed); // COMMIT
                note_commit_sent();
                self.txn.commit().await?;
                note_committed();
                if let Some(sequencer) = &self.sequencer {
                    sequencer.notify_one();
                }
            }
            _ => {
                self.statements.fetch_add(2, Ordering::Relaxed); // numbering, COMMIT
                self.txn
                    .execute_unprepared(
                        "UPDATE outbox_events SET position = id WHERE position IS NULL",
                    )
                    .await?;
                // One writer at a time: the transaction's history entries take the next
                // indexes of the audit log before it commits.
                crate::audit_log::sequence_leaves(&self.txn).await?;
                note_commit_sent();
                self.txn.commit().await?;
                note_committed();
                self.numbered.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
        Ok(())
    }
}

impl Store {
    /// Connects to `sqlite://path` (created if missing, WAL, full sync) or `postgres://...`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        Self::connect_with(url, max_connections, SessionTimeouts::default()).await
    }

    /// Like [`Store::connect`], with PostgreSQL sessions bounded by `timeouts`.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        timeouts: SessionTimeouts,
    ) -> Result<Store, StoreError> {
        let mut options = ConnectOptions::new(url.to_owned());
        let session_options = timeouts.options();
        options
            .max_connections(max_connections.max(1))
            .min_connections(1)
            // Also bounds opening a connection (sea-orm's connect timeout is the same setting).
            .acquire_timeout(timeouts.acquire_or_default())
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // An acknowledged write survives power loss, not only a crash.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            })
            .map_sqlx_postgres_opts(move |o| o.options(session_options.clone()));
        let mut db = Database::connect(options).await?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            // Background work (the sequencer) is not any call's statement.
            if BACKGROUND.try_with(|_| ()).is_err() {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        let write_gate = match db.get_database_backend() {
            DbBackend::Sqlite => Some(Arc::new(Mutex::new(()))),
            _ => None,
        };
        let numbered = Arc::new(watch::channel(0u64).0);
        let sequencer = match db.get_database_backend() {
            DbBackend::Postgres => {
                let handle = Arc::new(SequencerHandle {
                    db: db.clone(),
                    numbered: numbered.clone(),
                });
                let wake = Arc::new(Notify::new());
                spawn_sequencer(&handle, wake.clone());
                Some((handle, wake))
            }
            _ => None,
        };
        Ok(Store {
            db,
            write_gate,
            statements,
            sequencer,
            numbered,
            statement_timeout: timeouts.statement,
            legacy_idempotency: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        })
    }

    /// Changes whenever events may have become visible through this store, so a stream can
    /// wait on it as well as on its poll timer (events of other replicas still arrive by poll).
    pub fn events_numbered(&self) -> watch::Receiver<u64> {
        self.numbered.subscribe()
    }

    /// Numbers committed events now, rather than when the sequencer next runs (PostgreSQL;
    /// SQLite numbers them at commit).
    pub async fn sequence_events(&self) -> Result<(), StoreError> {
        if self.db.get_database_backend() == DbBackend::Postgres {
            sequence_committed(&self.db).await?;
            crate::audit_log::sequence_committed_leaves(&self.db).await?;
        }
        Ok(())
    }

    /// How many SQL statements this store has sent so far.
    pub fn statements_sent(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Applies every pending migration, all in one transaction that holds a database-wide
    /// lock, so any number of processes may migrate at once: the first applies, the others
    /// wait and then find nothing to do.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        if self.db.get_database_backend() == DbBackend::Postgres {
            write
                .txn
                .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                .await?;
        }
        Migrator::up(&write.txn, None).await?;
        write.txn.commit().await?;
        self.note_legacy_idempotency().await
    }

    /// Looks whether records from before exporters' keys became the organisation's remain.
    pub async fn note_legacy_idempotency(&self) -> Result<(), StoreError> {
        use crate::entities::idempotency_record;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let remain = idempotency_record::Entity::find()
            .filter(idempotency_record::Column::Subject.is_null())
            .one(&self.db)
            .await?
            .is_some();
        self.legacy_idempotency
            .store(remain, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn legacy_idempotency(&self) -> bool {
        self.legacy_idempotency
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await?;
        Ok(())
    }

    /// A probe of the database on a connection of its own, outside the request pool, so
    /// readiness neither waits behind busy calls nor passes on a connection that happens to be
    /// idle and well. Connects now (the database must answer).
    pub async fn readiness_probe(
        url: &str,
        timeout: Duration,
    ) -> Result<ReadinessProbe, StoreError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(timeout)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| o.create_if_missing(false));
        Ok(ReadinessProbe {
            db: Database::connect(options).await?,
            timeout,
        })
    }

    /// `sqlite` or `postgres`, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::Postgres => "postgres",
            _ => "other",
        }
    }

    /// A read-only transaction whose queries all see one snapshot, so a resource read in
    /// several queries (an application and its lines, parties, requests...) is never a mix of
    /// two versions.
    pub(crate) async fn begin_read(&self) -> Result<DatabaseTransaction, StoreError> {
        let txn = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                self.db
                    .begin_with_config(
                        Some(sea_orm::IsolationLevel::RepeatableRead),
                        Some(sea_orm::AccessMode::ReadOnly),
                    )
                    .await?
            }
            // In WAL mode a read transaction sees one snapshot until it ends.
            _ => self.db.begin().await?,
        };
        self.bound_to_deadline(&txn).await?;
        Ok(txn)
    }

    /// On PostgreSQL, shortens the transaction's statement timeout to the call's time left
    /// when that is shorter than the session's (one statement, only then).
    async fn bound_to_deadline(&self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        if txn.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let Some(left) = time_left() else {
            return Ok(());
        };
        if !self.statement_timeout.is_zero() && left >= self.statement_timeout {
            return Ok(());
        }
        self.statements.fetch_add(1, Ordering::Relaxed);
        // A little after the deadline: the call answers DEADLINE_EXCEEDED at the deadline, and
        // the database cancels what it abandoned just after.
        txn.execute_unprepared(&format!(
            "SET LOCAL statement_timeout = {}",
            (left + DEADLINE_GRACE)
                .as_millis()
                .clamp(1, i32::MAX as u128)
        ))
        .await?;
        Ok(())
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTxn<'_>, StoreError> {
        let gate = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let txn = match self.db.get_database_backend() {
            // Take SQLite's write lock up front: a deferred transaction that upgrades later
            // fails with SQLITE_BUSY whatever the timeout.
            DbBackend::Sqlite => {
                self.db
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await?
            }
            _ => self.db.begin().await?,
        };
        self.statements.fetch_add(1, Ordering::Relaxed); // BEGIN
        note_begun();
        self.bound_to_deadline(&txn).await?;
        Ok(WriteTxn {
            txn,
            _gate: gate,
            statements: self.statements.clone(),
            sequencer: self.sequencer.as_ref().map(|(_, wake)| wake.clone()),
            numbered: self.numbered.clone(),
        })
    }
}

impl Store {
    /// Connections of the pool: (open, idle).
    pub fn pool_status(&self) -> (u32, usize) {
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        }
    }
}

/// See [`Store::readiness_probe`].
pub struct ReadinessProbe {
    db: DatabaseConnection,
    timeout: Duration,
}

impl ReadinessProbe {
    /// Whether the database answered a ping within the probe's timeout (a hung database does
    /// not answer; a lost connection is replaced at the next check).
    pub async fn database_answers(&self) -> bool {
        matches!(
            tokio::time::timeout(self.timeout, self.db.ping()).await,
            Ok(Ok(()))
        )
    }
}
