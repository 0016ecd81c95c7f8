//! Any number of `clearance migrate` processes may run at once on a fresh database: the first
//! applies the migrations under a database lock, the others wait and find nothing to do.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_concurrent_migrations_on_a_fresh_postgres_database_all_succeed() {
    let Some(database) = crate::support::FreshDatabase::create("clearance_migrate_test").await
    else {
        return;
    };
    let url = database.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_clearance"))
                .arg("migrate")
                .current_dir(dir.path())
                .env("CLEARANCE_DATABASE_URL", &url)
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start clearance migrate")
        })
        .collect();
    let mut failures = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
        }
    }
    database.drop_database().await;
    assert!(failures.is_empty(), "migrations failed: {failures:#?}");
}
