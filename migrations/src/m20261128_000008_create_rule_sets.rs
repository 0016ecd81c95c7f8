use sea_orm_migration::prelude::*;

use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Published rule-set versions; immutable once inserted.
#[derive(DeriveIden)]
pub enum RuleSets {
    Table,
    Id,
    Key,
    Version,
    EffectiveTime,
    /// The validated definition as canonical JSON.
    DefinitionJson,
    PublishTime,
    PublishedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RuleSets::Table)
                    .col(ColumnDef::new(RuleSets::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(RuleSets::Key).string_len(64).not_null())
                    .col(ColumnDef::new(RuleSets::Version).big_integer().not_null())
                    .col(time_column(RuleSets::EffectiveTime))
                    .col(ColumnDef::new(RuleSets::DefinitionJson).text().not_null())
                    .col(time_column(RuleSets::PublishTime))
                    .col(ColumnDef::new(RuleSets::PublishedBy).text().not_null())
                    .to_owned(),
            )
            .await?;
        // One row per version of a key; also refuses two concurrent publishes of one version.
        manager
            .create_index(
                Index::create()
                    .name("rule_sets_key_version")
                    .table(RuleSets::Table)
                    .col(RuleSets::Key)
                    .col(RuleSets::Version)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RuleSets::Table).to_owned())
            .await
    }
}
