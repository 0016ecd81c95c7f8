//! sea-orm entities: one row type per table. Never leave this crate.

pub mod appeal;
pub mod application;
pub mod application_document;
pub mod application_line;
pub mod application_party;
pub mod case_note;
pub mod history_entry;
pub mod idempotency_record;
pub mod information_request;
pub mod licence;
pub mod licence_line;
pub mod log_checkpoint;
pub mod log_leaf;
pub mod log_subtree;
pub mod organisation;
pub mod outbox_event;
pub mod product;
pub mod proposal;
pub mod referral;
pub mod rule_set;
pub mod screening_entry;
pub mod screening_flag;
pub mod screening_list;
pub mod shipment;
pub mod shipment_line;
pub mod stored_document;
