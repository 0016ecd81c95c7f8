//! The rules pages: the published rule-set versions and which are in force on a date, one
//! version's rules, a what-if determination, and the impact of a draft before it is published.
//! Like every page, they only read through the services: which versions are in force on a day
//! is what the policy service consults for a determination on that day.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use clearance_proto::v1 as pb;
use maud::{Markup, html};

use crate::pages::{count, layout, policy_words as policy, problem_box, url_escape, when, words};
use crate::problem::Problem;
use crate::session::Session;
use crate::{
    Console, Shared, SignedIn, check_csrf, date_field, html, number, resource_name, status_of,
    status_of_answer,
};

/// The most versions listed (every key's history; a regulator publishes a few a year).
const MAX_VERSIONS: usize = 1000;
/// The most impact pages read for one draft (of up to 1000 records each).
const MAX_IMPACT_PAGES: usize = 50;

/// The first page of every version, or why not.
async fn all_versions(console: &Console, session: &Session) -> Result<Vec<pb::RuleSet>, Problem> {
    let mut client = console.policies(session);
    let mut versions = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_rule_sets(pb::ListRuleSetsRequest {
                page_size: 100,
                page_token,
                filter: String::new(),
            })
            .await
            .map_err(|s| Problem::from_status(&s))?
            .into_inner();
        versions.extend(page.rule_sets);
        if page.next_page_token.is_empty() || versions.len() >= MAX_VERSIONS {
            return Ok(versions);
        }
        page_token = page.next_page_token;
    }
}

/// An item no rule is about, to ask which versions are consulted on a day.
fn any_item() -> pb::Product {
    pb::Product {
        classification: "EAR99".into(),
        parameters: Some(pb::TechnicalParameters {
            total_processing_performance: Some(0),
            die_area_mm2: Some(1),
            memory_bandwidth_gbps: Some(0),
            io_bandwidth_gbps: Some(0),
            performance_density: 0.0,
        }),
        ..Default::default()
    }
}

#[derive(serde::Deserialize, Default)]
pub struct RulesQuery {
    /// The day to show the versions in force on (YYYY-MM-DD); today when blank.
    #[serde(default)]
    on: String,
}

pub async fn rules(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Query(q): Query<RulesQuery>,
) -> Response {
    let mut problem = Problem::new("Some of what you entered needs correcting.", 422);
    let form = HashMap::from([("on".to_owned(), q.on.clone())]);
    let at = date_field(&form, "on", &mut problem);
    let versions = match all_versions(&console, &session).await {
        Ok(v) => v,
        Err(p) => {
            return html(
                status_of(&p),
                crate::pages::problem_page("Rules", Some(&session), &p),
            );
        }
    };
    let in_force = if problem.fields.is_empty() {
        console
            .policies(&session)
            .determine(pb::DetermineRequest {
                product: Some(any_item()),
                destination_country_code: "US".into(),
                end_user_headquarters_country_code: String::new(),
                export_time: at,
                transaction_kind: pb::TransactionKind::Export as i32,
                certifications: None,
            })
            .await
            .map(|r| r.into_inner())
            .map_err(|s| Problem::from_status(&s))
    } else {
        Err(problem)
    };
    html(
        status_of_answer(&in_force),
        rules_page(&session, &versions, &q.on, in_force),
    )
}

