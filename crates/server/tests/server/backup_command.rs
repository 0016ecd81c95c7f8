//! `clearance backup` and `clearance verify` as an operator runs them.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

fn clearance(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .args(args)
        .current_dir(dir)
        .env("CLEARANCE_AUTH__DEV_KEY_DIR", dir.join("keys"))
        .output()
        .expect("clearance runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_backup_verifies_and_is_never_written_over_and_a_tampered_copy_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = clearance(
        dir.path(),
        &["--database-url", "sqlite://live.db", "migrate"],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = clearance(
        dir.path(),
        &["--database-url", "sqlite://live.db", "backup", "copy.db"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("verify"), "says how to check it: {stderr}");
    let (code, stdout, stderr) = clearance(
        dir.path(),
        &["--database-url", "sqlite://copy.db", "verify"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("intact"), "{stdout}");

    let (code, _, stderr) = clearance(
        dir.path(),
        &["--database-url", "sqlite://live.db", "backup", "copy.db"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("never overwrites"), "{stderr}");

    // The built-in rule sets' publication is on the history chain: rewrite one entry.
    let copy = format!("sqlite://{}", dir.path().join("copy.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let changed = runtime
        .block_on(clearance_store::execute_statement(
            &copy,
            "UPDATE history_entries SET actor = 'someone else' \
             WHERE rowid = (SELECT MIN(rowid) FROM history_entries)",
        ))
        .unwrap();
    assert_eq!(changed, 1, "the catalogue left history to tamper with");
    let (code, stdout, stderr) = clearance(
        dir.path(),
        &["--database-url", "sqlite://copy.db", "verify"],
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("MISMATCH"), "{stdout}");
    assert!(stderr.contains("history chain broken at entry"), "{stderr}");
}
