//! Readable one-line and detail views.

use clearance_proto::v1 as pb;

fn enum_name(name: Option<&str>, prefix: &str) -> String {
    name.map(|n| n.trim_start_matches(prefix).to_owned())
        .unwrap_or_default()
}

fn date(t: &Option<prost_types::Timestamp>) -> String {
    t.as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|t| t.date_naive().to_string())
        .unwrap_or_else(|| "-".into())
}

pub fn product(p: &pb::Product) -> String {
    let t = p.parameters.unwrap_or_default();
    format!(
        "{}  {}  {}  {}  TPP {}  die {} mm²  memory {} GB/s  I/O {} GB/s{}",
        p.name,
        p.display_name,
        p.part_number,
        p.classification,
        t.total_processing_performance.unwrap_or_default(),
        t.die_area_mm2.unwrap_or_default(),
        t.memory_bandwidth_gbps.unwrap_or_default(),
        t.io_bandwidth_gbps.unwrap_or_default(),
        if p.datacenter { "  datacenter" } else { "" },
    ) + &if p.us_commercially_available_since.is_empty() {
        String::new()
    } else {
        format!(
            "  sold in the US since {}",
            p.us_commercially_available_since
        )
    }
}

pub fn us_report(r: &pb::UsShipmentReport) -> String {
    format!(
        "{}  {} unit(s) shipped to US customers, reported by {} on {}",
        r.product,
        r.units_shipped,
        r.reported_by,
        date(&r.report_time)
    )
}

pub fn application(a: &pb::Application) -> String {
    let state = enum_name(
        pb::ApplicationState::try_from(a.state)
            .ok()
            .map(|s| s.as_str_name()),
        "APPLICATION_STATE_",
    );
    let units: i64 = a.lines.iter().map(|l| l.quantity).sum();
    let mut out = format!(
        "{}  {}  {}  to {}  {} line(s), {} unit(s)",
        a.name,
        a.reference,
        state,
        if a.destination_country_code.is_empty() {
            "?"
        } else {
            &a.destination_country_code
        },
        a.lines.len(),
        units
    );
    // Exports from the United States are the usual case; other kinds are said.
    let kind = pb::TransactionKind::try_from(a.transaction_kind).ok();
    if let Some(kind) = kind.filter(|k| {
        !matches!(
            k,
            pb::TransactionKind::Export | pb::TransactionKind::Unspecified
        )
    }) {
        out.push_str(&format!(
            "  ({})",
            enum_name(Some(kind.as_str_name()), "TRANSACTION_KIND_").to_lowercase()
        ));
    }
    for (n, r) in a.information_requests.iter().enumerate() {
        if r.answer.is_empty() {
            out.push_str(&format!(
                "\n  RFI {} open: {} (answer due {}; answer with --rfi {})",
                n + 1,
                r.question,
                date(&r.response_due_time),
                n + 1
            ));
        } else {
            out.push_str(&format!("\n  RFI {} answered: {}", n + 1, r.question));
        }
    }
    for n in &a.notes {
        out.push_str(&format!("\n  note by {}: {}", n.author, n.text));
    }
    if let Some(amendment) = &a.amendment {
        out.push_str(&format!(
            "\n  amends {}: {}",
            amendment.licence, amendment.reasons
        ));
    }
    for appeal in &a.appeals {
        out.push_str(&format!("\n  {}", appeal_line(appeal)));
    }
    out
}

/// "appeal filed 2026-01-05, due 2026-02-02: OVERTURNED 2026-01-16 (reason)".
fn appeal_line(a: &pb::Appeal) -> String {
    let outcome = match pb::AppealOutcome::try_from(a.outcome) {
        Ok(pb::AppealOutcome::Upheld) => "denial UPHELD",
        Ok(pb::AppealOutcome::Overturned) => "denial OVERTURNED",
        _ if a.overdue => "open, OVERDUE",
        _ => "open",
    };
    let mut line = format!(
        "appeal filed {}, due {}: {outcome}",
        date(&a.file_time),
        date(&a.due_time)
    );
    if a.decide_time.is_some() {
        line.push_str(&format!(" on {}", date(&a.decide_time)));
        if !a.decided_by.is_empty() {
            line.push_str(&format!(" by {}", a.decided_by));
        }
        line.push_str(&format!(" ({})", a.decision_reason));
    }
    line.push_str(&format!("; grounds: {}", a.grounds));
    line
}

