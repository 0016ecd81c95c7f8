//! The January 2026 rule's conditions (91 FR 1684) where they meet the ledger: a licence
//! under its case-by-case review carries a test report condition and an aggregate cap, and
//! StartShipment enforces both in the drawdown's transaction, under races and retries.

use clearance_proto::v1 as pb;
use clearance_tests::{ApplicationClient, TestApp, TestDb, on_both_databases};
use tonic::Code;

use crate::fixtures::{assert_code, draft, line, reason, request_id, violated_fields};
use crate::ledger::{erp, shipment, start};

/// An H200-class part (below the January 2026 ceilings), sold in the US since 2024.
pub async fn h200(officer: &mut ApplicationClient) -> pb::Product {
    let mut product = crate::fixtures::h20();
    product.display_name = "H200 SXM".into();
    product.part_number = format!("H200-{}", request_id());
    product.parameters = Some(pb::TechnicalParameters {
        total_processing_performance: Some(15_832),
        die_area_mm2: Some(814),
        memory_bandwidth_gbps: Some(4_800),
        io_bandwidth_gbps: Some(900),
        performance_density: 0.0,
    });
    officer
        .create_product(pb::CreateProductRequest {
            request_id: request_id(),
            product: Some(product),
        })
        .await
        .expect("product")
        .into_inner()
}

/// A licence for `quantity` units of `product` to China, applied for with the rule's
/// certifications and approved.
async fn h200_licence(
    app: &TestApp,
    officer: &mut ApplicationClient,
    product: &str,
    quantity: i64,
) -> pb::Licence {
    let created = certified_application(officer, product, quantity).await;
    let submitted = crate::fixtures::submit(officer, &created).await;
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let mut bob = app.regulator("bob@regulator", &["senior_reviewer"]);
    let case = crate::fixtures::assign_to_self(&mut alice, &submitted).await;
    // The reviewer sees what was certified, figures included.
    let certified = case
        .application
        .as_ref()
        .expect("application")
        .certifications
        .clone();
    assert_eq!(certified.len(), 7, "{certified:?}");
    let case = crate::fixtures::propose_approval(&mut alice, &case, "approved").await;
    bob.countersign_decision(pb::CountersignDecisionRequest {
        name: case.name.clone(),
        request_id: request_id(),
        etag: case.etag,
    })
    .await
    .expect("countersign");
    issued_for(officer, &submitted.name).await
}

/// A draft for `quantity` units of `product` to China at 100.00 USD each, with the January
/// 2026 certifications (stating 1,000 US units).
pub async fn certified_application(
    officer: &mut ApplicationClient,
    product: &str,
    quantity: i64,
) -> pb::Application {
    let mut application = draft(product);
    application.lines = vec![pb::ApplicationLine {
        unit_value: Some(pb::Money {
            currency_code: "USD".into(),
            minor_units: 10_000,
        }),
        ..line(product, quantity)
    }];
    application.certifications = crate::fixtures::january_2026_certifications(1_000);
    officer
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        })
        .await
        .expect("create")
        .into_inner()
}

