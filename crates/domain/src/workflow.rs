//! The review workflow: the application state machine, who may do what, the two-person rule,
//! completeness at submission, proposals, information requests and notes.
//!
//! Each command is a pure function from the current [`Case`] (and the caller, the time, the
//! settings) to a [`CaseUpdate`] — the new state, the records to add and the history entry —
//! or a typed refusal. The store applies an update atomically; nothing here does I/O.

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::access::{Principal, Role};
use crate::appeal::{Appeal, AppealOutcome, AppealPolicy};
use crate::application::{
    Application, ApplicationState, DocumentInput, PartyRole, SupportingDocument,
};
use crate::calendar::{Pause, ReviewClock, WorkingCalendar};
use crate::error::{DomainError, reason};
use crate::history::Change;
use crate::policy::{Determination, ReviewPolicy};
use crate::referral::{AdvisingAgencies, Referral};
use crate::screening::{PartyScreening, ScreeningCurrency, ScreeningFlag};
use crate::validation::{Violations, required_text};

/// What the workflow can be asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Submit,
    Assign,
    RequestInformation,
    AnswerInformation,
    ProposeDecision,
    Countersign {
        approve: bool,
    },
    RejectProposal,
    Return,
    Withdraw,
    AddNote,
    /// Refer the case, or some of its lines, to advising agencies.
    Refer,
    /// The applicant appeals a countersigned denial.
    Appeal,
    /// A senior reviewer outside the denial upholds it or overturns it.
    DecideAppeal {
        overturn: bool,
    },
    /// A reviewer clears a screening hit as a false positive, or confirms it.
    ResolveScreening,
    /// A new list version's hits on an open case's parties, raised for the importer.
    Rescreen,
}

impl Action {
    /// The history entry's action name.
    pub fn history_name(self) -> &'static str {
        match self {
            Action::Submit => "application.submitted",
            Action::Assign => "case.assigned",
            Action::RequestInformation => "case.information_requested",
            Action::AnswerInformation => "application.information_provided",
            Action::ProposeDecision => "case.decision_proposed",
            Action::Countersign { .. } => "case.decision_countersigned",
            Action::RejectProposal => "case.proposal_rejected",
            Action::Return => "case.returned",
            Action::Withdraw => "application.withdrawn",
            Action::AddNote => "case.note_added",
            Action::Refer => "case.referred",
            Action::Appeal => "application.appealed",
            Action::DecideAppeal { .. } => "case.appeal_decided",
            Action::ResolveScreening => "case.screening_resolved",
            Action::Rescreen => "case.rescreened",
        }
    }

    /// The action in words, for refusals ("cannot <verb> while …").
    pub fn in_words(self) -> &'static str {
        match self {
            Action::Submit => "submit the application",
            Action::Assign => "assign the case",
            Action::RequestInformation => "ask the applicant for information",
            Action::AnswerInformation => "answer a request for information",
            Action::ProposeDecision => "propose a decision",
            Action::Countersign { .. } => "countersign the decision",
            Action::RejectProposal => "reject the proposed decision",
            Action::Return => "return the application",
            Action::Withdraw => "withdraw the application",
            Action::AddNote => "add a note",
            Action::Refer => "refer the case to another agency",
            Action::Appeal => "appeal the denial",
            Action::DecideAppeal { .. } => "decide the appeal",
            Action::ResolveScreening => "resolve a screening hit",
            Action::Rescreen => "screen the case's parties again",
        }
    }

    /// The roles that may take the action (product.md, "Who uses it").
    pub fn allowed_roles(self) -> &'static [Role] {
        match self {
            Action::Submit | Action::AnswerInformation | Action::Withdraw | Action::Appeal => {
                &[Role::Applicant]
            }
            Action::Assign
            | Action::RequestInformation
            | Action::ProposeDecision
            | Action::Return
            | Action::AddNote
            | Action::Refer
            | Action::ResolveScreening => &[Role::Reviewer, Role::SeniorReviewer],
            Action::Countersign { .. } | Action::RejectProposal | Action::DecideAppeal { .. } => {
                &[Role::SeniorReviewer]
            }
            Action::Rescreen => &[Role::PolicyAdmin],
        }
    }
}

/// States in which the case is closed: nothing moves on, except that a denial may be appealed.
pub fn is_final(state: ApplicationState) -> bool {
    matches!(
        state,
        ApplicationState::Approved
            | ApplicationState::Denied
            | ApplicationState::Returned
            | ApplicationState::Withdrawn
    )
}

