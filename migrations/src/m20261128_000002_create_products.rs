use sea_orm_migration::prelude::*;

use crate::m20261128_000001_create_organisations::Organisations;
use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Products {
    Table,
    Id,
    OrganisationId,
    DisplayName,
    PartNumber,
    Classification,
    Datacenter,
    TotalProcessingPerformance,
    DieAreaMm2,
    MemoryBandwidthGbps,
    IoBandwidthGbps,
    Version,
    CreateTime,
    UpdateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(ColumnDef::new(Products::Id).uuid().not_null().primary_key())
                    .col(
                        ColumnDef::new(Products::OrganisationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Products::DisplayName).text().not_null())
                    .col(ColumnDef::new(Products::PartNumber).text().not_null())
                    .col(
                        ColumnDef::new(Products::Classification)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Products::Datacenter).boolean().not_null())
                    .col(
                        ColumnDef::new(Products::TotalProcessingPerformance)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Products::DieAreaMm2)
                            .big_integer()
                            .not_null()
                            .check(Expr::col(Products::DieAreaMm2).gt(0)),
                    )
                    .col(
                        ColumnDef::new(Products::MemoryBandwidthGbps)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Products::IoBandwidthGbps)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Products::Version).big_integer().not_null())
                    .col(time_column(Products::CreateTime))
                    .col(time_column(Products::UpdateTime))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Products::Table, Products::OrganisationId)
                            .to(Organisations::Table, Organisations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Lists are keyset-paginated per organisation in id order.
        manager
            .create_index(
                Index::create()
                    .name("products_by_organisation")
                    .table(Products::Table)
                    .col(Products::OrganisationId)
                    .col(Products::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Products::Table).to_owned())
            .await
    }
}
