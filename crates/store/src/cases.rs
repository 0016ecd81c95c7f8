//! Cases: applications with their review records, and the one write path for every workflow
//! step.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use clearance_domain::DomainError;
use clearance_domain::appeal::{Appeal, AppealOutcome};
use clearance_domain::application::ApplicationState;
use clearance_domain::ids::{Collection, OrganisationId};
use clearance_domain::paging::PageRequest;
use clearance_domain::policy::{Determination, ReviewPolicy};
use clearance_domain::screening::{FlagStatus, ScreeningCurrency, ScreeningFlag};
use clearance_domain::workflow::{
    CLOCK_RUNNING_STATES, Case, CaseFilter, CaseUpdate, ChangeChain, Decision, InformationRequest,
    Note, Proposal, ProposalOutcome,
};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::applications::{Children, corrupt, load_children, to_domain, update_if_unchanged};
use crate::connection::Store;
use crate::entities::{
    appeal, application, application_line, case_note, information_request, licence, proposal,
    referral, screening_flag,
};
use crate::error::StoreError;
use crate::write::{Encoder, Mutation, Outcome, record_change};

/// The cases with a screening hit no reviewer has resolved.
fn open_screening_flags() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(screening_flag::Column::ApplicationId)
        .from(screening_flag::Entity)
        .and_where(screening_flag::Column::Status.eq(FlagStatus::Open.as_str()))
        .to_owned()
}

fn json_corrupt(id: Uuid, e: serde_json::Error) -> StoreError {
    corrupt(id, format!("stored JSON unreadable: {e}"))
}

fn policy_from(id: Uuid, raw: Option<&str>) -> Result<Option<ReviewPolicy>, StoreError> {
    raw.map(|r| {
        serde_json::from_value::<ReviewPolicy>(serde_json::Value::String(r.to_owned()))
            .map_err(|e| json_corrupt(id, e))
    })
    .transpose()
}

fn request_from(row: information_request::Model) -> Result<InformationRequest, StoreError> {
    Ok(InformationRequest {
        id: row.id,
        question: row.question,
        asked_by: row.asked_by,
        asked_time: row.asked_time,
        response_due_date: row.response_due_date,
        answer: row.answer,
        answer_documents: serde_json::from_str(&row.answer_documents_json)
            .map_err(|e| json_corrupt(row.application_id, e))?,
        answered_by: row.answered_by,
        answered_time: row.answered_time,
    })
}

fn proposal_from(row: proposal::Model) -> Result<Proposal, StoreError> {
    let id = row.application_id;
    Ok(Proposal {
        id: row.id,
        decision: if row.decision == "APPROVE" {
            Decision::Approve
        } else {
            Decision::Deny
        },
        reason: row.reason,
        granted_quantities: serde_json::from_str(&row.granted_quantities_json)
            .map_err(|e| json_corrupt(id, e))?,
        conditions: serde_json::from_str(&row.conditions_json).map_err(|e| json_corrupt(id, e))?,
        validity_months: u32::try_from(row.validity_months).map_err(|e| corrupt(id, e))?,
        value_tolerance_percent: row.value_tolerance_percent,
        proposer: row.proposer,
        create_time: row.create_time,
        outcome: ProposalOutcome::parse(&row.outcome).ok_or_else(|| corrupt(id, &row.outcome))?,
        resolved_by: row.resolved_by,
        resolved_time: row.resolved_time,
        resolution_reason: row.resolution_reason,
        justification: row.justification,
    })
}

fn flag_from(row: screening_flag::Model) -> Result<ScreeningFlag, StoreError> {
    let id = row.application_id;
    Ok(ScreeningFlag {
        id: row.id,
        party_index: usize::try_from(row.party_index).map_err(|e| corrupt(id, e))?,
        party_name: row.party_name,
        hit: serde_json::from_str(&row.hit_json).map_err(|e| json_corrupt(id, e))?,
        status: FlagStatus::parse(&row.status).ok_or_else(|| corrupt(id, &row.status))?,
        raised_time: row.raised_time,
        decided_by: row.decided_by,
        decided_time: row.decided_time,
        reason: row.reason,
    })
}

