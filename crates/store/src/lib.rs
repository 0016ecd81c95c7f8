//! Clearance's persistence: the only crate that knows sea-orm.
//!
//! Architecture Invariant: every write is one transaction that persists the change, appends
//! its hash-chained history entry, publishes its outbox event and records the idempotent
//! response, or does none of these.

mod admin;
mod aggregate;
mod applications;
mod audit_log;
mod batch;
mod cases;
mod connection;
mod deadline;
mod documents;
mod entities;
mod error;
mod history;
mod integrity;
mod json_column;
mod licences;
mod products;
mod referrals;
mod retention;
mod rule_sets;
mod screening;
mod write;

pub use admin::{create_postgres_database, drop_postgres_database, execute_statement};
pub use applications::{ImpactLine, ImpactSubject};
pub use audit_log::{LoggedEntry, StoredCheckpoint};
pub use cases::{CaseTarget, due_sort_key};
pub use connection::{ReadinessProbe, Store};
pub use deadline::{CallWrites, SessionTimeouts, WriteFate, tracking_writes, within_deadline};
pub use documents::{DocumentBytes, DocumentFiles, ObjectStorage, PendingFile};
pub use error::StoreError;
pub use history::OutboxEvent;
pub use integrity::IntegrityReport;
pub use referrals::{ReferredCase, referral_sort_key};
pub use retention::Pruned;
pub use rule_sets::CATALOGUE_PUBLISHER;
pub use write::{Encoder, Mutation, Outcome};
