use sea_orm_migration::prelude::*;

use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Append-only, hash-chained per resource; (resource, sequence) makes a fork impossible.
#[derive(DeriveIden)]
pub enum HistoryEntries {
    Table,
    Resource,
    Sequence,
    /// Owner of the resource, for scoping; empty for regulator resources.
    OrganisationId,
    Action,
    Actor,
    CreateTime,
    FromState,
    ToState,
    Reason,
    RequestId,
    PayloadJson,
    PayloadSha256,
    PreviousEntrySha256,
    EntrySha256,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HistoryEntries::Table)
                    .col(
                        ColumnDef::new(HistoryEntries::Resource)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HistoryEntries::Sequence)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HistoryEntries::OrganisationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HistoryEntries::Action)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(HistoryEntries::Actor).text().not_null())
                    .col(time_column(HistoryEntries::CreateTime))
                    .col(
                        ColumnDef::new(HistoryEntries::FromState)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HistoryEntries::ToState)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(HistoryEntries::Reason).text().not_null())
                    .col(ColumnDef::new(HistoryEntries::RequestId).text().not_null())
                    .col(
                        ColumnDef::new(HistoryEntries::PayloadJson)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HistoryEntries::PayloadSha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HistoryEntries::PreviousEntrySha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(HistoryEntries::EntrySha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(HistoryEntries::Resource)
                            .col(HistoryEntries::Sequence),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(HistoryEntries::Table).to_owned())
            .await
    }
}
