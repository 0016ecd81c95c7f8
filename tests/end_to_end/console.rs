//! The caseworkers' web console in a real browser (headless Chromium through WebDriver): a
//! reviewer works a case from the queue to a proposal, another senior reviewer countersigns,
//! the licence page follows a shipment and a suspension; the proposer is never offered the
//! countersignature and a forged one is refused; posts without the form token, ended
//! sessions and unknown cases are refused; axe-core finds no serious violation.

use std::net::SocketAddr;
use std::time::Duration;

use clearance_proto::v1 as pb;
use clearance_tests::browser::Browser;
use clearance_tests::{TestApp, TestDb, on_both_databases};
use fantoccini::Locator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixtures::{create_product, draft, line, request_id, submit};
use crate::ledger::{erp, shipment, start};

on_both_databases!(
    a_reviewer_works_a_case_to_a_licence_in_the_browser,
    the_proposer_is_never_offered_countersign_and_a_forged_one_is_refused,
    posts_without_the_form_token_ended_sessions_and_unknown_cases_are_refused,
    problems_sit_by_their_fields_and_a_stale_page_shows_what_changed,
    a_policy_administrator_reads_the_rules_asks_what_if_and_sees_a_drafts_impact,
    the_queue_says_when_a_case_changes_after_it_loaded,
    a_reviewer_resolves_a_screening_hit_in_the_browser,
    a_reviewer_sees_what_was_certified_and_makes_it_licence_conditions,
);

mod through_an_identity_provider {
    use clearance_tests::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::people_sign_in_through_the_identity_provider(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::people_sign_in_through_the_identity_provider(Backend::Postgres).await;
    }
}

fn console(app: &TestApp) -> String {
    format!(
        "http://{}",
        app.running
            .as_ref()
            .and_then(|r| r.console_addr)
            .expect("the console runs")
    )
}

/// An application for 100 H20 to China at 100.00 USD each, submitted.
async fn submitted(app: &TestApp) -> pb::Application {
    submitted_by(app.applicant("acme")).await
}

async fn submitted_by(mut acme: clearance_tests::ApplicationClient) -> pb::Application {
    let product = create_product(&mut acme).await;
    let mut application = draft(&product.name);
    application.lines = vec![pb::ApplicationLine {
        unit_value: Some(pb::Money {
            currency_code: "USD".into(),
            minor_units: 10_000,
        }),
        ..line(&product.name, 100)
    }];
    let created = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        })
        .await
        .expect("create")
        .into_inner();
    submit(&mut acme, &created).await
}

async fn sign_in(browser: &Browser, base: &str, subject: &str, role: &str) {
    browser.goto(&format!("{base}/sign-in")).await;
    let c = &browser.client;
    c.find(Locator::Id(&format!("role-{role}")))
        .await
        .expect("the role")
        .click()
        .await
        .expect("choose the role");
    let name = c
        .find(Locator::Id("subject"))
        .await
        .expect("the name field");
    name.clear().await.expect("clear");
    name.send_keys(subject).await.expect("type the name");
    click(browser, "form[action='/sign-in'] button").await;
    browser.wait_for_text("the soonest due first").await;
}

async fn sign_out(browser: &Browser) {
    click(browser, "form[action='/sign-out'] button").await;
    browser.wait_for_url("/sign-in").await;
}

async fn click(browser: &Browser, css: &str) {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .expect("click");
}

/// Chooses `value` in the queue's `filter` list and shows the cases.
async fn filter_queue(browser: &Browser, filter: &str, value: &str) {
    browser
        .client
        .find(Locator::Id(filter))
        .await
        .expect("the filter")
        .select_by_value(value)
        .await
        .expect("choose");
    click(browser, "form[action='/queue'] button").await;
    browser.wait_for_url(&format!("{filter}={value}")).await;
}

