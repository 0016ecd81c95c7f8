//! Amendments: the holder asks for more on an ACTIVE licence, the request is a case decided
//! under the two-person rule, and approval revises the same licence with what has shipped
//! still counted — also while shipments race the approval.

use std::sync::Arc;

use clearance_proto::v1 as pb;
use clearance_tests::{ApplicationClient, Backend, TestApp, TestDb, on_both_databases};
use tokio::sync::Barrier;
use tonic::Code;

use crate::fixtures::{assert_code, assign_to_self, reason, request_id, submit, violated_fields};
use crate::ledger::{erp, licensed, shipment, start};

on_both_databases!(
    an_amendment_raises_a_line_after_shipments_and_keeps_the_ledger_exact,
    a_denied_amendment_leaves_the_licence_as_it_was,
    careless_amendment_requests_are_refused_with_reasons,
    shipments_racing_an_amendments_approval_never_over_deplete_either_revision,
    amendment_requests_released_together_leave_exactly_one_pending,
    a_licence_past_its_end_is_not_amended_reinstated_or_shipped_before_the_sweep,
);

const UNIT: i64 = 10_000;

fn more(licence: &pb::Licence, quantity: i64) -> pb::RequestAmendmentRequest {
    pb::RequestAmendmentRequest {
        licence: licence.name.clone(),
        request_id: request_id(),
        lines: vec![pb::AmendedLine {
            line_number: 1,
            quantity,
            unit_value: None,
        }],
        reasons: "A second data hall doubles the inference fleet".into(),
        ..Default::default()
    }
}

/// Requests and submits the amendment; returns the submitted application.
async fn amendment_submitted(
    officer: &mut ApplicationClient,
    request: pb::RequestAmendmentRequest,
) -> pb::Application {
    let draft = officer
        .request_amendment(request)
        .await
        .expect("request amendment")
        .into_inner();
    submit(officer, &draft).await
}

/// Alice proposes `approve` (all lines as asked, or a denial) and returns the case to sign.
async fn proposed(app: &TestApp, submitted: &pb::Application, approve: bool) -> pb::Case {
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let case = assign_to_self(&mut alice, submitted).await;
    alice
        .propose_decision(pb::ProposeDecisionRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            approve,
            reason: if approve {
                "Same end user, same end use".into()
            } else {
                "No need shown for more units".into()
            },
            ..Default::default()
        })
        .await
        .expect("propose")
        .into_inner()
}

