//! The caseworkers' web console: server-rendered pages over the reviewer service's gRPC API.
//! It holds no data and decides nothing: every page is read, and every action sent, through
//! the reviewer service with the signed-in person's own token, so the service's rules (roles,
//! the two-person rule, etags) are the only rules. Forms work without script; each carries the
//! session's CSRF token and, for changes, the etag of the page the person saw.

// Handlers leave early with the page to send; a response is built once per request.
#![allow(clippy::result_large_err)]

mod oidc;
mod pages;
mod problem;
mod rules;
mod session;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use clearance_auth::{DevKey, TokenRequest};
use clearance_proto::v1 as pb;
use clearance_proto::v1::review_service_client::ReviewServiceClient;
use futures::StreamExt;
use maud::Markup;
use tonic::service::Interceptor;
use tonic::transport::Channel;

pub use oidc::OidcSignIn;
pub use problem::Problem;
use session::{Lookup, Session, Sessions, SignedInPerson};

/// How people sign in.
#[derive(Clone)]
pub enum SignIn {
    /// Development: a person picks a name and a role; the console signs their token with the
    /// development key the services trust.
    Development {
        key: Arc<DevKey>,
        issuer: String,
        audience: String,
    },
    /// Production: the organisation's OpenID Connect provider signs people in; the console
    /// calls the services with the access token it issues them.
    OpenIdConnect(Arc<OidcSignIn>),
}

impl SignIn {
    pub fn open_id_connect(settings: clearance_auth::OidcSettings) -> SignIn {
        SignIn::OpenIdConnect(Arc::new(OidcSignIn::new(settings)))
    }
}

/// Where the console listens and whom it talks to.
#[derive(Clone)]
pub struct ConsoleConfig {
    /// The reviewer service, e.g. `http://127.0.0.1:50052`.
    pub reviewer_endpoint: String,
    /// A session ends this long after sign-in.
    pub session_lifetime: Duration,
    /// Mark the cookie Secure: set when people reach the console over TLS (e.g. behind a
    /// TLS-terminating proxy).
    pub secure_cookies: bool,
    pub sign_in: SignIn,
}

struct Console {
    config: ConsoleConfig,
    channel: Channel,
    sessions: Sessions,
}

type Shared = State<Arc<Console>>;