async fn type_into(browser: &Browser, id: &str, text: &str) {
    let field = browser
        .client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

async fn open_case(browser: &Browser, base: &str, application: &pb::Application) {
    let id = application.name.trim_start_matches("applications/");
    browser.goto(&format!("{base}/cases/{id}")).await;
}

fn screenshots() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

async fn a_reviewer_works_a_case_to_a_licence_in_the_browser(_db: &TestDb, app: TestApp) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = console(&app);
    let application = submitted(&app).await;

    // The reviewer signs in and filters the queue.
    sign_in(&browser, &base, "alice@regulator", "reviewer").await;
    let queue = browser.wait_for_text(&application.reference).await;
    assert!(
        queue.contains("H20 (3A090.a) × 100"),
        "goods by name: {queue}"
    );
    assert!(queue.contains("USD 10,000.00"), "value: {queue}");
    filter_queue(&browser, "state", "SUBMITTED").await;
    browser.wait_for_text(&application.reference).await;
    filter_queue(&browser, "assigned", "me").await;
    browser
        .wait_for_text("No case matches these filters.")
        .await;
    browser.goto(&format!("{base}/queue")).await;
    if let Some(violations) = browser.accessibility_violations().await {
        assert!(violations.is_empty(), "queue page: {violations:#?}");
    }
    browser
        .screenshot(&screenshots().join("console-queue.png"))
        .await;

    // She opens the case, takes it and asks the applicant a question.
    browser
        .client
        .find(Locator::LinkText(&application.reference))
        .await
        .expect("the case's link")
        .click()
        .await
        .expect("open the case");
    let page = browser
        .wait_for_text(&format!("Case {}", application.reference))
        .await;
    assert!(page.contains("Example Cloud Ltd"), "parties: {page}");
    assert!(
        page.contains("Total processing performance 2368"),
        "parameters: {page}"
    );
    assert!(page.contains("The history's"), "verified history: {page}");
    click(&browser, "form[action$='/assign'] button").await;
    let page = browser.wait_for_text("The case is assigned to you.").await;
    assert!(
        page.contains("Assigned to\nalice@regulator")
            || page.contains("Assigned to alice@regulator"),
        "{page}"
    );
    type_into(
        &browser,
        "question",
        "Who operates the data centre in Shenzhen?",
    )
    .await;
    click(&browser, "form[action$='/request-information'] button").await;
    let page = browser
        .wait_for_text("The question went to the applicant")
        .await;
    assert!(page.contains("Who operates the data centre in Shenzhen?"));
    assert!(page.contains("Not answered yet."));

    // The applicant answers through the API.
    let mut acme = app.applicant("acme");
    let current = acme
        .get_application(pb::GetApplicationRequest {
            name: application.name.clone(),
        })
        .await
        .expect("read")
        .into_inner();
    acme.answer_information_request(pb::AnswerInformationRequestRequest {
        name: current.information_requests[0].name.clone(),
        request_id: request_id(),
        etag: current.etag.clone(),
        answer: "Example Cloud Ltd itself, under contract 7".into(),
        documents: vec![],
    })
    .await
    .expect("answer");

    // She proposes a reduced quantity.
    open_case(&browser, &base, &application).await;
    browser
        .wait_for_text("Example Cloud Ltd itself, under contract 7")
        .await;
    if let Some(violations) = browser.accessibility_violations().await {
        assert!(violations.is_empty(), "case page: {violations:#?}");
    }
    browser
        .screenshot(&screenshots().join("console-case.png"))
        .await;
    type_into(&browser, "granted-0", "60").await;
    type_into(
        &browser,
        "reason",
        "Reduced to the capacity the contract shows",
    )
    .await;
    click(&browser, "form[action$='/propose'] button").await;
    let page = browser
        .wait_for_text("waits for a senior reviewer's countersignature")
        .await;
    assert!(page.contains("Granted quantities: 60"), "{page}");
    sign_out(&browser).await;

    // A different senior reviewer countersigns.
    sign_in(&browser, &base, "bob@regulator", "senior_reviewer").await;
    open_case(&browser, &base, &application).await;
    browser
        .wait_for_text("Countersign alice@regulator's proposal to approve")
        .await;
    click(&browser, "form[action$='/countersign'] button").await;
    let page = browser
        .wait_for_text("Countersigned: the decision is made.")
        .await;
    assert!(page.contains("Approved"), "{page}");

    // The licence page shows the balance; a shipment through the API draws on it.
    let licence = crate::conditions::issued_for(&mut acme, &application.name).await;
    browser.goto(&format!("{base}/licences")).await;
    browser
        .client
        .find(Locator::LinkText(&licence.number))
        .await
        .expect("the licence's link")
        .click()
        .await
        .expect("open the licence");
    let page = browser.wait_for_text("0 / 60").await;
    assert!(
        page.contains("Nothing has shipped under this licence."),
        "{page}"
    );
    let product = licence.lines[0].product.clone();
    start(&mut erp(&app, "acme"), shipment(&product, 10, 100_000))
        .await
        .expect("ship 10");
    browser.client.refresh().await.expect("reload");
    let page = browser.wait_for_text("10 / 60").await;
    // The shipment is listed with what left and for whom.
    for shown in [
        "1 shipment",
        "SO-4711",
        "10 × ",
        "Example Cloud Ltd (CN)",
        "Started",
    ] {
        assert!(page.contains(shown), "{shown:?} in {page}");
    }

    // The senior reviewer suspends it.
    type_into(&browser, "suspend-reason", "End user under investigation").await;
    click(&browser, "form[action$='/suspend'] button").await;
    let page = browser.wait_for_text("The licence is suspended.").await;
    assert!(page.contains("Suspended"), "{page}");
    let suspended = acme
        .get_licence(pb::GetLicenceRequest {
            name: licence.name.clone(),
        })
        .await
        .expect("licence")
        .into_inner();
    assert_eq!(suspended.state, pb::LicenceState::Suspended as i32);
}