fn rules_page(
    who: &Session,
    versions: &[pb::RuleSet],
    on: &str,
    in_force: Result<pb::Determination, Problem>,
) -> Markup {
    let consulted: Vec<&str> = match &in_force {
        Ok(d) => d.consulted.iter().map(|c| c.rule_set.as_str()).collect(),
        Err(_) => Vec::new(),
    };
    let day = match &in_force {
        Ok(d) => crate::pages::day(d.export_time.as_ref()),
        Err(_) => String::new(),
    };
    layout(
        "Rules",
        Some(who),
        html! {
            @if let Err(p) = &in_force { (problem_box(p)) }
            form method="get" action="/rules" aria-label="Versions in force on a day" {
                label for="on" { "Show the versions in force on (YYYY-MM-DD; blank for now)" }
                @if let Some(e) = in_force.as_ref().err().and_then(|p| p.field("on")) { span.error id="on-error" { (e) } }
                input type="date" id="on" name="on" value=(on);
                button type="submit" { "Show" }
            }
            @if let Ok(d) = &in_force {
                @if d.no_rules_in_force {
                    p role="status" { strong { "No rule set was in force on " (day) "." } " A determination for that day would neither require a licence nor say that none is needed." }
                } @else {
                    p role="status" { (count(consulted.len(), "version", "versions")) " in force on " (day) ", marked below." }
                }
            }
            p {
                a href="/rules/determine" { "What-if determination" }
                @if who.has_role("policy_admin") { " · " a href="/rules/impact" { "Impact of a draft" } }
            }
            div.scroll {
            table {
                caption { (count(versions.len(), "published version", "published versions")) }
                thead { tr {
                    th scope="col" { "Rule set" } th scope="col" { "Version" } th scope="col" { "Citation" }
                    th scope="col" { "In effect from" } th scope="col" { "Expires" } th scope="col" { "Rules" }
                    th scope="col" { "Published" } th scope="col" { "In force on " (day) }
                } }
                tbody {
                    @for v in versions {
                        tr {
                            td { a href={"/rules/" (v.name.trim_start_matches("ruleSets/"))} { (v.display_name) } br; span.muted { (v.key) } }
                            td { (v.version) @if v.illustrative { br; span.muted { "illustrative" } } }
                            td { (v.citation) }
                            td { (when(v.effective_time.as_ref())) }
                            td { @if v.expire_time.is_some() { (when(v.expire_time.as_ref())) } @else { "when the next version takes effect" } }
                            td { (v.rules.len()) }
                            td { (when(v.publish_time.as_ref())) br; span.muted { (v.publisher) } }
                            td { @if consulted.contains(&v.name.as_str()) { strong { "In force" } } @else { "—" } }
                        }
                    }
                }
            }
            }
        },
    )
}

pub async fn rule_set(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
) -> Response {
    let name = match resource_name(&session, "ruleSets", &id) {
        Ok(n) => n,
        Err(r) => return r,
    };
    match console
        .policies(&session)
        .get_rule_set(pb::GetRuleSetRequest { name })
        .await
    {
        Ok(r) => html(StatusCode::OK, rule_set_page(&session, &r.into_inner())),
        Err(status) => {
            let p = Problem::from_status(&status);
            html(
                status_of(&p),
                crate::pages::problem_page("Rule set", Some(&session), &p),
            )
        }
    }
}

fn destinations(d: Option<&pb::Destinations>) -> String {
    let Some(d) = d else {
        return String::new();
    };
    [
        ("to", &d.country_codes, &d.country_groups),
        (
            "except",
            &d.excluded_country_codes,
            &d.excluded_country_groups,
        ),
        (
            "or for end users headquartered in",
            &d.end_user_headquarters_country_codes,
            &d.end_user_headquarters_country_groups,
        ),
    ]
    .into_iter()
    .filter_map(|(words, codes, groups)| {
        let listed: Vec<&str> = codes.iter().chain(groups).map(String::as_str).collect();
        (!listed.is_empty()).then(|| format!("{words} {}", listed.join(", ")))
    })
    .collect::<Vec<_>>()
    .join("; ")
}

/// The transaction kinds a rule is limited to, in words.
fn transaction_kinds(kinds: &[i32]) -> String {
    let words: Vec<&str> = kinds
        .iter()
        .map(|k| match pb::TransactionKind::try_from(*k) {
            Ok(pb::TransactionKind::Export) => "exports from the United States",
            Ok(pb::TransactionKind::Reexport) => "reexports",
            Ok(pb::TransactionKind::ExportFromAbroad) => "exports from abroad",
            Ok(pb::TransactionKind::InCountryTransfer) => "in-country transfers",
            _ => "other transactions",
        })
        .collect();
    format!("only {}", words.join(", "))
}

