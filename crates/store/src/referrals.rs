//! Referrals of cases to advising agencies and the advice they give. Their history is kept on
//! each referral's own chain, owned by the regulator: applicants never see who was consulted.

use std::collections::HashMap;

use chrono::NaiveDate;
use clearance_domain::DomainError;
use clearance_domain::application::ApplicationState;
use clearance_domain::history::Change;
use clearance_domain::ids::Collection;
use clearance_domain::paging::PageRequest;
use clearance_domain::referral::{AdviceUpdate, GivenAdvice, Referral, ReferralFilter};
use clearance_domain::workflow::Case;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::applications::corrupt;
use crate::cases::{due_sort_key, find_case, load_cases};
use crate::connection::Store;
use crate::entities::{application, referral};
use crate::error::StoreError;
use crate::write::{Encoder, Mutation, Outcome, record_change, record_creation};

/// A referral with the case it refers (which advisers see as referred).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferredCase {
    pub referral: Referral,
    pub case: Case,
}

fn referral_from(row: referral::Model) -> Result<Referral, StoreError> {
    let id = row.id;
    let unreadable = |e: serde_json::Error| corrupt(id, format!("stored JSON unreadable: {e}"));
    let advice = match (row.advice_json, row.adviser, row.advice_time) {
        (Some(json), Some(adviser), Some(time)) => Some(GivenAdvice {
            adviser,
            time,
            lines: serde_json::from_str(&json).map_err(unreadable)?,
        }),
        (None, None, None) => None,
        _ => return Err(corrupt(id, "advice recorded in part")),
    };
    Ok(Referral {
        id,
        application_id: row.application_id,
        version: row.version,
        agency: row.agency,
        lines: serde_json::from_str(&row.lines_json).map_err(unreadable)?,
        referred_by: row.referred_by,
        referred_time: row.referred_time,
        due_date: row.due_date,
        advice,
    })
}

use crate::json_column::to_json;