async fn the_proposer_is_never_offered_countersign_and_a_forged_one_is_refused(
    _db: &TestDb,
    app: TestApp,
) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = console(&app);
    let application = submitted(&app).await;
    sign_in(&browser, &base, "carol@regulator", "senior_reviewer").await;
    open_case(&browser, &base, &application).await;
    click(&browser, "form[action$='/assign'] button").await;
    browser.wait_for_text("The case is assigned to you.").await;
    type_into(&browser, "reason", "Within the contract's capacity").await;
    click(&browser, "form[action$='/propose'] button").await;
    browser
        .wait_for_text("You proposed this decision, so another senior reviewer countersigns it.")
        .await;
    let offered = browser
        .client
        .find_all(Locator::Css("form[action$='/countersign']"))
        .await
        .expect("search");
    assert!(
        offered.is_empty(),
        "the proposer is not offered countersign"
    );

    // A countersign form made up in the page, with the real form token and etag, is refused
    // by the service, and the page says why.
    browser
        .client
        .execute(
            r#"const form = document.createElement('form');
            form.method = 'post';
            form.action = location.pathname + '/countersign';
            for (const name of ['csrf', 'etag', 'seen_history']) {
              const input = document.createElement('input');
              input.type = 'hidden';
              input.name = name;
              input.value = document.querySelector('input[name=' + name + ']').value;
              form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
            return true;"#,
            vec![],
        )
        .await
        .expect("post the forged form");
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser
        .wait_for_text("The proposer of a decision cannot countersign it (two-person rule).")
        .await;
    let case = app
        .regulator("dave@regulator", &["auditor"])
        .get_case(pb::GetCaseRequest {
            name: application.name.clone(),
        })
        .await
        .expect("case")
        .into_inner();
    assert_eq!(
        case.application.expect("application").state,
        pb::ApplicationState::PendingCountersign as i32
    );
}

/// One HTTP/1.1 request by hand, as a forger would send it; answers the status and body.
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("receive");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// The development sign-in page's cookie (`name=value`) and the form token tied to it.
async fn sign_in_form(addr: SocketAddr) -> (String, String) {
    let (status, page) = raw(addr, "GET", "/sign-in", "", "").await;
    assert_eq!(status, 200, "{page}");
    let cookie = page
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with("clearance_sign_in="))
        .expect("the sign-in cookie")
        .to_owned();
    let token = page
        .split("name=\"sign_in_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form token")
        .to_owned();
    assert_eq!(cookie, format!("clearance_sign_in={token}"));
    (cookie, token)
}

