//! Denied-party screening end to end: lists imported in two published formats, a listed end
//! user found at submission under another script and word order, cleared with reasons; a
//! shipment to a listed end user or consignee refused with the ledger untouched; a bad file
//! refused with the previous version left in force; a new version flagging open cases and
//! active licences.

use std::sync::Arc;

use clearance_proto::v1 as pb;
use clearance_tests::{PolicyClient, ReviewClient, TestApp, TestDb, on_both_databases};
use tonic::Code;
use tonic_types::StatusExt;

use crate::fixtures::{
    assert_code, assign_to_self, create_product, draft, reason, request_id, submit, violated_fields,
};
use crate::ledger::{erp, licensed, shipment, start};

on_both_databases!(
    a_listed_end_user_is_flagged_at_submission_and_cleared_with_reasons,
    shipments_to_a_listed_party_are_refused_until_a_reviewer_clears_it,
    a_malformed_list_is_refused_and_the_previous_version_stays_in_force,
    a_new_list_version_flags_open_cases_in_the_background,
    a_new_list_version_flags_the_parties_of_active_licences,
    a_listed_consignee_stops_a_shipment,
    identical_resolutions_released_together_resolve_once,
    a_list_imported_while_reviewers_work_flags_every_case_before_any_decision,
    shipments_with_short_deadlines_ride_through_a_large_import,
    a_list_returning_to_an_earlier_file_is_in_force_again,
);

/// A synthetic Consolidated Screening List extract written for these tests.
const CSL_CSV: &str = "_id,source,entity_number,type,programs,name,title,addresses,alt_names,citizenships\n\
c1,Entity List (EL) - Bureau of Industry and Security,,Entity,EAR,Northern Star Electronics Co. Ltd.,,\"18 Keyuan Road, Shenzhen, CN\",NSE Trading,\n\
c2,Entity List (EL) - Bureau of Industry and Security,,Entity,EAR,Example Cloud Ltd,,\"1 Example Road, Shenzhen, CN\",,\n";

/// Synthetic FollowTheMoney entities written for these tests.
const FTM_LINES: &str = concat!(
    r#"{"id": "os-zvezda", "schema": "Company", "properties": {"name": ["Zvezda Instrument Works"], "country": ["ru"], "address": ["4 Prospekt Mira, Moscow"], "program": ["RUSSIA-EO14024"]}, "datasets": ["us_ofac_sdn"]}"#,
    "\n",
    r#"{"id": "os-sanction", "schema": "Sanction", "properties": {"entity": ["os-zvezda"]}}"#,
    "\n"
);

fn policy_admin(app: &TestApp) -> PolicyClient {
    app.policies_with(Some(app.token(&["policy_admin"], None)))
}

async fn import(
    admin: &mut PolicyClient,
    source: &str,
    format: pb::ScreeningListFormat,
    content: &str,
) -> Result<pb::ScreeningList, tonic::Status> {
    admin
        .import_screening_list(pb::ImportScreeningListRequest {
            request_id: request_id(),
            source: source.into(),
            format: format as i32,
            content: content.as_bytes().to_vec(),
        })
        .await
        .map(|r| r.into_inner())
}

/// Imports the synthetic Consolidated Screening List extract.
pub(crate) async fn import_csl(app: &TestApp) -> pb::ScreeningList {
    import(
        &mut policy_admin(app),
        "US CSL",
        pb::ScreeningListFormat::CslCsv,
        CSL_CSV,
    )
    .await
    .expect("import")
}

async fn case_of(reviewer: &mut ReviewClient, name: &str) -> pb::Case {
    reviewer
        .get_case(pb::GetCaseRequest { name: name.into() })
        .await
        .expect("case")
        .into_inner()
}

async fn resolve(
    reviewer: &mut ReviewClient,
    case: &pb::Case,
    confirm: bool,
    reason: &str,
) -> Result<pb::Case, tonic::Status> {
    reviewer
        .resolve_screening_hit(pb::ResolveScreeningHitRequest {
            name: case.screening_hits[0].name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            confirm,
            reason: reason.into(),
        })
        .await
        .map(|r| r.into_inner())
}