fn appeal_from(row: appeal::Model) -> Result<Appeal, StoreError> {
    let id = row.application_id;
    Ok(Appeal {
        id: row.id,
        denial_id: row.denial_id,
        denied_time: row.denied_time,
        grounds: row.grounds,
        documents: serde_json::from_str(&row.documents_json).map_err(|e| json_corrupt(id, e))?,
        appellant: row.appellant,
        filed_time: row.filed_time,
        due_date: row.due_date,
        decision_participants: serde_json::from_str(&row.decision_participants_json)
            .map_err(|e| json_corrupt(id, e))?,
        outcome: row
            .outcome
            .map(|o| AppealOutcome::parse(&o).ok_or_else(|| corrupt(id, &o)))
            .transpose()?,
        decided_by: row.decided_by,
        decided_time: row.decided_time,
        decision_reason: row.decision_reason,
    })
}

/// Loads whole cases for application rows: ten queries for any number of rows.
/// The states of a submitted case not finally decided.
pub(crate) const OPEN_STATES: [ApplicationState; 5] = [
    ApplicationState::Submitted,
    ApplicationState::UnderReview,
    ApplicationState::AwaitingApplicant,
    ApplicationState::PendingCountersign,
    ApplicationState::UnderAppeal,
];

pub(crate) async fn load_cases<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<application::Model>,
) -> Result<Vec<Case>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut children: Children = load_children(conn, &ids).await?;
    let mut requests: HashMap<Uuid, Vec<InformationRequest>> = HashMap::new();
    let mut notes: HashMap<Uuid, Vec<Note>> = HashMap::new();
    let mut proposals: HashMap<Uuid, Vec<Proposal>> = HashMap::new();
    let mut referrals = crate::referrals::load_referrals(conn, &ids).await?;
    let mut appeals: HashMap<Uuid, Vec<Appeal>> = HashMap::new();
    let mut flags: HashMap<Uuid, Vec<ScreeningFlag>> = HashMap::new();
    if !ids.is_empty() {
        for row in information_request::Entity::find()
            .filter(information_request::Column::ApplicationId.is_in(ids.iter().copied()))
            .order_by_asc(information_request::Column::Id)
            .all(conn)
            .await?
        {
            requests
                .entry(row.application_id)
                .or_default()
                .push(request_from(row)?);
        }
        for row in case_note::Entity::find()
            .filter(case_note::Column::ApplicationId.is_in(ids.iter().copied()))
            .order_by_asc(case_note::Column::Id)
            .all(conn)
            .await?
        {
            notes.entry(row.application_id).or_default().push(Note {
                id: row.id,
                author: row.author,
                text: row.text,
                visible_to_applicant: row.visible_to_applicant,
                create_time: row.create_time,
            });
        }
        for row in screening_flag::Entity::find()
            .filter(screening_flag::Column::ApplicationId.is_in(ids.iter().copied()))
            .order_by_asc(screening_flag::Column::Id)
            .all(conn)
            .await?
        {
            flags
                .entry(row.application_id)
                .or_default()
                .push(flag_from(row)?);
        }
        for row in appeal::Entity::find()
            .filter(appeal::Column::ApplicationId.is_in(ids.iter().copied()))
            .order_by_asc(appeal::Column::Id)
            .all(conn)
            .await?
        {
            appeals
                .entry(row.application_id)
                .or_default()
                .push(appeal_from(row)?);
        }
        for row in proposal::Entity::find()
            .filter(proposal::Column::ApplicationId.is_in(ids.iter().copied()))
            .order_by_asc(proposal::Column::Id)
            .all(conn)
            .await?
        {
            proposals
                .entry(row.application_id)
                .or_default()
                .push(proposal_from(row)?);
        }
    }
    let mut cases = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.id;
        let determinations = children
            .lines
            .get(&id)
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l.determination_json.as_deref())
                    .map(|j| {
                        serde_json::from_str::<Determination>(j).map_err(|e| json_corrupt(id, e))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let assignee = row.assignee.clone();
        let due_date = row.due_date;
        let review_policy = policy_from(id, row.review_policy.as_deref())?;
        // What has been imported since is filled in where a decision needs it (update_case).
        let screening_currency = ScreeningCurrency {
            screened_through: row.screened_through,
            imported: row.screened_through,
        };
        let application = to_domain(row, &mut children)?;
        cases.push(Case {
            application,
            assignee,
            determinations,
            review_policy,
            due_date,
            information_requests: requests.remove(&id).unwrap_or_default(),
            notes: notes.remove(&id).unwrap_or_default(),
            proposals: proposals.remove(&id).unwrap_or_default(),
            referrals: referrals.remove(&id).unwrap_or_default(),
            appeals: appeals.remove(&id).unwrap_or_default(),
            screening: flags.remove(&id).unwrap_or_default(),
            screening_currency,
        });
    }
    Ok(cases)
}

