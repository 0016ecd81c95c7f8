//! `clearancectl history checkpoint` and `history verify --checkpoint`: an exporter and a
//! regulator save a checkpoint and later prove a case's history against it; after the log is
//! rewritten and re-signed with the key (an operator with the key forking history), the saved
//! checkpoint exposes it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::support;

use support::Ran;

use clearance_proto::v1 as pb;
use clearance_tests::{TestApp, TestDb, on_both_databases};

fn ctl(app: &TestApp, token: &str, args: &[&str]) -> Ran {
    let home = tempfile::tempdir().unwrap();
    Ran::of(
        support::clearancectl(app, home.path())
            .arg("--token")
            .arg(token)
            .args(args),
    )
}

async fn a_saved_checkpoint_proves_a_history_and_exposes_a_rewritten_log(
    db: &TestDb,
    app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let product = acme
        .create_product(pb::CreateProductRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            product: Some(pb::Product {
                display_name: "H20".into(),
                part_number: "900-2G133-0000-000".into(),
                classification: "3A090.a".into(),
                datacenter: true,
                parameters: Some(pb::TechnicalParameters {
                    total_processing_performance: Some(2368),
                    die_area_mm2: Some(814),
                    memory_bandwidth_gbps: Some(4000),
                    io_bandwidth_gbps: Some(900),
                    performance_density: 0.0,
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let dir = tempfile::tempdir().unwrap();
    let mut config = app.config.clone();
    config.audit.checkpoint_dir = dir.path().to_path_buf();
    let signer = clearance_server::audit::Signer::from_config(&config)
        .unwrap()
        .unwrap();
    signer
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .unwrap();
    let vkey = dir.path().join(clearance_server::audit::VERIFIER_FILE);
    let vkey = vkey.to_str().unwrap();

    let officer = app.token_for("olivia@acme", &["applicant"], Some("acme"));
    let auditor = app.token_for("audrey@regulator", &["auditor"], None);
    let saved = ctl(&app, &officer, &["history", "checkpoint"]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    assert!(
        saved.stdout.starts_with("clearance/audit\n"),
        "{}",
        saved.stdout
    );
    let saved_file = dir.path().join("saved.checkpoint");
    std::fs::write(&saved_file, &saved.stdout).unwrap();
    let saved_file = saved_file.to_str().unwrap();

    // Later, more history; both sides prove the product's history against what they saved.
    acme.update_product(pb::UpdateProductRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        product: Some(pb::Product {
            display_name: "H20 (rev. B)".into(),
            ..product.clone()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    signer
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .unwrap();
    for token in [&officer, &auditor] {
        let ran = ctl(
            &app,
            token,
            &[
                "history",
                "verify",
                &product.name,
                "--checkpoint",
                saved_file,
                "--verifier-key",
                vkey,
            ],
        );
        assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
        assert!(ran.stdout.contains("intact: 1 entries"), "{}", ran.stdout);
        assert!(ran.stdout.contains("1 added since"), "{}", ran.stdout);
    }
    // Without the key, or with a checkpoint signed by another, nothing is claimed.
    let ran = ctl(
        &app,
        &officer,
        &[
            "history",
            "verify",
            &product.name,
            "--checkpoint",
            saved_file,
        ],
    );
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    let forged = dir.path().join("forged.checkpoint");
    std::fs::write(&forged, saved.stdout.replacen("\n", "\n1", 1)).unwrap();
    let ran = ctl(
        &app,
        &officer,
        &[
            "history",
            "verify",
            &product.name,
            "--checkpoint",
            forged.to_str().unwrap(),
            "--verifier-key",
            vkey,
        ],
    );
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert!(ran.stderr.contains("not signed by"), "{}", ran.stderr);

    // An operator with the key drops the product's creation from the log, recomputes the
    // tree and signs it anew: the saved checkpoint shows the log no longer extends it.
    for statement in [
        format!(
            "DELETE FROM log_leaves WHERE resource = '{}' AND sequence = 1",
            product.name
        ),
        "UPDATE log_leaves SET log_index = NULL".to_owned(),
        "DELETE FROM log_subtrees".to_owned(),
        "DELETE FROM log_checkpoints".to_owned(),
    ] {
        clearance_store::execute_statement(&db.url, &statement)
            .await
            .unwrap();
    }
    let resigned = tempfile::tempdir().unwrap();
    let mut config = app.config.clone();
    config.audit.checkpoint_dir = resigned.path().to_path_buf();
    clearance_server::audit::Signer::from_config(&config)
        .unwrap()
        .unwrap()
        .checkpoint(&app.store, chrono::Utc::now())
        .await
        .unwrap();
    let ran = ctl(
        &app,
        &auditor,
        &[
            "history",
            "verify",
            &product.name,
            "--checkpoint",
            saved_file,
            "--verifier-key",
            vkey,
        ],
    );
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert!(
        ran.stderr.contains("does not extend your checkpoint")
            || ran
                .stderr
                .contains("not in the audit log as your checkpoint"),
        "{}",
        ran.stderr
    );
}

on_both_databases!(a_saved_checkpoint_proves_a_history_and_exposes_a_rewritten_log);