/// An application for `product` to an end user in `country` (headquartered there), submitted.
async fn submitted_to(
    officer: &mut clearance_tests::ApplicationClient,
    product: &str,
    country: &str,
    end_user: &str,
    address: &str,
) -> pb::Application {
    let mut application = draft(product);
    application.destination_country_code = country.into();
    let party = &mut application.parties[0];
    party.display_name = end_user.into();
    if !address.is_empty() {
        party.address = address.into();
    }
    party.country_code = country.into();
    party.headquarters_country_code = country.into();
    let created = officer
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        })
        .await
        .expect("create")
        .into_inner();
    submit(officer, &created).await
}

fn approve(case: &pb::Case) -> pb::ProposeDecisionRequest {
    pb::ProposeDecisionRequest {
        name: case.name.clone(),
        request_id: request_id(),
        etag: case.etag.clone(),
        approve: true,
        reason: "verified".into(),
        ..Default::default()
    }
}

async fn a_listed_end_user_is_flagged_at_submission_and_cleared_with_reasons(
    _db: &TestDb,
    app: TestApp,
) {
    let mut admin = policy_admin(&app);
    let csl = import_csl(&app).await;
    assert_eq!(csl.entry_count, 2);
    let ftm = import(
        &mut admin,
        "OpenSanctions",
        pb::ScreeningListFormat::FollowTheMoney,
        FTM_LINES,
    )
    .await
    .expect("FollowTheMoney import");
    assert_eq!(ftm.entry_count, 1, "the Sanction entity is not a party");

    // The end user is the listed company, written in Cyrillic with its words reordered.
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let submitted = submitted_to(
        &mut acme,
        &product.name,
        "RU",
        "Инструмент Воркс Звезда",
        "4 Prospekt Mira, Moscow",
    )
    .await;

    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let case = assign_to_self(&mut alice, &submitted).await;
    assert_eq!(case.screening_hits.len(), 1, "{:?}", case.screening_hits);
    let hit = &case.screening_hits[0];
    assert_eq!(hit.listed_name, "Zvezda Instrument Works");
    assert_eq!(hit.list, ftm.name);
    assert_eq!(hit.party_number, 1);
    assert!(hit.score >= 0.85 && hit.score <= 1.0, "{}", hit.score);
    assert_eq!(hit.matched_fields, ["name", "country", "address"]);
    assert_eq!(hit.status, pb::ScreeningHitStatus::Open as i32);

    // No decision over an open hit.
    let status = assert_code(
        alice.propose_decision(approve(&case)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "SCREENING_UNRESOLVED");
    // Clearing takes reasons.
    let status = assert_code(
        resolve(&mut alice, &case, false, " ").await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["reason"]);
    let cleared = resolve(
        &mut alice,
        &case,
        false,
        "Registry check: a different company of the same name, no link to the listed entity",
    )
    .await
    .expect("clear");
    let hit = &cleared.screening_hits[0];
    assert_eq!(hit.status, pb::ScreeningHitStatus::Cleared as i32);
    assert_eq!(hit.decided_by, "alice@regulator");
    // Decided once.
    assert_code(
        resolve(&mut alice, &cleared, true, "again").await,
        Code::FailedPrecondition,
    );
    alice
        .propose_decision(approve(&cleared))
        .await
        .expect("proposal after the hit was cleared");

    // History shows the screening at submission and the clearance.
    let history = app
        .regulator("audrey@regulator", &["auditor"])
        .get_history(pb::GetHistoryRequest {
            resource: submitted.name.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("history")
        .into_inner()
        .entries;
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"application.submitted"), "{actions:?}");
    let resolved = history
        .iter()
        .find(|e| e.action == "case.screening_resolved")
        .expect("the clearance is on the record");
    assert_eq!(resolved.actor, "alice@regulator");
    assert!(resolved.reason.contains("Registry check"));
    // The applicant reads neither the hit nor its clearance.
    let own = acme
        .list_history(pb::ListHistoryRequest {
            resource: submitted.name.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("own history")
        .into_inner()
        .entries;
    assert!(own.iter().all(|e| e.action != "case.screening_resolved"));
}

async fn shipments_to_a_listed_party_are_refused_until_a_reviewer_clears_it(
    _db: &TestDb,
    app: TestApp,
) {
    // A licence issued before the end user was listed.
    let (product, licence) = licensed(&app, "acme", 100).await;
    let mut shipper = erp(&app, "acme");
    start(&mut shipper, shipment(&product, 10, 100_000))
        .await
        .expect("shipped before the listing");
    import_csl(&app).await;
    let mut officer = app.applicant("acme");
    let before = officer
        .get_licence(pb::GetLicenceRequest {
            name: licence.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let status = assert_code(
        start(&mut shipper, shipment(&product, 10, 100_000)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "DENIED_PARTY", "{status:?}");
    assert!(status.message().contains("Example Cloud Ltd"), "{status:?}");
    let after = officer
        .get_licence(pb::GetLicenceRequest {
            name: licence.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.lines, before.lines, "the ledger is unchanged");
    assert_eq!(after.etag, before.etag);
    // CheckShipment says the same.
    let status = assert_code(
        shipper
            .check_shipment(pb::CheckShipmentRequest {
                shipment: Some(shipment(&product, 1, 10_000)),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "DENIED_PARTY");

    // Another exporter's clearance of the same entry does not open acme's shipments.
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let mut globex = app.applicant("globex");
    let globex_product = create_product(&mut globex).await;
    let globex_draft = crate::fixtures::create_application(&mut globex, &globex_product.name).await;
    let globex_submitted = submit(&mut globex, &globex_draft).await;
    let globex_case = assign_to_self(&mut alice, &globex_submitted).await;
    resolve(&mut alice, &globex_case, false, "A namesake, verified")
        .await
        .expect("clear for globex");
    assert_code(
        start(&mut shipper, shipment(&product, 10, 100_000)).await,
        Code::FailedPrecondition,
    );

    // acme's own case clears the namesake: its shipments go.
    let second = crate::fixtures::create_application(&mut officer, &product).await;
    let second = submit(&mut officer, &second).await;
    let case = assign_to_self(&mut alice, &second).await;
    assert_eq!(case.screening_hits[0].listed_name, "Example Cloud Ltd");
    resolve(
        &mut alice,
        &case,
        false,
        "A namesake: different registration number, verified",
    )
    .await
    .expect("clear");
    start(&mut shipper, shipment(&product, 10, 100_000))
        .await
        .expect("a cleared namesake ships");

    // Another case confirms the hit: that case can only be denied, and a confirmation outweighs
    // the clearance for shipments.
    let third = crate::fixtures::create_application(&mut officer, &product).await;
    let third = submit(&mut officer, &third).await;
    let case = assign_to_self(&mut alice, &third).await;
    let confirmed = resolve(
        &mut alice,
        &case,
        true,
        "New evidence: the listed entity itself",
    )
    .await
    .expect("confirm");
    let status = assert_code(
        alice.propose_decision(approve(&confirmed)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "DENIED_PARTY");
    alice
        .propose_decision(pb::ProposeDecisionRequest {
            name: confirmed.name.clone(),
            request_id: request_id(),
            etag: confirmed.etag.clone(),
            approve: false,
            reason: "End user on the Entity List".into(),
            ..Default::default()
        })
        .await
        .expect("a denial is allowed");
    let status = assert_code(
        start(&mut shipper, shipment(&product, 10, 100_000)).await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("confirmed"), "{status:?}");
}

async fn a_malformed_list_is_refused_and_the_previous_version_stays_in_force(
    _db: &TestDb,
    app: TestApp,
) {
    let mut admin = policy_admin(&app);
    let first = import_csl(&app).await;
    // The same file again is the same version.
    let again = import_csl(&app).await;
    assert_eq!(again.name, first.name);

    // A later file with a broken line replaces nothing.
    let broken = "_id,source,entity_number,type,programs,name,title,addresses,alt_names,citizenships\n\
        c9,Entity List,,Entity,EAR,Somebody New,,,,\n\
        c10,Entity List,,Entity\n";
    let status = assert_code(
        import(
            &mut admin,
            "US CSL",
            pb::ScreeningListFormat::CslCsv,
            broken,
        )
        .await,
        Code::InvalidArgument,
    );
    let violations = status.get_details_bad_request().expect("violations");
    assert_eq!(violations.field_violations[0].field, "content");
    assert!(
        violations.field_violations[0]
            .description
            .starts_with("line 3:"),
        "{violations:?}"
    );
    for (bad, format) in [
        ("{not json", pb::ScreeningListFormat::FollowTheMoney),
        ("[1, 2", pb::ScreeningListFormat::CslJson),
        ("", pb::ScreeningListFormat::CslCsv),
    ] {
        assert_code(
            import(&mut admin, "US CSL", format, bad).await,
            Code::InvalidArgument,
        );
    }
    let status = assert_code(
        import(
            &mut admin,
            "",
            pb::ScreeningListFormat::Unspecified,
            CSL_CSV,
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["source", "format"]);
    let status = assert_code(
        admin
            .import_screening_list(pb::ImportScreeningListRequest {
                request_id: request_id(),
                source: "US CSL".into(),
                format: pb::ScreeningListFormat::CslCsv as i32,
                content: vec![0xff, 0xfe, 0x00],
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["content"]);

    // The first version is still the one in force.
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let mut application = draft(&product.name);
    application.parties[0].display_name = "NORTHERN-STAR ELECTRONICS".into();
    let created = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        })
        .await
        .unwrap()
        .into_inner();
    let submitted = submit(&mut acme, &created).await;
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let case = case_of(&mut alice, &submitted.name).await;
    assert_eq!(case.screening_hits.len(), 1);
    assert_eq!(case.screening_hits[0].list, first.name);
}

async fn a_new_list_version_flags_open_cases_in_the_background(_db: &TestDb, app: TestApp) {
    // Two applications to a German end user nobody has listed yet; one is withdrawn.
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let mut submitted = Vec::new();
    for _ in 0..2 {
        let mut application = draft(&product.name);
        application.destination_country_code = "DE".into();
        application.parties[0].display_name = "Meridian Dual Use Components".into();
        application.parties[0].country_code = "DE".into();
        application.parties[0].headquarters_country_code = "DE".into();
        let created = acme
            .create_application(pb::CreateApplicationRequest {
                request_id: request_id(),
                application: Some(application),
            })
            .await
            .unwrap()
            .into_inner();
        submitted.push(submit(&mut acme, &created).await);
    }
    acme.withdraw_application(pb::WithdrawApplicationRequest {
        name: submitted[1].name.clone(),
        request_id: request_id(),
        etag: submitted[1].etag.clone(),
        reason: "order cancelled".into(),
    })
    .await
    .expect("withdraw");
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    assert!(
        case_of(&mut alice, &submitted[0].name)
            .await
            .screening_hits
            .is_empty()
    );

    // The new list arrives; the open case is screened again in the background.
    let line = r#"{"id": "os-meridian", "schema": "Company", "properties": {"name": ["Meridian Dual-Use Components GmbH"], "country": ["de"]}, "datasets": ["eu_fsf"]}"#;
    let list = import(
        &mut policy_admin(&app),
        "OpenSanctions",
        pb::ScreeningListFormat::FollowTheMoney,
        line,
    )
    .await
    .expect("import");
    let flagged = queue_with_open_hits(&mut alice).await;
    assert_eq!(flagged.len(), 1, "the withdrawn case is not screened again");
    assert_eq!(flagged[0].name, submitted[0].name);
    let hit = &flagged[0].screening_hits[0];
    assert_eq!(hit.list, list.name);
    assert_eq!(hit.status, pb::ScreeningHitStatus::Open as i32);
    // Until a reviewer resolves it, nothing is proposed.
    let case = alice
        .assign_case(pb::AssignCaseRequest {
            name: flagged[0].name.clone(),
            request_id: request_id(),
            etag: flagged[0].etag.clone(),
            assignee: String::new(),
        })
        .await
        .expect("assign")
        .into_inner();
    let status = assert_code(
        alice.propose_decision(approve(&case)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "SCREENING_UNRESOLVED");
    // The same file again raises nothing twice.
    import(
        &mut policy_admin(&app),
        "OpenSanctions",
        pb::ScreeningListFormat::FollowTheMoney,
        line,
    )
    .await
    .expect("import again");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        case_of(&mut alice, &submitted[0].name)
            .await
            .screening_hits
            .len(),
        1
    );
}

/// Waits for the background re-screening to put open hits in the queue.
async fn queue_with_open_hits(reviewer: &mut ReviewClient) -> Vec<pb::Case> {
    for _ in 0..100 {
        let queue = reviewer
            .list_cases(pb::ListCasesRequest {
                filter: "screening_open = true".into(),
                ..Default::default()
            })
            .await
            .expect("queue")
            .into_inner()
            .cases;
        if !queue.is_empty() {
            return queue;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("nothing was flagged");
}

async fn a_new_list_version_flags_the_parties_of_active_licences(_db: &TestDb, app: TestApp) {
    // Two licences to an end user nobody has listed yet; one is revoked.
    let (product, licence) = licensed(&app, "acme", 100).await;
    let (_, revoked) = licensed(&app, "acme", 50).await;
    let mut bob = app.regulator("bob@regulator", &["senior_reviewer"]);
    bob.revoke_licence(pb::RevokeLicenceRequest {
        name: revoked.name.clone(),
        request_id: request_id(),
        etag: revoked.etag.clone(),
        reason: "order cancelled".into(),
    })
    .await
    .expect("revoke");

    import_csl(&app).await;
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let flagged = queue_with_open_hits(&mut alice).await;
    assert_eq!(
        flagged.len(),
        1,
        "only the active licence's case is flagged: {flagged:?}"
    );
    let case = &flagged[0];
    assert_eq!(case.name, licence.application);
    assert_eq!(
        case.application.as_ref().unwrap().state,
        pb::ApplicationState::Approved as i32
    );
    let hit = &case.screening_hits[0];
    assert_eq!(hit.listed_name, "Example Cloud Ltd");
    assert_eq!(hit.status, pb::ScreeningHitStatus::Open as i32);
    assert!(hit.score >= 0.85, "{hit:?}");

    // The finding is on the case's record, and the holder reads none of it.
    let history = app
        .regulator("audrey@regulator", &["auditor"])
        .get_history(pb::GetHistoryRequest {
            resource: case.name.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("history")
        .into_inner()
        .entries;
    assert!(
        history.iter().any(|e| e.action == "case.rescreened"),
        "{history:?}"
    );
    let mut acme = app.applicant("acme");
    let own = acme
        .list_history(pb::ListHistoryRequest {
            resource: case.name.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("own history")
        .into_inner()
        .entries;
    assert!(own.iter().all(|e| e.action != "case.rescreened"));

    // Shipments under the licence stop until a reviewer clears the hit on the licence's case.
    let mut shipper = erp(&app, "acme");
    let status = assert_code(
        start(&mut shipper, shipment(&product, 1, 10_000)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "DENIED_PARTY");
    let cleared = resolve(
        &mut alice,
        case,
        false,
        "A namesake: different registration number, verified",
    )
    .await
    .expect("a hit on a licence's case is resolved like any other");
    assert_eq!(
        cleared.screening_hits[0].status,
        pb::ScreeningHitStatus::Cleared as i32
    );
    assert_eq!(
        cleared.application.as_ref().unwrap().state,
        pb::ApplicationState::Approved as i32
    );
    start(&mut shipper, shipment(&product, 1, 10_000))
        .await
        .expect("a cleared namesake ships");
}

async fn a_listed_consignee_stops_a_shipment(_db: &TestDb, app: TestApp) {
    let (product, licence) = licensed(&app, "acme", 100).await;
    import(
        &mut policy_admin(&app),
        "OpenSanctions",
        pb::ScreeningListFormat::FollowTheMoney,
        FTM_LINES,
    )
    .await
    .expect("import");
    let mut shipper = erp(&app, "acme");
    let consignee = |name: &str, country: &str| pb::Party {
        display_name: name.into(),
        country_code: country.into(),
        ..Default::default()
    };
    let mut via_listed = shipment(&product, 10, 100_000);
    via_listed.consignee = Some(consignee("ZVEZDA INSTRUMENT WORKS", "RU"));
    let status = assert_code(
        start(&mut shipper, via_listed.clone()).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "DENIED_PARTY", "{status:?}");
    assert!(status.message().contains("Zvezda"), "{status:?}");
    let status = assert_code(
        shipper
            .check_shipment(pb::CheckShipmentRequest {
                shipment: Some(via_listed),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "DENIED_PARTY");
    let mut officer = app.applicant("acme");
    let untouched = officer
        .get_licence(pb::GetLicenceRequest {
            name: licence.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(untouched.lines, licence.lines, "the ledger is unchanged");

    // A consignee without a name or with a made-up country is named field by field.
    let mut malformed = shipment(&product, 10, 100_000);
    malformed.consignee = Some(consignee("  ", "XX"));
    let status = assert_code(start(&mut shipper, malformed).await, Code::InvalidArgument);
    let fields = violated_fields(&status);
    assert!(
        fields.contains(&"shipment.consignee.display_name".to_owned()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"shipment.consignee.country_code".to_owned()),
        "{fields:?}"
    );

    // Another consignee ships, and the shipment keeps it.
    let mut via_forwarder = shipment(&product, 10, 100_000);
    via_forwarder.consignee = Some(consignee("Harbour Freight Forwarding Ltd", "HK"));
    let shipped = start(&mut shipper, via_forwarder)
        .await
        .expect("an unlisted consignee ships");
    let read = shipper
        .get_shipment(pb::GetShipmentRequest {
            name: shipped.name.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    let kept = read.consignee.expect("the consignee is kept");
    assert_eq!(kept.display_name, "Harbour Freight Forwarding Ltd");
    assert_eq!(kept.country_code, "HK");
}

/// Identical ResolveScreeningHit requests (one request_id, a client retrying) released
/// together: one resolution, one history entry, the same answer to each.
async fn identical_resolutions_released_together_resolve_once(_db: &TestDb, app: TestApp) {
    import_csl(&app).await;
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let created = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(draft(&product.name)),
        })
        .await
        .expect("create")
        .into_inner();
    let submitted = submit(&mut acme, &created).await;
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let case = assign_to_self(&mut alice, &submitted).await;
    let hit = case
        .screening_hits
        .first()
        .expect("the listed end user is hit");
    let request = pb::ResolveScreeningHitRequest {
        name: hit.name.clone(),
        request_id: request_id(),
        etag: case.etag.clone(),
        confirm: false,
        reason: "another company: different registration".into(),
    };
    const CALLERS: usize = 8;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(CALLERS));
    let calls: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (mut client, barrier, request) = (alice.clone(), barrier.clone(), request.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                client.resolve_screening_hit(request).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(
            call.await
                .expect("task")
                .expect("every retry is answered")
                .into_inner(),
        );
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "one answer for one request_id"
    );
    assert_eq!(
        answers[0].screening_hits[0].status,
        pb::ScreeningHitStatus::Cleared as i32
    );
    let history = alice
        .get_history(pb::GetHistoryRequest {
            resource: submitted.name.clone(),
            ..Default::default()
        })
        .await
        .expect("history")
        .into_inner();
    let resolutions = history
        .entries
        .iter()
        .filter(|e| e.action.contains("screening"))
        .count();
    assert_eq!(
        resolutions,
        1,
        "{:?}",
        history
            .entries
            .iter()
            .map(|e| &e.action)
            .collect::<Vec<_>>()
    );
}

/// `count` submitted cases for an end user named `end_user` in Germany, assigned to alice;
/// every fifth has a proposal pending countersignature.
async fn cases_in_review(app: &TestApp, org: &str, end_user: &str, count: usize) -> Vec<String> {
    let mut officer = app.applicant(org);
    let product = create_product(&mut officer).await;
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    let mut names = Vec::new();
    for i in 0..count {
        let submitted = submitted_to(&mut officer, &product.name, "DE", end_user, "").await;
        let case = assign_to_self(&mut alice, &submitted).await;
        if i % 5 == 0 {
            alice
                .propose_decision(approve(&case))
                .await
                .expect("proposed before any list names the end user");
        }
        names.push(case.name);
    }
    names
}

/// Reviewers note and reassign their cases (ordinary queue work, each a new version) until
/// `stop`; every step may meet a stale etag.
fn queue_work(
    app: &TestApp,
    cases: &[String],
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..4)
        .map(|r| {
            let mut reviewer = app.regulator(&format!("reviewer{r}@regulator"), &["reviewer"]);
            let mine: Vec<String> = cases.iter().skip(r).step_by(4).cloned().collect();
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for name in &mine {
                        let case = case_of(&mut reviewer, name).await;
                        let _ = reviewer
                            .add_note(pb::AddNoteRequest {
                                name: name.clone(),
                                request_id: request_id(),
                                etag: case.etag.clone(),
                                text: "checked the end-use statement".into(),
                                visible_to_applicant: false,
                            })
                            .await;
                        let case = case_of(&mut reviewer, name).await;
                        let _ = reviewer
                            .assign_case(pb::AssignCaseRequest {
                                name: name.clone(),
                                request_id: request_id(),
                                etag: case.etag.clone(),
                                assignee: String::new(),
                            })
                            .await;
                    }
                }
            })
        })
        .collect()
}

/// A list version naming the end user of 60 open cases, imported while four reviewers work
/// them: every case is flagged within 10 s, and from the import on no proposal or
/// countersignature on any of them succeeds (the case is either not yet screened against the
/// new version, or has an open hit). Then the same with two imports a second apart.
async fn a_list_imported_while_reviewers_work_flags_every_case_before_any_decision(
    _db: &TestDb,
    app: TestApp,
) {
    let lists: [(&str, &[&str]); 2] = [
        (
            "Meridian Dual Use Components",
            &[
                r#"{"id": "os-meridian", "schema": "Company", "properties": {"name": ["Meridian Dual-Use Components GmbH"], "country": ["de"]}, "datasets": ["eu_fsf"]}"#,
            ],
        ),
        (
            "Borealis Precision Optics",
            &[
                r#"{"id": "os-borealis", "schema": "Company", "properties": {"name": ["Borealis Precision Optics GmbH"], "country": ["de"]}, "datasets": ["eu_fsf"]}"#,
                r#"{"id": "os-borealis-2", "schema": "Company", "properties": {"name": ["Borealis Precision Optics"], "country": ["de"]}, "datasets": ["us_ofac_sdn"]}"#,
            ],
        ),
    ];
    let mut bob = app.regulator("bob@regulator", &["senior_reviewer"]);
    let mut alice = app.regulator("alice@regulator", &["reviewer"]);
    for (round, (end_user, files)) in lists.iter().enumerate() {
        let cases = cases_in_review(&app, &format!("org{round}"), end_user, 60).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers = queue_work(&app, &cases, stop.clone());
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        for (i, file) in files.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            import(
                &mut policy_admin(&app),
                &format!("Source {round}.{i}"),
                pb::ScreeningListFormat::FollowTheMoney,
                file,
            )
            .await
            .expect("import");
        }
        let imported = std::time::Instant::now();
        // From now on every decision is refused, while the cases are flagged.
        let mut flagged = std::collections::HashSet::new();
        while flagged.len() < cases.len() {
            assert!(
                imported.elapsed() < std::time::Duration::from_secs(10),
                "round {round}: only {} of {} cases flagged within 10 s",
                flagged.len(),
                cases.len()
            );
            for name in &cases {
                let case = case_of(&mut alice, name).await;
                let state = case.application.as_ref().map(|a| a.state);
                let attempt = if state == Some(pb::ApplicationState::PendingCountersign as i32) {
                    bob.countersign_decision(pb::CountersignDecisionRequest {
                        name: name.clone(),
                        request_id: request_id(),
                        etag: case.etag.clone(),
                    })
                    .await
                } else {
                    alice.propose_decision(approve(&case)).await
                };
                match attempt {
                    Ok(_) => panic!("round {round}: a decision on {name} passed the new list"),
                    Err(status) if status.code() == Code::FailedPrecondition => {
                        assert_eq!(reason(&status), "SCREENING_UNRESOLVED", "{status:?}");
                    }
                    // The case moved under the attempt (queue work).
                    Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
                }
                if case
                    .screening_hits
                    .iter()
                    .any(|h| h.status == pb::ScreeningHitStatus::Open as i32)
                {
                    flagged.insert(name.clone());
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in workers {
            w.await.expect("queue work");
        }
    }
}

/// A Consolidated Screening List extract of `count` made-up entities with distinct names.
fn large_csl(count: usize) -> String {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ven", "tor", "sa", "rel", "du", "pax", "qui", "zo", "bra", "nel", "fir",
        "gos", "hul", "jen", "wex", "yor", "cam", "dri", "plu", "sto", "vik",
    ];
    let word = |mut n: usize| {
        let mut w = String::new();
        for _ in 0..3 {
            w.push_str(SYLLABLES[n % SYLLABLES.len()]);
            n /= SYLLABLES.len();
        }
        w
    };
    let mut csv = String::from(
        "_id,source,entity_number,type,programs,name,title,addresses,alt_names,citizenships\n",
    );
    for i in 0..count {
        let first = word(i);
        let second = word(i / 7 + 13_000);
        csv.push_str(&format!(
            "g{i},EL,,Entity,EAR,{first} {second} Holdings,,,,\n"
        ));
    }
    csv
}

/// A 50,000-entry list imported while eight ERP clients ship with a 0.5 s deadline: the index
/// is rebuilt once, detached from the callers who give up, so shipments resume after at most
/// one rebuild (an outage while callers give up would never end).
async fn shipments_with_short_deadlines_ride_through_a_large_import(_db: &TestDb, app: TestApp) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (product, _) = licensed(&app, "acme", 1_000_000).await;
    let csv = large_csl(50_000);
    assert!(csv.len() < 4 * 1024 * 1024, "within the import limit");
    let after_import = Arc::new(AtomicUsize::new(0));
    let imported = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let shippers: Vec<_> = (0..8)
        .map(|_| {
            let mut client = erp(&app, "acme");
            let (product, after_import, stop) =
                (product.clone(), after_import.clone(), stop.clone());
            let imported = imported.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let was_imported = imported.load(Ordering::Relaxed);
                    let mut request = tonic::Request::new(pb::StartShipmentRequest {
                        request_id: request_id(),
                        shipment: Some(shipment(&product, 1, 10_000)),
                    });
                    request.set_timeout(std::time::Duration::from_millis(500));
                    match client.start_shipment(request).await {
                        Ok(_) if was_imported => {
                            after_import.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(status) => assert!(
                            matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
                            "{status:?}"
                        ),
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    import(
        &mut policy_admin(&app),
        "Large list",
        pb::ScreeningListFormat::CslCsv,
        &csv,
    )
    .await
    .expect("import");
    imported.store(true, Ordering::Relaxed);
    let started = std::time::Instant::now();
    // Every shipper ships again once the one rebuild is done.
    while after_import.load(Ordering::Relaxed) < 80 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "shipments did not resume after the import: {} through",
            after_import.load(Ordering::Relaxed)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for s in shippers {
        s.await.expect("shipper");
    }
}

/// A source's list that returns to an earlier content (an entry removed, then listed again:
/// the same file as before) is in force again, not taken for the old version.
async fn a_list_returning_to_an_earlier_file_is_in_force_again(_db: &TestDb, app: TestApp) {
    let (product, _) = licensed(&app, "acme", 100).await;
    let mut shipper = erp(&app, "acme");
    let mut admin = policy_admin(&app);
    let without = CSL_CSV
        .lines()
        .filter(|l| !l.contains("Example Cloud"))
        .collect::<Vec<_>>()
        .join("\n");
    for (content, listed) in [(CSL_CSV, true), (without.as_str(), false), (CSL_CSV, true)] {
        import(
            &mut admin,
            "US CSL",
            pb::ScreeningListFormat::CslCsv,
            content,
        )
        .await
        .expect("import");
        let shipped = start(&mut shipper, shipment(&product, 1, 10_000)).await;
        match (listed, shipped) {
            (true, Err(status)) => assert_eq!(reason(&status), "DENIED_PARTY", "{status:?}"),
            (false, Ok(_)) => {}
            (listed, other) => panic!("listed {listed}: {other:?}"),
        }
    }
}
