use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::time_column;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The audit log: every history entry as a leaf of one Merkle tree. A leaf is inserted with
/// its history entry, without an index; a sequencer gives committed leaves the next indexes
/// (gap-free, under a lock) and stores the perfect subtrees they complete, from which roots
/// and proofs are read. Signed checkpoints are kept here too, one per tree size.
#[derive(DeriveIden)]
enum LogLeaves {
    Table,
    Id,
    LogIndex,
    Resource,
    Sequence,
    EntrySha256,
}

#[derive(DeriveIden)]
enum LogSubtrees {
    Table,
    Level,
    Idx,
    Hash,
}

#[derive(DeriveIden)]
enum LogCheckpoints {
    Table,
    TreeSize,
    RootHash,
    Note,
    SignTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LogLeaves::Table)
                    .col(
                        ColumnDef::new(LogLeaves::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LogLeaves::LogIndex).big_integer().null())
                    .col(
                        ColumnDef::new(LogLeaves::Resource)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(LogLeaves::Sequence).big_integer().not_null())
                    .col(
                        ColumnDef::new(LogLeaves::EntrySha256)
                            .string_len(64)
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LogSubtrees::Table)
                    .col(ColumnDef::new(LogSubtrees::Level).integer().not_null())
                    .col(ColumnDef::new(LogSubtrees::Idx).big_integer().not_null())
                    .col(ColumnDef::new(LogSubtrees::Hash).string_len(64).not_null())
                    .primary_key(
                        Index::create()
                            .col(LogSubtrees::Level)
                            .col(LogSubtrees::Idx),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LogCheckpoints::Table)
                    .col(
                        ColumnDef::new(LogCheckpoints::TreeSize)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LogCheckpoints::RootHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(LogCheckpoints::Note).text().not_null())
                    .col(time_column(LogCheckpoints::SignTime))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for statement in [
            "CREATE UNIQUE INDEX log_leaves_by_index ON log_leaves (log_index)",
            "CREATE UNIQUE INDEX log_leaves_by_entry ON log_leaves (resource, sequence)",
            "CREATE INDEX log_leaves_unsequenced ON log_leaves (id) WHERE log_index IS NULL",
            // The history written before the log existed joins it in the order it was made.
            "INSERT INTO log_leaves (resource, sequence, entry_sha256) \
             SELECT resource, sequence, entry_sha256 FROM history_entries \
             ORDER BY create_time, resource, sequence",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["log_checkpoints", "log_subtrees", "log_leaves"] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