pub(crate) async fn find_case<C: ConnectionTrait>(
    conn: &C,
    org: Option<&OrganisationId>,
    id: Uuid,
) -> Result<Case, StoreError> {
    let mut query = application::Entity::find_by_id(id);
    if let Some(org) = org {
        query = query.filter(application::Column::OrganisationId.eq(org.as_str()));
    }
    let row = query.one(conn).await?.ok_or(StoreError::NotFound)?;
    load_cases(conn, vec![row])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

fn policy_text(p: Option<ReviewPolicy>) -> Option<String> {
    p.map(|p| p.as_str().to_owned())
}

use crate::json_column::to_json;

async fn apply(
    txn: &DatabaseTransaction,
    case: &Case,
    update: &CaseUpdate,
    expected_version: i64,
    m: &Mutation,
) -> Result<(), StoreError> {
    let id = case.application.id;
    let row_update = application::Entity::update_many()
        .col_expr(
            application::Column::State,
            Expr::value(update.state.as_str()),
        )
        .col_expr(
            application::Column::Assignee,
            Expr::value(update.assignee.clone()),
        )
        .col_expr(
            application::Column::SubmitTime,
            Expr::value(update.submit_time),
        )
        .col_expr(
            application::Column::ReviewPolicy,
            Expr::value(policy_text(update.review_policy)),
        )
        .col_expr(application::Column::DueDate, Expr::value(update.due_date));
    let row_update = match update.screened_through {
        Some(through) => row_update.col_expr(
            application::Column::ScreenedThrough,
            Expr::value(std::cmp::max(
                through,
                case.screening_currency.screened_through,
            )),
        ),
        None => row_update,
    };
    update_if_unchanged(txn, row_update, id, expected_version, m.now).await?;
    if let Some(determinations) = &update.determinations {
        for (index, d) in determinations.iter().enumerate() {
            application_line::Entity::update_many()
                .col_expr(
                    application_line::Column::DeterminationJson,
                    Expr::value(Some(to_json(d)?)),
                )
                .filter(application_line::Column::ApplicationId.eq(id))
                .filter(application_line::Column::LineIndex.eq(index as i32))
                .exec(txn)
                .await?;
        }
    }
    if let Some(r) = &update.new_request {
        information_request::Entity::insert(information_request::ActiveModel {
            id: Set(r.id),
            application_id: Set(id),
            question: Set(r.question.clone()),
            asked_by: Set(r.asked_by.clone()),
            asked_time: Set(r.asked_time),
            response_due_date: Set(r.response_due_date),
            answer: Set(None),
            answer_documents_json: Set("[]".into()),
            answered_by: Set(None),
            answered_time: Set(None),
        })
        .exec_without_returning(txn)
        .await?;
    }
    if let Some(r) = &update.answered_request {
        // Only an open request takes an answer, so a request is answered exactly once.
        let answered = information_request::Entity::update_many()
            .col_expr(
                information_request::Column::Answer,
                Expr::value(r.answer.clone()),
            )
            .col_expr(
                information_request::Column::AnswerDocumentsJson,
                Expr::value(to_json(&r.answer_documents)?),
            )
            .col_expr(
                information_request::Column::AnsweredBy,
                Expr::value(r.answered_by.clone()),
            )
            .col_expr(
                information_request::Column::AnsweredTime,
                Expr::value(r.answered_time),
            )
            .filter(information_request::Column::Id.eq(r.id))
            .filter(information_request::Column::Answer.is_null())
            .exec(txn)
            .await?;
        if answered.rows_affected != 1 {
            return Err(StoreError::StaleEtag {
                current: expected_version + 1,
            });
        }
    }
    if let Some(n) = &update.new_note {
        case_note::Entity::insert(case_note::ActiveModel {
            id: Set(n.id),
            application_id: Set(id),
            author: Set(n.author.clone()),
            text: Set(n.text.clone()),
            visible_to_applicant: Set(n.visible_to_applicant),
            create_time: Set(n.create_time),
        })
        .exec_without_returning(txn)
        .await?;
    }
    if let Some(p) = &update.new_proposal {
        proposal::Entity::insert(proposal::ActiveModel {
            id: Set(p.id),
            application_id: Set(id),
            decision: Set(if p.decision == Decision::Approve {
                "APPROVE"
            } else {
                "DENY"
            }
            .into()),
            reason: Set(p.reason.clone()),
            granted_quantities_json: Set(to_json(&p.granted_quantities)?),
            conditions_json: Set(to_json(&p.conditions)?),
            validity_months: Set(
                i32::try_from(p.validity_months).map_err(|e| StoreError::Corrupt(e.to_string()))?
            ),
            value_tolerance_percent: Set(p.value_tolerance_percent),
            proposer: Set(p.proposer.clone()),
            create_time: Set(p.create_time),
            outcome: Set(p.outcome.as_str().into()),
            resolved_by: Set(None),
            resolved_time: Set(None),
            resolution_reason: Set(None),
            justification: Set(p.justification.clone()),
        })
        .exec_without_returning(txn)
        .await?;
    }
    for f in &update.new_flags {
        screening_flag::Entity::insert(screening_flag::ActiveModel {
            id: Set(f.id),
            application_id: Set(id),
            party_index: Set(i32::try_from(f.party_index).map_err(|e| corrupt(id, e))?),
            party_name: Set(f.party_name.clone()),
            list_id: Set(f.hit.list_id),
            entry_id: Set(f.hit.entry_id.clone()),
            hit_json: Set(to_json(&f.hit)?),
            status: Set(f.status.as_str().to_owned()),
            raised_time: Set(f.raised_time),
            decided_by: Set(None),
            decided_time: Set(None),
            reason: Set(None),
        })
        .exec_without_returning(txn)
        .await?;
    }
    if let Some(f) = &update.resolved_flag {
        // Only an open hit is resolved, so a hit is decided exactly once.
        let resolved = screening_flag::Entity::update_many()
            .col_expr(
                screening_flag::Column::Status,
                Expr::value(f.status.as_str()),
            )
            .col_expr(
                screening_flag::Column::DecidedBy,
                Expr::value(f.decided_by.clone()),
            )
            .col_expr(
                screening_flag::Column::DecidedTime,
                Expr::value(f.decided_time),
            )
            .col_expr(
                screening_flag::Column::Reason,
                Expr::value(f.reason.clone()),
            )
            .filter(screening_flag::Column::Id.eq(f.id))
            .filter(screening_flag::Column::Status.eq(FlagStatus::Open.as_str()))
            .exec(txn)
            .await?;
        if resolved.rows_affected != 1 {
            return Err(StoreError::StaleEtag {
                current: expected_version + 1,
            });
        }
    }
    if let Some(a) = &update.new_appeal {
        appeal::Entity::insert(appeal::ActiveModel {
            id: Set(a.id),
            application_id: Set(id),
            denial_id: Set(a.denial_id),
            denied_time: Set(a.denied_time),
            grounds: Set(a.grounds.clone()),
            documents_json: Set(to_json(&a.documents)?),
            appellant: Set(a.appellant.clone()),
            filed_time: Set(a.filed_time),
            due_date: Set(a.due_date),
            decision_participants_json: Set(to_json(&a.decision_participants)?),
            outcome: Set(None),
            decided_by: Set(None),
            decided_time: Set(None),
            decision_reason: Set(None),
        })
        .exec_without_returning(txn)
        .await?;
    }
    if let Some(a) = &update.decided_appeal {
        // Only an open appeal is decided, so an appeal is decided exactly once.
        let decided = appeal::Entity::update_many()
            .col_expr(
                appeal::Column::Outcome,
                Expr::value(a.outcome.map(|o| o.as_str())),
            )
            .col_expr(appeal::Column::DecidedBy, Expr::value(a.decided_by.clone()))
            .col_expr(appeal::Column::DecidedTime, Expr::value(a.decided_time))
            .col_expr(
                appeal::Column::DecisionReason,
                Expr::value(a.decision_reason.clone()),
            )
            .filter(appeal::Column::Id.eq(a.id))
            .filter(appeal::Column::Outcome.is_null())
            .exec(txn)
            .await?;
        if decided.rows_affected != 1 {
            return Err(StoreError::StaleEtag {
                current: expected_version + 1,
            });
        }
    }
    if let Some(p) = &update.resolved_proposal {
        let resolved = proposal::Entity::update_many()
            .col_expr(proposal::Column::Outcome, Expr::value(p.outcome.as_str()))
            .col_expr(
                proposal::Column::ResolvedBy,
                Expr::value(p.resolved_by.clone()),
            )
            .col_expr(proposal::Column::ResolvedTime, Expr::value(p.resolved_time))
            .col_expr(
                proposal::Column::ResolutionReason,
                Expr::value(p.resolution_reason.clone()),
            )
            .filter(proposal::Column::Id.eq(p.id))
            .filter(proposal::Column::Outcome.eq(ProposalOutcome::Pending.as_str()))
            .exec(txn)
            .await?;
        if resolved.rows_affected != 1 {
            return Err(StoreError::StaleEtag {
                current: expected_version + 1,
            });
        }
    }
    Ok(())
}

/// The case a workflow step changes: whose (exporters' steps are scoped to their
/// organisation), which, at the version the caller read, and the products (with versions) its
/// decision was computed from.
#[derive(Debug, Clone)]
pub struct CaseTarget<'a> {
    pub org: Option<OrganisationId>,
    pub id: Uuid,
    pub expected_version: i64,
    pub pinned_products: &'a [(Uuid, i64)],
    /// Documents (SHA-256) the case comes to rest on: held against deletion until the step
    /// commits, and the step refused if one is gone.
    pub pinned_documents: &'a [String],
    /// The step decides (a proposal or countersignature): the list versions imported are read
    /// in its transaction, so its screening gate sees every import before it. Other steps
    /// skip the read.
    pub screening_gate: bool,
}

