//! Riding through a database failover: while 8 ERP systems ship, the test terminates every
//! database session of the server three times. No call answers INTERNAL; every failed call
//! succeeds when retried with its request_id; nothing is shipped twice and the ledger is exact.
//! And through an outage and a hang, injected by a proxy between the server and its database:
//! calls fail fast with a code to retry, readiness follows the database, liveness does not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clearance_proto::v1 as pb;
use clearance_store::execute_statement;
use clearance_tests::{Backend, TestApp, health};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

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

async fn readiness(app: &TestApp, service: &str) -> ServingStatus {
    health(&app.application_channel, service).await
}

/// Waits until readiness is `wanted`, checking every 50 ms; how long it took.
async fn until_readiness(app: &TestApp, wanted: ServingStatus, within: Duration) -> Duration {
    let since = Instant::now();
    while readiness(app, "clearance.v1.ShipmentService").await != wanted {
        assert!(
            since.elapsed() < within,
            "readiness not {wanted:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    since.elapsed()
}

/// The database stops for 5 s. A call with a 60 s deadline answers UNAVAILABLE within the
/// pool-acquire bound (2 s), not after 30 s; readiness turns NOT_SERVING within 5 s of the
/// stop and SERVING within 1 s of the return, while liveness stays SERVING; the failed call
/// then succeeds on retry with its request_id, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_fails_calls_fast_and_readiness_follows_it() {
    let Some((db, proxy, app)) = TestApp::spawn_behind_proxy().await else {
        return;
    };
    let bound = app.config.limits.session_timeouts().acquire;
    assert_eq!(bound, Duration::from_secs(2), "the default bound");
    let (product, licence) = licensed(&app, "acme", 1_000).await;
    let mut client = erp(&app, "acme");
    let start = |request_id: &str| {
        let mut request = tonic::Request::new(pb::StartShipmentRequest {
            request_id: request_id.to_owned(),
            shipment: Some(shipment(&product, 1, 10_000)),
        });
        request.set_timeout(Duration::from_secs(60));
        request
    };
    client
        .start_shipment(start(&request_id()))
        .await
        .expect("before the outage");
    assert_eq!(
        readiness(&app, "clearance.v1.ShipmentService").await,
        ServingStatus::Serving
    );

    proxy.stop();
    let stopped = Instant::now();
    // Readiness is watched from the moment of the stop, while the calls fail.
    let watcher = {
        let channel = app.application_channel.clone();
        tokio::spawn(async move {
            while health(&channel, "clearance.v1.ShipmentService").await
                != ServingStatus::NotServing
            {
                assert!(stopped.elapsed() < Duration::from_secs(8), "still SERVING");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            stopped.elapsed()
        })
    };
    let during = request_id();
    let mut reader = client.clone();
    let write = async {
        let called = Instant::now();
        let status = client
            .start_shipment(start(&during))
            .await
            .expect_err("the database is down");
        (status.code(), called.elapsed())
    };
    let read = async {
        let called = Instant::now();
        let status = reader
            .list_shipments(pb::ListShipmentsRequest::default())
            .await
            .expect_err("the database is down");
        (status.code(), called.elapsed())
    };
    let ((write, write_took), (read, read_took)) = tokio::join!(write, read);
    for (what, code, took) in [("write", write, write_took), ("read", read, read_took)] {
        assert_eq!(code, Code::Unavailable, "{what}");
        assert!(
            took < bound + Duration::from_millis(750),
            "{what}: UNAVAILABLE after {took:?}, beyond the {bound:?} bound"
        );
    }
    let since_stop = watcher.await.expect("watcher");
    assert!(
        since_stop < Duration::from_secs(5),
        "NOT_SERVING only {since_stop:?} after the stop"
    );
    // Liveness does not follow the database: an outage must not restart every replica.
    assert_eq!(readiness(&app, "").await, ServingStatus::Serving);
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed())).await;
    assert_eq!(
        readiness(&app, "clearance.v1.ShipmentService").await,
        ServingStatus::NotServing
    );

    proxy.resume();
    let back = until_readiness(&app, ServingStatus::Serving, Duration::from_secs(3)).await;
    assert!(
        back < Duration::from_secs(1),
        "SERVING only {back:?} after the database returned"
    );
    eprintln!(
        "outage: UNAVAILABLE after {write_took:?} (write) and {read_took:?} (read), bound \
         {bound:?}; NOT_SERVING {since_stop:?} after the stop, SERVING {back:?} after the return"
    );
    let first = client
        .start_shipment(start(&during))
        .await
        .expect("the retry succeeds")
        .into_inner();
    let again = client
        .start_shipment(start(&during))
        .await
        .expect("a second retry replays")
        .into_inner();
    assert_eq!(first.name, again.name, "one shipment for one request_id");
    let listed = client
        .list_shipments(pb::ListShipmentsRequest {
            page_size: 100,
            page_token: String::new(),
            filter: format!("licence = \"{}\"", licence.name),
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed.shipments.len(),
        2,
        "one before the outage, one retried"
    );
    drop(proxy);
    db.drop_database().await;
}

/// The database hangs (nothing answers, connections stay open) for longer than a call's
/// deadline: the call answers DEADLINE_EXCEEDED at its deadline and says its change was not
/// committed; readiness turns NOT_SERVING; once the database answers again, so does the
/// service, and the retry makes the change once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_is_cut_off_at_the_deadline() {
    let Some((db, proxy, app)) = TestApp::spawn_behind_proxy().await else {
        return;
    };
    let (product, _) = licensed(&app, "acme", 1_000).await;
    let mut client = erp(&app, "acme");
    let during = request_id();
    let start = || {
        let mut request = tonic::Request::new(pb::StartShipmentRequest {
            request_id: during.clone(),
            shipment: Some(shipment(&product, 1, 10_000)),
        });
        request.set_timeout(Duration::from_millis(1500));
        request
    };

    proxy.freeze();
    let frozen = Instant::now();
    let status = client.start_shipment(start()).await.expect_err("hung");
    let took = frozen.elapsed();
    assert_eq!(
        status.code(),
        Code::DeadlineExceeded,
        "{}",
        status.message()
    );
    assert!(
        took < Duration::from_millis(2500),
        "answered after {took:?}"
    );
    // Frozen before the call: its transaction never began, and it says so.
    assert!(
        status.message().contains("no change was begun")
            && status.message().contains("retry with the same request_id"),
        "{}",
        status.message()
    );
    until_readiness(&app, ServingStatus::NotServing, Duration::from_secs(5)).await;

    proxy.resume();
    until_readiness(&app, ServingStatus::Serving, Duration::from_secs(3)).await;
    // Connections that hung may be dropped by the pool; the retry gets its own and succeeds.
    let mut attempt = 0;
    let shipped = loop {
        match client.start_shipment(start()).await {
            Ok(r) => break r.into_inner(),
            Err(s) if retryable(s.code()) && attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => panic!("the retry failed: {:?} {}", s.code(), s.message()),
        }
    };
    let replayed = client
        .start_shipment(start())
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(shipped.name, replayed.name);
    drop(proxy);
    db.drop_database().await;
}

/// A replica draining for shutdown stays NOT_SERVING even when its database comes back during
/// the grace period (the readiness monitor stops first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_replica_is_never_ready_again() {
    let Some((db, proxy, mut app)) = TestApp::spawn_behind_proxy().await else {
        return;
    };
    proxy.stop();
    until_readiness(&app, ServingStatus::NotServing, Duration::from_secs(8)).await;
    let running = app
        .running
        .take()
        .expect("running")
        .with_grace(Duration::from_secs(4));
    let stopping = tokio::spawn(running.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.resume();
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(2) {
        assert_eq!(
            readiness(&app, "clearance.v1.ShipmentService").await,
            ServingStatus::NotServing,
            "a draining replica reported ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stopping.await.expect("join").expect("graceful shutdown");
    drop(proxy);
    db.drop_database().await;
}
