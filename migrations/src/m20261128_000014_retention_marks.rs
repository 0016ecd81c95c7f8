use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How far retention has pruned: outbox events at or below `through_position` are gone, so a
/// stream cursor before it is refused (OUT_OF_RANGE) instead of silently skipping events. The
/// mark only rises, in the same transaction as the deletion it records.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in [
            "CREATE TABLE retention_marks (name VARCHAR(64) PRIMARY KEY, through_position BIGINT NOT NULL)",
            "INSERT INTO retention_marks (name, through_position) VALUES ('outbox_events', 0)",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP TABLE retention_marks").await?;
        Ok(())
    }
}