/// The lifecycle diagram of product.md: the state an action leads to, or a refusal.
pub fn transition(from: ApplicationState, action: Action) -> Result<ApplicationState, DomainError> {
    use ApplicationState::*;
    let to = match (from, action) {
        (Draft, Action::Submit) => Some(Submitted),
        (Submitted, Action::Assign) => Some(UnderReview),
        (UnderReview | AwaitingApplicant | PendingCountersign | UnderAppeal, Action::Assign) => {
            Some(from)
        }
        (Denied, Action::Appeal) => Some(UnderAppeal),
        (UnderAppeal, Action::DecideAppeal { overturn: true }) => Some(UnderReview),
        (UnderAppeal, Action::DecideAppeal { overturn: false }) => Some(Denied),
        (UnderReview, Action::RequestInformation) => Some(AwaitingApplicant),
        (AwaitingApplicant, Action::AnswerInformation) => Some(UnderReview),
        (UnderReview, Action::ProposeDecision) => Some(PendingCountersign),
        (PendingCountersign, Action::Countersign { approve: true }) => Some(Approved),
        (PendingCountersign, Action::Countersign { approve: false }) => Some(Denied),
        (PendingCountersign, Action::RejectProposal) => Some(UnderReview),
        (UnderReview, Action::Return) => Some(Returned),
        (s, Action::Withdraw) if !is_final(s) => Some(Withdrawn),
        (s, Action::AddNote) if s != Draft => Some(s),
        (UnderReview | AwaitingApplicant, Action::Refer) => Some(from),
        // An approved case stands behind its licence: a new list version screens its parties
        // again, and a reviewer resolves what that finds.
        (
            Submitted | UnderReview | AwaitingApplicant | PendingCountersign | Approved,
            Action::ResolveScreening,
        ) => Some(from),
        (
            Submitted | UnderReview | AwaitingApplicant | PendingCountersign | UnderAppeal
            | Approved,
            Action::Rescreen,
        ) => Some(from),
        _ => None,
    };
    to.ok_or_else(|| DomainError::FailedPrecondition {
        reason: reason::INVALID_TRANSITION,
        message: format!(
            "cannot {} while the application is {}",
            action.in_words(),
            from.in_words()
        ),
    })
}

/// A question to the applicant; the clock stops while it is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InformationRequest {
    pub id: Uuid,
    pub question: String,
    pub asked_by: String,
    pub asked_time: DateTime<Utc>,
    pub response_due_date: NaiveDate,
    pub answer: Option<String>,
    pub answer_documents: Vec<SupportingDocument>,
    pub answered_by: Option<String>,
    pub answered_time: Option<DateTime<Utc>>,
}

/// A caseworker's note; only notes marked visible ever reach the applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: Uuid,
    pub author: String,
    pub text: String,
    pub visible_to_applicant: bool,
    pub create_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    Approve,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProposalOutcome {
    Pending,
    Countersigned,
    Rejected,
}

impl ProposalOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalOutcome::Pending => "PENDING",
            ProposalOutcome::Countersigned => "COUNTERSIGNED",
            ProposalOutcome::Rejected => "REJECTED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Countersigned, Self::Rejected]
            .into_iter()
            .find(|o| o.as_str() == raw)
    }
}

/// Default validity of a licence.
pub const DEFAULT_VALIDITY_MONTHS: u32 = 48;
/// Default tolerance on value when the unit is a count (EAR 750.11).
pub const DEFAULT_VALUE_TOLERANCE_PERCENT: i64 = 25;

/// A proposed decision awaiting a second, senior signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: Uuid,
    pub decision: Decision,
    pub reason: String,
    /// Granted quantity per application line (approvals; never above the applied quantity).
    pub granted_quantities: Vec<i64>,
    pub conditions: Vec<String>,
    pub validity_months: u32,
    pub value_tolerance_percent: i64,
    pub proposer: String,
    /// Why an approval departs from an agency's refusal; empty when it does not.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub justification: String,
    pub create_time: DateTime<Utc>,
    pub outcome: ProposalOutcome,
    pub resolved_by: Option<String>,
    pub resolved_time: Option<DateTime<Utc>>,
    pub resolution_reason: Option<String>,
}

impl Proposal {
    /// The licence's validity window if this approval is countersigned at `at`.
    pub fn valid_until(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        at.checked_add_months(Months::new(self.validity_months))
    }
}

/// An application with everything the review has gathered.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub application: Application,
    pub assignee: Option<String>,
    /// One per line, stored at submission; empty before.
    pub determinations: Vec<Determination>,
    pub review_policy: Option<ReviewPolicy>,
    /// The due date stored at the last step, which orders the queue.
    pub due_date: Option<NaiveDate>,
    pub information_requests: Vec<InformationRequest>,
    pub notes: Vec<Note>,
    pub proposals: Vec<Proposal>,
    /// Referrals to advising agencies, oldest first; never shown to the applicant.
    pub referrals: Vec<Referral>,
    /// Appeals against denials, oldest first.
    pub appeals: Vec<Appeal>,
    /// Screening hits on the parties, oldest first; never shown to the applicant.
    pub screening: Vec<ScreeningFlag>,
    /// Whether the parties were screened against every list version imported.
    pub screening_currency: ScreeningCurrency,
}

impl Case {
    pub fn open_request(&self) -> Option<&InformationRequest> {
        self.information_requests
            .iter()
            .find(|r| r.answer.is_none())
    }

    pub fn open_appeal(&self) -> Option<&Appeal> {
        self.appeals.iter().find(|a| a.is_open())
    }

    pub fn pending_proposal(&self) -> Option<&Proposal> {
        self.proposals
            .iter()
            .find(|p| p.outcome == ProposalOutcome::Pending)
    }

    /// The review clock on `today`, if the case has been submitted.
    pub fn clock(&self, settings: &ReviewSettings, today: NaiveDate) -> Option<ReviewClock> {
        let submitted = self.application.submit_time?.date_naive();
        // The clock stands still while the applicant is asked, and from a denial until its
        // appeal is decided (an overturned denial resumes the review where it stopped).
        let pauses: Vec<Pause> = self
            .information_requests
            .iter()
            .map(|r| Pause {
                from: r.asked_time.date_naive(),
                until: r.answered_time.map(|t| t.date_naive()),
            })
            .chain(self.appeals.iter().map(|a| Pause {
                from: a.denied_time.date_naive(),
                until: a.decided_time.map(|t| t.date_naive()),
            }))
            .collect();
        let end = if is_final(self.application.state) {
            self.application.update_time.date_naive().min(today)
        } else {
            today
        };
        Some(ReviewClock::compute(
            &settings.calendar,
            submitted,
            &pauses,
            settings.target_working_days,
            end,
        ))
    }