/// The licence issued on `application`.
pub async fn issued_for(officer: &mut ApplicationClient, application: &str) -> pb::Licence {
    officer
        .list_licences(pb::ListLicencesRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("licences")
        .into_inner()
        .licences
        .into_iter()
        .find(|l| l.application == application)
        .expect("the countersignature issued a licence")
}

fn tested(mut s: pb::Shipment) -> pb::Shipment {
    s.test_report = Some(pb::TestReport {
        reference: "LAB-2026-0042".into(),
        laboratory: "Example Test Laboratory, Austin TX".into(),
        laboratory_country_code: "US".into(),
        tested_on: (chrono::Utc::now() - chrono::Duration::days(2))
            .date_naive()
            .to_string(),
    });
    s
}

fn under(licence: &pb::Licence, mut s: pb::Shipment) -> pb::Shipment {
    s.licence = licence.name.clone();
    s
}

async fn report_us_units(officer: &mut ApplicationClient, product: &str, units: i64) {
    officer
        .report_us_shipments(pb::ReportUsShipmentsRequest {
            product: product.into(),
            request_id: request_id(),
            units_shipped: units,
        })
        .await
        .expect("report");
}

/// A licence granted under the case-by-case review carries the rule's terms; a shipment
/// without a third-party test report (or with one from a laboratory abroad, or of another
/// transaction kind) is refused with the condition named, CheckShipment says which condition
/// blocks, and with the report it ships.
async fn a_shipment_under_the_january_2026_review_needs_a_us_test_report(
    _db: &TestDb,
    app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let product = h200(&mut acme).await;
    let licence = h200_licence(&app, &mut acme, &product.name, 100).await;
    assert_eq!(
        licence.shipment_conditions,
        [pb::ShipmentCondition::ThirdPartyTestReport as i32]
    );
    assert_eq!(licence.aggregate_cap_percent, 50);
    assert_eq!(licence.transaction_kind, pb::TransactionKind::Export as i32);
    assert!(licence.terms_citation.contains("91 FR 1684"));
    report_us_units(&mut acme, &product.name, 1_000).await;
    let mut acme_erp = erp(&app, "acme");
    let plain = under(&licence, shipment(&product.name, 10, 100_000));

    let status = assert_code(
        start(&mut acme_erp, plain.clone()).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "SHIPMENT_CONDITION_UNMET");
    assert!(
        status.message().contains("THIRD_PARTY_TEST_REPORT")
            && status.message().contains("91 FR 1684"),
        "{}",
        status.message()
    );
    let checked = acme_erp
        .check_shipment(pb::CheckShipmentRequest {
            shipment: Some(plain.clone()),
        })
        .await
        .expect("check")
        .into_inner();
    assert!(checked.covering_licences.is_empty());
    let problems: Vec<&str> = checked
        .assessments
        .iter()
        .flat_map(|a| a.problems.iter().map(|p| p.reason.as_str()))
        .collect();
    assert_eq!(problems, ["SHIPMENT_CONDITION_UNMET"]);

    let mut abroad = tested(plain.clone());
    if let Some(r) = abroad.test_report.as_mut() {
        r.laboratory_country_code = "DE".into();
    }
    let status = assert_code(start(&mut acme_erp, abroad).await, Code::FailedPrecondition);
    assert!(
        status.message().contains("not in the United States"),
        "{}",
        status.message()
    );
    let mut after_the_fact = tested(plain.clone());
    if let Some(r) = after_the_fact.test_report.as_mut() {
        r.tested_on = (chrono::Utc::now() + chrono::Duration::days(3))
            .date_naive()
            .to_string();
    }
    let status = assert_code(
        start(&mut acme_erp, after_the_fact).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["shipment.test_report.tested_on"]);
    let mut reexport = tested(plain.clone());
    reexport.transaction_kind = pb::TransactionKind::Reexport as i32;
    let status = assert_code(
        start(&mut acme_erp, reexport).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "TRANSACTION_MISMATCH");

    let shipped = start(&mut acme_erp, tested(plain)).await.expect("ships");
    let report = shipped.test_report.expect("the report is on the record");
    assert_eq!(report.reference, "LAB-2026-0042");
    assert_eq!(shipped.transaction_kind, pb::TransactionKind::Export as i32);
}

/// The aggregate cap across two licences: 1,000 US units reported, 64 shipments of 10 units
/// released together under both licences (some of them identical retries) ship exactly 500
/// units; a later report of 1,400 raises the cap to 700; a cancelled shipment gives its units
/// back; every report is kept and in the product's history. Only the holder's applicants
/// report, for their own products, with sane figures.
async fn the_aggregate_cap_holds_when_shipments_race_across_licences(db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    // More rounds of the race where row locks decide it (each on a fresh product).
    let rounds = if db.backend == clearance_tests::Backend::Postgres {
        4
    } else {
        0
    };
    for round in 0..rounds {
        let product = h200(&mut acme).await;
        let first = h200_licence(&app, &mut acme, &product.name, 1_000).await;
        let second = h200_licence(&app, &mut acme, &product.name, 1_000).await;
        report_us_units(&mut acme, &product.name, 1_000).await;
        let shipped = race_64_shipments(&app, &product.name, &first, &second).await;
        assert_eq!(shipped.len() * 10, 500, "round {round}");
    }
    let product = h200(&mut acme).await;
    let first = h200_licence(&app, &mut acme, &product.name, 1_000).await;
    let second = h200_licence(&app, &mut acme, &product.name, 1_000).await;
    let mut acme_erp = erp(&app, "acme");

    // No US figure yet: the cap is zero.
    let one = tested(under(&first, shipment(&product.name, 1, 10_000)));
    let status = assert_code(
        start(&mut acme_erp, one.clone()).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "AGGREGATE_CAP_EXCEEDED");
    report_us_units(&mut acme, &product.name, 1_000).await;

    let shipped = race_64_shipments(&app, &product.name, &first, &second).await;
    assert_eq!(shipped.len() * 10, 500, "exactly half of the US units ship");
    let position = acme
        .list_us_shipment_reports(pb::ListUsShipmentReportsRequest {
            product: product.name.clone(),
        })
        .await
        .expect("reports")
        .into_inner();
    assert_eq!(position.capped_units_shipped, 500);
    let status = assert_code(
        start(&mut acme_erp, one.clone()).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("above 50% of the 1000 units"),
        "{}",
        status.message()
    );
    // CheckShipment says the cap blocks, for each licence carrying it.
    let checked = acme_erp
        .check_shipment(pb::CheckShipmentRequest {
            shipment: Some(tested(shipment(&product.name, 1, 10_000))),
        })
        .await
        .expect("check")
        .into_inner();
    assert!(checked.covering_licences.is_empty(), "{checked:?}");
    let blocked: Vec<&str> = checked
        .assessments
        .iter()
        .filter(|a| a.licence == first.name || a.licence == second.name)
        .flat_map(|a| a.problems.iter().map(|p| p.reason.as_str()))
        .collect();
    assert_eq!(blocked, ["AGGREGATE_CAP_EXCEEDED"; 2], "{checked:?}");

    // A later figure raises the cap; a cancellation gives units back.
    report_us_units(&mut acme, &product.name, 1_400).await;
    let big = tested(under(&second, shipment(&product.name, 200, 2_000_000)));
    start(&mut acme_erp, big).await.expect("up to 700 now");
    assert_code(
        start(&mut acme_erp, one.clone()).await,
        Code::FailedPrecondition,
    );
    let some = shipped.iter().next().expect("a shipment").clone();
    acme_erp
        .cancel_shipment(pb::CancelShipmentRequest {
            name: some,
            request_id: request_id(),
            reason: "order cancelled".into(),
        })
        .await
        .expect("cancel");
    start(&mut acme_erp, one)
        .await
        .expect("the cancelled units are back");

    let reports = acme
        .list_us_shipment_reports(pb::ListUsShipmentReportsRequest {
            product: product.name.clone(),
        })
        .await
        .expect("reports")
        .into_inner();
    let figures: Vec<i64> = reports.reports.iter().map(|r| r.units_shipped).collect();
    assert_eq!(figures, [1_400, 1_000], "newest first, every report kept");
    assert_eq!(reports.capped_units_shipped, 691);
    let history = app
        .store
        .history(&product.name, None)
        .await
        .expect("history");
    let reported: Vec<i64> = history
        .iter()
        .filter(|e| e.action == "product.us_shipments_reported")
        .filter_map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.payload_json)
                .ok()
                .and_then(|p| p.get("units").and_then(serde_json::Value::as_i64))
        })
        .collect();
    assert_eq!(reported, [1_000, 1_400]);
    // The holder reads its own reports in the product's history.
    let own = acme
        .list_history(pb::ListHistoryRequest {
            resource: product.name.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("history")
        .into_inner()
        .entries;
    let own: Vec<&str> = own
        .iter()
        .map(|e| e.action.as_str())
        .filter(|a| *a == "product.us_shipments_reported")
        .collect();
    assert_eq!(own.len(), 2);

    // The same report sent eight times at once (a double click, a retry of a lost answer)
    // is recorded once, and every caller gets the first answer.
    let same = request_id();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut calls = Vec::new();
    for _ in 0..8 {
        let mut officer = app.applicant("acme");
        let barrier = barrier.clone();
        let request = pb::ReportUsShipmentsRequest {
            product: product.name.clone(),
            request_id: same.clone(),
            units_shipped: 1_500,
        };
        calls.push(tokio::spawn(async move {
            barrier.wait().await;
            loop {
                match officer.report_us_shipments(request.clone()).await {
                    Err(s) if s.code() == Code::Aborted => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await
                    }
                    other => return other.map(|r| r.into_inner()),
                }
            }
        }));
    }
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.expect("call").expect("report"));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "one answer");
    let after = acme
        .list_us_shipment_reports(pb::ListUsShipmentReportsRequest {
            product: product.name.clone(),
        })
        .await
        .expect("reports")
        .into_inner();
    assert_eq!(after.reports.len(), 3, "recorded once");

    // Who may report what.
    let status = assert_code(
        acme.report_us_shipments(pb::ReportUsShipmentsRequest {
            product: product.name.clone(),
            request_id: String::new(),
            units_shipped: -1,
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["request_id", "units_shipped"]);
    let mut other = app.applicant("globex");
    assert_code(
        other
            .report_us_shipments(pb::ReportUsShipmentsRequest {
                product: product.name.clone(),
                request_id: request_id(),
                units_shipped: 1,
            })
            .await,
        Code::NotFound,
    );
    let mut erp_as_officer = app.applications_with(Some(app.token(&["erp"], Some("acme"))));
    assert_code(
        erp_as_officer
            .report_us_shipments(pb::ReportUsShipmentsRequest {
                product: product.name.clone(),
                request_id: request_id(),
                units_shipped: 1,
            })
            .await,
        Code::PermissionDenied,
    );
}

/// 64 StartShipment calls of 10 units each, released together, alternating between `first`
/// and `second` (calls 0..16 are eight requests sent twice each): the shipments that started.
async fn race_64_shipments(
    app: &TestApp,
    product: &str,
    first: &pb::Licence,
    second: &pb::Licence,
) -> std::collections::BTreeSet<String> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(64));
    let retried: Vec<String> = (0..8).map(|_| request_id()).collect();
    let mut calls = Vec::new();
    for i in 0..64 {
        let mut client = erp(app, "acme");
        let licence = if i % 2 == 0 { first } else { second };
        // Calls 0..16 are eight requests sent twice each.
        let id = if i < 16 {
            retried[i / 2].clone()
        } else {
            request_id()
        };
        let request = pb::StartShipmentRequest {
            request_id: id,
            shipment: Some(tested(under(
                if i < 16 { first } else { licence },
                shipment(product, 10, 100_000),
            ))),
        };
        let barrier = barrier.clone();
        calls.push(tokio::spawn(async move {
            barrier.wait().await;
            loop {
                match client.start_shipment(request.clone()).await {
                    // A retry that meets its twin still running is told to try again.
                    Err(s) if s.code() == Code::Aborted || s.code() == Code::Unavailable => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await
                    }
                    other => return other.map(|r| r.into_inner()),
                }
            }
        }));
    }
    let mut shipped = std::collections::BTreeSet::new();
    for call in calls {
        match call.await.expect("call") {
            Ok(s) => {
                shipped.insert(s.name);
            }
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(reason(&status), "AGGREGATE_CAP_EXCEEDED", "{status:?}");
            }
        }
    }
    shipped
}

