use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Per-scope counters behind human references such as `CL-2025-000123`.
#[derive(DeriveIden)]
pub enum ReferenceCounters {
    Table,
    /// e.g. `application:2025`.
    Scope,
    LastValue,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReferenceCounters::Table)
                    .col(
                        ColumnDef::new(ReferenceCounters::Scope)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ReferenceCounters::LastValue)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReferenceCounters::Table).to_owned())
            .await
    }
}