    /// Whether advice from any agency is past its due date on `today`.
    pub fn advice_overdue(&self, today: NaiveDate) -> bool {
        self.referrals.iter().any(|r| r.is_overdue(today))
    }

    /// The notes an applicant may see.
    pub fn notes_visible_to_applicant(&self) -> impl Iterator<Item = &Note> {
        self.notes.iter().filter(|n| n.visible_to_applicant)
    }
}

/// Configurable review targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewSettings {
    pub calendar: WorkingCalendar,
    /// Decide within this many working days of submission (default 30).
    pub target_working_days: i64,
    /// Default deadline for the applicant's answer (default 20 working days).
    pub response_working_days: i64,
    /// The agencies a case may be referred to for advice.
    pub agencies: AdvisingAgencies,
    /// How long a denial may be appealed, and how long an appeal has to be decided.
    pub appeals: AppealPolicy,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            calendar: WorkingCalendar::default(),
            target_working_days: 30,
            response_working_days: 20,
            agencies: AdvisingAgencies::default(),
            appeals: AppealPolicy::default(),
        }
    }
}

/// A change to a case, applied by the store in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseUpdate {
    pub state: ApplicationState,
    pub assignee: Option<String>,
    pub submit_time: Option<DateTime<Utc>>,
    pub determinations: Option<Vec<Determination>>,
    pub review_policy: Option<ReviewPolicy>,
    /// The due date the queue is ordered by, recomputed at every step.
    pub due_date: Option<NaiveDate>,
    pub new_request: Option<InformationRequest>,
    pub answered_request: Option<InformationRequest>,
    pub new_note: Option<Note>,
    pub new_proposal: Option<Proposal>,
    pub resolved_proposal: Option<Proposal>,
    /// The licence a countersigned approval issues, in the same transaction.
    pub issued_licence: Option<crate::ledger::Licence>,
    /// The licence an approved amendment revises, and how, in the same transaction.
    pub amended_licence: Option<(Uuid, crate::ledger::LicenceAmendment)>,
    pub new_referrals: Vec<Referral>,
    pub new_appeal: Option<Appeal>,
    pub decided_appeal: Option<Appeal>,
    pub new_flags: Vec<ScreeningFlag>,
    pub resolved_flag: Option<ScreeningFlag>,
    /// The count of list versions the parties were screened against, when this step screened.
    pub screened_through: Option<i64>,
    pub change: Change,
    pub chain: ChangeChain,
}

/// Where a step's history entry is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeChain {
    /// The application's own history, which its applicant reads.
    Application,
    /// The history of each new referral instead: who was consulted is kept from the applicant.
    NewReferrals,
}

/// Who is acting, when, under which request, with which settings.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub principal: &'a Principal,
    pub now: DateTime<Utc>,
    pub request_id: &'a str,
    pub settings: &'a ReviewSettings,
}

impl Case {
    fn begin(
        &self,
        ctx: &Context<'_>,
        action: Action,
        reason: String,
        payload: serde_json::Value,
    ) -> Result<CaseUpdate, DomainError> {
        ctx.principal
            .require_any(action.allowed_roles(), action.in_words())?;
        let from = self.application.state;
        let to = transition(from, action)?;
        Ok(CaseUpdate {
            state: to,
            assignee: self.assignee.clone(),
            submit_time: self.application.submit_time,
            determinations: None,
            review_policy: self.review_policy,
            due_date: None,
            new_request: None,
            answered_request: None,
            new_note: None,
            new_proposal: None,
            resolved_proposal: None,
            issued_licence: None,
            amended_licence: None,
            new_referrals: Vec::new(),
            new_appeal: None,
            decided_appeal: None,
            new_flags: Vec::new(),
            resolved_flag: None,
            screened_through: None,
            chain: ChangeChain::Application,
            change: Change {
                action: action.history_name(),
                actor: ctx.principal.subject.clone(),
                from_state: from.as_str().to_owned(),
                to_state: to.as_str().to_owned(),
                reason,
                request_id: ctx.request_id.to_owned(),
                payload,
            },
        })
    }

    /// Recomputes the due date as the update leaves the case.
    fn with_due_date(&self, mut update: CaseUpdate, ctx: &Context<'_>) -> CaseUpdate {
        let mut after = self.clone();
        after.application.state = update.state;
        after.application.submit_time = update.submit_time;
        if let Some(r) = &update.new_request {
            after.information_requests.push(r.clone());
        }
        if let Some(answered) = &update.answered_request {
            for r in &mut after.information_requests {
                if r.id == answered.id {
                    *r = answered.clone();
                }
            }
        }
        if let Some(a) = &update.new_appeal {
            after.appeals.push(a.clone());
        }
        if let Some(decided) = &update.decided_appeal {
            for a in &mut after.appeals {
                if a.id == decided.id {
                    *a = decided.clone();
                }
            }
        }
        // An appeal runs on its own clock: the queue orders it by the appeal's due date.
        update.due_date = match (update.state, after.open_appeal()) {
            (ApplicationState::UnderAppeal, Some(appeal)) => Some(appeal.due_date),
            _ => after
                .clock(ctx.settings, ctx.now.date_naive())
                .map(|c| c.due_date),
        };
        update
    }

