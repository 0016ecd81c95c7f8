//! Nothing acknowledged is lost when the server dies mid-stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clearance_proto::v1 as pb;
use clearance_tests::{TestApp, TestDb, on_both_databases};

use crate::fixtures::{create_product, draft, request_id};

async fn a_crash_during_a_stream_of_creates_loses_no_acknowledged_write(
    db: &TestDb,
    mut app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for _ in 0..4 {
        let mut client = app.applicant("acme");
        let acknowledged = acknowledged.clone();
        let product = product.name.clone();
        writers.push(tokio::spawn(async move {
            // Bounded: stops at the first failure (the crash) or after 500 writes.
            for _ in 0..500 {
                let result = client
                    .create_application(pb::CreateApplicationRequest {
                        request_id: request_id(),
                        application: Some(draft(&product)),
                    })
                    .await;
                match result {
                    Ok(r) => acknowledged.lock().unwrap().push(r.into_inner().name),
                    Err(_) => return,
                }
            }
        }));
    }
    // Let a stream of writes build up, then die without any shutdown.
    while acknowledged.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.crash();
    for writer in writers {
        let _ = writer.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 40);

    let restarted = TestApp::spawn_on(db, Some(&app)).await;
    let mut acme = restarted.applicant("acme");
    for name in &acknowledged {
        let found = acme
            .get_application(pb::GetApplicationRequest { name: name.clone() })
            .await;
        assert!(
            found.is_ok(),
            "acknowledged {name} is missing after the crash: {found:?}"
        );
    }
}

on_both_databases!(a_crash_during_a_stream_of_creates_loses_no_acknowledged_write);
