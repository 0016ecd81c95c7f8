//! Licences and shipments: an exact ledger under concurrency and retries, every refusal
//! with its reason, NLR, and organisation scoping.

use chrono::Utc;
use clearance_grpc::Clock;
use clearance_proto::v1 as pb;
use clearance_proto::v1::shipment_service_client::ShipmentServiceClient;
use clearance_tests::{ApplicationClient, Backend, TestApp, TestDb, on_both_databases};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::fixtures::{assert_code, create_product, draft, line, reason, request_id};

pub type ErpClient = ShipmentServiceClient<InterceptedService<Channel, clearance_tests::Bearer>>;

pub fn erp(app: &TestApp, org: &str) -> ErpClient {
    ShipmentServiceClient::with_interceptor(
        app.application_channel.clone(),
        clearance_tests::Bearer::new(Some(app.token(&["erp"], Some(org)))),
    )
}

/// Runs an application for `quantity` units at 10,000 each to CN through approval and returns
/// the product and the issued licence.
pub async fn licensed(app: &TestApp, org: &str, quantity: i64) -> (String, pb::Licence) {
    let mut officer = app.applicant(org);
    let product = create_product(&mut officer).await;
    let mut application = draft(&product.name);
    application.lines = vec![pb::ApplicationLine {
        unit_value: Some(pb::Money {
            currency_code: "USD".into(),
            minor_units: 10_000,
        }),
        ..line(&product.name, quantity)
    }];
    let created = officer
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        })
        .await
        .unwrap()
        .into_inner();
    let submitted = crate::fixtures::submit(&mut officer, &created).await;
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let mut bob = app.regulator("bob@regulator", &["senior_reviewer"]);
    let case = crate::fixtures::assign_to_self(&mut alice, &submitted).await;
    let case = crate::fixtures::propose_approval(&mut alice, &case, "approved").await;
    bob.countersign_decision(pb::CountersignDecisionRequest {
        name: case.name.clone(),
        request_id: request_id(),
        etag: case.etag,
    })
    .await
    .unwrap();
    let licences = officer
        .list_licences(pb::ListLicencesRequest {
            filter: "state = ACTIVE".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .licences;
    let licence = licences
        .into_iter()
        .find(|l| l.application == submitted.name)
        .expect("the countersignature issued a licence");
    (product.name, licence)
}

pub fn shipment(product: &str, quantity: i64, value: i64) -> pb::Shipment {
    pb::Shipment {
        destination_country_code: "CN".into(),
        erp_reference: "SO-4711".into(),
        end_user: Some(pb::Party {
            display_name: "Example Cloud Ltd".into(),
            country_code: "CN".into(),
            headquarters_country_code: "CN".into(),
            ..Default::default()
        }),
        lines: vec![pb::ShipmentLine {
            product: product.into(),
            quantity,
            value: Some(pb::Money {
                currency_code: "USD".into(),
                minor_units: value,
            }),
        }],
        ..Default::default()
    }
}

pub async fn start(
    client: &mut ErpClient,
    shipment: pb::Shipment,
) -> Result<pb::Shipment, tonic::Status> {
    client
        .start_shipment(pb::StartShipmentRequest {
            request_id: request_id(),
            shipment: Some(shipment),
        })
        .await
        .map(|r| r.into_inner())
}

async fn licence_now(officer: &mut ApplicationClient, name: &str) -> pb::Licence {
    officer
        .get_licence(pb::GetLicenceRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
}

async fn quantities_deplete_exactly_and_value_tolerance_is_enforced(_db: &TestDb, app: TestApp) {
    let (product, licence) = licensed(&app, "acme", 100).await;
    assert!(licence.number.starts_with("CLL-"));
    assert_eq!(
        licence.lines[0].granted_value.as_ref().unwrap().minor_units,
        1_000_000
    );
    let mut acme_erp = erp(&app, "acme");
    let first = start(&mut acme_erp, shipment(&product, 60, 600_000))
        .await
        .unwrap();
    assert_eq!(first.licence, licence.name);
    start(&mut acme_erp, shipment(&product, 40, 400_000))
        .await
        .unwrap();
    let status = assert_code(
        start(&mut acme_erp, shipment(&product, 1, 10_000)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "QUANTITY_EXCEEDED", "{status:?}");
    let mut officer = app.applicant("acme");
    let exhausted = licence_now(&mut officer, &licence.name).await;
    assert_eq!(exhausted.state, pb::LicenceState::Exhausted as i32);
    assert_eq!(exhausted.lines[0].remaining_quantity, 0);

    let (product, fresh) = licensed(&app, "initech", 100).await;
    let mut initech_erp = erp(&app, "initech");
    start(&mut initech_erp, shipment(&product, 50, 1_200_000))
        .await
        .unwrap();
    let status = assert_code(
        start(&mut initech_erp, shipment(&product, 10, 100_000)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "VALUE_EXCEEDED");
    assert!(
        status.message().contains("USD 13,000.00") && status.message().contains("USD 12,500.00"),
        "{}",
        status.message()
    );
    let mut officer = app.applicant("initech");
    assert_eq!(
        licence_now(&mut officer, &fresh.name).await.lines[0].remaining_quantity,
        50
    );
}

async fn concurrent_shipments_never_over_ship(db: &TestDb, app: TestApp) {
    let rounds = if db.backend == clearance_tests::Backend::Postgres {
        20
    } else {
        3
    };
    for round in 0..rounds {
        let org = format!("round{round}");
        let (product, licence) = licensed(&app, &org, 10).await;
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let mut client = erp(&app, &org);
            let s = shipment(&product, 1, 10_000);
            tasks.push(tokio::spawn(async move { start(&mut client, s).await }));
        }
        let (mut ok, mut refused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => ok += 1,
                Err(status) => {
                    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                    refused += 1;
                }
            }
        }
        assert_eq!((ok, refused), (10, 54), "round {round}");
        let mut officer = app.applicant(&org);
        let after = licence_now(&mut officer, &licence.name).await;
        assert_eq!(after.lines[0].remaining_quantity, 0);
        assert_eq!(after.state, pb::LicenceState::Exhausted as i32);
        let shipped: i64 = erp(&app, &org)
            .list_shipments(pb::ListShipmentsRequest {
                filter: format!(r#"licence = "{}" AND state = STARTED"#, licence.name),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .shipments
            .iter()
            .map(|s| s.lines[0].quantity)
            .sum();
        assert_eq!(
            shipped,
            after.lines[0].granted_quantity - after.lines[0].remaining_quantity
        );
    }
}

async fn retries_ship_once_and_cancelling_restores_once(_db: &TestDb, app: TestApp) {
    let (product, licence) = licensed(&app, "acme", 10).await;
    let mut client = erp(&app, "acme");
    let request = pb::StartShipmentRequest {
        request_id: request_id(),
        shipment: Some(shipment(&product, 10, 100_000)),
    };
    let mut responses = Vec::new();
    for _ in 0..5 {
        responses.push(
            client
                .start_shipment(request.clone())
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let mut c = erp(&app, "acme");
        let r = request.clone();
        tasks.push(tokio::spawn(async move {
            c.start_shipment(r).await.map(|r| r.into_inner())
        }));
    }
    for t in tasks {
        responses.push(t.await.unwrap().unwrap());
    }
    assert!(
        responses.windows(2).all(|w| w[0] == w[1]),
        "identical responses"
    );
    let listed = client
        .list_shipments(pb::ListShipmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.shipments.len(), 1);
    let mut other = request.clone();
    other.shipment.as_mut().unwrap().lines[0].quantity = 9;
    let status = assert_code(client.start_shipment(other).await, Code::InvalidArgument);
    assert_eq!(reason(&status), "REQUEST_ID_REUSED");

    let mut officer = app.applicant("acme");
    assert_eq!(
        licence_now(&mut officer, &licence.name).await.state,
        pb::LicenceState::Exhausted as i32
    );
    let shipped = &responses[0];
    let cancel = |id: String| pb::CancelShipmentRequest {
        name: shipped.name.clone(),
        request_id: id,
        reason: "order cancelled".into(),
    };
    let cancelled = client
        .cancel_shipment(cancel(request_id()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cancelled.state, pb::ShipmentState::Cancelled as i32);
    let status = assert_code(
        client.cancel_shipment(cancel(request_id())).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "ALREADY_CANCELLED");
    let restored = licence_now(&mut officer, &licence.name).await;
    assert_eq!(restored.lines[0].remaining_quantity, 10);
    assert_eq!(restored.state, pb::LicenceState::Active as i32);
}

async fn every_refusal_has_its_own_reason(_db: &TestDb, app: TestApp) {
    let (product, licence) = licensed(&app, "acme", 100).await;
    let mut client = erp(&app, "acme");
    let named = |mut s: pb::Shipment| {
        s.licence = licence.name.clone();
        s
    };
    let cases: Vec<(&str, pb::Shipment)> = vec![
        ("DESTINATION_MISMATCH", {
            let mut s = named(shipment(&product, 1, 10_000));
            s.destination_country_code = "HK".into();
            s
        }),
        ("END_USER_MISMATCH", {
            let mut s = named(shipment(&product, 1, 10_000));
            s.end_user.as_mut().unwrap().display_name = "Another Cloud Ltd".into();
            s
        }),
    ];
    for (expected, s) in cases {
        let status = assert_code(start(&mut client, s).await, Code::FailedPrecondition);
        assert_eq!(reason(&status), expected);
    }
    // Past its validity the licence covers nothing, whether or not the expiry sweep has run.
    let today = app.clock.now();
    app.clock.set(today + chrono::Duration::days(5 * 366));
    let status = assert_code(
        start(&mut client, named(shipment(&product, 1, 10_000))).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "OUTSIDE_VALIDITY");
    app.clock.set(today);
    let mut officer = app.applicant("acme");
    let other_product = create_product(&mut officer).await;
    let mut two = named(shipment(&product, 1, 10_000));
    two.lines.push(pb::ShipmentLine {
        product: other_product.name.clone(),
        quantity: 1,
        value: Some(pb::Money {
            currency_code: "USD".into(),
            minor_units: 1,
        }),
    });
    let status = assert_code(start(&mut client, two).await, Code::FailedPrecondition);
    assert_eq!(reason(&status), "PRODUCT_NOT_LICENSED");

    // CheckShipment lists every problem at once.
    let mut everything = named(shipment(&other_product.name, 1000, 10_000));
    everything.destination_country_code = "HK".into();
    everything.end_user.as_mut().unwrap().display_name = "Another Cloud Ltd".into();
    let check = client
        .check_shipment(pb::CheckShipmentRequest {
            shipment: Some(everything),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(check.covering_licences.is_empty());
    let reasons: Vec<&str> = check.assessments[0]
        .problems
        .iter()
        .map(|p| p.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "DESTINATION_MISMATCH",
            "END_USER_MISMATCH",
            "PRODUCT_NOT_LICENSED"
        ]
    );
    let fine = client
        .check_shipment(pb::CheckShipmentRequest {
            shipment: Some(shipment(&product, 1, 10_000)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fine.covering_licences, vec![licence.name.clone()]);
    assert!(fine.licence_required);

    // Suspended, then revoked: not active.
    let mut bob = app.regulator("bob@regulator", &["senior_reviewer"]);
    let current = licence_now(&mut officer, &licence.name).await;
    let suspended = bob
        .suspend_licence(pb::SuspendLicenceRequest {
            name: licence.name.clone(),
            request_id: request_id(),
            etag: current.etag.clone(),
            reason: "end user under investigation".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(suspended.state, pb::LicenceState::Suspended as i32);
    let status = assert_code(
        start(&mut client, named(shipment(&product, 1, 10_000))).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "LICENCE_NOT_ACTIVE");
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let status = assert_code(
        alice
            .reinstate_licence(pb::ReinstateLicenceRequest {
                name: licence.name.clone(),
                request_id: request_id(),
                etag: suspended.etag.clone(),
                reason: "cleared".into(),
            })
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(reason(&status), "ROLE_NOT_ALLOWED");
    let revoked = bob
        .revoke_licence(pb::RevokeLicenceRequest {
            name: licence.name.clone(),
            request_id: request_id(),
            etag: suspended.etag.clone(),
            reason: "end user diverted goods".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, pb::LicenceState::Revoked as i32);
    let status = assert_code(
        start(&mut client, named(shipment(&product, 1, 10_000))).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "LICENCE_NOT_ACTIVE");
    let history = app.store.history(&licence.name, None).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["licence.issued", "licence.suspended", "licence.revoked"]
    );

    // Expiry: once validity has ended, the sweep marks the licence EXPIRED, exactly once.
    let (product, expiring) = licensed(&app, "globex", 5).await;
    let after_validity = Utc::now() + chrono::Duration::days(5 * 366);
    assert_eq!(
        app.store
            .expire_due_licences(after_validity, 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.store
            .expire_due_licences(after_validity, 100)
            .await
            .unwrap(),
        0
    );
    let mut globex = app.applicant("globex");
    assert_eq!(
        licence_now(&mut globex, &expiring.name).await.state,
        pb::LicenceState::Expired as i32
    );
    let mut globex_erp = erp(&app, "globex");
    let mut s = shipment(&product, 1, 10_000);
    s.licence = expiring.name.clone();
    let status = assert_code(start(&mut globex_erp, s).await, Code::FailedPrecondition);
    assert_eq!(reason(&status), "LICENCE_NOT_ACTIVE");
}

async fn no_licence_required_is_recorded_and_a_required_one_is_named(_db: &TestDb, app: TestApp) {
    let mut officer = app.applicant("acme");
    let product = create_product(&mut officer).await;
    let mut client = erp(&app, "acme");
    let mut to_germany = shipment(&product.name, 5, 50_000);
    to_germany.destination_country_code = "DE".into();
    to_germany.end_user = Some(pb::Party {
        display_name: "Beispiel GmbH".into(),
        country_code: "DE".into(),
        headquarters_country_code: "DE".into(),
        ..Default::default()
    });
    let nlr = start(&mut client, to_germany).await.unwrap();
    assert!(nlr.no_licence_required);
    assert!(nlr.licence.is_empty());
    assert_eq!(
        nlr.determinations[0].consulted[0].key,
        "us-advanced-computing"
    );
    assert_eq!(
        nlr.determinations[0].consulted[0].version,
        crate::policy::BUILT_IN_VERSIONS
    );
    let status = assert_code(
        start(&mut client, shipment(&product.name, 5, 50_000)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "LICENCE_REQUIRED");
    assert!(
        status.message().contains("h20-class-china-d5"),
        "{}",
        status.message()
    );
}

async fn another_organisation_can_neither_see_nor_deplete_a_licence(_db: &TestDb, app: TestApp) {
    let (product, licence) = licensed(&app, "acme", 10).await;
    let mut globex = app.applicant("globex");
    assert_code(
        globex
            .get_licence(pb::GetLicenceRequest {
                name: licence.name.clone(),
            })
            .await,
        Code::NotFound,
    );
    let mut globex_erp = erp(&app, "globex");
    let globex_product = create_product(&mut globex).await;
    let mut s = shipment(&globex_product.name, 1, 10_000);
    s.licence = licence.name.clone();
    assert_code(start(&mut globex_erp, s).await, Code::NotFound);
    // Nor can it ship acme's product.
    let status = assert_code(
        start(&mut globex_erp, shipment(&product, 1, 10_000)).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        crate::fixtures::violated_fields(&status),
        ["shipment.lines[0].product"]
    );
    let mut acme = app.applicant("acme");
    assert_eq!(
        licence_now(&mut acme, &licence.name).await.lines[0].remaining_quantity,
        10
    );
}

on_both_databases!(
    quantities_deplete_exactly_and_value_tolerance_is_enforced,
    concurrent_shipments_never_over_ship,
    retries_ship_once_and_cancelling_restores_once,
    every_refusal_has_its_own_reason,
    no_licence_required_is_recorded_and_a_required_one_is_named,
    another_organisation_can_neither_see_nor_deplete_a_licence,
);

/// Kills the server process twice at random points of a stream of 1,000 one-unit shipments
/// against one licence, then checks the ledger: remaining = granted − Σ committed shipments.
async fn killing_the_server_mid_stream_keeps_the_ledger_exact(db: &TestDb, mut app: TestApp) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const TOTAL: usize = 1000;
    let (product, licence) = licensed(&app, "acme", 2000).await;
    let token = app.token(&["erp"], Some("acme"));
    app.stop().await;
    let key_dir = app.key_dir();
    let attempted = Arc::new(AtomicUsize::new(0));
    // Two kills at random points of the stream.
    let seed = uuid::Uuid::now_v7().as_u128();
    let kills = [
        100 + (seed % 350) as usize,
        500 + ((seed >> 16) % 350) as usize,
    ];
    for kill_at in kills {
        let (mut child, addr) = crate::durability::spawn_child_server(db, &key_dir);
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut writers = Vec::new();
        for _ in 0..4 {
            let mut client = ShipmentServiceClient::with_interceptor(
                channel.clone(),
                clearance_tests::Bearer::new(Some(token.clone())),
            );
            let attempted = attempted.clone();
            let s = shipment(&product, 1, 100);
            writers.push(tokio::spawn(async move {
                while attempted.fetch_add(1, Ordering::SeqCst) < TOTAL {
                    if start(&mut client, s.clone()).await.is_err() {
                        return;
                    }
                }
            }));
        }
        while attempted.load(Ordering::SeqCst) < kill_at {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        for w in writers {
            w.await.unwrap();
        }
        // Calls cut off by the kill may or may not have committed; the ledger must agree
        // with whatever did.
        let seen = attempted.load(Ordering::SeqCst).min(TOTAL);
        attempted.store(seen, Ordering::SeqCst);
    }
    let restarted = TestApp::spawn_on(db, Some(&app)).await;
    let mut client = erp(&restarted, "acme");
    while attempted.fetch_add(1, Ordering::SeqCst) < TOTAL {
        start(&mut client, shipment(&product, 1, 100))
            .await
            .unwrap();
    }
    let mut officer = restarted.applicant("acme");
    let after = licence_now(&mut officer, &licence.name).await;
    let mut shipped = 0;
    let mut token = String::new();
    loop {
        let page = client
            .list_shipments(pb::ListShipmentsRequest {
                filter: format!(r#"licence = "{}" AND state = STARTED"#, licence.name),
                page_size: 500,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        shipped += page
            .shipments
            .iter()
            .map(|s| s.lines[0].quantity)
            .sum::<i64>();
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let line = &after.lines[0];
    assert_eq!(line.remaining_quantity, line.granted_quantity - shipped);
    let remaining_value = line.remaining_value.as_ref().unwrap().minor_units;
    let granted_value = line.granted_value.as_ref().unwrap().minor_units;
    assert_eq!(remaining_value, granted_value - shipped * 100);
    assert!(
        shipped >= (TOTAL - 8) as i64,
        "only calls cut off by the kills may be missing: {shipped}"
    );
}

mod killed {
    use super::*;

    on_both_databases!(killing_the_server_mid_stream_keeps_the_ledger_exact);
}

/// Every regulator role lists and reads every holder's licences, filtered; a senior reviewer
/// suspends one with the etag the list showed, and a second suspension with that etag is
/// refused as stale.
async fn regulators_see_every_holders_licences(_db: &TestDb, app: TestApp) {
    let (_, acme) = licensed(&app, "acme", 100).await;
    let (_, globex) = licensed(&app, "globex", 50).await;
    let list = |filter: &str, client: &mut clearance_tests::ReviewClient| {
        let mut client = client.clone();
        let filter = filter.to_owned();
        async move {
            client
                .list_all_licences(pb::ListAllLicencesRequest {
                    filter,
                    ..Default::default()
                })
                .await
                .map(|r| {
                    r.into_inner()
                        .licences
                        .into_iter()
                        .map(|l| l.name)
                        .collect::<Vec<_>>()
                })
        }
    };
    for role in ["reviewer", "senior_reviewer", "policy_admin", "auditor"] {
        let mut client = app.regulator(&format!("{role}@regulator"), &[role]);
        let all = list("", &mut client).await.unwrap();
        assert_eq!(all, [acme.name.clone(), globex.name.clone()], "{role}");
        let got = client
            .get_any_licence(pb::GetAnyLicenceRequest {
                name: globex.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.holder, "organisations/globex");
    }
    let mut bob = app.regulator("bob@regulator", &["senior_reviewer"]);
    for (filter, expected) in [
        (r#"organisation = "acme""#, vec![acme.name.clone()]),
        (
            "organisation = organisations/globex",
            vec![globex.name.clone()],
        ),
        (
            &format!(r#"application = "{}""#, globex.application) as &str,
            vec![globex.name.clone()],
        ),
        (
            r#"state = ACTIVE AND expiring_before = "2100-01-01""#,
            vec![acme.name.clone(), globex.name.clone()],
        ),
        (r#"expiring_before = "2000-01-01""#, vec![]),
    ] {
        assert_eq!(list(filter, &mut bob).await.unwrap(), expected, "{filter}");
    }
    for bad in [
        r#"expiring_before = "soon""#,
        r#"organisation = "Not An Org!""#,
        "application = licences/x",
        "holder = acme",
    ] {
        let status = list(bad, &mut bob).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad}: {status:?}");
    }
    let missing = bob
        .get_any_licence(pb::GetAnyLicenceRequest {
            name: format!("licences/{}", uuid::Uuid::now_v7()),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Every holder's shipments, by licence: each holder ships under its own.
    let acme_shipped = start(
        &mut erp(&app, "acme"),
        shipment(&acme.lines[0].product, 5, 50_000),
    )
    .await
    .unwrap();
    let globex_shipped = start(
        &mut erp(&app, "globex"),
        shipment(&globex.lines[0].product, 7, 70_000),
    )
    .await
    .unwrap();
    let shipments = |filter: String| {
        let mut client = app.regulator("audrey@regulator", &["auditor"]);
        async move {
            client
                .list_all_shipments(pb::ListAllShipmentsRequest {
                    filter,
                    ..Default::default()
                })
                .await
                .map(|r| {
                    r.into_inner()
                        .shipments
                        .into_iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                })
        }
    };
    assert_eq!(
        shipments(String::new()).await.unwrap(),
        [acme_shipped.name.clone(), globex_shipped.name.clone()]
    );
    assert_eq!(
        shipments(format!(r#"licence = "{}""#, globex.name))
            .await
            .unwrap(),
        vec![globex_shipped.name]
    );
    assert_eq!(
        shipments(format!(
            r#"licence = "{}" AND state = SHIPMENT_STATE_CANCELLED"#,
            acme.name
        ))
        .await
        .unwrap(),
        Vec::<String>::new()
    );
    for bad in [
        "licence = applications/x",
        "holder = acme",
        "state = SHIPPED",
    ] {
        let status = shipments(bad.into()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad}: {status:?}");
    }
    // An exporter's own listing stays its own, and its page tokens open no one else's.
    start(
        &mut erp(&app, "acme"),
        shipment(&acme.lines[0].product, 1, 10_000),
    )
    .await
    .unwrap();
    let exporter_page = erp(&app, "acme")
        .list_shipments(pb::ListShipmentsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exporter_page.shipments.len(), 1);
    let status = app
        .regulator("audrey@regulator", &["auditor"])
        .list_all_shipments(pb::ListAllShipmentsRequest {
            page_token: exporter_page.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // Suspend with what the list printed.
    let listed = bob
        .list_all_licences(pb::ListAllLicencesRequest {
            filter: r#"organisation = "acme""#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .licences
        .remove(0);
    let suspend = |etag: String| pb::SuspendLicenceRequest {
        name: listed.name.clone(),
        request_id: request_id(),
        etag,
        reason: "end user under investigation".into(),
    };
    let suspended = bob
        .suspend_licence(suspend(listed.etag.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(suspended.state, pb::LicenceState::Suspended as i32);
    assert_eq!(
        list("state = SUSPENDED", &mut bob).await.unwrap(),
        std::slice::from_ref(&acme.name)
    );
    let stale = bob
        .suspend_licence(suspend(listed.etag.clone()))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
}

/// People's references find resources through the list filters: an application's reference
/// (for its holder, and for the regulator in any state), a licence's number, a product's part
/// number and a shipment's ERP reference; a malformed reference is invalid input.
async fn human_references_find_what_they_name(_db: &TestDb, app: TestApp) {
    let (product, licence) = licensed(&app, "acme", 100).await;
    let mut officer = app.applicant("acme");
    let mut client = erp(&app, "acme");
    let started = start(&mut client, shipment(&product, 1, 10_000))
        .await
        .unwrap();
    let application = officer
        .get_application(pb::GetApplicationRequest {
            name: licence.application.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let reference = application.reference.to_lowercase(); // any case will do
    let mine = officer
        .list_applications(pb::ListApplicationsRequest {
            filter: format!(r#"reference = "{reference}""#),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .applications;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].name, licence.application);
    // The case is approved, so outside the default queue; its reference still finds it.
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let cases = alice
        .list_cases(pb::ListCasesRequest {
            filter: format!(r#"reference = "{}""#, application.reference),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(cases.len(), 1);
    let numbered = officer
        .list_licences(pb::ListLicencesRequest {
            filter: format!(r#"number = "{}""#, licence.number),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .licences;
    assert_eq!(numbered.len(), 1);
    let part = officer
        .list_products(pb::ListProductsRequest {
            filter: r#"part_number = "900-2G133-0000-000""#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .products;
    assert!(part.iter().any(|p| p.name == product), "{part:?}");
    let shipped = client
        .list_shipments(pb::ListShipmentsRequest {
            filter: r#"erp_reference = "SO-4711""#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shipments;
    assert_eq!(shipped.len(), 1);
    assert_eq!(shipped[0].name, started.name);
    // Another organisation's reference finds nothing.
    let other = app
        .applicant("globex")
        .list_applications(pb::ListApplicationsRequest {
            filter: format!(r#"reference = "{}""#, application.reference),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .applications;
    assert!(other.is_empty());
    let bad = officer
        .list_applications(pb::ListApplicationsRequest {
            filter: r#"reference = "CL-26-1""#.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

/// The holder's compliance officer surrenders a licence with the etag read: nothing more
/// ships under it; another organisation cannot find it, and a second surrender is refused.
async fn a_holder_surrenders_its_licence(_db: &TestDb, app: TestApp) {
    let (product, licence) = licensed(&app, "acme", 100).await;
    let mut officer = app.applicant("acme");
    let surrender = |etag: &str| pb::SurrenderLicenceRequest {
        name: licence.name.clone(),
        request_id: request_id(),
        etag: etag.to_owned(),
        reason: "the customer cancelled the order".into(),
    };
    let status = assert_code(
        app.applicant("globex")
            .surrender_licence(surrender(&licence.etag))
            .await,
        Code::NotFound,
    );
    assert!(!status.message().contains("acme"));
    let surrendered = officer
        .surrender_licence(surrender(&licence.etag))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(surrendered.state, pb::LicenceState::Surrendered as i32);
    assert_code(
        officer.surrender_licence(surrender(&licence.etag)).await,
        Code::Aborted,
    );
    let status = assert_code(
        officer
            .surrender_licence(surrender(&surrendered.etag))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "INVALID_TRANSITION");
    let mut client = erp(&app, "acme");
    let status = assert_code(
        start(
            &mut client,
            pb::Shipment {
                licence: licence.name.clone(),
                ..shipment(&product, 1, 10_000)
            },
        )
        .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "LICENCE_NOT_ACTIVE");
    let history = app.store.history(&licence.name, None).await.unwrap();
    assert_eq!(history.last().unwrap().action, "licence.surrendered");
    assert_eq!(
        history.last().unwrap().reason,
        "the customer cancelled the order"
    );
}

/// An exporter reads the history of its own application and licence as its event stream
/// tells it: its own steps and the regulator's decisions, not the deliberation (assignment,
/// proposal), never a staff name, and no one else's records.
async fn exporters_read_their_own_history_without_the_deliberation(_db: &TestDb, app: TestApp) {
    let (_, licence) = licensed(&app, "acme", 100).await;
    let mut officer = app.applicant("acme");
    let history = |resource: &str| pb::ListHistoryRequest {
        resource: resource.to_owned(),
        ..Default::default()
    };
    let entries = officer
        .list_history(history(&licence.application))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "application.created",
            "application.submitted",
            "case.decision_countersigned"
        ],
        "{entries:?}"
    );
    let decided = entries.last().unwrap();
    assert_eq!(decided.actor, "the regulator");
    assert!(decided.entry_sha256.is_empty());
    assert_eq!(
        decided.sequence, 5,
        "the record's own numbering: 3 and 4 were the regulator's"
    );
    // The ERP system of the same organisation reads it too.
    let mut erp_reader = app.applications_with(Some(app.token(&["erp"], Some("acme"))));
    let erp_entries = erp_reader
        .list_history(history(&licence.application))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(erp_entries.len(), entries.len());
    let licence_entries = officer
        .list_history(history(&licence.name))
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(licence_entries[0].action, "licence.issued");
    assert_eq!(licence_entries[0].actor, "the regulator");
    // Regulators still read every entry, with its hashes.
    let full = app
        .regulator("audrey@regulator", &["auditor"])
        .get_history(pb::GetHistoryRequest {
            resource: licence.application.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(full.len(), 5);
    assert!(full.iter().all(|e| !e.entry_sha256.is_empty()));
    // Another organisation's record, or the regulator's own, is not found.
    let mut globex = app.applicant("globex");
    assert_code(
        globex.list_history(history(&licence.application)).await,
        Code::NotFound,
    );
    assert_code(
        officer
            .list_history(history(&format!("ruleSets/{}", uuid::Uuid::now_v7())))
            .await,
        Code::NotFound,
    );
    assert_code(
        officer.list_history(history("cases/1")).await,
        Code::InvalidArgument,
    );
}

/// Surrenders released together: identical retries of one request have one effect and one
/// answer; different requests on the same etag let exactly one through.
async fn concurrent_surrenders_have_one_effect(_db: &TestDb, app: TestApp) {
    let (_, licence) = licensed(&app, "acme", 100).await;
    let retried = request_id();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut calls = Vec::new();
    for i in 0..16 {
        let mut officer = app.applicant("acme");
        let barrier = barrier.clone();
        let request = pb::SurrenderLicenceRequest {
            name: licence.name.clone(),
            // Half retry one request; half are different requests on the same etag.
            request_id: if i % 2 == 0 {
                retried.clone()
            } else {
                request_id()
            },
            etag: licence.etag.clone(),
            reason: "order cancelled".into(),
        };
        calls.push(tokio::spawn(async move {
            barrier.wait().await;
            (i % 2 == 0, officer.surrender_licence(request).await)
        }));
    }
    let mut retry_answers = Vec::new();
    let mut others_ok = 0;
    for call in calls {
        match call.await.unwrap() {
            (true, Ok(r)) => retry_answers.push(r.into_inner()),
            (true, Err(status)) => {
                // A retry that arrives while its twin is still running is told to retry.
                assert_eq!(status.code(), Code::Aborted, "{status:?}");
            }
            (false, Ok(_)) => others_ok += 1,
            (false, Err(status)) => assert!(
                matches!(status.code(), Code::Aborted | Code::FailedPrecondition),
                "{status:?}"
            ),
        }
    }
    assert!(retry_answers.windows(2).all(|w| w[0] == w[1]), "one answer");
    assert_eq!(
        usize::from(!retry_answers.is_empty()) + others_ok,
        1,
        "exactly one surrender took effect"
    );
    let history = app.store.history(&licence.name, None).await.unwrap();
    let surrenders = history
        .iter()
        .filter(|e| e.action == "licence.surrendered")
        .count();
    assert_eq!(surrenders, 1);
}

mod regulator_views {
    use super::*;

    on_both_databases!(
        concurrent_surrenders_have_one_effect,
        regulators_see_every_holders_licences,
        human_references_find_what_they_name,
        a_holder_surrenders_its_licence,
        exporters_read_their_own_history_without_the_deliberation
    );
}

/// The fewest SQL statements one of three StartShipment calls sends (so a background sweep
/// cannot inflate the count).
async fn fewest_statements(app: &TestApp, client: &mut ErpClient, shipment: &pb::Shipment) -> u64 {
    let mut fewest = u64::MAX;
    for _ in 0..3 {
        let before = app.store.statements_sent();
        start(client, shipment.clone()).await.unwrap();
        fewest = fewest.min(app.store.statements_sent() - before);
    }
    fewest
}

/// Counts the SQL statements of StartShipment, under a named licence and with Clearance
/// picking the licence from several the exporter holds.
async fn a_shipment_sends_few_statements(db: &TestDb, app: TestApp) {
    // The licence that covers is issued last, so it comes last in expiry order.
    for _ in 0..3 {
        licensed(&app, "acme", 100).await;
    }
    let (product, licence) = licensed(&app, "acme", 100).await;
    let mut client = erp(&app, "acme");
    let named = pb::Shipment {
        licence: licence.name.clone(),
        ..shipment(&product, 1, 10_000)
    };
    start(&mut client, named.clone()).await.unwrap(); // warms the rule book
    let named = fewest_statements(&app, &mut client, &named).await;
    let unnamed = fewest_statements(&app, &mut client, &shipment(&product, 1, 10_000)).await;
    println!(
        "StartShipment on {:?} sent {named} SQL statements with the licence named, {unnamed} without",
        db.backend
    );
    // SQLite runs in-process, where a statement costs no round trip; there writes are not
    // batched into one statement, and the audit log's indexes are given before COMMIT (four
    // statements more). PostgreSQL gives them in the background, after the call.
    let budget = match db.backend {
        Backend::Postgres => 10,
        Backend::Sqlite => 20,
    };
    assert!(named <= budget, "{named} statements with the licence named");
    assert!(
        unnamed <= named + 1,
        "{unnamed} statements without a licence named: picking one costs one query, not one per licence"
    );
}

mod statement_count {
    use super::*;

    on_both_databases!(a_shipment_sends_few_statements);
}
