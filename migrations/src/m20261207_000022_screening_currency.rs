use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Screening that keeps up with list imports. Each application records how many list versions
/// had been imported when its parties were last screened (`screened_through`; versions are
/// never removed, so the count only grows); a decision needs it to be current. The screening
/// sweep brings open cases up to date by an index on that column, and the cases behind
/// licences by a pass over the licences, whose completion is kept in `screening_marks`.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in [
            "ALTER TABLE applications ADD COLUMN screened_through BIGINT NOT NULL DEFAULT 0",
            "CREATE INDEX applications_by_screened_through ON applications (screened_through, id)",
            "CREATE TABLE screening_marks (name VARCHAR(64) PRIMARY KEY, through_count BIGINT NOT NULL)",
            "INSERT INTO screening_marks (name, through_count) VALUES ('licence_cases', 0)",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in [
            "DROP TABLE screening_marks",
            "DROP INDEX applications_by_screened_through",
            "ALTER TABLE applications DROP COLUMN screened_through",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
