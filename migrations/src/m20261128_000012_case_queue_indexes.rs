use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The regulator's queue is read in (due date, id) order, usually narrowed by one of its
/// filters; one index per filter lets each narrowed page be a single index range.
const QUEUE_INDEXES: [(&str, &str); 4] = [
    ("applications_queue_by_state", "state"),
    ("applications_queue_by_assignee", "assignee"),
    (
        "applications_queue_by_destination",
        "destination_country_code",
    ),
    ("applications_queue_by_review_policy", "review_policy"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, column) in QUEUE_INDEXES {
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON applications ({column}, due_date, id)"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in QUEUE_INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        Ok(())
    }
}
