//! End-to-end tests: real gRPC clients against both services, each on SQLite and PostgreSQL.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod access;
mod amendment;
mod appeal;
mod applications;
mod architecture;
mod audit;
pub mod conditions;
mod console;
mod demo;
mod documents;
pub mod durability;
pub mod events;
mod failover;
mod fixtures;
mod hostile;
mod idempotency;
mod identity;
pub mod ledger;
mod multi_actor;
mod operations;
mod pagination;
mod policy;
mod products;
mod referral;
mod review;
mod screening;
mod serving;
mod trust;