async fn posts_without_the_form_token_ended_sessions_and_unknown_cases_are_refused(
    _db: &TestDb,
    app: TestApp,
) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = console(&app);
    let addr: SocketAddr = base.trim_start_matches("http://").parse().expect("address");
    let application = submitted(&app).await;
    let id = application.name.trim_start_matches("applications/");
    sign_in(&browser, &base, "alice@regulator", "reviewer").await;
    let session = browser
        .client
        .get_named_cookie("clearance_session")
        .await
        .expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");
    let cookie = format!("clearance_session={}", session.value());

    // A post that did not come from a console page (no form token) changes nothing.
    let etag = format!("etag={}", application.etag);
    let (status, body) = raw(addr, "POST", &format!("/cases/{id}/assign"), &cookie, &etag).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("did not come from a page of this console"),
        "{body}"
    );
    let (status, _) = raw(
        addr,
        "POST",
        &format!("/cases/{id}/assign"),
        &cookie,
        &format!("{etag}&csrf=guessed"),
    )
    .await;
    assert_eq!(status, 403);
    let case = app
        .regulator("dave@regulator", &["auditor"])
        .get_case(pb::GetCaseRequest {
            name: application.name.clone(),
        })
        .await
        .expect("case")
        .into_inner();
    assert!(case.assignee.is_empty(), "nothing was done");

    // A sign-in form posted from elsewhere (login CSRF: no cookie of this browser's sign-in
    // page, or a token that is not the cookie's) signs nobody in.
    let (bound_cookie, token) = sign_in_form(addr).await;
    for (cookie, token) in [
        ("", token.as_str()),
        (bound_cookie.as_str(), "forged"),
        (bound_cookie.as_str(), ""),
    ] {
        let body = format!("sign_in_token={token}&subject=mallory&role=senior_reviewer");
        let (status, page) = raw(addr, "POST", "/sign-in", cookie, &body).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("did not come from this browser"), "{page}");
        assert!(!page.contains("clearance_session="), "no session: {page}");
    }

    // Sign-in offers regulator roles only; an exporter's role, a huge name or a body that is
    // not a form is refused in words, and nothing crashes.
    for body in [
        format!("sign_in_token={token}&subject=mallory&role=applicant"),
        format!(
            "sign_in_token={token}&subject={}&role=reviewer",
            "x".repeat(100_000)
        ),
        "%ff%fe=%00&role".to_owned(),
    ] {
        let (status, page) = raw(addr, "POST", "/sign-in", &bound_cookie, &body).await;
        assert!((400..500).contains(&status), "{status}: {page}");
        assert!(!page.contains("clearance_session="), "no session: {page}");
    }
    let (_, page) = raw(
        addr,
        "POST",
        "/sign-in",
        &bound_cookie,
        &format!("sign_in_token={token}&subject=mallory&role=applicant"),
    )
    .await;
    assert!(page.contains("choose one of the roles listed"), "{page}");

    // Unknown and malformed cases show nothing.
    for path in [
        format!("/cases/{}", uuid::Uuid::now_v7()),
        "/cases/not-a-case".to_owned(),
        format!("/licences/{}", uuid::Uuid::now_v7()),
    ] {
        browser.goto(&format!("{base}{path}")).await;
        browser
            .wait_for_text("There is nothing here, or it is not yours to see.")
            .await;
    }

    // After sign-out the old cookie opens nothing.
    sign_out(&browser).await;
    let (status, body) = raw(addr, "GET", "/queue", &cookie, "").await;
    assert_eq!(status, 303, "{body}");
    assert!(body.contains("location: /sign-in?expired=1"), "{body}");

    // A session ends at its time: a console whose sessions last a second.
    let (listener, short_addr) = clearance_console::bind("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("bind");
    let reviewer = app
        .running
        .as_ref()
        .and_then(|r| r.reviewer_addr)
        .expect("reviewer");
    let config = clearance_console::ConsoleConfig {
        reviewer_endpoint: format!("http://{reviewer}"),
        session_lifetime: Duration::from_secs(1),
        secure_cookies: false,
        sign_in: clearance_console::SignIn::Development {
            key: std::sync::Arc::new(
                clearance_auth::DevKey::load(&app.key_dir()).expect("development key"),
            ),
            issuer: app.config.auth.issuer.clone(),
            audience: app.config.auth.audience.clone(),
        },
    };
    tokio::spawn(clearance_console::serve(
        listener,
        config,
        std::future::pending(),
    ));
    let short = format!("http://{short_addr}");
    sign_in(&browser, &short, "alice@regulator", "reviewer").await;
    let cookie = browser
        .client
        .get_named_cookie("clearance_session")
        .await
        .expect("the session cookie");
    let cookie = format!("clearance_session={}", cookie.value());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The browser lets the cookie go at its Max-Age; the console refuses it on its own too.
    let (status, body) = raw(short_addr, "GET", "/queue", &cookie, "").await;
    assert_eq!(status, 303, "{body}");
    assert!(body.contains("location: /sign-in?expired=1"), "{body}");
    let (status, _) = raw(
        short_addr,
        "POST",
        &format!("/cases/{id}/assign"),
        &cookie,
        &etag,
    )
    .await;
    assert_eq!(status, 303, "an ended session posts nothing");
    browser.goto(&format!("{short}/sign-in?expired=1")).await;
    browser
        .wait_for_text("Your session has ended. Sign in again to go on.")
        .await;
}

async fn problems_sit_by_their_fields_and_a_stale_page_shows_what_changed(
    _db: &TestDb,
    app: TestApp,
) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = console(&app);
    let application = submitted(&app).await;
    sign_in(&browser, &base, "alice@regulator", "reviewer").await;
    open_case(&browser, &base, &application).await;
    click(&browser, "form[action$='/assign'] button").await;
    browser.wait_for_text("The case is assigned to you.").await;

    // A denial without a reason: the service's words appear beside the reason field.
    click(&browser, "#deny").await;
    click(&browser, "form[action$='/propose'] button").await;
    browser
        .wait_for_text("Some of what you entered needs correcting.")
        .await;
    let beside = browser
        .client
        .find(Locator::Css("form[action$='/propose'] span.error"))
        .await
        .expect("an error beside a field")
        .text()
        .await
        .expect("its text");
    assert!(beside.contains("denial"), "{beside}");

    // Someone else changes the case while the page is open: the note is not added, and the
    // page says what changed and offers a reload.
    let mut bob = app.regulator("bob@regulator", &["reviewer"]);
    let current = bob
        .get_case(pb::GetCaseRequest {
            name: application.name.clone(),
        })
        .await
        .expect("case")
        .into_inner();
    bob.add_note(pb::AddNoteRequest {
        name: application.name.clone(),
        request_id: request_id(),
        etag: current.etag.clone(),
        text: "Checked the end user's registration".into(),
        visible_to_applicant: false,
    })
    .await
    .expect("bob's note");
    type_into(&browser, "text", "Alice's note on a stale page").await;
    click(&browser, "form[action$='/notes'] button").await;
    let page = browser
        .wait_for_text("Someone changed this after you opened the page")
        .await;
    assert!(page.contains("What changed"), "{page}");
    assert!(page.contains("bob@regulator"), "{page}");
    assert!(page.contains("Reload the case"), "{page}");
    let notes = bob
        .get_case(pb::GetCaseRequest {
            name: application.name.clone(),
        })
        .await
        .expect("case")
        .into_inner()
        .application
        .expect("application")
        .notes;
    assert_eq!(notes.len(), 1, "the stale note was not added");

    // At 200 % zoom (half the width) the page reflows: nothing scrolls sideways.
    browser
        .client
        .set_window_size(640, 1024)
        .await
        .expect("narrow the window");
    open_case(&browser, &base, &application).await;
    let fits = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .expect("measure");
    assert_eq!(fits, serde_json::Value::Bool(true), "the case page reflows");
}

