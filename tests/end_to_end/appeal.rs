//! Appeals: a denial appealed in time is decided by a senior reviewer who took no part in it;
//! overturned, the case goes back through proposal and countersignature and can end in a
//! licence; upheld, the denial stands; late, the appeal is refused.

use clearance_grpc::Clock;
use clearance_proto::v1 as pb;
use clearance_tests::{ApplicationClient, TestApp, TestDb, on_both_databases};
use tonic::Code;

use crate::fixtures::{
    assert_code, assign_to_self, create_application, create_product, reason, request_id, submit,
    violated_fields,
};

on_both_databases!(
    an_appeal_decided_outside_the_denial_can_end_in_a_licence,
    an_upheld_appeal_keeps_the_denial_and_a_late_one_is_refused,
);

const ALICE: &str = "alice@regulator";
const BOB: &str = "bob@regulator";
const CAROL: &str = "carol@regulator";
const DAVE: &str = "dave@regulator";

/// Acme's application, proposed for denial by Alice and countersigned by Bob.
/// The delisting notice the appeals rest on.
fn notice() -> Vec<u8> {
    crate::fixtures::pdf(20_480)
}

async fn denied(app: &TestApp) -> (ApplicationClient, pb::Application) {
    let mut acme = app.applicant("acme");
    crate::fixtures::upload(
        &mut acme,
        "delisting-notice.pdf",
        "application/pdf",
        &notice(),
    )
    .await
    .expect("upload the notice");
    let product = create_product(&mut acme).await;
    let draft = create_application(&mut acme, &product.name).await;
    let submitted = submit(&mut acme, &draft).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let case = assign_to_self(&mut alice, &submitted).await;
    let case = alice
        .propose_decision(pb::ProposeDecisionRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            approve: false,
            reason: "End user linked to a listed entity".into(),
            ..Default::default()
        })
        .await
        .expect("propose denial")
        .into_inner();
    app.regulator(BOB, &["senior_reviewer"])
        .countersign_decision(pb::CountersignDecisionRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
        })
        .await
        .expect("countersign denial");
    let application = acme
        .get_application(pb::GetApplicationRequest {
            name: submitted.name.clone(),
        })
        .await
        .expect("read")
        .into_inner();
    assert_eq!(application.state, pb::ApplicationState::Denied as i32);
    (acme, application)
}

fn appeal(application: &pb::Application, grounds: &str) -> pb::AppealDenialRequest {
    pb::AppealDenialRequest {
        name: application.name.clone(),
        request_id: request_id(),
        etag: application.etag.clone(),
        grounds: grounds.into(),
        documents: vec![pb::SupportingDocument {
            display_name: "delisting-notice.pdf".into(),
            media_type: "application/pdf".into(),
            sha256: clearance_domain::history::sha256_hex(&notice()),
            size_bytes: 20_480,
        }],
    }
}

fn decide(case: &pb::Case, outcome: pb::AppealOutcome, reason: &str) -> pb::DecideAppealRequest {
    pb::DecideAppealRequest {
        name: case.name.clone(),
        request_id: request_id(),
        etag: case.etag.clone(),
        outcome: outcome as i32,
        reason: reason.into(),
    }
}

async fn case_of(app: &TestApp, name: &str) -> pb::Case {
    app.regulator(DAVE, &["senior_reviewer"])
        .get_case(pb::GetCaseRequest { name: name.into() })
        .await
        .expect("case")
        .into_inner()
}