fn rule_set_page(who: &Session, v: &pb::RuleSet) -> Markup {
    layout(
        &format!("{} v{}", v.display_name, v.version),
        Some(who),
        html! {
            dl {
                dt { "Key" } dd { (v.key) }
                dt { "Version" } dd { (v.version) }
                dt { "Citation" } dd { (v.citation) }
                dt { "Source" } dd { (v.source) }
                dt { "In effect from" } dd { (when(v.effective_time.as_ref())) }
                dt { "Expires" } dd { @if v.expire_time.is_some() { (when(v.expire_time.as_ref())) } @else { "when the next version takes effect" } }
                dt { "Published" } dd { (when(v.publish_time.as_ref())) " by " (v.publisher) }
                @if v.illustrative { dt { "Note" } dd { "Illustrative data with sources, not legal advice." } }
            }
            @if who.has_role("policy_admin") {
                p { a href={"/rules/impact?from=" (url_escape(v.name.trim_start_matches("ruleSets/")))} { "Analyse a draft based on this version" } }
            }
            div.scroll {
            table {
                caption { (count(v.rules.len(), "rule", "rules")) }
                thead { tr {
                    th scope="col" { "Rule" } th scope="col" { "Classifications" } th scope="col" { "Criterion" }
                    th scope="col" { "Where" } th scope="col" { "Licence" } th scope="col" { "Review policy" }
                } }
                tbody {
                    @for r in &v.rules {
                        tr {
                            td { strong { (r.rule_id) } br; (r.description) br; span.muted { (r.citation) } }
                            td { @if r.classifications.is_empty() { "any" } @else { (r.classifications.join(", ")) } }
                            td { code { (r.criterion) } }
                            td {
                                (destinations(r.destinations.as_ref()))
                                @if !r.transaction_kinds.is_empty() { br; (transaction_kinds(&r.transaction_kinds)) }
                            }
                            td { @if r.licence_required { "required" } @else { "not required" } }
                            td { (policy(r.review_policy)) }
                        }
                    }
                }
            }
            }
            p { a href="/rules" { "Every version" } }
        },
    )
}

