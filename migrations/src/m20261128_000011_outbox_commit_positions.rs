use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Stream positions assigned at commit. An event is inserted without a position; the writing
/// transaction numbers its events as its last statement before COMMIT, under a short ordering
/// lock (PostgreSQL; SQLite has one writer), so positions become visible in commit order
/// without a lock held across the whole transaction. Existing events keep their id as position,
/// so cursors issued before stay valid. An exporter's stream reads
/// `organisation_id = ? AND position > ?` in position order; its index serves that.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in [
            "ALTER TABLE outbox_events ADD COLUMN position BIGINT NULL",
            "UPDATE outbox_events SET position = id",
            "CREATE UNIQUE INDEX outbox_events_by_position ON outbox_events (position)",
            "CREATE INDEX outbox_events_unpositioned ON outbox_events (id) WHERE position IS NULL",
            "CREATE INDEX outbox_events_by_organisation ON outbox_events (organisation_id, position)",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in [
            "DROP INDEX outbox_events_by_organisation",
            "DROP INDEX outbox_events_unpositioned",
            "DROP INDEX outbox_events_by_position",
            "ALTER TABLE outbox_events DROP COLUMN position",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
