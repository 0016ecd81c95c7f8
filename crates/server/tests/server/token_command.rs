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

    // An adviser acts for its agency, and for nothing else.
    let (code, _, stderr) = token(&["--role", "adviser"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("add --org AGENCY"), "{stderr}");
    let (code, _, stderr) = token(&[
        "--role", "adviser", "--role", "reviewer", "--org", "defense",
    ]);
    assert_ne!(code, 0, "an adviser is nothing else: {stderr}");
    let (code, minted, stderr) = token(&["--role", "adviser", "--org", "defense"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(minted.split('.').count(), 3, "a JWT: {minted}");
}

#[test]
fn the_server_refuses_development_mode_on_every_address() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .args(["serve", "--application-listen", "0.0.0.0:0"])
        .current_dir(dir.path())
        .env("CLEARANCE_AUTH__DEV_KEY_DIR", dir.path().join("keys"))
        .env("CLEARANCE_DATABASE_URL", "sqlite://never-created.db")
        .output()
        .expect("clearance runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 in development mode"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("never-created.db").exists(),
        "refused before touching the database"
    );
}

#[test]
fn keygen_makes_one_key_pair_and_prints_the_public_half() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let output = Command::new(env!("CARGO_BIN_EXE_clearance"))
            .arg("keygen")
            .current_dir(dir.path())
            .env("CLEARANCE_AUTH__DEV_KEY_DIR", dir.path().join("keys"))
            .output()
            .expect("clearance runs");
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let path = run();
    let first = std::fs::read_to_string(&path).unwrap();
    assert!(first.contains("BEGIN PUBLIC KEY"), "{first}");
    assert_eq!(run(), path);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        first,
        "kept, not replaced"
    );
}

#[test]
fn json_logs_hold_nothing_but_json() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .args([
            "serve",
            "--application-listen",
            "127.0.0.1:0",
            "--reviewer-listen",
            "127.0.0.1:0",
        ])
        .current_dir(dir.path())
        .env("CLEARANCE_AUTH__DEV_KEY_DIR", dir.path().join("keys"))
        .env("CLEARANCE_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("clearance runs");
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        let serving = line.contains("reviewer service (");
        lines.push(line);
        if serving {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(lines.len() >= 3, "{lines:?}");
    for line in &lines {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok_and(|v| v.is_object()),
            "not a JSON object: {line}"
        );
    }

    // A refusal to start is a JSON line too.
    let refused = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .args(["serve", "--application-listen", "0.0.0.0:0"])
        .current_dir(dir.path())
        .env("CLEARANCE_LOG_FORMAT", "json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    for line in stderr.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
    assert!(stderr.contains("development mode"), "{stderr}");
}