    /// Submission: complete, declared true, with a determination stored for every line and
    /// a flag for every screening hit on a party.
    pub fn submit(
        &self,
        ctx: &Context<'_>,
        declaration_confirmed: bool,
        determinations: Vec<Determination>,
        screened: Vec<PartyScreening>,
        screened_through: i64,
    ) -> Result<CaseUpdate, DomainError> {
        let mut update = self.begin(ctx, Action::Submit, String::new(), json!({}))?;
        check_complete(&self.application, declaration_confirmed)?;
        if determinations.len() != self.application.content.lines.len() {
            return Err(DomainError::invalid(
                "lines",
                "every line needs a determination",
            ));
        }
        // A rule's policy that rests on certifications is claimed only with them (91 FR 1684).
        let checks: Vec<_> = determinations
            .iter()
            .flat_map(|d| d.fired.iter())
            .flat_map(|f| f.conditions.iter().cloned())
            .collect();
        let missing = crate::policy::conditions::missing_certifications(&checks);
        if !missing.is_empty() {
            return Err(missing.into());
        }
        let policy = determinations
            .iter()
            .filter(|d| d.licence_required)
            .fold(None, |acc, d| ReviewPolicy::strictest(acc, d.review_policy));
        let flags = crate::screening::raise_flags(screened, ctx.now);
        // Every screening result is on the record: the list version, entry and score of each
        // hit (withheld from the applicant with the rest of the deliberation).
        update.change.payload = json!({
            "determinations": determinations,
            "review_policy": policy,
            "screening": flags,
        });
        update.new_flags = flags;
        update.screened_through = Some(screened_through);
        update.submit_time = Some(ctx.now);
        update.review_policy = policy;
        update.determinations = Some(determinations);
        Ok(self.with_due_date(update, ctx))
    }

    /// Assigns the case to `assignee` (the caller when empty).
    pub fn assign(&self, ctx: &Context<'_>, assignee: &str) -> Result<CaseUpdate, DomainError> {
        let assignee = if assignee.trim().is_empty() {
            ctx.principal.subject.clone()
        } else {
            let mut v = Violations::new();
            let a = required_text(&mut v, "assignee", assignee, 200);
            if !v.is_empty() {
                return Err(v.into());
            }
            a
        };
        let mut update = self.begin(
            ctx,
            Action::Assign,
            String::new(),
            json!({ "assignee": assignee }),
        )?;
        update.assignee = Some(assignee);
        Ok(self.with_due_date(update, ctx))
    }

    /// Asks the applicant a question; the response is due in `response_working_days` working
    /// days unless a date is given.
    pub fn request_information(
        &self,
        ctx: &Context<'_>,
        question: &str,
        response_due_date: Option<NaiveDate>,
    ) -> Result<CaseUpdate, DomainError> {
        let mut v = Violations::new();
        let question = required_text(&mut v, "question", question, 4000);
        let today = ctx.now.date_naive();
        if response_due_date.is_some_and(|d| d <= today) {
            v.add("response_due_time", "must be after today");
        }
        // A question left open for years stalls the case; a year is the most anyone needs.
        if response_due_date.is_some_and(|d| d > today + chrono::Days::new(366)) {
            v.add("response_due_time", "must be within a year of today");
        }
        if !v.is_empty() {
            return Err(v.into());
        }
        let due = response_due_date.unwrap_or_else(|| {
            ctx.settings
                .calendar
                .add_working_days(today, ctx.settings.response_working_days)
        });
        let request = InformationRequest {
            id: Uuid::now_v7(),
            question,
            asked_by: ctx.principal.subject.clone(),
            asked_time: ctx.now,
            response_due_date: due,
            answer: None,
            answer_documents: Vec::new(),
            answered_by: None,
            answered_time: None,
        };
        let mut update = self.begin(
            ctx,
            Action::RequestInformation,
            String::new(),
            json!({ "information_request": request }),
        )?;
        update.new_request = Some(request);
        Ok(self.with_due_date(update, ctx))
    }

