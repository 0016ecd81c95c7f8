use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyRecords {
    Table,
    Subject,
}

/// An exporter's request ids belong to its organisation (an ERP failing over to a second
/// service account retries under the same key); each record keeps the subject that sent it.
/// Records from before have none: their scope was the organisation and subject together.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyRecords::Table)
                    .add_column(ColumnDef::new(IdempotencyRecords::Subject).text().null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyRecords::Table)
                    .drop_column(IdempotencyRecords::Subject)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