/// Determine explains the rule's conditions in words that cite it: a reexport, a chip not
/// commercially available in the US when the rule was published, a missing certification.
async fn determine_explains_the_january_2026_conditions(_db: &TestDb, app: TestApp) {
    let mut regulator = app.policies_with(Some(app.token(&["reviewer"], None)));
    let mut item = crate::fixtures::h20();
    item.parameters = Some(pb::TechnicalParameters {
        total_processing_performance: Some(15_832),
        die_area_mm2: Some(814),
        memory_bandwidth_gbps: Some(4_800),
        io_bandwidth_gbps: Some(900),
        performance_density: 0.0,
    });
    let ask =
        |item: &pb::Product, kind: pb::TransactionKind, certifications| pb::DetermineRequest {
            product: Some(item.clone()),
            destination_country_code: "CN".into(),
            end_user_headquarters_country_code: String::new(),
            export_time: None,
            transaction_kind: kind as i32,
            certifications,
        };
    let explained = |d: &pb::Determination| -> Vec<String> {
        d.fired_rules
            .iter()
            .flat_map(|f| {
                std::iter::once(f.description.clone())
                    .chain(f.conditions.iter().map(|c| c.explanation.clone()))
            })
            .collect()
    };
    let mut determine = async |request| {
        regulator
            .determine(request)
            .await
            .expect("determine")
            .into_inner()
    };

    let reexport = determine(ask(&item, pb::TransactionKind::Reexport, None)).await;
    assert_eq!(
        reexport.review_policy,
        pb::ReviewPolicy::PresumptionOfDenial as i32
    );
    assert!(
        explained(&reexport)
            .iter()
            .any(|e| e
                .contains("case-by-case review applies only to exports from the United States")),
        "{reexport:?}"
    );

    let mut newer = item.clone();
    newer.us_commercially_available_since = "2026-06-01".into();
    let newer = determine(ask(&newer, pb::TransactionKind::Export, None)).await;
    assert_eq!(
        newer.review_policy,
        pb::ReviewPolicy::PresumptionOfDenial as i32
    );
    assert!(
        explained(&newer).iter().any(|e| e
            .contains("commercially available in the United States only since 2026-06-01")
            && e.contains("91 FR 1684")),
        "{newer:?}"
    );

    let mut some = crate::fixtures::january_2026_certifications(1_000);
    some.retain(|c| c.key != "no-foundry-diversion");
    let partial = determine(ask(
        &item,
        pb::TransactionKind::Export,
        Some(pb::CertificationSet {
            certifications: some,
        }),
    ))
    .await;
    assert_eq!(
        partial.review_policy,
        pb::ReviewPolicy::PresumptionOfDenial as i32
    );
    let missing: Vec<&pb::ConditionCheck> = partial
        .fired_rules
        .iter()
        .flat_map(|f| f.conditions.iter())
        .filter(|c| c.status == pb::ConditionStatus::NotMet as i32)
        .collect();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0].condition, "certification:no-foundry-diversion");
    assert!(
        missing[0].explanation.contains("91 FR 1684")
            && missing[0]
                .explanation
                .contains("presumption of denial instead of case by case"),
        "{}",
        missing[0].explanation
    );

    let all = determine(ask(
        &item,
        pb::TransactionKind::Export,
        Some(pb::CertificationSet {
            certifications: crate::fixtures::january_2026_certifications(1_000),
        }),
    ))
    .await;
    assert_eq!(all.review_policy, pb::ReviewPolicy::CaseByCase as i32);
}

