use sea_orm_migration::prelude::*;

use crate::m20261128_000005_create_outbox_events::OutboxEvents;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// An exporter's event stream reads `organisation_id = ? AND id > ?` in id order; without this
/// index every poll scans every organisation's events.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("outbox_events_by_organisation")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::OrganisationId)
                    .col(OutboxEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("outbox_events_by_organisation")
                    .table(OutboxEvents::Table)
                    .to_owned(),
            )
            .await
    }
}
