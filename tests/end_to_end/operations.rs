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
        .verify_integrity(&mut |n| progress_heard = n)
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
    let report = copy.verify_integrity(&mut |_| {}).await.unwrap();
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

on_both_databases!(a_copy_taken_while_shipments_run_verifies);

/// Without the built-in catalogue, whose publication events (at today's date) would come first
/// in stream order and, rightly, stop pruning there.
mod retention {
    use super::*;
    on_both_databases!(without_catalogue; pruning_removes_only_what_is_past_retention);
}
