use sea_orm_migration::prelude::*;

use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Products {
    Table,
    UsAvailableSince,
}

#[derive(DeriveIden)]
enum Applications {
    Table,
    CertificationsJson,
}

#[derive(DeriveIden, Clone, Copy)]
enum Licences {
    Table,
    TransactionKind,
    TermsJson,
}

#[derive(DeriveIden, Clone, Copy)]
enum Shipments {
    Table,
    TransactionKind,
    TestReportJson,
}

#[derive(DeriveIden)]
enum UsShipmentReports {
    Table,
    Id,
    OrganisationId,
    ProductId,
    Units,
    ReportedBy,
    ReportTime,
}

#[derive(DeriveIden)]
enum AggregatePositions {
    Table,
    OrganisationId,
    ProductId,
    UsUnits,
    CappedUnits,
}

/// Rules with conditions (91 FR 1684): a product's US availability, an application's
/// certifications, a licence's transaction kind and terms, a shipment's kind and test report,
/// the US shipment figures holders report (every report kept), and per holder and product
/// the units shipped under capped licences beside the latest US figure: one row a shipment
/// and a report both lock, so the cap holds under races.
async fn add_kind_and_json(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + Copy + 'static,
    kind: impl IntoIden,
    json: impl IntoIden,
) -> Result<(), DbErr> {
    let mut kind = ColumnDef::new(kind);
    kind.string_len(32).not_null().default("EXPORT");
    let mut json = ColumnDef::new(json);
    json.text().null();
    for column in [kind, json] {
        manager
            .alter_table(Table::alter().table(table).add_column(column).to_owned())
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .add_column(
                        ColumnDef::new(Products::UsAvailableSince)
                            .string_len(10)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .add_column(
                        ColumnDef::new(Applications::CertificationsJson)
                            .text()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // A licence covers one transaction kind, and a shipment states its own; everything
        // before was an export.
        add_kind_and_json(
            manager,
            Licences::Table,
            Licences::TransactionKind,
            Licences::TermsJson,
        )
        .await?;
        add_kind_and_json(
            manager,
            Shipments::Table,
            Shipments::TransactionKind,
            Shipments::TestReportJson,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsShipmentReports::Table)
                    .col(
                        ColumnDef::new(UsShipmentReports::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(UsShipmentReports::OrganisationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UsShipmentReports::ProductId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UsShipmentReports::Units)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UsShipmentReports::ReportedBy)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(time_column(UsShipmentReports::ReportTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("us_shipment_reports_by_product")
                    .table(UsShipmentReports::Table)
                    .col(UsShipmentReports::OrganisationId)
                    .col(UsShipmentReports::ProductId)
                    .col(UsShipmentReports::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AggregatePositions::Table)
                    .col(
                        ColumnDef::new(AggregatePositions::OrganisationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AggregatePositions::ProductId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AggregatePositions::UsUnits)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(AggregatePositions::CappedUnits)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(AggregatePositions::OrganisationId)
                            .col(AggregatePositions::ProductId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AggregatePositions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(UsShipmentReports::Table).to_owned())
            .await?;
        for column in [Shipments::TransactionKind, Shipments::TestReportJson] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Shipments::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Licences::TransactionKind, Licences::TermsJson] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Licences::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Applications::Table)
                    .drop_column(Applications::CertificationsJson)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .drop_column(Products::UsAvailableSince)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
