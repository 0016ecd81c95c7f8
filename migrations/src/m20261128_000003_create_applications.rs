use sea_orm_migration::prelude::*;

use crate::m20261128_000001_create_organisations::Organisations;
use crate::m20261128_000002_create_products::Products;
use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Applications {
    Table,
    Id,
    OrganisationId,
    Reference,
    DestinationCountryCode,
    EndUseStatement,
    State,
    Version,
    CreateTime,
    UpdateTime,
    SubmitTime,
}

#[derive(DeriveIden)]
pub enum ApplicationLines {
    Table,
    ApplicationId,
    LineIndex,
    ProductId,
    Quantity,
    UnitValueMinorUnits,
    CurrencyCode,
}

#[derive(DeriveIden)]
pub enum ApplicationParties {
    Table,
    ApplicationId,
    PartyIndex,
    Role,
    DisplayName,
    Address,
    CountryCode,
    HeadquartersCountryCode,
}

#[derive(DeriveIden)]
pub enum ApplicationDocuments {
    Table,
    ApplicationId,
    DocumentIndex,
    DisplayName,
    MediaType,
    Sha256,
    SizeBytes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Applications::Table)
                    .col(
                        ColumnDef::new(Applications::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Applications::OrganisationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Applications::Reference)
                            .string_len(32)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Applications::DestinationCountryCode)
                            .string_len(2)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Applications::EndUseStatement)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Applications::State)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Applications::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .col(time_column(Applications::CreateTime))
                    .col(time_column(Applications::UpdateTime))
                    .col(
                        ColumnDef::new(Applications::SubmitTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Applications::Table, Applications::OrganisationId)
                            .to(Organisations::Table, Organisations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("applications_by_organisation")
                    .table(Applications::Table)
                    .col(Applications::OrganisationId)
                    .col(Applications::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApplicationLines::Table)
                    .col(
                        ColumnDef::new(ApplicationLines::ApplicationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationLines::LineIndex)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationLines::ProductId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationLines::Quantity)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(ApplicationLines::Quantity).gt(0)),
                    )
                    .col(
                        ColumnDef::new(ApplicationLines::UnitValueMinorUnits)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(ApplicationLines::UnitValueMinorUnits).gte(0)),
                    )
                    .col(
                        ColumnDef::new(ApplicationLines::CurrencyCode)
                            .string_len(3)
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ApplicationLines::ApplicationId)
                            .col(ApplicationLines::LineIndex),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApplicationLines::Table, ApplicationLines::ApplicationId)
                            .to(Applications::Table, Applications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApplicationLines::Table, ApplicationLines::ProductId)
                            .to(Products::Table, Products::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("application_lines_by_product")
                    .table(ApplicationLines::Table)
                    .col(ApplicationLines::ProductId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApplicationParties::Table)
                    .col(
                        ColumnDef::new(ApplicationParties::ApplicationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationParties::PartyIndex)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationParties::Role)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationParties::DisplayName)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationParties::Address)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationParties::CountryCode)
                            .string_len(2)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationParties::HeadquartersCountryCode)
                            .string_len(2)
                            .null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ApplicationParties::ApplicationId)
                            .col(ApplicationParties::PartyIndex),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApplicationParties::Table, ApplicationParties::ApplicationId)
                            .to(Applications::Table, Applications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApplicationDocuments::Table)
                    .col(
                        ColumnDef::new(ApplicationDocuments::ApplicationId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationDocuments::DocumentIndex)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationDocuments::DisplayName)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationDocuments::MediaType)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationDocuments::Sha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ApplicationDocuments::SizeBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ApplicationDocuments::ApplicationId)
                            .col(ApplicationDocuments::DocumentIndex),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                ApplicationDocuments::Table,
                                ApplicationDocuments::ApplicationId,
                            )
                            .to(Applications::Table, Applications::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApplicationDocuments::Table.into_iden(),
            ApplicationParties::Table.into_iden(),
            ApplicationLines::Table.into_iden(),
            Applications::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
