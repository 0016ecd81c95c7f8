//! The shape of every write: idempotency check, the change, history, outbox, response record,
//! all in one transaction.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use clearance_domain::history::{Change, HistoryEntry};
use clearance_domain::ids::OrganisationId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryTrait,
};

use crate::batch::Batch;
use crate::connection::{Store, WriteTxn};
use crate::entities::{idempotency_record, organisation, outbox_event};
use crate::error::StoreError;
use crate::history::{insert_history, latest_entry};

/// Who is changing what, under which idempotency key, at what time.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// The token's subject.
    pub actor: String,
    /// The organisation that owns the resource being changed; `None` for the regulator's own
    /// resources (rule sets).
    pub organisation: Option<OrganisationId>,
    /// Idempotency keys are unique within a scope: one caller (organisation or regulator, and
    /// subject), hashed to a fixed length.
    pub idempotency_scope: String,
    pub request_id: String,
    /// The scope this caller's keys had before exporters' keys became the organisation's
    /// (organisation and subject), looked up too while records from then may remain.
    pub previous_scope: Option<String>,
    /// Full gRPC method name; the same key on another method is a reuse.
    pub method: &'static str,
    /// SHA-256 of the request's bytes; the same key with other bytes is a reuse.
    pub request_sha256: String,
    pub now: DateTime<Utc>,
}

impl Mutation {
    /// The exporter organisation a catalogue or application write acts for.
    pub(crate) fn exporter(&self) -> Result<&OrganisationId, StoreError> {
        self.organisation
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("an exporter write without an organisation".into()))
    }

    /// History and outbox rows carry the owner, or empty for regulator resources.
    fn owner(&self) -> &str {
        self.organisation.as_ref().map_or("", |o| o.as_str())
    }
}

/// What a write produced: the new value, or the stored response of an earlier identical call.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    Applied(T),
    Replayed(Vec<u8>),
}

/// Renders the response a write will return, so a retry can replay it byte for byte.
pub type Encoder<'a, T> = &'a (dyn Fn(&T) -> Vec<u8> + Send + Sync);

pub(crate) type TxnFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'c>>;

impl Store {
    /// Runs `work` in a write transaction unless `m.request_id` was seen before.
    ///
    /// The idempotency key is claimed first, inside the transaction: an identical request
    /// arriving meanwhile waits on that row until this one commits (then replays its response)
    /// or rolls back (then does the work itself). So any number of concurrent duplicates have
    /// one effect and one response, on both databases.
    pub(crate) async fn idempotent_write<T, W>(
        &self,
        m: &Mutation,
        encode: Encoder<'_, T>,
        work: W,
    ) -> Result<Outcome<T>, StoreError>
    where
        T: Send + 'static,
        W: for<'c> Fn(&'c DatabaseTransaction) -> TxnFuture<'c, T> + Send + Sync,
    {
        self.idempotent_batched_write(m, encode, |txn| {
            let done = work(txn);
            Box::pin(async move { Ok((done.await?, Batch::new())) })
        })
        .await
    }

    /// Like [`Store::idempotent_write`], for work that leaves its writes in a [`Batch`]: they
    /// go to the database together with the response record, in one round trip on PostgreSQL.
    pub(crate) async fn idempotent_batched_write<T, W>(
        &self,
        m: &Mutation,
        encode: Encoder<'_, T>,
        work: W,
    ) -> Result<Outcome<T>, StoreError>
    where
        T: Send,
        W: for<'c> Fn(&'c DatabaseTransaction) -> TxnFuture<'c, (T, Batch)> + Send + Sync,
    {
        let write = match self.claim(m).await? {
            Claim::Claimed(write) => write,
            Claim::Done(outcome) => return outcome.map(Outcome::Replayed),
        };
        let (value, batch) = work(&write.txn).await?;
        finish(write, m, encode(&value), batch).await?;
        Ok(Outcome::Applied(value))
    }

    /// Opens the write transaction and claims `m`'s idempotency key in it, or says what an
    /// earlier call with that key answered.
    async fn claim(&self, m: &Mutation) -> Result<Claim<'_>, StoreError> {
        crate::deadline::note_request_id(&m.request_id);
        let write = self.begin_write().await?;
        let claim = idempotency_record::ActiveModel {
            scope: Set(m.idempotency_scope.clone()),
            request_id: Set(m.request_id.clone()),
            method: Set(m.method.to_owned()),
            request_sha256: Set(m.request_sha256.clone()),
            // Filled in by `finish`, in the same transaction; nobody reads a claim uncommitted.
            response: Set(Vec::new()),
            create_time: Set(m.now),
            subject: Set(Some(m.actor.clone())),
        };
        let claimed = idempotency_record::Entity::insert(claim)
            .on_conflict(
                OnConflict::columns([
                    idempotency_record::Column::Scope,
                    idempotency_record::Column::RequestId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&write.txn)
            .await?;
        if claimed != 0 {
            // A retry of a call answered before exporters' keys became the organisation's.
            if let Some(previous) = &m.previous_scope
                && self.legacy_idempotency()
            {
                let earlier = stored_answer(
                    &write.txn,
                    previous,
                    &m.request_id,
                    m.method,
                    &m.request_sha256,
                )
                .await;
                if !matches!(earlier, Ok(None)) {
                    write.txn.rollback().await?;
                    return Ok(Claim::Done(
                        earlier.and_then(|found| found.ok_or(StoreError::RequestIdReused)),
                    ));
                }
            }
            return Ok(Claim::Claimed(write));
        }
        // Committed by an earlier (or concurrent, now finished) identical call.
        let replay = stored_answer(
            &write.txn,
            &m.idempotency_scope,
            &m.request_id,
            m.method,
            &m.request_sha256,
        )
        .await;
        write.txn.rollback().await?;
        Ok(Claim::Done(replay.and_then(|found| {
            found.ok_or_else(|| {
                StoreError::Conflict(
                    "a call with this request_id is being processed; retry it".into(),
                )
            })
        })))
    }

    /// The answer a committed call with this caller's `request_id` gave, if there is one:
    /// `None` when the key is unused, `RequestIdReused` when it was used for another request.
    /// Handlers ask this when a check outside the write refuses a call, so a retry of a call
    /// that succeeded gets its first answer even after time or data changed (replay first).
    pub async fn first_answer(
        &self,
        scope: &str,
        request_id: &str,
        method: &str,
        request_sha256: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let read = self.begin_read().await?;
        let found = stored_answer(&read, scope, request_id, method, request_sha256).await;
        read.commit().await?;
        found
    }
}

