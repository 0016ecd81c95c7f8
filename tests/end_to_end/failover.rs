//! Riding through a database failover: while 8 ERP systems ship, the test terminates every
//! database session of the server three times. No call answers INTERNAL; every failed call
//! succeeds when retried with its request_id; nothing is shipped twice and the ledger is exact.

use std::sync::Arc;
use std::time::Duration;

use clearance_proto::v1 as pb;
use clearance_store::execute_statement;
use clearance_tests::{Backend, TestApp};
use tonic::Code;

use crate::fixtures::request_id;
use crate::ledger::{erp, licensed, shipment};

const SHIPPERS: usize = 8;
const EACH: usize = 15;

/// Codes a client may retry with the same request_id (docs/errors.md).
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shippers_ride_through_terminated_database_sessions() {
    let Some((db, app)) = TestApp::spawn(Backend::Postgres).await else {
        return;
    };
    let (product, licence) = licensed(&app, "acme", 1_000).await;
    let retried = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(SHIPPERS + 1));
    let mut shippers = Vec::new();
    for _ in 0..SHIPPERS {
        let mut client = erp(&app, "acme");
        let (product, barrier, retried) = (product.clone(), barrier.clone(), retried.clone());
        shippers.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut shipped = Vec::new();
            for _ in 0..EACH {
                let request = pb::StartShipmentRequest {
                    request_id: request_id(),
                    shipment: Some(shipment(&product, 1, 10_000)),
                };
                let mut attempt = 0;
                loop {
                    match client.start_shipment(request.clone()).await {
                        Ok(r) => {
                            shipped.push(r.into_inner().name);
                            break;
                        }
                        Err(status) => {
                            assert!(
                                retryable(status.code()),
                                "a failover answered {:?}: {}",
                                status.code(),
                                status.message()
                            );
                            retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            attempt += 1;
                            assert!(attempt < 60, "still failing after {attempt} retries");
                            tokio::time::sleep(Duration::from_millis(50 * attempt.min(10))).await;
                        }
                    }
                }
            }
            shipped
        }));
    }
    // Three times, every session of the server's database is terminated, as a failover or an
    // administrator would.
    let terminator = {
        let url = db.url.clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                execute_statement(
                    &url,
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .await
                .expect("terminate the sessions");
            }
        })
    };
    let mut all = Vec::new();
    for shipper in shippers {
        all.extend(shipper.await.expect("shipper"));
    }
    terminator.await.expect("terminator");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), SHIPPERS * EACH, "one shipment per request");
    eprintln!(
        "{} calls failed during the terminations and succeeded on retry",
        retried.load(std::sync::atomic::Ordering::Relaxed)
    );

    // Nothing twice: the holder's shipments are exactly those answered, and the balance
    // agrees.
    let mut listed = Vec::new();
    let mut page_token = String::new();
    let mut client = erp(&app, "acme");
    loop {
        let page = client
            .list_shipments(pb::ListShipmentsRequest {
                page_size: 100,
                page_token,
                filter: format!("licence = \"{}\"", licence.name),
            })
            .await
            .expect("list")
            .into_inner();
        listed.extend(page.shipments.into_iter().map(|s| s.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    listed.sort();
    assert_eq!(listed, all);
    let report = app
        .store
        .verify_integrity(&[], &mut |_| {})
        .await
        .expect("verify");
    assert!(report.is_intact(), "{:?}", report.problems);
    db.drop_database().await;
}