async fn countersign(app: &TestApp, case: &pb::Case) -> Result<pb::Case, tonic::Status> {
    app.regulator("bob@regulator", &["senior_reviewer"])
        .countersign_decision(pb::CountersignDecisionRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn licence_now(app: &TestApp, org: &str, name: &str) -> pb::Licence {
    app.applicant(org)
        .get_licence(pb::GetLicenceRequest { name: name.into() })
        .await
        .expect("licence")
        .into_inner()
}

async fn licence_history(app: &TestApp, name: &str) -> Vec<pb::HistoryEntry> {
    app.regulator("audrey@regulator", &["auditor"])
        .get_history(pb::GetHistoryRequest {
            resource: name.into(),
            page_size: 1000,
            page_token: String::new(),
        })
        .await
        .expect("history")
        .into_inner()
        .entries
}

async fn an_amendment_raises_a_line_after_shipments_and_keeps_the_ledger_exact(
    _db: &TestDb,
    app: TestApp,
) {
    let (product, licence) = licensed(&app, "acme", 800).await;
    let mut shipper = erp(&app, "acme");
    start(&mut shipper, shipment(&product, 500, 500 * UNIT))
        .await
        .expect("500 shipped");
    let mut officer = app.applicant("acme");
    let longer = licence.valid_until_time.map(|t| prost_types::Timestamp {
        seconds: t.seconds + 365 * 86_400,
        nanos: 0,
    });
    let request = pb::RequestAmendmentRequest {
        valid_until_time: longer,
        consignee: Some(pb::Party {
            role: pb::PartyRole::IntermediateConsignee as i32,
            display_name: "Example Freight Ltd".into(),
            address: "3 Port Road, Hong Kong".into(),
            country_code: "HK".into(),
            headquarters_country_code: "HK".into(),
        }),
        ..more(&licence, 1_200)
    };
    let submitted = amendment_submitted(&mut officer, request).await;
    let amendment = submitted.amendment.as_ref().expect("an amendment");
    assert_eq!(amendment.licence, licence.name);
    assert_eq!(submitted.lines.len(), 1);
    assert_eq!(submitted.lines[0].quantity, 1_200);
    assert_eq!(submitted.state, pb::ApplicationState::Submitted as i32);

    // It waits in the same queue, under the same two-person rule.
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let queue = alice
        .list_cases(pb::ListCasesRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("queue")
        .into_inner()
        .cases;
    assert!(queue.iter().any(|c| c.name == submitted.name));
    let case = proposed(&app, &submitted, true).await;
    let status = assert_code(
        app.regulator("alice@regulator", &["senior_reviewer"])
            .countersign_decision(pb::CountersignDecisionRequest {
                name: case.name.clone(),
                request_id: request_id(),
                etag: case.etag.clone(),
            })
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(reason(&status), "SELF_COUNTERSIGN");
    let before = licence_now(&app, "acme", &licence.name).await;
    assert_eq!(before.lines[0].granted_quantity, 800, "not yet approved");
    countersign(&app, &case).await.expect("countersign");

    let after = licence_now(&app, "acme", &licence.name).await;
    let line = &after.lines[0];
    assert_eq!(after.name, licence.name, "the same licence");
    assert_eq!(after.number, licence.number);
    assert_eq!(after.revision, 2);
    assert_eq!(
        (line.granted_quantity, line.remaining_quantity),
        (1_200, 700),
        "1,200 granted, 500 used, 700 remaining"
    );
    assert_eq!(after.valid_until_time, longer, "a year longer");
    assert!(
        after
            .parties
            .iter()
            .any(|p| p.display_name == "Example Freight Ltd"),
        "the new consignee is on the licence"
    );
    assert_eq!(
        line.granted_value.as_ref().unwrap().minor_units,
        1_200 * UNIT
    );
    assert_eq!(
        line.remaining_value.as_ref().unwrap().minor_units,
        700 * UNIT
    );
    // The licence's history shows both revisions.
    let history = licence_history(&app, &licence.name).await;
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["licence.issued", "licence.drawn_down", "licence.amended"]
    );
    assert_eq!(
        history[2].reason,
        format!("revision 2, amended by {}", submitted.reference)
    );

    // The new revision ships to its last unit and no further.
    start(&mut shipper, shipment(&product, 700, 700 * UNIT))
        .await
        .expect("the remaining 700");
    assert_code(
        start(&mut shipper, shipment(&product, 1, UNIT)).await,
        Code::FailedPrecondition,
    );
    let exhausted = licence_now(&app, "acme", &licence.name).await;
    assert_eq!(exhausted.state, pb::LicenceState::Exhausted as i32);
}

async fn a_denied_amendment_leaves_the_licence_as_it_was(_db: &TestDb, app: TestApp) {
    let (_product, licence) = licensed(&app, "acme", 800).await;
    let mut officer = app.applicant("acme");
    let mut request = more(&licence, 1_000);
    request.consignee = Some(pb::Party {
        role: pb::PartyRole::UltimateConsignee as i32,
        display_name: "Example Logistics Ltd".into(),
        address: "3 Port Road, Hong Kong".into(),
        country_code: "HK".into(),
        headquarters_country_code: "HK".into(),
    });
    let submitted = amendment_submitted(&mut officer, request).await;
    assert!(
        submitted
            .parties
            .iter()
            .any(|p| p.display_name == "Example Logistics Ltd")
    );
    // One amendment of a licence at a time.
    let status = assert_code(
        officer.request_amendment(more(&licence, 900)).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains(&submitted.reference),
        "{status:?}"
    );
    let case = proposed(&app, &submitted, false).await;
    let denied = countersign(&app, &case).await.expect("countersign denial");
    assert_eq!(
        denied.application.unwrap().state,
        pb::ApplicationState::Denied as i32
    );
    let after = licence_now(&app, "acme", &licence.name).await;
    assert_eq!(after.revision, 1);
    assert_eq!(after.lines, licence.lines);
    assert_eq!(after.parties, licence.parties);
    assert_eq!(after.valid_until_time, licence.valid_until_time);
    let actions: Vec<String> = licence_history(&app, &licence.name)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["licence.issued"]);
    // Decided, it no longer blocks another request.
    officer
        .request_amendment(more(&licence, 900))
        .await
        .expect("a new request after the decision");
}

async fn careless_amendment_requests_are_refused_with_reasons(_db: &TestDb, app: TestApp) {
    let (product, licence) = licensed(&app, "acme", 800).await;
    start(&mut erp(&app, "acme"), shipment(&product, 500, 500 * UNIT))
        .await
        .expect("500 shipped");
    let mut officer = app.applicant("acme");
    let cases: Vec<(pb::RequestAmendmentRequest, &[&str])> = vec![
        (more(&licence, 400), &["lines[0].quantity"]),
        (more(&licence, 800), &["lines"]),
        (
            pb::RequestAmendmentRequest {
                reasons: String::new(),
                ..more(&licence, 900)
            },
            &["reasons"],
        ),
        (
            pb::RequestAmendmentRequest {
                lines: vec![pb::AmendedLine {
                    line_number: 7,
                    quantity: i64::MAX,
                    unit_value: Some(pb::Money {
                        currency_code: "EUR".into(),
                        minor_units: -1,
                    }),
                }],
                ..more(&licence, 900)
            },
            &["lines[0].line_number"],
        ),
        (
            pb::RequestAmendmentRequest {
                lines: vec![pb::AmendedLine {
                    line_number: 1,
                    quantity: 900,
                    unit_value: Some(pb::Money {
                        currency_code: "EUR".into(),
                        minor_units: UNIT,
                    }),
                }],
                ..more(&licence, 900)
            },
            &["lines[0].unit_value.currency_code"],
        ),
        (
            pb::RequestAmendmentRequest {
                valid_until_time: Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                }),
                ..more(&licence, 900)
            },
            &["valid_until_time"],
        ),
        (
            pb::RequestAmendmentRequest {
                valid_until_time: licence.valid_from_time,
                ..more(&licence, 900)
            },
            &["valid_until"],
        ),
        (
            pb::RequestAmendmentRequest {
                licence: "licences/garbage".into(),
                request_id: "  ".into(),
                ..more(&licence, 900)
            },
            &["licence", "request_id"],
        ),
    ];
    for (request, expected) in cases {
        let status = assert_code(
            officer.request_amendment(request.clone()).await,
            Code::InvalidArgument,
        );
        let fields = violated_fields(&status);
        for field in expected {
            assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
        }
    }
    // Another organisation's licence does not exist for the caller.
    assert_code(
        app.applicant("globex")
            .request_amendment(more(&licence, 900))
            .await,
        Code::NotFound,
    );
    // An ERP system cannot ask for one.
    assert_code(
        app.applications_with(Some(app.token(&["erp"], Some("acme"))))
            .request_amendment(more(&licence, 900))
            .await,
        Code::PermissionDenied,
    );
    // The draft mirrors the licence: it is not edited, and a suspended licence is not amended.
    let draft = officer
        .request_amendment(more(&licence, 900))
        .await
        .expect("draft")
        .into_inner();
    let mut edited = draft.clone();
    edited.end_use_statement = "Something else".into();
    assert_code(
        officer
            .update_application(pb::UpdateApplicationRequest {
                application: Some(edited),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["end_use_statement".into()],
                }),
                request_id: request_id(),
            })
            .await,
        Code::FailedPrecondition,
    );
    let (_p2, other) = licensed(&app, "acme", 10).await;
    app.regulator("bob@regulator", &["senior_reviewer"])
        .suspend_licence(pb::SuspendLicenceRequest {
            name: other.name.clone(),
            request_id: request_id(),
            etag: other.etag.clone(),
            reason: "End-use check".into(),
        })
        .await
        .expect("suspend");
    let status = assert_code(
        officer.request_amendment(more(&other, 20)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "LICENCE_NOT_ACTIVE");
}

