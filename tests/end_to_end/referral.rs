//! Advice from other agencies: a case referred to two agencies waits for both, each agency sees
//! only its own referrals, an approval against a refusal must say why, an overdue referral is
//! flagged in the queue, and the applicant learns nothing of any of it.

use std::time::Duration;

use clearance_grpc::Clock;
use clearance_proto::v1 as pb;
use clearance_proto::v1::event_service_client::EventServiceClient;
use clearance_tests::{
    ApplicationClient, Bearer, ReviewClient, TestApp, TestDb, on_both_databases,
};
use prost::Message;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

use crate::fixtures::{
    assert_code, assign_to_self, create_product, draft, h20, line, reason, request_id, submit,
    violated_fields,
};

on_both_databases!(
    a_case_referred_to_two_agencies_waits_for_both_and_each_sees_only_its_own,
    an_overdue_referral_is_flagged_in_the_queue,
    careless_and_hostile_referrals_and_advice_are_refused_with_reasons,
    advice_released_together_takes_effect_once,
);

const ALICE: &str = "alice@regulator";
const BOB: &str = "bob@regulator";

/// A two-line application (100 and 50 units), submitted and assigned to Alice.
async fn referable_case(app: &TestApp) -> (ApplicationClient, pb::Case) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let other = acme
        .create_product(pb::CreateProductRequest {
            request_id: request_id(),
            product: Some(pb::Product {
                display_name: "H20 (second build)".into(),
                part_number: "900-2G133-0010-000".into(),
                ..h20()
            }),
        })
        .await
        .expect("second product")
        .into_inner();
    let mut application = draft(&product.name);
    application.lines = vec![line(&product.name, 100), line(&other.name, 50)];
    let created = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        })
        .await
        .expect("create")
        .into_inner();
    let submitted = submit(&mut acme, &created).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let case = assign_to_self(&mut alice, &submitted).await;
    (acme, case)
}

async fn refer(reviewer: &mut ReviewClient, case: &pb::Case, agencies: &[&str]) -> pb::Case {
    reviewer
        .refer_case(pb::ReferCaseRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            agencies: agencies.iter().map(|a| a.to_string()).collect(),
            line_numbers: Vec::new(),
        })
        .await
        .expect("refer")
        .into_inner()
}

fn approve_all(case: &pb::Case, justification: &str) -> pb::ProposeDecisionRequest {
    pb::ProposeDecisionRequest {
        name: case.name.clone(),
        request_id: request_id(),
        etag: case.etag.clone(),
        approve: true,
        reason: "End user verified".into(),
        justification: justification.into(),
        ..Default::default()
    }
}

fn advice(line_number: i32, kind: pb::AdviceKind, text: &str) -> pb::LineAdvice {
    pb::LineAdvice {
        line_number,
        kind: kind as i32,
        text: text.into(),
    }
}

async fn only_referral(adviser: &mut ReviewClient) -> pb::Referral {
    let mut referrals = adviser
        .list_referrals(pb::ListReferralsRequest::default())
        .await
        .expect("list referrals")
        .into_inner()
        .referrals;
    assert_eq!(referrals.len(), 1, "{referrals:?}");
    referrals.remove(0)
}

async fn get_case(reviewer: &mut ReviewClient, name: &str) -> pb::Case {
    reviewer
        .get_case(pb::GetCaseRequest { name: name.into() })
        .await
        .expect("get case")
        .into_inner()
}

/// Everything the applicant can read about its application, as bytes: the application, its
/// history, and every event of its stream.
async fn what_the_applicant_sees(
    app: &TestApp,
    acme: &mut ApplicationClient,
    name: &str,
) -> Vec<u8> {
    let mut seen = acme
        .get_application(pb::GetApplicationRequest { name: name.into() })
        .await
        .expect("get application")
        .into_inner()
        .encode_to_vec();
    let history = acme
        .list_history(pb::ListHistoryRequest {
            resource: name.into(),
            page_size: 1000,
            page_token: String::new(),
        })
        .await
        .expect("history")
        .into_inner();
    seen.extend(history.encode_to_vec());
    let mut events = EventServiceClient::with_interceptor(
        app.application_channel.clone(),
        Bearer::new(Some(app.token(&["applicant"], Some("acme")))),
    );
    let mut stream = events
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .expect("watch")
        .into_inner();
    // The stream stays open; once it has been quiet for a while everything was delivered.
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        seen.extend(event.expect("event").encode_to_vec());
    }
    seen
}