    /// The applicant answers the open request `request_id`.
    pub fn answer_information(
        &self,
        ctx: &Context<'_>,
        request_id: Uuid,
        answer: &str,
        documents: Vec<DocumentInput>,
    ) -> Result<CaseUpdate, DomainError> {
        let mut update = self.begin(ctx, Action::AnswerInformation, String::new(), json!({}))?;
        let open = self
            .open_request()
            .filter(|r| r.id == request_id)
            .ok_or_else(|| DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: "that information request is not open".into(),
            })?;
        let mut v = Violations::new();
        let answer = required_text(&mut v, "answer", answer, 20_000);
        let documents = v.check("", crate::application::parse_documents(documents));
        let Some(documents) = documents.filter(|_| v.is_empty()) else {
            return Err(v.into());
        };
        let mut answered = open.clone();
        answered.answer = Some(answer);
        answered.answer_documents = documents;
        answered.answered_by = Some(ctx.principal.subject.clone());
        answered.answered_time = Some(ctx.now);
        update.change.payload = json!({ "information_request": answered });
        update.answered_request = Some(answered);
        Ok(self.with_due_date(update, ctx))
    }

    /// Adds a note; it reaches the applicant only if marked visible.
    pub fn add_note(
        &self,
        ctx: &Context<'_>,
        text: &str,
        visible_to_applicant: bool,
    ) -> Result<CaseUpdate, DomainError> {
        let mut v = Violations::new();
        let text = required_text(&mut v, "text", text, 20_000);
        if !v.is_empty() {
            return Err(v.into());
        }
        let note = Note {
            id: Uuid::now_v7(),
            author: ctx.principal.subject.clone(),
            text,
            visible_to_applicant,
            create_time: ctx.now,
        };
        // The history carries a digest of the text, so regulator-only notes never travel
        // in events an exporter may read, yet any change to the text is detectable.
        let payload = json!({
            "note": {
                "id": note.id,
                "author": note.author,
                "visible_to_applicant": visible_to_applicant,
                "text_sha256": crate::history::sha256_hex(note.text.as_bytes()),
            }
        });
        let mut update = self.begin(ctx, Action::AddNote, String::new(), payload)?;
        update.new_note = Some(note);
        Ok(self.with_due_date(update, ctx))
    }

    /// Proposes a decision for a senior reviewer to countersign.
    pub fn propose(
        &self,
        ctx: &Context<'_>,
        input: ProposalInput,
    ) -> Result<CaseUpdate, DomainError> {
        let mut update = self.begin(ctx, Action::ProposeDecision, String::new(), json!({}))?;
        let proposal = validate_proposal(&self.application, input, ctx)?;
        crate::referral::ready_for_proposal(&self.referrals)?;
        crate::screening::check_screened(
            self.screening_currency,
            &self.screening,
            proposal.decision == Decision::Approve,
        )?;
        if proposal.decision == Decision::Approve {
            crate::referral::check_departure(
                &self.referrals,
                &proposal.granted_quantities,
                &proposal.justification,
            )?;
        }
        update.change.reason = proposal.reason.clone();
        update.change.payload = json!({ "proposal": proposal });
        update.new_proposal = Some(proposal);
        Ok(self.with_due_date(update, ctx))
    }

    /// Refers the case, or `lines` of it (0-based; empty: every line), to each of `agencies`
    /// for advice. Only the regulator sees the referral: its history goes on each referral's
    /// own chain, not the application's.
    pub fn refer(
        &self,
        ctx: &Context<'_>,
        agencies: &[String],
        lines: &[usize],
    ) -> Result<CaseUpdate, DomainError> {
        let mut update = self.begin(ctx, Action::Refer, String::new(), json!({}))?;
        let mut v = Violations::new();
        if agencies.is_empty() {
            v.add("agencies", "name at least one advising agency");
        }
        if agencies.len() > crate::referral::MAX_AGENCIES_PER_REFERRAL {
            v.add(
                "agencies",
                format!(
                    "at most {} agencies at once",
                    crate::referral::MAX_AGENCIES_PER_REFERRAL
                ),
            );
        }
        let mut referrals = Vec::new();
        let mut lines_checked = false;
        for (i, agency) in agencies.iter().enumerate() {
            if ctx.settings.agencies.get(agency).is_none() {
                v.add(
                    format!("agencies[{i}]"),
                    format!(
                        "{} is not an advising agency of this service",
                        crate::validation::quote(agency)
                    ),
                );
                continue;
            }
            if agencies[..i].contains(agency) {
                v.add(format!("agencies[{i}]"), "is named twice");
                continue;
            }
            match Referral::new(
                &self.application,
                &ctx.settings.agencies,
                agency,
                lines,
                &ctx.principal.subject,
                ctx.now,
                &ctx.settings.calendar,
            ) {
                Ok(referral) => referrals.push(referral),
                // The lines are the same for every agency: report them once.
                Err(e) if !lines_checked => {
                    lines_checked = true;
                    v.absorb("", e);
                }
                Err(_) => {}
            }
        }
        if !v.is_empty() {
            return Err(v.into());
        }
        if let Some(open) = referrals.iter().find(|new| {
            self.referrals
                .iter()
                .any(|r| r.agency == new.agency && r.is_outstanding())
        }) {
            return Err(DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: format!(
                    "the case is already referred to {} and its advice is still due",
                    open.agency
                ),
            });
        }
        update.change.payload = json!({ "referrals": referrals });
        update.new_referrals = referrals;
        update.chain = ChangeChain::NewReferrals;
        Ok(self.with_due_date(update, ctx))
    }

    /// The hits of a new screening not already flagged on this case (same party, same entry).
    pub fn new_hits(&self, screened: Vec<PartyScreening>) -> Vec<PartyScreening> {
        screened
            .into_iter()
            .map(|mut p| {
                p.hits.retain(|h| {
                    !self
                        .screening
                        .iter()
                        .any(|f| f.party_index == p.party_index && f.hit.entry_id == h.entry_id)
                });
                p
            })
            .filter(|p| !p.hits.is_empty())
            .collect()
    }

    /// Raises the hits a new list version finds on an open case's parties (those not already
    /// flagged), for reviewers to resolve before any decision; or on the parties of the
    /// approved case behind an active licence, for reviewers to clear or confirm (shipments to
    /// an uncleared hit are refused meanwhile).
    pub fn rescreen(
        &self,
        ctx: &Context<'_>,
        screened: Vec<PartyScreening>,
        screened_through: i64,
    ) -> Result<CaseUpdate, DomainError> {
        let mut update = self.begin(ctx, Action::Rescreen, String::new(), json!({}))?;
        let flags = crate::screening::raise_flags(self.new_hits(screened), ctx.now);
        if flags.is_empty() {
            return Err(DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: "no new screening hits on this case".into(),
            });
        }
        update.change.payload = json!({ "screening": flags, "screened_through": screened_through });
        update.new_flags = flags;
        update.screened_through = Some(screened_through);
        Ok(self.with_due_date(update, ctx))
    }

    /// A reviewer clears the open screening hit `flag_id` as a false positive, or confirms it
    /// (then the case can only be denied), with reasons.
    pub fn resolve_screening(
        &self,
        ctx: &Context<'_>,
        flag_id: Uuid,
        confirm: bool,
        reason_text: &str,
    ) -> Result<CaseUpdate, DomainError> {
        let mut update = self.begin(ctx, Action::ResolveScreening, String::new(), json!({}))?;
        let flag = self
            .screening
            .iter()
            .find(|f| f.id == flag_id)
            .ok_or_else(|| DomainError::invalid("hit", "this case has no such screening hit"))?;
        let resolved = crate::screening::resolve_flag(
            flag,
            confirm,
            reason_text,
            &ctx.principal.subject,
            ctx.now,
        )?;
        update.change.reason = resolved.reason.clone().unwrap_or_default();
        update.change.payload = json!({ "screening_flag": resolved });
        update.resolved_flag = Some(resolved);
        Ok(self.with_due_date(update, ctx))
    }

    /// The applicant appeals the countersigned denial, within the period, with grounds.
    pub fn appeal(
        &self,
        ctx: &Context<'_>,
        grounds: &str,
        documents: Vec<DocumentInput>,
    ) -> Result<CaseUpdate, DomainError> {
        let mut update = self.begin(ctx, Action::Appeal, String::new(), json!({}))?;
        let denial = crate::appeal::countersigned_denial(&self.proposals).ok_or_else(|| {
            DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: "only a countersigned denial can be appealed".into(),
            }
        })?;
        if self.appeals.iter().any(|a| a.denial_id == denial.id) {
            return Err(DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: "this denial has already been appealed and the appeal decided".into(),
            });
        }
        let appeal = Appeal::file(
            denial,
            &ctx.settings.appeals,
            &ctx.settings.calendar,
            &ctx.principal.subject,
            (grounds, documents),
            ctx.now,
        )?;
        update.change.payload = json!({ "appeal": appeal });
        update.new_appeal = Some(appeal);
        Ok(self.with_due_date(update, ctx))
    }

    /// A senior reviewer who took no part in the denial decides the open appeal: upheld, the
    /// denial stands; overturned, the case is under review again for a new proposal.
    pub fn decide_appeal(
        &self,
        ctx: &Context<'_>,
        outcome: AppealOutcome,
        reason_text: &str,
    ) -> Result<CaseUpdate, DomainError> {
        let overturn = outcome == AppealOutcome::Overturned;
        let mut update = self.begin(
            ctx,
            Action::DecideAppeal { overturn },
            String::new(),
            json!({}),
        )?;
        let open = self
            .open_appeal()
            .ok_or_else(|| DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: "there is no open appeal".into(),
            })?;
        let decided = open.decide(&ctx.principal.subject, outcome, reason_text, ctx.now)?;
        update.change.reason = decided.decision_reason.clone().unwrap_or_default();
        update.change.payload = json!({ "appeal": decided });
        update.decided_appeal = Some(decided);
        Ok(self.with_due_date(update, ctx))
    }

    /// The second signature. Never by the proposer.
    pub fn countersign(&self, ctx: &Context<'_>) -> Result<CaseUpdate, DomainError> {
        self.countersign_under(ctx, &crate::policy::LicenceTerms::default())
    }

    /// Countersigns; a licence it issues carries the terms of the determinations stored at
    /// submission and `terms_now`, those of the rules in force at the countersignature (a case
    /// decided after a rule change, e.g. an overturned appeal, meets the new rule's terms too).
    pub fn countersign_under(
        &self,
        ctx: &Context<'_>,
        terms_now: &crate::policy::LicenceTerms,
    ) -> Result<CaseUpdate, DomainError> {
        let pending = self.pending_proposal().cloned();
        let approve = pending
            .as_ref()
            .is_none_or(|p| p.decision == Decision::Approve);
        let mut update = self.begin(
            ctx,
            Action::Countersign { approve },
            String::new(),
            json!({}),
        )?;
        let mut proposal = pending.ok_or_else(|| DomainError::FailedPrecondition {
            reason: reason::INVALID_TRANSITION,
            message: "there is no pending proposal".into(),
        })?;
        if proposal.proposer == ctx.principal.subject {
            return Err(DomainError::PermissionDenied {
                reason: reason::SELF_COUNTERSIGN,
                message: "the proposer of a decision cannot countersign it (two-person rule)"
                    .into(),
            });
        }
        // A list imported or a hit raised since the proposal is dealt with before anything
        // issues.
        crate::screening::check_screened(self.screening_currency, &self.screening, approve)?;
        proposal.outcome = ProposalOutcome::Countersigned;
        proposal.resolved_by = Some(ctx.principal.subject.clone());
        proposal.resolved_time = Some(ctx.now);
        match (&self.application.amendment, approve) {
            (Some(amendment), true) => {
                update.amended_licence = Some((
                    amendment.licence_id,
                    crate::amendment::approved_amendment(self, amendment, &proposal)?,
                ));
            }
            (None, true) => {
                let mut licence = crate::ledger::issue_licence(self, &proposal, ctx.now)?;
                licence.terms = licence.terms.merge(terms_now);
                update.issued_licence = Some(licence);
            }
            (_, false) => {}
        }
        update.change.reason = proposal.reason.clone();
        update.change.payload = json!({ "proposal": proposal });
        update.resolved_proposal = Some(proposal);
        Ok(self.with_due_date(update, ctx))
    }

    /// Sends the proposal back to the caseworker with a reason.
    pub fn reject_proposal(
        &self,
        ctx: &Context<'_>,
        reason_text: &str,
    ) -> Result<CaseUpdate, DomainError> {
        let reason_text = required_reason(reason_text)?;
        let mut update = self.begin(ctx, Action::RejectProposal, reason_text.clone(), json!({}))?;
        let mut proposal =
            self.pending_proposal()
                .cloned()
                .ok_or_else(|| DomainError::FailedPrecondition {
                    reason: reason::INVALID_TRANSITION,
                    message: "there is no pending proposal".into(),
                })?;
        proposal.outcome = ProposalOutcome::Rejected;
        proposal.resolved_by = Some(ctx.principal.subject.clone());
        proposal.resolved_time = Some(ctx.now);
        proposal.resolution_reason = Some(reason_text);
        update.change.payload = json!({ "proposal": proposal });
        update.resolved_proposal = Some(proposal);
        Ok(self.with_due_date(update, ctx))
    }

    /// Returns the application without action (e.g. no licence required).
    pub fn return_application(
        &self,
        ctx: &Context<'_>,
        reason_text: &str,
    ) -> Result<CaseUpdate, DomainError> {
        let reason_text = required_reason(reason_text)?;
        let update = self.begin(ctx, Action::Return, reason_text, json!({}))?;
        Ok(self.with_due_date(update, ctx))
    }

    /// The applicant withdraws the application.
    pub fn withdraw(
        &self,
        ctx: &Context<'_>,
        reason_text: &str,
    ) -> Result<CaseUpdate, DomainError> {
        let reason_text = required_reason(reason_text)?;
        let update = self.begin(ctx, Action::Withdraw, reason_text, json!({}))?;
        Ok(self.with_due_date(update, ctx))
    }
}

