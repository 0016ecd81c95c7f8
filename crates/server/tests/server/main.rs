//! The `clearance` binary's commands end to end, in one test binary (one link of the whole
//! server, not one per file): backup, migrations racing, the console command, screening
//! imports, tokens, and two server processes on one database.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod backup_command;
mod concurrent_migrations;
mod console_command;
mod screening_command;
mod support;
mod token_command;
mod two_replicas;