/// Production sign-in: the console sends the browser to the OpenID Connect provider (PKCE,
/// state, nonce), the provider's groups become Clearance roles, and the console calls the
/// services with the provider's access token, which services in production mode trust
/// through the provider's key set. A wrong nonce, another client's ID token, a callback this
/// browser did not start, an account without a Clearance role and an exporter's are refused.
async fn people_sign_in_through_the_identity_provider(backend: clearance_tests::Backend) {
    use clearance_server::AuthMode;
    use clearance_server::config::{ConsoleOidcConfig, JwksConfig};
    use clearance_tests::identity_provider::{IdentityProvider, Misbehaviour, Person};

    let Some(browser) = Browser::start().await else {
        return;
    };
    let idp = IdentityProvider::start("clearance-console", "clearance").await;
    // The callback URL is registered with the provider before the console starts. The port
    // is held until then by a socket that never listens (the console's listener may share it,
    // both allowing address reuse), so no other socket of this busy machine takes it meanwhile.
    let reservation = tokio::net::TcpSocket::new_v4().expect("a socket");
    reservation.set_reuseaddr(true).expect("SO_REUSEADDR");
    reservation
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("a free port");
    let port = reservation.local_addr().expect("address").port();
    let base = format!("http://127.0.0.1:{port}");
    let (issuer, jwks, callback) = (
        idp.issuer.clone(),
        idp.jwks_url(),
        format!("{base}/sign-in/callback"),
    );
    let Some((db, app)) = TestApp::spawn_configured(backend, |c| {
        c.auth.mode = AuthMode::Production;
        c.auth.issuer = issuer.clone();
        c.auth.jwks = Some(JwksConfig {
            source: jwks,
            refresh_seconds: 3600,
            min_refresh_seconds: 0,
        });
        c.console.listen = Some(format!("127.0.0.1:{port}").parse().expect("address"));
        c.console.oidc = Some(ConsoleOidcConfig {
            issuer,
            client_id: "clearance-console".into(),
            client_secret: Some("console-secret".into()),
            redirect_url: callback,
            scopes: vec!["openid".into(), "profile".into()],
            roles_claim: "realm_access.roles".into(),
            role_names: [
                ("export-reviewers", "reviewer"),
                ("export-seniors", "senior_reviewer"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        });
    })
    .await
    else {
        return;
    };
    drop(reservation);
    assert_eq!(console(&app), base);
    let acme = app.applications_with(Some(idp.access_token(
        "officer@acme",
        &["applicant"],
        Some("acme"),
    )));
    let application = submitted_by(acme).await;

    let attempt = |expected: &'static str| {
        let browser = &browser;
        let base = base.clone();
        async move {
            browser.goto(&format!("{base}/sign-in")).await;
            browser
                .wait_for_text("Sign in with your organisation's account")
                .await;
            click(browser, "a[href='/sign-in/start']").await;
            browser.wait_for_text(expected).await;
        }
    };
    let rita = Person {
        subject: "rita-7f3a".into(),
        name: "Rita Reviewer".into(),
        groups: vec!["offline_access".into(), "export-reviewers".into()],
        roles: vec!["reviewer".into()],
    };

    // Tokens that do not check out sign nobody in.
    for how in [Misbehaviour::WrongNonce, Misbehaviour::OtherAudience] {
        idp.misbehave(how);
        idp.signs_in(rita.clone());
        attempt("The identity provider's answer could not be checked").await;
    }
    idp.misbehave(Misbehaviour::None);
    // An account with no Clearance role, and an exporter's, are turned away in words.
    idp.signs_in(Person {
        groups: vec!["staff".into()],
        ..rita.clone()
    });
    attempt("Your account has no Clearance role").await;
    idp.signs_in(Person {
        groups: vec!["applicant".into()],
        ..rita.clone()
    });
    attempt("This console is for the regulator's staff").await;
    assert!(
        browser
            .client
            .get_named_cookie("clearance_session")
            .await
            .is_err(),
        "no session so far"
    );

    // The provider signs Rita in; her groups make her a reviewer; the queue is read with the
    // provider's access token.
    idp.signs_in(rita.clone());
    attempt("the soonest due first").await;
    let header = browser
        .client
        .find(Locator::Css("header"))
        .await
        .expect("the header")
        .text()
        .await
        .expect("its text");
    assert!(
        header.contains("Signed in as Rita Reviewer (reviewer)"),
        "{header}"
    );
    browser.wait_for_text(&application.reference).await;
    let exchanges = idp.exchanges();
    assert_eq!(exchanges, 5, "every attempt exchanged its code once");

    // Actions are recorded under the provider's subject.
    open_case(&browser, &base, &application).await;
    click(&browser, "form[action$='/assign'] button").await;
    browser.wait_for_text("The case is assigned to you.").await;
    let case = app
        .reviews_with(Some(idp.access_token("audrey", &["auditor"], None)))
        .get_case(pb::GetCaseRequest {
            name: application.name.clone(),
        })
        .await
        .expect("case")
        .into_inner();
    assert_eq!(case.assignee, "rita-7f3a");
    browser.goto(&format!("{base}/queue")).await;
    filter_queue(&browser, "assigned", "me").await;
    browser.wait_for_text(&application.reference).await;

    // A callback this browser did not start (a link from elsewhere, or a replayed one) and a
    // provider's refusal sign nobody in.
    let addr: SocketAddr = base.trim_start_matches("http://").parse().expect("address");
    let (status, page) = raw(
        addr,
        "GET",
        "/sign-in/callback?code=stolen&state=guessed",
        "",
        "",
    )
    .await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("not started in this browser"), "{page}");
    assert!(!page.contains("clearance_session="), "{page}");
    let (status, page) = raw(
        addr,
        "GET",
        "/sign-in/callback?code=stolen&state=guessed",
        "clearance_sign_in=guessed",
        "",
    )
    .await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("used already or took longer"), "{page}");
    let (status, page) = raw(
        addr,
        "GET",
        "/sign-in/callback?error=access_denied&state=guessed",
        "clearance_sign_in=guessed",
        "",
    )
    .await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("did not sign you in (access_denied)"),
        "{page}"
    );
    // The development form does not exist here.
    let (status, _) = raw(
        addr,
        "POST",
        "/sign-in",
        "",
        "subject=mallory&role=senior_reviewer",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(idp.exchanges(), exchanges, "nothing more was exchanged");

    sign_out(&browser).await;
    drop(app);
    db.drop_database().await;
}