fn advice_kind(kind: i32) -> &'static str {
    match pb::AdviceKind::try_from(kind) {
        Ok(pb::AdviceKind::Approve) => "approve",
        Ok(pb::AdviceKind::ApproveWithProvisos) => "approve with provisos",
        Ok(pb::AdviceKind::Refuse) => "REFUSE",
        Ok(pb::AdviceKind::NoLicenceRequired) => "no licence required",
        _ => "?",
    }
}

fn referral_state(r: &pb::Referral) -> &'static str {
    if !r.advice.is_empty() {
        "advised"
    } else if r.overdue {
        "OVERDUE"
    } else {
        "outstanding"
    }
}

/// The advice on a referral, one line per referred line.
fn advice_lines(r: &pb::Referral, indent: &str) -> Vec<String> {
    let mut out = Vec::new();
    if r.advice.is_empty() {
        return out;
    }
    out.push(format!(
        "{indent}advised by {} on {}:",
        r.adviser,
        date(&r.advice_time)
    ));
    for a in &r.advice {
        let text = if a.text.is_empty() {
            String::new()
        } else {
            format!(": {}", a.text)
        };
        out.push(format!(
            "{indent}  line {}: {}{text}",
            a.line_number,
            advice_kind(a.kind)
        ));
    }
    out
}

