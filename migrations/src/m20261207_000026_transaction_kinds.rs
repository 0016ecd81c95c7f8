use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Applications {
    Table,
    TransactionKind,
}

/// How an application's goods move (export from the United States, reexport, export from
/// abroad, in-country transfer); everything before was an export.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(
                        ColumnDef::new(Applications::TransactionKind)
                            .string_len(32)
                            .not_null()
                            .default("EXPORT"),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::TransactionKind)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