/// The console's routes, ready to serve.
pub fn router(config: ConsoleConfig) -> anyhow::Result<Router> {
    let channel = Channel::from_shared(config.reviewer_endpoint.clone())
        .map_err(|e| anyhow::anyhow!("console: the reviewer endpoint: {e}"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let console = Arc::new(Console {
        config,
        channel,
        sessions: Sessions::default(),
    });
    Ok(Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-in/start", get(sign_in_start))
        .route("/sign-in/callback", get(sign_in_callback))
        .route("/sign-out", post(sign_out))
        .route("/queue", get(queue))
        .route("/queue/changes", get(queue_changes))
        .route("/console.js", get(script))
        .route("/cases/{id}", get(case_page))
        .route("/cases/{id}/documents/{sha256}", get(document))
        .route("/cases/{id}/{action}", post(case_action))
        .route("/licences", get(licences))
        .route("/licences/{id}", get(licence_page))
        .route("/licences/{id}/{action}", post(licence_action))
        .route("/rules", get(rules::rules))
        .route("/rules/determine", get(rules::what_if))
        .route("/rules/impact", get(rules::impact_form).post(rules::impact))
        .route("/rules/{id}", get(rules::rule_set))
        .fallback(not_found)
        .with_state(console))
}

/// Serves the console on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ConsoleConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = router(config)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Adds the signed-in person's token to every call.
#[derive(Clone)]
struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

type Client = ReviewServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;
type PolicyClient = clearance_proto::v1::policy_service_client::PolicyServiceClient<
    tonic::service::interceptor::InterceptedService<Channel, Bearer>,
>;

impl Console {
    fn bearer(session: &Session) -> Bearer {
        Bearer(format!("Bearer {}", session.token).parse().ok())
    }

    fn client(&self, session: &Session) -> Client {
        ReviewServiceClient::with_interceptor(self.channel.clone(), Self::bearer(session))
    }

    /// The policy service, served beside the reviewer service.
    fn policies(&self, session: &Session) -> PolicyClient {
        clearance_proto::v1::policy_service_client::PolicyServiceClient::with_interceptor(
            self.channel.clone(),
            Self::bearer(session),
        )
    }
}

fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup).into_response();
    let headers = response.headers_mut();
    // Pages are the person's own and change with every action.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

fn status_of(problem: &Problem) -> StatusCode {
    StatusCode::from_u16(problem.http_status).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The signed-in person, or the way to the sign-in page.
fn signed_in(console: &Console, headers: &HeaderMap) -> Result<Session, Response> {
    match console.sessions.find(headers) {
        Lookup::Live(s) => Ok(s),
        Lookup::Expired => Err(Redirect::to("/sign-in?expired=1").into_response()),
        Lookup::None => Err(Redirect::to("/sign-in").into_response()),
    }
}

/// 200 for an answer, the problem's status otherwise.
fn status_of_answer<T>(answer: &Result<T, Problem>) -> StatusCode {
    answer
        .as_ref()
        .err()
        .map(status_of)
        .unwrap_or(StatusCode::OK)
}

/// The signed-in person of a request; without a live session, the way to the sign-in page.
struct SignedIn(Session);

impl axum::extract::FromRequestParts<Arc<Console>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Response> {
        signed_in(console, &parts.headers).map(SignedIn)
    }
}

/// The form's CSRF token must be the session's: a post from another site carries none.
fn check_csrf(session: &Session, form: &HashMap<String, String>) -> Result<(), Response> {
    match form.get("csrf") {
        Some(token) if session::same_secret(token, &session.csrf) => Ok(()),
        _ => Err(html(
            StatusCode::FORBIDDEN,
            pages::problem_page(
                "Not sent",
                Some(session),
                &Problem::new(
                    "This form did not come from a page of this console, or the page is from an earlier sign-in, so nothing was done. Reload the page and try again.",
                    403,
                ),
            ),
        )),
    }
}

#[derive(serde::Deserialize)]
struct SignInQuery {
    #[serde(default)]
    expired: Option<String>,
}

const ENDED: &str = "Your session has ended. Sign in again to go on.";

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The sign-in page; in development its form is tied to a fresh cookie of this browser.
async fn sign_in_page(State(console): Shared, Query(q): Query<SignInQuery>) -> Response {
    let notice = q.expired.map(|_| ENDED);
    render_sign_in(&console, notice, None)
}

fn render_sign_in(console: &Console, notice: Option<&str>, problem: Option<&Problem>) -> Response {
    let status = problem.map(status_of).unwrap_or(StatusCode::OK);
    match &console.config.sign_in {
        SignIn::OpenIdConnect(_) => html(
            status,
            pages::sign_in(notice, problem, pages::SignInForm::Provider),
        ),
        SignIn::Development { .. } => match session::random_token() {
            Ok(token) => with_cookie(
                html(
                    status,
                    pages::sign_in(
                        notice,
                        problem,
                        pages::SignInForm::Development { token: &token },
                    ),
                ),
                &session::set_sign_in_cookie(&token, console.config.secure_cookies),
            ),
            Err(e) => sign_in_failed(console, &e.to_string()),
        },
    }
}

fn sign_in_failed(console: &Console, cause: &str) -> Response {
    tracing::error!(error = %cause, "console sign-in failed");
    let problem = Problem::new("Signing in failed. Try again in a moment.", 503);
    let form = match &console.config.sign_in {
        SignIn::OpenIdConnect(_) => pages::SignInForm::Provider,
        // No new form: the person reloads the page for one.
        SignIn::Development { .. } => pages::SignInForm::Development { token: "" },
    };
    html(
        status_of(&problem),
        pages::sign_in(None, Some(&problem), form),
    )
}

/// Starts a session for the person and sends them on to `then`.
fn start_session(
    console: &Console,
    person: SignedInPerson,
    lifetime: Duration,
    then: impl FnOnce(&Session) -> Response,
) -> Response {
    match console.sessions.create(person, lifetime) {
        Ok(session) => {
            let secure = console.config.secure_cookies;
            let response = then(&session);
            let response = with_cookie(response, &session::set_cookie(&session, lifetime, secure));
            with_cookie(response, &session::clear_sign_in_cookie(secure))
        }
        Err(e) => sign_in_failed(console, &e.to_string()),
    }
}

/// The development sign-in form's post: a name and a role, signed with the development key.
async fn sign_in(
    State(console): Shared,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let SignIn::Development {
        key,
        issuer,
        audience,
    } = &console.config.sign_in
    else {
        return not_found(State(console.clone()), headers).await;
    };
    // Another site cannot sign this browser in as someone else: it cannot read the cookie.
    let bound = match (
        session::cookie_named(&headers, session::SIGN_IN_COOKIE),
        form.get("sign_in_token"),
    ) {
        (Some(cookie), Some(sent)) => !sent.is_empty() && session::same_secret(&cookie, sent),
        _ => false,
    };
    if !bound {
        let problem = Problem::new(
            "This sign-in form did not come from this browser's sign-in page, so nobody was signed in. Try again on this page.",
            403,
        );
        return render_sign_in(&console, None, Some(&problem));
    }
    let subject = form.get("subject").map(|s| s.trim()).unwrap_or_default();
    let role = form.get("role").map(String::as_str).unwrap_or_default();
    let mut problem = Problem::new("Some of what you entered needs correcting.", 422);
    if subject.is_empty() || subject.chars().count() > 100 || subject.chars().any(char::is_control)
    {
        problem.fields.push((
            "subject".into(),
            "enter a name of 1 to 100 characters".into(),
        ));
    }
    if !pages::SIGN_IN_ROLES.iter().any(|(r, _)| *r == role) {
        problem
            .fields
            .push(("role".into(), "choose one of the roles listed".into()));
    }
    if !problem.fields.is_empty() {
        return render_sign_in(&console, None, Some(&problem));
    }
    let lifetime = console.config.session_lifetime;
    let token = key.mint(&TokenRequest {
        subject: subject.to_owned(),
        roles: vec![role.to_owned()],
        organisation: None,
        issuer: issuer.clone(),
        audience: audience.clone(),
        now: chrono::Utc::now(),
        lifetime_seconds: i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
    });
    match token {
        Ok(token) => {
            let person = SignedInPerson {
                subject: subject.to_owned(),
                display_name: subject.to_owned(),
                roles: vec![role.to_owned()],
                token,
            };
            start_session(&console, person, lifetime, |_| {
                Redirect::to("/queue").into_response()
            })
        }
        Err(e) => sign_in_failed(&console, &e.to_string()),
    }
}

/// Sends the browser to the identity provider, tied to it by a cookie.
async fn sign_in_start(State(console): Shared, headers: HeaderMap) -> Response {
    let SignIn::OpenIdConnect(oidc) = &console.config.sign_in else {
        return not_found(State(console.clone()), headers).await;
    };
    match oidc.begin().await {
        Ok((state, url)) => with_cookie(
            Redirect::to(&url).into_response(),
            &session::set_sign_in_cookie(&state, console.config.secure_cookies),
        ),
        Err(e) => {
            tracing::error!(error = %e, "console: the identity provider is unusable");
            let problem = Problem::new(
                "The identity provider cannot be reached just now, so nobody can sign in. Try again in a moment; if it persists, tell your administrator.",
                503,
            );
            render_sign_in(&console, None, Some(&problem))
        }
    }
}

#[derive(serde::Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The identity provider's answer: the code to exchange, for the sign-in this browser began.
async fn sign_in_callback(
    State(console): Shared,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let SignIn::OpenIdConnect(oidc) = &console.config.sign_in else {
        return not_found(State(console.clone()), headers).await;
    };
    let refused = |words: &str| {
        let problem = Problem::new(words, 403);
        render_sign_in(&console, None, Some(&problem))
    };
    let state = q.state.unwrap_or_default();
    // The state must be the one this browser's cookie holds: a link from elsewhere, or a
    // code meant for another browser, signs nobody in here.
    let ours = session::cookie_named(&headers, session::SIGN_IN_COOKIE)
        .is_some_and(|cookie| !state.is_empty() && session::same_secret(&cookie, &state));
    if !ours {
        return refused(
            "This sign-in was not started in this browser, or it took longer than ten minutes, so nobody was signed in. Sign in again.",
        );
    }
    if let Some(error) = q.error {
        oidc.abandon(&state);
        let error: String = error.chars().take(40).collect();
        tracing::info!(%error, "console: the identity provider ended a sign-in");
        return refused(&format!(
            "The identity provider did not sign you in ({error}). Sign in again, or ask your administrator for access."
        ));
    }
    let code = q.code.unwrap_or_default();
    let signed_in = match oidc.finish(&state, &code).await {
        None => {
            return refused(
                "This sign-in was used already or took longer than ten minutes, so nobody was signed in. Sign in again.",
            );
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "console: a sign-in through the identity provider failed");
            return refused(
                "The identity provider's answer could not be checked, so nobody was signed in. Sign in again; if it persists, tell your administrator.",
            );
        }
        Some(Ok(s)) => s,
    };
    if signed_in.roles.is_empty() {
        return refused(
            "Your account has no Clearance role, so there is nothing you may do here. Ask your administrator for one.",
        );
    }
    if signed_in.roles.iter().any(|r| r.is_exporter()) {
        return refused(
            "This console is for the regulator's staff; exporters work through the application service and clearancectl.",
        );
    }
    // The session ends with the access token it calls the services with.
    let lifetime = signed_in
        .expires_in
        .map(Duration::from_secs)
        .map_or(console.config.session_lifetime, |t| {
            t.min(console.config.session_lifetime)
        });
    let person = SignedInPerson {
        subject: signed_in.subject,
        display_name: signed_in.display_name,
        roles: signed_in
            .roles
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        token: signed_in.access_token,
    };
    start_session(&console, person, lifetime, |session| {
        html(StatusCode::OK, pages::signed_in(session))
    })
}

