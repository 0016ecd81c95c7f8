//! `clearance screening import` and `clearance screening list` as an operator runs them, on
//! SQLite and PostgreSQL: a list imported whole, the same file again changing nothing, a
//! broken file refused naming its line with the version in force kept.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

fn clearance(dir: &std::path::Path, url: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .arg("--database-url")
        .arg(url)
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

/// A synthetic list written for this test.
const LIST: &str = "_id,source,entity_number,type,programs,name,title,addresses,alt_names,citizenships\n\
c1,Entity List (EL) - Bureau of Industry and Security,,Entity,EAR,Northern Star Electronics Co. Ltd.,,\"18 Keyuan Road, Shenzhen, CN\",NSE Trading,\n";

fn imports_whole_once_and_refuses_a_broken_file(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("list.csv"), LIST).unwrap();
    let import = |file: &str| {
        clearance(
            dir.path(),
            url,
            &[
                "screening",
                "import",
                file,
                "--format",
                "csl-csv",
                "--source",
                "US CSL",
            ],
        )
    };
    let (code, stdout, stderr) = import("list.csv");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("imported 1 entries of US CSL"),
        "{stdout}"
    );
    let (code, stdout, stderr) = import("list.csv");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("nothing changed"), "{stdout}");

    std::fs::write(
        dir.path().join("broken.csv"),
        format!("{LIST}c2,Entity List,,Entity\n"),
    )
    .unwrap();
    let (code, _, stderr) = import("broken.csv");
    assert_eq!(code, 1);
    assert!(stderr.contains("line 3:"), "{stderr}");
    assert!(stderr.contains("unchanged"), "{stderr}");
    let (code, _, stderr) = clearance(
        dir.path(),
        url,
        &[
            "screening",
            "import",
            "list.csv",
            "--format",
            "xml",
            "--source",
            "x",
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("csl-csv, csl-json, ftm"), "{stderr}");

    let (code, stdout, stderr) = clearance(dir.path(), url, &["screening", "list"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "one version: {stdout}");
    assert!(stdout.contains("US CSL  csl-csv  1 entries"), "{stdout}");
    assert!(stdout.trim_end().ends_with("IN FORCE"), "{stdout}");
}

#[test]
fn on_sqlite() {
    imports_whole_once_and_refuses_a_broken_file("sqlite://screening.db");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let Some(database) = crate::support::FreshDatabase::create("clearance_screening_test").await
    else {
        return;
    };
    let url = database.url.clone();
    tokio::task::spawn_blocking(move || imports_whole_once_and_refuses_a_broken_file(&url))
        .await
        .unwrap();
    database.drop_database().await;
}
