//! Advice from other agencies: a case officer refers a case, or some of its lines, to advising
//! agencies; each gives advice per referred line by a due date on the case's working-day clock.
//! While advice is outstanding no decision may be proposed, and a proposal that approves a line
//! an agency refused must say why.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::{Principal, Role};
use crate::application::{Application, ApplicationState};
use crate::calendar::WorkingCalendar;
use crate::error::{DomainError, reason};
use crate::history::Change;
use crate::validation::{Violations, quote, required_text};

/// Longest provisos, refusal reasons and justifications.
pub const MAX_ADVICE_TEXT_CHARS: usize = 4_000;
/// Working days an agency has to advise unless configured otherwise.
pub const DEFAULT_ADVICE_WORKING_DAYS: i64 = 10;
/// Most agencies one case may be referred to at once.
pub const MAX_AGENCIES_PER_REFERRAL: usize = 20;

/// An advising agency as configured: its id (the `org` of its advisers' tokens) and how many
/// working days it has to advise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisingAgency {
    pub id: String,
    pub advice_working_days: i64,
}

/// The agencies a case may be referred to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdvisingAgencies(Vec<AdvisingAgency>);

/// An agency id: 1 to 64 lower-case letters, digits, `-` and `_` (an adviser token's `org`).
pub fn is_agency_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl AdvisingAgencies {
    /// Checks ids (see [`is_agency_id`], each once) and due days (1 to 250).
    pub fn new(agencies: Vec<AdvisingAgency>) -> Result<Self, Violations> {
        let mut v = Violations::new();
        for (i, agency) in agencies.iter().enumerate() {
            if !is_agency_id(&agency.id) {
                v.add(
                    format!("agencies[{i}].id"),
                    format!(
                        "{} must be 1 to 64 lower-case letters, digits, - or _",
                        quote(&agency.id)
                    ),
                );
            }
            if agencies[..i].iter().any(|a| a.id == agency.id) {
                v.add(format!("agencies[{i}].id"), "is listed twice");
            }
            if !(1..=250).contains(&agency.advice_working_days) {
                v.add(
                    format!("agencies[{i}].advice_working_days"),
                    "must lie between 1 and 250",
                );
            }
        }
        v.finish(|| AdvisingAgencies(agencies))
    }

    pub fn get(&self, id: &str) -> Option<&AdvisingAgency> {
        self.0.iter().find(|a| a.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &AdvisingAgency> {
        self.0.iter()
    }
}

/// What an agency advises on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Advice {
    Approve,
    ApproveWithProvisos { provisos: String },
    Refuse { reasons: String },
    NoLicenceRequired,
}

impl Advice {
    pub fn is_refusal(&self) -> bool {
        matches!(self, Advice::Refuse { .. })
    }
}

/// Advice on one referred line (0-based index into the application's lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineAdvice {
    pub line_index: usize,
    pub advice: Advice,
}

/// The advice an agency gave, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GivenAdvice {
    pub adviser: String,
    pub time: DateTime<Utc>,
    pub lines: Vec<LineAdvice>,
}

/// A case referred to one agency for advice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    pub id: Uuid,
    /// The application referred.
    pub application_id: Uuid,
    /// 1 when made, 2 once advised; the etag advice is given against.
    pub version: i64,
    pub agency: String,
    /// The referred lines (0-based), in order; every line when the whole case was referred.
    pub lines: Vec<usize>,
    pub referred_by: String,
    pub referred_time: DateTime<Utc>,
    pub due_date: NaiveDate,
    pub advice: Option<GivenAdvice>,
}

impl Referral {
    /// Refers `lines` (empty: every line) of `application` to `agency`, due the agency's
    /// number of working days after `now`.
    pub fn new(
        application: &Application,
        agencies: &AdvisingAgencies,
        agency: &str,
        lines: &[usize],
        referred_by: &str,
        now: DateTime<Utc>,
        calendar: &WorkingCalendar,
    ) -> Result<Referral, Violations> {
        let mut v = Violations::new();
        let line_count = application.content.lines.len();
        let known = agencies.get(agency);
        if known.is_none() {
            v.add(
                "agency",
                format!(
                    "{} is not an advising agency of this service",
                    quote(agency)
                ),
            );
        }
        let mut referred: Vec<usize> = if lines.is_empty() {
            (0..line_count).collect()
        } else {
            lines.to_vec()
        };
        for (i, line) in lines.iter().enumerate() {
            if *line >= line_count {
                v.add(
                    format!("line_numbers[{i}]"),
                    format!("the application has {line_count} lines"),
                );
            }
        }
        referred.sort_unstable();
        if referred.windows(2).any(|w| w[0] == w[1]) {
            v.add("line_numbers", "names a line twice");
        }
        let days = known.map_or(DEFAULT_ADVICE_WORKING_DAYS, |a| a.advice_working_days);
        v.finish(|| Referral {
            id: Uuid::now_v7(),
            application_id: application.id,
            version: 1,
            agency: agency.to_owned(),
            lines: referred,
            referred_by: referred_by.to_owned(),
            referred_time: now,
            due_date: calendar.add_working_days(now.date_naive(), days),
            advice: None,
        })
    }

