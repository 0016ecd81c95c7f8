//! Who may call what: tokens, service sides, roles and organisation scoping.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clearance_auth::{DevKey, TokenRequest};
use clearance_proto::v1 as pb;
use clearance_tests::{TestApp, TestDb, on_both_databases};
use tonic::Code;

use crate::fixtures::{assert_code, create_application, create_product, reason, request_id};

fn token_request(app: &TestApp) -> TokenRequest {
    TokenRequest {
        subject: "mallory".into(),
        roles: vec!["applicant".into()],
        organisation: Some("acme".into()),
        issuer: app.config.auth.issuer.clone(),
        audience: app.config.auth.audience.clone(),
        now: chrono::Utc::now(),
        lifetime_seconds: 3600,
    }
}

fn unsigned_token(app: &TestApp) -> String {
    let now = chrono::Utc::now().timestamp();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        serde_json::json!({
            "sub": "mallory", "iss": app.config.auth.issuer, "aud": app.config.auth.audience,
            "exp": now + 3600, "nbf": now, "iat": now, "roles": ["applicant"], "org": "acme"
        })
        .to_string(),
    );
    format!("{header}.{claims}.")
}

async fn bad_tokens_are_unauthenticated(_db: &TestDb, app: TestApp) {
    let other_dir = tempfile::tempdir().unwrap();
    let other_key = DevKey::load_or_create(other_dir.path()).unwrap();
    let mut expired = token_request(&app);
    expired.now -= chrono::Duration::hours(3);
    let mut not_yet_valid = token_request(&app);
    not_yet_valid.now += chrono::Duration::hours(1);
    let mut wrong_audience = token_request(&app);
    wrong_audience.audience = "someone-else".into();
    let mut wrong_issuer = token_request(&app);
    wrong_issuer.issuer = "https://evil.example".into();

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("garbage", Some("not-a-jwt".into())),
        ("expired", Some(app.dev_key.mint(&expired).unwrap())),
        (
            "not yet valid",
            Some(app.dev_key.mint(&not_yet_valid).unwrap()),
        ),
        (
            "signed by another key",
            Some(other_key.mint(&token_request(&app)).unwrap()),
        ),
        ("alg none", Some(unsigned_token(&app))),
        (
            "wrong audience",
            Some(app.dev_key.mint(&wrong_audience).unwrap()),
        ),
        (
            "wrong issuer",
            Some(app.dev_key.mint(&wrong_issuer).unwrap()),
        ),
    ];
    for (case, token) in cases {
        let mut client = app.applications_with(token);
        let result = client
            .list_products(pb::ListProductsRequest::default())
            .await;
        let status = result.expect_err(case);
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
        assert_eq!(reason(&status), "UNAUTHENTICATED", "{case}");
    }
}

async fn each_service_admits_only_its_own_side(_db: &TestDb, app: TestApp) {
    let reviewer = app.token(&["reviewer"], None);
    let mut as_reviewer = app.applications_with(Some(reviewer));
    let status = assert_code(
        as_reviewer
            .list_applications(pb::ListApplicationsRequest::default())
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(reason(&status), "ROLE_NOT_ALLOWED");

    let applicant = app.token(&["applicant"], Some("acme"));
    let mut reviews = app.reviews_with(Some(applicant.clone()));
    assert_code(
        reviews.list_cases(pb::ListCasesRequest::default()).await,
        Code::PermissionDenied,
    );
    let mut policies = app.policies_with(Some(applicant));
    assert_code(
        policies
            .list_rule_sets(pb::ListRuleSetsRequest::default())
            .await,
        Code::PermissionDenied,
    );
}

async fn organisations_never_see_each_other(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let mut globex = app.applicant("globex");
    let product = create_product(&mut acme).await;
    let application = create_application(&mut acme, &product.name).await;

    let status = assert_code(
        globex
            .get_application(pb::GetApplicationRequest {
                name: application.name.clone(),
            })
            .await,
        Code::NotFound,
    );
    assert_eq!(reason(&status), "NOT_FOUND");
    assert_code(
        globex
            .get_product(pb::GetProductRequest {
                name: product.name.clone(),
            })
            .await,
        Code::NotFound,
    );
    let mut stolen = application.clone();
    stolen.end_use_statement = "changed by someone else".into();
    assert_code(
        globex
            .update_application(pb::UpdateApplicationRequest {
                request_id: request_id(),
                application: Some(stolen),
                update_mask: None,
            })
            .await,
        Code::NotFound,
    );
    // Nor can another organisation's product be put on one's own application.
    let mut borrowed = crate::fixtures::draft(&product.name);
    borrowed.destination_country_code = "DE".into();
    let status = assert_code(
        globex
            .create_application(pb::CreateApplicationRequest {
                request_id: request_id(),
                application: Some(borrowed),
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        crate::fixtures::violated_fields(&status),
        ["application.lines[0].product"]
    );

    let listed = globex
        .list_applications(pb::ListApplicationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.applications.is_empty());
    let unchanged = acme
        .get_application(pb::GetApplicationRequest {
            name: application.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged, application);
}

async fn erp_systems_read_but_do_not_file(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let mut erp = app.applications_with(Some(app.token(&["erp"], Some("acme"))));
    let read = erp
        .get_product(pb::GetProductRequest {
            name: product.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, product);
    let status = assert_code(
        erp.create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(crate::fixtures::draft(&product.name)),
        })
        .await,
        Code::PermissionDenied,
    );
    assert_eq!(reason(&status), "ROLE_NOT_ALLOWED");
}

on_both_databases!(
    bad_tokens_are_unauthenticated,
    each_service_admits_only_its_own_side,
    organisations_never_see_each_other,
    erp_systems_read_but_do_not_file,
);