async fn sign_out(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_csrf(&session, &form) {
        return r;
    }
    console.sessions.end(&session.id);
    let mut response = Redirect::to("/sign-in").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(console.config.secure_cookies)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn not_found(State(console): Shared, headers: HeaderMap) -> Response {
    match console.sessions.find(&headers) {
        Lookup::Live(s) => not_found_page(Some(&s)),
        _ => not_found_page(None),
    }
}

fn not_found_page(who: Option<&Session>) -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::problem_page(
            "Not found",
            who,
            &Problem::new("There is no such page.", 404),
        ),
    )
}

/// The products of the cases' lines, by name (unknown ones are left out).
async fn products_of<'a>(
    client: &mut Client,
    applications: impl Iterator<Item = &'a pb::Application>,
) -> HashMap<String, pb::Product> {
    let mut names: Vec<String> = applications
        .flat_map(|a| a.lines.iter().map(|l| l.product.clone()))
        .collect();
    names.sort();
    names.dedup();
    let mut found = HashMap::new();
    for chunk in names.chunks(100) {
        match client
            .batch_get_products(pb::BatchGetProductsRequest {
                names: chunk.to_vec(),
            })
            .await
        {
            Ok(r) => found.extend(
                r.into_inner()
                    .products
                    .into_iter()
                    .map(|p| (p.name.clone(), p)),
            ),
            // The pages still show the lines by product name.
            Err(status) => tracing::warn!(code = ?status.code(), "console: products unreadable"),
        }
    }
    found
}

