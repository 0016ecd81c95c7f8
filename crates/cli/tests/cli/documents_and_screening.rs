//! Documents and denied-party screening from the terminal: a policy administrator imports a
//! list; an officer uploads an end-user statement and files an application naming it and a
//! listed end user; the reviewer sees the hit in `cases show`, is refused a decision while it
//! is open, clears it with `cases resolve-hit`, and downloads the statement (checked against
//! its SHA-256). A document a submitted application names cannot be deleted; another can.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use clearance_tests::{TestApp, TestDb, on_both_databases};
use serde_json::Value;

use crate::support;

use support::Ran;

fn ctl(app: &TestApp, home: &Path, token: &str, args: &[&str]) -> Ran {
    Ran::of(
        support::clearancectl(app, home)
            .args(args)
            .env("CLEARANCE_TOKEN", token),
    )
}

fn ok(app: &TestApp, home: &Path, token: &str, args: &[&str]) -> Value {
    let mut json = vec!["--output", "json"];
    json.extend_from_slice(args);
    let ran = ctl(app, home, token, &json);
    assert_eq!(ran.code, 0, "{args:?}: {}", ran.stderr);
    serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", ran.stdout, ran.stderr))
}

const LIST: &str = "_id,source,entity_number,type,programs,name,title,addresses,alt_names,citizenships\n\
c1,Entity List (EL) - Bureau of Industry and Security,,Entity,EAR,Example Cloud Ltd,,\"1 Example Road, Shenzhen, CN\",,\n";