    pub fn is_outstanding(&self) -> bool {
        self.advice.is_none()
    }

    /// Outstanding after its due date.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.is_outstanding() && today > self.due_date
    }

    /// The advice of an adviser of `adviser_agency`: one entry per referred line, each line
    /// once; refusals give reasons and provisos are written out. An agency advises once.
    pub fn advise(
        &self,
        adviser_agency: &str,
        adviser: &str,
        now: DateTime<Utc>,
        lines: Vec<LineAdvice>,
    ) -> Result<GivenAdvice, DomainError> {
        if adviser_agency != self.agency {
            // Another agency's referral does not exist for this adviser.
            return Err(DomainError::FailedPrecondition {
                reason: reason::NOT_FOUND,
                message: "no such referral for your agency".into(),
            });
        }
        if self.advice.is_some() {
            return Err(DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: format!("{} has already advised on this referral", self.agency),
            });
        }
        let mut v = Violations::new();
        let mut lines = lines;
        for (i, line) in lines.iter_mut().enumerate() {
            if !self.lines.contains(&line.line_index) {
                v.add(
                    format!("advice[{i}].line_number"),
                    "was not referred to your agency",
                );
            }
            match &mut line.advice {
                Advice::ApproveWithProvisos { provisos: text }
                | Advice::Refuse { reasons: text } => {
                    *text = required_text(
                        &mut v,
                        &format!("advice[{i}].text"),
                        text,
                        MAX_ADVICE_TEXT_CHARS,
                    );
                }
                Advice::Approve | Advice::NoLicenceRequired => {}
            }
        }
        let mut given: Vec<usize> = lines.iter().map(|l| l.line_index).collect();
        given.sort_unstable();
        given.dedup();
        if given.len() != lines.len() {
            v.add("advice", "advises on a line twice");
        } else if given != self.lines {
            v.add(
                "advice",
                format!(
                    "must advise on every referred line ({} lines)",
                    self.lines.len()
                ),
            );
        }
        if !v.is_empty() {
            return Err(DomainError::Invalid(v));
        }
        lines.sort_by_key(|l| l.line_index);
        Ok(GivenAdvice {
            adviser: adviser.to_owned(),
            time: now,
            lines,
        })
    }
}

/// A referral with its advice, and the entry for the referral's history.
#[derive(Debug, Clone, PartialEq)]
pub struct AdviceUpdate {
    pub referral: Referral,
    pub change: Change,
}

/// An adviser gives its agency's advice on `referral` of a case now in `case_state`: only an
/// adviser of the referred agency (any other is told there is no such referral), once, and not
/// after the case is closed.
pub fn give_advice(
    referral: &Referral,
    case_state: ApplicationState,
    principal: &Principal,
    request_id: &str,
    now: DateTime<Utc>,
    lines: Vec<LineAdvice>,
) -> Result<AdviceUpdate, DomainError> {
    principal.require_any(&[Role::Adviser], "give advice")?;
    // The store looks referrals up within the caller's agency; this holds even if it did not.
    let agency = principal.agency.as_deref().unwrap_or_default();
    let given = referral.advise(agency, &principal.subject, now, lines)?;
    if crate::workflow::is_final(case_state) {
        return Err(DomainError::FailedPrecondition {
            reason: reason::INVALID_TRANSITION,
            message: format!(
                "the case is {}; no advice is needed any more",
                case_state.in_words()
            ),
        });
    }
    let mut advised = referral.clone();
    advised.advice = Some(given);
    advised.version += 1;
    let change = Change {
        action: "referral.advice_given",
        actor: principal.subject.clone(),
        from_state: "OUTSTANDING".into(),
        to_state: "ADVISED".into(),
        reason: String::new(),
        request_id: request_id.to_owned(),
        payload: serde_json::json!({ "referral": advised }),
    };
    Ok(AdviceUpdate {
        referral: advised,
        change,
    })
}

/// Agencies whose advice is still due, in referral order: no decision may be proposed until
/// this is empty.
pub fn agencies_still_due(referrals: &[Referral]) -> Vec<&str> {
    let mut due: Vec<&str> = Vec::new();
    for referral in referrals.iter().filter(|r| r.is_outstanding()) {
        if !due.contains(&referral.agency.as_str()) {
            due.push(&referral.agency);
        }
    }
    due
}