/// The rules pages: the versions in force on a day (none long ago), a what-if determination
/// that says what the policy service says, its field problems by their fields, and a draft
/// started from the version in force whose impact names the pending case it would release.
async fn a_policy_administrator_reads_the_rules_asks_what_if_and_sees_a_drafts_impact(
    _db: &TestDb,
    app: TestApp,
) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = console(&app);
    let application = submitted(&app).await;
    let h20 = crate::fixtures::h20();
    let determined = app
        .policies_with(Some(app.token(&["policy_admin"], None)))
        .determine(pb::DetermineRequest {
            product: Some(h20.clone()),
            destination_country_code: "CN".into(),
            end_user_headquarters_country_code: String::new(),
            export_time: None,
            transaction_kind: 0,
            certifications: None,
        })
        .await
        .expect("determine")
        .into_inner();
    assert!(
        determined.licence_required,
        "the case needs a licence today"
    );

    sign_in(&browser, &base, "paula@regulator", "policy_admin").await;
    click(&browser, "header nav a[href='/rules']").await;
    let page = browser.wait_for_text("in force on").await;
    assert!(page.contains("In force"), "{page}");
    if let Some(violations) = browser.accessibility_violations().await {
        assert!(violations.is_empty(), "rules page: {violations:#?}");
    }
    browser
        .submit_form("form[action='/rules']", &[("on", "2000-01-01")])
        .await;
    browser
        .wait_for_text("No rule set was in force on 2000-01-01.")
        .await;

    // What if: the H20 to China, as the policy service determines it.
    browser.goto(&format!("{base}/rules/determine")).await;
    let parameters = h20.parameters.expect("parameters");
    let numbers = [
        parameters.total_processing_performance,
        parameters.die_area_mm2,
        parameters.memory_bandwidth_gbps,
        parameters.io_bandwidth_gbps,
    ]
    .map(|n| n.expect("a parameter").to_string());
    let what_if = |tpp: &str| {
        vec![
            ("classification", h20.classification.clone()),
            ("tpp", tpp.to_owned()),
            ("die_area_mm2", numbers[1].clone()),
            ("memory_bandwidth_gbps", numbers[2].clone()),
            ("io_bandwidth_gbps", numbers[3].clone()),
            ("destination", "CN".to_owned()),
        ]
    };
    let fields = what_if(&numbers[0]);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser
        .client
        .find(Locator::Id("datacenter"))
        .await
        .expect("the box")
        .click()
        .await
        .expect("tick");
    browser
        .submit_form("form[action='/rules/determine']", &fields)
        .await;
    let page = browser.wait_for_text("A licence is required").await;
    for fired in &determined.fired_rules {
        assert!(page.contains(&fired.rule_id), "{} in {page}", fired.rule_id);
        assert!(
            page.contains(&fired.citation),
            "{} in {page}",
            fired.citation
        );
    }
    if let Some(violations) = browser.accessibility_violations().await {
        assert!(violations.is_empty(), "what-if page: {violations:#?}");
    }
    // A number that is not one, and a country that is not one, are named by their fields.
    let fields = what_if("lots");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser
        .submit_form("form[action='/rules/determine']", &fields)
        .await;
    browser.wait_for_text("enter a whole number").await;
    assert!(browser.client.find(Locator::Id("tpp-error")).await.is_ok());
    let mut fields = what_if(&numbers[0]);
    fields[5].1 = "ZZ".into();
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser
        .submit_form("form[action='/rules/determine']", &fields)
        .await;
    browser.wait_for_text("needs correcting").await;
    assert!(
        browser
            .client
            .find(Locator::Id("destination-error"))
            .await
            .is_ok(),
        "{}",
        browser.main_text().await
    );

    // A draft from the version in force that releases everything to China: the pending case
    // would no longer need a licence.
    let in_force = determined.consulted[0].rule_set.clone();
    browser
        .goto(&format!(
            "{base}/{}",
            in_force.replace("ruleSets/", "rules/")
        ))
        .await;
    click(&browser, "a[href^='/rules/impact?from=']").await;
    let page = browser.wait_for_text("The draft rule set, as JSON").await;
    assert!(!page.contains("needs correcting"), "{page}");
    let draft = browser
        .client
        .find(Locator::Id("draft"))
        .await
        .expect("the draft")
        .prop("value")
        .await
        .expect("its text")
        .expect("a draft");
    assert!(draft.contains(&determined.consulted[0].key), "{draft}");
    browser
        .client
        .execute(
            r#"const box = document.getElementById('draft');
            const draft = JSON.parse(box.value);
            draft.rules = [{ rule_id: 'release-cn', description: 'Everything to China', citation: 'Draft',
              criterion: 'tpp >= 0', destinations: { country_codes: ['CN'] }, licence_required: false }];
            box.value = JSON.stringify(draft, null, 2);
            return true;"#,
            vec![],
        )
        .await
        .expect("edit the draft");
    click(&browser, "form[action='/rules/impact'] button").await;
    let page = browser.wait_for_text("would change").await;
    assert!(page.contains(&application.name), "{page}");
    assert!(page.contains("No longer requires licence"), "{page}");
    assert!(page.contains("no licence required"), "{page}");

    // A draft that is not JSON is named next to its field; nothing is analysed.
    browser
        .client
        .execute(
            "document.getElementById('draft').value = '{\"rules\": 5'; return true;",
            vec![],
        )
        .await
        .expect("break the draft");
    click(&browser, "form[action='/rules/impact'] button").await;
    browser
        .wait_for_text("this is not a rule set in JSON")
        .await;
    assert!(
        browser
            .client
            .find(Locator::Id("draft-error"))
            .await
            .is_ok()
    );

    // A reviewer reads the rules but is not offered drafts.
    sign_out(&browser).await;
    sign_in(&browser, &base, "rita@regulator", "reviewer").await;
    browser.goto(&format!("{base}/rules")).await;
    let page = browser.wait_for_text("in force on").await;
    assert!(!page.contains("Impact of a draft"), "{page}");
}

