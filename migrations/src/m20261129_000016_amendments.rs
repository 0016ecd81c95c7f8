use sea_orm_migration::prelude::*;

use crate::m20261128_000003_create_applications::Applications;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AmendmentColumns {
    AmendsLicenceId,
    AmendmentReasons,
    AmendmentValidUntil,
}

#[derive(DeriveIden)]
enum Licences {
    Table,
    Revision,
}

/// Amendments: an application may ask to amend a licence (with reasons and a longer
/// validity), and a licence counts its revisions.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        for column in [
            ColumnDef::new(AmendmentColumns::AmendsLicenceId)
                .uuid()
                .null()
                .to_owned(),
            ColumnDef::new(AmendmentColumns::AmendmentReasons)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(AmendmentColumns::AmendmentValidUntil)
                .timestamp_with_time_zone()
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
        // A licence's pending amendment is looked up when another is requested.
        manager
            .create_index(
                Index::create()
                    .name("applications_by_amended_licence")
                    .table(Applications::Table)
                    .col(AmendmentColumns::AmendsLicenceId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Licences::Table)
                    .add_column(
                        ColumnDef::new(Licences::Revision)
                            .big_integer()
                            .not_null()
                            .default(1),
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
                    .table(Licences::Table)
                    .drop_column(Licences::Revision)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("applications_by_amended_licence")
                    .table(Applications::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            AmendmentColumns::AmendmentValidUntil,
            AmendmentColumns::AmendmentReasons,
            AmendmentColumns::AmendsLicenceId,
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