/// A draft that changes only the conditions of the January 2026 rule (a new certification, a
/// lower cap) leaves every policy as it was, and impact analysis still names the pending
/// applications and active licences it touches (and nothing else), saying what changed.
async fn impact_analysis_names_what_a_condition_change_touches(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = h200(&mut acme).await;
    let licence = h200_licence(&app, &mut acme, &product.name, 100).await;
    let pending = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(draft(&product.name)),
        })
        .await
        .expect("draft")
        .into_inner();
    let h20 = crate::fixtures::create_product(&mut acme).await;
    acme.create_application(pb::CreateApplicationRequest {
        request_id: request_id(),
        application: Some(draft(&h20.name)),
    })
    .await
    .expect("draft");

    let mut changed = crate::policy::latest_catalogue_draft();
    changed.effective_time = Some(prost_types::Timestamp {
        seconds: (chrono::Utc::now() + chrono::Duration::days(30)).timestamp(),
        nanos: 0,
    });
    let rule = changed
        .rules
        .iter_mut()
        .find(|r| r.rule_id == "3A090.a-china-macau-h200-class")
        .expect("the H200-class rule");
    let conditions = rule.conditions.as_mut().expect("conditions");
    conditions.aggregate_cap_percent_of_us_units = 40;
    conditions.certifications.push(pb::CertificationDefinition {
        key: "end-use-checks-allowed".into(),
        statement: "The consignee allows end-use checks".into(),
        figure: String::new(),
    });
    let mut admin = app.policies_with(Some(app.token(&["policy_admin"], None)));
    let mut impacted = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = admin
            .analyze_impact(pb::AnalyzeImpactRequest {
                rule_set: Some(changed.clone()),
                page_size: 100,
                page_token,
            })
            .await
            .expect("impact")
            .into_inner();
        impacted.extend(page.impacted);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut resources: Vec<&str> = impacted.iter().map(|i| i.resource.as_str()).collect();
    resources.sort();
    let mut expected = vec![
        pending.name.as_str(),
        licence.name.as_str(),
        licence.application.as_str(),
    ];
    expected.sort();
    // The approved application is decided: only its licence and the pending draft matter.
    expected.retain(|r| *r != licence.application.as_str());
    assert_eq!(resources, expected, "{impacted:?}");
    for hit in &impacted {
        assert_eq!(
            hit.kind,
            pb::ImpactKind::ConditionsChanged as i32,
            "{hit:?}"
        );
        assert!(
            hit.summary.contains("certification:end-use-checks-allowed")
                && hit.summary.contains("aggregate_cap_percent=40"),
            "{}",
            hit.summary
        );
    }
}

on_both_databases!(
    impact_analysis_names_what_a_condition_change_touches,
    a_shipment_under_the_january_2026_review_needs_a_us_test_report,
    the_aggregate_cap_holds_when_shipments_race_across_licences,
    determine_explains_the_january_2026_conditions,
);