/// A committed idempotency record's response for exactly this request (a record is written
/// whole in its call's transaction, so a visible one is complete).
async fn stored_answer<C: sea_orm::ConnectionTrait>(
    conn: &C,
    scope: &str,
    request_id: &str,
    method: &str,
    request_sha256: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let found = idempotency_record::Entity::find_by_id((scope.to_owned(), request_id.to_owned()))
        .one(conn)
        .await?;
    match found {
        None => Ok(None),
        Some(r) if r.method == method && r.request_sha256 == request_sha256 => Ok(Some(r.response)),
        Some(_) => Err(StoreError::RequestIdReused),
    }
}

enum Claim<'a> {
    Claimed(WriteTxn<'a>),
    /// The stored response of the earlier call, or why there is none to replay.
    Done(Result<Vec<u8>, StoreError>),
}

/// Records the response with the batched writes, then commits.
async fn finish(
    write: WriteTxn<'_>,
    m: &Mutation,
    response: Vec<u8>,
    mut batch: Batch,
) -> Result<(), StoreError> {
    batch.update(
        idempotency_record::Entity::update_many()
            .col_expr(
                idempotency_record::Column::Response,
                sea_orm::sea_query::Expr::value(response),
            )
            .filter(idempotency_record::Column::Scope.eq(m.idempotency_scope.clone()))
            .filter(idempotency_record::Column::RequestId.eq(m.request_id.clone()))
            .into_query(),
    );
    batch.execute(&write.txn).await?;
    write.commit().await
}

