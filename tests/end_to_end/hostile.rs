//! Every role against every method, and thousands of random and malformed requests: a role a
//! method does not allow is refused before anything else, and nothing a client sends crashes
//! the server or answers INTERNAL.

use clearance_tests::raw::{Fill, MessageBuilder, Rng, contract_methods};
use clearance_tests::{TestApp, TestDb, on_both_databases};
use tonic::Code;

on_both_databases!(
    every_role_is_refused_every_method_it_may_not_call,
    random_and_malformed_requests_never_crash_or_answer_internal,
    control_characters_in_filters_are_bad_input,
    a_message_over_the_size_limit_is_resource_exhausted_with_its_reason,
);

const ROLES: [&str; 7] = [
    "applicant",
    "erp",
    "reviewer",
    "senior_reviewer",
    "policy_admin",
    "auditor",
    "adviser",
];

/// Who may call what, written out from product.md ("Who uses it", "Access") independently of
/// the server's own table.
fn allowed(service: &str, method: &str) -> &'static [&'static str] {
    const EXPORTERS: &[&str] = &["applicant", "erp"];
    const REGULATORS: &[&str] = &["reviewer", "senior_reviewer", "policy_admin", "auditor"];
    match (service, method) {
        ("ApplicationService", m) if m.starts_with("Get") || m.starts_with("List") => EXPORTERS,
        ("ApplicationService", "DetermineRequirement" | "DownloadDocument") => EXPORTERS,
        ("ApplicationService", _) => &["applicant"],
        ("ShipmentService", "StartShipment" | "CancelShipment") => &["erp"],
        ("ShipmentService", _) => EXPORTERS,
        (
            "ReviewService",
            "ListCases" | "GetCase" | "ListAllLicences" | "GetAnyLicence" | "ListAllShipments"
            | "GetHistory" | "VerifyHistory" | "DownloadDocument" | "BatchGetProducts",
        ) => REGULATORS,
        ("ReviewService", "ListReferrals" | "GetReferral") => &[
            "reviewer",
            "senior_reviewer",
            "policy_admin",
            "auditor",
            "adviser",
        ],
        ("ReviewService", "GiveAdvice") => &["adviser"],
        ("ReviewService", "CountersignDecision" | "RejectProposal" | "DecideAppeal") => {
            &["senior_reviewer"]
        }
        ("ReviewService", "SuspendLicence" | "RevokeLicence" | "ReinstateLicence") => {
            &["senior_reviewer"]
        }
        ("ReviewService", _) => &["reviewer", "senior_reviewer"],
        ("PolicyService", "PublishRuleSet" | "ImportScreeningList") => &["policy_admin"],
        ("PolicyService", _) => REGULATORS,
        ("EventService" | "AuditService", _) => &[
            "applicant",
            "erp",
            "reviewer",
            "senior_reviewer",
            "policy_admin",
            "auditor",
        ],
        _ => &[],
    }
}

fn token_for(app: &TestApp, role: &str) -> String {
    match role {
        "applicant" | "erp" => app.token(&[role], Some("acme")),
        "adviser" => app.token(&[role], Some("defense")),
        _ => app.token(&[role], None),
    }
}

fn regulator_side(service: &str, role: &str) -> bool {
    match service {
        "ReviewService" | "PolicyService" => true,
        "EventService" => !matches!(role, "applicant" | "erp"),
        _ => false,
    }
}

async fn every_role_is_refused_every_method_it_may_not_call(_db: &TestDb, app: TestApp) {
    let methods = contract_methods();
    assert!(methods.len() >= 38, "the descriptors list every method");
    let builder = MessageBuilder::new();
    let mut rng = Rng::new(0x5eed);
    let mut refused = 0;
    for method in &methods {
        let may = allowed(&method.service, &method.method);
        assert!(!may.is_empty(), "{} has no expected roles", method.path);
        for role in ROLES {
            if may.contains(&role) {
                continue;
            }
            let token = token_for(&app, role);
            let bodies = [
                Vec::new(),
                rng.bytes(64),
                builder.build(&method.input_type, Fill::WellFormed, &mut rng),
            ];
            for body in bodies {
                let status = app
                    .call_raw(
                        regulator_side(&method.service, role),
                        &method.path,
                        Some(&token),
                        body,
                    )
                    .await
                    .expect_err(&format!("{role} may not call {}", method.path));
                assert_eq!(
                    status.code(),
                    Code::PermissionDenied,
                    "{role} calling {}: {status:?}",
                    method.path
                );
                refused += 1;
            }
        }
    }
    assert!(refused > 300, "{refused} refusals checked");
}