/// The ListCases filter a queue query stands for.
fn case_filter(session: &Session, q: &pages::QueueQuery) -> String {
    let mut tests = Vec::new();
    if !q.state.is_empty() {
        tests.push(format!("state = {}", q.state));
    }
    match q.assigned.as_str() {
        "me" => tests.push(format!("assignee = {}", quoted(&session.subject))),
        "none" => tests.push("assignee = \"\"".to_owned()),
        _ => {}
    }
    if !q.destination.trim().is_empty() {
        tests.push(format!(
            "destination_country_code = {}",
            quoted(&q.destination.trim().to_uppercase())
        ));
    }
    if !q.policy.is_empty() {
        tests.push(format!("review_policy = {}", q.policy));
    }
    if q.overdue == "true" {
        tests.push("overdue = true".to_owned());
    }
    tests.join(" AND ")
}

fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

async fn queue(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Query(q): Query<pages::QueueQuery>,
) -> Response {
    let mut client = console.client(&session);
    let listed = client
        .list_cases(pb::ListCasesRequest {
            page_size: 50,
            page_token: q.page.clone(),
            filter: case_filter(&session, &q),
        })
        .await;
    let (cases, next_page, problem) = match listed {
        Ok(r) => {
            let r = r.into_inner();
            (r.cases, r.next_page_token, None)
        }
        Err(status) => (
            Vec::new(),
            String::new(),
            Some(Problem::from_status(&status)),
        ),
    };
    let products = products_of(
        &mut client,
        cases.iter().filter_map(|c| c.application.as_ref()),
    )
    .await;
    let status = problem.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    html(
        status,
        pages::queue(
            &session,
            pages::QueueView {
                cases: &cases,
                products: &products,
                query: &q,
                next_page: &next_page,
                problem: problem.as_ref(),
            },
        ),
    )
}