/// Creates the organisation row on its first write.
pub(crate) async fn ensure_organisation(
    txn: &DatabaseTransaction,
    org: &OrganisationId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    organisation::Entity::insert(organisation::ActiveModel {
        id: Set(org.as_str().to_owned()),
        create_time: Set(now),
    })
    .on_conflict(
        OnConflict::column(organisation::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Appends the change to the resource's history and publishes it to the outbox.
pub(crate) async fn record_change(
    txn: &DatabaseTransaction,
    m: &Mutation,
    resource: &str,
    change: Change,
) -> Result<HistoryEntry, StoreError> {
    record(txn, m, resource, change, false).await
}

/// Like [`record_change`], for the first change of a resource created in this transaction:
/// its history starts here, so there is no latest entry to read.
pub(crate) async fn record_creation(
    txn: &DatabaseTransaction,
    m: &Mutation,
    resource: &str,
    change: Change,
) -> Result<HistoryEntry, StoreError> {
    record(txn, m, resource, change, true).await
}

async fn record(
    txn: &DatabaseTransaction,
    m: &Mutation,
    resource: &str,
    change: Change,
    new_resource: bool,
) -> Result<HistoryEntry, StoreError> {
    let mut entries = record_changes(
        txn,
        vec![PendingChange {
            mutation: m.clone(),
            resource: resource.to_owned(),
            change,
            new_resource,
        }],
    )
    .await?;
    entries
        .pop()
        .ok_or_else(|| StoreError::Corrupt("a recorded change vanished".into()))
}

/// A change to record, by whom, about which resource; `new_resource` when the resource was
/// created in this transaction (its history starts here).
pub(crate) struct PendingChange {
    pub(crate) mutation: Mutation,
    pub(crate) resource: String,
    pub(crate) change: Change,
    pub(crate) new_resource: bool,
}

/// Appends several changes to their resources' histories and publishes them to the outbox,
/// with one insert for all history entries and one for all events.
pub(crate) async fn record_changes(
    txn: &DatabaseTransaction,
    pending: Vec<PendingChange>,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut batch = Batch::new();
    let entries = stage_changes(txn, &mut batch, pending).await?;
    batch.execute(txn).await?;
    Ok(entries)
}

/// Chains each change onto its resource's history (several changes to one resource chain onto
/// each other) and leaves the history and outbox inserts in `batch`.
pub(crate) async fn stage_changes(
    txn: &DatabaseTransaction,
    batch: &mut Batch,
    pending: Vec<PendingChange>,
) -> Result<Vec<HistoryEntry>, StoreError> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let mut entries: Vec<(String, HistoryEntry)> = Vec::with_capacity(pending.len());
    for p in &pending {
        let earlier = entries
            .iter()
            .rev()
            .find(|(_, e)| e.resource == p.resource)
            .map(|(_, e)| e.clone());
        // A resource created in this very transaction has no history to chain onto (and if
        // it somehow had, the primary key would refuse sequence 1 twice).
        let previous = match earlier {
            Some(e) => Some(e),
            None if p.new_resource => None,
            None => latest_entry(txn, &p.resource).await?,
        };
        let entry = HistoryEntry::chain(
            &p.resource,
            previous.as_ref(),
            p.change.clone(),
            p.mutation.now,
        );
        entries.push((p.mutation.owner().to_owned(), entry));
    }
    batch.insert(insert_history(&entries));
    // Each entry joins the audit log in the same transaction; its index follows at commit.
    batch.insert(crate::audit_log::insert_leaves(&entries));
    // The events' stream positions are assigned when the transaction commits
    // (`WriteTxn::commit`), so commits, not inserts, decide the order readers see.
    batch.insert(
        outbox_event::Entity::insert_many(entries.iter().zip(&pending).map(
            |((owner, entry), p)| outbox_event::ActiveModel {
                organisation_id: Set(owner.clone()),
                event_type: Set(entry.action.clone()),
                resource: Set(p.resource.clone()),
                payload_json: Set(entry.payload_json.clone()),
                create_time: Set(p.mutation.now),
                ..Default::default()
            },
        ))
        .into_query(),
    );
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}

/// The JSON a history entry records of `value`. A value that cannot be serialised fails the
/// write rather than hashing `null` into the chain.
pub(crate) fn history_payload<T: serde::Serialize>(
    value: &T,
) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value)
        .map_err(|e| StoreError::Corrupt(format!("history payload cannot be serialised: {e}")))
}

/// A change made by `m`'s actor under `m`'s request id.
pub(crate) fn change_by(
    m: &Mutation,
    action: &'static str,
    from_state: &str,
    to_state: &str,
    payload: serde_json::Value,
) -> Change {
    Change {
        action,
        actor: m.actor.clone(),
        from_state: from_state.to_owned(),
        to_state: to_state.to_owned(),
        reason: String::new(),
        request_id: m.request_id.clone(),
        payload,
    }
}

#[cfg(test)]
mod tests {

    use clearance_domain::history::Change;
    use clearance_domain::ids::OrganisationId;

    use super::*;

    fn mutation(org: &str) -> Mutation {
        Mutation {
            actor: "tester".into(),
            organisation: Some(OrganisationId::parse(org).unwrap()),
            idempotency_scope: format!("org:{org}"),
            previous_scope: None,
            request_id: uuid::Uuid::now_v7().to_string(),
            method: "test",
            request_sha256: String::new(),
            now: chrono::Utc::now(),
        }
    }

    fn change(m: &Mutation) -> Change {
        change_by(m, "test.changed", "", "", serde_json::json!({}))
    }