async fn random_and_malformed_requests_never_crash_or_answer_internal(_db: &TestDb, app: TestApp) {
    let methods = contract_methods();
    let builder = MessageBuilder::new();
    let mut rng = Rng::new(0xc1ea_2a9c);
    let tokens: Vec<(String, String)> = ROLES
        .iter()
        .map(|r| ((*r).to_owned(), token_for(&app, r)))
        .collect();
    let mut calls = 0;
    for round in 0..4_000 {
        // Round robin, so every method gets its share of both kinds.
        let method = &methods[(round / 2) % methods.len()];
        let may = allowed(&method.service, &method.method);
        let role = may[rng.below(may.len() as u64) as usize];
        let token = &tokens.iter().find(|(r, _)| r == role).expect("token").1;
        let body = if round % 2 == 0 {
            let len = rng.below(512) as usize;
            rng.bytes(len)
        } else {
            builder.build(&method.input_type, Fill::Hostile, &mut rng)
        };
        let result = app
            .call_raw(
                regulator_side(&method.service, role),
                &method.path,
                Some(token),
                body,
            )
            .await;
        if let Err(status) = result {
            assert!(
                !matches!(status.code(), Code::Internal | Code::Unknown),
                "round {round}: {role} calling {} answered {status:?}",
                method.path
            );
        }
        calls += 1;
    }
    assert_eq!(calls, 4_000);
    crate::trust::health_is_serving(&app).await;
}

/// A NUL (or any control character) in a filter value is bad input on both databases, never
/// INTERNAL (PostgreSQL refuses a NUL in a text parameter).
async fn control_characters_in_filters_are_bad_input(_db: &TestDb, app: TestApp) {
    use clearance_proto::v1 as pb;
    let mut reviewer = app.regulator("alice@regulator", &["reviewer"]);
    let mut adviser = app.adviser("dora@defense", "defense");
    let mut applicant = app.applicant("acme");
    for value in ["a\0b", "\0", "tab\there", "bell\u{7}"] {
        let quoted = format!("\"{value}\"");
        let refusals = [
            reviewer
                .list_cases(pb::ListCasesRequest {
                    filter: format!("assignee = {quoted}"),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            adviser
                .list_referrals(pb::ListReferralsRequest {
                    filter: format!("agency = {quoted}"),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            applicant
                .list_products(pb::ListProductsRequest {
                    filter: format!("classification = {quoted}"),
                    ..Default::default()
                })
                .await
                .map(|_| ()),
        ];
        for refusal in refusals {
            let status = refusal.expect_err("a control character is refused");
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{value:?}: {status:?}"
            );
        }
    }
}

/// A request larger than the server accepts (4 MiB) is RESOURCE_EXHAUSTED with
/// MESSAGE_TOO_LARGE, as docs/limits.md says, not a bare OUT_OF_RANGE.
async fn a_message_over_the_size_limit_is_resource_exhausted_with_its_reason(
    _db: &TestDb,
    app: TestApp,
) {
    use clearance_proto::v1 as pb;
    let mut admin = app.policies_with(Some(app.token(&["policy_admin"], None)));
    let status = admin
        .import_screening_list(pb::ImportScreeningListRequest {
            request_id: "too-large".into(),
            source: "Large".into(),
            format: pb::ScreeningListFormat::CslCsv as i32,
            content: vec![b'a'; 5 * 1024 * 1024],
        })
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(crate::fixtures::reason(&status), "MESSAGE_TOO_LARGE");
    assert!(status.message().contains("larger than"), "{status:?}");
}
