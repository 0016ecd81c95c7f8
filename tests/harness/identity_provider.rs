//! A small OpenID Connect provider for tests: discovery, an authorization endpoint that signs
//! in whoever the test says is at the keyboard, a token endpoint that checks the PKCE verifier
//! and the redirect, and the key set. ID tokens carry the person's groups under
//! `realm_access.roles` (as Keycloak writes them) and the nonce; access tokens carry
//! Clearance role names in `roles` with the services' audience, as a provider configured for
//! Clearance issues them. A test can make the provider misbehave (a wrong nonce, another
//! client's token) to see the console refuse.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use clearance_auth::DevKey;
use serde_json::json;

/// Who the provider signs in next.
#[derive(Debug, Clone)]
pub struct Person {
    pub subject: String,
    pub name: String,
    /// The provider's group names (mapped to Clearance roles by the console's settings).
    pub groups: Vec<String>,
    /// The Clearance roles its access tokens carry.
    pub roles: Vec<String>,
}

/// How the provider misbehaves, for the console to catch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Misbehaviour {
    #[default]
    None,
    /// The ID token carries a nonce of another sign-in.
    WrongNonce,
    /// The ID token was issued to another client.
    OtherAudience,
}

struct Grant {
    person: Person,
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Provider {
    issuer: String,
    client_id: String,
    audience: String,
    key: DevKey,
    next: Mutex<Option<Person>>,
    misbehaviour: Mutex<Misbehaviour>,
    grants: Mutex<HashMap<String, Grant>>,
    /// Code exchanges that verified, so a test can see the flow went through here.
    exchanges: Mutex<usize>,
    _dir: tempfile::TempDir,
}

pub struct IdentityProvider {
    pub issuer: String,
    pub client_id: String,
    provider: Arc<Provider>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl IdentityProvider {
    /// Starts a provider on a free port for client `client_id`, whose access tokens are for
    /// `audience` (the services').
    pub async fn start(client_id: &str, audience: &str) -> IdentityProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("address");
        let issuer = format!("http://{addr}");
        let dir = tempfile::tempdir().expect("key directory");
        let provider = Arc::new(Provider {
            issuer: issuer.clone(),
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
            key: DevKey::load_or_create(dir.path()).expect("key"),
            next: Mutex::new(None),
            misbehaviour: Mutex::new(Misbehaviour::None),
            grants: Mutex::new(HashMap::new()),
            exchanges: Mutex::new(0),
            _dir: dir,
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .with_state(provider.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        IdentityProvider {
            issuer,
            client_id: client_id.to_owned(),
            provider,
            task,
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    /// The next sign-in is this person's.
    pub fn signs_in(&self, person: Person) {
        *self.provider.next.lock().unwrap() = Some(person);
    }

    pub fn misbehave(&self, how: Misbehaviour) {
        *self.provider.misbehaviour.lock().unwrap() = how;
    }

    /// An access token as the provider issues one for the services (e.g. an ERP system's or
    /// an exporter's), with Clearance roles and, for exporters, their organisation.
    pub fn access_token(&self, subject: &str, roles: &[&str], org: Option<&str>) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "iss": self.issuer, "sub": subject, "aud": self.provider.audience,
            "exp": now + 600, "iat": now, "roles": roles,
        });
        if let Some(org) = org {
            claims["org"] = json!(org);
        }
        self.provider
            .key
            .sign(&claims, Some("test-idp"))
            .expect("sign")
    }

    /// How many codes were exchanged for tokens.
    pub fn exchanges(&self) -> usize {
        *self.provider.exchanges.lock().unwrap()
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn discovery(State(p): State<Arc<Provider>>) -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "issuer": p.issuer,
            "authorization_endpoint": format!("{}/authorize", p.issuer),
            "token_endpoint": format!("{}/token", p.issuer),
            "jwks_uri": format!("{}/jwks", p.issuer),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "code_challenge_methods_supported": ["S256"],
        }),
    )
}

async fn jwks(State(p): State<Arc<Provider>>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"keys": [p.key.public_jwk("test-idp").expect("jwk")]}),
    )
}

/// Signs in the person the test named and sends the browser back with a code; a request
/// that is not a proper PKCE authorization request is refused as a provider would.
async fn authorize(
    State(p): State<Arc<Provider>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != p.client_id
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || get("state").is_empty()
        || get("nonce").is_empty()
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return (
            StatusCode::BAD_REQUEST,
            "not a proper authorization request",
        )
            .into_response();
    }
    let redirect_uri = get("redirect_uri");
    let Some(person) = p.next.lock().unwrap().clone() else {
        return Redirect::to(&format!(
            "{redirect_uri}?error=access_denied&state={}",
            get("state")
        ))
        .into_response();
    };
    let code = uuid::Uuid::now_v7().to_string();
    p.grants.lock().unwrap().insert(
        code.clone(),
        Grant {
            person,
            nonce: get("nonce"),
            challenge: get("code_challenge"),
            redirect_uri: redirect_uri.clone(),
        },
    );
    Redirect::to(&format!(
        "{redirect_uri}?code={code}&state={}",
        get("state")
    ))
    .into_response()
}

async fn token(
    State(p): State<Arc<Provider>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let refuse = |why: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant", "error_description": why}),
        )
    };
    if get("grant_type") != "authorization_code" || get("client_id") != p.client_id {
        return refuse("wrong grant type or client");
    }
    // Codes are single-use.
    let Some(grant) = p.grants.lock().unwrap().remove(&get("code")) else {
        return refuse("unknown or used code");
    };
    if grant.redirect_uri != get("redirect_uri") {
        return refuse("redirect_uri differs from the authorization request's");
    }
    if clearance_auth::code_challenge(&get("code_verifier")) != grant.challenge {
        return refuse("the PKCE verifier does not match the challenge");
    }
    let now = chrono::Utc::now().timestamp();
    let misbehaviour = *p.misbehaviour.lock().unwrap();
    let id_claims = json!({
        "iss": p.issuer,
        "sub": grant.person.subject,
        "aud": if misbehaviour == Misbehaviour::OtherAudience { "another-client".to_owned() } else { p.client_id.clone() },
        "exp": now + 300,
        "iat": now,
        "nonce": if misbehaviour == Misbehaviour::WrongNonce { "another-sign-in".to_owned() } else { grant.nonce.clone() },
        "name": grant.person.name,
        "realm_access": {"roles": grant.person.groups},
    });
    let access_claims = json!({
        "iss": p.issuer,
        "sub": grant.person.subject,
        "aud": p.audience,
        "exp": now + 300,
        "iat": now,
        "roles": grant.person.roles,
    });
    *p.exchanges.lock().unwrap() += 1;
    json_response(
        StatusCode::OK,
        json!({
            "token_type": "Bearer",
            "access_token": p.key.sign(&access_claims, Some("test-idp")).expect("sign"),
            "id_token": p.key.sign(&id_claims, Some("test-idp")).expect("sign"),
            "expires_in": 300,
        }),
    )
}