fn mentions(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn a_case_referred_to_two_agencies_waits_for_both_and_each_sees_only_its_own(
    _db: &TestDb,
    app: TestApp,
) {
    let (mut acme, case) = referable_case(&app).await;
    let before = what_the_applicant_sees(&app, &mut acme, &case.name).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let case = refer(&mut alice, &case, &["defense", "energy"]).await;
    assert_eq!(case.referrals.len(), 2);
    assert!(case.referrals.iter().all(|r| r.advice.is_empty()));
    assert_eq!(case.referrals[0].line_numbers, [1, 2], "the whole case");

    // No proposal while either agency's advice is due.
    let status = assert_code(
        alice.propose_decision(approve_all(&case, "")).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "ADVICE_OUTSTANDING");
    assert!(status.message().contains("defense, energy"), "{status:?}");

    // Each agency sees its own referral and nothing else.
    let mut dora = app.adviser("dora@defense", "defense");
    let mut erin = app.adviser("erin@energy", "energy");
    let defense = only_referral(&mut dora).await;
    let energy = only_referral(&mut erin).await;
    assert_eq!(defense.agency, "defense");
    assert_eq!(energy.agency, "energy");
    let referred = defense
        .application
        .as_ref()
        .expect("the application as referred");
    assert_eq!(referred.lines.len(), 2);
    assert!(referred.notes.is_empty());
    assert_code(
        dora.get_referral(pb::GetReferralRequest {
            name: energy.name.clone(),
        })
        .await,
        Code::NotFound,
    );
    for refused in [
        dora.get_case(pb::GetCaseRequest {
            name: case.name.clone(),
        })
        .await
        .map(|_| ()),
        dora.list_cases(pb::ListCasesRequest::default())
            .await
            .map(|_| ()),
        dora.get_history(pb::GetHistoryRequest {
            resource: defense.name.clone(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    ] {
        assert_code(refused, Code::PermissionDenied);
    }
    let mut dora_events = EventServiceClient::with_interceptor(
        app.reviewer_channel.clone(),
        Bearer::new(Some(app.token_for(
            "dora@defense",
            &["adviser"],
            Some("defense"),
        ))),
    );
    assert_code(
        dora_events
            .watch_events(pb::WatchEventsRequest::default())
            .await,
        Code::PermissionDenied,
    );

    // Another agency cannot advise on this agency's referral.
    assert_code(
        erin.give_advice(pb::GiveAdviceRequest {
            name: defense.name.clone(),
            request_id: request_id(),
            etag: defense.etag.clone(),
            advice: vec![
                advice(1, pb::AdviceKind::Approve, ""),
                advice(2, pb::AdviceKind::Approve, ""),
            ],
        })
        .await,
        Code::NotFound,
    );

    // Defense approves; a retry answers the same, a second advice is refused.
    let give = pb::GiveAdviceRequest {
        name: defense.name.clone(),
        request_id: request_id(),
        etag: defense.etag.clone(),
        advice: vec![
            advice(1, pb::AdviceKind::Approve, ""),
            advice(
                2,
                pb::AdviceKind::ApproveWithProvisos,
                "No transfer to military end users",
            ),
        ],
    };
    let advised = dora
        .give_advice(give.clone())
        .await
        .expect("advise")
        .into_inner();
    assert_eq!(advised.adviser, "dora@defense");
    assert_eq!(advised.advice.len(), 2);
    let replayed = dora
        .give_advice(give.clone())
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(replayed, advised);
    assert_code(
        dora.give_advice(pb::GiveAdviceRequest {
            request_id: request_id(),
            ..give.clone()
        })
        .await,
        Code::Aborted,
    );
    let status = assert_code(
        dora.give_advice(pb::GiveAdviceRequest {
            request_id: request_id(),
            etag: advised.etag.clone(),
            ..give
        })
        .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("already advised"), "{status:?}");

    // Energy still owes advice.
    let case = get_case(&mut alice, &case.name).await;
    let status = assert_code(
        alice.propose_decision(approve_all(&case, "")).await,
        Code::FailedPrecondition,
    );
    assert!(status.message().ends_with("energy"), "{status:?}");

    // Energy refuses line 2.
    erin.give_advice(pb::GiveAdviceRequest {
        name: energy.name.clone(),
        request_id: request_id(),
        etag: energy.etag.clone(),
        advice: vec![
            advice(
                2,
                pb::AdviceKind::Refuse,
                "End user linked to a listed entity",
            ),
            advice(1, pb::AdviceKind::NoLicenceRequired, ""),
        ],
    })
    .await
    .expect("energy advises");

    // Approving the refused line needs a justification; granting none of it does not.
    let case = get_case(&mut alice, &case.name).await;
    let status = assert_code(
        alice.propose_decision(approve_all(&case, "  ")).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["justification"]);
    let described = status
        .get_details_bad_request()
        .map(|b| b.field_violations[0].description.clone())
        .unwrap_or_default();
    assert!(described.contains("line 2 (energy)"), "{described}");
    let justification = "The listed entity was delisted on review; end-use check done on site";
    let proposed = alice
        .propose_decision(approve_all(&case, justification))
        .await
        .expect("a justified departure is accepted")
        .into_inner();
    assert_eq!(proposed.proposals[0].justification, justification);

    // The countersigner sees every agency's advice and the justification.
    let mut bob = app.regulator(BOB, &["senior_reviewer"]);
    let seen = get_case(&mut bob, &case.name).await;
    assert_eq!(seen.proposals[0].justification, justification);
    let kinds: Vec<(String, Vec<i32>)> = seen
        .referrals
        .iter()
        .map(|r| (r.agency.clone(), r.advice.iter().map(|a| a.kind).collect()))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                "defense".to_owned(),
                vec![
                    pb::AdviceKind::Approve as i32,
                    pb::AdviceKind::ApproveWithProvisos as i32
                ]
            ),
            (
                "energy".to_owned(),
                vec![
                    pb::AdviceKind::NoLicenceRequired as i32,
                    pb::AdviceKind::Refuse as i32
                ]
            ),
        ]
    );
    assert!(!seen.advice_overdue);

    // Advice is on each referral's verifiable history.
    let history = bob
        .get_history(pb::GetHistoryRequest {
            resource: defense.name.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("referral history")
        .into_inner()
        .entries;
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["case.referred", "referral.advice_given"]);
    let verified = bob
        .verify_history(pb::VerifyHistoryRequest {
            resource: defense.name.clone(),
        })
        .await
        .expect("verify")
        .into_inner();
    assert!(verified.intact);

    // The applicant's views and stream carry nothing of the referral: no agency, no advice,
    // no referral, beyond what it saw before the referral.
    let after = what_the_applicant_sees(&app, &mut acme, &case.name).await;
    for secret in [
        "defense",
        "energy",
        "referral",
        "referred",
        "advice",
        "delisted",
        "listed entity",
        "military",
    ] {
        assert!(!mentions(&after, secret), "the applicant saw '{secret}'");
        assert!(!mentions(&before, secret));
    }
    // The applicant cannot read a referral's history either.
    assert_code(
        acme.list_history(pb::ListHistoryRequest {
            resource: defense.name.clone(),
            page_size: 10,
            page_token: String::new(),
        })
        .await,
        Code::NotFound,
    );
}

async fn an_overdue_referral_is_flagged_in_the_queue(_db: &TestDb, app: TestApp) {
    let (_acme, case) = referable_case(&app).await;
    let (_other, other) = referable_case(&app).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    refer(&mut alice, &case, &["state"]).await;
    let overdue_queue = |alice: &mut ReviewClient| {
        let mut alice = alice.clone();
        async move {
            alice
                .list_cases(pb::ListCasesRequest {
                    filter: "advice_overdue = true".into(),
                    ..Default::default()
                })
                .await
                .expect("queue")
                .into_inner()
                .cases
        }
    };
    assert!(overdue_queue(&mut alice).await.is_empty());

    // Eleven working days on (no holidays configured), the advice is late.
    app.clock.set(app.clock.now() + chrono::Duration::days(17));
    let late = overdue_queue(&mut alice).await;
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].name, case.name);
    assert!(late[0].advice_overdue);
    assert!(late[0].referrals[0].overdue);
    let on_time = alice
        .list_cases(pb::ListCasesRequest {
            filter: "advice_overdue = false".into(),
            ..Default::default()
        })
        .await
        .expect("queue")
        .into_inner()
        .cases;
    assert!(on_time.iter().any(|c| c.name == other.name));
    assert!(on_time.iter().all(|c| c.name != case.name));

    // The agency sees it late on its own list.
    let mut sam = app.adviser("sam@state", "state");
    let late = sam
        .list_referrals(pb::ListReferralsRequest {
            filter: "overdue = true".into(),
            ..Default::default()
        })
        .await
        .expect("late referrals")
        .into_inner()
        .referrals;
    assert_eq!(late.len(), 1);
    assert!(late[0].overdue);
    // ... and the regulator across agencies, per case.
    let of_case = alice
        .list_referrals(pb::ListReferralsRequest {
            filter: format!("case = \"{}\" AND outstanding = true", case.name),
            ..Default::default()
        })
        .await
        .expect("referrals of the case")
        .into_inner()
        .referrals;
    assert_eq!(of_case.len(), 1);
    assert_eq!(of_case[0].agency, "state");
}

