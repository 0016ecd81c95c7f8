use sea_orm_migration::prelude::*;

use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
enum StoredDocuments {
    Table,
    OrganisationId,
    Sha256,
    SizeBytes,
    MediaType,
    DisplayName,
    UploadedBy,
    UploadTime,
}

/// Documents an organisation uploaded; the bytes live in the content-addressed file store
/// under their SHA-256, shared by organisations that uploaded the same bytes.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StoredDocuments::Table)
                    .col(
                        ColumnDef::new(StoredDocuments::OrganisationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StoredDocuments::Sha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StoredDocuments::SizeBytes)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StoredDocuments::MediaType)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StoredDocuments::DisplayName)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StoredDocuments::UploadedBy)
                            .text()
                            .not_null(),
                    )
                    .col(time_column(StoredDocuments::UploadTime))
                    .primary_key(
                        Index::create()
                            .col(StoredDocuments::OrganisationId)
                            .col(StoredDocuments::Sha256),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("stored_documents_by_sha256")
                    .table(StoredDocuments::Table)
                    .col(StoredDocuments::Sha256)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StoredDocuments::Table).to_owned())
            .await?;
        Ok(())
    }
}
