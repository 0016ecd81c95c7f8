//! Running Clearance for real: backups taken while it serves, checking a database against its
//! own records, and retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clearance_grpc::Clock;
use clearance_proto::v1 as pb;
use clearance_proto::v1::event_service_client::EventServiceClient;
use clearance_server::config::RetentionConfig;
use clearance_server::serve::prune_once;
use clearance_store::{Pruned, Store, execute_statement};
use clearance_tests::{Backend, Bearer, TestApp, TestDb, on_both_databases};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::events::collect;
use crate::fixtures::{h20, reason, request_id};
use crate::ledger::{erp, licensed, shipment, start};

/// Starts ERP writers shipping one unit at a time on a licence until told to stop.
fn ship_until_stopped(
    app: &TestApp,
    product: &str,
    stop: &Arc<AtomicBool>,
    shipped: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..4)
        .map(|_| {
            let mut client = erp(app, "acme");
            let product = product.to_owned();
            let stop = stop.clone();
            let shipped = shipped.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    start(&mut client, shipment(&product, 1, 10_000))
                        .await
                        .expect("a shipment within the licence");
                    shipped.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

/// A backup taken (SQLite: `VACUUM INTO`; PostgreSQL: the check runs on the live database,
/// whose backups are pg_dump's or WAL archiving's business) while shipments are written
/// verifies: every chain intact, every balance granted minus shipped. An edit behind the
/// service's back is then named.
async fn a_copy_taken_while_shipments_run_verifies(db: &TestDb, app: TestApp) {
    let (product, _licence) = licensed(&app, "acme", 100_000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let shipped = Arc::new(AtomicU64::new(0));
    let writers = ship_until_stopped(&app, &product, &stop, &shipped);
    while shipped.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let (copy, copy_url) = match db.backend {
        Backend::Sqlite => {
            let file = dir.path().join("backup.db");
            app.store.backup_to(&file).await.expect("backup");
            let url = format!("sqlite://{}", file.display());
            (Store::connect(&url, 1).await.unwrap(), url)
        }
        Backend::Postgres => {
            let refused = app
                .store
                .backup_to(&dir.path().join("backup.db"))
                .await
                .unwrap_err();
            assert!(refused.to_string().contains("pg_dump"), "{refused}");
            (app.store.clone(), db.url.clone())
        }
    };
    let mut progress_heard = 0;
    let report = copy
        .verify_integrity(&[], &mut |n| progress_heard = n)
        .await
        .unwrap();
    let during = shipped.load(Ordering::Relaxed);
    assert!(report.is_intact(), "{:?}", report.problems);
    assert!(
        report.licence_lines >= 1 && report.chains >= 3,
        "{report:?}"
    );
    assert_eq!(progress_heard, report.entries);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        shipped.load(Ordering::Relaxed) > 20 && during > 0,
        "writes ran before and during the check"
    );

    // Behind the service's back: a balance edited and a history entry rewritten.
    execute_statement(
        &copy_url,
        "UPDATE licence_lines SET remaining_quantity = remaining_quantity + 5",
    )
    .await
    .unwrap();
    execute_statement(
        &copy_url,
        "UPDATE history_entries SET reason = 'edited' WHERE sequence = 1 \
         AND resource IN (SELECT resource FROM history_entries WHERE resource LIKE 'licences/%')",
    )
    .await
    .unwrap();
    let report = copy.verify_integrity(&[], &mut |_| {}).await.unwrap();
    assert!(!report.is_intact());
    let said = report.problems.join("\n");
    assert!(said.contains("line 1: remaining quantity"), "{said}");
    assert!(said.contains("history chain broken at entry 1"), "{said}");
}

/// Only records past retention go: old idempotency records (a retry then is a new request)
/// and the oldest outbox events; a cursor from before what is kept is OUT_OF_RANGE, while one
/// at the edge, and an empty one, still read.
async fn pruning_removes_only_what_is_past_retention(_db: &TestDb, app: TestApp) {
    let now = app.clock.now();
    let mut acme = app.applicant("acme");
    let create = |request_id: &str| pb::CreateProductRequest {
        request_id: request_id.to_owned(),
        product: Some(h20()),
    };
    // Forty days ago: two products; ten days ago: one; now: one.
    app.clock.set(now - chrono::Duration::days(40));
    let old_request = request_id();
    let old = acme
        .create_product(create(&old_request))
        .await
        .unwrap()
        .into_inner();
    acme.create_product(create(&request_id())).await.unwrap();
    app.clock.set(now - chrono::Duration::days(10));
    let recent_request = request_id();
    let recent = acme
        .create_product(create(&recent_request))
        .await
        .unwrap()
        .into_inner();
    app.clock.set(now);
    acme.create_product(create(&request_id())).await.unwrap();
    let auditor = app.token(&["auditor"], None);
    let before = collect(&app.reviewer_channel, auditor.clone(), "", 4).await;

    let retention = RetentionConfig {
        prune_batch: 1, // several batches
        ..app.config.retention.clone()
    };
    let pruned = prune_once(&app.store, &retention, now).await.unwrap();
    assert_eq!(pruned.idempotency_records, 2);
    assert_eq!(pruned.outbox_events, 2);
    assert_eq!(
        prune_once(&app.store, &retention, now).await.unwrap(),
        Pruned::default(),
        "nothing more to do"
    );

    // The recent request is still remembered; the old one is not (a retry makes a new one).
    let again = acme
        .create_product(create(&recent_request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, recent.name);
    let anew = acme
        .create_product(create(&old_request))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(anew.name, old.name);

    // Streams: from before what is kept, refused; from its edge or the start, the rest.
    let mut events = EventServiceClient::with_interceptor(
        app.reviewer_channel.clone(),
        Bearer::new(Some(auditor.clone())),
    );
    let stale = events
        .watch_events(pb::WatchEventsRequest {
            after_cursor: before[0].cursor.clone(),
            ..Default::default()
        })
        .await;
    let status = match stale {
        Err(status) => status,
        Ok(stream) => stream
            .into_inner()
            .next()
            .await
            .expect("an answer")
            .expect_err("the cursor is too old"),
    };
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(reason(&status), "CURSOR_EXPIRED");
    let from_edge = collect(&app.reviewer_channel, auditor.clone(), &before[1].cursor, 2).await;
    assert_eq!(from_edge, before[2..4].to_vec());
    let from_start = collect(&app.reviewer_channel, auditor, "", 2).await;
    assert_eq!(from_start, before[2..4].to_vec());
}

on_both_databases!(
    a_copy_taken_while_shipments_run_verifies,
    a_deadline_passing_on_a_blocked_database_answers_and_frees_the_session
);

/// Without the built-in catalogue, whose publication events (at today's date) would come first
/// in stream order and, rightly, stop pruning there.
mod retention {
    use super::*;
    on_both_databases!(without_catalogue; pruning_removes_only_what_is_past_retention);
}

fn product_request() -> tonic::Request<pb::CreateProductRequest> {
    tonic::Request::new(pb::CreateProductRequest {
        request_id: request_id(),
        product: Some(h20()),
    })
}

/// Another session holds the products table exclusively for `seconds` (PostgreSQL); returns
/// once it has the lock.
async fn lock_products(
    url: &str,
    seconds: u32,
) -> tokio::task::JoinHandle<Result<u64, clearance_store::StoreError>> {
    let url = url.to_owned();
    let blocker = tokio::spawn(async move {
        execute_statement(
            &url,
            &format!(
                "BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({seconds}); COMMIT"
            ),
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    blocker
}

/// Sessions of the test's database waiting on a lock now.
async fn sessions_waiting_on_locks(url: &str) -> u64 {
    // A SELECT's command tag carries its row count.
    execute_statement(
        url,
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock'",
    )
    .await
    .unwrap()
}

/// A client's deadline bounds the call and its database work: with the table locked by
/// someone else, the call answers DEADLINE_EXCEEDED at its deadline (not CANCELLED, not after
/// the lock is gone) and its statement stops waiting (PostgreSQL).
async fn a_deadline_passing_on_a_blocked_database_answers_and_frees_the_session(
    db: &TestDb,
    app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let mut met = product_request();
    met.set_timeout(std::time::Duration::from_secs(5));
    acme.create_product(met)
        .await
        .expect("a deadline that is met changes nothing");
    if db.backend != Backend::Postgres {
        return;
    }
    let blocker = lock_products(&db.url, 5).await;
    let started = std::time::Instant::now();
    let mut blocked = product_request();
    blocked.set_timeout(std::time::Duration::from_millis(800));
    let status = acme.create_product(blocked).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(reason(&status), "DEADLINE_EXCEEDED");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // While the lock is still held, no session of ours waits for it any more.
    let mut waiting = u64::MAX;
    for _ in 0..20 {
        waiting = sessions_waiting_on_locks(&db.url).await;
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(waiting, 0, "the abandoned call's statement was cancelled");
    assert!(
        !blocker.is_finished(),
        "the lock was still held when we looked"
    );
    blocker.await.unwrap().unwrap();
    acme.create_product(product_request())
        .await
        .expect("served again");
}

/// Past a caller's rate: RESOURCE_EXHAUSTED with when to retry; other callers are served;
/// after the wait, the caller is served again.
async fn a_caller_past_its_rate_is_told_when_to_retry(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let mut refused = None;
    for _ in 0..10 {
        match acme.list_products(pb::ListProductsRequest::default()).await {
            Ok(_) => {}
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let status = refused.expect("ten calls at once pass a burst of five");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(&status), "RATE_LIMITED");
    use tonic_types::StatusExt;
    let retry = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("retry information");
    assert!(retry > std::time::Duration::ZERO && retry <= std::time::Duration::from_secs(1));
    let mut globex = app.applicant("globex");
    globex
        .list_products(pb::ListProductsRequest::default())
        .await
        .expect("another caller has its own budget");
    tokio::time::sleep(retry + std::time::Duration::from_millis(50)).await;
    acme.list_products(pb::ListProductsRequest::default())
        .await
        .expect("served again after the wait");
}

/// A caller's event streams are bounded; closing one makes room.
async fn a_callers_event_streams_are_bounded(_db: &TestDb, app: TestApp) {
    let token = app.token(&["auditor"], None);
    let mut client = EventServiceClient::with_interceptor(
        app.reviewer_channel.clone(),
        Bearer::new(Some(token)),
    );
    let watch = || pb::WatchEventsRequest::default();
    let first = client.watch_events(watch()).await.unwrap();
    let _second = client.watch_events(watch()).await.unwrap();
    let status = client.watch_events(watch()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(&status), "TOO_MANY_STREAMS");
    drop(first);
    let mut reopened = false;
    for _ in 0..100 {
        if client.watch_events(watch()).await.is_ok() {
            reopened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(reopened, "a closed stream's place is given back");
}

mod limits {
    use super::*;
    on_both_databases!(@with |c: &mut clearance_tests::Config| {
        c.limits.calls_per_second_per_caller = 5;
        c.limits.burst_per_caller = 5;
        c.limits.streams_per_caller = 2;
    }; a_caller_past_its_rate_is_told_when_to_retry, a_callers_event_streams_are_bounded);
}

/// `GET /metrics` over a plain HTTP/1.1 connection, as Prometheus scrapes.
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: clearance\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// The metrics endpoint counts calls by method and code, times them per method, and reports
/// the database pool and licences by state.
async fn the_metrics_endpoint_counts_and_times_every_method(_db: &TestDb, app: TestApp) {
    let addr = app
        .running
        .as_ref()
        .and_then(|r| r.metrics_addr)
        .expect("metrics configured");
    let mut acme = app.applicant("acme");
    for _ in 0..3 {
        acme.create_product(product_request()).await.unwrap();
    }
    let refused = acme
        .get_product(pb::GetProductRequest {
            name: "products/not-a-uuid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let text = scrape(addr).await;
    let create = "method=\"/clearance.v1.ApplicationService/CreateProduct\"";
    let counted = text
        .lines()
        .find(|l| {
            l.starts_with("clearance_calls_total{")
                && l.contains(create)
                && l.contains("code=\"Ok\"")
        })
        .unwrap_or_else(|| panic!("no CreateProduct counter in:\n{text}"));
    assert!(counted.ends_with(" 3"), "{counted}");
    assert!(
        text.lines().any(|l| l.starts_with("clearance_calls_total{")
            && l.contains("GetProduct")
            && l.contains("code=\"InvalidArgument\"")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("clearance_call_duration_seconds_count{")
                && l.contains(create)
                && l.ends_with(" 3")),
        "{text}"
    );
    assert!(
        text.contains("clearance_call_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.contains("clearance_db_pool_connections "), "{text}");
    assert!(text.contains("clearance_database_up 1"), "{text}");
    // Made-up methods, even under the contract's package, are one label: `other`.
    let before = text.lines().count();
    for i in 0..50 {
        let _ = app
            .call_raw(
                false,
                &format!("/clearance.v1.ApplicationService/MadeUp{i}"),
                None,
                Vec::new(),
            )
            .await;
        let _ = app
            .call_raw(
                false,
                &format!("/clearance.v1.Nothing{i}/Get"),
                None,
                Vec::new(),
            )
            .await;
    }
    let text = scrape(addr).await;
    assert!(!text.contains("MadeUp"), "{text}");
    assert!(!text.contains("Nothing"), "{text}");
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(
        text.lines().count() <= before + 40,
        "a few series for `other`, not hundreds: {} → {}",
        before,
        text.lines().count()
    );
    assert!(
        text.contains("clearance_licence_expiry_backlog 0"),
        "{text}"
    );
}

mod metrics {
    use super::*;
    on_both_databases!(@with |c: &mut clearance_tests::Config| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    }; the_metrics_endpoint_counts_and_times_every_method);
}

/// Past the process's calls in flight: RESOURCE_EXHAUSTED (OVERLOADED) with when to retry,
/// and served again once the call in flight is done. (The call held in flight waits on a
/// PostgreSQL lock; on SQLite only the served path is checked.)
async fn calls_past_the_in_flight_limit_are_told_to_retry(db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    acme.list_products(pb::ListProductsRequest::default())
        .await
        .expect("one call at a time is served");
    if db.backend != Backend::Postgres {
        return;
    }
    let blocker = lock_products(&db.url, 2).await;
    let mut held = app.applicant("acme");
    let in_flight = tokio::spawn(async move { held.create_product(product_request()).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let status = acme
        .list_products(pb::ListProductsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(&status), "OVERLOADED");
    use tonic_types::StatusExt;
    assert!(
        status.get_details_retry_info().is_some(),
        "retry information"
    );
    blocker.await.unwrap().unwrap();
    in_flight
        .await
        .unwrap()
        .expect("the call in flight finishes");
    acme.list_products(pb::ListProductsRequest::default())
        .await
        .expect("served again");
}

mod in_flight {
    use super::*;
    on_both_databases!(@with |c: &mut clearance_tests::Config| {
        c.limits.max_concurrent_calls = 1;
    }; calls_past_the_in_flight_limit_are_told_to_retry);
}