    /// A fresh PostgreSQL database, or `None` (with a notice) when no server answers outside CI.
    async fn postgres() -> Option<(Store, String, String)> {
        let admin = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("clearance_store_test_{}", uuid::Uuid::now_v7().simple());
        if let Err(e) = crate::admin::create_postgres_database(&admin, &name).await {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL is required under CI=true: {e}"
            );
            eprintln!("NOTICE: skipping a PostgreSQL test: {e}");
            return None;
        }
        let url = format!(
            "{}/{name}",
            admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(server, _)| server)
        );
        let store = Store::connect(&url, 4).await.unwrap();
        store.migrate().await.unwrap();
        Some((store, admin, name))
    }

    /// A retry arriving after exporters' keys became the organisation's gets the answer its
    /// first attempt recorded under the organisation-and-subject scope, and nothing is done
    /// twice; another request under that key is a reuse.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_answered_under_its_previous_scope_is_replayed_not_redone() {
        use sea_orm::ConnectionTrait;
        let Some((store, admin, name)) = postgres().await else {
            return;
        };
        let encode = |v: &u32| v.to_be_bytes().to_vec();
        let mut before = mutation("acme");
        before.idempotency_scope = "org:acme\nsub:erp-1".into();
        let first = store
            .idempotent_write(&before, &encode, |_| Box::pin(async { Ok(7u32) }))
            .await
            .unwrap();
        assert_eq!(first, Outcome::Applied(7));
        store
            .db
            .execute_unprepared("UPDATE idempotency_records SET subject = NULL")
            .await
            .unwrap();
        store.note_legacy_idempotency().await.unwrap();
        let after = Mutation {
            actor: "erp-2".into(),
            idempotency_scope: "org:acme".into(),
            previous_scope: Some(before.idempotency_scope.clone()),
            ..before.clone()
        };
        let again = store
            .idempotent_write(&after, &encode, |_| Box::pin(async { Ok(8u32) }))
            .await
            .unwrap();
        assert_eq!(again, Outcome::Replayed(7u32.to_be_bytes().to_vec()));
        let other = Mutation {
            request_sha256: "another request".into(),
            ..after.clone()
        };
        assert!(matches!(
            store
                .idempotent_write(&other, &encode, |_| Box::pin(async { Ok(9u32) }))
                .await,
            Err(StoreError::RequestIdReused)
        ));
        drop(store);
        crate::admin::drop_postgres_database(&admin, &name)
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_become_visible_in_commit_order_and_none_is_passed() {
        let Some((store, admin, name)) = postgres().await else {
            return;
        };
        let first = mutation("acme");
        let a = store.begin_write().await.unwrap();
        ensure_organisation(&a.txn, first.organisation.as_ref().unwrap(), first.now)
            .await
            .unwrap();
        a.commit().await.unwrap();

        // A writes its event first and stays open.
        let a = store.begin_write().await.unwrap();
        record_change(&a.txn, &first, "products/a", change(&first))
            .await
            .unwrap();

        // B writes the next event and commits meanwhile: it is first in commit order.
        {
            let second = mutation("acme");
            let b = store.begin_write().await.unwrap();
            record_change(&b.txn, &second, "products/b", change(&second))
                .await
                .unwrap();
            b.commit().await.unwrap();
        }
        store.sequence_events().await.unwrap();
        let seen = store.events_after(0, None, 10).await.unwrap();
        let resources: Vec<&str> = seen.iter().map(|e| e.resource.as_str()).collect();
        assert_eq!(
            resources,
            ["products/b"],
            "only committed events are visible"
        );
        let cursor = seen[0].position;

        // A commits later: a reader resuming after B's position still receives it.
        a.commit().await.unwrap();
        store.sequence_events().await.unwrap();
        let later: Vec<String> = store
            .events_after(cursor, None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.resource)
            .collect();
        assert_eq!(later, ["products/a"]);
        crate::admin::drop_postgres_database(&admin, &name)
            .await
            .unwrap();
    }

    /// Many committers, and sequencers running at once as on several replicas: without the
    /// ordering lock two sequencers would see the same highest position and collide; with it,
    /// every event gets a distinct, gap-free position.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_committers_get_distinct_gap_free_positions() {
        let Some((store, admin, name)) = postgres().await else {
            return;
        };
        let setup = mutation("acme");
        let w = store.begin_write().await.unwrap();
        ensure_organisation(&w.txn, setup.organisation.as_ref().unwrap(), setup.now)
            .await
            .unwrap();
        w.commit().await.unwrap();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
        let mut writers = Vec::new();
        for i in 0..16 {
            let store = store.clone();
            let barrier = barrier.clone();
            writers.push(tokio::spawn(async move {
                barrier.wait().await;
                for j in 0..10 {
                    let m = mutation("acme");
                    let w = store.begin_write().await.unwrap();
                    record_change(&w.txn, &m, &format!("products/{i}-{j}"), change(&m))
                        .await
                        .unwrap();
                    w.commit().await.unwrap();
                }
            }));
        }
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut sequencers = Vec::new();
        for _ in 0..4 {
            let store = store.clone();
            let done = done.clone();
            sequencers.push(tokio::spawn(async move {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    store.sequence_events().await.unwrap();
                }
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in sequencers {
            s.await.unwrap();
        }
        store.sequence_events().await.unwrap();
        let positions: Vec<i64> = store
            .events_after(0, None, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.position)
            .collect();
        assert_eq!(positions, (1..=160).collect::<Vec<i64>>());
        crate::admin::drop_postgres_database(&admin, &name)
            .await
            .unwrap();
    }
}
