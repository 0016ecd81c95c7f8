use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A shipment that names no licence is matched to the holder's first covering licence in
/// expiry order by one indexed query: the end user's comparison key (written by the store at
/// issue; NULL on rows issued before, which the query treats as "maybe") and an index in the
/// order the query reads.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE licences ADD COLUMN end_user_key TEXT")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX licences_covering ON licences \
             (organisation_id, destination_country_code, state, valid_until, id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX licences_covering")
            .await?;
        db.execute_unprepared("ALTER TABLE licences DROP COLUMN end_user_key")
            .await?;
        Ok(())
    }
}
