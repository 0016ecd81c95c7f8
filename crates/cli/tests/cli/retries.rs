//! clearancectl rides through a database outage: a product created while the database is
//! stopped is created once it is back, by retries that keep the request_id; with
//! `--retries 0` the same command fails at once, exit code 6 (unavailable). PostgreSQL, with
//! the outage injected by a proxy between the server and its database.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Output;
use std::time::{Duration, Instant};

use clearance_proto::v1 as pb;
use clearance_tests::TestApp;

use crate::support;

/// clearancectl against `app`, as an applicant of acme.
async fn ctl(app: &TestApp, home: &std::path::Path, args: &[&str]) -> (Output, Duration) {
    let mut command = support::clearancectl(app, home);
    command
        .args(args)
        .env("CLEARANCE_TOKEN", app.token(&["applicant"], Some("acme")))
        .env_remove("CLEARANCE_RETRIES");
    // Run off the runtime, so the server in this process keeps answering meanwhile.
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let output = command.output().expect("clearancectl runs");
        (output, started.elapsed())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_during_an_outage_is_retried_with_its_request_id_until_it_lands() {
    let Some((db, proxy, app)) = TestApp::spawn_behind_proxy().await else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("product.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "display_name": "H20-class accelerator", "part_number": "H20-SXM",
            "classification": "3A090.a", "datacenter": true,
            "parameters": {"total_processing_performance": 2368, "die_area_mm2": 814,
                           "memory_bandwidth_gbps": 4000, "io_bandwidth_gbps": 900}
        })
        .to_string(),
    )
    .unwrap();
    let file = file.to_str().unwrap();

    proxy.stop();
    // Without retries: UNAVAILABLE at once (within the 2 s pool bound), exit code 6.
    let (once, took) = ctl(
        &app,
        home.path(),
        &["--retries", "0", "products", "create", "--file", file],
    )
    .await;
    let stderr = String::from_utf8_lossy(&once.stderr);
    assert_eq!(once.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("UNAVAILABLE"), "{stderr}");
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert!(took < Duration::from_secs(4), "took {took:?}");

    // With the default retries, the database returns while clearancectl waits.
    let resume = tokio::spawn(async move {
        // After the first attempt has met the 2 s pool bound, long before the last retry.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        proxy.resume();
        proxy
    });
    let (retried, _) = ctl(
        &app,
        home.path(),
        &[
            "products",
            "create",
            "--file",
            file,
            "--request-id",
            "outage-1",
        ],
    )
    .await;
    let proxy = resume.await.unwrap();
    let stderr = String::from_utf8_lossy(&retried.stderr);
    assert_eq!(retried.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("CreateProduct: Unavailable; retrying in")
            && stderr.contains("with the same request"),
        "{stderr}"
    );
    // Once, whatever the attempts: the product exists a single time.
    let products = app
        .applicant("acme")
        .list_products(pb::ListProductsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .products;
    assert_eq!(products.len(), 1, "{products:?}");
    assert_eq!(products[0].part_number, "H20-SXM");
    drop(proxy);
    db.drop_database().await;
}
