//! Running Clearance for real: backups taken while it serves, checking a database against its
//! own records, and retention.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clearance_store::{Store, execute_statement};
use clearance_tests::{Backend, TestApp, TestDb, on_both_databases};

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

on_both_databases!(a_copy_taken_while_shipments_run_verifies);