async fn shipments_racing_an_amendments_approval_never_over_deplete_either_revision(
    db: &TestDb,
    app: TestApp,
) {
    let rounds = if db.backend == Backend::Postgres {
        8
    } else {
        3
    };
    for round in 0..rounds {
        let org = format!("race{round}");
        let (product, licence) = licensed(&app, &org, 800).await;
        start(&mut erp(&app, &org), shipment(&product, 500, 500 * UNIT))
            .await
            .expect("500 shipped");
        let mut officer = app.applicant(&org);
        let submitted = amendment_submitted(&mut officer, more(&licence, 1_200)).await;
        let case = proposed(&app, &submitted, true).await;

        // 64 shipments of 12 units (768, more than either revision leaves) and the
        // countersignature, released together; the signature comes a little later each round
        // so that rounds see it land before, among and after the shipments.
        let barrier = Arc::new(Barrier::new(65));
        let mut shippers = Vec::new();
        for _ in 0..64 {
            let barrier = barrier.clone();
            let mut client = erp(&app, &org);
            let s = shipment(&product, 12, 12 * UNIT);
            shippers.push(tokio::spawn(async move {
                barrier.wait().await;
                start(&mut client, s).await
            }));
        }
        let signing = {
            let barrier = barrier.clone();
            let app_case = case.clone();
            let signer = app.regulator("bob@regulator", &["senior_reviewer"]);
            tokio::spawn(async move {
                let mut signer = signer;
                barrier.wait().await;
                tokio::time::sleep(std::time::Duration::from_millis(4 * round)).await;
                signer
                    .countersign_decision(pb::CountersignDecisionRequest {
                        name: app_case.name.clone(),
                        request_id: request_id(),
                        etag: app_case.etag.clone(),
                    })
                    .await
            })
        };
        let mut started = 0_i64;
        for task in shippers {
            match task.await.unwrap() {
                Ok(_) => started += 1,
                Err(status) => {
                    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                    // No room left, or the first revision used up before the second landed.
                    assert!(
                        [
                            "QUANTITY_EXCEEDED",
                            "LICENCE_NOT_ACTIVE",
                            "LICENCE_REQUIRED"
                        ]
                        .contains(&reason(&status).as_str()),
                        "{status:?}"
                    );
                }
            }
        }
        signing.await.unwrap().expect("the amendment is approved");

        let after = licence_now(&app, &org, &licence.name).await;
        let line = &after.lines[0];
        assert_eq!(line.granted_quantity, 1_200, "round {round}");
        assert_eq!(after.revision, 2);
        assert_eq!(
            line.remaining_quantity,
            1_200 - 500 - 12 * started,
            "round {round}: remaining is granted minus everything shipped"
        );
        assert!(line.remaining_quantity >= 0);
        // In commit order: at most 25 shipments of 12 fit the first revision's 300.
        let history = licence_history(&app, &licence.name).await;
        let amended_at = history
            .iter()
            .position(|e| e.action == "licence.amended")
            .expect("amended");
        let before_amendment = history[..amended_at]
            .iter()
            .filter(|e| e.action == "licence.drawn_down")
            .count();
        assert!(
            before_amendment <= 1 + 25,
            "round {round}: {before_amendment} draws on revision 1"
        );
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
        assert_eq!(shipped, 500 + 12 * started, "round {round}");
    }
}

