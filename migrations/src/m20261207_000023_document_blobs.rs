use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DocumentBlobs {
    Table,
    Sha256,
    ClaimTime,
}

#[derive(DeriveIden)]
enum DeletedUploads {
    Table,
    OrganisationId,
    Sha256,
    DeleteTime,
}

/// Document bytes are never deleted in a request. An upload claims its bytes' blob (by
/// SHA-256, with the time) before it files them; a sweeper deletes only bytes no upload holds
/// whose last claim is older than a grace period, re-checked under the blob's lock. A deleted
/// upload leaves a tombstone, so a retried deletion answers as the first did.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DocumentBlobs::Table)
                    .col(
                        ColumnDef::new(DocumentBlobs::Sha256)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(time_column(DocumentBlobs::ClaimTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("document_blobs_by_claim_time")
                    .table(DocumentBlobs::Table)
                    .col(DocumentBlobs::ClaimTime)
                    .to_owned(),
            )
            .await?;
        // Bytes stored before blobs were recorded.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO document_blobs (sha256, claim_time) \
                 SELECT sha256, MAX(upload_time) FROM stored_documents GROUP BY sha256",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeletedUploads::Table)
                    .col(
                        ColumnDef::new(DeletedUploads::OrganisationId)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeletedUploads::Sha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(time_column(DeletedUploads::DeleteTime))
                    .primary_key(
                        Index::create()
                            .col(DeletedUploads::OrganisationId)
                            .col(DeletedUploads::Sha256),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeletedUploads::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DocumentBlobs::Table).to_owned())
            .await?;
        Ok(())
    }
}