/// The queue follows the event stream: a case submitted after the page loaded is announced on
/// the page (it does not reload by itself), and the reload shows it.
async fn the_queue_says_when_a_case_changes_after_it_loaded(_db: &TestDb, app: TestApp) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = console(&app);
    let first = submitted(&app).await;
    sign_in(&browser, &base, "alice@regulator", "reviewer").await;
    let page = browser.wait_for_text(&first.reference).await;
    assert!(!page.contains("has changed"), "{page}");
    // The page's script opens its stream once the page has loaded; a case submitted before
    // that is not news to it, so submit until one is announced.
    let mut announced = None;
    for _ in 0..5 {
        let second = submitted(&app).await;
        for _ in 0..30 {
            let page = browser.main_text().await;
            if page.contains("The queue has changed since this page was loaded.") {
                assert!(
                    !page.contains(&second.reference),
                    "not shown before the reload"
                );
                announced = Some(second.clone());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if announced.is_some() {
            break;
        }
    }
    let second = announced.expect("a change was announced on the page");
    click(&browser, "#queue-changed a").await;
    browser.wait_for_text(&second.reference).await;
}

/// A listed end user holds a case until a reviewer clears or confirms the hit: the case page
/// offers both, with reasons, to reviewers only; a forged hit of another case is refused.
async fn a_reviewer_resolves_a_screening_hit_in_the_browser(_db: &TestDb, app: TestApp) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = console(&app);
    crate::screening::import_csl(&app).await;
    let application = submitted(&app).await;
    let other = submitted(&app).await;

    sign_in(&browser, &base, "alice@regulator", "reviewer").await;
    open_case(&browser, &base, &application).await;
    let page = browser.wait_for_text("Screening hits").await;
    assert!(
        page.contains("Example Cloud Ltd resembles Example Cloud Ltd"),
        "{page}"
    );
    click(&browser, "form[action$='/assign'] button").await;
    browser.wait_for_text("The case is assigned to you.").await;
    if let Some(violations) = browser.accessibility_violations().await {
        assert!(
            violations.is_empty(),
            "case page with a hit: {violations:#?}"
        );
    }

    // Without a reason the browser itself holds the form back; a forged hit name (another
    // case's) is refused by the console.
    let other_hit = app
        .reviews_with(Some(app.token_for("alice@regulator", &["reviewer"], None)))
        .get_case(pb::GetCaseRequest {
            name: other.name.clone(),
        })
        .await
        .expect("the other case")
        .into_inner()
        .screening_hits
        .into_iter()
        .next()
        .expect("a hit on the other case too")
        .name;
    browser
        .client
        .execute(
            "document.querySelector(\"form[action$='/resolve-hit'] input[name=hit]\").value = arguments[0];",
            vec![serde_json::Value::String(other_hit)],
        )
        .await
        .expect("forge the hit");
    type_into(&browser, "hit-reason-1", "forged").await;
    click(
        &browser,
        "form[action$='/resolve-hit'] button[value='false']",
    )
    .await;
    browser
        .wait_for_text("That screening hit is not on this case.")
        .await;

    // Cleared as a false positive, with reasons, on the record.
    open_case(&browser, &base, &application).await;
    browser.wait_for_text("Screening hits").await;
    type_into(
        &browser,
        "hit-reason-1",
        "another company: different registration number and address",
    )
    .await;
    click(
        &browser,
        "form[action$='/resolve-hit'] button[value='false']",
    )
    .await;
    let page = browser.wait_for_text("The screening hit is resolved").await;
    assert!(
        page.contains("Cleared by alice@regulator — another company"),
        "{page}"
    );
    assert!(
        browser
            .client
            .find(Locator::Css("form[action$='/resolve-hit']"))
            .await
            .is_err(),
        "no form for a resolved hit"
    );
    sign_out(&browser).await;

    // An auditor sees the hit and no way to resolve it.
    sign_in(&browser, &base, "audrey@regulator", "auditor").await;
    open_case(&browser, &base, &other).await;
    browser.wait_for_text("Screening hits").await;
    assert!(
        browser
            .client
            .find(Locator::Css("form[action$='/resolve-hit']"))
            .await
            .is_err(),
        "auditors do not resolve hits"
    );
}

