//! Reading and appending the hash-chained history.

use chrono::{DateTime, Utc};
use clearance_domain::history::HistoryEntry;
use sea_orm::sea_query::InsertStatement;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};

use crate::connection::Store;
use crate::entities::history_entry;
use crate::error::StoreError;

/// A committed change as the event stream delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Position in commit order; the stream's cursor.
    pub position: i64,
    pub event_type: String,
    pub resource: String,
    pub payload_json: String,
    pub create_time: DateTime<Utc>,
}

pub(crate) fn to_domain(row: history_entry::Model) -> HistoryEntry {
    HistoryEntry {
        resource: row.resource,
        sequence: row.sequence,
        action: row.action,
        actor: row.actor,
        create_time: row.create_time,
        from_state: row.from_state,
        to_state: row.to_state,
        reason: row.reason,
        request_id: row.request_id,
        payload_json: row.payload_json,
        payload_sha256: row.payload_sha256,
        previous_entry_sha256: row.previous_entry_sha256,
        entry_sha256: row.entry_sha256,
    }
}

/// The resource's latest history entry. Callers have already locked the resource (its
/// version-guarded update or row lock), so two appends to one chain cannot interleave; the
/// primary key on (resource, sequence) refuses a fork even if they did.
pub(crate) async fn latest_entry<C: ConnectionTrait>(
    conn: &C,
    resource: &str,
) -> Result<Option<HistoryEntry>, StoreError> {
    Ok(history_entry::Entity::find()
        .filter(history_entry::Column::Resource.eq(resource))
        .order_by_desc(history_entry::Column::Sequence)
        .limit(1)
        .one(conn)
        .await?
        .map(to_domain))
}

/// The insert of chained entries, each with its owning organisation, as one statement.
pub(crate) fn insert_history(entries: &[(String, HistoryEntry)]) -> InsertStatement {
    history_entry::Entity::insert_many(entries.iter().map(|(organisation_id, entry)| {
        history_entry::ActiveModel {
            resource: Set(entry.resource.clone()),
            sequence: Set(entry.sequence),
            organisation_id: Set(organisation_id.clone()),
            action: Set(entry.action.clone()),
            actor: Set(entry.actor.clone()),
            create_time: Set(entry.create_time),
            from_state: Set(entry.from_state.clone()),
            to_state: Set(entry.to_state.clone()),
            reason: Set(entry.reason.clone()),
            request_id: Set(entry.request_id.clone()),
            payload_json: Set(entry.payload_json.clone()),
            payload_sha256: Set(entry.payload_sha256.clone()),
            previous_entry_sha256: Set(entry.previous_entry_sha256.clone()),
            entry_sha256: Set(entry.entry_sha256.clone()),
        }
    }))
    .into_query()
}

impl Store {
    /// Every history entry of `resource`, in sequence order. `organisation` limits the read
    /// to that organisation's resources (exporters); `None` reads any (regulators).
    pub async fn history(
        &self,
        resource: &str,
        organisation: Option<&str>,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut query =
            history_entry::Entity::find().filter(history_entry::Column::Resource.eq(resource));
        if let Some(org) = organisation {
            query = query.filter(history_entry::Column::OrganisationId.eq(org));
        }
        let rows = query
            .order_by_asc(history_entry::Column::Sequence)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(to_domain).collect())
    }

    /// Up to `limit` entries of `resource` after sequence `after`, in order; `organisation`
    /// limits the read to that organisation's resources (exporters).
    pub async fn history_page(
        &self,
        resource: &str,
        organisation: Option<&str>,
        after: i64,
        limit: u64,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut query =
            history_entry::Entity::find().filter(history_entry::Column::Resource.eq(resource));
        if let Some(org) = organisation {
            query = query.filter(history_entry::Column::OrganisationId.eq(org));
        }
        let rows = query
            .filter(history_entry::Column::Sequence.gt(after))
            .order_by_asc(history_entry::Column::Sequence)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(to_domain).collect())
    }

    /// Up to `limit` outbox events after `after`, in commit (id) order; `organisation` limits
    /// them to that organisation's (exporters), `None` reads every event (regulators).
    /// [`StoreError::CursorExpired`] when events after `after` have been pruned.
    pub async fn events_after(
        &self,
        after: i64,
        organisation: Option<&str>,
        limit: u64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        use crate::entities::outbox_event;
        let mut query =
            outbox_event::Entity::find().filter(outbox_event::Column::Position.gt(after));
        if let Some(org) = organisation {
            query = query.filter(outbox_event::Column::OrganisationId.eq(org));
        }
        let rows = query
            .order_by_asc(outbox_event::Column::Position)
            .limit(limit)
            .all(&self.db)
            .await?;
        // Events after the cursor were pruned before it was read: refuse rather than skip them.
        // (With nothing after the cursor there is nothing to skip; an empty cursor starts at
        // the oldest event kept.)
        if after > 0 && !rows.is_empty() {
            let kept_after = self.events_pruned_through().await?;
            if kept_after > after {
                return Err(StoreError::CursorExpired { kept_after });
            }
        }
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(OutboxEvent {
                    position: r.position?,
                    event_type: r.event_type,
                    resource: r.resource,
                    payload_json: r.payload_json,
                    create_time: r.create_time,
                })
            })
            .collect())
    }

    /// The newest event's stream position (0 when there is none).
    pub async fn latest_event_position(&self) -> Result<i64, StoreError> {
        use crate::entities::outbox_event;
        let newest = outbox_event::Entity::find()
            .filter(outbox_event::Column::Position.is_not_null())
            .order_by_desc(outbox_event::Column::Position)
            .limit(1)
            .one(&self.db)
            .await?;
        Ok(newest.and_then(|e| e.position).unwrap_or(0))
    }

    /// How many outbox events exist for `resource` (for checks that a write published once).
    pub async fn outbox_count(&self, resource: &str) -> Result<u64, StoreError> {
        use crate::entities::outbox_event;
        use sea_orm::PaginatorTrait;
        Ok(outbox_event::Entity::find()
            .filter(outbox_event::Column::Resource.eq(resource))
            .count(&self.db)
            .await?)
    }
}
