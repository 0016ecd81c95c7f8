//! `clearance token` mints only what the server accepts: an exporter role needs its
//! organisation, a regulator role has none.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

fn token(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .arg("token")
        .args(args)
        .current_dir(dir.path())
        .env("CLEARANCE_AUTH__DEV_KEY_DIR", dir.path().join("keys"))
        .output()
        .expect("clearance runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_exporter_token_needs_an_organisation_and_a_regulator_token_has_none() {
    let (code, _, stderr) = token(&["--role", "applicant"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("add --org"), "{stderr}");

    let (code, _, stderr) = token(&["--role", "reviewer", "--org", "acme"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("only for exporter roles"), "{stderr}");

    let (code, _, stderr) = token(&["--role", "applicant", "--role", "reviewer", "--org", "acme"]);
    assert_ne!(code, 0, "mixed roles are refused: {stderr}");

    let (code, minted, stderr) = token(&["--role", "erp", "--org", "acme"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(minted.split('.').count(), 3, "a JWT: {minted}");
}