fn line_numbers(numbers: &[i32]) -> String {
    numbers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A referral as its agency reads it: the case as referred, the due date and the advice.
pub fn referral(r: &pb::Referral) -> String {
    let mut out = vec![format!(
        "{}  {}  {}  due {}  etag {}",
        r.name,
        r.agency,
        referral_state(r),
        date(&r.due_time),
        r.etag
    )];
    match &r.application {
        Some(a) => {
            out.push(format!(
                "  case {} from {} to {}: {}, {}",
                a.reference,
                organisation(&a.applicant),
                a.destination_country_code,
                goods(&a.lines),
                total_value(&a.lines)
            ));
            out.push(format!("  end use: {}", a.end_use_statement));
            for (i, l) in a.lines.iter().enumerate() {
                let referred = r.line_numbers.contains(&i32::try_from(i + 1).unwrap_or(0));
                out.push(format!(
                    "  line {}{}: {}  {} units × {}",
                    i + 1,
                    if referred { " (referred)" } else { "" },
                    l.product,
                    l.quantity,
                    money(l.unit_value.as_ref())
                ));
            }
        }
        None => out.push(format!(
            "  case {}, lines {}",
            r.case,
            line_numbers(&r.line_numbers)
        )),
    }
    out.extend(advice_lines(r, "  "));
    out.join("\n")
}

pub fn referrals_table(referrals: &[pb::Referral]) -> String {
    let rows = referrals
        .iter()
        .map(|r| {
            vec![
                r.application
                    .as_ref()
                    .map_or_else(|| r.case.clone(), |a| a.reference.clone()),
                r.agency.clone(),
                line_numbers(&r.line_numbers),
                date(&r.due_time),
                referral_state(r).to_owned(),
                r.name.clone(),
            ]
        })
        .collect();
    table(
        &["CASE", "AGENCY", "LINES", "DUE", "STATE", "REFERRAL"],
        rows,
        "no referrals match",
    )
}

pub fn case(c: &pb::Case) -> String {
    let a = c.application.clone().unwrap_or_default();
    let clock = c.clock.unwrap_or_default();
    let mut out = application(&a);
    out.push_str(&format!(
        "\n  assignee {}  due {}  {} of {} working days{}{}  etag {}",
        if c.assignee.is_empty() {
            "-"
        } else {
            &c.assignee
        },
        date(&clock.due_time),
        clock.elapsed_working_days,
        clock.target_working_days,
        if clock.paused { "  (clock paused)" } else { "" },
        if clock.overdue { "  OVERDUE" } else { "" },
        c.etag,
    ));
    for p in &c.proposals {
        let state = enum_name(
            pb::ProposalState::try_from(p.state)
                .ok()
                .map(|s| s.as_str_name()),
            "PROPOSAL_STATE_",
        );
        out.push_str(&format!(
            "\n  proposal by {}: {} ({state}) {}",
            p.proposer,
            if p.approve { "approve" } else { "deny" },
            p.reason
        ));
    }
    out
}

pub fn licence(l: &pb::Licence) -> String {
    let state = enum_name(
        pb::LicenceState::try_from(l.state)
            .ok()
            .map(|s| s.as_str_name()),
        "LICENCE_STATE_",
    );
    let mut out = format!(
        "{}  {} (revision {})  {}  holder {}  to {}  valid {} to {}  etag {}",
        l.name,
        l.number,
        l.revision,
        state,
        l.holder.strip_prefix("organisations/").unwrap_or(&l.holder),
        l.destination_country_code,
        date(&l.valid_from_time),
        date(&l.valid_until_time),
        l.etag
    );
    for line in &l.lines {
        out.push_str(&format!(
            "\n  {}  used {} of {} units, {} remaining of {}",
            line.product,
            line.granted_quantity - line.remaining_quantity,
            line.granted_quantity,
            money(line.remaining_value.as_ref()),
            money(line.granted_value.as_ref()),
        ));
    }
    for c in &l.conditions {
        out.push_str(&format!("\n  condition: {c}"));
    }
    for c in &l.shipment_conditions {
        let name = enum_name(
            pb::ShipmentCondition::try_from(*c)
                .ok()
                .map(|c| c.as_str_name()),
            "SHIPMENT_CONDITION_",
        );
        out.push_str(&format!(
            "\n  every shipment needs: {name} ({})",
            l.terms_citation
        ));
    }
    if l.aggregate_cap_percent > 0 {
        out.push_str(&format!(
            "\n  aggregate cap: units under capped licences at most {}% of the US units reported, per product ({})",
            l.aggregate_cap_percent, l.terms_citation
        ));
    }
    out
}

/// Money for people: `USD 1,200,000.00`.
pub fn money(m: Option<&pb::Money>) -> String {
    m.map_or_else(
        || "-".into(),
        |m| clearance_contract::money::format_money(&m.currency_code, m.minor_units),
    )
}

/// One of three answers: no licence required (under which rule sets), covered by a licence
/// (and what it keeps after), or blocked (why each licence does not cover).
pub fn shipment_check(
    r: &pb::CheckShipmentResponse,
    shipment: &pb::Shipment,
    covering: Option<&pb::Licence>,
) -> String {
    if r.determinations.iter().any(|d| d.no_rules_in_force) {
        return "NO RULES IN FORCE on the shipment date: ask your compliance team before shipping"
            .into();
    }
    if !r.licence_required {
        let mut consulted: Vec<String> = r
            .determinations
            .iter()
            .flat_map(|d| d.consulted.iter())
            .map(|v| format!("{} v{}", v.key, v.version))
            .collect();
        consulted.sort();
        consulted.dedup();
        let under = if consulted.is_empty() {
            "no rule set in force".to_owned()
        } else {
            consulted.join(", ")
        };
        return format!("NO LICENCE REQUIRED: may ship (rules consulted: {under})");
    }
    if let Some(licence) = covering {
        let mut out = format!("COVERED by licence {}", licence.number);
        for line in &licence.lines {
            let (quantity, value) = shipment
                .lines
                .iter()
                .filter(|s| s.product == line.product)
                .fold((0i64, 0i64), |(q, v), s| {
                    (
                        q.saturating_add(s.quantity),
                        v.saturating_add(s.value.as_ref().map_or(0, |m| m.minor_units)),
                    )
                });
            if quantity == 0 {
                continue;
            }
            let currency = line
                .remaining_value
                .as_ref()
                .map_or("", |m| m.currency_code.as_str());
            let remaining_value = line
                .remaining_value
                .as_ref()
                .map_or(0, |m| m.minor_units)
                .saturating_sub(value);
            out.push_str(&format!(
                "\n  {}  after this shipment: {} of {} units, {} remaining",
                line.product,
                line.remaining_quantity.saturating_sub(quantity),
                line.granted_quantity,
                clearance_contract::money::format_money(currency, remaining_value),
            ));
        }
        return out;
    }
    let mut out =
        "BLOCKED: a licence is required and none of yours covers this shipment".to_owned();
    if r.assessments.is_empty() {
        out.push_str("\n  you hold no licence to this destination");
    }
    for a in &r.assessments {
        for p in &a.problems {
            out.push_str(&format!(
                "\n  {}: {} ({})",
                a.licence, p.description, p.reason
            ));
        }
    }
    out
}

pub fn shipment(s: &pb::Shipment) -> String {
    let state = enum_name(
        pb::ShipmentState::try_from(s.state)
            .ok()
            .map(|x| x.as_str_name()),
        "SHIPMENT_STATE_",
    );
    let units: i64 = s.lines.iter().map(|l| l.quantity).sum();
    format!(
        "{}  {}  to {}  {} unit(s)  {}",
        s.name,
        state,
        s.destination_country_code,
        units,
        if s.no_licence_required {
            "NLR".to_owned()
        } else {
            s.licence.clone()
        }
    )
}

pub fn determination(d: &pb::Determination) -> String {
    if d.no_rules_in_force {
        return format!(
            "no rules in force on {}: the rules neither require a licence nor say none is needed",
            date(&d.export_time)
        );
    }
    if !d.licence_required {
        return "no licence required".into();
    }
    let policy = enum_name(
        pb::ReviewPolicy::try_from(d.review_policy)
            .ok()
            .map(|p| p.as_str_name()),
        "REVIEW_POLICY_",
    )
    .to_lowercase()
    .replace('_', " ");
    let mut out = format!("licence required ({policy})");
    for f in &d.fired_rules {
        out.push_str(&format!(
            "\n  {}: {} [{}]",
            f.rule_id, f.citation, f.matched_criterion
        ));
        // A rule's description says why it applies where that is not obvious (a reexport).
        if f.conditions.is_empty() && f.licence_required && f.description.contains(';') {
            out.push_str(&format!("\n    {}", f.description));
        }
        for c in &f.conditions {
            let status = enum_name(
                pb::ConditionStatus::try_from(c.status)
                    .ok()
                    .map(|s| s.as_str_name()),
                "CONDITION_STATUS_",
            )
            .to_lowercase()
            .replace('_', " ");
            out.push_str(&format!("\n    [{status}] {}", c.explanation));
        }
    }
    out
}

pub fn rule_set(r: &pb::RuleSet) -> String {
    format!(
        "{}  {} v{}  from {}  {}",
        r.name,
        r.key,
        r.version,
        date(&r.effective_time),
        r.display_name
    )
}

pub fn history_entry(e: &pb::HistoryEntry) -> String {
    format!(
        "{:>3}  {}  {:<34} {:<20} -> {:<20} {}",
        e.sequence,
        e.create_time
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        e.action,
        e.from_state,
        e.to_state,
        e.actor
    )
}

/// Rows under a header, each column as wide as its widest cell; `empty` when there are none.
fn table(headers: &[&str], rows: Vec<Vec<String>>, empty: &str) -> String {
    if rows.is_empty() {
        return empty.to_owned();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

fn organisation(name: &str) -> String {
    name.strip_prefix("organisations/")
        .unwrap_or(name)
        .to_owned()
}

/// "2 lines, 180 units".
fn goods(lines: &[pb::ApplicationLine]) -> String {
    let units: i64 = lines.iter().map(|l| l.quantity).sum();
    format!(
        "{} line{}, {units} unit{}",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        if units == 1 { "" } else { "s" }
    )
}

/// The applied-for value, per currency: quantity × unit value summed.
fn total_value(lines: &[pb::ApplicationLine]) -> String {
    let mut totals: Vec<(String, i64)> = Vec::new();
    for l in lines {
        let Some(unit) = &l.unit_value else { continue };
        let value = unit.minor_units.saturating_mul(l.quantity);
        match totals.iter_mut().find(|(c, _)| *c == unit.currency_code) {
            Some((_, t)) => *t = t.saturating_add(value),
            None => totals.push((unit.currency_code.clone(), value)),
        }
    }
    if totals.is_empty() {
        return "-".into();
    }
    totals
        .iter()
        .map(|(c, t)| clearance_contract::money::format_money(c, *t))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn application_state(state: i32) -> String {
    enum_name(
        pb::ApplicationState::try_from(state)
            .ok()
            .map(|s| s.as_str_name()),
        "APPLICATION_STATE_",
    )
}

/// "due 2027-01-08", "due 2027-01-08 (3 days overdue)".
fn due(clock: &pb::ReviewClock) -> (String, String) {
    let due = date(&clock.due_time);
    let overdue = match (&clock.due_time, clock.overdue) {
        (Some(t), true) => {
            let days = chrono::DateTime::from_timestamp(t.seconds, 0)
                .map(|d| (chrono::Utc::now().date_naive() - d.date_naive()).num_days())
                .unwrap_or(0);
            format!("{days} day{} overdue", if days == 1 { "" } else { "s" })
        }
        _ if clock.paused => "clock paused".into(),
        _ => String::new(),
    };
    (due, overdue)
}

pub fn cases_table(cases: &[pb::Case]) -> String {
    let rows = cases
        .iter()
        .map(|c| {
            let a = c.application.clone().unwrap_or_default();
            let (due, overdue) = due(&c.clock.unwrap_or_default());
            vec![
                a.reference.clone(),
                organisation(&a.applicant),
                a.destination_country_code.clone(),
                goods(&a.lines),
                total_value(&a.lines),
                application_state(a.state),
                if c.assignee.is_empty() {
                    "-".into()
                } else {
                    c.assignee.clone()
                },
                due,
                overdue,
            ]
        })
        .collect();
    table(
        &[
            "REFERENCE",
            "APPLICANT",
            "TO",
            "GOODS",
            "VALUE",
            "STATE",
            "ASSIGNEE",
            "DUE",
            "",
        ],
        rows,
        "no cases match",
    )
}

pub fn applications_table(applications: &[pb::Application]) -> String {
    let rows = applications
        .iter()
        .map(|a| {
            vec![
                a.reference.clone(),
                application_state(a.state),
                if a.destination_country_code.is_empty() {
                    "-".into()
                } else {
                    a.destination_country_code.clone()
                },
                goods(&a.lines),
                total_value(&a.lines),
                date(&a.submit_time),
            ]
        })
        .collect();
    table(
        &["REFERENCE", "STATE", "TO", "GOODS", "VALUE", "SUBMITTED"],
        rows,
        "no applications match",
    )
}

pub fn licences_table(licences: &[pb::Licence]) -> String {
    let rows = licences
        .iter()
        .map(|l| {
            let granted: i64 = l.lines.iter().map(|x| x.granted_quantity).sum();
            let remaining: i64 = l.lines.iter().map(|x| x.remaining_quantity).sum();
            vec![
                l.number.clone(),
                organisation(&l.holder),
                enum_name(
                    pb::LicenceState::try_from(l.state)
                        .ok()
                        .map(|s| s.as_str_name()),
                    "LICENCE_STATE_",
                ),
                l.destination_country_code.clone(),
                date(&l.valid_until_time),
                format!("{} of {granted}", granted - remaining),
                l.etag.clone(),
            ]
        })
        .collect();
    table(
        &[
            "NUMBER",
            "HOLDER",
            "STATE",
            "TO",
            "VALID UNTIL",
            "UNITS USED",
            "ETAG",
        ],
        rows,
        "no licences match",
    )
}

pub fn products_table(products: &[pb::Product]) -> String {
    let rows = products
        .iter()
        .map(|p| {
            vec![
                p.part_number.clone(),
                p.display_name.clone(),
                p.classification.clone(),
                if p.datacenter { "yes" } else { "no" }.into(),
                p.name.clone(),
            ]
        })
        .collect();
    table(
        &["PART NUMBER", "NAME", "CLASS", "DATACENTER", "RESOURCE"],
        rows,
        "no products match",
    )
}

pub fn shipments_table(shipments: &[pb::Shipment]) -> String {
    let rows = shipments
        .iter()
        .map(|s| {
            let units: i64 = s.lines.iter().map(|l| l.quantity).sum();
            vec![
                if s.erp_reference.is_empty() {
                    "-".into()
                } else {
                    s.erp_reference.clone()
                },
                enum_name(
                    pb::ShipmentState::try_from(s.state)
                        .ok()
                        .map(|x| x.as_str_name()),
                    "SHIPMENT_STATE_",
                ),
                s.destination_country_code.clone(),
                units.to_string(),
                if s.licence.is_empty() {
                    "no licence required".into()
                } else {
                    s.licence.clone()
                },
                s.name.clone(),
            ]
        })
        .collect();
    table(
        &["ERP REF", "STATE", "TO", "UNITS", "LICENCE", "RESOURCE"],
        rows,
        "no shipments match",
    )
}

pub fn rule_sets_table(rule_sets: &[pb::RuleSet]) -> String {
    let rows = rule_sets
        .iter()
        .map(|r| {
            vec![
                r.key.clone(),
                format!("v{}", r.version),
                date(&r.effective_time),
                r.display_name.clone(),
                r.name.clone(),
            ]
        })
        .collect();
    table(
        &["KEY", "VERSION", "FROM", "TITLE", "RESOURCE"],
        rows,
        "no rule sets match",
    )
}

/// Every fact of a case on one screen: parties, each line with its stored determination,
/// every question with its answer, the notes the reader may see, every proposal with its
/// outcome and terms, and the licence it produced.
pub fn case_detail(c: &pb::Case, issued: Option<&pb::Licence>) -> String {
    let a = c.application.clone().unwrap_or_default();
    let clock = c.clock.unwrap_or_default();
    let (due, overdue) = due(&clock);
    let mut out = vec![
        format!(
            "{}  {}  {} → {}  etag {}",
            a.reference,
            application_state(a.state),
            organisation(&a.applicant),
            if a.destination_country_code.is_empty() {
                "?"
            } else {
                &a.destination_country_code
            },
            c.etag
        ),
        format!(
            "  assignee {}  due {due}{}  {} of {} working days{}",
            if c.assignee.is_empty() {
                "-"
            } else {
                &c.assignee
            },
            if overdue.is_empty() {
                String::new()
            } else {
                format!(" ({overdue})")
            },
            clock.elapsed_working_days,
            clock.target_working_days,
            if clock.paused { ", clock paused" } else { "" },
        ),
        format!("  end use: {}", a.end_use_statement),
    ];
    for c in &a.certifications {
        out.push(match c.figure {
            Some(n) => format!("  certifies: {} ({n})", c.key),
            None => format!("  certifies: {}", c.key),
        });
    }
    out.push("  parties:".into());
    for p in &a.parties {
        let role = enum_name(
            pb::PartyRole::try_from(p.role)
                .ok()
                .map(|r| r.as_str_name()),
            "PARTY_ROLE_",
        );
        out.push(format!(
            "    {role}  {}, {} (headquarters {})  {}",
            p.display_name, p.country_code, p.headquarters_country_code, p.address
        ));
    }
    out.extend(screening_hits(&c.screening_hits));
    out.push(format!(
        "  lines: {}, {}",
        goods(&a.lines),
        total_value(&a.lines)
    ));
    for (i, l) in a.lines.iter().enumerate() {
        out.push(format!(
            "    [{i}] {}  {} units × {}",
            l.product,
            l.quantity,
            money(l.unit_value.as_ref())
        ));
        if let Some(d) = &l.determination {
            out.push(format!(
                "        determination: {}",
                determination(d).replace('\n', "\n        ")
            ));
        }
    }
    if !a.information_requests.is_empty() {
        out.push("  questions:".into());
        for (n, r) in a.information_requests.iter().enumerate() {
            out.push(format!(
                "    RFI {} (asked {}, answer due {}): {}",
                n + 1,
                date(&r.ask_time),
                date(&r.response_due_time),
                r.question
            ));
            if r.answer.is_empty() {
                out.push("      not answered yet".into());
            } else {
                out.push(format!(
                    "      answered {}: {}",
                    date(&r.answer_time),
                    r.answer
                ));
            }
        }
    }
    if !a.notes.is_empty() {
        out.push("  notes:".into());
        for (number, n) in a.notes.iter().enumerate() {
            out.push(format!(
                "    note {} {} {}{}: {}",
                number + 1,
                date(&n.create_time),
                n.author,
                if n.visible_to_applicant {
                    ""
                } else {
                    " (regulator only)"
                },
                n.text
            ));
        }
    }
    if !c.proposals.is_empty() {
        out.push("  proposals:".into());
        for p in &c.proposals {
            let state = enum_name(
                pb::ProposalState::try_from(p.state)
                    .ok()
                    .map(|s| s.as_str_name()),
                "PROPOSAL_STATE_",
            );
            let resolved = if p.resolved_by.is_empty() {
                String::new()
            } else {
                format!(" by {}", p.resolved_by)
            };
            out.push(format!(
                "    {} proposed {}: {state}{resolved}; {}",
                p.proposer,
                if p.approve { "approval" } else { "denial" },
                p.reason
            ));
            if p.approve {
                let granted: Vec<String> = p
                    .granted_quantities
                    .iter()
                    .enumerate()
                    .map(|(i, q)| format!("[{i}] {q} units"))
                    .collect();
                out.push(format!("      granted: {}", granted.join(", ")));
                for condition in &p.conditions {
                    out.push(format!("      condition: {condition}"));
                }
            }
            if !p.justification.is_empty() {
                out.push(format!(
                    "      departs from an agency's refusal because: {}",
                    p.justification
                ));
            }
            if !p.resolution_reason.is_empty() {
                out.push(format!("      sent back: {}", p.resolution_reason));
            }
        }
    }
    if !c.referrals.is_empty() {
        out.push(format!(
            "  referrals{}:",
            if c.advice_overdue {
                " (advice OVERDUE)"
            } else {
                ""
            }
        ));
        for r in &c.referrals {
            out.push(format!(
                "    {}  lines {}  referred by {} on {}, due {}: {}",
                r.agency,
                line_numbers(&r.line_numbers),
                r.referred_by,
                date(&r.create_time),
                date(&r.due_time),
                referral_state(r)
            ));
            out.extend(advice_lines(r, "      "));
        }
    }
    if let Some(amendment) = &a.amendment {
        out.push(format!(
            "  amends licence {}: {}",
            amendment.licence, amendment.reasons
        ));
    }
    if !a.appeals.is_empty() {
        out.push("  appeals:".into());
        for appeal in &a.appeals {
            out.push(format!("    {}", appeal_line(appeal)));
        }
    }
    if let Some(l) = issued {
        out.push(format!(
            "  licence issued: {}, {}, valid {} to {}",
            l.number,
            enum_name(
                pb::LicenceState::try_from(l.state)
                    .ok()
                    .map(|s| s.as_str_name()),
                "LICENCE_STATE_",
            ),
            date(&l.valid_from_time),
            date(&l.valid_until_time)
        ));
    }
    out.join("\n")
}

/// A case's denied-party screening hits, numbered as `cases resolve-hit` takes them.
fn screening_hits(hits: &[pb::ScreeningHit]) -> Vec<String> {
    if hits.is_empty() {
        return Vec::new();
    }
    let mut out = vec!["  screening hits:".to_owned()];
    for (n, h) in hits.iter().enumerate() {
        let status = enum_name(
            pb::ScreeningHitStatus::try_from(h.status)
                .ok()
                .map(|s| s.as_str_name()),
            "SCREENING_HIT_STATUS_",
        );
        out.push(format!(
            "    hit {}  {status}  party {} \"{}\" resembles \"{}\" ({}; score {:.2}, {})",
            n + 1,
            h.party_number,
            h.party_name,
            h.listed_name,
            h.source_list,
            h.score,
            h.matched_fields.join(", ")
        ));
        if !h.decided_by.is_empty() {
            out.push(format!(
                "      {} by {} on {}: {}",
                status.to_lowercase(),
                h.decided_by,
                date(&h.decide_time),
                h.reason
            ));
        }
    }
    out
}

/// An uploaded document, with the JSON to name it in an application.
pub fn document(d: &pb::SupportingDocument) -> String {
    let reference = serde_json::json!({
        "display_name": d.display_name,
        "media_type": d.media_type,
        "sha256": d.sha256,
        "size_bytes": d.size_bytes.to_string(),
    });
    format!(
        "{}  {}  {} bytes\n  sha256 {}\n  name it in an application's documents: {reference}",
        d.display_name, d.media_type, d.size_bytes, d.sha256
    )
}

/// An imported version of a denied-party list.
pub fn screening_list(l: &pb::ScreeningList) -> String {
    let format = enum_name(
        pb::ScreeningListFormat::try_from(l.format)
            .ok()
            .map(|f| f.as_str_name()),
        "SCREENING_LIST_FORMAT_",
    );
    format!(
        "{}  {}  {format}  {} entries\n  imported by {} on {}  file sha256 {}",
        l.name,
        l.source,
        l.entry_count,
        l.imported_by,
        date(&l.import_time),
        l.file_sha256
    )
}
