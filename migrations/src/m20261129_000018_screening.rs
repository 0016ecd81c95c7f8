use sea_orm_migration::prelude::*;

use crate::m20261128_000003_create_applications::Applications;
use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
enum ScreeningLists {
    Table,
    Id,
    Source,
    Format,
    FileSha256,
    EntryCount,
    ImportTime,
    ImportedBy,
}

#[derive(DeriveIden, Clone)]
enum ScreeningEntries {
    Table,
    ListId,
    Position,
    EntryJson,
}

#[derive(DeriveIden, Clone)]
enum ScreeningFlags {
    Table,
    Id,
    ApplicationId,
    PartyIndex,
    PartyName,
    ListId,
    EntryId,
    HitJson,
    Status,
    RaisedTime,
    DecidedBy,
    DecidedTime,
    Reason,
}

/// Restricted-party lists (each import a version, its entries kept as read) and the hits
/// screening raised on cases' parties with what reviewers decided.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ScreeningLists::Table)
                    .col(
                        ColumnDef::new(ScreeningLists::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ScreeningLists::Source)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScreeningLists::Format)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScreeningLists::FileSha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScreeningLists::EntryCount)
                            .big_integer()
                            .not_null(),
                    )
                    .col(time_column(ScreeningLists::ImportTime))
                    .col(ColumnDef::new(ScreeningLists::ImportedBy).text().not_null())
                    .to_owned(),
            )
            .await?;
        // The same file imported twice is one version.
        manager
            .create_index(
                Index::create()
                    .name("screening_lists_by_source_and_file")
                    .table(ScreeningLists::Table)
                    .col(ScreeningLists::Source)
                    .col(ScreeningLists::FileSha256)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ScreeningEntries::Table)
                    .col(ColumnDef::new(ScreeningEntries::ListId).uuid().not_null())
                    .col(
                        ColumnDef::new(ScreeningEntries::Position)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScreeningEntries::EntryJson)
                            .text()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ScreeningEntries::ListId)
                            .col(ScreeningEntries::Position),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ScreeningEntries::Table, ScreeningEntries::ListId)
                            .to(ScreeningLists::Table, ScreeningLists::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ScreeningFlags::Table)
                    .col(
                        ColumnDef::new(ScreeningFlags::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ScreeningFlags::ApplicationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ScreeningFlags::PartyIndex)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ScreeningFlags::PartyName).text().not_null())
                    .col(ColumnDef::new(ScreeningFlags::ListId).uuid().not_null())
                    .col(ColumnDef::new(ScreeningFlags::EntryId).text().not_null())
                    .col(ColumnDef::new(ScreeningFlags::HitJson).text().not_null())
                    .col(
                        ColumnDef::new(ScreeningFlags::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(time_column(ScreeningFlags::RaisedTime))
                    .col(ColumnDef::new(ScreeningFlags::DecidedBy).text().null())
                    .col(
                        ColumnDef::new(ScreeningFlags::DecidedTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(ScreeningFlags::Reason).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ScreeningFlags::Table, ScreeningFlags::ApplicationId)
                            .to(Applications::Table, Applications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "screening_flags_by_application",
                vec![ScreeningFlags::ApplicationId, ScreeningFlags::Id],
            ),
            // A shipment's hit is allowed through by a clearance of the same entry.
            (
                "screening_flags_by_entry",
                vec![ScreeningFlags::EntryId, ScreeningFlags::Status],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(ScreeningFlags::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ScreeningFlags::Table.into_iden(),
            ScreeningEntries::Table.into_iden(),
            ScreeningLists::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