fn required_reason(text: &str) -> Result<String, DomainError> {
    let mut v = Violations::new();
    let reason_text = required_text(&mut v, "reason", text, 4000);
    if v.is_empty() {
        Ok(reason_text)
    } else {
        Err(v.into())
    }
}

/// What a caseworker proposes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProposalInput {
    pub approve: bool,
    pub reason: String,
    /// Per line; empty grants every line as applied for.
    pub granted_quantities: Vec<i64>,
    pub conditions: Vec<String>,
    /// 0 means the default (48 months).
    pub validity_months: u32,
    /// `None` means the default (25 %).
    pub value_tolerance_percent: Option<i64>,
    /// Why an approval departs from an agency's refusal (required when it does).
    pub justification: String,
}

fn validate_proposal(
    app: &Application,
    input: ProposalInput,
    ctx: &Context<'_>,
) -> Result<Proposal, DomainError> {
    let mut v = Violations::new();
    let lines = &app.content.lines;
    let granted = if input.approve && input.granted_quantities.is_empty() {
        lines.iter().map(|l| l.quantity).collect()
    } else {
        input.granted_quantities.clone()
    };
    if input.approve {
        if granted.len() != lines.len() {
            v.add(
                "granted_quantities",
                format!("must give one quantity per line ({} lines)", lines.len()),
            );
        } else {
            for (i, (g, line)) in granted.iter().zip(lines).enumerate() {
                if *g < 0 {
                    v.add(format!("granted_quantities[{i}]"), "must not be negative");
                } else if *g > line.quantity {
                    v.add(
                        format!("granted_quantities[{i}]"),
                        format!("may not exceed the {} applied for", line.quantity),
                    );
                }
            }
            if granted.iter().all(|g| *g == 0) {
                v.add(
                    "granted_quantities",
                    "an approval must grant at least one unit",
                );
            }
        }
    } else {
        if !input.granted_quantities.is_empty() {
            v.add("granted_quantities", "a denial grants nothing");
        }
        if input.reason.trim().is_empty() {
            v.add("reason", "a denial must give its reasons");
        }
    }
    let reason_text = crate::validation::optional_text(&mut v, "reason", &input.reason, 4000);
    let justification = crate::validation::optional_text(
        &mut v,
        "justification",
        &input.justification,
        crate::referral::MAX_ADVICE_TEXT_CHARS,
    );
    if input.conditions.len() > MAX_CONDITIONS {
        v.add(
            "conditions",
            format!("must have at most {MAX_CONDITIONS} entries"),
        );
    }
    let mut conditions = Vec::new();
    for (i, c) in input.conditions.iter().enumerate().take(MAX_CONDITIONS) {
        conditions.push(required_text(&mut v, &format!("conditions[{i}]"), c, 4000));
    }
    let validity_months = if input.validity_months == 0 {
        DEFAULT_VALIDITY_MONTHS
    } else {
        input.validity_months
    };
    if validity_months > 120 {
        v.add("validity_months", "must be at most 120");
    }
    let tolerance = input
        .value_tolerance_percent
        .unwrap_or(DEFAULT_VALUE_TOLERANCE_PERCENT);
    crate::validation::integer_in_range(&mut v, "value_tolerance_percent", tolerance, 0, 100);
    if !v.is_empty() {
        return Err(v.into());
    }
    Ok(Proposal {
        id: Uuid::now_v7(),
        decision: if input.approve {
            Decision::Approve
        } else {
            Decision::Deny
        },
        reason: reason_text,
        granted_quantities: if input.approve { granted } else { Vec::new() },
        conditions,
        validity_months,
        value_tolerance_percent: tolerance,
        proposer: ctx.principal.subject.clone(),
        justification,
        create_time: ctx.now,
        outcome: ProposalOutcome::Pending,
        resolved_by: None,
        resolved_time: None,
        resolution_reason: None,
    })
}