/// The console's one script: it tells a caseworker when the queue has changed since the page
/// loaded (the page never reloads by itself, so nothing moves under a person's hand).
const SCRIPT: &str = r#"'use strict';
(function () {
  var notice = document.getElementById('queue-changed');
  if (!notice || !window.EventSource) { return; }
  var changes = new EventSource('/queue/changes');
  changes.addEventListener('changed', function () {
    if (notice.firstChild) { return; }
    var p = document.createElement('p');
    p.appendChild(document.createTextNode('The queue has changed since this page was loaded. '));
    var reload = document.createElement('a');
    reload.href = window.location.href;
    reload.textContent = 'Reload the queue';
    p.appendChild(reload);
    notice.appendChild(p);
    notice.className = 'done';
    changes.close();
  });
})();
"#;

async fn script() -> Response {
    let mut response = SCRIPT.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Changes to cases from the event stream as server-sent events, from now on (or after the
/// `Last-Event-ID` the browser resumes with), read with the person's own token.
async fn queue_changes(
    State(console): Shared,
    SignedIn(session): SignedIn,
    headers: HeaderMap,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_default();
    let mut events =
        clearance_proto::v1::event_service_client::EventServiceClient::with_interceptor(
            console.channel.clone(),
            Console::bearer(&session),
        );
    let stream = match events
        .watch_events(pb::WatchEventsRequest {
            start_at_end: resume.is_empty(),
            after_cursor: resume,
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => {
            // The page works without it; the browser tries again later.
            tracing::warn!(code = ?status.code(), "console: the event stream is unavailable");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let changes = stream
        .take_while(|event| std::future::ready(event.is_ok()))
        .filter_map(|event| {
            std::future::ready(
                event
                    .ok()
                    .filter(|e| e.resource.starts_with("applications/")),
            )
        })
        .map(|e| {
            Ok::<_, std::convert::Infallible>(
                Event::default()
                    .id(e.cursor)
                    .event("changed")
                    .data(e.resource),
            )
        });
    Sse::new(changes)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// "{collection}/{id}" for a URL's id, or the page that says there is no such thing.
fn resource_name(session: &Session, collection: &str, id: &str) -> Result<String, Response> {
    uuid::Uuid::try_parse(id)
        .map(|id| format!("{collection}/{id}"))
        .map_err(|_| {
            html(
                StatusCode::NOT_FOUND,
                pages::problem_page(
                    "Not found",
                    Some(session),
                    &Problem::new("There is nothing here, or it is not yours to see.", 404),
                ),
            )
        })
}

fn case_name(session: &Session, id: &str) -> Result<String, Response> {
    resource_name(session, "applications", id)
}

fn licence_name(session: &Session, id: &str) -> Result<String, Response> {
    resource_name(session, "licences", id)
}

/// What the case page shows after an action, besides the case.
#[derive(Default)]
struct Outcome<'a> {
    problem: Option<Problem>,
    sent: HashMap<String, String>,
    done: Option<&'a str>,
    /// How many history entries the person had seen (to show what changed on a conflict).
    seen_history: Option<usize>,
}

async fn render_case(
    console: &Console,
    session: &Session,
    name: &str,
    outcome: Outcome<'_>,
) -> Response {
    let mut client = console.client(session);
    let case = match client
        .get_case(pb::GetCaseRequest {
            name: name.to_owned(),
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let problem = Problem::from_status(&status);
            return html(
                status_of(&problem),
                pages::problem_page("Case", Some(session), &problem),
            );
        }
    };
    let products = products_of(&mut client, case.application.iter()).await;
    let history = client
        .get_history(pb::GetHistoryRequest {
            resource: name.to_owned(),
            page_size: 1000,
            page_token: String::new(),
        })
        .await
        .map(|r| r.into_inner().entries)
        .unwrap_or_default();
    let verified = client
        .verify_history(pb::VerifyHistoryRequest {
            resource: name.to_owned(),
        })
        .await
        .map(|r| r.into_inner())
        .ok();
    let changed: Vec<pb::HistoryEntry> = match (&outcome.problem, outcome.seen_history) {
        (Some(p), Some(seen)) if p.conflict => history.iter().skip(seen).cloned().collect(),
        _ => Vec::new(),
    };
    let status = outcome
        .problem
        .as_ref()
        .map(status_of)
        .unwrap_or(StatusCode::OK);
    html(
        status,
        pages::case(
            session,
            pages::CaseView {
                case: &case,
                products: &products,
                history: &history,
                verified: verified.as_ref(),
                problem: outcome.problem.as_ref(),
                sent: &outcome.sent,
                done: outcome.done,
                changed: &changed,
            },
        ),
    )
}

#[derive(serde::Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
    /// The page of a licence's shipments to show.
    #[serde(default)]
    shipments: String,
}

/// What an action did, in words, for the page after it.
fn done_words(action: &str) -> Option<&'static str> {
    Some(match action {
        "assign" => "The case is assigned to you.",
        "request-information" => {
            "The question went to the applicant; the clock stops until they answer."
        }
        "notes" => "The note is on the case.",
        "propose" => "The decision is proposed and waits for a senior reviewer's countersignature.",
        "countersign" => "Countersigned: the decision is made.",
        "reject" => "The proposal went back to review.",
        "return" => "The application went back to the applicant.",
        "resolve-hit" => "The screening hit is resolved, with your reasons on the record.",
        "suspend" => "The licence is suspended.",
        "revoke" => "The licence is revoked.",
        "reinstate" => "The licence is in force again.",
        _ => return None,
    })
}

async fn case_page(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let name = match case_name(&session, &id) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let outcome = Outcome {
        done: q.done.as_deref().and_then(done_words),
        ..Default::default()
    };
    render_case(&console, &session, &name, outcome).await
}

async fn document(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Path((id, sha256)): Path<(String, String)>,
) -> Response {
    let name = match case_name(&session, &id) {
        Ok(n) => format!("{n}/documents/{sha256}"),
        Err(r) => return r,
    };
    let mut client = console.client(&session);
    match client
        .download_document(pb::DownloadDocumentRequest { name })
        .await
    {
        Ok(stream) => {
            let body = Body::from_stream(
                stream
                    .into_inner()
                    .map(|chunk| chunk.map(|c| bytes_of(c.data))),
            );
            let mut response = Response::new(body);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            response.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            );
            response
        }
        Err(status) => {
            let problem = Problem::from_status(&status);
            html(
                status_of(&problem),
                pages::problem_page("Document", Some(&session), &problem),
            )
        }
    }
}

/// A change's answer: done, or why not in words.
fn answered<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Result<(), Problem> {
    result.map(|_| ()).map_err(|s| Problem::from_status(&s))
}

fn bytes_of(data: Vec<u8>) -> axum::body::Bytes {
    axum::body::Bytes::from(data)
}

/// A form's number field: absent or blank is `None`; anything else must be a whole number.
fn number<T: std::str::FromStr>(
    form: &HashMap<String, String>,
    field: &str,
    problem: &mut Problem,
) -> Option<T> {
    let raw = form.get(field).map(|s| s.trim()).unwrap_or_default();
    if raw.is_empty() {
        return None;
    }
    match raw.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            problem
                .fields
                .push((field.to_owned(), "enter a whole number".into()));
            None
        }
    }
}

