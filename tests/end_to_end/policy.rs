//! Control rules: determination, publishing versions, and impact analysis.

use chrono::{TimeZone, Utc};
use clearance_domain::policy::catalogue;
use clearance_domain::policy::rules::PublishedRuleSet;
use clearance_grpc::convert_policy::rule_set_to_pb;
use clearance_proto::v1 as pb;
use clearance_tests::{TestApp, TestDb, on_both_databases};
use tonic::Code;

use crate::fixtures::{
    assert_code, create_application, draft, reason, request_id, violated_fields,
};

fn at(y: i32, m: u32, d: u32) -> Option<prost_types::Timestamp> {
    let t = Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap();
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn part(tpp: i64, die: i64, memory: i64, io: i64, datacenter: bool) -> pb::Product {
    pb::Product {
        classification: "3A090.a".into(),
        datacenter,
        parameters: Some(pb::TechnicalParameters {
            total_processing_performance: Some(tpp),
            die_area_mm2: Some(die),
            memory_bandwidth_gbps: Some(memory),
            io_bandwidth_gbps: Some(io),
            performance_density: 0.0,
        }),
        us_commercially_available_since: "2024-01-01".into(),
        ..Default::default()
    }
}

/// How many rule-set versions the built-in catalogue installs (the newest took effect in
/// January 2026, so it is the one in force for calls made today).
pub const BUILT_IN_VERSIONS: i64 = 4;

/// The newest built-in version as a draft a policy administrator would send.
pub fn latest_catalogue_draft() -> pb::RuleSet {
    catalogue_draft(BUILT_IN_VERSIONS as usize)
}

/// The built-in catalogue version `n` (1-based) as a draft a policy administrator would send.
pub fn catalogue_draft(n: usize) -> pb::RuleSet {
    let groups = catalogue::country_groups().unwrap();
    let rule_set = catalogue::rule_sets(&groups).unwrap().remove(n - 1);
    let mut draft = rule_set_to_pb(&PublishedRuleSet {
        id: uuid::Uuid::now_v7(),
        version: 0,
        publish_time: Utc::now(),
        published_by: String::new(),
        rule_set,
    });
    draft.name = String::new();
    draft.version = 0;
    draft.publish_time = None;
    draft.publisher = String::new();
    draft
}

async fn determine(
    app: &TestApp,
    product: pb::Product,
    country: &str,
    when: Option<prost_types::Timestamp>,
) -> pb::Determination {
    app.policies_with(Some(app.token(&["reviewer"], None)))
        .determine(pb::DetermineRequest {
            product: Some(product),
            destination_country_code: country.into(),
            end_user_headquarters_country_code: String::new(),
            export_time: when,
            transaction_kind: 0,
            certifications: None,
        })
        .await
        .expect("determine")
        .into_inner()
}

async fn the_built_in_catalogue_answers_the_2023_to_2025_cases(_db: &TestDb, app: TestApp) {
    let h800 = part(15_800, 814, 3_350, 400, true);
    let d = determine(&app, h800.clone(), "CN", at(2024, 1, 15)).await;
    assert!(d.licence_required);
    assert_eq!(
        d.review_policy,
        pb::ReviewPolicy::PresumptionOfDenial as i32
    );
    assert_eq!(d.consulted[0].version, 1);
    assert!(d.consulted[0].rule_set.starts_with("ruleSets/"));
    assert_eq!(d.fired_rules.len(), 1);
    assert!(
        d.fired_rules[0].citation.contains("3A090.a"),
        "{:?}",
        d.fired_rules[0]
    );
    assert!(
        !determine(&app, h800, "DE", at(2024, 1, 15))
            .await
            .licence_required
    );

    let h20 = part(2_368, 814, 4_000, 900, true);
    assert!(
        !determine(&app, h20.clone(), "CN", at(2025, 3, 1))
            .await
            .licence_required
    );
    let april = determine(&app, h20.clone(), "CN", at(2025, 5, 1)).await;
    assert!(april.licence_required);
    assert_eq!(april.fired_rules[0].rule_id, "h20-class-china-d5");
    assert!(
        april.fired_rules[0]
            .matched_criterion
            .contains("memory_bandwidth_gbps >= 1400")
    );
    let august = determine(&app, h20.clone(), "CN", at(2025, 8, 1)).await;
    assert!(august.licence_required);
    assert_eq!(august.review_policy, pb::ReviewPolicy::CaseByCase as i32);
    assert_eq!(august.consulted[0].version, 3);
    for country in ["HK", "MO"] {
        assert!(
            determine(&app, h20.clone(), country, at(2025, 5, 1))
                .await
                .licence_required,
            "{country}"
        );
    }
    assert!(
        !determine(&app, h20, "DE", at(2025, 5, 1))
            .await
            .licence_required
    );

    let combined = determine(
        &app,
        part(1_000, 600, 1_000, 800, true),
        "CN",
        at(2025, 5, 1),
    )
    .await;
    assert!(combined.licence_required);
    assert_eq!(combined.fired_rules.len(), 1);
    assert_eq!(
        combined.fired_rules[0].matched_criterion,
        "memory_bandwidth_gbps + io_bandwidth_gbps >= 1700"
    );
    assert!(
        !determine(
            &app,
            part(1_000, 600, 1_000, 600, true),
            "CN",
            at(2025, 5, 1)
        )
        .await
        .licence_required
    );

    let consumer = part(4_000, 600, 900, 64, false);
    assert!(
        !determine(&app, consumer, "CN", at(2024, 1, 15))
            .await
            .licence_required
    );
}

async fn exporters_ask_about_their_own_products_only(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = crate::fixtures::create_product(&mut acme).await;
    let d = acme
        .determine_requirement(pb::DetermineRequirementRequest {
            product: product.name.clone(),
            destination_country_code: "CN".into(),
            end_user_headquarters_country_code: String::new(),
            export_time: at(2025, 5, 1),
            item: None,
            transaction_kind: 0,
            certifications: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(d.licence_required);
    assert!(!d.no_rules_in_force);
    // The same item described inline, before any product is stored: the same answer.
    let inline =
        |item: Option<pb::Product>, product: &str, year: i32| pb::DetermineRequirementRequest {
            product: product.to_owned(),
            destination_country_code: "CN".into(),
            end_user_headquarters_country_code: String::new(),
            export_time: at(year, 5, 1),
            item,
            transaction_kind: 0,
            certifications: None,
        };
    let described = pb::Product {
        name: String::new(),
        etag: String::new(),
        ..product.clone()
    };
    let d = acme
        .determine_requirement(inline(Some(described.clone()), "", 2025))
        .await
        .unwrap()
        .into_inner();
    assert!(d.licence_required);
    // Before any rule set was in force the answer is neither "required" nor "not required".
    let d = acme
        .determine_requirement(inline(Some(described.clone()), "", 2000))
        .await
        .unwrap()
        .into_inner();
    assert!(d.no_rules_in_force, "{d:?}");
    for (item, name) in [(Some(described.clone()), product.name.as_str()), (None, "")] {
        assert_code(
            acme.determine_requirement(inline(item, name, 2025)).await,
            Code::InvalidArgument,
        );
    }
    // An end user headquartered in China is caught even for a shipment to Malaysia.
    let d = acme
        .determine_requirement(pb::DetermineRequirementRequest {
            product: product.name.clone(),
            destination_country_code: "MY".into(),
            end_user_headquarters_country_code: "CN".into(),
            export_time: at(2025, 5, 1),
            item: None,
            transaction_kind: 0,
            certifications: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(d.licence_required);
    let mut globex = app.applicant("globex");
    assert_code(
        globex
            .determine_requirement(pb::DetermineRequirementRequest {
                product: product.name.clone(),
                destination_country_code: "CN".into(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    let status = assert_code(
        acme.determine_requirement(pb::DetermineRequirementRequest {
            product: product.name,
            destination_country_code: "XX".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["destination_country_code"]);
}

async fn count_rule_sets(app: &TestApp) -> usize {
    app.policies_with(Some(app.token(&["auditor"], None)))
        .list_rule_sets(pb::ListRuleSetsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rule_sets
        .len()
}

/// The fields a refused publish names (it must be refused as bad input).
async fn refused_fields(
    admin: &mut clearance_tests::PolicyClient,
    draft: pb::RuleSet,
) -> Vec<String> {
    let status = assert_code(
        admin
            .publish_rule_set(pb::PublishRuleSetRequest {
                request_id: request_id(),
                rule_set: Some(draft),
            })
            .await,
        Code::InvalidArgument,
    );
    violated_fields(&status)
}

async fn invalid_or_unauthorised_publishes_store_nothing(_db: &TestDb, app: TestApp) {
    let before = count_rule_sets(&app).await;
    assert_eq!(before, BUILT_IN_VERSIONS as usize);
    let mut admin = app.policies_with(Some(app.token(&["policy_admin"], None)));
    let mut bad = latest_catalogue_draft();
    bad.effective_time = at(2027, 1, 1);
    bad.rules[0].criterion = "clock_ghz >= 2".into();
    bad.rules[1].criterion = "tpp >= 4800 &&".into();
    bad.rules[2].destinations.as_mut().unwrap().country_groups = vec!["D:9".into()];
    assert_eq!(
        refused_fields(&mut admin, bad).await,
        [
            "rule_set.rules[0].criterion",
            "rule_set.rules[1].criterion",
            "rule_set.rules[2].destinations.country_groups[0]",
        ]
    );
    let mut unknown_kind = latest_catalogue_draft();
    unknown_kind.effective_time = at(2027, 1, 1);
    unknown_kind.rules[3].transaction_kinds = vec![99, pb::TransactionKind::Export as i32, 1];
    assert_eq!(
        refused_fields(&mut admin, unknown_kind).await,
        [
            "rule_set.rules[3].transaction_kinds[0]",
            "rule_set.rules[3].transaction_kinds[2]"
        ]
    );
    // The served January 2026 version says which kinds its case-by-case review is for.
    let served = app
        .policies_with(Some(app.token(&["auditor"], None)))
        .list_rule_sets(pb::ListRuleSetsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .rule_sets;
    let january = served.iter().find(|r| r.version == 4).expect("version 4");
    let kinds = |id: &str| {
        january
            .rules
            .iter()
            .find(|r| r.rule_id == id)
            .map(|r| r.transaction_kinds.clone())
            .expect("rule")
    };
    assert_eq!(
        kinds("3A090.a-china-macau-h200-class"),
        [pb::TransactionKind::Export as i32]
    );
    assert_eq!(kinds("3A090.a-china-macau-h200-class-not-from-us").len(), 3);
    assert!(kinds("3A090.a-d5").is_empty(), "every kind");

    let mut overlapping = latest_catalogue_draft();
    overlapping.effective_time = at(2025, 8, 1);
    assert_eq!(
        refused_fields(&mut admin, overlapping).await,
        ["rule_set.effective_time"]
    );

    for role in ["reviewer", "senior_reviewer", "auditor"] {
        let mut other = app.policies_with(Some(app.token(&[role], None)));
        let mut next = latest_catalogue_draft();
        next.effective_time = at(2027, 1, 1);
        let status = assert_code(
            other
                .publish_rule_set(pb::PublishRuleSetRequest {
                    request_id: request_id(),
                    rule_set: Some(next),
                })
                .await,
            Code::PermissionDenied,
        );
        assert_eq!(reason(&status), "ROLE_NOT_ALLOWED", "{role}");
    }
    assert_eq!(count_rule_sets(&app).await, before);
}

async fn a_published_version_takes_effect_from_its_date_only(_db: &TestDb, app: TestApp) {
    let mut admin = app.policies_with(Some(app.token(&["policy_admin"], None)));
    let mut next = latest_catalogue_draft();
    next.effective_time = at(2027, 1, 1);
    next.display_name = "H20-class exports no longer licensed (hypothetical)".into();
    next.rules.retain(|r| r.rule_id != "h20-class-china-d5");
    let request = pb::PublishRuleSetRequest {
        request_id: request_id(),
        rule_set: Some(next),
    };
    let published = admin
        .publish_rule_set(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(published.version, BUILT_IN_VERSIONS + 1);
    assert_eq!(published.key, "us-advanced-computing");
    assert_eq!(published.publisher, "policy_admin@regulator");
    let replay = admin.publish_rule_set(request).await.unwrap().into_inner();
    assert_eq!(replay, published);

    let read = admin
        .get_rule_set(pb::GetRuleSetRequest {
            name: published.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, published);
    assert_eq!(count_rule_sets(&app).await, BUILT_IN_VERSIONS as usize + 1);

    let h20 = part(2_368, 814, 4_000, 900, true);
    let later = determine(&app, h20.clone(), "CN", at(2027, 2, 1)).await;
    assert!(!later.licence_required);
    assert_eq!(later.consulted[0].version, BUILT_IN_VERSIONS + 1);
    let earlier = determine(&app, h20, "CN", at(2025, 8, 1)).await;
    assert!(earlier.licence_required);
    assert_eq!(earlier.consulted[0].version, 3);
    let history = app.store.history(&published.name, None).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].action, "rule_set.published");
}

async fn impact_analysis_lists_what_a_draft_would_change_without_publishing(
    _db: &TestDb,
    app: TestApp,
) {
    let mut admin = app.policies_with(Some(app.token(&["policy_admin"], None)));
    admin
        .publish_rule_set(pb::PublishRuleSetRequest {
            request_id: request_id(),
            rule_set: Some(catalogue_draft(1)),
        })
        .await
        .unwrap();
    let mut acme = app.applicant("acme");
    let product = crate::fixtures::create_product(&mut acme).await;
    let to_china = create_application(&mut acme, &product.name).await;
    let mut german = draft(&product.name);
    german.destination_country_code = "DE".into();
    german.parties[0].country_code = "DE".into();
    german.parties[0].headquarters_country_code = "DE".into();
    let to_germany = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(german),
        })
        .await
        .unwrap()
        .into_inner();

    // A licence and shipments made under the 2023 rules, to China and to Germany.
    let (_, licence) = crate::ledger::licensed(&app, "initech", 10).await;
    let mut erp = crate::ledger::erp(&app, "acme");
    let to_china_shipment = erp
        .start_shipment(pb::StartShipmentRequest {
            request_id: request_id(),
            shipment: Some(crate::ledger::shipment(&product.name, 3, 30_000)),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(to_china_shipment.no_licence_required);
    let mut to_germany_shipment = crate::ledger::shipment(&product.name, 3, 30_000);
    to_germany_shipment.destination_country_code = "DE".into();
    to_germany_shipment.end_user = Some(pb::Party {
        display_name: "Beispiel GmbH".into(),
        country_code: "DE".into(),
        headquarters_country_code: "DE".into(),
        ..Default::default()
    });
    erp.start_shipment(pb::StartShipmentRequest {
        request_id: request_id(),
        shipment: Some(to_germany_shipment),
    })
    .await
    .unwrap();

    let mut impacted = Vec::new();
    let mut token = String::new();
    loop {
        let page = admin
            .analyze_impact(pb::AnalyzeImpactRequest {
                rule_set: Some(catalogue_draft(2)),
                page_size: 1,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        impacted.extend(page.impacted);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let resources: Vec<&str> = impacted.iter().map(|i| i.resource.as_str()).collect();
    assert_eq!(
        resources,
        [
            to_china.name.as_str(),
            licence.name.as_str(),
            to_china_shipment.name.as_str()
        ]
    );
    assert!(
        impacted
            .iter()
            .all(|i| i.kind == pb::ImpactKind::NowRequiresLicence as i32)
    );
    let hit = &impacted[0];
    assert_eq!(hit.resource, to_china.name);
    assert_eq!(hit.line, "lines[0]");
    assert_eq!(hit.kind, pb::ImpactKind::NowRequiresLicence as i32);
    assert_eq!(
        hit.summary,
        "now requires a licence (presumption of denial)"
    );
    assert!(!hit.before.as_ref().unwrap().licence_required);
    assert!(hit.after.as_ref().unwrap().licence_required);
    assert!(impacted.iter().all(|i| i.resource != to_germany.name));
    assert_eq!(count_rule_sets(&app).await, 1, "analysis publishes nothing");
}

async fn a_stored_determination_keeps_its_rule_set_version_when_rules_change(
    _db: &TestDb,
    app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let product = crate::fixtures::create_product(&mut acme).await;
    let application = create_application(&mut acme, &product.name).await;
    let submitted = acme
        .submit_application(pb::SubmitApplicationRequest {
            name: application.name.clone(),
            request_id: request_id(),
            etag: application.etag.clone(),
            declaration_confirmed: true,
        })
        .await
        .unwrap()
        .into_inner();
    let stored = submitted.lines[0].determination.clone().unwrap();
    assert_eq!(stored.consulted[0].version, BUILT_IN_VERSIONS);
    assert!(stored.licence_required);

    let mut admin = app.policies_with(Some(app.token(&["policy_admin"], None)));
    let mut next = latest_catalogue_draft();
    next.effective_time = Some(prost_types::Timestamp {
        seconds: Utc::now().timestamp() + 60,
        nanos: 0,
    });
    next.rules.retain(|r| r.rule_id != "h20-class-china-d5");
    admin
        .publish_rule_set(pb::PublishRuleSetRequest {
            request_id: request_id(),
            rule_set: Some(next),
        })
        .await
        .unwrap();
    app.clock.set(Utc::now() + chrono::Duration::hours(1));
    let now_not_required = acme
        .determine_requirement(pb::DetermineRequirementRequest {
            product: product.name.clone(),
            destination_country_code: "CN".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!now_not_required.licence_required);
    assert_eq!(now_not_required.consulted[0].version, BUILT_IN_VERSIONS + 1);
    let reread = acme
        .get_application(pb::GetApplicationRequest {
            name: submitted.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reread.lines[0].determination.as_ref(), Some(&stored));
}

on_both_databases!(
    a_stored_determination_keeps_its_rule_set_version_when_rules_change,
    the_built_in_catalogue_answers_the_2023_to_2025_cases,
    exporters_ask_about_their_own_products_only,
    invalid_or_unauthorised_publishes_store_nothing,
    a_published_version_takes_effect_from_its_date_only,
    only_exports_from_the_united_states_are_reviewed_case_by_case_from_january_2026,
    a_reexport_application_is_judged_as_one_when_submitted,
);

/// An application says how its goods move: submitted as a reexport of an H200-class part to
/// China, its stored determination is a presumption of denial (the rule's reason), while the
/// same as an export is refused without the January 2026 certifications (each named, one
/// without its figure too) and reviewed case by case with them; an update may change the kind
/// alone.
async fn a_reexport_application_is_judged_as_one_when_submitted(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let mut h200 = crate::fixtures::h20();
    h200.part_number = "H200-SXM-141G".into();
    h200.parameters = part(15_832, 814, 4_800, 900, true).parameters;
    let h200 = acme
        .create_product(pb::CreateProductRequest {
            request_id: request_id(),
            product: Some(h200),
        })
        .await
        .expect("product")
        .into_inner();
    let mut policies = Vec::new();
    for kind in [
        pb::TransactionKind::Unspecified,
        pb::TransactionKind::Reexport,
    ] {
        let mut application = crate::fixtures::draft(&h200.name);
        application.transaction_kind = kind as i32;
        let created = acme
            .create_application(pb::CreateApplicationRequest {
                request_id: request_id(),
                application: Some(application),
            })
            .await
            .expect("create")
            .into_inner();
        let expected = if kind == pb::TransactionKind::Unspecified {
            pb::TransactionKind::Export
        } else {
            kind
        };
        assert_eq!(created.transaction_kind, expected as i32);
        let created = if kind == pb::TransactionKind::Unspecified {
            // An export claims the case-by-case review only with the rule's certifications:
            // without them submission names each one, citing the rule.
            let status = assert_code(
                acme.submit_application(pb::SubmitApplicationRequest {
                    name: created.name.clone(),
                    request_id: request_id(),
                    etag: created.etag.clone(),
                    declaration_confirmed: true,
                })
                .await,
                Code::InvalidArgument,
            );
            let mut fields = violated_fields(&status);
            fields.sort();
            assert_eq!(
                fields,
                [
                    "certifications[below-performance-criteria]",
                    "certifications[china-within-half-of-us-shipments]",
                    "certifications[consignee-know-your-customer]",
                    "certifications[no-end-use-prohibition]",
                    "certifications[no-foundry-diversion]",
                    "certifications[third-party-testing]",
                    "certifications[us-supply-sufficient]",
                ]
            );
            assert!(
                status.message().contains("91 FR 1684"),
                "{}",
                status.message()
            );
            // One certified without its figure is named again, for the figure.
            let mut partial = crate::fixtures::january_2026_certifications(1_000);
            partial[3].figure = None;
            let certify = |certifications, draft: &pb::Application| pb::UpdateApplicationRequest {
                request_id: request_id(),
                application: Some(pb::Application {
                    name: draft.name.clone(),
                    etag: draft.etag.clone(),
                    certifications,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["certifications".into()],
                }),
            };
            let updated = acme
                .update_application(certify(partial, &created))
                .await
                .expect("certify")
                .into_inner();
            let status = assert_code(
                acme.submit_application(pb::SubmitApplicationRequest {
                    name: updated.name.clone(),
                    request_id: request_id(),
                    etag: updated.etag.clone(),
                    declaration_confirmed: true,
                })
                .await,
                Code::InvalidArgument,
            );
            assert_eq!(
                violated_fields(&status),
                ["certifications[china-within-half-of-us-shipments]"]
            );
            assert!(
                status.message().contains("lacks its figure"),
                "{}",
                status.message()
            );
            acme.update_application(certify(
                crate::fixtures::january_2026_certifications(1_000),
                &updated,
            ))
            .await
            .expect("certify")
            .into_inner()
        } else {
            created
        };
        let submitted = crate::fixtures::submit(&mut acme, &created).await;
        let stored = submitted.lines[0]
            .determination
            .clone()
            .expect("determination");
        policies.push((stored.review_policy, stored.fired_rules));
    }
    assert_eq!(policies[0].0, pb::ReviewPolicy::CaseByCase as i32);
    let certified: Vec<_> = policies[0]
        .1
        .iter()
        .flat_map(|f| f.conditions.iter())
        .filter(|c| c.condition.starts_with("certification:"))
        .map(|c| c.status)
        .collect();
    assert_eq!(certified, [pb::ConditionStatus::Met as i32; 7]);
    assert_eq!(policies[1].0, pb::ReviewPolicy::PresumptionOfDenial as i32);
    let why = policies[1]
        .1
        .iter()
        .find(|f| f.rule_id == "3A090.a-china-macau-h200-class-not-from-us")
        .unwrap_or_else(|| panic!("{:?}", policies[1].1));
    assert!(
        why.description
            .contains("case-by-case review applies only to exports from the United States")
            && why.citation.contains("91 FR 1684"),
        "{why:?}"
    );
    // The kind alone can be changed on a draft; an unknown one is refused by its field.
    let draft = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(crate::fixtures::draft(&h200.name)),
        })
        .await
        .expect("create")
        .into_inner();
    let update = |kind: i32, draft: &pb::Application| pb::UpdateApplicationRequest {
        request_id: request_id(),
        application: Some(pb::Application {
            name: draft.name.clone(),
            etag: draft.etag.clone(),
            transaction_kind: kind,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["transaction_kind".into()],
        }),
    };
    let changed = acme
        .update_application(update(
            pb::TransactionKind::InCountryTransfer as i32,
            &draft,
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(
        changed.transaction_kind,
        pb::TransactionKind::InCountryTransfer as i32
    );
    assert_eq!(changed.lines, draft.lines);
    let status = assert_code(
        acme.update_application(update(77, &changed)).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["application.transaction_kind"]);
}

/// The January 2026 case-by-case review is for exports from the United States: the same
/// H200-class part reexported (or exported from abroad, or transferred within China) keeps the
/// presumption of denial, and the determination says why, citing the rule; exporters and the
/// regulator get the same answer, and an unknown kind is bad input.
async fn only_exports_from_the_united_states_are_reviewed_case_by_case_from_january_2026(
    _db: &TestDb,
    app: TestApp,
) {
    let h200 = part(15_832, 814, 4_800, 900, true);
    let when = at(2026, 3, 1);
    let mut regulator = app.policies_with(Some(app.token(&["reviewer"], None)));
    let mut acme = app.applicant("acme");
    let ask = |kind: pb::TransactionKind| pb::DetermineRequest {
        product: Some(h200.clone()),
        destination_country_code: "CN".into(),
        end_user_headquarters_country_code: String::new(),
        export_time: when,
        transaction_kind: kind as i32,
        certifications: None,
    };
    for (kind, policy) in [
        (
            pb::TransactionKind::Unspecified,
            pb::ReviewPolicy::CaseByCase,
        ),
        (pb::TransactionKind::Export, pb::ReviewPolicy::CaseByCase),
        (
            pb::TransactionKind::Reexport,
            pb::ReviewPolicy::PresumptionOfDenial,
        ),
        (
            pb::TransactionKind::ExportFromAbroad,
            pb::ReviewPolicy::PresumptionOfDenial,
        ),
        (
            pb::TransactionKind::InCountryTransfer,
            pb::ReviewPolicy::PresumptionOfDenial,
        ),
    ] {
        let d = regulator
            .determine(ask(kind))
            .await
            .expect("determine")
            .into_inner();
        assert!(d.licence_required, "{kind:?}");
        assert_eq!(
            d.review_policy, policy as i32,
            "{kind:?}: {:?}",
            d.fired_rules
        );
        let exporter = acme
            .determine_requirement(pb::DetermineRequirementRequest {
                item: Some(h200.clone()),
                destination_country_code: "CN".into(),
                export_time: when,
                transaction_kind: kind as i32,
                ..Default::default()
            })
            .await
            .expect("determine requirement")
            .into_inner();
        assert_eq!(exporter.review_policy, d.review_policy, "{kind:?}");
        if policy == pb::ReviewPolicy::PresumptionOfDenial {
            let why = d
                .fired_rules
                .iter()
                .find(|f| f.rule_id == "3A090.a-china-macau-h200-class-not-from-us")
                .unwrap_or_else(|| panic!("{kind:?}: {:?}", d.fired_rules));
            assert!(why.citation.contains("91 FR 1684"), "{why:?}");
        }
    }
    let status = assert_code(
        regulator
            .determine(pb::DetermineRequest {
                transaction_kind: 99,
                ..ask(pb::TransactionKind::Export)
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["transaction_kind"]);
}

/// The January 2026 version against the three before it, on the demo's kind of data (an H20
/// and an H200 application to China): only the H200-class application changes, from a
/// presumption of denial to case-by-case review.
async fn the_january_2026_rules_change_only_h200_class_reviews(_db: &TestDb, app: TestApp) {
    let mut admin = app.policies_with(Some(app.token(&["policy_admin"], None)));
    for n in 1..BUILT_IN_VERSIONS as usize {
        admin
            .publish_rule_set(pb::PublishRuleSetRequest {
                request_id: request_id(),
                rule_set: Some(catalogue_draft(n)),
            })
            .await
            .unwrap();
    }
    let mut acme = app.applicant("acme");
    let mut h200 = crate::fixtures::h20();
    h200.display_name = "H200 SXM".into();
    h200.part_number = "H200-SXM-141G".into();
    h200.parameters = part(15_832, 814, 4_800, 900, true).parameters;
    let h200 = acme
        .create_product(pb::CreateProductRequest {
            request_id: request_id(),
            product: Some(h200),
        })
        .await
        .unwrap()
        .into_inner();
    let h20 = crate::fixtures::create_product(&mut acme).await;
    let h200_to_china = create_application(&mut acme, &h200.name).await;
    let h20_to_china = create_application(&mut acme, &h20.name).await;

    let impacted = admin
        .analyze_impact(pb::AnalyzeImpactRequest {
            rule_set: Some(latest_catalogue_draft()),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .impacted;
    let resources: Vec<&str> = impacted.iter().map(|i| i.resource.as_str()).collect();
    assert_eq!(resources, [h200_to_china.name.as_str()], "{impacted:?}");
    let hit = &impacted[0];
    assert_eq!(hit.kind, pb::ImpactKind::ReviewPolicyChanged as i32);
    assert!(hit.summary.contains("case by case"), "{}", hit.summary);
    let after = hit.after.as_ref().unwrap();
    assert!(
        after
            .fired_rules
            .iter()
            .any(|f| f.rule_id == "3A090.a-china-macau-h200-class")
    );
    assert!(impacted.iter().all(|i| i.resource != h20_to_china.name));
}

mod without_catalogue {
    use super::*;

    on_both_databases!(without_catalogue;
        impact_analysis_lists_what_a_draft_would_change_without_publishing,
        the_january_2026_rules_change_only_h200_class_reviews
    );
}
