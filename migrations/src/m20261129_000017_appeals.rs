use sea_orm_migration::prelude::*;

use crate::m20261128_000003_create_applications::Applications;
use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
pub enum Appeals {
    Table,
    Id,
    ApplicationId,
    DenialId,
    DeniedTime,
    Grounds,
    DocumentsJson,
    Appellant,
    FiledTime,
    DueDate,
    DecisionParticipantsJson,
    Outcome,
    DecidedBy,
    DecidedTime,
    DecisionReason,
}

/// Appeals against countersigned denials, each with its own clock.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Appeals::Table)
                    .col(ColumnDef::new(Appeals::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Appeals::ApplicationId).uuid().not_null())
                    // A denial is appealed at most once, however many calls race.
                    .col(
                        ColumnDef::new(Appeals::DenialId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(time_column(Appeals::DeniedTime))
                    .col(ColumnDef::new(Appeals::Grounds).text().not_null())
                    .col(ColumnDef::new(Appeals::DocumentsJson).text().not_null())
                    .col(ColumnDef::new(Appeals::Appellant).text().not_null())
                    .col(time_column(Appeals::FiledTime))
                    .col(ColumnDef::new(Appeals::DueDate).date().not_null())
                    .col(
                        ColumnDef::new(Appeals::DecisionParticipantsJson)
                            .text()
                            .not_null(),
                    )
                    // NULL while the appeal is open.
                    .col(ColumnDef::new(Appeals::Outcome).string_len(16).null())
                    .col(ColumnDef::new(Appeals::DecidedBy).text().null())
                    .col(
                        ColumnDef::new(Appeals::DecidedTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Appeals::DecisionReason).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Appeals::Table, Appeals::ApplicationId)
                            .to(Applications::Table, Applications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("appeals_by_application")
                    .table(Appeals::Table)
                    .col(Appeals::ApplicationId)
                    .col(Appeals::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Appeals::Table).to_owned())
            .await?;
        Ok(())
    }
}