async fn careless_and_hostile_referrals_and_advice_are_refused_with_reasons(
    _db: &TestDb,
    app: TestApp,
) {
    let (_acme, case) = referable_case(&app).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    let refer_with = |agencies: Vec<String>, line_numbers: Vec<i32>| pb::ReferCaseRequest {
        name: case.name.clone(),
        request_id: request_id(),
        etag: case.etag.clone(),
        agencies,
        line_numbers,
    };
    let status = assert_code(
        alice
            .refer_case(refer_with(
                vec!["defense".into(), "cia".into(), "defense".into()],
                vec![3, 2, 2],
            ))
            .await,
        Code::InvalidArgument,
    );
    let fields = violated_fields(&status);
    for expected in [
        "agencies[1]",
        "agencies[2]",
        "line_numbers[0]",
        "line_numbers",
    ] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} in {fields:?}"
        );
    }
    let status = assert_code(
        alice
            .refer_case(refer_with(vec!["defense".into()], vec![1, 0, -4]))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        ["line_numbers[1]", "line_numbers[2]"]
    );
    let status = assert_code(
        alice.refer_case(refer_with(Vec::new(), Vec::new())).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["agencies"]);
    let huge = "x".repeat(100_000);
    let status = assert_code(
        alice
            .refer_case(refer_with(vec![huge], vec![i32::MAX, i32::MIN]))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().len() < 2_000,
        "a bad value is quoted short"
    );

    // Referring only line 2, then again while its advice is due.
    let referred = alice
        .refer_case(refer_with(vec!["defense".into()], vec![2]))
        .await
        .expect("refer line 2")
        .into_inner();
    assert_eq!(referred.referrals[0].line_numbers, [2]);
    let status = assert_code(
        alice
            .refer_case(pb::ReferCaseRequest {
                etag: referred.etag.clone(),
                ..refer_with(vec!["defense".into()], Vec::new())
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("already referred"), "{status:?}");
    // A stale etag is a conflict.
    assert_code(
        alice
            .refer_case(refer_with(vec!["energy".into()], Vec::new()))
            .await,
        Code::Aborted,
    );

    // Advice that misses the referred line, names another, or leaves out reasons.
    let mut dora = app.adviser("dora@defense", "defense");
    let referral = only_referral(&mut dora).await;
    let give = |advice: Vec<pb::LineAdvice>| pb::GiveAdviceRequest {
        name: referral.name.clone(),
        request_id: request_id(),
        etag: referral.etag.clone(),
        advice,
    };
    for (bad, field) in [
        (
            vec![advice(1, pb::AdviceKind::Approve, "")],
            "advice[0].line_number",
        ),
        (
            vec![advice(2, pb::AdviceKind::Refuse, " ")],
            "advice[0].text",
        ),
        (
            vec![advice(0, pb::AdviceKind::Approve, "")],
            "advice[0].line_number",
        ),
        (
            vec![pb::LineAdvice {
                line_number: 2,
                kind: 99,
                text: String::new(),
            }],
            "advice[0].kind",
        ),
        (Vec::new(), "advice"),
        (
            vec![advice(2, pb::AdviceKind::Approve, "but why")],
            "advice[0].text",
        ),
    ] {
        let status = assert_code(dora.give_advice(give(bad)).await, Code::InvalidArgument);
        assert!(
            violated_fields(&status).iter().any(|f| f == field),
            "{field}: {status:?}"
        );
    }
    for name in ["", "referrals/nope", &case.name] {
        let status = assert_code(
            dora.give_advice(pb::GiveAdviceRequest {
                name: name.into(),
                ..give(vec![advice(2, pb::AdviceKind::Approve, "")])
            })
            .await,
            Code::InvalidArgument,
        );
        assert!(violated_fields(&status).contains(&"name".to_owned()));
    }

    // An adviser token must name a well-formed agency; an agency nobody referred anything to
    // sees nothing.
    let nameless = app.reviews_with(Some(app.token_for("x@nowhere", &["adviser"], None)));
    assert_code(
        nameless
            .clone()
            .list_referrals(pb::ListReferralsRequest::default())
            .await,
        Code::Unauthenticated,
    );
    let mut mixed = app.reviews_with(Some(app.token_for(
        "x@defense",
        &["adviser", "reviewer"],
        Some("defense"),
    )));
    assert_code(
        mixed
            .list_referrals(pb::ListReferralsRequest::default())
            .await,
        Code::Unauthenticated,
    );
    let mut stranger = app.adviser("kim@treasury", "treasury");
    let none = stranger
        .list_referrals(pb::ListReferralsRequest::default())
        .await
        .expect("an empty list")
        .into_inner();
    assert!(none.referrals.is_empty());
    assert_code(
        stranger
            .get_referral(pb::GetReferralRequest {
                name: referral.name.clone(),
            })
            .await,
        Code::NotFound,
    );
}

/// Eight identical GiveAdvice calls and eight with their own request ids, released together:
/// one advice, the identical copies answered alike, the others refused.
async fn advice_released_together_takes_effect_once(_db: &TestDb, app: TestApp) {
    let (_acme, case) = referable_case(&app).await;
    let mut alice = app.regulator(ALICE, &["reviewer"]);
    refer(&mut alice, &case, &["defense"]).await;
    let mut dora = app.adviser("dora@defense", "defense");
    let referral = only_referral(&mut dora).await;
    let identical = pb::GiveAdviceRequest {
        name: referral.name.clone(),
        request_id: request_id(),
        etag: referral.etag.clone(),
        advice: vec![
            advice(1, pb::AdviceKind::Approve, ""),
            advice(2, pb::AdviceKind::Approve, ""),
        ],
    };
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(16));
    let mut calls = Vec::new();
    for i in 0..16 {
        let mut client = dora.clone();
        let barrier = barrier.clone();
        let request = if i % 2 == 0 {
            identical.clone()
        } else {
            pb::GiveAdviceRequest {
                request_id: request_id(),
                ..identical.clone()
            }
        };
        calls.push(tokio::spawn(async move {
            barrier.wait().await;
            (i % 2 == 0, client.give_advice(request).await)
        }));
    }
    let mut identical_answers = Vec::new();
    let mut others_applied = 0;
    for call in calls {
        match call.await.unwrap() {
            (true, answer) => identical_answers.push(answer.map(|r| r.into_inner())),
            (false, Ok(_)) => others_applied += 1,
            (false, Err(status)) => assert!(
                matches!(status.code(), Code::Aborted | Code::FailedPrecondition),
                "{status:?}"
            ),
        }
    }
    let applied_by_identical = identical_answers.iter().filter(|a| a.is_ok()).count();
    // Either the identical request or exactly one other won; identical copies answer alike.
    assert_eq!(applied_by_identical.min(1) + others_applied, 1);
    if applied_by_identical > 0 {
        let first = identical_answers[0].as_ref().unwrap();
        assert!(
            identical_answers
                .iter()
                .all(|a| a.as_ref().ok() == Some(first))
        );
    }
    let history = app
        .regulator("audrey@regulator", &["auditor"])
        .get_history(pb::GetHistoryRequest {
            resource: referral.name.clone(),
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let advised = history
        .iter()
        .filter(|e| e.action == "referral.advice_given")
        .count();
    assert_eq!(advised, 1, "advice is recorded once");
}