/// The referrals of the given applications, oldest first.
pub(crate) async fn load_referrals<C: ConnectionTrait>(
    conn: &C,
    application_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Referral>>, StoreError> {
    let mut by_application: HashMap<Uuid, Vec<Referral>> = HashMap::new();
    if application_ids.is_empty() {
        return Ok(by_application);
    }
    for row in referral::Entity::find()
        .filter(referral::Column::ApplicationId.is_in(application_ids.iter().copied()))
        .order_by_asc(referral::Column::Id)
        .all(conn)
        .await?
    {
        by_application
            .entry(row.application_id)
            .or_default()
            .push(referral_from(row)?);
    }
    Ok(by_application)
}

/// Inserts the referrals a step made, each starting its own history with `change`.
pub(crate) async fn insert_referrals(
    txn: &DatabaseTransaction,
    m: &Mutation,
    referrals: &[Referral],
    change: &Change,
) -> Result<(), StoreError> {
    // The regulator owns referral histories and their events.
    let regulator = Mutation {
        organisation: None,
        ..m.clone()
    };
    for r in referrals {
        referral::Entity::insert(referral::ActiveModel {
            id: Set(r.id),
            application_id: Set(r.application_id),
            version: Set(r.version),
            agency: Set(r.agency.clone()),
            lines_json: Set(to_json(&r.lines)?),
            referred_by: Set(r.referred_by.clone()),
            referred_time: Set(r.referred_time),
            due_date: Set(r.due_date),
            advice_json: Set(None),
            adviser: Set(None),
            advice_time: Set(None),
        })
        .exec_without_returning(txn)
        .await?;
        record_creation(
            txn,
            &regulator,
            &Collection::Referrals.name_of(r.id),
            change.clone(),
        )
        .await?;
    }
    Ok(())
}

/// Attaches each referral's case.
async fn with_cases<C: ConnectionTrait>(
    conn: &C,
    referrals: Vec<Referral>,
) -> Result<Vec<ReferredCase>, StoreError> {
    let mut ids: Vec<Uuid> = referrals.iter().map(|r| r.application_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = application::Entity::find()
        .filter(application::Column::Id.is_in(ids))
        .all(conn)
        .await?;
    let cases: HashMap<Uuid, Case> = load_cases(conn, rows)
        .await?
        .into_iter()
        .map(|c| (c.application.id, c))
        .collect();
    referrals
        .into_iter()
        .map(|referral| {
            let case = cases
                .get(&referral.application_id)
                .cloned()
                .ok_or_else(|| corrupt(referral.id, "the referred application is missing"))?;
            Ok(ReferredCase { referral, case })
        })
        .collect()
}

async fn find_referral<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    agency: Option<&str>,
) -> Result<Referral, StoreError> {
    let mut query = referral::Entity::find_by_id(id);
    if let Some(agency) = agency {
        query = query.filter(referral::Column::Agency.eq(agency));
    }
    referral_from(query.one(conn).await?.ok_or(StoreError::NotFound)?)
}

impl Store {
    /// The referral and its case; scoped to `agency` for advisers (another agency's is
    /// `NotFound`).
    pub async fn get_referral(
        &self,
        id: Uuid,
        agency: Option<&str>,
    ) -> Result<ReferredCase, StoreError> {
        let read = self.begin_read().await?;
        let referral = find_referral(&read, id, agency).await?;
        let found = with_cases(&read, vec![referral])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)?;
        read.commit().await?;
        Ok(found)
    }

    /// One page (plus one row) of referrals ordered by due date, then id; `agency` scopes an
    /// adviser's list to its own agency.
    pub async fn list_referrals(
        &self,
        filter: &ReferralFilter,
        agency: Option<&str>,
        today: NaiveDate,
        page: &PageRequest,
    ) -> Result<Vec<ReferredCase>, StoreError> {
        let mut query = referral::Entity::find();
        for agency in [agency, filter.agency.as_deref()].into_iter().flatten() {
            query = query.filter(referral::Column::Agency.eq(agency));
        }
        if let Some(case) = filter.case {
            query = query.filter(referral::Column::ApplicationId.eq(case));
        }
        match filter.outstanding {
            Some(true) => query = query.filter(referral::Column::AdviceTime.is_null()),
            Some(false) => query = query.filter(referral::Column::AdviceTime.is_not_null()),
            None => {}
        }
        match filter.overdue {
            Some(true) => {
                query = query
                    .filter(referral::Column::AdviceTime.is_null())
                    .filter(referral::Column::DueDate.lt(today))
            }
            Some(false) => {
                query = query.filter(
                    sea_orm::Condition::any()
                        .add(referral::Column::AdviceTime.is_not_null())
                        .add(referral::Column::DueDate.gte(today)),
                )
            }
            None => {}
        }
        if let Some(after) = page.after {
            let after_due = NaiveDate::from_num_days_from_ce_opt(
                i32::try_from(page.after_sort).unwrap_or(i32::MAX),
            )
            .unwrap_or(NaiveDate::MAX);
            query = query.filter(
                Expr::tuple([
                    Expr::col(referral::Column::DueDate),
                    Expr::col(referral::Column::Id),
                ])
                .gt(Expr::tuple([Expr::val(after_due), Expr::val(after)])),
            );
        }
        let read = self.begin_read().await?;
        let rows = query
            .order_by_asc(referral::Column::DueDate)
            .order_by_asc(referral::Column::Id)
            .limit(page.fetch_limit())
            .all(&read)
            .await?;
        let referrals = rows
            .into_iter()
            .map(referral_from)
            .collect::<Result<Vec<_>, _>>()?;
        let found = with_cases(&read, referrals).await?;
        read.commit().await?;
        Ok(found)
    }

    /// Records an agency's advice: `decide` turns the referral (looked up within `agency`) and
    /// its case's state into the advised referral, which commits with its history entry if the
    /// referral is still at `expected_version`.
    pub async fn give_advice<U>(
        &self,
        m: &Mutation,
        id: Uuid,
        agency: &str,
        expected_version: i64,
        decide: U,
        encode: Encoder<'_, ReferredCase>,
    ) -> Result<Outcome<ReferredCase>, StoreError>
    where
        U: Fn(&Referral, ApplicationState) -> Result<AdviceUpdate, DomainError>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        self.idempotent_write(m, encode, |txn| {
            let m = Mutation {
                organisation: None,
                ..m.clone()
            };
            let decide = decide.clone();
            let agency = agency.to_owned();
            Box::pin(async move {
                let current = find_referral(txn, id, Some(&agency)).await?;
                if current.version != expected_version {
                    return Err(StoreError::StaleEtag {
                        current: current.version,
                    });
                }
                let case = find_case(txn, None, current.application_id).await?;
                let update = decide(&current, case.application.state)?;
                let advice = update
                    .referral
                    .advice
                    .as_ref()
                    .ok_or_else(|| StoreError::Corrupt("advice without advice".into()))?;
                // Only an outstanding referral at the version read takes advice, so an agency
                // advises exactly once however many calls race.
                let advised = referral::Entity::update_many()
                    .col_expr(
                        referral::Column::Version,
                        Expr::value(update.referral.version),
                    )
                    .col_expr(
                        referral::Column::AdviceJson,
                        Expr::value(Some(to_json(&advice.lines)?)),
                    )
                    .col_expr(
                        referral::Column::Adviser,
                        Expr::value(Some(advice.adviser.clone())),
                    )
                    .col_expr(referral::Column::AdviceTime, Expr::value(Some(advice.time)))
                    .filter(referral::Column::Id.eq(id))
                    .filter(referral::Column::Version.eq(expected_version))
                    .filter(referral::Column::AdviceTime.is_null())
                    .exec(txn)
                    .await?;
                if advised.rows_affected != 1 {
                    return Err(StoreError::StaleEtag {
                        current: expected_version + 1,
                    });
                }
                record_change(
                    txn,
                    &m,
                    &Collection::Referrals.name_of(id),
                    update.change.clone(),
                )
                .await?;
                Ok(ReferredCase {
                    referral: update.referral,
                    case,
                })
            })
        })
        .await
    }
}

/// The queue key of a referral: its due date.
pub fn referral_sort_key(r: &Referral) -> (i64, Uuid) {
    (due_sort_key(Some(r.due_date)), r.id)
}
