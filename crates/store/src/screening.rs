//! Restricted-party lists: each import a version kept whole, the versions in force, and the
//! clearances that let a shipment's known false positive through.

use clearance_domain::ids::{Collection, OrganisationId};
use clearance_domain::screening::{
    FlagStatus, ListFormat, ListVersion, ListedParty, PartyDecision, in_force,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::json;
use uuid::Uuid;

use crate::connection::Store;
use crate::entities::{application, screening_entry, screening_flag, screening_list};
use crate::error::StoreError;
use crate::write::{Encoder, Mutation, Outcome, change_by, record_creation};

/// Entries inserted per statement.
const CHUNK: usize = 500;

fn version_from(row: screening_list::Model) -> ListVersion {
    ListVersion {
        id: row.id,
        source: row.source,
        format: row.format,
        file_sha256: row.file_sha256,
        entry_count: row.entry_count,
        import_time: row.import_time,
        imported_by: row.imported_by,
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("screening list: {e}"))
}

async fn insert_version(
    txn: &DatabaseTransaction,
    m: &Mutation,
    version: &ListVersion,
    parties: &[ListedParty],
) -> Result<(), StoreError> {
    screening_list::Entity::insert(screening_list::ActiveModel {
        id: Set(version.id),
        source: Set(version.source.clone()),
        format: Set(version.format.clone()),
        file_sha256: Set(version.file_sha256.clone()),
        entry_count: Set(version.entry_count),
        import_time: Set(version.import_time),
        imported_by: Set(version.imported_by.clone()),
    })
    .exec_without_returning(txn)
    .await?;
    for (chunk_no, chunk) in parties.chunks(CHUNK).enumerate() {
        let rows = chunk
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let position = i32::try_from(chunk_no * CHUNK + i).map_err(corrupt)?;
                Ok(screening_entry::ActiveModel {
                    list_id: Set(version.id),
                    position: Set(position),
                    entry_json: Set(serde_json::to_string(p).map_err(corrupt)?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        screening_entry::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    let regulator = Mutation {
        organisation: None,
        ..m.clone()
    };
    let change = change_by(
        &regulator,
        "screening_list.imported",
        "",
        "IN_FORCE",
        json!({ "list": version }),
    );
    record_creation(
        txn,
        &regulator,
        &Collection::ScreeningLists.name_of(version.id),
        change,
    )
    .await?;
    Ok(())
}

/// How many list versions were ever imported (versions are never removed), as `conn` sees it.
pub(crate) async fn imported_list_count<C: sea_orm::ConnectionTrait>(
    conn: &C,
) -> Result<i64, StoreError> {
    use sea_orm::PaginatorTrait;
    let count = screening_list::Entity::find().count(conn).await?;
    i64::try_from(count).map_err(corrupt)
}

/// The mark of the pass over the cases behind licences.
const LICENCE_CASES_MARK: &str = "licence_cases";

impl Store {
    /// Up to `limit` open cases (submitted and not finally decided) after `after`, in id order,
    /// whose parties were screened against fewer than `through` list versions.
    pub async fn open_cases_behind_screening(
        &self,
        through: i64,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<clearance_domain::workflow::Case>, StoreError> {
        use sea_orm::QuerySelect;
        let mut query = application::Entity::find()
            .filter(application::Column::ScreenedThrough.lt(through))
            .filter(
                application::Column::State
                    .is_in(crate::cases::OPEN_STATES.iter().map(|s| s.as_str())),
            );
        if let Some(after) = after {
            query = query.filter(application::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(application::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        crate::cases::load_cases(&self.db, rows).await
    }

    /// Records that these cases' parties were screened against `through` list versions and
    /// nothing new was found (no history entry: the sweep's log and marks tell it). Never
    /// lowers a case's mark.
    pub async fn mark_screened(&self, ids: &[Uuid], through: i64) -> Result<(), StoreError> {
        use sea_orm::prelude::Expr;
        if ids.is_empty() {
            return Ok(());
        }
        let write = self.begin_write().await?;
        application::Entity::update_many()
            .col_expr(application::Column::ScreenedThrough, Expr::value(through))
            .filter(application::Column::Id.is_in(ids.iter().copied()))
            .filter(application::Column::ScreenedThrough.lt(through))
            .exec(&write.txn)
            .await?;
        write.commit().await
    }

    /// How many list versions the last complete pass over the cases behind licences screened
    /// against.
    pub async fn licence_cases_screened_through(&self) -> Result<i64, StoreError> {
        use sea_orm::{ConnectionTrait, Statement};
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    sea_orm::DbBackend::Postgres => {
                        "SELECT through_count FROM screening_marks WHERE name = $1"
                    }
                    _ => "SELECT through_count FROM screening_marks WHERE name = ?",
                },
                [LICENCE_CASES_MARK.into()],
            ))
            .await?;
        Ok(match row {
            Some(row) => row.try_get_by_index::<i64>(0)?,
            None => 0,
        })
    }

    /// Records a complete pass over the cases behind licences (the mark only rises).
    pub async fn mark_licence_cases_screened(&self, through: i64) -> Result<(), StoreError> {
        use sea_orm::{ConnectionTrait, Statement};
        let write = self.begin_write().await?;
        let backend = write.txn.get_database_backend();
        write
            .txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    sea_orm::DbBackend::Postgres => {
                        "UPDATE screening_marks SET through_count = $1 WHERE name = $2 AND through_count < $1"
                    }
                    _ => {
                        "UPDATE screening_marks SET through_count = ?1 WHERE name = ?2 AND through_count < ?1"
                    }
                },
                [through.into(), LICENCE_CASES_MARK.into()],
            ))
            .await?;
        write.commit().await
    }

    /// Imports a list version whole, in one transaction: a file that fails leaves the versions
    /// in force as they were. The same file as the source's latest version is that version;
    /// an earlier file of the source again (a listing reverted) is a new version in force.
    pub async fn import_screening_list(
        &self,
        m: &Mutation,
        source: &str,
        format: ListFormat,
        file_sha256: &str,
        parties: &[ListedParty],
        encode: Encoder<'_, ListVersion>,
    ) -> Result<Outcome<ListVersion>, StoreError> {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let source = source.to_owned();
            let file_sha256 = file_sha256.to_owned();
            let parties = parties.to_vec();
            Box::pin(async move {
                // The same file as the source's latest version is that version; a file the
                // source had before (a listing reverted) is a new version in force.
                let latest = screening_list::Entity::find()
                    .filter(screening_list::Column::Source.eq(source.as_str()))
                    .order_by_desc(screening_list::Column::ImportTime)
                    .order_by_desc(screening_list::Column::Id)
                    .one(txn)
                    .await?;
                if let Some(row) = latest
                    && row.file_sha256 == file_sha256
                {
                    return Ok(version_from(row));
                }
                let version = ListVersion {
                    id: Uuid::now_v7(),
                    source,
                    format: format.as_str().to_owned(),
                    file_sha256,
                    entry_count: i64::try_from(parties.len()).map_err(corrupt)?,
                    import_time: m.now,
                    imported_by: m.actor.clone(),
                };
                insert_version(txn, &m, &version, &parties).await?;
                Ok(version)
            })
        })
        .await
    }

    /// How many versions were ever imported (versions are never removed).
    pub async fn imported_screening_lists(&self) -> Result<i64, StoreError> {
        imported_list_count(&self.db).await
    }

    /// Every imported version, newest first.
    pub async fn screening_lists(&self) -> Result<Vec<ListVersion>, StoreError> {
        Ok(screening_list::Entity::find()
            .order_by_desc(screening_list::Column::ImportTime)
            .order_by_desc(screening_list::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(version_from)
            .collect())
    }

    /// The versions in force: the latest import of each source.
    pub async fn screening_lists_in_force(&self) -> Result<Vec<ListVersion>, StoreError> {
        Ok(in_force(self.screening_lists().await?))
    }

    /// The entries of the given versions, each with its version.
    pub async fn screening_entries(
        &self,
        list_ids: &[Uuid],
    ) -> Result<Vec<(Uuid, ListedParty)>, StoreError> {
        if list_ids.is_empty() {
            return Ok(Vec::new());
        }
        screening_entry::Entity::find()
            .filter(screening_entry::Column::ListId.is_in(list_ids.iter().copied()))
            .order_by_asc(screening_entry::Column::ListId)
            .order_by_asc(screening_entry::Column::Position)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| {
                let party: ListedParty = serde_json::from_str(&row.entry_json).map_err(corrupt)?;
                Ok((row.list_id, party))
            })
            .collect()
    }

    /// What reviewers decided on the hits on `entry_ids` for `org`'s cases: clearances (known
    /// false positives a shipment may go to) and confirmations.
    pub async fn screening_decisions(
        &self,
        org: &OrganisationId,
        entry_ids: &[String],
    ) -> Result<Vec<PartyDecision>, StoreError> {
        if entry_ids.is_empty() {
            return Ok(Vec::new());
        }
        let flags = screening_flag::Entity::find()
            .filter(screening_flag::Column::EntryId.is_in(entry_ids.iter().cloned()))
            .filter(screening_flag::Column::Status.ne(FlagStatus::Open.as_str()))
            .all(&self.db)
            .await?;
        let applications: Vec<Uuid> = flags.iter().map(|f| f.application_id).collect();
        let own: std::collections::HashSet<Uuid> = application::Entity::find()
            .filter(application::Column::Id.is_in(applications))
            .filter(application::Column::OrganisationId.eq(org.as_str()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect();
        flags
            .into_iter()
            .filter(|f| own.contains(&f.application_id))
            .map(|f| {
                let status = FlagStatus::parse(&f.status).ok_or_else(|| corrupt(&f.status))?;
                Ok((f.entry_id, f.party_name, status))
            })
            .collect()
    }
}
