//! Appeals against a denial: filed within a period after the decision, with grounds, and
//! decided by a senior reviewer who took no part in the decision appealed.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::application::{DocumentInput, SupportingDocument};
use crate::calendar::WorkingCalendar;
use crate::error::{DomainError, reason};
use crate::validation::{Violations, required_text};
use crate::workflow::{Decision, Proposal, ProposalOutcome};

/// Days after a denial within which it may be appealed unless configured otherwise.
pub const DEFAULT_APPEAL_PERIOD_DAYS: i64 = 45;
/// Working days to decide an appeal unless configured otherwise.
pub const DEFAULT_APPEAL_DECISION_WORKING_DAYS: i64 = 20;
/// Longest grounds of appeal.
pub const MAX_GROUNDS_CHARS: usize = 20_000;

/// How appeals run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppealPolicy {
    pub period_days: i64,
    pub decision_working_days: i64,
}

impl Default for AppealPolicy {
    fn default() -> Self {
        AppealPolicy {
            period_days: DEFAULT_APPEAL_PERIOD_DAYS,
            decision_working_days: DEFAULT_APPEAL_DECISION_WORKING_DAYS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppealOutcome {
    /// The denial stands.
    Upheld,
    /// The denial is set aside; the case goes back to proposal and countersignature.
    Overturned,
}

impl AppealOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AppealOutcome::Upheld => "UPHELD",
            AppealOutcome::Overturned => "OVERTURNED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [AppealOutcome::Upheld, AppealOutcome::Overturned]
            .into_iter()
            .find(|o| o.as_str() == raw)
    }
}

/// An appeal against the countersigned denial of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appeal {
    pub id: Uuid,
    /// The countersigned denial appealed; each denial is appealed at most once.
    pub denial_id: Uuid,
    /// When the denial was countersigned: the review clock stands still from then until the
    /// appeal is decided.
    pub denied_time: DateTime<Utc>,
    pub grounds: String,
    pub documents: Vec<SupportingDocument>,
    pub appellant: String,
    pub filed_time: DateTime<Utc>,
    /// The appeal's own clock: decide by this date.
    pub due_date: NaiveDate,
    /// Who proposed and who countersigned the denial: none of them may decide the appeal.
    pub decision_participants: Vec<String>,
    pub outcome: Option<AppealOutcome>,
    pub decided_by: Option<String>,
    pub decided_time: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
}

/// The countersigned denial among a case's proposals, if the case was denied.
pub fn countersigned_denial(proposals: &[Proposal]) -> Option<&Proposal> {
    proposals
        .iter()
        .rev()
        .find(|p| p.outcome == ProposalOutcome::Countersigned && p.decision == Decision::Deny)
}

impl Appeal {
    /// Files an appeal against `denial` (countersigned at its `resolved_time`) at `now`: refused
    /// once the period has passed; grounds are required, documents optional.
    pub fn file(
        denial: &Proposal,
        policy: &AppealPolicy,
        calendar: &WorkingCalendar,
        appellant: &str,
        grounds: (&str, Vec<DocumentInput>),
        now: DateTime<Utc>,
    ) -> Result<Appeal, DomainError> {
        let (grounds, documents) = grounds;
        let decided = match (denial.decision, denial.outcome, denial.resolved_time) {
            (Decision::Deny, ProposalOutcome::Countersigned, Some(at)) => at,
            _ => {
                return Err(DomainError::FailedPrecondition {
                    reason: reason::INVALID_TRANSITION,
                    message: "only a countersigned denial can be appealed".into(),
                });
            }
        };
        let closes = decided + Duration::days(policy.period_days);
        if now > closes {
            return Err(DomainError::FailedPrecondition {
                reason: reason::APPEAL_PERIOD_OVER,
                message: format!(
                    "the period for appealing this denial ended on {} ({} days after the decision)",
                    closes.format("%Y-%m-%d"),
                    policy.period_days
                ),
            });
        }
        let mut v = Violations::new();
        let grounds = required_text(&mut v, "grounds", grounds, MAX_GROUNDS_CHARS);
        let documents = v.check("", crate::application::parse_documents(documents));
        let Some(documents) = documents.filter(|_| v.is_empty()) else {
            return Err(DomainError::Invalid(v));
        };
        let mut participants = vec![denial.proposer.clone()];
        participants.extend(denial.resolved_by.iter().cloned());
        Ok(Appeal {
            id: Uuid::now_v7(),
            denial_id: denial.id,
            denied_time: decided,
            grounds,
            documents,
            appellant: appellant.to_owned(),
            filed_time: now,
            due_date: calendar.add_working_days(now.date_naive(), policy.decision_working_days),
            decision_participants: participants,
            outcome: None,
            decided_by: None,
            decided_time: None,
            decision_reason: None,
        })
    }

