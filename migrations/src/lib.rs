//! Clearance's schema, one migration per file, each with `down`. The same migrations run on
//! SQLite (embedded default) and PostgreSQL.

use sea_orm_migration::prelude::*;

mod m20261128_000001_create_organisations;
mod m20261128_000002_create_products;
mod m20261128_000003_create_applications;
mod m20261128_000004_create_history_entries;
mod m20261128_000005_create_outbox_events;
mod m20261128_000006_create_idempotency_records;
mod m20261128_000007_create_reference_counters;
mod m20261128_000008_create_rule_sets;
mod m20261128_000009_create_review_records;
mod m20261128_000010_create_licences_and_shipments;
mod m20261128_000011_outbox_commit_positions;
mod m20261128_000012_case_queue_indexes;
mod m20261128_000013_licence_cover_lookup;
mod m20261128_000014_retention_marks;
mod m20261129_000015_referrals;
mod m20261129_000016_amendments;
mod m20261129_000017_appeals;
mod m20261129_000018_screening;
mod m20261129_000019_stored_documents;
mod m20261129_000020_audit_log;
mod m20261207_000021_one_pending_amendment;
mod m20261207_000022_screening_currency;
mod m20261207_000023_document_blobs;
mod m20261207_000024_screening_list_reverts;
mod m20261207_000025_idempotency_subject;
mod m20261207_000026_transaction_kinds;
mod m20261208_000027_rule_conditions;

pub use sea_orm_migration::MigratorTrait;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_organisations::Migration),
            Box::new(m20261128_000002_create_products::Migration),
            Box::new(m20261128_000003_create_applications::Migration),
            Box::new(m20261128_000004_create_history_entries::Migration),
            Box::new(m20261128_000005_create_outbox_events::Migration),
            Box::new(m20261128_000006_create_idempotency_records::Migration),
            Box::new(m20261128_000007_create_reference_counters::Migration),
            Box::new(m20261128_000008_create_rule_sets::Migration),
            Box::new(m20261128_000009_create_review_records::Migration),
            Box::new(m20261128_000010_create_licences_and_shipments::Migration),
            Box::new(m20261128_000011_outbox_commit_positions::Migration),
            Box::new(m20261128_000012_case_queue_indexes::Migration),
            Box::new(m20261128_000013_licence_cover_lookup::Migration),
            Box::new(m20261128_000014_retention_marks::Migration),
            Box::new(m20261129_000015_referrals::Migration),
            Box::new(m20261129_000016_amendments::Migration),
            Box::new(m20261129_000017_appeals::Migration),
            Box::new(m20261129_000018_screening::Migration),
            Box::new(m20261129_000019_stored_documents::Migration),
            Box::new(m20261129_000020_audit_log::Migration),
            Box::new(m20261207_000021_one_pending_amendment::Migration),
            Box::new(m20261207_000022_screening_currency::Migration),
            Box::new(m20261207_000023_document_blobs::Migration),
            Box::new(m20261207_000024_screening_list_reverts::Migration),
            Box::new(m20261207_000025_idempotency_subject::Migration),
            Box::new(m20261207_000026_transaction_kinds::Migration),
            Box::new(m20261208_000027_rule_conditions::Migration),
        ]
    }
}

/// Timestamp column in UTC.
pub(crate) fn time_column(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}
