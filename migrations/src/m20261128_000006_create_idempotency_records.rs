use sea_orm_migration::prelude::*;

use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The first response to each `request_id`, replayed byte for byte on retries.
#[derive(DeriveIden)]
pub enum IdempotencyRecords {
    Table,
    /// `org:{org}` for exporters, `regulator` for the regulator's staff.
    Scope,
    RequestId,
    Method,
    RequestSha256,
    Response,
    CreateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyRecords::Table)
                    .col(
                        ColumnDef::new(IdempotencyRecords::Scope)
                            .string_len(80)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::RequestId)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::Method)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::RequestSha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyRecords::Response)
                            .binary()
                            .not_null(),
                    )
                    .col(time_column(IdempotencyRecords::CreateTime))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyRecords::Scope)
                            .col(IdempotencyRecords::RequestId),
                    )
                    .to_owned(),
            )
            .await?;
        // Records older than the retention window are purged by creation time.
        manager
            .create_index(
                Index::create()
                    .name("idempotency_records_by_age")
                    .table(IdempotencyRecords::Table)
                    .col(IdempotencyRecords::CreateTime)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyRecords::Table).to_owned())
            .await
    }
}