fn text(form: &HashMap<String, String>, field: &str) -> String {
    form.get(field).cloned().unwrap_or_default()
}

/// The proposal a propose form stands for; numbers that are not numbers are named.
fn proposal(
    name: &str,
    etag: String,
    form: &HashMap<String, String>,
) -> Result<pb::ProposeDecisionRequest, Problem> {
    let mut problem = Problem::new("Some of what you entered needs correcting.", 422);
    let mut granted = Vec::new();
    for i in 0.. {
        let field = format!("granted_quantities[{i}]");
        if !form.contains_key(&field) {
            break;
        }
        match number::<i64>(form, &field, &mut problem) {
            Some(q) => granted.push(q),
            None if problem.field(&field).is_none() => problem
                .fields
                .push((field, "enter the quantity granted".into())),
            None => {}
        }
    }
    let validity_months = number::<i32>(form, "validity_months", &mut problem).unwrap_or(0);
    let value_tolerance_percent = number::<i32>(form, "value_tolerance_percent", &mut problem);
    if !problem.fields.is_empty() {
        return Err(problem);
    }
    let approve = form.get("decision").map(String::as_str) != Some("deny");
    Ok(pb::ProposeDecisionRequest {
        name: name.to_owned(),
        request_id: uuid::Uuid::now_v7().to_string(),
        etag,
        approve,
        reason: text(form, "reason"),
        granted_quantities: if approve { granted } else { Vec::new() },
        conditions: text(form, "conditions")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        validity_months,
        value_tolerance_percent,
        justification: text(form, "justification"),
    })
}

