use sea_orm_migration::prelude::*;

use crate::m20261128_000001_create_organisations::Organisations;
use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
pub enum Licences {
    Table,
    Id,
    Number,
    OrganisationId,
    ApplicationId,
    DestinationCountryCode,
    PartiesJson,
    ConditionsJson,
    ValidFrom,
    ValidUntil,
    ValueTolerancePercent,
    State,
    Version,
    CreateTime,
    UpdateTime,
}

#[derive(DeriveIden, Clone)]
pub enum LicenceLines {
    Table,
    LicenceId,
    LineIndex,
    ProductId,
    GrantedQuantity,
    GrantedValueMinorUnits,
    CurrencyCode,
    RemainingQuantity,
    RemainingValueMinorUnits,
    ValueToleranceMinorUnits,
}

#[derive(DeriveIden, Clone)]
pub enum Shipments {
    Table,
    Id,
    OrganisationId,
    LicenceId,
    State,
    NoLicenceRequired,
    DeterminationsJson,
    DestinationCountryCode,
    EndUserJson,
    ErpReference,
    ShipmentTime,
    CancelTime,
    CancelReason,
    CreateTime,
}

#[derive(DeriveIden, Clone)]
pub enum ShipmentLines {
    Table,
    ShipmentId,
    LineIndex,
    ProductId,
    LicenceLineIndex,
    Quantity,
    ValueMinorUnits,
    CurrencyCode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Licences::Table)
                    .col(ColumnDef::new(Licences::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Licences::Number)
                            .string_len(32)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Licences::OrganisationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Licences::ApplicationId)
                            .uuid()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Licences::DestinationCountryCode)
                            .string_len(2)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Licences::PartiesJson).text().not_null())
                    .col(ColumnDef::new(Licences::ConditionsJson).text().not_null())
                    .col(time_column(Licences::ValidFrom))
                    .col(time_column(Licences::ValidUntil))
                    .col(
                        ColumnDef::new(Licences::ValueTolerancePercent)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Licences::State).string_len(16).not_null())
                    .col(ColumnDef::new(Licences::Version).big_integer().not_null())
                    .col(time_column(Licences::CreateTime))
                    .col(time_column(Licences::UpdateTime))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Licences::Table, Licences::OrganisationId)
                            .to(Organisations::Table, Organisations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("licences_by_organisation")
                    .table(Licences::Table)
                    .col(Licences::OrganisationId)
                    .col(Licences::Id)
                    .to_owned(),
            )
            .await?;
        // Expiry is due-time work: the sweep looks up licences by state and end of validity.
        manager
            .create_index(
                Index::create()
                    .name("licences_by_expiry")
                    .table(Licences::Table)
                    .col(Licences::State)
                    .col(Licences::ValidUntil)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LicenceLines::Table)
                    .col(ColumnDef::new(LicenceLines::LicenceId).uuid().not_null())
                    .col(ColumnDef::new(LicenceLines::LineIndex).integer().not_null())
                    .col(ColumnDef::new(LicenceLines::ProductId).uuid().not_null())
                    .col(
                        ColumnDef::new(LicenceLines::GrantedQuantity)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LicenceLines::GrantedValueMinorUnits)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LicenceLines::CurrencyCode)
                            .string_len(3)
                            .not_null(),
                    )
                    // The ledger's last line of defence: no over-shipment, whatever the code does.
                    .col(
                        ColumnDef::new(LicenceLines::RemainingQuantity)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(LicenceLines::RemainingQuantity).gte(0)),
                    )
                    .col(
                        ColumnDef::new(LicenceLines::RemainingValueMinorUnits)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LicenceLines::ValueToleranceMinorUnits)
                            .big_integer()
                            .not_null(),
                    )
                    .check(
                        Expr::col(LicenceLines::RemainingValueMinorUnits)
                            .add(Expr::col(LicenceLines::ValueToleranceMinorUnits))
                            .gte(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(LicenceLines::LicenceId)
                            .col(LicenceLines::LineIndex),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(LicenceLines::Table, LicenceLines::LicenceId)
                            .to(Licences::Table, Licences::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Shipments::Table)
                    .col(
                        ColumnDef::new(Shipments::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Shipments::OrganisationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Shipments::LicenceId).uuid().null())
                    .col(ColumnDef::new(Shipments::State).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Shipments::NoLicenceRequired)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Shipments::DeterminationsJson)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Shipments::DestinationCountryCode)
                            .string_len(2)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Shipments::EndUserJson).text().not_null())
                    .col(ColumnDef::new(Shipments::ErpReference).text().not_null())
                    .col(time_column(Shipments::ShipmentTime))
                    .col(
                        ColumnDef::new(Shipments::CancelTime)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Shipments::CancelReason).text().null())
                    .col(time_column(Shipments::CreateTime))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Shipments::Table, Shipments::LicenceId)
                            .to(Licences::Table, Licences::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("shipments_by_organisation")
                    .table(Shipments::Table)
                    .col(Shipments::OrganisationId)
                    .col(Shipments::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("shipments_by_licence")
                    .table(Shipments::Table)
                    .col(Shipments::LicenceId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ShipmentLines::Table)
                    .col(ColumnDef::new(ShipmentLines::ShipmentId).uuid().not_null())
                    .col(
                        ColumnDef::new(ShipmentLines::LineIndex)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(ShipmentLines::ProductId).uuid().not_null())
                    .col(
                        ColumnDef::new(ShipmentLines::LicenceLineIndex)
                            .integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ShipmentLines::Quantity)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(ShipmentLines::Quantity).gt(0)),
                    )
                    .col(
                        ColumnDef::new(ShipmentLines::ValueMinorUnits)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ShipmentLines::CurrencyCode)
                            .string_len(3)
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(ShipmentLines::ShipmentId)
                            .col(ShipmentLines::LineIndex),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ShipmentLines::Table, ShipmentLines::ShipmentId)
                            .to(Shipments::Table, Shipments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ShipmentLines::Table.into_iden(),
            Shipments::Table.into_iden(),
            LicenceLines::Table.into_iden(),
            Licences::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
