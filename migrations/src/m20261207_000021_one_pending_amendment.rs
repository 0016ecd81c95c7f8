use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The index's name, which the store recognises in a unique violation.
const PENDING_AMENDMENT_INDEX: &str = "applications_one_pending_amendment";

/// One pending amendment per licence, kept by the database: a partial unique index over the
/// amended licence of every application that is not finally decided, so two requests racing on
/// PostgreSQL cannot both insert a draft.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let pending = "amends_licence_id IS NOT NULL \
            AND state NOT IN ('APPROVED', 'DENIED', 'RETURNED', 'WITHDRAWN')";
        // A database that already holds two pending amendments of one licence needs a person
        // to withdraw one; say which instead of failing on the index.
        let twice = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT amends_licence_id FROM applications WHERE {pending} \
                     GROUP BY amends_licence_id HAVING COUNT(*) > 1"
                ),
            ))
            .await?;
        if !twice.is_empty() {
            let licences: Vec<String> = twice
                .iter()
                .filter_map(|row| {
                    row.try_get_by_index::<sea_orm_migration::sea_orm::prelude::Uuid>(0)
                        .ok()
                })
                .map(|id| format!("licences/{id}"))
                .collect();
            return Err(DbErr::Migration(format!(
                "these licences have more than one pending amendment; withdraw all but one of \
                 each, then migrate again: {}",
                licences.join(", ")
            )));
        }
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX {PENDING_AMENDMENT_INDEX} ON applications (amends_licence_id) \
             WHERE {pending}"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX {PENDING_AMENDMENT_INDEX}"))
            .await?;
        Ok(())
    }
}
