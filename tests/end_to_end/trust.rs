//! Trust boundaries: hostile criteria, overflowing values, edited products, backdated
//! shipments, what exporters' streams carry, concurrent duplicates and the queue's paging.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use clearance_grpc::Clock;
use clearance_proto::v1 as pb;
use clearance_proto::v1::event_service_client::EventServiceClient;
use clearance_tests::{Backend, Bearer, TestApp, TestDb, on_both_databases};
use tokio::sync::Barrier;
use tokio_stream::StreamExt;
use tonic::Code;

use crate::fixtures::{
    assert_code, assign_to_self, create_application, create_product, draft, line, propose_approval,
    reason, request_id, submit, violated_fields,
};
use crate::ledger::{erp, licensed, shipment, start};
use crate::policy::{BUILT_IN_VERSIONS, latest_catalogue_draft};

on_both_databases!(
    hostile_criteria_are_refused_and_the_server_lives,
    an_overflowing_line_is_refused_when_created,
    a_product_a_licence_rests_on_keeps_its_parameters,
    shipments_cannot_be_dated_into_another_rule_regime,
    exporters_receive_decisions_never_deliberations,
    identical_shipments_released_together_take_effect_once,
    identical_cancellations_released_together_restore_once,
    the_queue_pages_through_every_submitted_case_once,
    shipments_filter_by_their_date,
    a_replay_belongs_to_the_caller_who_made_it,
    a_submission_racing_an_edit_is_judged_on_what_it_commits,
    shipments_need_the_end_users_headquarters,
    documented_filters_select_what_they_say,
    identical_publishes_released_together_publish_once,
);

pub async fn health_is_serving(app: &TestApp) {
    for channel in [&app.application_channel, &app.reviewer_channel] {
        assert_eq!(
            clearance_tests::health(channel, "").await,
            tonic_health::pb::health_check_response::ServingStatus::Serving
        );
    }
}

async fn hostile_criteria_are_refused_and_the_server_lives(_db: &TestDb, app: TestApp) {
    let deep = format!("{}tpp >= 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let huge = "tpp >= 1 || ".repeat(90_000) + "tpp >= 1";
    // Every regulator role reaches AnalyzeImpact; only the policy administrator publishes.
    let mut admin = app.policies_with(Some(app.token(&["policy_admin"], None)));
    let mut auditor = app.policies_with(Some(app.token(&["auditor"], None)));
    for criterion in [deep, huge] {
        let mut draft = latest_catalogue_draft();
        draft.effective_time = Some(prost_types::Timestamp {
            seconds: Utc
                .with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp(),
            nanos: 0,
        });
        draft.rules[0].criterion = criterion;
        let status = assert_code(
            admin
                .publish_rule_set(pb::PublishRuleSetRequest {
                    request_id: request_id(),
                    rule_set: Some(draft.clone()),
                })
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), ["rule_set.rules[0].criterion"]);
        assert!(status.message().len() < 2_000, "the reply quotes too much");
        let status = assert_code(
            auditor
                .analyze_impact(pb::AnalyzeImpactRequest {
                    rule_set: Some(draft),
                    page_size: 10,
                    page_token: String::new(),
                })
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), ["rule_set.rules[0].criterion"]);
    }
    health_is_serving(&app).await;
}

