use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ScreeningLists {
    Table,
    Source,
    ImportTime,
}

/// A source's list may return to an earlier content (an entry removed, then listed again):
/// that import is a new version in force, so the same file is one version only while it is
/// the source's latest. The unique (source, file) index gives way to a lookup of a source's
/// latest version.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("screening_lists_by_source_and_file")
                    .table(ScreeningLists::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("screening_lists_by_source_and_time")
                    .table(ScreeningLists::Table)
                    .col(ScreeningLists::Source)
                    .col(ScreeningLists::ImportTime)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("screening_lists_by_source_and_time")
                    .table(ScreeningLists::Table)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