/// A date field (YYYY-MM-DD) as the start of that day, UTC; blank is `None`.
fn date_field(
    form: &HashMap<String, String>,
    field: &str,
    problem: &mut Problem,
) -> Option<prost_types::Timestamp> {
    let raw = form.get(field).map(|s| s.trim()).unwrap_or_default();
    if raw.is_empty() {
        return None;
    }
    match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) => d.and_hms_opt(0, 0, 0).map(|t| prost_types::Timestamp {
            seconds: t.and_utc().timestamp(),
            nanos: 0,
        }),
        Err(_) => {
            problem
                .fields
                .push((field.to_owned(), "enter a date as YYYY-MM-DD".into()));
            None
        }
    }
}

async fn case_action(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_csrf(&session, &form) {
        return r;
    }
    let name = match case_name(&session, &id) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let etag = text(&form, "etag");
    let request_id = || uuid::Uuid::now_v7().to_string();
    let mut client = console.client(&session);
    let result: Result<(), Problem> = match action.as_str() {
        "assign" => answered(
            client
                .assign_case(pb::AssignCaseRequest {
                    name: name.clone(),
                    request_id: request_id(),
                    etag,
                    assignee: String::new(),
                })
                .await,
        ),
        "request-information" => {
            let mut problem = Problem::new("Some of what you entered needs correcting.", 422);
            let due = date_field(&form, "response_due_date", &mut problem);
            if problem.fields.is_empty() {
                answered(
                    client
                        .request_information(pb::RequestInformationRequest {
                            name: name.clone(),
                            request_id: request_id(),
                            etag,
                            question: text(&form, "question"),
                            response_due_time: due,
                        })
                        .await,
                )
            } else {
                Err(problem)
            }
        }
        "notes" => answered(
            client
                .add_note(pb::AddNoteRequest {
                    name: name.clone(),
                    request_id: request_id(),
                    etag,
                    text: text(&form, "text"),
                    visible_to_applicant: form.get("visible_to_applicant").map(String::as_str)
                        == Some("true"),
                })
                .await,
        ),
        "propose" => match proposal(&name, etag, &form) {
            Ok(request) => answered(client.propose_decision(request).await),
            Err(problem) => Err(problem),
        },
        "countersign" => answered(
            client
                .countersign_decision(pb::CountersignDecisionRequest {
                    name: name.clone(),
                    request_id: request_id(),
                    etag,
                })
                .await,
        ),
        "reject" => answered(
            client
                .reject_proposal(pb::RejectProposalRequest {
                    name: name.clone(),
                    request_id: request_id(),
                    etag,
                    reason: text(&form, "reason"),
                })
                .await,
        ),
        "return" => answered(
            client
                .return_application(pb::ReturnApplicationRequest {
                    name: name.clone(),
                    request_id: request_id(),
                    etag,
                    reason: text(&form, "reason"),
                })
                .await,
        ),
        "resolve-hit" => {
            // Only a hit of this case: the name is the case's own, never a forged path.
            let hit = text(&form, "hit");
            let is_of_case = hit
                .strip_prefix(&format!("{name}/screeningHits/"))
                .is_some_and(|id| !id.is_empty() && !id.contains('/'));
            if is_of_case {
                answered(
                    client
                        .resolve_screening_hit(pb::ResolveScreeningHitRequest {
                            name: hit,
                            request_id: request_id(),
                            etag,
                            confirm: form.get("confirm").map(String::as_str) == Some("true"),
                            reason: text(&form, "reason"),
                        })
                        .await,
                )
            } else {
                let mut problem = Problem::new("That screening hit is not on this case.", 422);
                problem
                    .fields
                    .push(("hit".into(), "choose a hit listed on this case".into()));
                Err(problem)
            }
        }
        _ => return not_found_page(Some(&session)),
    };
    match result {
        // After a change, a fresh GET: reloading the page does not send the form again.
        Ok(()) => Redirect::to(&format!("/cases/{id}?done={action}")).into_response(),
        Err(problem) => {
            let seen_history = form.get("seen_history").and_then(|s| s.parse().ok());
            let outcome = Outcome {
                problem: Some(problem),
                sent: form,
                done: None,
                seen_history,
            };
            render_case(&console, &session, &name, outcome).await
        }
    }
}