/// An H200-class application under the January 2026 rule: the reviewer sees what was
/// certified (figures too) and each of the rule's conditions judged; the proposal form offers
/// the certified statements as licence conditions; the licence page shows the terms every
/// shipment must meet.
async fn a_reviewer_sees_what_was_certified_and_makes_it_licence_conditions(
    _db: &TestDb,
    app: TestApp,
) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let base = console(&app);
    let mut acme = app.applicant("acme");
    let product = crate::conditions::h200(&mut acme).await;
    let created = crate::conditions::certified_application(&mut acme, &product.name, 100).await;
    let application = submit(&mut acme, &created).await;

    sign_in(&browser, &base, "alice@regulator", "reviewer").await;
    open_case(&browser, &base, &application).await;
    let page = browser.wait_for_text("Certifications").await;
    for shown in [
        "china-within-half-of-us-shipments: 1000",
        "Conditions of 3A090.a-china-macau-h200-class",
        "on the licence",
        "91 FR 1684",
    ] {
        assert!(page.contains(shown), "{shown:?} in {page}");
    }
    if let Some(violations) = browser.accessibility_violations().await {
        assert!(violations.is_empty(), "case page: {violations:#?}");
    }
    click(&browser, "form[action$='/assign'] button").await;
    browser.wait_for_text("The case is assigned to you.").await;
    let offered = browser
        .client
        .find(Locator::Id("conditions"))
        .await
        .expect("the conditions field")
        .prop("value")
        .await
        .expect("its value")
        .unwrap_or_default();
    assert_eq!(offered.lines().count(), 7, "{offered}");
    assert!(
        offered.contains("no more than 50 % of the total shipped to US customers"),
        "{offered}"
    );
    type_into(&browser, "reason", "Certified as the rule asks").await;
    click(&browser, "form[action$='/propose'] button").await;
    browser
        .wait_for_text("waits for a senior reviewer's countersignature")
        .await;
    let case = app
        .regulator("alice@regulator", &["reviewer"])
        .get_case(pb::GetCaseRequest {
            name: application.name.clone(),
        })
        .await
        .expect("case")
        .into_inner();
    app.regulator("bob@regulator", &["senior_reviewer"])
        .countersign_decision(pb::CountersignDecisionRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag,
        })
        .await
        .expect("countersign");
    let licence = acme
        .list_licences(pb::ListLicencesRequest::default())
        .await
        .expect("licences")
        .into_inner()
        .licences
        .into_iter()
        .find(|l| l.application == application.name)
        .expect("a licence was issued");
    assert_eq!(licence.conditions.len(), 7, "{:?}", licence.conditions);
    let id = licence.name.trim_start_matches("licences/");
    browser.goto(&format!("{base}/licences/{id}")).await;
    let page = browser.wait_for_text("Terms every shipment meets").await;
    for shown in [
        "third-party testing laboratory in the United States",
        "at most 50% of the units it reported shipping to US customers",
    ] {
        assert!(page.contains(shown), "{shown:?} in {page}");
    }
}
