//! The `clearancectl` binary end to end, in one test binary (one link of the whole server,
//! not one per file): the lifecycle, exit codes, retries, TLS, documents and screening, and
//! audit proofs, each against in-process services on SQLite and PostgreSQL.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod audit;
mod documents_and_screening;
mod exit_codes;
mod lifecycle;
mod retries;
mod support;
mod tls;
