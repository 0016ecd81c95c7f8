//! Any number of `clearance migrate` processes may run at once on a fresh database: the first
//! applies the migrations under a database lock, the others wait and find nothing to do.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_concurrent_migrations_on_a_fresh_postgres_database_all_succeed() {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("clearance_migrate_test_{}", uuid::Uuid::now_v7().simple());
    if let Err(e) = clearance_store::create_postgres_database(&admin, &name).await {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is required under CI=true: {e}"
        );
        eprintln!("NOTICE: skipping a PostgreSQL test: {e}");
        return;
    }
    let server = admin.rsplit_once('/').map_or(admin.as_str(), |(s, _)| s);
    let url = format!("{server}/{name}");
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
    clearance_store::drop_postgres_database(&admin, &name)
        .await
        .unwrap();
    assert!(failures.is_empty(), "migrations failed: {failures:#?}");
}
