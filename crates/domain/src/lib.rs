//! Clearance's domain model: every business rule, once, with no I/O.
//!
//! Architecture Invariant: this crate depends on no tonic, prost, sea-orm, tokio or sqlx.
//! Functions take the current time as an argument; callers own the clock.

pub mod access;
pub mod amendment;
pub mod appeal;
pub mod application;
/// The audit log's proofs and checkpoints live in the contract, which clients share.
pub use clearance_contract::audit;
pub mod calendar;
pub mod codes;
pub mod documents;
pub mod error;
pub mod etag;
pub mod events;
pub mod filter;
pub mod history;
pub mod ids;
pub mod ledger;
pub mod paging;
pub mod policy;
pub mod product;
pub mod referral;
pub mod screening;
pub mod validation;
pub mod workflow;

pub use error::DomainError;
pub use validation::{FieldViolation, Violations};
