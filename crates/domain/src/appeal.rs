//! Appeals against a denial: filed within a period after the decision, with grounds, and
//! decided by a senior reviewer who took no part in the decision appealed.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// An appeal against the countersigned denial of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appeal {
    pub id: Uuid,
    pub grounds: String,
    pub appellant: String,
    pub filed_time: DateTime<Utc>,
    /// The appeal's own clock: decide by this date.
    pub due_date: NaiveDate,
    /// Who proposed and who countersigned the denial: none of them may decide the appeal.
    pub decision_participants: Vec<String>,
    pub outcome: Option<AppealOutcome>,
    pub decided_by: Option<String>,
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
    /// once the period has passed; grounds are required.
    pub fn file(
        denial: &Proposal,
        policy: &AppealPolicy,
        calendar: &WorkingCalendar,
        appellant: &str,
        grounds: &str,
        now: DateTime<Utc>,
    ) -> Result<Appeal, DomainError> {
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
        if !v.is_empty() {
            return Err(DomainError::Invalid(v));
        }
        let mut participants = vec![denial.proposer.clone()];
        participants.extend(denial.resolved_by.iter().cloned());
        Ok(Appeal {
            id: Uuid::now_v7(),
            grounds,
            appellant: appellant.to_owned(),
            filed_time: now,
            due_date: calendar.add_working_days(now.date_naive(), policy.decision_working_days),
            decision_participants: participants,
            outcome: None,
            decided_by: None,
        })
    }

    /// Decides the appeal as `senior` (a senior reviewer: the role is checked at the edge),
    /// who must not have proposed or countersigned the denial.
    pub fn decide(&self, senior: &str, outcome: AppealOutcome) -> Result<Appeal, DomainError> {
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
            grounds,
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
                "grounds",
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
                appeal.decide(participant, AppealOutcome::Overturned),
                Err(DomainError::PermissionDenied { .. })
            ));
        }
        let overturned = appeal.decide("carol", AppealOutcome::Overturned).unwrap();
        assert_eq!(overturned.outcome, Some(AppealOutcome::Overturned));
        assert!(matches!(
            overturned.decide("dave", AppealOutcome::Upheld),
            Err(DomainError::FailedPrecondition { .. })
        ));
    }
}