async fn an_appeal_decided_outside_the_denial_can_end_in_a_licence(_db: &TestDb, app: TestApp) {
    let (mut acme, denied) = denied(&app).await;
    let appealed = acme
        .appeal_denial(appeal(&denied, "The end user was delisted on 3 March"))
        .await
        .expect("appeal")
        .into_inner();
    assert_eq!(appealed.state, pb::ApplicationState::UnderAppeal as i32);
    let filed = &appealed.appeals[0];
    assert_eq!(filed.outcome, pb::AppealOutcome::Unspecified as i32);
    assert_eq!(filed.documents.len(), 1);
    assert!(filed.due_time.is_some());

    // The appeal waits in the queue on its own clock.
    let queue = app
        .regulator(CAROL, &["senior_reviewer"])
        .list_cases(pb::ListCasesRequest {
            filter: "state = UNDER_APPEAL".into(),
            ..Default::default()
        })
        .await
        .expect("queue")
        .into_inner()
        .cases;
    assert_eq!(queue.len(), 1);
    let case = &queue[0];
    assert_eq!(case.name, denied.name);
    let appeal_in_queue = &case.application.as_ref().unwrap().appeals[0];
    assert_eq!(appeal_in_queue.due_time, filed.due_time);
    assert!(
        case.clock.as_ref().unwrap().paused,
        "the review clock stands still"
    );

    // Neither the proposer nor the countersigner of the denial may decide it, whatever their
    // role now; a reviewer may not decide at all.
    for (who, roles) in [
        (ALICE, &["senior_reviewer"][..]),
        (BOB, &["senior_reviewer"][..]),
    ] {
        let status = assert_code(
            app.regulator(who, roles)
                .decide_appeal(decide(case, pb::AppealOutcome::Overturned, "I agree"))
                .await,
            Code::PermissionDenied,
        );
        assert_eq!(reason(&status), "APPEAL_NOT_INDEPENDENT", "{who}");
    }
    let status = assert_code(
        app.regulator(CAROL, &["reviewer"])
            .decide_appeal(decide(case, pb::AppealOutcome::Overturned, "I agree"))
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(reason(&status), "ROLE_NOT_ALLOWED");

    // Carol, who took no part, overturns it.
    let overturned = app
        .regulator(CAROL, &["senior_reviewer"])
        .decide_appeal(decide(
            case,
            pb::AppealOutcome::Overturned,
            "The delisting removes the ground for refusal",
        ))
        .await
        .expect("overturn")
        .into_inner();
    let application = overturned.application.as_ref().unwrap();
    assert_eq!(application.state, pb::ApplicationState::UnderReview as i32);
    assert_eq!(
        application.appeals[0].outcome,
        pb::AppealOutcome::Overturned as i32
    );
    assert_eq!(application.appeals[0].decided_by, CAROL);

    // Back through proposal and countersignature, to a licence.
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let proposed = alice
        .propose_decision(pb::ProposeDecisionRequest {
            name: overturned.name.clone(),
            request_id: request_id(),
            etag: overturned.etag.clone(),
            approve: true,
            reason: "Approved on appeal".into(),
            ..Default::default()
        })
        .await
        .expect("propose approval")
        .into_inner();
    app.regulator(DAVE, &["senior_reviewer"])
        .countersign_decision(pb::CountersignDecisionRequest {
            name: proposed.name.clone(),
            request_id: request_id(),
            etag: proposed.etag.clone(),
        })
        .await
        .expect("countersign approval");
    let licences = acme
        .list_licences(pb::ListLicencesRequest::default())
        .await
        .expect("licences")
        .into_inner()
        .licences;
    assert!(licences.iter().any(|l| l.application == denied.name));

    // The applicant sees the appeal and its outcome, not who decided it.
    let seen = acme
        .get_application(pb::GetApplicationRequest {
            name: denied.name.clone(),
        })
        .await
        .expect("read")
        .into_inner();
    assert_eq!(seen.state, pb::ApplicationState::Approved as i32);
    assert_eq!(
        seen.appeals[0].outcome,
        pb::AppealOutcome::Overturned as i32
    );
    assert!(seen.appeals[0].decided_by.is_empty());
    // An approved application is not appealed.
    assert_code(
        acme.appeal_denial(appeal(&seen, "more")).await,
        Code::FailedPrecondition,
    );
}

async fn an_upheld_appeal_keeps_the_denial_and_a_late_one_is_refused(_db: &TestDb, app: TestApp) {
    let (mut acme, denied_first) = denied(&app).await;
    let (_acme, denied_late) = denied(&app).await;

    // Careless appeals and decisions.
    let status = assert_code(
        acme.appeal_denial(appeal(&denied_first, "  ")).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["grounds"]);
    let mut bad_document = appeal(&denied_first, "grounds");
    bad_document.documents[0].sha256 = "not a hash".into();
    assert_code(
        acme.appeal_denial(bad_document).await,
        Code::InvalidArgument,
    );

    let appealed = acme
        .appeal_denial(appeal(&denied_first, "The quantity was reduced"))
        .await
        .expect("appeal")
        .into_inner();
    let case = case_of(&app, &appealed.name).await;
    let mut carol = app.regulator(CAROL, &["senior_reviewer"]);
    let status = assert_code(
        carol
            .decide_appeal(decide(&case, pb::AppealOutcome::Unspecified, "why"))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["outcome"]);
    let status = assert_code(
        carol
            .decide_appeal(decide(&case, pb::AppealOutcome::Upheld, ""))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["reason"]);

    // Past its own clock (20 working days), the appeal is overdue in the queue.
    app.clock.set(app.clock.now() + chrono::Duration::days(30));
    let overdue = carol
        .list_cases(pb::ListCasesRequest {
            filter: "overdue = true".into(),
            ..Default::default()
        })
        .await
        .expect("overdue")
        .into_inner()
        .cases;
    let late = overdue
        .iter()
        .find(|c| c.name == appealed.name)
        .expect("the overdue appeal is listed");
    assert!(late.application.as_ref().unwrap().appeals[0].overdue);

    let upheld = carol
        .decide_appeal(decide(
            &case,
            pb::AppealOutcome::Upheld,
            "The reduction does not address the end-user concern",
        ))
        .await
        .expect("uphold")
        .into_inner();
    assert_eq!(
        upheld.application.as_ref().unwrap().state,
        pb::ApplicationState::Denied as i32
    );
    let licences = acme
        .list_licences(pb::ListLicencesRequest::default())
        .await
        .expect("licences")
        .into_inner()
        .licences;
    assert!(licences.is_empty(), "an upheld denial issues nothing");
    // A denial is appealed once.
    let again = acme
        .get_application(pb::GetApplicationRequest {
            name: appealed.name.clone(),
        })
        .await
        .expect("read")
        .into_inner();
    let status = assert_code(
        acme.appeal_denial(appeal(&again, "once more")).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("already been appealed"),
        "{status:?}"
    );

    // 46 days after its denial the other application can no longer be appealed.
    app.clock.set(app.clock.now() + chrono::Duration::days(16));
    let status = assert_code(
        acme.appeal_denial(appeal(&denied_late, "too late")).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "APPEAL_PERIOD_OVER");
}