/// The database keeps one pending amendment per licence: 8 requests released together (with
/// other request ids) leave exactly one draft, every round, and the others are told why.
async fn amendment_requests_released_together_leave_exactly_one_pending(db: &TestDb, app: TestApp) {
    let rounds = if db.backend == Backend::Postgres {
        20
    } else {
        4
    };
    for round in 0..rounds {
        let org = format!("pending{round}");
        let (_, licence) = licensed(&app, &org, 100).await;
        let barrier = Arc::new(Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let barrier = barrier.clone();
                let mut officer = app.applicant(&org);
                let request = more(&licence, 200 + i);
                tokio::spawn(async move {
                    barrier.wait().await;
                    officer.request_amendment(request).await
                })
            })
            .collect();
        let mut drafts = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => drafts += 1,
                Err(status) => {
                    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                    assert_eq!(reason(&status), "INVALID_TRANSITION", "{status:?}");
                    assert!(status.message().contains("still pending"), "{status:?}");
                }
            }
        }
        assert_eq!(
            drafts, 1,
            "round {round}: one pending amendment per licence"
        );
        let pending = app
            .applicant(&org)
            .list_applications(pb::ListApplicationsRequest {
                page_size: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .applications
            .iter()
            .filter(|a| {
                a.amendment
                    .as_ref()
                    .is_some_and(|x| x.licence == licence.name)
            })
            .count();
        assert_eq!(pending, 1, "round {round}");
    }
}

