//! The pages, as server-rendered HTML: semantic elements, a label on every control, forms that
//! work without script, the services' answers in plain words next to what they concern.

use std::collections::HashMap;

use clearance_proto::v1 as pb;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::problem::Problem;
use crate::session::Session;

/// Roles a person may sign in with in development, and what each may do.
pub const SIGN_IN_ROLES: &[(&str, &str)] = &[
    ("reviewer", "Reviewer: works cases, proposes decisions"),
    (
        "senior_reviewer",
        "Senior reviewer: countersigns, acts on licences",
    ),
    ("auditor", "Auditor: reads cases, licences and history"),
    ("policy_admin", "Policy administrator: rules and lists"),
];

const CSS: &str = r#"
:root { font-family: system-ui, sans-serif; line-height: 1.5; color: #1b1b1b; background: #fff; }
body { margin: 0; }
.skip { position: absolute; left: -10000px; }
.skip:focus { position: static; }
header { background: #0b3d5c; color: #fff; padding: .5rem 1rem; display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; }
header a { color: #fff; }
header button { color: #fff; background: transparent; border: 2px solid #fff; border-radius: 3px; }
header nav a { margin-right: 1rem; }
header form { margin-left: auto; }
main { padding: 1rem; max-width: 90rem; }
a { color: #0b4f8a; }
a:focus, button:focus, input:focus, select:focus, textarea:focus, summary:focus { outline: 3px solid #e8a200; outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid #8a8a8a; padding: .3rem .5rem; text-align: left; vertical-align: top; }
caption { text-align: left; font-weight: bold; }
.problem { border: 3px solid #b00020; padding: .5rem 1rem; margin: 1rem 0; }
.done { border: 3px solid #1e6b35; padding: .5rem 1rem; margin: 1rem 0; }
.error { color: #b00020; font-weight: bold; display: block; }
.overdue { color: #b00020; font-weight: bold; }
.muted { color: #4a4a4a; }
fieldset { margin: .5rem 0 1rem; }
label { display: block; margin-top: .5rem; }
label.inline { display: inline; margin-right: 1rem; }
input[type=text], input[type=number], input[type=date], select, textarea { font: inherit; padding: .2rem; max-width: 100%; }
textarea { width: 100%; max-width: 40rem; box-sizing: border-box; }
.scroll { overflow-x: auto; }
button { font: inherit; padding: .3rem .8rem; margin-top: .5rem; }
a.button { display: inline-block; padding: .3rem .8rem; border: 2px solid #0b4f8a; border-radius: 3px; text-decoration: none; }
section { margin-bottom: 1.5rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { font-weight: bold; }
dd { margin: 0; }
.actions { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
.actions > form { border: 1px solid #8a8a8a; padding: .5rem 1rem; }
"#;

/// The frame of every page.
pub fn layout(title: &str, who: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Clearance" }
                style { (PreEscaped(CSS)) }
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header {
                    strong { "Clearance" }
                    @if let Some(s) = who {
                        nav aria-label="Main" {
                            a href="/queue" { "Case queue" }
                            a href="/licences" { "Licences" }
                            a href="/rules" { "Rules" }
                        }
                        p { "Signed in as " strong { (s.display_name) } " (" (roles_in_words(&s.roles)) ")" }
                        form method="post" action="/sign-out" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn roles_in_words(roles: &[String]) -> String {
    roles
        .iter()
        .map(|r| r.replace('_', " "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A problem box, with each field violation listed.
pub fn problem_box(problem: &Problem) -> Markup {
    html! {
        div.problem role="alert" {
            p { strong { (problem.summary) } }
            @if !problem.fields.is_empty() {
                ul {
                    @for (field, description) in &problem.fields {
                        li { (field_in_words(field)) ": " (description) }
                    }
                }
            }
        }
    }
}

fn field_in_words(field: &str) -> String {
    field.replace(['_', '.'], " ")
}

/// A page that only says what went wrong.
pub fn problem_page(title: &str, who: Option<&Session>, problem: &Problem) -> Markup {
    layout(
        title,
        who,
        html! {
            (problem_box(problem))
            p { a href="/queue" { "Back to the case queue" } }
        },
    )
}

/// How the sign-in page signs people in.
pub enum SignInForm<'a> {
    /// Pick a name and a role; `token` ties the form to this browser's sign-in cookie.
    Development { token: &'a str },
    /// Through the organisation's identity provider.
    Provider,
}

pub fn sign_in(notice: Option<&str>, problem: Option<&Problem>, form: SignInForm<'_>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(n) = notice { div.done role="status" { p { (n) } } }
            @if let Some(p) = problem { (problem_box(p)) }
            @match form {
                SignInForm::Provider => {
                    p { "Sign in with your organisation's account. You will come back here once it knows you." }
                    // A link, not a form: the page's form-action policy would stop a form
                    // on its way to the provider.
                    p { a.button href="/sign-in/start" { "Sign in with your organisation's account" } }
                }
                SignInForm::Development { token } => {
                    p { "Development sign-in: choose who you are. In production the organisation's identity provider signs people in." }
                    form method="post" action="/sign-in" {
                        input type="hidden" name="sign_in_token" value=(token);
                        label for="subject" { "Your name (as recorded on every action)" }
                        @if let Some(e) = problem.and_then(|p| p.field("subject")) { span.error id="subject-error" { (e) } }
                        input type="text" id="subject" name="subject" required autocomplete="username" value="alice@regulator";
                        fieldset {
                            legend { "Role" }
                            @for (i, (role, words)) in SIGN_IN_ROLES.iter().enumerate() {
                                div {
                                    input type="radio" id={"role-" (role)} name="role" value=(role) checked[i == 0];
                                    label.inline for={"role-" (role)} { (words) }
                                }
                            }
                        }
                        button type="submit" { "Sign in" }
                    }
                }
            }
        },
    )
}

/// The page after the identity provider's sign-in: it moves on to the queue by itself. (A
/// redirect would not do: the navigation began on the provider's site, so the browser would
/// hold back the SameSite=Strict session cookie on the way.)
pub fn signed_in(who: &Session) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="0; url=/queue";
                title { "Signed in — Clearance" }
                style { (PreEscaped(CSS)) }
            }
            body {
                main id="main" {
                    h1 { "Signed in" }
                    p { "Welcome, " (who.display_name) ". " a href="/queue" { "Go to the case queue" } }
                }
            }
        }
    }
}

/// Queue filters as sent by the filter form.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub assigned: String,
    #[serde(default)]
    pub destination: String,
    #[serde(default)]
    pub policy: String,
    #[serde(default)]
    pub overdue: String,
    #[serde(default)]
    pub page: String,
}

const STATES: &[&str] = &[
    "SUBMITTED",
    "UNDER_REVIEW",
    "AWAITING_APPLICANT",
    "PENDING_COUNTERSIGN",
    "UNDER_APPEAL",
    "APPROVED",
    "DENIED",
    "RETURNED",
    "WITHDRAWN",
];

const POLICIES: &[&str] = &[
    "PRESUMPTION_OF_DENIAL",
    "CASE_BY_CASE",
    "PRESUMPTION_OF_APPROVAL",
];

/// `SOME_ENUM_NAME` as "Some enum name".
pub fn words(name: &str) -> String {
    let lower = name.replace('_', " ").to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub fn state_words(state: i32) -> String {
    pb::ApplicationState::try_from(state)
        .map(|s| words(s.as_str_name().trim_start_matches("APPLICATION_STATE_")))
        .unwrap_or_else(|_| "Unknown".into())
}

pub fn policy_words(policy: i32) -> String {
    pb::ReviewPolicy::try_from(policy)
        .ok()
        .filter(|p| *p != pb::ReviewPolicy::Unspecified)
        .map(|p| words(p.as_str_name().trim_start_matches("REVIEW_POLICY_")))
        .unwrap_or_else(|| "—".into())
}

pub fn when(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

pub fn day(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "—".into())
}

fn money(m: Option<&pb::Money>) -> String {
    m.map(|m| clearance_contract::money::format_money(&m.currency_code, m.minor_units))
        .unwrap_or_else(|| "—".into())
}

/// The total value of an application's lines, per currency.
fn total_value(app: &pb::Application) -> String {
    let mut totals: Vec<(String, i64)> = Vec::new();
    for l in &app.lines {
        if let Some(v) = &l.unit_value {
            let line = v.minor_units.saturating_mul(l.quantity);
            match totals.iter_mut().find(|(c, _)| *c == v.currency_code) {
                Some((_, t)) => *t = t.saturating_add(line),
                None => totals.push((v.currency_code.clone(), line)),
            }
        }
    }
    if totals.is_empty() {
        return "—".into();
    }
    totals
        .iter()
        .map(|(c, t)| clearance_contract::money::format_money(c, *t))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// The goods of an application's lines: product, classification and quantity.
fn goods(app: &pb::Application, products: &HashMap<String, pb::Product>) -> Vec<String> {
    app.lines
        .iter()
        .map(|l| match products.get(&l.product) {
            Some(p) => format!("{} ({}) × {}", p.display_name, p.classification, l.quantity),
            None => format!("{} × {}", l.product, l.quantity),
        })
        .collect()
}

fn applicant(app: &pb::Application) -> &str {
    app.applicant.trim_start_matches("organisations/")
}

fn case_id(name: &str) -> &str {
    name.trim_start_matches("applications/")
}

pub struct QueueView<'a> {
    pub cases: &'a [pb::Case],
    pub products: &'a HashMap<String, pb::Product>,
    pub query: &'a QueueQuery,
    pub next_page: &'a str,
    pub problem: Option<&'a Problem>,
}

pub fn queue(who: &Session, view: QueueView<'_>) -> Markup {
    let q = view.query;
    let selected = |value: &str, current: &str| value == current;
    let next_link = |token: &str| {
        let mut params = vec![];
        for (k, v) in [
            ("state", &q.state),
            ("assigned", &q.assigned),
            ("destination", &q.destination),
            ("policy", &q.policy),
            ("overdue", &q.overdue),
        ] {
            if !v.is_empty() {
                params.push(format!("{k}={}", url_escape(v)));
            }
        }
        params.push(format!("page={}", url_escape(token)));
        format!("/queue?{}", params.join("&"))
    };
    layout(
        "Case queue",
        Some(who),
        html! {
            @if let Some(p) = view.problem { (problem_box(p)) }
            // Filled by /console.js when a case changes; a live region, so it is announced.
            div id="queue-changed" role="status" aria-live="polite" {}
            script src="/console.js" defer {}
            form method="get" action="/queue" aria-label="Filter the queue" {
                fieldset {
                    legend { "Filter" }
                    label for="state" { "State" }
                    select id="state" name="state" {
                        option value="" selected[q.state.is_empty()] { "Every open case" }
                        @for s in STATES { option value=(s) selected[selected(s, &q.state)] { (words(s)) } }
                    }
                    label for="assigned" { "Assigned" }
                    select id="assigned" name="assigned" {
                        option value="" selected[q.assigned.is_empty()] { "To anyone or no one" }
                        option value="me" selected[q.assigned == "me"] { "To me" }
                        option value="none" selected[q.assigned == "none"] { "To no one" }
                    }
                    label for="destination" { "Destination (two-letter country code)" }
                    input type="text" id="destination" name="destination" value=(q.destination) size="4" maxlength="2" autocomplete="off";
                    label for="policy" { "Review policy" }
                    select id="policy" name="policy" {
                        option value="" selected[q.policy.is_empty()] { "Any" }
                        @for p in POLICIES { option value=(p) selected[selected(p, &q.policy)] { (words(p)) } }
                    }
                    div {
                        input type="checkbox" id="overdue" name="overdue" value="true" checked[q.overdue == "true"];
                        label.inline for="overdue" { "Only overdue cases" }
                    }
                    button type="submit" { "Show cases" }
                }
            }
            div.scroll {
            table {
                caption { (count(view.cases.len(), "case", "cases")) ", the soonest due first" }
                thead {
                    tr {
                        th scope="col" { "Reference" }
                        th scope="col" { "Applicant" }
                        th scope="col" { "Destination" }
                        th scope="col" { "Goods" }
                        th scope="col" { "Value" }
                        th scope="col" { "State" }
                        th scope="col" { "Assigned to" }
                        th scope="col" { "Due" }
                    }
                }
                tbody {
                    @for c in view.cases {
                        @if let Some(app) = &c.application {
                            tr {
                                td { a href={"/cases/" (case_id(&c.name))} { (app.reference) } }
                                td { (applicant(app)) }
                                td { (app.destination_country_code) }
                                td { @for g in goods(app, view.products) { (g) br; } }
                                td { (total_value(app)) }
                                td { (state_words(app.state)) }
                                td { @if c.assignee.is_empty() { span.muted { "No one" } } @else { (c.assignee) } }
                                td {
                                    (day(c.clock.as_ref().and_then(|k| k.due_time.as_ref())))
                                    @if c.clock.as_ref().is_some_and(|k| k.overdue) { " " span.overdue { "overdue" } }
                                }
                            }
                        }
                    }
                }
            }
            }
            @if view.cases.is_empty() { p { "No case matches these filters." } }
            @if !view.next_page.is_empty() {
                p { a href=(next_link(view.next_page)) { "Next page of cases" } }
            }
        },
    )
}

/// "1 case", "2 cases".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Percent-encodes a query value.
pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Everything the case page shows.
pub struct CaseView<'a> {
    pub case: &'a pb::Case,
    pub products: &'a HashMap<String, pb::Product>,
    pub history: &'a [pb::HistoryEntry],
    pub verified: Option<&'a pb::VerifyHistoryResponse>,
    pub problem: Option<&'a Problem>,
    /// What the person sent, to fill the form in again after a problem.
    pub sent: &'a HashMap<String, String>,
    /// The action that just went through, in words.
    pub done: Option<&'a str>,
    /// History entries made after the page the person acted on (a conflict).
    pub changed: &'a [pb::HistoryEntry],
}

pub fn case(who: &Session, view: CaseView<'_>) -> Markup {
    let c = view.case;
    let Some(app) = &c.application else {
        return problem_page(
            "Case",
            Some(who),
            &Problem::new("The case could not be read.", 503),
        );
    };
    let id = case_id(&c.name);
    let state =
        pb::ApplicationState::try_from(app.state).unwrap_or(pb::ApplicationState::Unspecified);
    let pending = c
        .proposals
        .iter()
        .find(|p| p.state == pb::ProposalState::Pending as i32);
    let is_senior = who.has_role("senior_reviewer");
    let works_cases = who.has_role("reviewer") || is_senior;
    let error = |field: &str| view.problem.and_then(|p| p.field(field)).map(str::to_owned);
    let sent = |field: &str| view.sent.get(field).cloned().unwrap_or_default();
    let hidden = html! {
        input type="hidden" name="csrf" value=(who.csrf);
        input type="hidden" name="etag" value=(c.etag);
        input type="hidden" name="seen_history" value=(view.history.len());
    };
    let title = format!("Case {}", app.reference);
    layout(
        &title,
        Some(who),
        html! {
            @if let Some(done) = view.done { div.done role="status" { p { (done) } } }
            @if let Some(p) = view.problem { (problem_box(p)) }
            @if !view.changed.is_empty() {
                section aria-labelledby="changed" {
                    h2 id="changed" { "What changed" }
                    ul { @for e in view.changed { li { (when(e.create_time.as_ref())) ": " (e.actor) " — " (words(&e.action.replace('.', " "))) @if !e.reason.is_empty() { ": " (e.reason) } } } }
                    p { a href={"/cases/" (id)} { "Reload the case" } }
                }
            }
            section aria-labelledby="summary" {
                h2 id="summary" { "Summary" }
                dl {
                    dt { "Reference" } dd { (app.reference) }
                    dt { "Applicant" } dd { (applicant(app)) }
                    dt { "State" } dd { (state_words(app.state)) }
                    dt { "Destination" } dd { (app.destination_country_code) }
                    dt { "Transaction" } dd { (transaction_words(app.transaction_kind)) }
                    dt { "Assigned to" } dd { @if c.assignee.is_empty() { "No one" } @else { (c.assignee) } }
                    dt { "Review policy" } dd { (policy_words(app.review_policy)) }
                    dt { "Submitted" } dd { (when(app.submit_time.as_ref())) }
                    dt { "Value" } dd { (total_value(app)) }
                    @if let Some(k) = &c.clock {
                        dt { "Review clock" }
                        dd {
                            (k.elapsed_working_days) " of " (k.target_working_days) " working days"
                            @if k.paused_working_days > 0 { ", " (k.paused_working_days) " paused" }
                            "; due " (day(k.due_time.as_ref()))
                            @if k.paused { " (stopped while the applicant answers)" }
                            @if k.overdue { " " span.overdue { "overdue" } }
                        }
                    }
                }
            }
            section aria-labelledby="parties" {
                h2 id="parties" { "Parties" }
                div.scroll {
                table {
                    thead { tr { th scope="col" { "Role" } th scope="col" { "Name" } th scope="col" { "Address" } th scope="col" { "Country" } th scope="col" { "Headquarters" } } }
                    tbody {
                        @for p in &app.parties {
                            tr {
                                td { (pb::PartyRole::try_from(p.role).map(|r| words(r.as_str_name().trim_start_matches("PARTY_ROLE_"))).unwrap_or_default()) }
                                td { (p.display_name) }
                                td { (p.address) }
                                td { (p.country_code) }
                                td { (p.headquarters_country_code) }
                            }
                        }
                    }
                }
                }
                h3 { "End use" }
                p { (app.end_use_statement) }
                @if !app.certifications.is_empty() {
                    h3 { "Certifications" }
                    ul {
                        @for c in &app.certifications {
                            li { code { (c.key) } @if let Some(n) = c.figure { ": " (n) } }
                        }
                    }
                }
            }
            section aria-labelledby="lines" {
                h2 id="lines" { "Goods" }
                div.scroll {
                table {
                    thead { tr { th scope="col" { "Line" } th scope="col" { "Product" } th scope="col" { "Technical parameters" } th scope="col" { "Quantity" } th scope="col" { "Unit value" } th scope="col" { "Determination" } } }
                    tbody {
                        @for (i, l) in app.lines.iter().enumerate() {
                            tr {
                                td { (i + 1) }
                                td {
                                    @if let Some(p) = view.products.get(&l.product) {
                                        (p.display_name) br; "Part " (p.part_number) br; "ECCN " (p.classification)
                                        @if p.datacenter { br; "Data-centre product" }
                                    } @else { (l.product) }
                                }
                                td { @if let Some(p) = view.products.get(&l.product) { (parameters(p)) } }
                                td { (l.quantity) }
                                td { (money(l.unit_value.as_ref())) }
                                td { @if let Some(d) = &l.determination { (determination(d)) } @else { "Not yet determined" } }
                            }
                        }
                    }
                }
                }
            }
            section aria-labelledby="documents" {
                h2 id="documents" { "Documents" }
                @if app.documents.is_empty() { p { "No documents." } }
                ul {
                    @for d in &app.documents {
                        li { a href={"/cases/" (id) "/documents/" (d.sha256)} { (d.display_name) } " (" (d.media_type) ", " (d.size_bytes) " bytes, SHA-256 " code { (d.sha256.get(..12).unwrap_or_default()) "…" } ")" }
                    }
                }
            }
            section aria-labelledby="requests" {
                h2 id="requests" { "Information requests" }
                @if app.information_requests.is_empty() { p { "None asked." } }
                @for r in &app.information_requests {
                    article {
                        h3 { "Asked " (when(r.ask_time.as_ref())) }
                        p { (r.question) }
                        p { "Answer due by " (day(r.response_due_time.as_ref())) }
                        @if r.answer.is_empty() { p { strong { "Not answered yet." } } }
                        @else { p { "Answered " (when(r.answer_time.as_ref())) ": " (r.answer) } }
                    }
                }
            }
            section aria-labelledby="notes" {
                h2 id="notes" { "Notes" }
                @if app.notes.is_empty() { p { "No notes." } }
                ul {
                    @for n in &app.notes {
                        li { (when(n.create_time.as_ref())) ", " (n.author) ": " (n.text) " " em { @if n.visible_to_applicant { "(the applicant sees this)" } @else { "(regulator only)" } } }
                    }
                }
            }
            section aria-labelledby="proposals" {
                h2 id="proposals" { "Proposals" }
                @if c.proposals.is_empty() { p { "No decision proposed yet." } }
                @for p in &c.proposals {
                    article {
                        h3 { @if p.approve { "Approve" } @else { "Deny" } ", proposed by " (p.proposer) " on " (when(p.create_time.as_ref())) }
                        p { "Reason: " (p.reason) }
                        @if p.approve {
                            p { "Granted quantities: " (p.granted_quantities.iter().map(|q| q.to_string()).collect::<Vec<_>>().join(", ")) "; valid " (p.validity_months) " months; value tolerance " (p.value_tolerance_percent) " %" }
                            @if !p.conditions.is_empty() { p { "Conditions:" } ul { @for cond in &p.conditions { li { (cond) } } } }
                        }
                        @if !p.justification.is_empty() { p { "Departs from advice because: " (p.justification) } }
                        p { "Outcome: " (pb::ProposalState::try_from(p.state).map(|s| words(s.as_str_name().trim_start_matches("PROPOSAL_STATE_"))).unwrap_or_default())
                            @if !p.resolved_by.is_empty() { " by " (p.resolved_by) " on " (when(p.resolve_time.as_ref())) }
                            @if !p.resolution_reason.is_empty() { " — " (p.resolution_reason) } }
                    }
                }
            }
            @if !c.referrals.is_empty() {
                section aria-labelledby="advice" {
                    h2 id="advice" { "Advice from other agencies" }
                    ul { @for r in &c.referrals { li { (r.agency) ": " @if r.advice_time.is_some() { "advised " (when(r.advice_time.as_ref())) } @else { "due " (day(r.due_time.as_ref())) } } } }
                }
            }
            @if !c.screening_hits.is_empty() {
                section aria-labelledby="screening" {
                    h2 id="screening" { "Screening hits" }
                    ul {
                        @for (n, h) in c.screening_hits.iter().enumerate() {
                            li { (h.party_name) " resembles " (h.listed_name) " (" (h.source_list) ", score " (format!("{:.2}", h.score)) ", matched " (h.matched_fields.join(", ")) "): "
                                (pb::ScreeningHitStatus::try_from(h.status).map(|s| words(s.as_str_name().trim_start_matches("SCREENING_HIT_STATUS_"))).unwrap_or_default())
                                @if !h.decided_by.is_empty() { " by " (h.decided_by) " — " (h.reason) }
                                // An open hit blocks every decision: resolve it here, with reasons.
                                @if works_cases && h.status == pb::ScreeningHitStatus::Open as i32 {
                                    @let reason_id = format!("hit-reason-{}", n + 1);
                                    @let this_sent = sent("hit") == h.name;
                                    form method="post" action={"/cases/" (id) "/resolve-hit"} aria-label={"Resolve the hit on " (h.party_name)} {
                                        (hidden)
                                        input type="hidden" name="hit" value=(h.name);
                                        label for=(reason_id) { "Why, for the record" }
                                        @if this_sent { @if let Some(e) = error("reason") { span.error { (e) } } }
                                        textarea id=(reason_id) name="reason" rows="2" required { @if this_sent { (sent("reason")) } }
                                        button type="submit" name="confirm" value="false" { "Clear as a false positive" }
                                        button type="submit" name="confirm" value="true" { "Confirm the match (the case can then only be denied)" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if works_cases {
                section aria-labelledby="act" {
                    h2 id="act" { "Actions" }
                    div.actions {
                        @if matches!(state, pb::ApplicationState::Submitted | pb::ApplicationState::UnderReview | pb::ApplicationState::AwaitingApplicant | pb::ApplicationState::PendingCountersign) && c.assignee != who.subject {
                            form method="post" action={"/cases/" (id) "/assign"} aria-label="Assign" {
                                (hidden)
                                p { "Take this case: it is assigned to you." }
                                button type="submit" { "Assign to me" }
                            }
                        }
                        @if state == pb::ApplicationState::UnderReview {
                            form method="post" action={"/cases/" (id) "/request-information"} aria-label="Request information" {
                                (hidden)
                                label for="question" { "Question to the applicant" }
                                @if let Some(e) = error("question") { span.error { (e) } }
                                textarea id="question" name="question" rows="3" required { (sent("question")) }
                                label for="response_due_date" { "Answer due by (optional, default in 10 working days)" }
                                @if let Some(e) = error("response_due_time").or(error("response_due_date")) { span.error { (e) } }
                                input type="date" id="response_due_date" name="response_due_date" value=(sent("response_due_date"));
                                button type="submit" { "Ask the applicant" }
                            }
                        }
                        @if state != pb::ApplicationState::Draft {
                            form method="post" action={"/cases/" (id) "/notes"} aria-label="Add a note" {
                                (hidden)
                                label for="text" { "Note" }
                                @if let Some(e) = error("text") { span.error { (e) } }
                                textarea id="text" name="text" rows="3" required { (sent("text")) }
                                div {
                                    input type="checkbox" id="visible_to_applicant" name="visible_to_applicant" value="true";
                                    label.inline for="visible_to_applicant" { "The applicant may read this note" }
                                }
                                button type="submit" { "Add the note" }
                            }
                        }
                        @if state == pb::ApplicationState::UnderReview {
                            form method="post" action={"/cases/" (id) "/propose"} aria-label="Propose a decision" {
                                (hidden)
                                fieldset {
                                    legend { "Decision" }
                                    input type="radio" id="approve" name="decision" value="approve" checked[sent("decision") != "deny"];
                                    label.inline for="approve" { "Approve" }
                                    input type="radio" id="deny" name="decision" value="deny" checked[sent("decision") == "deny"];
                                    label.inline for="deny" { "Deny" }
                                }
                                label for="reason" { "Reason" }
                                @if let Some(e) = error("reason") { span.error { (e) } }
                                textarea id="reason" name="reason" rows="2" { (sent("reason")) }
                                @for (i, l) in app.lines.iter().enumerate() {
                                    @let field = format!("granted_quantities[{i}]");
                                    label for={"granted-" (i)} { "Quantity granted on line " (i + 1) " (applied for " (l.quantity) ")" }
                                    @if let Some(e) = error(&field) { span.error { (e) } }
                                    input type="number" id={"granted-" (i)} name=(field) min="0" max=(l.quantity) value=(view.sent.get(&field).cloned().unwrap_or_else(|| l.quantity.to_string()));
                                }
                                label for="conditions" { "Conditions, one per line (what the applicant certified is offered; keep or delete each)" }
                                @if let Some(e) = error("conditions") { span.error { (e) } }
                                textarea id="conditions" name="conditions" rows="2" { (view.sent.get("conditions").cloned().unwrap_or_else(|| certified_statements(app).join("\n"))) }
                                label for="validity_months" { "Validity in months (default 48)" }
                                @if let Some(e) = error("validity_months") { span.error { (e) } }
                                input type="number" id="validity_months" name="validity_months" min="1" max="120" value=(sent("validity_months"));
                                label for="value_tolerance_percent" { "Value tolerance in percent (default 25)" }
                                @if let Some(e) = error("value_tolerance_percent") { span.error { (e) } }
                                input type="number" id="value_tolerance_percent" name="value_tolerance_percent" min="0" max="100" value=(sent("value_tolerance_percent"));
                                label for="justification" { "Why the approval departs from an agency's refusal (if it does)" }
                                @if let Some(e) = error("justification") { span.error { (e) } }
                                textarea id="justification" name="justification" rows="2" { (sent("justification")) }
                                button type="submit" { "Propose for countersignature" }
                            }
                            form method="post" action={"/cases/" (id) "/return"} aria-label="Return the application" {
                                (hidden)
                                label for="return-reason" { "Why the application goes back unprocessed" }
                                @if let Some(e) = error("reason") { span.error { (e) } }
                                textarea id="return-reason" name="reason" rows="2" required { }
                                button type="submit" { "Return to the applicant" }
                            }
                        }
                        // The two-person rule: only a senior reviewer other than the proposer is
                        // offered the countersignature (the service refuses anyone else anyway).
                        @if let Some(p) = pending {
                            @if is_senior && p.proposer != who.subject {
                                form method="post" action={"/cases/" (id) "/countersign"} aria-label="Countersign" {
                                    (hidden)
                                    p { "Countersign " (p.proposer) "'s proposal to " @if p.approve { "approve" } @else { "deny" } "." }
                                    button type="submit" { "Countersign" }
                                }
                                form method="post" action={"/cases/" (id) "/reject"} aria-label="Reject the proposal" {
                                    (hidden)
                                    label for="reject-reason" { "Why the proposal goes back to review" }
                                    textarea id="reject-reason" name="reason" rows="2" required { }
                                    button type="submit" { "Reject the proposal" }
                                }
                            } @else if p.proposer == who.subject {
                                p { "You proposed this decision, so another senior reviewer countersigns it." }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="history" {
                h2 id="history" { "History" }
                @if let Some(v) = view.verified {
                    @if v.intact && v.altered_documents.is_empty() && v.missing_documents.is_empty() {
                        p.done { "The history's " (v.entries_checked) " entries verify: each links to the one before, unaltered." }
                    } @else {
                        div.problem {
                            p { strong { "The history does not verify." } }
                            @if v.first_broken_sequence > 0 { p { "The chain breaks at entry " (v.first_broken_sequence) "." } }
                            @for d in &v.altered_documents { p { "A stored document changed: " (d) } }
                            @for d in &v.missing_documents { p { "A stored document is missing: " (d) } }
                        }
                    }
                }
                div.scroll {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "State" } th scope="col" { "Reason" } } }
                    tbody {
                        @for e in view.history {
                            tr {
                                td { (when(e.create_time.as_ref())) }
                                td { (e.actor) }
                                td { (words(&e.action.replace('.', " "))) }
                                td { @if e.from_state != e.to_state { (words(&e.from_state)) " → " (words(&e.to_state)) } }
                                td { (e.reason) }
                            }
                        }
                    }
                }
                }
            }
        },
    )
}

fn parameters(p: &pb::Product) -> Markup {
    let Some(t) = &p.parameters else {
        return html! {};
    };
    html! {
        ul {
            @if let Some(v) = t.total_processing_performance { li { "Total processing performance " (v) } }
            @if t.performance_density > 0.0 { li { "Performance density " (format!("{:.2}", t.performance_density)) } }
            @if let Some(v) = t.memory_bandwidth_gbps { li { "Memory bandwidth " (v) " GB/s" } }
            @if let Some(v) = t.io_bandwidth_gbps { li { "I/O bandwidth " (v) " GB/s" } }
            @if let Some(v) = t.die_area_mm2 { li { "Die area " (v) " mm²" } }
        }
    }
}

fn determination(d: &pb::Determination) -> Markup {
    html! {
        @if d.no_rules_in_force { "No rules were in force." }
        @else if d.licence_required { "Licence required, " (policy_words(d.review_policy).to_lowercase()) }
        @else { "No licence required" }
        @if !d.fired_rules.is_empty() {
            ul {
                @for r in &d.fired_rules {
                    li { (r.rule_id) ": " (r.citation) @if !r.matched_criterion.is_empty() { " (" code { (r.matched_criterion) } ")" } }
                }
            }
            (rule_conditions(&d.fired_rules))
        }
    }
}

/// What the applicant certified, as the determinations stored at submission word it: the
/// statements a reviewer may make conditions of the licence.
fn certified_statements(app: &pb::Application) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for check in app
        .lines
        .iter()
        .filter_map(|l| l.determination.as_ref())
        .flat_map(|d| d.fired_rules.iter())
        .flat_map(|f| f.conditions.iter())
        .filter(|c| {
            c.status == pb::ConditionStatus::Met as i32 && c.condition.starts_with("certification:")
        })
    {
        let statement = check
            .explanation
            .strip_prefix("certified: ")
            .unwrap_or(&check.explanation)
            .to_owned();
        if !out.contains(&statement) {
            out.push(statement);
        }
    }
    out
}

/// The conditions of the rules that fired, each judged, in the rule's words.
pub fn rule_conditions(fired: &[pb::FiredRule]) -> Markup {
    let status = |raw: i32| match pb::ConditionStatus::try_from(raw) {
        Ok(pb::ConditionStatus::Met) => "met",
        Ok(pb::ConditionStatus::NotMet) => "not met",
        Ok(pb::ConditionStatus::ToCertify) => "to certify",
        Ok(pb::ConditionStatus::OnLicence) => "on the licence",
        _ => "unknown",
    };
    html! {
        @for r in fired.iter().filter(|r| !r.conditions.is_empty() || !r.description.is_empty()) {
            @if !r.conditions.is_empty() {
                div.scroll {
                table {
                    caption { "Conditions of " (r.rule_id) }
                    thead { tr { th scope="col" { "Condition" } th scope="col" { "Status" } th scope="col" { "Explanation" } } }
                    tbody {
                        @for c in &r.conditions {
                            tr { td { code { (c.condition) } } td { (status(c.status)) } td { (c.explanation) } }
                        }
                    }
                }
                }
            }
        }
    }
}

pub struct LicencesView<'a> {
    pub licences: &'a [pb::Licence],
    pub state: &'a str,
    pub next_page: &'a str,
}

pub fn licences(who: &Session, view: LicencesView<'_>) -> Markup {
    layout(
        "Licences",
        Some(who),
        html! {
            form method="get" action="/licences" aria-label="Filter licences" {
                label for="state" { "State" }
                select id="state" name="state" {
                    option value="" selected[view.state.is_empty()] { "Any" }
                    @for s in ["ACTIVE", "SUSPENDED", "REVOKED", "EXPIRED", "EXHAUSTED", "SURRENDERED"] {
                        option value=(s) selected[view.state == s] { (words(s)) }
                    }
                }
                button type="submit" { "Show licences" }
            }
            div.scroll {
            table {
                caption { (count(view.licences.len(), "licence", "licences")) ", in the order issued" }
                thead { tr { th scope="col" { "Number" } th scope="col" { "Holder" } th scope="col" { "Destination" } th scope="col" { "State" } th scope="col" { "Valid until" } } }
                tbody {
                    @for l in view.licences {
                        tr {
                            td { a href={"/licences/" (l.name.trim_start_matches("licences/"))} { (l.number) } }
                            td { (l.holder.trim_start_matches("organisations/")) }
                            td { (l.destination_country_code) }
                            td { (licence_state(l.state)) }
                            td { (day(l.valid_until_time.as_ref())) }
                        }
                    }
                }
            }
            }
            @if !view.next_page.is_empty() {
                p { a href={"/licences?state=" (url_escape(view.state)) "&page=" (url_escape(view.next_page))} { "Next page of licences" } }
            }
        },
    )
}

fn licence_state(state: i32) -> String {
    pb::LicenceState::try_from(state)
        .map(|s| words(s.as_str_name().trim_start_matches("LICENCE_STATE_")))
        .unwrap_or_default()
}

pub struct LicenceView<'a> {
    pub licence: &'a pb::Licence,
    pub products: &'a HashMap<String, pb::Product>,
    /// A page of the shipments made under it, oldest first; `None` when they cannot be read.
    pub shipments: Option<&'a [pb::Shipment]>,
    /// The token of the next page of shipments, empty on the last.
    pub next_shipments: &'a str,
    pub problem: Option<&'a Problem>,
    pub done: Option<&'a str>,
}

fn shipment_state(state: i32) -> String {
    pb::ShipmentState::try_from(state)
        .map(|s| words(s.as_str_name().trim_start_matches("SHIPMENT_STATE_")))
        .unwrap_or_default()
}

/// Each line of a shipment as "quantity × product".
fn shipped(s: &pb::Shipment, products: &HashMap<String, pb::Product>) -> String {
    s.lines
        .iter()
        .map(|l| {
            let name = products
                .get(&l.product)
                .map_or(l.product.as_str(), |p| p.display_name.as_str());
            format!("{} × {name}", l.quantity)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn licence(who: &Session, view: LicenceView<'_>) -> Markup {
    let l = view.licence;
    let id = l.name.trim_start_matches("licences/");
    let state = pb::LicenceState::try_from(l.state).unwrap_or(pb::LicenceState::Unspecified);
    let form = |action: &str, label: &str, button: &str| {
        html! {
            form method="post" action={"/licences/" (id) "/" (action)} aria-label=(label) {
                input type="hidden" name="csrf" value=(who.csrf);
                input type="hidden" name="etag" value=(l.etag);
                label for={(action) "-reason"} { "Reason for the record" }
                textarea id={(action) "-reason"} name="reason" rows="2" required { }
                button type="submit" { (button) }
            }
        }
    };
    layout(
        &format!("Licence {}", l.number),
        Some(who),
        html! {
            @if let Some(done) = view.done { div.done role="status" { p { (done) } } }
            @if let Some(p) = view.problem { (problem_box(p)) }
            dl {
                dt { "Number" } dd { (l.number) }
                dt { "Holder" } dd { (l.holder.trim_start_matches("organisations/")) }
                dt { "State" } dd { (licence_state(l.state)) }
                dt { "Revision" } dd { (l.revision) }
                dt { "Destination" } dd { (l.destination_country_code) }
                dt { "Valid" } dd { (day(l.valid_from_time.as_ref())) " to " (day(l.valid_until_time.as_ref())) }
                dt { "Application" } dd { a href={"/cases/" (case_id(&l.application))} { "The case that issued it" } }
                dt { "Value tolerance" } dd { (l.value_tolerance_percent) " %" }
            }
            @if !l.conditions.is_empty() { h2 { "Conditions" } ul { @for c in &l.conditions { li { (c) } } } }
            @if !l.shipment_conditions.is_empty() || l.aggregate_cap_percent > 0 {
                h2 { "Terms every shipment meets" }
                ul {
                    @for c in &l.shipment_conditions {
                        @if *c == pb::ShipmentCondition::ThirdPartyTestReport as i32 {
                            li { "A report of an independent third-party testing laboratory in the United States, before export (" (l.terms_citation) ")" }
                        }
                    }
                    @if l.aggregate_cap_percent > 0 {
                        li { "Units under the holder's capped licences at most " (l.aggregate_cap_percent) "% of the units it reported shipping to US customers, per product (" (l.terms_citation) ")" }
                    }
                }
            }
            div.scroll {
            table {
                caption { "Balances" }
                thead { tr { th scope="col" { "Product" } th scope="col" { "Shipped / granted" } th scope="col" { "Remaining" } th scope="col" { "Value remaining" } } }
                tbody {
                    @for line in &l.lines {
                        tr {
                            td { @if let Some(p) = view.products.get(&line.product) { (p.display_name) " (" (p.classification) ")" } @else { (line.product) } }
                            td { (line.granted_quantity - line.remaining_quantity) " / " (line.granted_quantity) }
                            td { (line.remaining_quantity) }
                            td { (money(line.remaining_value.as_ref())) " of " (money(line.granted_value.as_ref())) }
                        }
                    }
                }
            }
            }
            section aria-labelledby="shipments" {
                h2 id="shipments" { "Shipments" }
                @match view.shipments {
                    None => p { "The shipments cannot be read just now; reload the page to try again." },
                    Some([]) => p { "Nothing has shipped under this licence." },
                    Some(shipments) => {
                        div.scroll {
                        table {
                            caption { (count(shipments.len(), "shipment", "shipments")) ", oldest first; cancelled ones gave their quantities back" }
                            thead { tr { th scope="col" { "Shipped" } th scope="col" { "ERP reference" } th scope="col" { "Goods" } th scope="col" { "End user" } th scope="col" { "State" } } }
                            tbody {
                                @for s in shipments {
                                    tr {
                                        td { (when(s.shipment_time.as_ref())) }
                                        td { (s.erp_reference) }
                                        td { (shipped(s, view.products)) }
                                        td { @if let Some(e) = &s.end_user { (e.display_name) " (" (e.country_code) ")" } }
                                        td { (shipment_state(s.state)) @if !s.cancel_reason.is_empty() { ": " (s.cancel_reason) } }
                                    }
                                }
                            }
                        }
                        }
                    }
                }
                @if !view.next_shipments.is_empty() {
                    p { a href={"/licences/" (id) "?shipments=" (url_escape(view.next_shipments))} { "Next page of shipments" } }
                }
            }
            @if who.has_role("senior_reviewer") {
                h2 { "Actions" }
                div.actions {
                    @if state == pb::LicenceState::Active {
                        (form("suspend", "Suspend the licence", "Suspend"))
                        (form("revoke", "Revoke the licence", "Revoke"))
                    }
                    @if state == pb::LicenceState::Suspended {
                        (form("reinstate", "Reinstate the licence", "Reinstate"))
                        (form("revoke", "Revoke the licence", "Revoke"))
                    }
                }
            }
        },
    )
}

/// How the goods move, in words.
fn transaction_words(kind: i32) -> &'static str {
    match pb::TransactionKind::try_from(kind) {
        Ok(pb::TransactionKind::Reexport) => "Reexport",
        Ok(pb::TransactionKind::ExportFromAbroad) => "Export from abroad",
        Ok(pb::TransactionKind::InCountryTransfer) => "In-country transfer",
        _ => "Export from the United States",
    }
}