#[derive(serde::Deserialize)]
struct LicencesQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    page: String,
}

async fn licences(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Query(q): Query<LicencesQuery>,
) -> Response {
    let filter = if q.state.is_empty() {
        String::new()
    } else {
        format!("state = {}", q.state)
    };
    match console
        .client(&session)
        .list_all_licences(pb::ListAllLicencesRequest {
            page_size: 50,
            page_token: q.page.clone(),
            filter,
        })
        .await
    {
        Ok(r) => {
            let r = r.into_inner();
            html(
                StatusCode::OK,
                pages::licences(
                    &session,
                    pages::LicencesView {
                        licences: &r.licences,
                        state: &q.state,
                        next_page: &r.next_page_token,
                    },
                ),
            )
        }
        Err(status) => {
            let problem = Problem::from_status(&status);
            html(
                status_of(&problem),
                pages::problem_page("Licences", Some(&session), &problem),
            )
        }
    }
}

async fn render_licence(
    console: &Console,
    session: &Session,
    name: &str,
    problem: Option<Problem>,
    done: Option<&str>,
    shipments_page: &str,
) -> Response {
    let mut client = console.client(session);
    let licence = match client
        .get_any_licence(pb::GetAnyLicenceRequest {
            name: name.to_owned(),
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(status) => {
            let problem = Problem::from_status(&status);
            return html(
                status_of(&problem),
                pages::problem_page("Licence", Some(session), &problem),
            );
        }
    };
    let as_application = pb::Application {
        lines: licence
            .lines
            .iter()
            .map(|l| pb::ApplicationLine {
                product: l.product.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let products = products_of(&mut client, std::iter::once(&as_application)).await;
    let shipments = client
        .list_all_shipments(pb::ListAllShipmentsRequest {
            page_size: 50,
            page_token: shipments_page.to_owned(),
            filter: format!("licence = {}", quoted(name)),
        })
        .await
        .map(|r| r.into_inner());
    let shipments = match shipments {
        Ok(r) => Some(r),
        Err(status) => {
            // The licence itself still shows; the page says the shipments are missing.
            tracing::warn!(code = ?status.code(), "console: shipments unreadable");
            None
        }
    };
    let status = problem.as_ref().map(status_of).unwrap_or(StatusCode::OK);
    html(
        status,
        pages::licence(
            session,
            pages::LicenceView {
                licence: &licence,
                products: &products,
                shipments: shipments.as_ref().map(|r| r.shipments.as_slice()),
                next_shipments: shipments
                    .as_ref()
                    .map_or("", |r| r.next_page_token.as_str()),
                problem: problem.as_ref(),
                done,
            },
        ),
    )
}

async fn licence_page(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let name = match licence_name(&session, &id) {
        Ok(n) => n,
        Err(r) => return r,
    };
    render_licence(
        &console,
        &session,
        &name,
        None,
        q.done.as_deref().and_then(done_words),
        &q.shipments,
    )
    .await
}

async fn licence_action(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_csrf(&session, &form) {
        return r;
    }
    let name = match licence_name(&session, &id) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let (etag, reason) = (text(&form, "etag"), text(&form, "reason"));
    let request_id = uuid::Uuid::now_v7().to_string();
    let mut client = console.client(&session);
    let result = match action.as_str() {
        "suspend" => answered(
            client
                .suspend_licence(pb::SuspendLicenceRequest {
                    name: name.clone(),
                    request_id,
                    etag,
                    reason,
                })
                .await,
        ),
        "revoke" => answered(
            client
                .revoke_licence(pb::RevokeLicenceRequest {
                    name: name.clone(),
                    request_id,
                    etag,
                    reason,
                })
                .await,
        ),
        "reinstate" => answered(
            client
                .reinstate_licence(pb::ReinstateLicenceRequest {
                    name: name.clone(),
                    request_id,
                    etag,
                    reason,
                })
                .await,
        ),
        _ => return not_found_page(Some(&session)),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/licences/{id}?done={action}")).into_response(),
        Err(problem) => render_licence(&console, &session, &name, Some(problem), None, "").await,
    }
}

/// Binds the console's listener (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("console: cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