/// The queue's sort key for a due date.
pub fn due_sort_key(due: Option<NaiveDate>) -> i64 {
    due.map_or(i64::MAX, |d| i64::from(d.num_days_from_ce()))
}

impl Store {
    /// The case, scoped to `org` for exporters (another organisation's is `NotFound`).
    pub async fn get_case(
        &self,
        org: Option<&OrganisationId>,
        id: Uuid,
    ) -> Result<Case, StoreError> {
        let read = self.begin_read().await?;
        let case = find_case(&read, org, id).await?;
        read.commit().await?;
        Ok(case)
    }

    /// One page (plus one row) of submitted cases ordered by due date, then id.
    pub async fn list_cases(
        &self,
        filter: &CaseFilter,
        today: NaiveDate,
        page: &PageRequest,
    ) -> Result<Vec<Case>, StoreError> {
        // Only submitted applications are cases: a draft (even one withdrawn before it was
        // submitted) is not the regulator's business, and every case has a due date, so the
        // sort key below is never NULL.
        let mut query = application::Entity::find()
            .filter(
                application::Column::State
                    .ne(clearance_domain::application::ApplicationState::Draft.as_str()),
            )
            .filter(application::Column::SubmitTime.is_not_null())
            .filter(application::Column::DueDate.is_not_null());
        if let Some(reference) = &filter.reference {
            query = query.filter(application::Column::Reference.eq(reference.as_str()));
        }
        match filter.state {
            Some(state) => query = query.filter(application::Column::State.eq(state.as_str())),
            // Looking a case up by its reference finds it in any state.
            None if filter.reference.is_some() => {}
            // The default queue is the work still to do: open cases, and approved ones whose
            // licence's parties a new list version flagged. A state filter brings back
            // decided, returned and withdrawn cases.
            None => {
                query = query.filter(
                    Condition::any()
                        .add(
                            application::Column::State.is_not_in(
                                clearance_domain::application::ApplicationState::ALL
                                    .iter()
                                    .filter(|s| clearance_domain::workflow::is_final(**s))
                                    .map(|s| s.as_str()),
                            ),
                        )
                        .add(application::Column::Id.in_subquery(open_screening_flags())),
                )
            }
        }
        match filter.assignee.as_deref() {
            // `assignee = ""` is the unassigned cases.
            Some("") => query = query.filter(application::Column::Assignee.is_null()),
            Some(assignee) => query = query.filter(application::Column::Assignee.eq(assignee)),
            None => {}
        }
        if let Some(dest) = &filter.destination {
            query = query.filter(application::Column::DestinationCountryCode.eq(dest.as_str()));
        }
        if let Some(policy) = filter.review_policy {
            query = query.filter(application::Column::ReviewPolicy.eq(policy.as_str()));
        }
        let running =
            || application::Column::State.is_in(CLOCK_RUNNING_STATES.iter().map(|s| s.as_str()));
        match filter.overdue {
            Some(true) => {
                query = query
                    .filter(running())
                    .filter(application::Column::DueDate.lt(today))
            }
            Some(false) => {
                query = query.filter(
                    Condition::any()
                        .add(
                            application::Column::State
                                .is_not_in(CLOCK_RUNNING_STATES.iter().map(|s| s.as_str())),
                        )
                        .add(application::Column::DueDate.gte(today))
                        .add(application::Column::DueDate.is_null()),
                )
            }
            None => {}
        }
        if let Some(open) = filter.screening_open {
            let unresolved = open_screening_flags();
            let column = application::Column::Id;
            query = query.filter(if open {
                column.in_subquery(unresolved)
            } else {
                column.not_in_subquery(unresolved)
            });
        }
        if let Some(overdue) = filter.advice_overdue {
            let late = Query::select()
                .column(referral::Column::ApplicationId)
                .from(referral::Entity)
                .and_where(referral::Column::AdviceTime.is_null())
                .and_where(referral::Column::DueDate.lt(today))
                .to_owned();
            let column = application::Column::Id;
            query = query.filter(if overdue {
                column.in_subquery(late)
            } else {
                column.not_in_subquery(late)
            });
        }
        if let Some(after) = page.after {
            let after_due = NaiveDate::from_num_days_from_ce_opt(
                i32::try_from(page.after_sort).unwrap_or(i32::MAX),
            );
            // A row-value comparison both databases turn into one index range.
            let after_due = after_due.unwrap_or(NaiveDate::MAX);
            query = query.filter(
                Expr::tuple([
                    Expr::col(application::Column::DueDate),
                    Expr::col(application::Column::Id),
                ])
                .gt(Expr::tuple([Expr::val(after_due), Expr::val(after)])),
            );
        }
        let rows = query
            .order_by_asc(application::Column::DueDate)
            .order_by_asc(application::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?;
        load_cases(&self.db, rows).await
    }

    /// The approved cases whose parties active licences ship to, a page at a time in licence
    /// order after `after` (a licence id): per licence valid at `now`, its latest approved
    /// amendment if it has one (which carries the parties as amended), else the case that
    /// issued it. Returns the page's last licence id with the cases.
    pub async fn licensing_cases(
        &self,
        after: Option<Uuid>,
        limit: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(Option<Uuid>, Vec<Case>), StoreError> {
        use clearance_domain::application::ApplicationState;
        use clearance_domain::ledger::LicenceState;
        // A suspended or exhausted licence may ship again (reinstated, or given more by an
        // amendment or a cancellation): its parties are screened too.
        let mut query = licence::Entity::find()
            .filter(licence::Column::State.is_in([
                LicenceState::Active.as_str(),
                LicenceState::Exhausted.as_str(),
                LicenceState::Suspended.as_str(),
            ]))
            .filter(licence::Column::ValidUntil.gt(now));
        if let Some(after) = after {
            query = query.filter(licence::Column::Id.gt(after));
        }
        let licences = query
            .order_by_asc(licence::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let last = licences.last().map(|l| l.id);
        if licences.is_empty() {
            return Ok((last, Vec::new()));
        }
        let amendments = application::Entity::find()
            .filter(application::Column::AmendsLicenceId.is_in(licences.iter().map(|l| l.id)))
            .filter(application::Column::State.eq(ApplicationState::Approved.as_str()))
            .all(&self.db)
            .await?;
        // UUIDv7 ids order amendments by filing, and one is pending at a time: the greatest
        // approved one is the latest revision.
        let mut latest: HashMap<Uuid, Uuid> =
            licences.iter().map(|l| (l.id, l.application_id)).collect();
        let mut amended: HashMap<Uuid, Uuid> = HashMap::new();
        for a in &amendments {
            if let Some(licence_id) = a.amends_licence_id {
                let best = amended.entry(licence_id).or_insert(a.id);
                *best = std::cmp::max(*best, a.id);
            }
        }
        latest.extend(amended);
        let ids: Vec<Uuid> = licences
            .iter()
            .filter_map(|l| latest.get(&l.id).copied())
            .collect();
        let rows = application::Entity::find()
            .filter(application::Column::Id.is_in(ids))
            .order_by_asc(application::Column::Id)
            .all(&self.db)
            .await?;
        Ok((last, load_cases(&self.db, rows).await?))
    }

    /// Applies one workflow step: `decide` turns the current case into an update (or refuses),
    /// and the update, its history entry and its outbox event commit together if the case is
    /// still at `expected_version`. `org` scopes the read for exporters.
    pub async fn update_case<U>(
        &self,
        m: &Mutation,
        target: CaseTarget<'_>,
        decide: U,
        encode: Encoder<'_, Case>,
    ) -> Result<Outcome<Case>, StoreError>
    where
        U: Fn(&Case) -> Result<CaseUpdate, DomainError> + Clone + Send + Sync + 'static,
    {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let decide = decide.clone();
            let CaseTarget {
                org,
                id,
                expected_version,
                pinned_products,
                pinned_documents,
                screening_gate,
            } = target.clone();
            let pinned_products = pinned_products.to_vec();
            let pinned_documents = pinned_documents.to_vec();
            Box::pin(async move {
                crate::products::pin_products(txn, &pinned_products).await?;
                crate::documents::pin_documents(txn, org.as_ref(), &pinned_documents).await?;
                let mut current = find_case(txn, org.as_ref(), id).await?;
                // Read in the step's own transaction, so a decision never passes a list
                // version imported before it.
                if screening_gate {
                    current.screening_currency.imported =
                        crate::screening::imported_list_count(txn).await?;
                }
                if current.application.version != expected_version {
                    return Err(StoreError::StaleEtag {
                        current: current.application.version,
                    });
                }
                let update = decide(&current)?;
                apply(txn, &current, &update, expected_version, &m).await?;
                match update.chain {
                    ChangeChain::Application => {
                        let resource = Collection::Applications.name_of(id);
                        let owner = Mutation {
                            organisation: Some(current.application.organisation.clone()),
                            ..m.clone()
                        };
                        record_change(txn, &owner, &resource, update.change.clone()).await?;
                    }
                    ChangeChain::NewReferrals => {}
                }
                crate::referrals::insert_referrals(txn, &m, &update.new_referrals, &update.change)
                    .await?;
                if let Some(issued) = &update.issued_licence {
                    crate::licences::insert_licence(txn, &m, issued).await?;
                }
                if let Some((licence_id, amendment)) = &update.amended_licence {
                    crate::licences::amend_licence(
                        txn,
                        &m,
                        *licence_id,
                        amendment,
                        &current.application.reference,
                    )
                    .await?;
                }
                find_case(txn, None, id).await
            })
        })
        .await
    }
}
