//! The review workflow end to end: submission, the queue, questions, two-person decisions,
//! the clock, notes and the verifiable history.

use chrono::{TimeZone, Utc};
use clearance_proto::v1 as pb;
use clearance_tests::{ApplicationClient, ReviewClient, TestApp, TestDb, on_both_databases};
use tonic::Code;

use crate::fixtures::{
    assert_code, create_application, create_product, draft, reason, request_id, violated_fields,
};

const ALICE: &str = "alice@regulator";
const BOB: &str = "bob@regulator";

async fn submit(acme: &mut ApplicationClient, application: &pb::Application) -> pb::Application {
    acme.submit_application(pb::SubmitApplicationRequest {
        name: application.name.clone(),
        request_id: request_id(),
        etag: application.etag.clone(),
        declaration_confirmed: true,
    })
    .await
    .expect("submit")
    .into_inner()
}

/// A submitted H20 → CN application.
async fn submitted(app: &TestApp) -> (ApplicationClient, pb::Application) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let application = create_application(&mut acme, &product.name).await;
    let submitted = submit(&mut acme, &application).await;
    (acme, submitted)
}

async fn get_case(reviewer: &mut ReviewClient, name: &str) -> pb::Case {
    reviewer
        .get_case(pb::GetCaseRequest { name: name.into() })
        .await
        .expect("get case")
        .into_inner()
}

async fn assign(reviewer: &mut ReviewClient, case: &pb::Case) -> pb::Case {
    reviewer
        .assign_case(pb::AssignCaseRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            assignee: String::new(),
        })
        .await
        .expect("assign")
        .into_inner()
}

async fn assign_named(reviewer: &mut ReviewClient, name: &str) -> pb::Case {
    let case = get_case(reviewer, name).await;
    assign(reviewer, &case).await
}

fn approve(case: &pb::Case) -> pb::ProposeDecisionRequest {
    pb::ProposeDecisionRequest {
        name: case.name.clone(),
        request_id: request_id(),
        etag: case.etag.clone(),
        approve: true,
        reason: "End user verified; conditions attached".into(),
        granted_quantities: vec![80],
        conditions: vec!["No re-export without prior written authorisation".into()],
        validity_months: 0,
        value_tolerance_percent: None,
        justification: String::new(),
    }
}

fn state(case: &pb::Case) -> i32 {
    case.application.as_ref().unwrap().state
}