async fn documents_and_screening_hits_are_handled_from_the_terminal(_db: &TestDb, app: TestApp) {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let officer = app.token_for("olivia@acme", &["applicant"], Some("acme"));
    let alice = app.token_for("alice@regulator", &["reviewer"], None);
    let paula = app.token_for("paula@regulator", &["policy_admin"], None);
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    };

    let list = ok(
        &app,
        dir,
        &paula,
        &[
            "screening",
            "import",
            &file("csl.csv", LIST.as_bytes()),
            "--source",
            "US CSL",
            "--format",
            "csl-csv",
        ],
    );
    assert_eq!(list["entry_count"], "1", "{list}");

    let statement = b"%PDF-1.4\nEnd-user statement: Example Cloud Ltd, inference serving only.\n";
    let statement_file = file("statement.pdf", statement);
    let uploaded = ok(
        &app,
        dir,
        &officer,
        &["documents", "upload", &statement_file],
    );
    let sha256 = uploaded["sha256"].as_str().unwrap().to_owned();
    assert_eq!(uploaded["display_name"], "statement.pdf");
    assert_eq!(uploaded["media_type"], "application/pdf");
    // The text view says how to name it in an application.
    let text = ctl(
        &app,
        dir,
        &officer,
        &["documents", "upload", &statement_file],
    );
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains(&format!("\"sha256\":\"{sha256}\"")),
        "{}",
        text.stdout
    );
    // A file whose type cannot be told is refused before anything is sent.
    let unknown = ctl(
        &app,
        dir,
        &officer,
        &["documents", "upload", &file("notes.xyz", b"x")],
    );
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("--media-type"),
        "{}",
        unknown.stderr
    );

    ok(
        &app,
        dir,
        &officer,
        &[
            "products",
            "create",
            "--file",
            &file(
                "product.json",
                serde_json::json!({
                    "display_name": "H20-class accelerator", "part_number": "H20-SXM",
                    "classification": "3A090.a", "datacenter": true,
                    "parameters": {"total_processing_performance": 2368, "die_area_mm2": 814,
                                   "memory_bandwidth_gbps": 4000, "io_bandwidth_gbps": 900}
                })
                .to_string()
                .as_bytes(),
            ),
        ],
    );
    let application = serde_json::json!({
        "destination_country_code": "CN",
        "end_use_statement": "Inference serving",
        "parties": [{"role": "PARTY_ROLE_END_USER", "display_name": "Example Cloud Ltd",
                     "address": "1 Example Road, Shenzhen", "country_code": "CN",
                     "headquarters_country_code": "CN"}],
        "lines": [{"product": "H20-SXM", "quantity": 100,
                   "unit_value": {"currency_code": "USD", "minor_units": 10000}}],
        "documents": [uploaded.clone()],
    });
    let draft = ok(
        &app,
        dir,
        &officer,
        &[
            "applications",
            "create",
            "--file",
            &file("application.json", application.to_string().as_bytes()),
        ],
    );
    let reference = draft["reference"].as_str().unwrap().to_owned();
    ok(
        &app,
        dir,
        &officer,
        &[
            "applications",
            "submit",
            &reference,
            "--confirm-declaration",
        ],
    );

    ok(&app, dir, &alice, &["cases", "assign", &reference]);
    // The reviewer sees the hit, numbered.
    let shown = ctl(&app, dir, &alice, &["cases", "show", &reference]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("screening hits:")
            && shown
                .stdout
                .contains("hit 1  OPEN  party 1 \"Example Cloud Ltd\""),
        "{}",
        shown.stdout
    );
    // No decision while it is open.
    let refused = ctl(
        &app,
        dir,
        &alice,
        &[
            "cases", "propose", &reference, "--reason", "fine", "--latest",
        ],
    );
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("SCREENING_UNRESOLVED"),
        "{}",
        refused.stderr
    );
    // A hit that is not there is named as such.
    let missing = ctl(
        &app,
        dir,
        &alice,
        &[
            "cases",
            "resolve-hit",
            &reference,
            "2",
            "--clear",
            "--reason",
            "x",
            "--latest",
        ],
    );
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    assert!(missing.stderr.contains("no hit 2"), "{}", missing.stderr);
    let cleared = ok(
        &app,
        dir,
        &alice,
        &[
            "cases",
            "resolve-hit",
            &reference,
            "1",
            "--clear",
            "--reason",
            "another company: different registration and address",
            "--latest",
        ],
    );
    assert_eq!(
        cleared["screening_hits"][0]["status"], "SCREENING_HIT_STATUS_CLEARED",
        "{cleared}"
    );
    let shown = ctl(&app, dir, &alice, &["cases", "show", &reference]);
    assert!(
        shown.stdout.contains("hit 1  CLEARED")
            && shown.stdout.contains("cleared by alice@regulator on")
            && shown.stdout.contains("different registration"),
        "{}",
        shown.stdout
    );
    ok(
        &app,
        dir,
        &alice,
        &[
            "cases", "propose", &reference, "--reason", "fine", "--latest",
        ],
    );

    // The reviewer reads the statement: the same bytes, checked.
    let downloaded = dir.join("downloaded.pdf");
    let download = |token: &str, to: &str| {
        ctl(
            &app,
            dir,
            token,
            &["documents", "download", &reference, &sha256, "--to", to],
        )
    };
    let got = download(&alice, downloaded.to_str().unwrap());
    assert_eq!(got.code, 0, "{}", got.stderr);
    assert_eq!(std::fs::read(&downloaded).unwrap(), statement);
    // An existing file is not overwritten.
    let again = download(&officer, downloaded.to_str().unwrap());
    assert_eq!(again.code, 2, "{}", again.stderr);
    // The exporter reads it too, to standard output.
    let piped = download(&officer, "-");
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert_eq!(piped.stdout.as_bytes(), statement);

    // A document a submitted application names stays; one nobody names goes.
    let kept = ctl(&app, dir, &officer, &["documents", "delete", &sha256]);
    assert_eq!(kept.code, 4, "{}", kept.stderr);
    let spare = ok(
        &app,
        dir,
        &officer,
        &[
            "documents",
            "upload",
            &file("spare.txt", b"a note nobody needs"),
        ],
    );
    let spare = spare["sha256"].as_str().unwrap();
    let deleted = ctl(&app, dir, &officer, &["documents", "delete", spare]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert!(
        deleted.stdout.contains("deleted document"),
        "{}",
        deleted.stdout
    );
}

on_both_databases!(documents_and_screening_hits_are_handled_from_the_terminal);