/// The what-if form's fields, as sent (a GET form: it changes nothing).
#[derive(serde::Deserialize, Default)]
pub struct WhatIf {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

const WHAT_IF_NUMBERS: &[(&str, &str, &str)] = &[
    (
        "tpp",
        "total_processing_performance",
        "Total processing performance (TPP)",
    ),
    ("die_area_mm2", "die_area_mm2", "Applicable die area (mm²)"),
    (
        "memory_bandwidth_gbps",
        "memory_bandwidth_gbps",
        "Memory bandwidth (GB/s)",
    ),
    (
        "io_bandwidth_gbps",
        "io_bandwidth_gbps",
        "I/O bandwidth (GB/s)",
    ),
];

/// Where the service's field names for the what-if's inputs are shown on the form.
/// The transactions a what-if may ask about: the form's value, the kind, the words.
const TRANSACTION_KINDS: [(&str, pb::TransactionKind, &str); 4] = [
    (
        "export",
        pb::TransactionKind::Export,
        "Export from the United States",
    ),
    ("reexport", pb::TransactionKind::Reexport, "Reexport"),
    (
        "export-from-abroad",
        pb::TransactionKind::ExportFromAbroad,
        "Export from abroad",
    ),
    (
        "in-country-transfer",
        pb::TransactionKind::InCountryTransfer,
        "In-country transfer",
    ),
];

fn form_field(service_field: &str) -> String {
    let field = service_field.trim_start_matches("product.");
    let field = field.trim_start_matches("parameters.");
    match field {
        "total_processing_performance" => "tpp".into(),
        "destination_country_code" => "destination".into(),
        "end_user_headquarters_country_code" => "headquarters".into(),
        "export_time" => "on".into(),
        "transaction_kind" => "transaction".into(),
        "product.us_commercially_available_since" => "us_since".into(),
        other => other.into(),
    }
}

pub async fn what_if(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Query(q): Query<WhatIf>,
) -> Response {
    let form = q.fields;
    // A first visit shows the empty form.
    if !form.contains_key("classification") {
        return html(StatusCode::OK, what_if_page(&session, &form, None));
    }
    let mut problem = Problem::new("Some of what you entered needs correcting.", 422);
    let mut parameters = pb::TechnicalParameters::default();
    for (field, _, _) in WHAT_IF_NUMBERS {
        let value = number::<i64>(&form, field, &mut problem);
        match *field {
            "tpp" => parameters.total_processing_performance = value,
            "die_area_mm2" => parameters.die_area_mm2 = value,
            "memory_bandwidth_gbps" => parameters.memory_bandwidth_gbps = value,
            _ => parameters.io_bandwidth_gbps = value,
        }
    }
    let at = date_field(&form, "on", &mut problem);
    let text = |f: &str| form.get(f).map(|s| s.trim().to_owned()).unwrap_or_default();
    let answer = if problem.fields.is_empty() {
        console
            .policies(&session)
            .determine(pb::DetermineRequest {
                product: Some(pb::Product {
                    classification: text("classification"),
                    datacenter: form.get("datacenter").map(String::as_str) == Some("true"),
                    parameters: Some(parameters),
                    us_commercially_available_since: text("us_since"),
                    ..Default::default()
                }),
                destination_country_code: text("destination").to_uppercase(),
                end_user_headquarters_country_code: text("headquarters").to_uppercase(),
                export_time: at,
                transaction_kind: TRANSACTION_KINDS
                    .iter()
                    .find(|(value, _, _)| *value == text("transaction"))
                    .map_or(pb::TransactionKind::Export, |(_, kind, _)| *kind)
                    as i32,
                certifications: None,
            })
            .await
            .map(|r| r.into_inner())
            .map_err(|s| {
                let mut p = Problem::from_status(&s);
                p.fields = p
                    .fields
                    .into_iter()
                    .map(|(f, d)| (form_field(&f), d))
                    .collect();
                p
            })
    } else {
        Err(problem)
    };
    html(
        status_of_answer(&answer),
        what_if_page(&session, &form, Some(answer)),
    )
}

fn what_if_page(
    who: &Session,
    form: &HashMap<String, String>,
    answer: Option<Result<pb::Determination, Problem>>,
) -> Markup {
    let value = |f: &str| form.get(f).cloned().unwrap_or_default();
    let problem = answer.as_ref().and_then(|a| a.as_ref().err());
    let error = |f: &str| problem.and_then(|p| p.field(f)).map(str::to_owned);
    layout(
        "What-if determination",
        Some(who),
        html! {
            p { "Whether an item would need a licence to a destination under the rules in force on a day. Nothing is recorded." }
            @if let Some(p) = problem { (problem_box(p)) }
            @if let Some(Ok(d)) = &answer { (determination(d)) }
            form method="get" action="/rules/determine" aria-label="What-if determination" {
                label for="classification" { "Classification (ECCN, e.g. 3A090.a, or EAR99)" }
                @if let Some(e) = error("classification") { span.error id="classification-error" { (e) } }
                input type="text" id="classification" name="classification" required value=(value("classification"));
                div {
                    input type="checkbox" id="datacenter" name="datacenter" value="true" checked[value("datacenter") == "true"];
                    label.inline for="datacenter" { "Designed or marketed for datacenters" }
                }
                @for (field, _, label) in WHAT_IF_NUMBERS {
                    label for=(field) { (label) }
                    @if let Some(e) = error(field) { span.error id={(field) "-error"} { (e) } }
                    input type="text" inputmode="numeric" id=(field) name=(field) required value=(value(field));
                }
                label for="us_since" { "Commercially available in the United States since (YYYY-MM-DD; blank if not)" }
                @if let Some(e) = error("us_since") { span.error id="us_since-error" { (e) } }
                input type="date" id="us_since" name="us_since" value=(value("us_since"));
                label for="destination" { "Destination country (ISO code, e.g. CN)" }
                @if let Some(e) = error("destination") { span.error id="destination-error" { (e) } }
                input type="text" id="destination" name="destination" required maxlength="2" value=(value("destination"));
                label for="headquarters" { "End user's headquarters country (optional)" }
                @if let Some(e) = error("headquarters") { span.error id="headquarters-error" { (e) } }
                input type="text" id="headquarters" name="headquarters" maxlength="2" value=(value("headquarters"));
                label for="transaction" { "Transaction" }
                select id="transaction" name="transaction" {
                    @for (option, _, words) in TRANSACTION_KINDS {
                        option value=(option) selected[value("transaction") == *option] { (words) }
                    }
                }
                label for="on" { "On (YYYY-MM-DD; blank for now)" }
                @if let Some(e) = error("on") { span.error id="on-error" { (e) } }
                input type="date" id="on" name="on" value=(value("on"));
                button type="submit" { "Determine" }
            }
            p { a href="/rules" { "Every version" } }
        },
    )
}

fn determination(d: &pb::Determination) -> Markup {
    html! {
        section.done role="status" aria-labelledby="answer" {
            h2 id="answer" {
                @if d.no_rules_in_force { "No rule set was in force then" }
                @else if d.licence_required { "A licence is required: " (policy(d.review_policy)) }
                @else { "No licence required" }
            }
            p { "Under the rules in force on " (when(d.export_time.as_ref())) ": "
                @if d.consulted.is_empty() { "none." }
                @else { (d.consulted.iter().map(|c| format!("{} v{}", c.key, c.version)).collect::<Vec<_>>().join(", ")) "." }
            }
            @if !d.fired_rules.is_empty() {
                div.scroll {
                table {
                    caption { "Rules that caught the item" }
                    thead { tr { th scope="col" { "Rule" } th scope="col" { "Citation" } th scope="col" { "Because" } th scope="col" { "Licence" } th scope="col" { "Review policy" } } }
                    tbody {
                        @for f in &d.fired_rules {
                            tr {
                                td { (f.rule_id) @if let Some(v) = &f.rule_set { br; span.muted { (v.key) " v" (v.version) } } }
                                td { (f.citation) }
                                td { code { (f.matched_criterion) } }
                                td { @if f.licence_required { "required" } @else { "not required" } }
                                td { (policy(f.review_policy)) }
                            }
                        }
                    }
                }
                }
                (crate::pages::rule_conditions(&d.fired_rules))
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ImpactQuery {
    /// A published version to start the draft from.
    #[serde(default)]
    from: String,
}

/// The draft form, started from a published version when one is named.
pub async fn impact_form(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Query(q): Query<ImpactQuery>,
) -> Response {
    let mut draft = String::new();
    if !q.from.is_empty() {
        let name = match resource_name(&session, "ruleSets", &q.from) {
            Ok(n) => n,
            Err(r) => return r,
        };
        match console
            .policies(&session)
            .get_rule_set(pb::GetRuleSetRequest { name })
            .await
        {
            Ok(r) => draft = draft_json(r.into_inner()),
            Err(status) => {
                let p = Problem::from_status(&status);
                return html(
                    status_of(&p),
                    crate::pages::problem_page("Impact of a draft", Some(&session), &p),
                );
            }
        }
    }
    html(StatusCode::OK, impact_page(&session, &draft, None))
}

/// A published version as the JSON a draft starts from: what publishing assigns left out,
/// and taking effect at the start of tomorrow (UTC), since a new version follows the latest.
fn draft_json(mut published: pb::RuleSet) -> String {
    published.name.clear();
    published.version = 0;
    published.publish_time = None;
    published.publisher.clear();
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    published.effective_time = tomorrow
        .and_hms_opt(0, 0, 0)
        .map(|t| prost_types::Timestamp {
            seconds: t.and_utc().timestamp(),
            nanos: 0,
        });
    clearance_proto::json::to_json(&published, "clearance.v1.RuleSet")
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_default()
}

/// What the analysis found, over every page the service gave.
struct Impact {
    impacted: Vec<pb::ImpactedResource>,
    lines_examined: i64,
    /// The service had more pages than were read.
    cut_short: bool,
}

pub async fn impact(
    State(console): Shared,
    SignedIn(session): SignedIn,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(r) = check_csrf(&session, &form) {
        return r;
    }
    let draft = form.get("draft").cloned().unwrap_or_default();
    let rule_set: pb::RuleSet =
        match clearance_proto::json::from_json(&draft, "clearance.v1.RuleSet") {
            Ok(r) => r,
            Err(e) => {
                let mut p = Problem::new("Some of what you entered needs correcting.", 422);
                let reason: String = e.0.chars().take(120).collect();
                p.fields.push((
                    "draft".into(),
                    format!("this is not a rule set in JSON: {reason}"),
                ));
                return html(
                    status_of(&p),
                    impact_page(&session, &draft, Some(Err(p.clone()))),
                );
            }
        };
    let mut client = console.policies(&session);
    let mut found = Impact {
        impacted: Vec::new(),
        lines_examined: 0,
        cut_short: false,
    };
    let mut page_token = String::new();
    for page in 0.. {
        if page == MAX_IMPACT_PAGES {
            found.cut_short = true;
            break;
        }
        match client
            .analyze_impact(pb::AnalyzeImpactRequest {
                rule_set: Some(rule_set.clone()),
                page_size: 1000,
                page_token,
            })
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                found.impacted.extend(r.impacted);
                found.lines_examined += r.lines_examined;
                if r.next_page_token.is_empty() {
                    break;
                }
                page_token = r.next_page_token;
            }
            Err(status) => {
                let p = Problem::from_status(&status);
                return html(
                    status_of(&p),
                    impact_page(&session, &draft, Some(Err(p.clone()))),
                );
            }
        }
    }
    html(
        StatusCode::OK,
        impact_page(&session, &draft, Some(Ok(found))),
    )
}

fn impact_kind(kind: i32) -> String {
    pb::ImpactKind::try_from(kind)
        .map(|k| words(k.as_str_name().trim_start_matches("IMPACT_KIND_")))
        .unwrap_or_default()
}

fn outcome(d: Option<&pb::Determination>) -> String {
    match d {
        None => "—".into(),
        Some(d) if d.no_rules_in_force => "no rules in force".into(),
        Some(d) if d.licence_required => format!("licence required ({})", policy(d.review_policy)),
        Some(_) => "no licence required".into(),
    }
}

/// Where an impacted record is seen in the console.
fn record_link(resource: &str) -> Option<String> {
    let (collection, id) = resource.split_once('/')?;
    match collection {
        "applications" => Some(format!("/cases/{id}")),
        "licences" => Some(format!("/licences/{id}")),
        _ => None,
    }
}

fn impact_page(who: &Session, draft: &str, result: Option<Result<Impact, Problem>>) -> Markup {
    let problem = result.as_ref().and_then(|r| r.as_ref().err());
    layout(
        "Impact of a draft",
        Some(who),
        html! {
            p { "What a draft rule set would change for pending applications, active licences and the last 90 days' shipments, before it is published. Nothing is stored. A draft started from a published version takes effect from tomorrow; edit it as you need." }
            @if let Some(p) = problem { (problem_box(p)) }
            @if let Some(Ok(found)) = &result {
                section.done role="status" aria-labelledby="impact" {
                    h2 id="impact" { (count(found.impacted.len(), "record would change", "records would change")) }
                    p { (found.lines_examined) " lines examined."
                        @if found.cut_short { strong { " Only the first " (MAX_IMPACT_PAGES * 1000) " records were analysed; use clearancectl rules impact for the rest." } } }
                    @if !found.impacted.is_empty() {
                        div.scroll {
                        table {
                            caption { "What would change" }
                            thead { tr { th scope="col" { "Record" } th scope="col" { "Holder" } th scope="col" { "Change" } th scope="col" { "Now" } th scope="col" { "Under the draft" } } }
                            tbody {
                                @for i in &found.impacted {
                                    tr {
                                        td { @if let Some(href) = record_link(&i.resource) { a href=(href) { (i.resource) } } @else { (i.resource) } " " (i.line) }
                                        td { (i.owner.trim_start_matches("organisations/")) }
                                        td { (impact_kind(i.kind)) ": " (i.summary) }
                                        td { (outcome(i.before.as_ref())) }
                                        td { (outcome(i.after.as_ref())) }
                                    }
                                }
                            }
                        }
                        }
                    }
                }
            }
            form method="post" action="/rules/impact" aria-label="Analyse a draft" {
                input type="hidden" name="csrf" value=(who.csrf);
                label for="draft" { "The draft rule set, as JSON (clearance.v1.RuleSet, as clearancectl rules publish takes it)" }
                @if let Some(e) = problem.and_then(|p| p.field("draft")) { span.error id="draft-error" { (e) } }
                textarea id="draft" name="draft" rows="20" required spellcheck="false" { (draft) }
                button type="submit" { "Analyse the draft" }
            }
            p { a href="/rules" { "Every version" } }
        },
    )
}
