//! Keys from an identity provider's key set (JWKS): chosen by `kid`, rotated without a
//! restart, with the claims real providers write (`aud` as an array, no `nbf`).

use clearance_auth::DevKey;
use clearance_proto::v1 as pb;
use clearance_server::AuthMode;
use clearance_server::config::JwksConfig;
use clearance_tests::{Backend, TestApp};
use serde_json::json;
use tonic::Code;

fn write_key_set(path: &std::path::Path, keys: &[(&DevKey, &str)]) {
    let keys: Vec<serde_json::Value> = keys
        .iter()
        .map(|(key, kid)| key.public_jwk(kid).unwrap())
        .collect();
    // Written aside and renamed, as a provider's sidecar would: never half a file.
    let draft = path.with_extension("draft");
    std::fs::write(&draft, json!({ "keys": keys }).to_string()).unwrap();
    std::fs::rename(&draft, path).unwrap();
}

fn claims(aud: serde_json::Value) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": "officer@acme", "iss": "https://idp.example", "aud": aud,
        "exp": now + 600, "roles": ["applicant"], "org": "acme"
    })
}

async fn lists(app: &TestApp, token: String) -> Result<(), tonic::Status> {
    app.applications_with(Some(token))
        .list_products(pb::ListProductsRequest::default())
        .await
        .map(|_| ())
}

async fn keys_come_from_the_key_set_by_kid_and_rotate_without_a_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let [k1, k2, k3] =
        ["k1", "k2", "k3"].map(|kid| DevKey::load_or_create(&dir.path().join(kid)).unwrap());
    let jwks = dir.path().join("jwks.json");
    write_key_set(&jwks, &[(&k1, "k1"), (&k2, "k2")]);
    let source = jwks.display().to_string();
    let Some((db, app)) = TestApp::spawn_configured(backend, |c| {
        c.auth.mode = AuthMode::Production;
        c.auth.issuer = "https://idp.example".into();
        c.auth.jwks = Some(JwksConfig {
            source,
            refresh_seconds: 3600,
            min_refresh_seconds: 0,
        });
    })
    .await
    else {
        return;
    };
    let audience = json!("clearance");
    // Either key, each named by its kid; `aud` as an array; no `nbf` and no `iat`.
    lists(
        &app,
        k1.sign(&claims(audience.clone()), Some("k1")).unwrap(),
    )
    .await
    .expect("k1");
    lists(
        &app,
        k2.sign(&claims(json!(["ledger", "clearance"])), Some("k2"))
            .unwrap(),
    )
    .await
    .expect("k2 with an array audience");
    // A key the set does not hold, or a key that does not match its kid, is refused.
    let unknown = lists(
        &app,
        k3.sign(&claims(audience.clone()), Some("k3")).unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated, "{unknown:?}");
    assert!(
        unknown.message().contains("key id 'k3'"),
        "{}",
        unknown.message()
    );
    let forged = lists(
        &app,
        k3.sign(&claims(audience.clone()), Some("k1")).unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
    let elsewhere = lists(
        &app,
        k1.sign(&claims(json!(["ledger"])), Some("k1")).unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(elsewhere.code(), Code::Unauthenticated, "another audience");

    // The provider rotates: k1 retired, k3 added. The first k3 token picks the change up.
    let k1_token = k1.sign(&claims(audience.clone()), Some("k1")).unwrap();
    write_key_set(&jwks, &[(&k2, "k2"), (&k3, "k3")]);
    lists(
        &app,
        k3.sign(&claims(audience.clone()), Some("k3")).unwrap(),
    )
    .await
    .expect("the rotated key set is read without a restart");
    let retired = lists(&app, k1_token).await.unwrap_err();
    assert_eq!(
        retired.code(),
        Code::Unauthenticated,
        "a retired key's tokens stop working"
    );
    lists(&app, k2.sign(&claims(audience), Some("k2")).unwrap())
        .await
        .expect("k2 stays");
    db.drop_database().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_come_from_the_key_set_by_kid_and_rotate_without_a_restart() {
        super::keys_come_from_the_key_set_by_kid_and_rotate_without_a_restart(
            clearance_tests::Backend::Sqlite,
        )
        .await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_come_from_the_key_set_by_kid_and_rotate_without_a_restart() {
        super::keys_come_from_the_key_set_by_kid_and_rotate_without_a_restart(
            clearance_tests::Backend::Postgres,
        )
        .await;
    }
}