async fn an_overflowing_line_is_refused_when_created(_db: &TestDb, app: TestApp) {
    let mut officer = app.applicant("acme");
    let product = create_product(&mut officer).await;
    let mut application = draft(&product.name);
    application.lines = vec![pb::ApplicationLine {
        unit_value: Some(pb::Money {
            currency_code: "USD".into(),
            minor_units: 10_000_000_000_000,
        }),
        ..line(&product.name, 1_000_000_000)
    }];
    let status = assert_code(
        officer
            .create_application(pb::CreateApplicationRequest {
                request_id: request_id(),
                application: Some(application),
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        ["application.lines[0].unit_value.minor_units"]
    );
}

async fn a_product_a_licence_rests_on_keeps_its_parameters(_db: &TestDb, app: TestApp) {
    let (product_name, licence) = licensed(&app, "acme", 10).await;
    let mut officer = app.applicant("acme");
    let product = officer
        .get_product(pb::GetProductRequest {
            name: product_name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    // Below every 2025 threshold: were this accepted, China would need no licence.
    let mut lowered = product.clone();
    lowered.parameters = Some(pb::TechnicalParameters {
        total_processing_performance: Some(100),
        die_area_mm2: Some(814),
        memory_bandwidth_gbps: Some(100),
        io_bandwidth_gbps: Some(100),
        performance_density: 0.0,
    });
    let status = assert_code(
        officer
            .update_product(pb::UpdateProductRequest {
                request_id: request_id(),
                product: Some(lowered),
                update_mask: None,
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "PRODUCT_IN_USE");
    // The name may still change.
    let mut renamed = product.clone();
    renamed.display_name = "H20 (renamed)".into();
    officer
        .update_product(pb::UpdateProductRequest {
            request_id: request_id(),
            product: Some(renamed),
            update_mask: None,
        })
        .await
        .expect("a rename is allowed");
    // The next shipment to the same end user still draws on the licence.
    let mut client = erp(&app, "acme");
    let shipped = start(&mut client, shipment(&product_name, 4, 40_000))
        .await
        .unwrap();
    assert!(!shipped.no_licence_required);
    assert_eq!(shipped.licence, licence.name);
    // ... and the licence's etag moved with its balance.
    let after = officer
        .get_licence(pb::GetLicenceRequest {
            name: licence.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.lines[0].remaining_quantity, 6);
    assert_ne!(
        after.etag, licence.etag,
        "the etag changes with the balance"
    );
}

async fn a_replay_belongs_to_the_caller_who_made_it(_db: &TestDb, app: TestApp) {
    let mut officer = app.applicant("acme");
    let product = create_product(&mut officer).await;
    let created = create_application(&mut officer, &product.name).await;
    let submitted = submit(&mut officer, &created).await;
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let case = assign_to_self(&mut alice, &submitted).await;
    let case = propose_approval(&mut alice, &case, "verified").await;
    let countersign = pb::CountersignDecisionRequest {
        name: case.name.clone(),
        request_id: request_id(),
        etag: case.etag,
    };
    let mut bob = app.regulator("bob@regulator", &["senior_reviewer"]);
    let signed = bob.countersign_decision(countersign.clone()).await.unwrap();
    assert_eq!(
        bob.countersign_decision(countersign.clone())
            .await
            .unwrap()
            .into_inner(),
        signed.into_inner()
    );
    // An auditor resending it is refused for its role, before any replay.
    let mut audrey = app.regulator("audrey@regulator", &["auditor"]);
    let status = assert_code(
        audrey.countersign_decision(countersign.clone()).await,
        Code::PermissionDenied,
    );
    assert_eq!(reason(&status), "ROLE_NOT_ALLOWED");
    // Another senior reviewer's identical request is a request of its own, not Bob's reply.
    let mut carol = app.regulator("carol@regulator", &["senior_reviewer"]);
    assert_code(carol.countersign_decision(countersign).await, Code::Aborted);
}

async fn a_submission_racing_an_edit_is_judged_on_what_it_commits(db: &TestDb, app: TestApp) {
    for _ in 0..rounds(db) {
        let mut officer = app.applicant("acme");
        let product = create_product(&mut officer).await;
        let created = create_application(&mut officer, &product.name).await;
        let mut lowered = product.clone();
        lowered.parameters = Some(pb::TechnicalParameters {
            total_processing_performance: Some(100),
            die_area_mm2: Some(814),
            memory_bandwidth_gbps: Some(100),
            io_bandwidth_gbps: Some(100),
            performance_density: 0.0,
        });
        let barrier = Arc::new(Barrier::new(2));
        let submit = {
            let mut officer = officer.clone();
            let barrier = barrier.clone();
            let request = pb::SubmitApplicationRequest {
                name: created.name.clone(),
                request_id: request_id(),
                etag: created.etag.clone(),
                declaration_confirmed: true,
            };
            tokio::spawn(async move {
                barrier.wait().await;
                officer.submit_application(request).await
            })
        };
        let edit = {
            let mut officer = officer.clone();
            let request = pb::UpdateProductRequest {
                request_id: request_id(),
                product: Some(lowered),
                update_mask: None,
            };
            tokio::spawn(async move {
                barrier.wait().await;
                officer.update_product(request).await
            })
        };
        let (submitted, edited) = (submit.await.unwrap(), edit.await.unwrap());
        match (&submitted, &edited) {
            // The edit came first: the submission must have been judged on the edited part.
            (Ok(application), Ok(_)) => {
                let determination = application.get_ref().lines[0].determination.as_ref();
                assert!(
                    !determination.unwrap().licence_required,
                    "the submission was judged on parameters the product no longer has"
                );
            }
            (Ok(_), Err(status)) => assert_eq!(reason(status), "PRODUCT_IN_USE"),
            (Err(status), Ok(_)) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
            (Err(a), Err(b)) => panic!("both failed: {a:?} {b:?}"),
        }
    }
}

async fn shipments_need_the_end_users_headquarters(_db: &TestDb, app: TestApp) {
    let mut officer = app.applicant("acme");
    let product = create_product(&mut officer).await;
    let mut client = erp(&app, "acme");
    let mut anonymous = shipment(&product.name, 1, 10_000);
    anonymous
        .end_user
        .as_mut()
        .unwrap()
        .headquarters_country_code
        .clear();
    let status = assert_code(
        client
            .check_shipment(pb::CheckShipmentRequest {
                shipment: Some(anonymous.clone()),
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        ["shipment.end_user.headquarters_country_code"]
    );
    assert_code(start(&mut client, anonymous).await, Code::InvalidArgument);
}

async fn shipments_cannot_be_dated_into_another_rule_regime(_db: &TestDb, app: TestApp) {
    let mut officer = app.applicant("acme");
    let product = create_product(&mut officer).await;
    let mut client = erp(&app, "acme");
    // Before the April 2025 rules, recorded today: outside the window.
    let mut backdated = shipment(&product.name, 1, 10_000);
    backdated.shipment_time = Some(prost_types::Timestamp {
        seconds: Utc
            .with_ymd_and_hms(2025, 3, 31, 12, 0, 0)
            .unwrap()
            .timestamp(),
        nanos: 0,
    });
    let status = assert_code(start(&mut client, backdated).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["shipment.shipment_time"]);
    let mut out_of_range = shipment(&product.name, 1, 10_000);
    out_of_range.shipment_time = Some(prost_types::Timestamp {
        seconds: i64::MAX,
        nanos: -1,
    });
    assert_code(
        start(&mut client, out_of_range).await,
        Code::InvalidArgument,
    );

    // Inside the window across the April 2025 change: the stricter rules apply.
    let today = app.clock.now();
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 4, 15, 2, 0, 0).unwrap());
    let mut across = shipment(&product.name, 1, 10_000);
    across.shipment_time = Some(prost_types::Timestamp {
        seconds: Utc
            .with_ymd_and_hms(2025, 4, 14, 20, 0, 0)
            .unwrap()
            .timestamp(),
        nanos: 0,
    });
    let check = client
        .check_shipment(pb::CheckShipmentRequest {
            shipment: Some(across.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(check.licence_required);
    let versions: Vec<i64> = check.determinations[0]
        .consulted
        .iter()
        .map(|c| c.version)
        .collect();
    assert!(
        versions.contains(&1) && versions.contains(&2),
        "both regimes are recorded: {versions:?}"
    );
    let status = assert_code(start(&mut client, across).await, Code::FailedPrecondition);
    assert_eq!(reason(&status), "LICENCE_REQUIRED");
    app.clock.set(today);
}

async fn exporters_receive_decisions_never_deliberations(_db: &TestDb, app: TestApp) {
    let mut officer = app.applicant("acme");
    let product = create_product(&mut officer).await;
    let created = create_application(&mut officer, &product.name).await;
    let submitted = submit(&mut officer, &created).await;
    let mut alice = app.regulator("alice.caseworker@regulator", &["reviewer"]);
    let mut bob = app.regulator("bob.countersigner@regulator", &["senior_reviewer"]);
    let name = submitted.name.clone();
    let case = assign_to_self(&mut alice, &submitted).await;
    let case = alice
        .add_note(pb::AddNoteRequest {
            name: name.clone(),
            request_id: request_id(),
            etag: case.etag,
            text: "SECRET-NOTE: the end user's parent is on a watch list".into(),
            visible_to_applicant: false,
        })
        .await
        .unwrap()
        .into_inner();
    let propose = |etag: String, reason: &str| pb::ProposeDecisionRequest {
        name: name.clone(),
        request_id: request_id(),
        etag,
        approve: true,
        reason: reason.into(),
        granted_quantities: vec![80],
        conditions: vec!["No re-export".into()],
        validity_months: 0,
        value_tolerance_percent: Some(25),
        justification: String::new(),
    };
    let case = alice
        .propose_decision(propose(case.etag, "SECRET-PROPOSAL-REASON"))
        .await
        .unwrap()
        .into_inner();
    let case = bob
        .reject_proposal(pb::RejectProposalRequest {
            name: name.clone(),
            request_id: request_id(),
            etag: case.etag,
            reason: "SECRET-REJECTION: check the parent company".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let case = alice
        .propose_decision(propose(case.etag, "Verified end use"))
        .await
        .unwrap()
        .into_inner();
    bob.countersign_decision(pb::CountersignDecisionRequest {
        name: name.clone(),
        request_id: request_id(),
        etag: case.etag,
    })
    .await
    .unwrap();

    let read = |channel: tonic::transport::Channel, token: String| async move {
        let mut client = EventServiceClient::with_interceptor(channel, Bearer::new(Some(token)));
        let mut stream = client
            .watch_events(pb::WatchEventsRequest {
                after_cursor: String::new(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut events = Vec::new();
        while let Ok(Some(Ok(event))) =
            tokio::time::timeout(Duration::from_millis(1500), stream.next()).await
        {
            events.push(event);
        }
        events
    };
    let exporter = read(
        app.application_channel.clone(),
        app.token(&["applicant"], Some("acme")),
    )
    .await;
    let types: Vec<&str> = exporter.iter().map(|e| e.r#type.as_str()).collect();
    assert!(types.contains(&"application.submitted"), "{types:?}");
    assert!(types.contains(&"case.decision_countersigned"), "{types:?}");
    assert!(types.contains(&"licence.issued"), "{types:?}");
    for hidden in [
        "case.assigned",
        "case.note_added",
        "case.decision_proposed",
        "case.proposal_rejected",
    ] {
        assert!(!types.contains(&hidden), "{hidden} reached the exporter");
    }
    let serialized = format!("{exporter:?}");
    for secret in [
        "alice.caseworker",
        "bob.countersigner",
        "SECRET-NOTE",
        "SECRET-PROPOSAL-REASON",
        "SECRET-REJECTION",
        "text_sha256",
    ] {
        assert!(
            !serialized.contains(secret),
            "{secret} reached the exporter"
        );
    }
    let decided = exporter
        .iter()
        .find(|e| e.r#type == "case.decision_countersigned")
        .unwrap();
    assert!(decided.payload_json.contains("No re-export"));
    assert!(decided.payload_json.contains("Verified end use"));

    // The regulator's stream keeps everything.
    let regulator = read(app.reviewer_channel.clone(), app.token(&["auditor"], None)).await;
    let types: Vec<&str> = regulator.iter().map(|e| e.r#type.as_str()).collect();
    for internal in ["case.assigned", "case.note_added", "case.proposal_rejected"] {
        assert!(
            types.contains(&internal),
            "{internal} missing for regulators"
        );
    }
}

fn rounds(db: &TestDb) -> usize {
    match db.backend {
        Backend::Postgres => 20,
        Backend::Sqlite => 5,
    }
}

/// Sends `request` `copies` times at once, released together by a barrier.
async fn together<T, F, Fut>(copies: usize, call: F) -> Vec<Result<T, tonic::Status>>
where
    T: Send + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(copies));
    let mut tasks = Vec::new();
    for _ in 0..copies {
        let barrier = barrier.clone();
        let call = call();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            call.await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Every call succeeded with the same reply; that reply.
fn one_identical_reply<T: PartialEq + std::fmt::Debug>(
    results: Vec<Result<T, tonic::Status>>,
) -> T {
    let mut replies = results
        .into_iter()
        .map(|r| r.expect("every identical call succeeds"));
    let first = replies.next().expect("at least one call");
    for other in replies {
        assert_eq!(other, first, "identical replies");
    }
    first
}

async fn identical_shipments_released_together_take_effect_once(db: &TestDb, app: TestApp) {
    for _ in 0..rounds(db) {
        let (product, licence) = licensed(&app, "acme", 10).await;
        let request = pb::StartShipmentRequest {
            request_id: request_id(),
            shipment: Some(pb::Shipment {
                licence: licence.name.clone(),
                ..shipment(&product, 10, 100_000)
            }),
        };
        let results = together(8, || {
            let mut client = erp(&app, "acme");
            let request = request.clone();
            async move { client.start_shipment(request).await.map(|r| r.into_inner()) }
        })
        .await;
        one_identical_reply(results);
        let shipments = erp(&app, "acme")
            .list_shipments(pb::ListShipmentsRequest {
                filter: format!("licence = \"{}\"", licence.name),
                page_size: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .shipments;
        assert_eq!(shipments.len(), 1, "one shipment");
    }
}

async fn identical_cancellations_released_together_restore_once(db: &TestDb, app: TestApp) {
    for _ in 0..rounds(db) {
        let (product, licence) = licensed(&app, "acme", 10).await;
        let shipped = start(
            &mut erp(&app, "acme"),
            pb::Shipment {
                licence: licence.name.clone(),
                ..shipment(&product, 10, 100_000)
            },
        )
        .await
        .unwrap();
        let request = pb::CancelShipmentRequest {
            name: shipped.name.clone(),
            request_id: request_id(),
            reason: "order cancelled".into(),
        };
        let results = together(8, || {
            let mut client = erp(&app, "acme");
            let request = request.clone();
            async move {
                client
                    .cancel_shipment(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        one_identical_reply(results);
        let after = app
            .applicant("acme")
            .get_licence(pb::GetLicenceRequest {
                name: licence.name.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            after.lines[0].remaining_quantity, 10,
            "restored exactly once"
        );
    }
}

async fn the_queue_pages_through_every_submitted_case_once(_db: &TestDb, app: TestApp) {
    let mut officer = app.applicant("acme");
    let product = create_product(&mut officer).await;
    let mut submitted = Vec::new();
    for i in 0..12 {
        let created = create_application(&mut officer, &product.name).await;
        if i % 3 == 0 {
            // A draft withdrawn before it was ever submitted.
            officer
                .withdraw_application(pb::WithdrawApplicationRequest {
                    name: created.name.clone(),
                    request_id: request_id(),
                    etag: created.etag,
                    reason: "changed our mind".into(),
                })
                .await
                .unwrap();
        } else {
            submitted.push(submit(&mut officer, &created).await.name);
        }
    }
    let mut reviewer = app.regulator("alice@regulator", &["reviewer"]);
    for page_size in 1..=5 {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut inserted = false;
        loop {
            let page = reviewer
                .list_cases(pb::ListCasesRequest {
                    page_size,
                    page_token: token,
                    filter: String::new(),
                })
                .await
                .unwrap()
                .into_inner();
            seen.extend(page.cases.into_iter().map(|c| c.name));
            if !inserted {
                // Work arrives while the caseworker pages.
                let created = create_application(&mut officer, &product.name).await;
                submitted.push(submit(&mut officer, &created).await.name);
                inserted = true;
            }
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "a case appeared twice");
        // Every case submitted before paging began is seen; one added meanwhile may be too.
        for name in &submitted[..submitted.len() - 1] {
            assert!(seen.contains(name), "page size {page_size} skipped {name}");
        }
        assert!(
            seen.iter().all(|n| submitted.contains(n)),
            "a draft is in the queue"
        );
    }
}

async fn shipments_filter_by_their_date(_db: &TestDb, app: TestApp) {
    let mut officer = app.applicant("acme");
    let product = create_product(&mut officer).await.name;
    let mut client = erp(&app, "acme");
    let now = app.clock.now();
    let yesterday = now - chrono::Duration::hours(30);
    // To Germany no licence is needed, so any time in the window will do.
    let shipment = |product: &str, quantity: i64, value: i64| pb::Shipment {
        destination_country_code: "DE".into(),
        end_user: Some(pb::Party {
            display_name: "Beispiel GmbH".into(),
            country_code: "DE".into(),
            headquarters_country_code: "DE".into(),
            ..Default::default()
        }),
        ..shipment(product, quantity, value)
    };
    let mut earlier = shipment(&product, 1, 10_000);
    earlier.shipment_time = Some(prost_types::Timestamp {
        seconds: yesterday.timestamp(),
        nanos: 0,
    });
    let early = start(&mut client, earlier).await.unwrap();
    let today = start(&mut client, shipment(&product, 1, 10_000))
        .await
        .unwrap();
    let on = |day: chrono::DateTime<Utc>| {
        let mut client = client.clone();
        async move {
            client
                .list_shipments(pb::ListShipmentsRequest {
                    filter: format!("shipment_date = \"{}\"", day.format("%Y-%m-%d")),
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .shipments
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(on(yesterday).await, [early.name]);
    assert_eq!(on(now).await, [today.name]);
    let status = assert_code(
        client
            .list_shipments(pb::ListShipmentsRequest {
                filter: "shipment_date = \"yesterday\"".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["filter"]);
}

async fn documented_filters_select_what_they_say(_db: &TestDb, app: TestApp) {
    let mut officer = app.applicant("acme");
    let h20 = create_product(&mut officer).await;
    let mut plain = crate::fixtures::h20();
    plain.classification = "EAR99".into();
    plain.display_name = "Cable".into();
    let cable = officer
        .create_product(pb::CreateProductRequest {
            request_id: request_id(),
            product: Some(plain),
        })
        .await
        .unwrap()
        .into_inner();
    let products = |filter: &str| {
        let mut officer = officer.clone();
        let filter = filter.to_owned();
        async move {
            officer
                .list_products(pb::ListProductsRequest {
                    filter,
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .products
                .into_iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        products(r#"classification = "3A090.a""#).await,
        std::slice::from_ref(&h20.name)
    );
    assert_eq!(products(r#"classification = "EAR99""#).await, [cable.name]);

    // Cases to China and to Germany; one withdrawn after submission.
    let submit_new = |application: pb::Application| {
        let mut officer = officer.clone();
        async move {
            let created = officer
                .create_application(pb::CreateApplicationRequest {
                    request_id: request_id(),
                    application: Some(application),
                })
                .await
                .unwrap()
                .into_inner();
            submit(&mut officer, &created).await
        }
    };
    let china = submit_new(draft(&h20.name)).await;
    let mut to_germany = draft(&h20.name);
    to_germany.destination_country_code = "DE".into();
    let germany = submit_new(to_germany).await;
    let withdrawn = submit_new(draft(&h20.name)).await;
    officer
        .withdraw_application(pb::WithdrawApplicationRequest {
            name: withdrawn.name.clone(),
            request_id: request_id(),
            etag: withdrawn.etag,
            reason: "order lost".into(),
        })
        .await
        .unwrap();
    let mut reviewer = app.regulator("alice@regulator", &["reviewer"]);
    let cases = |filter: &str| {
        let mut reviewer = reviewer.clone();
        let filter = filter.to_owned();
        async move {
            let mut names: Vec<String> = reviewer
                .list_cases(pb::ListCasesRequest {
                    filter,
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .cases
                .into_iter()
                .map(|c| c.name)
                .collect();
            names.sort();
            names
        }
    };
    let mut open = vec![china.name.clone(), germany.name.clone()];
    open.sort();
    assert_eq!(
        cases("").await,
        open,
        "the default queue holds undecided cases"
    );
    assert_eq!(
        cases(r#"destination_country_code = "DE""#).await,
        [germany.name]
    );
    assert_eq!(cases("state = WITHDRAWN").await, [withdrawn.name]);
    assert_eq!(cases("overdue = false").await, open);
    let status = assert_code(
        reviewer
            .list_cases(pb::ListCasesRequest {
                filter: "state = NONSENSE".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["filter"]);
}

async fn identical_publishes_released_together_publish_once(db: &TestDb, app: TestApp) {
    for round in 0..rounds(db) {
        let mut next = latest_catalogue_draft();
        next.effective_time = Some(prost_types::Timestamp {
            seconds: Utc
                .with_ymd_and_hms(2030 + round as i32, 1, 1, 0, 0, 0)
                .unwrap()
                .timestamp(),
            nanos: 0,
        });
        let request = pb::PublishRuleSetRequest {
            request_id: request_id(),
            rule_set: Some(next),
        };
        let results = together(8, || {
            let mut admin = app.policies_with(Some(app.token(&["policy_admin"], None)));
            let request = request.clone();
            async move {
                admin
                    .publish_rule_set(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await;
        let reply = one_identical_reply(results);
        assert_eq!(
            reply.version,
            BUILT_IN_VERSIONS + 1 + round as i64,
            "one version per round"
        );
    }
}
