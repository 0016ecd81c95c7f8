use sea_orm_migration::prelude::*;

use crate::m20261128_000003_create_applications::{ApplicationLines, Applications};
use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReviewColumns {
    Assignee,
    DueDate,
    ReviewPolicy,
    DeterminationJson,
}

#[derive(DeriveIden, Clone)]
pub enum InformationRequests {
    Table,
    Id,
    ApplicationId,
    Question,
    AskedBy,
    AskedTime,
    ResponseDueDate,
    Answer,
    AnswerDocumentsJson,
    AnsweredBy,
    AnsweredTime,
}

#[derive(DeriveIden, Clone)]
pub enum CaseNotes {
    Table,
    Id,
    ApplicationId,
    Author,
    Text,
    VisibleToApplicant,
    CreateTime,
}

#[derive(DeriveIden, Clone)]
pub enum Proposals {
    Table,
    Id,
    ApplicationId,
    Decision,
    Reason,
    GrantedQuantitiesJson,
    ConditionsJson,
    ValidityMonths,
    ValueTolerancePercent,
    Proposer,
    CreateTime,
    Outcome,
    ResolvedBy,
    ResolvedTime,
    ResolutionReason,
}

fn belongs_to_application(
    table: impl IntoIden + Clone,
    column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Applications::Table, Applications::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

async fn index_by_application(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + Clone,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .name(name)
                .table(table)
                .col(column)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        for column in [
            ColumnDef::new(ReviewColumns::Assignee)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(ReviewColumns::DueDate)
                .date()
                .null()
                .to_owned(),
            ColumnDef::new(ReviewColumns::ReviewPolicy)
                .string_len(32)
                .null()
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Applications::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(ApplicationLines::Table)
                    .add_column(
                        ColumnDef::new(ReviewColumns::DeterminationJson)
                            .text()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // The queue is ordered by due date.
        manager
            .create_index(
                Index::create()
                    .name("applications_by_due_date")
                    .table(Applications::Table)
                    .col(ReviewColumns::DueDate)
                    .col(Applications::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(InformationRequests::Table)
                    .col(
                        ColumnDef::new(InformationRequests::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(InformationRequests::ApplicationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(InformationRequests::Question)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(InformationRequests::AskedBy)
                            .text()
                            .not_null(),
                    )
                    .col(time_column(InformationRequests::AskedTime))
                    .col(
                        ColumnDef::new(InformationRequests::ResponseDueDate)
                            .date()
                            .not_null(),
                    )
                    .col(ColumnDef::new(InformationRequests::Answer).text().null())
                    .col(
                        ColumnDef::new(InformationRequests::AnswerDocumentsJson)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(InformationRequests::AnsweredBy)
                            .text()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(InformationRequests::AnsweredTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(&mut belongs_to_application(
                        InformationRequests::Table,
                        InformationRequests::ApplicationId,
                    ))
                    .to_owned(),
            )
            .await?;
        index_by_application(
            manager,
            "information_requests_by_application",
            InformationRequests::Table,
            InformationRequests::ApplicationId,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(CaseNotes::Table)
                    .col(
                        ColumnDef::new(CaseNotes::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CaseNotes::ApplicationId).uuid().not_null())
                    .col(ColumnDef::new(CaseNotes::Author).text().not_null())
                    .col(ColumnDef::new(CaseNotes::Text).text().not_null())
                    .col(
                        ColumnDef::new(CaseNotes::VisibleToApplicant)
                            .boolean()
                            .not_null(),
                    )
                    .col(time_column(CaseNotes::CreateTime))
                    .foreign_key(&mut belongs_to_application(
                        CaseNotes::Table,
                        CaseNotes::ApplicationId,
                    ))
                    .to_owned(),
            )
            .await?;
        index_by_application(
            manager,
            "case_notes_by_application",
            CaseNotes::Table,
            CaseNotes::ApplicationId,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Proposals::Table)
                    .col(
                        ColumnDef::new(Proposals::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Proposals::ApplicationId).uuid().not_null())
                    .col(
                        ColumnDef::new(Proposals::Decision)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Proposals::Reason).text().not_null())
                    .col(
                        ColumnDef::new(Proposals::GrantedQuantitiesJson)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Proposals::ConditionsJson).text().not_null())
                    .col(
                        ColumnDef::new(Proposals::ValidityMonths)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Proposals::ValueTolerancePercent)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Proposals::Proposer).text().not_null())
                    .col(time_column(Proposals::CreateTime))
                    .col(ColumnDef::new(Proposals::Outcome).string_len(16).not_null())
                    .col(ColumnDef::new(Proposals::ResolvedBy).text().null())
                    .col(
                        ColumnDef::new(Proposals::ResolvedTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Proposals::ResolutionReason).text().null())
                    .foreign_key(&mut belongs_to_application(
                        Proposals::Table,
                        Proposals::ApplicationId,
                    ))
                    .to_owned(),
            )
            .await?;
        index_by_application(
            manager,
            "proposals_by_application",
            Proposals::Table,
            Proposals::ApplicationId,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Proposals::Table.into_iden(),
            CaseNotes::Table.into_iden(),
            InformationRequests::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("applications_by_due_date")
                    .table(Applications::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApplicationLines::Table)
                    .drop_column(ReviewColumns::DeterminationJson)
                    .to_owned(),
            )
            .await?;
        for column in [
            ReviewColumns::ReviewPolicy,
            ReviewColumns::DueDate,
            ReviewColumns::Assignee,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Applications::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