/// Completeness at submission: every missing piece, named by its field.
pub fn check_complete(app: &Application, declaration_confirmed: bool) -> Result<(), DomainError> {
    let c = &app.content;
    let mut v = Violations::new();
    if c.destination.is_none() {
        v.add("destination_country_code", "is required to submit");
    }
    if c.end_use_statement.trim().is_empty() {
        v.add("end_use_statement", "is required to submit");
    }
    if c.lines.is_empty() {
        v.add("lines", "at least one line is required to submit");
    }
    match c.parties.iter().position(|p| p.role == PartyRole::EndUser) {
        None => v.add("parties", "an END_USER party is required to submit"),
        Some(i) => {
            let end_user = &c.parties[i];
            if end_user.address.trim().is_empty() {
                v.add(
                    format!("parties[{i}].address"),
                    "the end user's address is required to submit",
                );
            }
            if end_user.headquarters_country.is_none() {
                v.add(
                    format!("parties[{i}].headquarters_country_code"),
                    "the end user's headquarters country is required to submit",
                );
            }
        }
    }
    if !declaration_confirmed {
        v.add(
            "declaration_confirmed",
            "confirm that the application is true and complete",
        );
    }
    if v.is_empty() { Ok(()) } else { Err(v.into()) }
}

/// What `ListCases` may filter on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub state: Option<ApplicationState>,
    pub assignee: Option<String>,
    pub destination: Option<crate::codes::CountryCode>,
    pub review_policy: Option<ReviewPolicy>,
    pub overdue: Option<bool>,
    /// The application's reference, e.g. `CL-2026-000002`: finds the case in any state.
    pub reference: Option<String>,
    /// Cases with (or without) a referral whose advice is past its due date.
    pub advice_overdue: Option<bool>,
    /// Cases with (or without) a screening hit still to resolve.
    pub screening_open: Option<bool>,
}