/// Expiry is a fact of time: once `valid_until` has passed, a licence the sweep has not yet
/// marked EXPIRED reads as EXPIRED and takes no amendment, approval of one, reinstatement,
/// suspension or shipment.
async fn a_licence_past_its_end_is_not_amended_reinstated_or_shipped_before_the_sweep(
    _db: &TestDb,
    app: TestApp,
) {
    let (product, active) = licensed(&app, "acme", 100).await;
    let (_, to_suspend) = licensed(&app, "acme", 100).await;
    let mut bob = app.regulator("bob@regulator", &["senior_reviewer"]);
    let suspended = bob
        .suspend_licence(pb::SuspendLicenceRequest {
            name: to_suspend.name.clone(),
            request_id: request_id(),
            etag: to_suspend.etag.clone(),
            reason: "end user under investigation".into(),
        })
        .await
        .expect("suspend")
        .into_inner();
    // An amendment proposed before the end, to be countersigned after it.
    let mut officer = app.applicant("acme");
    let submitted = amendment_submitted(&mut officer, more(&active, 150)).await;
    let case = proposed(&app, &submitted, true).await;

    let end = active.valid_until_time.expect("valid until");
    let after_end = chrono::DateTime::from_timestamp(end.seconds + 1, 0).expect("time");
    app.clock.set(after_end);

    let seen = licence_now(&app, "acme", &active.name).await;
    assert_eq!(
        seen.state,
        pb::LicenceState::Expired as i32,
        "read as expired"
    );

    let status = assert_code(countersign(&app, &case).await, Code::FailedPrecondition);
    assert_eq!(reason(&status), "INVALID_TRANSITION", "{status:?}");
    let status = assert_code(
        officer
            .request_amendment(pb::RequestAmendmentRequest {
                valid_until_time: Some(prost_types::Timestamp {
                    seconds: end.seconds + 365 * 86_400,
                    nanos: 0,
                }),
                lines: vec![],
                ..more(&active, 100)
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "LICENCE_NOT_ACTIVE", "{status:?}");
    let status = assert_code(
        bob.reinstate_licence(pb::ReinstateLicenceRequest {
            name: suspended.name.clone(),
            request_id: request_id(),
            etag: suspended.etag.clone(),
            reason: "investigation closed".into(),
        })
        .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "INVALID_TRANSITION", "{status:?}");
    let status = assert_code(
        bob.suspend_licence(pb::SuspendLicenceRequest {
            name: active.name.clone(),
            request_id: request_id(),
            etag: seen.etag.clone(),
            reason: "late".into(),
        })
        .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "INVALID_TRANSITION", "{status:?}");
    let mut named = shipment(&product, 1, UNIT);
    named.licence = active.name.clone();
    let status = assert_code(
        start(&mut erp(&app, "acme"), named).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "OUTSIDE_VALIDITY", "{status:?}");
    let after = licence_now(&app, "acme", &active.name).await;
    assert_eq!(after.revision, 1, "not amended back to life");
    assert_eq!(after.lines[0].granted_quantity, 100);
}