    /// Undecided.
    pub fn is_open(&self) -> bool {
        self.outcome.is_none()
    }

    /// Undecided after its due date.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.is_open() && today > self.due_date
    }

    /// Decides the appeal as `senior` (a senior reviewer: the role is checked by the workflow),
    /// who must not have proposed or countersigned the denial, giving `reason`.
    pub fn decide(
        &self,
        senior: &str,
        outcome: AppealOutcome,
        reason_text: &str,
        now: DateTime<Utc>,
    ) -> Result<Appeal, DomainError> {
        let mut v = Violations::new();
        let reason_text = required_text(&mut v, "reason", reason_text, MAX_GROUNDS_CHARS);
        if !v.is_empty() {
            return Err(DomainError::Invalid(v));
        }
        if self.outcome.is_some() {
            return Err(DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: "this appeal has been decided".into(),
            });
        }
        if self.decision_participants.iter().any(|p| p == senior) {
            return Err(DomainError::PermissionDenied {
                reason: reason::APPEAL_NOT_INDEPENDENT,
                message: "an appeal is decided by a senior reviewer who took no part in the denial"
                    .into(),
            });
        }
        let mut decided = self.clone();
        decided.outcome = Some(outcome);
        decided.decided_by = Some(senior.to_owned());
        decided.decided_time = Some(now);
        decided.decision_reason = Some(reason_text);
        Ok(decided)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn denial(at: DateTime<Utc>) -> Proposal {
        Proposal {
            id: Uuid::now_v7(),
            decision: Decision::Deny,
            reason: "end user of concern".into(),
            granted_quantities: Vec::new(),
            conditions: Vec::new(),
            validity_months: 0,
            value_tolerance_percent: 0,
            proposer: "alice".into(),
            justification: String::new(),
            create_time: at,
            outcome: ProposalOutcome::Countersigned,
            resolved_by: Some("bob".into()),
            resolved_time: Some(at),
            resolution_reason: None,
        }
    }

    fn decided() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
    }

    fn file(at: DateTime<Utc>, grounds: &str) -> Result<Appeal, DomainError> {
        Appeal::file(
            &denial(decided()),
            &AppealPolicy::default(),
            &WorkingCalendar::new([]),
            "officer@acme",
            (grounds, Vec::new()),
            at,
        )
    }

    #[test]
    fn an_appeal_is_filed_within_the_period_with_grounds() {
        let appeal = file(decided() + Duration::days(45), "new end-user certificate").unwrap();
        assert_eq!(appeal.decision_participants, ["alice", "bob"]);
        // Twenty working days after Thursday 16 April 2026 is Thursday 14 May.
        assert_eq!(
            appeal.due_date,
            NaiveDate::from_ymd_opt(2026, 5, 14).unwrap()
        );
        let Err(DomainError::FailedPrecondition { reason: r, message }) =
            file(decided() + Duration::days(46), "late")
        else {
            panic!("past the period");
        };
        assert_eq!(r, reason::APPEAL_PERIOD_OVER);
        assert!(message.contains("2026-04-16"), "{message}");
        assert!(matches!(
            file(decided(), "  "),
            Err(DomainError::Invalid(_))
        ));
        let mut approval = denial(decided());
        approval.decision = Decision::Approve;
        assert!(countersigned_denial(std::slice::from_ref(&approval)).is_none());
        assert!(
            Appeal::file(
                &approval,
                &AppealPolicy::default(),
                &WorkingCalendar::new([]),
                "officer@acme",
                ("grounds", Vec::new()),
                decided(),
            )
            .is_err()
        );
    }

    #[test]
    fn only_a_senior_reviewer_outside_the_denial_decides_and_only_once() {
        let appeal = file(decided(), "new end-user certificate").unwrap();
        for participant in ["alice", "bob"] {
            assert!(matches!(
                appeal.decide(participant, AppealOutcome::Overturned, "why", decided()),
                Err(DomainError::PermissionDenied { .. })
            ));
        }
        assert!(matches!(
            appeal.decide("carol", AppealOutcome::Overturned, " ", decided()),
            Err(DomainError::Invalid(_))
        ));
        let overturned = appeal
            .decide(
                "carol",
                AppealOutcome::Overturned,
                "new evidence",
                decided(),
            )
            .unwrap();
        assert_eq!(overturned.outcome, Some(AppealOutcome::Overturned));
        assert!(matches!(
            overturned.decide("dave", AppealOutcome::Upheld, "again", decided()),
            Err(DomainError::FailedPrecondition { .. })
        ));
    }
}