/// Refuses a proposal while advice is outstanding, naming the agencies.
pub fn ready_for_proposal(referrals: &[Referral]) -> Result<(), DomainError> {
    let due = agencies_still_due(referrals);
    if due.is_empty() {
        return Ok(());
    }
    Err(DomainError::FailedPrecondition {
        reason: reason::ADVICE_OUTSTANDING,
        message: format!("advice is still due from: {}", due.join(", ")),
    })
}

/// An approval that grants any unit on a line an agency refused departs from that advice and
/// must carry a justification; the lines and agencies are named.
pub fn check_departure(
    referrals: &[Referral],
    granted_quantities: &[i64],
    justification: &str,
) -> Result<(), Violations> {
    let mut departures = Vec::new();
    for referral in referrals {
        let Some(advice) = &referral.advice else {
            continue;
        };
        for line in advice.lines.iter().filter(|l| l.advice.is_refusal()) {
            if granted_quantities
                .get(line.line_index)
                .is_some_and(|g| *g > 0)
            {
                departures.push(format!(
                    "line {} ({})",
                    line.line_index + 1,
                    referral.agency
                ));
            }
        }
    }
    if departures.is_empty() || !justification.trim().is_empty() {
        return Ok(());
    }
    Err(Violations::single(
        "justification",
        format!(
            "the proposal approves what an agency refused ({}); say why",
            departures.join(", ")
        ),
    ))
}

/// What `ListReferrals` may filter on; an adviser's list is always its own agency's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferralFilter {
    pub outstanding: Option<bool>,
    /// Outstanding past the due date.
    pub overdue: Option<bool>,
    pub agency: Option<String>,
    /// The referred application.
    pub case: Option<Uuid>,
}