/// The most conditions one licence may carry.
pub const MAX_CONDITIONS: usize = 50;

/// States in which a clock runs (and a case can be overdue): the review clock, or in
/// UNDER_APPEAL the appeal's own.
pub const CLOCK_RUNNING_STATES: [ApplicationState; 4] = [
    ApplicationState::Submitted,
    ApplicationState::UnderReview,
    ApplicationState::PendingCountersign,
    ApplicationState::UnderAppeal,
];

impl CaseFilter {
    pub const FIELDS: [&'static str; 8] = [
        "state",
        "assignee",
        "destination_country_code",
        "review_policy",
        "overdue",
        "reference",
        "advice_overdue",
        "screening_open",
    ];

    pub fn parse(raw: &str) -> Result<Self, Violations> {
        let mut filter = CaseFilter::default();
        for c in crate::filter::parse_filter(raw, &Self::FIELDS)? {
            let bad =
                |what: &str| Violations::single("filter", format!("'{}' is not {what}", c.value));
            match c.field.as_str() {
                "state" => {
                    let name = c
                        .value
                        .strip_prefix("APPLICATION_STATE_")
                        .unwrap_or(&c.value);
                    filter.state = Some(
                        ApplicationState::parse(name).ok_or_else(|| bad("an application state"))?,
                    );
                }
                "assignee" => filter.assignee = Some(c.value.clone()),
                "reference" => {
                    filter.reference = Some(crate::ids::parse_reference(
                        "filter",
                        crate::application::REFERENCE_PREFIX,
                        &c.value,
                    )?);
                }
                "destination_country_code" => {
                    filter.destination =
                        Some(crate::codes::CountryCode::parse("filter", &c.value)?);
                }
                "review_policy" => {
                    let name = c.value.strip_prefix("REVIEW_POLICY_").unwrap_or(&c.value);
                    filter.review_policy = Some(
                        [
                            ReviewPolicy::PresumptionOfDenial,
                            ReviewPolicy::CaseByCase,
                            ReviewPolicy::PresumptionOfApproval,
                        ]
                        .into_iter()
                        .find(|p| p.as_str() == name)
                        .ok_or_else(|| bad("a review policy"))?,
                    );
                }
                "advice_overdue" => {
                    filter.advice_overdue = Some(crate::filter::parse_bool(&c.field, &c.value)?)
                }
                "screening_open" => {
                    filter.screening_open = Some(crate::filter::parse_bool(&c.field, &c.value)?)
                }
                _ => filter.overdue = Some(crate::filter::parse_bool(&c.field, &c.value)?),
            }
        }
        Ok(filter)
    }
}

#[cfg(test)]
mod tests;
