use sea_orm_migration::prelude::*;

use crate::m20261128_000003_create_applications::Applications;
use crate::m20261128_000009_create_review_records::Proposals;
use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
pub enum Referrals {
    Table,
    Id,
    ApplicationId,
    Version,
    Agency,
    LinesJson,
    ReferredBy,
    ReferredTime,
    DueDate,
    AdviceJson,
    Adviser,
    AdviceTime,
}

#[derive(DeriveIden)]
enum ProposalColumns {
    Justification,
}

/// Referrals of cases to advising agencies, and the justification a proposal gives when it
/// departs from an agency's refusal.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Referrals::Table)
                    .col(
                        ColumnDef::new(Referrals::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Referrals::ApplicationId).uuid().not_null())
                    .col(ColumnDef::new(Referrals::Version).big_integer().not_null())
                    .col(ColumnDef::new(Referrals::Agency).string_len(64).not_null())
                    .col(ColumnDef::new(Referrals::LinesJson).text().not_null())
                    .col(ColumnDef::new(Referrals::ReferredBy).text().not_null())
                    .col(time_column(Referrals::ReferredTime))
                    .col(ColumnDef::new(Referrals::DueDate).date().not_null())
                    // NULL while the advice is outstanding.
                    .col(ColumnDef::new(Referrals::AdviceJson).text().null())
                    .col(ColumnDef::new(Referrals::Adviser).text().null())
                    .col(
                        ColumnDef::new(Referrals::AdviceTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Referrals::Table, Referrals::ApplicationId)
                            .to(Applications::Table, Applications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A case's referrals, and an agency's worklist in due order.
        for (name, columns) in [
            (
                "referrals_by_application",
                vec![Referrals::ApplicationId, Referrals::Id],
            ),
            (
                "referrals_by_agency_and_due_date",
                vec![Referrals::Agency, Referrals::DueDate, Referrals::Id],
            ),
            (
                "referrals_by_due_date",
                vec![Referrals::DueDate, Referrals::Id],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Referrals::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Proposals::Table)
                    .add_column(
                        ColumnDef::new(ProposalColumns::Justification)
                            .text()
                            .not_null()
                            .default(""),
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
                    .table(Proposals::Table)
                    .drop_column(ProposalColumns::Justification)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Referrals::Table).to_owned())
            .await?;
        Ok(())
    }
}