impl ReferralFilter {
    pub const FIELDS: [&'static str; 4] = ["outstanding", "overdue", "agency", "case"];

    pub fn parse(raw: &str) -> Result<Self, Violations> {
        let mut filter = ReferralFilter::default();
        for c in crate::filter::parse_filter(raw, &Self::FIELDS)? {
            match c.field.as_str() {
                "outstanding" => {
                    filter.outstanding = Some(crate::filter::parse_bool(&c.field, &c.value)?)
                }
                "overdue" => filter.overdue = Some(crate::filter::parse_bool(&c.field, &c.value)?),
                "agency" => filter.agency = Some(c.value.clone()),
                _ => {
                    filter.case =
                        Some(crate::ids::Collection::Applications.parse_name("filter", &c.value)?)
                }
            }
        }
        Ok(filter)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn agencies() -> AdvisingAgencies {
        AdvisingAgencies::new(vec![
            AdvisingAgency {
                id: "defense".into(),
                advice_working_days: DEFAULT_ADVICE_WORKING_DAYS,
            },
            AdvisingAgency {
                id: "energy".into(),
                advice_working_days: 5,
            },
        ])
        .unwrap()
    }

    /// Friday 2 January 2026, noon.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 12, 0, 0).unwrap()
    }

    /// An application with three lines.
    fn application() -> Application {
        use crate::application::{
            ApplicationContent, ApplicationInput, ApplicationState, LineInput, MoneyInput,
        };
        use crate::ids::{Collection, OrganisationId};
        let line = || LineInput {
            product: Collection::Products.name_of(Uuid::now_v7()),
            quantity: 10,
            unit_value: Some(MoneyInput {
                currency_code: "USD".into(),
                minor_units: 100,
            }),
        };
        Application {
            id: Uuid::now_v7(),
            reference: "CL-2026-000001".into(),
            organisation: OrganisationId::parse("acme").unwrap(),
            content: ApplicationContent::parse(ApplicationInput {
                destination_country_code: "CN".into(),
                lines: vec![line(), line(), line()],
                ..Default::default()
            })
            .unwrap(),
            state: ApplicationState::UnderReview,
            version: 3,
            create_time: now(),
            update_time: now(),
            submit_time: Some(now()),
            amendment: None,
        }
    }

    fn refer(agency: &str, lines: &[usize]) -> Referral {
        Referral::new(
            &application(),
            &agencies(),
            agency,
            lines,
            "alice",
            now(),
            &WorkingCalendar::new([]),
        )
        .unwrap()
    }

    #[test]
    fn a_referral_is_due_on_the_agencys_working_day_clock() {
        let defense = refer("defense", &[]);
        assert_eq!(defense.lines, [0, 1, 2], "the whole case");
        // Ten working days after Friday 2 January: Friday 16 January.
        assert_eq!(
            defense.due_date,
            NaiveDate::from_ymd_opt(2026, 1, 16).unwrap()
        );
        let energy = refer("energy", &[2, 0]);
        assert_eq!(energy.lines, [0, 2]);
        assert_eq!(
            energy.due_date,
            NaiveDate::from_ymd_opt(2026, 1, 9).unwrap()
        );
        assert!(!energy.is_overdue(energy.due_date));
        assert!(energy.is_overdue(energy.due_date.succ_opt().unwrap()));
    }

    #[test]
    fn unknown_agencies_foreign_lines_and_bad_configuration_are_refused() {
        let calendar = WorkingCalendar::new([]);
        let err = Referral::new(
            &application(),
            &agencies(),
            "state",
            &[0, 7, 0],
            "alice",
            now(),
            &calendar,
        )
        .unwrap_err();
        let fields: Vec<String> = err.iter().map(|v| v.field.clone()).collect();
        assert_eq!(fields, ["agency", "line_numbers[1]", "line_numbers"]);
        let bad = AdvisingAgencies::new(vec![
            AdvisingAgency {
                id: "Defense Dept".into(),
                advice_working_days: 0,
            },
            AdvisingAgency {
                id: "Defense Dept".into(),
                advice_working_days: 10,
            },
        ])
        .unwrap_err();
        assert_eq!(bad.iter().count(), 4);
    }

    #[test]
    fn advice_covers_every_referred_line_once_from_the_referred_agency_only() {
        let referral = refer("energy", &[0, 2]);
        let approve = |line_index| LineAdvice {
            line_index,
            advice: Advice::Approve,
        };
        assert!(matches!(
            referral.advise("defense", "dora", now(), vec![approve(0), approve(2)]),
            Err(DomainError::FailedPrecondition { .. })
        ));
        let Err(DomainError::Invalid(v)) =
            referral.advise("energy", "erin", now(), vec![approve(0), approve(1)])
        else {
            panic!("line 1 was not referred");
        };
        assert!(v.iter().any(|v| v.field == "advice[1].line_number"));
        let Err(DomainError::Invalid(_)) =
            referral.advise("energy", "erin", now(), vec![approve(0)])
        else {
            panic!("line 2 needs advice too");
        };
        let Err(DomainError::Invalid(v)) = referral.advise(
            "energy",
            "erin",
            now(),
            vec![
                approve(0),
                LineAdvice {
                    line_index: 2,
                    advice: Advice::Refuse {
                        reasons: "   ".into(),
                    },
                },
            ],
        ) else {
            panic!("a refusal gives reasons");
        };
        assert_eq!(v.iter().next().unwrap().field, "advice[1].text");
        let given = referral
            .advise("energy", "erin", now(), vec![approve(2), approve(0)])
            .unwrap();
        assert_eq!(given.lines[0].line_index, 0, "in line order");
        let mut advised = referral.clone();
        advised.advice = Some(given);
        assert!(matches!(
            advised.advise("energy", "erin", now(), vec![approve(0), approve(2)]),
            Err(DomainError::FailedPrecondition { .. })
        ));
    }

    #[test]
    fn proposals_wait_for_every_agency_and_a_departure_from_a_refusal_needs_a_reason() {
        let mut defense = refer("defense", &[]);
        let mut energy = refer("energy", &[1]);
        let Err(DomainError::FailedPrecondition { message, .. }) =
            ready_for_proposal(&[defense.clone(), energy.clone()])
        else {
            panic!("advice is outstanding");
        };
        assert_eq!(message, "advice is still due from: defense, energy");
        defense.advice = Some(GivenAdvice {
            adviser: "dora".into(),
            time: now(),
            lines: (0..3)
                .map(|line_index| LineAdvice {
                    line_index,
                    advice: Advice::Approve,
                })
                .collect(),
        });
        energy.advice = Some(GivenAdvice {
            adviser: "erin".into(),
            time: now(),
            lines: vec![LineAdvice {
                line_index: 1,
                advice: Advice::Refuse {
                    reasons: "end user of concern".into(),
                },
            }],
        });
        let referrals = [defense, energy];
        ready_for_proposal(&referrals).unwrap();
        // Granting nothing on the refused line follows the advice.
        check_departure(&referrals, &[10, 0, 5], "").unwrap();
        let err = check_departure(&referrals, &[10, 3, 5], " ").unwrap_err();
        assert!(err.to_string().contains("line 2 (energy)"), "{err}");
        check_departure(
            &referrals,
            &[10, 3, 5],
            "licence conditions address the concern",
        )
        .unwrap();
    }
}