async fn the_full_path_reaches_approval_and_is_recorded_once_per_step(_db: &TestDb, app: TestApp) {
    let (mut acme, submitted) = submitted(&app).await;
    assert_eq!(submitted.state, pb::ApplicationState::Submitted as i32);
    let determination = submitted.lines[0]
        .determination
        .clone()
        .expect("determination stored");
    assert!(determination.licence_required);
    assert_eq!(
        determination.consulted[0].version,
        crate::policy::BUILT_IN_VERSIONS,
        "the rules in force at submission"
    );
    assert_eq!(submitted.review_policy, pb::ReviewPolicy::CaseByCase as i32);

    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let mut bob = app.regulator(BOB, &["senior_reviewer"]);
    let case = get_case(&mut alice, &submitted.name).await;
    let case = assign(&mut alice, &case).await;
    assert_eq!(state(&case), pb::ApplicationState::UnderReview as i32);
    assert_eq!(case.assignee, ALICE);

    let case = alice
        .request_information(pb::RequestInformationRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            question: "Please provide the end user's data-centre address.".into(),
            response_due_time: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&case), pb::ApplicationState::AwaitingApplicant as i32);
    let asked = acme
        .get_application(pb::GetApplicationRequest {
            name: submitted.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let question = asked.information_requests[0].clone();
    assert!(question.answer.is_empty());
    let answered = acme
        .answer_information_request(pb::AnswerInformationRequestRequest {
            name: question.name.clone(),
            request_id: request_id(),
            etag: asked.etag.clone(),
            answer: "Building 3, 1 Example Road, Shenzhen".into(),
            documents: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answered.state, pb::ApplicationState::UnderReview as i32);

    let case = get_case(&mut alice, &submitted.name).await;
    let case = alice
        .propose_decision(approve(&case))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        state(&case),
        pb::ApplicationState::PendingCountersign as i32
    );
    let case = bob
        .countersign_decision(pb::CountersignDecisionRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&case), pb::ApplicationState::Approved as i32);
    assert_eq!(
        case.proposals[0].state,
        pb::ProposalState::Countersigned as i32
    );
    assert_eq!(case.proposals[0].granted_quantities, vec![80]);

    let mut auditor = app.regulator("audrey@regulator", &["auditor"]);
    let history = auditor
        .get_history(pb::GetHistoryRequest {
            resource: submitted.name.clone(),
            page_size: 3,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut entries = history.entries;
    let mut token = history.next_page_token;
    while !token.is_empty() {
        let page = auditor
            .get_history(pb::GetHistoryRequest {
                resource: submitted.name.clone(),
                page_size: 3,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        entries.extend(page.entries);
        token = page.next_page_token;
    }
    let steps: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.from_state.as_str(),
                e.to_state.as_str(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("application.created", "", "DRAFT"),
            ("application.submitted", "DRAFT", "SUBMITTED"),
            ("case.assigned", "SUBMITTED", "UNDER_REVIEW"),
            (
                "case.information_requested",
                "UNDER_REVIEW",
                "AWAITING_APPLICANT"
            ),
            (
                "application.information_provided",
                "AWAITING_APPLICANT",
                "UNDER_REVIEW"
            ),
            (
                "case.decision_proposed",
                "UNDER_REVIEW",
                "PENDING_COUNTERSIGN"
            ),
            (
                "case.decision_countersigned",
                "PENDING_COUNTERSIGN",
                "APPROVED"
            ),
        ]
    );
    assert_eq!(entries[6].actor, BOB);
    let verdict = auditor
        .verify_history(pb::VerifyHistoryRequest {
            resource: submitted.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verdict.intact);
    assert_eq!(verdict.entries_checked, 7);
    // The auditor reads everything and changes nothing.
    let status = assert_code(
        auditor
            .add_note(pb::AddNoteRequest {
                name: case.name.clone(),
                request_id: request_id(),
                etag: case.etag.clone(),
                text: "audit".into(),
                visible_to_applicant: false,
            })
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(reason(&status), "ROLE_NOT_ALLOWED");
}

async fn transitions_outside_the_diagram_are_refused_and_change_nothing(
    _db: &TestDb,
    app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let draft_app = create_application(&mut acme, &product.name).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let mut bob = app.regulator(BOB, &["senior_reviewer"]);

    // Countersign a DRAFT.
    let status = assert_code(
        bob.countersign_decision(pb::CountersignDecisionRequest {
            name: draft_app.name.clone(),
            request_id: request_id(),
            etag: draft_app.etag.clone(),
        })
        .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "INVALID_TRANSITION");

    // Answer when no request is open.
    let submitted = submit(&mut acme, &draft_app).await;
    let case = assign_named(&mut alice, &submitted.name).await;
    let status = assert_code(
        acme.answer_information_request(pb::AnswerInformationRequestRequest {
            name: format!("{}/informationRequests/{}", case.name, uuid::Uuid::now_v7()),
            request_id: request_id(),
            etag: case.etag.clone(),
            answer: "unasked".into(),
            documents: vec![],
        })
        .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "INVALID_TRANSITION");

    // Propose while AWAITING_APPLICANT.
    let case = alice
        .request_information(pb::RequestInformationRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            question: "Which data centre?".into(),
            response_due_time: None,
        })
        .await
        .unwrap()
        .into_inner();
    let status = assert_code(
        alice.propose_decision(approve(&case)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "INVALID_TRANSITION");
    assert_eq!(
        get_case(&mut alice, &case.name).await.etag,
        case.etag,
        "nothing changed"
    );

    // Withdraw an APPROVED application.
    let (mut acme2, other) = submitted_with(&app, "initech").await;
    let case = assign_named(&mut alice, &other.name).await;
    let case = alice
        .propose_decision(approve(&case))
        .await
        .unwrap()
        .into_inner();
    let case = bob
        .countersign_decision(pb::CountersignDecisionRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let status = assert_code(
        acme2
            .withdraw_application(pb::WithdrawApplicationRequest {
                name: case.name.clone(),
                request_id: request_id(),
                etag: case.etag.clone(),
                reason: "changed our minds".into(),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "INVALID_TRANSITION");
    let history = app.store.history(&case.name, None).await.unwrap();
    assert_eq!(
        history.last().unwrap().action,
        "case.decision_countersigned"
    );
}

async fn submitted_with(app: &TestApp, org: &str) -> (ApplicationClient, pb::Application) {
    let mut client = app.applicant(org);
    let product = create_product(&mut client).await;
    let application = create_application(&mut client, &product.name).await;
    let submitted = submit(&mut client, &application).await;
    (client, submitted)
}

async fn the_two_person_rule_and_quantity_limits_hold(_db: &TestDb, app: TestApp) {
    let (_acme, submitted) = submitted(&app).await;
    let mut bob = app.regulator(BOB, &["senior_reviewer"]);
    let mut carol = app.regulator("carol@regulator", &["reviewer"]);
    let case = assign_named(&mut bob, &submitted.name).await;

    let mut raised = approve(&case);
    raised.granted_quantities = vec![101];
    let status = assert_code(bob.propose_decision(raised).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["granted_quantities[0]"]);

    let case = bob
        .propose_decision(approve(&case))
        .await
        .unwrap()
        .into_inner();
    let countersign = pb::CountersignDecisionRequest {
        name: case.name.clone(),
        request_id: request_id(),
        etag: case.etag.clone(),
    };
    let status = assert_code(
        bob.countersign_decision(countersign.clone()).await,
        Code::PermissionDenied,
    );
    assert_eq!(reason(&status), "SELF_COUNTERSIGN");
    let mut other = countersign.clone();
    other.request_id = request_id();
    let status = assert_code(
        carol.countersign_decision(other).await,
        Code::PermissionDenied,
    );
    assert_eq!(reason(&status), "ROLE_NOT_ALLOWED");
    assert_eq!(
        state(&get_case(&mut bob, &case.name).await),
        pb::ApplicationState::PendingCountersign as i32
    );

    // A second senior may send it back instead.
    let mut dave = app.regulator("dave@regulator", &["senior_reviewer"]);
    let back = dave
        .reject_proposal(pb::RejectProposalRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            reason: "Conditions too weak".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&back), pb::ApplicationState::UnderReview as i32);
    assert_eq!(back.proposals[0].state, pb::ProposalState::Rejected as i32);
}

async fn an_incomplete_submission_names_every_missing_piece(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let empty = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(pb::Application::default()),
        })
        .await
        .unwrap()
        .into_inner();
    let status = assert_code(
        acme.submit_application(pb::SubmitApplicationRequest {
            name: empty.name.clone(),
            request_id: request_id(),
            etag: empty.etag.clone(),
            declaration_confirmed: false,
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        [
            "destination_country_code",
            "end_use_statement",
            "lines",
            "parties",
            "declaration_confirmed"
        ]
    );
    let product = create_product(&mut acme).await;
    let mut partial = draft(&product.name);
    partial.parties[0].address = String::new();
    partial.parties[0].headquarters_country_code = String::new();
    let partial = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(partial),
        })
        .await
        .unwrap()
        .into_inner();
    let status = assert_code(
        acme.submit_application(pb::SubmitApplicationRequest {
            name: partial.name.clone(),
            request_id: request_id(),
            etag: partial.etag.clone(),
            declaration_confirmed: true,
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        ["parties[0].address", "parties[0].headquarters_country_code"]
    );
    let still = acme
        .get_application(pb::GetApplicationRequest {
            name: partial.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still.state, pb::ApplicationState::Draft as i32);
}

async fn two_simultaneous_proposals_let_exactly_one_through(_db: &TestDb, app: TestApp) {
    let (_acme, submitted) = submitted(&app).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let case = assign_named(&mut alice, &submitted.name).await;
    let mut tasks = Vec::new();
    for who in [
        ALICE,
        "erin@regulator",
        "frank@regulator",
        "grace@regulator",
    ] {
        let mut client = app.regulator(who, &["reviewer"]);
        let request = approve(&case);
        tasks.push(tokio::spawn(async move {
            client.propose_decision(request).await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "{status:?}");
                assert_eq!(reason(&status), "STALE_ETAG");
            }
        }
    }
    assert_eq!(won, 1);
    let case = get_case(&mut alice, &case.name).await;
    assert_eq!(case.proposals.len(), 1);
}

async fn the_clock_counts_working_days_and_stops_while_awaiting_the_applicant(
    _db: &TestDb,
    app: TestApp,
) {
    // Friday 2 May 2025; Monday 5 May is a holiday in this deployment's calendar.
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 5, 2, 10, 0, 0).unwrap());
    let (mut acme, submitted) = submitted(&app).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let case = assign_named(&mut alice, &submitted.name).await;

    app.clock
        .set(Utc.with_ymd_and_hms(2025, 5, 5, 10, 0, 0).unwrap());
    assert_eq!(
        get_case(&mut alice, &case.name)
            .await
            .clock
            .unwrap()
            .elapsed_working_days,
        0
    );
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 5, 6, 10, 0, 0).unwrap());
    assert_eq!(
        get_case(&mut alice, &case.name)
            .await
            .clock
            .unwrap()
            .elapsed_working_days,
        1
    );

    let etag = get_case(&mut alice, &case.name).await.etag;
    let case = alice
        .request_information(pb::RequestInformationRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag,
            question: "Which data centre?".into(),
            response_due_time: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(case.clock.as_ref().unwrap().paused);
    // Five working days awaiting the applicant: Wed 7 to Tue 13 May.
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 5, 13, 10, 0, 0).unwrap());
    let asked = acme
        .get_application(pb::GetApplicationRequest {
            name: case.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    acme.answer_information_request(pb::AnswerInformationRequestRequest {
        name: asked.information_requests[0].name.clone(),
        request_id: request_id(),
        etag: asked.etag.clone(),
        answer: "Building 3".into(),
        documents: vec![],
    })
    .await
    .unwrap();
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 5, 14, 10, 0, 0).unwrap());
    let clock = get_case(&mut alice, &case.name).await.clock.unwrap();
    assert_eq!(clock.paused_working_days, 5);
    assert_eq!(clock.elapsed_working_days, 2, "Tue 6 and Wed 14 May count");
    assert!(!clock.paused);
    assert!(!clock.overdue);

    // Far past the target the case shows as overdue, and the queue can filter on it.
    app.clock
        .set(Utc.with_ymd_and_hms(2025, 9, 1, 10, 0, 0).unwrap());
    let overdue = alice
        .list_cases(pb::ListCasesRequest {
            filter: "overdue = true".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overdue.cases.len(), 1);
    assert!(overdue.cases[0].clock.as_ref().unwrap().overdue);
}

async fn the_queue_is_ordered_by_due_date_and_filters(_db: &TestDb, app: TestApp) {
    let mut names = Vec::new();
    for day in [9, 5, 7] {
        app.clock
            .set(Utc.with_ymd_and_hms(2025, 6, day, 10, 0, 0).unwrap());
        names.push((day, submitted(&app).await.1.name));
    }
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = alice
            .list_cases(pb::ListCasesRequest {
                page_size: 1,
                page_token: token,
                filter: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.cases.into_iter().map(|c| c.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    names.sort();
    let expected: Vec<String> = names.into_iter().map(|(_, n)| n).collect();
    assert_eq!(seen, expected, "earliest due first");

    let first = get_case(&mut alice, &expected[0]).await;
    assign(&mut alice, &first).await;
    let mine = alice
        .list_cases(pb::ListCasesRequest {
            filter: format!(r#"assignee = "{ALICE}" AND state = UNDER_REVIEW AND review_policy = PRESUMPTION_OF_DENIAL"#),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.cases.len(), 1);
    assert_eq!(mine.cases[0].name, expected[0]);
    let status = assert_code(
        alice
            .list_cases(pb::ListCasesRequest {
                filter: "colour = red".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["filter"]);
}

async fn an_edited_history_entry_is_named_by_verification(db: &TestDb, app: TestApp) {
    let (_acme, tampered) = submitted(&app).await;
    let (_acme2, untouched) = submitted_with(&app, "initech").await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let case = assign_named(&mut alice, &tampered.name).await;
    alice
        .add_note(pb::AddNoteRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            text: "checked".into(),
            visible_to_applicant: false,
        })
        .await
        .unwrap();
    let rows = clearance_store::execute_statement(
        &db.url,
        &format!(
            "UPDATE history_entries SET reason = 'nothing to see here' WHERE resource = '{}' AND sequence = 3",
            tampered.name
        ),
    )
    .await
    .unwrap();
    assert_eq!(rows, 1);
    let mut auditor = app.regulator("audrey@regulator", &["auditor"]);
    let verdict = auditor
        .verify_history(pb::VerifyHistoryRequest {
            resource: tampered.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!verdict.intact);
    assert_eq!(verdict.first_broken_sequence, 3);
    let clean = auditor
        .verify_history(pb::VerifyHistoryRequest {
            resource: untouched.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(clean.intact);
    assert_eq!(clean.first_broken_sequence, 0);
}

async fn applicants_see_only_notes_meant_for_them(_db: &TestDb, app: TestApp) {
    let (mut acme, submitted) = submitted(&app).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let mut case = assign_named(&mut alice, &submitted.name).await;
    for (text, visible) in [
        ("Internal: end user on a watch list?", false),
        ("Please expect a decision in June.", true),
    ] {
        case = alice
            .add_note(pb::AddNoteRequest {
                name: case.name.clone(),
                request_id: request_id(),
                etag: case.etag.clone(),
                text: text.into(),
                visible_to_applicant: visible,
            })
            .await
            .unwrap()
            .into_inner();
    }
    assert_eq!(
        case.application.as_ref().unwrap().notes.len(),
        2,
        "the regulator sees both"
    );
    let read = acme
        .get_application(pb::GetApplicationRequest {
            name: submitted.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let listed = acme
        .list_applications(pb::ListApplicationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let withdrawn = acme
        .withdraw_application(pb::WithdrawApplicationRequest {
            name: submitted.name.clone(),
            request_id: request_id(),
            etag: read.etag.clone(),
            reason: "Order cancelled by the customer".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(withdrawn.state, pb::ApplicationState::Withdrawn as i32);
    for notes in [&read.notes, &listed.applications[0].notes, &withdrawn.notes] {
        let texts: Vec<&str> = notes.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(texts, ["Please expect a decision in June."]);
    }
}

on_both_databases!(
    the_full_path_reaches_approval_and_is_recorded_once_per_step,
    transitions_outside_the_diagram_are_refused_and_change_nothing,
    the_two_person_rule_and_quantity_limits_hold,
    an_incomplete_submission_names_every_missing_piece,
    two_simultaneous_proposals_let_exactly_one_through,
    the_queue_is_ordered_by_due_date_and_filters,
    an_edited_history_entry_is_named_by_verification,
    applicants_see_only_notes_meant_for_them,
    regulators_read_any_organisations_products_by_name,
    the_unassigned_filter_finds_cases_no_one_has_taken,
);

mod with_a_monday_holiday {
    use super::*;

    on_both_databases!(
        @with |c: &mut clearance_tests::Config| c.review.holidays = vec![chrono::NaiveDate::from_ymd_opt(2025, 5, 5).unwrap()];
        the_clock_counts_working_days_and_stops_while_awaiting_the_applicant
    );
}

async fn regulators_read_any_organisations_products_by_name(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let mut globex = app.applicant("globex");
    let first = create_product(&mut acme).await;
    let second = create_product(&mut globex).await;
    let mut auditor = app.regulator("audrey@regulator", &["auditor"]);
    let got = auditor
        .batch_get_products(pb::BatchGetProductsRequest {
            names: vec![second.name.clone(), first.name.clone()],
        })
        .await
        .expect("batch get")
        .into_inner()
        .products;
    let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [second.name.as_str(), first.name.as_str()],
        "in the order asked"
    );
    assert_eq!(got[0].parameters, second.parameters);
    // One unknown name fails the call; malformed names and too many are named.
    let unknown = format!("products/{}", uuid::Uuid::now_v7());
    let status = assert_code(
        auditor
            .batch_get_products(pb::BatchGetProductsRequest {
                names: vec![first.name.clone(), unknown.clone()],
            })
            .await,
        Code::NotFound,
    );
    assert!(status.message().contains(&unknown), "{status:?}");
    let status = assert_code(
        auditor
            .batch_get_products(pb::BatchGetProductsRequest {
                names: vec![first.name.clone(), "products/nope".into()],
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["names[1]"]);
    let status = assert_code(
        auditor
            .batch_get_products(pb::BatchGetProductsRequest {
                names: vec![first.name.clone(); 101],
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["names"]);
}

async fn the_unassigned_filter_finds_cases_no_one_has_taken(_db: &TestDb, app: TestApp) {
    let (_, taken) = submitted(&app).await;
    let (_, waiting) = submitted(&app).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    alice
        .assign_case(pb::AssignCaseRequest {
            name: taken.name.clone(),
            request_id: request_id(),
            etag: taken.etag.clone(),
            assignee: String::new(),
        })
        .await
        .expect("assign");
    let unassigned: Vec<String> = alice
        .list_cases(pb::ListCasesRequest {
            filter: "assignee = \"\"".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .cases
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(unassigned, [waiting.name]);
}
