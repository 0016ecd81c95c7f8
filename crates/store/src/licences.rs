//! Licences and shipments: issuance, the depletion ledger (guarded updates, never
//! read-then-write), cancellation, licence actions and expiry.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use clearance_domain::DomainError;
use clearance_domain::application::{Money, Party};
use clearance_domain::codes::{CountryCode, CurrencyCode};
use clearance_domain::error::reason;
use clearance_domain::history::Change;
use clearance_domain::ids::{Collection, OrganisationId};
use clearance_domain::ledger::{
    Cover, Licence, LicenceAmendment, LicenceFilter, LicenceLine, LicenceState, Shipment,
    ShipmentEndUser, ShipmentFilter, ShipmentLine, ShipmentSpec, ShipmentState, licence_number,
};
use clearance_domain::paging::PageRequest;
use clearance_domain::policy::{Determination, TransactionKind};
use sea_orm::sea_query::{Expr, ExprTrait, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::applications::{ImpactSubject, impact_lines, next_in_sequence};
use crate::batch::Batch;
use crate::connection::Store;
use crate::entities::{licence, licence_line, shipment, shipment_line};
use crate::error::StoreError;
use crate::write::{
    Encoder, Mutation, Outcome, PendingChange, change_by, record_change, record_changes,
    stage_changes,
};

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

use crate::json_column::to_json;

fn currency(code: &str) -> Result<CurrencyCode, StoreError> {
    CurrencyCode::parse("currency", code).map_err(corrupt)
}

fn licence_from(
    row: licence::Model,
    lines: Vec<licence_line::Model>,
) -> Result<Licence, StoreError> {
    let lines = lines
        .into_iter()
        .map(|l| {
            Ok(LicenceLine {
                product_id: l.product_id,
                granted_quantity: l.granted_quantity,
                granted_value: Money {
                    currency: currency(&l.currency_code)?,
                    minor_units: l.granted_value_minor_units,
                },
                remaining_quantity: l.remaining_quantity,
                remaining_value_minor: l.remaining_value_minor_units,
                value_tolerance_minor: l.value_tolerance_minor_units,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Licence {
        id: row.id,
        number: row.number,
        holder: OrganisationId::parse(&row.organisation_id).map_err(corrupt)?,
        application_id: row.application_id,
        destination: CountryCode::parse("destination", &row.destination_country_code)
            .map_err(corrupt)?,
        transaction_kind: TransactionKind::parse(&row.transaction_kind)
            .ok_or_else(|| corrupt(&row.transaction_kind))?,
        parties: serde_json::from_str::<Vec<Party>>(&row.parties_json).map_err(corrupt)?,
        conditions: serde_json::from_str(&row.conditions_json).map_err(corrupt)?,
        terms: crate::json_column::from_optional_json(
            row.id,
            "terms_json",
            row.terms_json.as_deref(),
        )?,
        valid_from: row.valid_from,
        valid_until: row.valid_until,
        value_tolerance_percent: row.value_tolerance_percent,
        lines,
        state: LicenceState::parse(&row.state).ok_or_else(|| corrupt(&row.state))?,
        revision: row.revision,
        version: row.version,
        create_time: row.create_time,
        update_time: row.update_time,
    })
}

async fn load_licences<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<licence::Model>,
) -> Result<Vec<Licence>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut lines: HashMap<Uuid, Vec<licence_line::Model>> = HashMap::new();
    if !ids.is_empty() {
        for l in licence_line::Entity::find()
            .filter(licence_line::Column::LicenceId.is_in(ids))
            .order_by_asc(licence_line::Column::LineIndex)
            .all(conn)
            .await?
        {
            lines.entry(l.licence_id).or_default().push(l);
        }
    }
    rows.into_iter()
        .map(|r| {
            let l = lines.remove(&r.id).unwrap_or_default();
            licence_from(r, l)
        })
        .collect()
}

/// The licence, locked for the rest of the transaction on PostgreSQL (SQLite has one writer).
pub(crate) async fn find_licence<C: ConnectionTrait>(
    conn: &C,
    org: Option<&OrganisationId>,
    id: Uuid,
    lock: bool,
) -> Result<Licence, StoreError> {
    let mut query = licence::Entity::find_by_id(id);
    if let Some(org) = org {
        query = query.filter(licence::Column::OrganisationId.eq(org.as_str()));
    }
    if lock && conn.get_database_backend() == DbBackend::Postgres {
        query = query.lock(LockType::Update);
    }
    let row = query.one(conn).await?.ok_or(StoreError::NotFound)?;
    load_licences(conn, vec![row])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

fn licence_payload(l: &Licence) -> Result<serde_json::Value, StoreError> {
    crate::write::history_payload(l)
}

/// Inserts a newly issued licence with the next number of the year, and its history.
pub(crate) async fn insert_licence(
    txn: &DatabaseTransaction,
    m: &Mutation,
    issued: &Licence,
) -> Result<Licence, StoreError> {
    let year = issued.create_time.year();
    let sequence = next_in_sequence(txn, &format!("licence:{year}")).await?;
    let licence = Licence {
        number: licence_number(year, sequence),
        ..issued.clone()
    };
    licence::Entity::insert(licence::ActiveModel {
        id: Set(licence.id),
        number: Set(licence.number.clone()),
        organisation_id: Set(licence.holder.as_str().to_owned()),
        application_id: Set(licence.application_id),
        destination_country_code: Set(licence.destination.as_str().to_owned()),
        parties_json: Set(to_json(&licence.parties)?),
        conditions_json: Set(to_json(&licence.conditions)?),
        valid_from: Set(licence.valid_from),
        valid_until: Set(licence.valid_until),
        value_tolerance_percent: Set(licence.value_tolerance_percent),
        state: Set(licence.state.as_str().to_owned()),
        revision: Set(licence.revision),
        version: Set(licence.version),
        create_time: Set(licence.create_time),
        update_time: Set(licence.update_time),
        end_user_key: Set(licence.end_user_key()),
        transaction_kind: Set(licence.transaction_kind.as_str().to_owned()),
        terms_json: Set(crate::json_column::to_optional_json(&licence.terms)?),
    })
    .exec_without_returning(txn)
    .await?;
    if !licence.lines.is_empty() {
        licence_line::Entity::insert_many(licence.lines.iter().enumerate().map(|(i, l)| {
            licence_line::ActiveModel {
                licence_id: Set(licence.id),
                line_index: Set(i as i32),
                product_id: Set(l.product_id),
                granted_quantity: Set(l.granted_quantity),
                granted_value_minor_units: Set(l.granted_value.minor_units),
                currency_code: Set(l.granted_value.currency.as_str().to_owned()),
                remaining_quantity: Set(l.remaining_quantity),
                remaining_value_minor_units: Set(l.remaining_value_minor),
                value_tolerance_minor_units: Set(l.value_tolerance_minor),
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    let owner = Mutation {
        organisation: Some(licence.holder.clone()),
        ..m.clone()
    };
    let resource = Collection::Licences.name_of(licence.id);
    crate::write::record_creation(
        txn,
        &owner,
        &resource,
        change_by(
            &owner,
            "licence.issued",
            "",
            "ACTIVE",
            licence_payload(&licence)?,
        ),
    )
    .await?;
    Ok(licence)
}

/// A balance changed: a new version (so the licence's etag changes) and update time.
async fn touch_licence(
    txn: &DatabaseTransaction,
    id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    licence::Entity::update_many()
        .col_expr(
            licence::Column::Version,
            Expr::col(licence::Column::Version).add(1),
        )
        .col_expr(licence::Column::UpdateTime, Expr::value(now))
        .filter(licence::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Applies an approved amendment: the next revision is computed from the licence as read under
/// its row lock (shipments take the same lock), and each changed line is written relative to
/// its balance — remaining grows by exactly what the grant grows — so what has shipped stays
/// counted. `case_reference` names the amendment case in the licence's history.
pub(crate) async fn amend_licence(
    txn: &DatabaseTransaction,
    m: &Mutation,
    licence_id: Uuid,
    amendment: &LicenceAmendment,
    case_reference: &str,
) -> Result<Licence, StoreError> {
    let current = find_licence(txn, None, licence_id, true).await?;
    let next = current
        .amended(amendment, m.now)
        .map_err(|v| DomainError::FailedPrecondition {
            reason: reason::INVALID_TRANSITION,
            message: format!("the licence as it stands cannot take this amendment: {v}"),
        })?;
    let stale = || StoreError::Conflict("the licence changed while it was amended; retry".into());
    for (index, (before, after)) in current.lines.iter().zip(&next.lines).enumerate() {
        if before == after {
            continue;
        }
        let more_quantity = after.granted_quantity - before.granted_quantity;
        let more_value = after.granted_value.minor_units - before.granted_value.minor_units;
        let revised = licence_line::Entity::update_many()
            .col_expr(
                licence_line::Column::GrantedQuantity,
                Expr::value(after.granted_quantity),
            )
            .col_expr(
                licence_line::Column::GrantedValueMinorUnits,
                Expr::value(after.granted_value.minor_units),
            )
            .col_expr(
                licence_line::Column::RemainingQuantity,
                Expr::col(licence_line::Column::RemainingQuantity).add(more_quantity),
            )
            .col_expr(
                licence_line::Column::RemainingValueMinorUnits,
                Expr::col(licence_line::Column::RemainingValueMinorUnits).add(more_value),
            )
            .col_expr(
                licence_line::Column::ValueToleranceMinorUnits,
                Expr::value(after.value_tolerance_minor),
            )
            .filter(licence_line::Column::LicenceId.eq(licence_id))
            .filter(licence_line::Column::LineIndex.eq(index as i32))
            .filter(licence_line::Column::GrantedQuantity.eq(before.granted_quantity))
            .filter(
                Expr::col(licence_line::Column::RemainingQuantity)
                    .add(more_quantity)
                    .gte(0),
            )
            .exec(txn)
            .await?;
        if revised.rows_affected != 1 {
            return Err(stale());
        }
    }
    let revised = licence::Entity::update_many()
        .col_expr(licence::Column::State, Expr::value(next.state.as_str()))
        .col_expr(licence::Column::Revision, Expr::value(next.revision))
        .col_expr(licence::Column::Version, Expr::value(next.version))
        .col_expr(licence::Column::ValidUntil, Expr::value(next.valid_until))
        .col_expr(
            licence::Column::PartiesJson,
            Expr::value(to_json(&next.parties)?),
        )
        .col_expr(
            licence::Column::EndUserKey,
            Expr::value(next.end_user_key()),
        )
        .col_expr(licence::Column::UpdateTime, Expr::value(m.now))
        .filter(licence::Column::Id.eq(licence_id))
        .filter(licence::Column::Version.eq(current.version))
        .exec(txn)
        .await?;
    if revised.rows_affected != 1 {
        return Err(stale());
    }
    let owner = Mutation {
        organisation: Some(current.holder.clone()),
        ..m.clone()
    };
    let change = Change {
        reason: format!("revision {}, amended by {case_reference}", next.revision),
        ..change_by(
            &owner,
            "licence.amended",
            current.state.as_str(),
            next.state.as_str(),
            licence_payload(&next)?,
        )
    };
    record_change(
        txn,
        &owner,
        &Collection::Licences.name_of(licence_id),
        change,
    )
    .await?;
    Ok(next)
}

/// Moves a licence from `from` to `to` if it is still in `from`, with history.
async fn move_licence(
    txn: &DatabaseTransaction,
    m: &Mutation,
    l: &Licence,
    to: LicenceState,
    action: &'static str,
    reason_text: &str,
) -> Result<bool, StoreError> {
    let moved = licence::Entity::update_many()
        .col_expr(licence::Column::State, Expr::value(to.as_str()))
        .col_expr(
            licence::Column::Version,
            Expr::col(licence::Column::Version).add(1),
        )
        .col_expr(licence::Column::UpdateTime, Expr::value(m.now))
        .filter(licence::Column::Id.eq(l.id))
        .filter(licence::Column::State.eq(l.state.as_str()))
        .exec(txn)
        .await?;
    if moved.rows_affected != 1 {
        return Ok(false);
    }
    let change = state_change(m, l, to, action, reason_text);
    record_changes(txn, vec![change]).await?;
    Ok(true)
}

/// The history of a licence moving to `to`, recorded under its holder.
fn state_change(
    m: &Mutation,
    l: &Licence,
    to: LicenceState,
    action: &'static str,
    reason_text: &str,
) -> PendingChange {
    let owner = Mutation {
        organisation: Some(l.holder.clone()),
        ..m.clone()
    };
    let change = Change {
        reason: reason_text.to_owned(),
        ..change_by(
            &owner,
            action,
            l.state.as_str(),
            to.as_str(),
            json!({ "licence": l.number, "state": to.as_str() }),
        )
    };
    PendingChange {
        resource: Collection::Licences.name_of(l.id),
        change,
        mutation: owner,
        new_resource: false,
    }
}

fn shipment_from(
    row: shipment::Model,
    lines: Vec<shipment_line::Model>,
) -> Result<Shipment, StoreError> {
    let end_user: ShipmentEndUser = serde_json::from_str(&row.end_user_json).map_err(corrupt)?;
    Ok(Shipment {
        id: row.id,
        organisation: OrganisationId::parse(&row.organisation_id).map_err(corrupt)?,
        licence_id: row.licence_id,
        state: ShipmentState::parse(&row.state).ok_or_else(|| corrupt(&row.state))?,
        no_licence_required: row.no_licence_required,
        determinations: serde_json::from_str::<Vec<Determination>>(&row.determinations_json)
            .map_err(corrupt)?,
        spec: ShipmentSpec {
            destination: CountryCode::parse("destination", &row.destination_country_code)
                .map_err(corrupt)?,
            end_user_name: end_user.display_name,
            end_user_country: end_user.country,
            end_user_headquarters: end_user.headquarters_country,
            consignee: end_user.consignee,
            erp_reference: row.erp_reference,
            shipment_time: row.shipment_time,
            recorded_time: row.create_time,
            lines: lines
                .into_iter()
                .map(|l| {
                    Ok(ShipmentLine {
                        product_id: l.product_id,
                        quantity: l.quantity,
                        value: Money {
                            currency: currency(&l.currency_code)?,
                            minor_units: l.value_minor_units,
                        },
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?,
            transaction: TransactionKind::parse(&row.transaction_kind)
                .ok_or_else(|| corrupt(&row.transaction_kind))?,
            test_report: crate::json_column::from_optional_json(
                row.id,
                "test_report_json",
                row.test_report_json.as_deref(),
            )?,
        },
        cancel_time: row.cancel_time,
        cancel_reason: row.cancel_reason,
        create_time: row.create_time,
    })
}

async fn load_shipments<C: ConnectionTrait>(
    conn: &C,
    rows: Vec<shipment::Model>,
) -> Result<Vec<Shipment>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut lines: HashMap<Uuid, Vec<shipment_line::Model>> = HashMap::new();
    if !ids.is_empty() {
        for l in shipment_line::Entity::find()
            .filter(shipment_line::Column::ShipmentId.is_in(ids))
            .order_by_asc(shipment_line::Column::LineIndex)
            .all(conn)
            .await?
        {
            lines.entry(l.shipment_id).or_default().push(l);
        }
    }
    rows.into_iter()
        .map(|r| {
            let l = lines.remove(&r.id).unwrap_or_default();
            shipment_from(r, l)
        })
        .collect()
}

async fn find_shipment<C: ConnectionTrait>(
    conn: &C,
    org: &OrganisationId,
    id: Uuid,
) -> Result<Shipment, StoreError> {
    let row = shipment::Entity::find_by_id(id)
        .filter(shipment::Column::OrganisationId.eq(org.as_str()))
        .one(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    load_shipments(conn, vec![row])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// Leaves the shipment's inserts in `batch`; returns it and its first history change.
fn stage_shipment(
    batch: &mut Batch,
    m: &Mutation,
    org: &OrganisationId,
    spec: &ShipmentSpec,
    licence: Option<&Licence>,
    determinations: &[Determination],
) -> Result<(Shipment, PendingChange), StoreError> {
    let shipment = Shipment {
        id: Uuid::now_v7(),
        organisation: org.clone(),
        licence_id: licence.map(|l| l.id),
        state: ShipmentState::Started,
        no_licence_required: licence.is_none(),
        determinations: determinations.to_vec(),
        spec: spec.clone(),
        cancel_time: None,
        cancel_reason: None,
        create_time: m.now,
    };
    let end_user = ShipmentEndUser {
        display_name: spec.end_user_name.clone(),
        country: spec.end_user_country.clone(),
        headquarters_country: spec.end_user_headquarters.clone(),
        consignee: spec.consignee.clone(),
    };
    batch.insert(
        shipment::Entity::insert(shipment::ActiveModel {
            id: Set(shipment.id),
            organisation_id: Set(org.as_str().to_owned()),
            licence_id: Set(shipment.licence_id),
            state: Set(shipment.state.as_str().to_owned()),
            no_licence_required: Set(shipment.no_licence_required),
            determinations_json: Set(to_json(&shipment.determinations)?),
            destination_country_code: Set(spec.destination.as_str().to_owned()),
            end_user_json: Set(to_json(&end_user)?),
            erp_reference: Set(spec.erp_reference.clone()),
            shipment_time: Set(spec.shipment_time),
            cancel_time: Set(None),
            cancel_reason: Set(None),
            create_time: Set(m.now),
            transaction_kind: Set(spec.transaction.as_str().to_owned()),
            test_report_json: Set(crate::json_column::to_optional_json(&spec.test_report)?),
        })
        .into_query(),
    );
    batch.insert(
        shipment_line::Entity::insert_many(spec.lines.iter().enumerate().map(|(i, l)| {
            shipment_line::ActiveModel {
                shipment_id: Set(shipment.id),
                line_index: Set(i as i32),
                product_id: Set(l.product_id),
                licence_line_index: Set(licence
                    .and_then(|lic| lic.line_of(l.product_id))
                    .map(|(idx, _)| idx as i32)),
                quantity: Set(l.quantity),
                value_minor_units: Set(l.value.minor_units),
                currency_code: Set(l.value.currency.as_str().to_owned()),
            }
        }))
        .into_query(),
    );
    let started = PendingChange {
        mutation: m.clone(),
        resource: Collection::Shipments.name_of(shipment.id),
        change: change_by(
            m,
            "shipment.started",
            "",
            "STARTED",
            crate::write::history_payload(&shipment)?,
        ),
        new_resource: true,
    };
    Ok((shipment, started))
}

/// A licence line with room for `quantity` more units worth `value_minor` (the value may use
/// the tolerance): the ledger's guard, in SQL.
fn has_room(quantity: i64, value_minor: i64) -> sea_orm::sea_query::SimpleExpr {
    licence_line::Column::RemainingQuantity.gte(quantity).and(
        Expr::col(licence_line::Column::RemainingValueMinorUnits)
            .add(Expr::col(licence_line::Column::ValueToleranceMinorUnits))
            .gte(value_minor),
    )
}

/// Leaves in `batch` the shipment's draw on `licence` (which covers it and which the caller
/// holds locked): one guarded update per licence line, so a line without room fails the whole
/// transaction, and one update of the licence's version (its etag), exhausting it when nothing
/// remains. Returns the licence's history changes.
fn stage_drawdown(
    batch: &mut Batch,
    m: &Mutation,
    licence: &Licence,
    spec: &ShipmentSpec,
) -> Vec<PendingChange> {
    for draw in licence.drawdowns(spec) {
        batch.guarded_update(
            licence_line::Entity::update_many()
                .col_expr(
                    licence_line::Column::RemainingQuantity,
                    Expr::col(licence_line::Column::RemainingQuantity).sub(draw.quantity),
                )
                .col_expr(
                    licence_line::Column::RemainingValueMinorUnits,
                    Expr::col(licence_line::Column::RemainingValueMinorUnits).sub(draw.value_minor),
                )
                .filter(licence_line::Column::LicenceId.eq(licence.id))
                .filter(licence_line::Column::LineIndex.eq(draw.line_index as i32))
                .filter(has_room(draw.quantity, draw.value_minor))
                .into_query(),
            1,
            refused(
                reason::QUANTITY_EXCEEDED,
                "the licence no longer has room for this shipment",
            ),
        );
    }
    // The guarded updates leave exactly these balances.
    let after = licence.after_shipment(spec);
    let state = if after.is_exhausted() {
        LicenceState::Exhausted
    } else {
        licence.state
    };
    batch.guarded_update(
        licence::Entity::update_many()
            .col_expr(
                licence::Column::Version,
                Expr::col(licence::Column::Version).add(1),
            )
            .col_expr(licence::Column::UpdateTime, Expr::value(m.now))
            .col_expr(licence::Column::State, Expr::value(state.as_str()))
            .filter(licence::Column::Id.eq(licence.id))
            .filter(licence::Column::State.eq(licence.state.as_str()))
            .into_query(),
        1,
        StoreError::Conflict("the licence changed while the shipment was recorded".into()),
    );
    let owner = Mutation {
        organisation: Some(licence.holder.clone()),
        ..m.clone()
    };
    let drawn: Vec<serde_json::Value> = spec
        .lines
        .iter()
        .map(|l| json!({ "product_id": l.product_id, "quantity": l.quantity, "value_minor_units": l.value.minor_units }))
        .collect();
    let mut changes = vec![PendingChange {
        resource: Collection::Licences.name_of(licence.id),
        change: change_by(
            &owner,
            "licence.drawn_down",
            licence.state.as_str(),
            licence.state.as_str(),
            json!({ "request_id": m.request_id, "lines": drawn }),
        ),
        mutation: owner,
        new_resource: false,
    }];
    if state != licence.state {
        changes.push(state_change(m, licence, state, "licence.exhausted", ""));
    }
    changes
}

/// The refusal that names `licence` and every reason it does not cover the shipment, or
/// `None` when it covers it.
fn not_covering(licence: &Licence, spec: &ShipmentSpec) -> Option<StoreError> {
    let problems = licence.coverage(spec);
    let first = problems.first()?;
    let described: Vec<String> = problems.iter().map(|p| p.describe()).collect();
    Some(refused(
        first.reason(),
        format!("licence {}: {}", licence.number, described.join("; ")),
    ))
}

/// How many licences the one-statement pick may offer that the full coverage check then
/// refuses (a race, another currency, a product on two lines) before the first covering
/// licence is looked for one by one.
const PICK_ATTEMPTS: usize = 3;

/// The holder's first licence, in expiry order, that covers the shipment, locked for the rest
/// of the transaction.
///
/// One query picks and locks it: an active licence to the destination and end user, valid at
/// the shipment's time, with room on a line for every product. Those are necessary conditions
/// of coverage, so it passes over no covering licence; the domain's coverage check then has
/// the last word. The number of statements does not grow with the number of licences held.
async fn first_covering(
    txn: &DatabaseTransaction,
    org: &OrganisationId,
    spec: &ShipmentSpec,
    required_because: &str,
) -> Result<Licence, StoreError> {
    let mut passed_over: Vec<Uuid> = Vec::new();
    for _ in 0..PICK_ATTEMPTS {
        let mut query = licence::Entity::find()
            .filter(licence::Column::OrganisationId.eq(org.as_str()))
            .filter(licence::Column::DestinationCountryCode.eq(spec.destination.as_str()))
            .filter(licence::Column::TransactionKind.eq(spec.transaction.as_str()))
            .filter(licence::Column::State.eq(LicenceState::Active.as_str()))
            .filter(licence::Column::ValidFrom.lte(spec.shipment_time))
            .filter(licence::Column::ValidUntil.gt(spec.shipment_time))
            .filter(licence::Column::ValidUntil.gt(spec.recorded_time))
            .filter(
                licence::Column::EndUserKey
                    .eq(spec.end_user_key())
                    .or(licence::Column::EndUserKey.is_null()),
            );
        if !passed_over.is_empty() {
            query = query.filter(licence::Column::Id.is_not_in(passed_over.clone()));
        }
        for demand in spec.demand() {
            query = query.filter(Expr::exists(
                sea_orm::sea_query::Query::select()
                    .expr(Expr::val(1))
                    .from(licence_line::Entity)
                    .and_where(
                        Expr::col((licence_line::Entity, licence_line::Column::LicenceId))
                            .equals((licence::Entity, licence::Column::Id)),
                    )
                    .and_where(licence_line::Column::ProductId.eq(demand.product_id))
                    .and_where(has_room(demand.quantity, demand.value_minor))
                    .to_owned(),
            ));
        }
        query = query
            .order_by_asc(licence::Column::ValidUntil)
            .order_by_asc(licence::Column::Id)
            .limit(1);
        if txn.get_database_backend() == DbBackend::Postgres {
            query = query.lock(LockType::Update);
        }
        let Some(row) = query.one(txn).await? else {
            break;
        };
        let licence = load_licences(txn, vec![row])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)?;
        if not_covering(&licence, spec).is_none() {
            return Ok(licence);
        }
        passed_over.push(licence.id);
    }
    // Rare: the pick found nothing, or only licences the full check refuses. Look at every
    // candidate under its lock, so the answer is right and the refusal names the first.
    let mut first_refusal = None;
    for candidate in candidates(txn, org, &spec.destination).await? {
        let licence = find_licence(txn, Some(org), candidate.id, true).await?;
        match not_covering(&licence, spec) {
            None => return Ok(licence),
            Some(refusal) => {
                first_refusal.get_or_insert(refusal);
            }
        }
    }
    Err(first_refusal.unwrap_or_else(|| refused(reason::LICENCE_REQUIRED, required_because)))
}

fn refused(reason: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Domain(DomainError::FailedPrecondition {
        reason,
        message: message.into(),
    })
}

impl Store {
    pub async fn get_licence(
        &self,
        org: Option<&OrganisationId>,
        id: Uuid,
    ) -> Result<Licence, StoreError> {
        let read = self.begin_read().await?;
        let licence = find_licence(&read, org, id, false).await?;
        read.commit().await?;
        Ok(licence)
    }

    /// One page (plus one row) of licences in id order: the holder's (`Some(org)`, exporters)
    /// or every holder's (`None`, regulators).
    pub async fn list_licences(
        &self,
        org: Option<&OrganisationId>,
        filter: &LicenceFilter,
        page: &PageRequest,
    ) -> Result<Vec<Licence>, StoreError> {
        let mut query = licence::Entity::find();
        if let Some(org) = org.or(filter.organisation.as_ref()) {
            query = query.filter(licence::Column::OrganisationId.eq(org.as_str()));
        }
        if let (Some(_), Some(wanted)) = (org, &filter.organisation)
            && Some(wanted) != org
        {
            // An exporter asking for another holder's licences sees none.
            return Ok(Vec::new());
        }
        if let Some(state) = filter.state {
            query = query.filter(licence::Column::State.eq(state.as_str()));
        }
        if let Some(application) = filter.application {
            query = query.filter(licence::Column::ApplicationId.eq(application));
        }
        if let Some(number) = &filter.number {
            query = query.filter(licence::Column::Number.eq(number.as_str()));
        }
        if let Some(day) = filter.expiring_before {
            let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            query = query.filter(licence::Column::ValidUntil.lt(start));
        }
        if let Some(after) = page.after {
            query = query.filter(licence::Column::Id.gt(after));
        }
        let read = self.begin_read().await?;
        let rows = query
            .order_by_asc(licence::Column::Id)
            .limit(page.fetch_limit())
            .all(&read)
            .await?;
        let licences = load_licences(&read, rows).await?;
        read.commit().await?;
        Ok(licences)
    }

    /// Every licence of the holder to `destination`: active and exhausted ones first, then
    /// suspended, revoked and expired ones, each group expiring first first, for coverage
    /// checks that say why each does or does not cover.
    pub async fn candidate_licences(
        &self,
        org: &OrganisationId,
        destination: &CountryCode,
    ) -> Result<Vec<Licence>, StoreError> {
        candidates(&self.db, org, destination).await
    }

    /// A regulator's action (suspend, revoke, reinstate; `org` None) or the holder's
    /// (surrender; `org` its organisation, so another's licence is not found) if the licence is
    /// still at `expected_version`.
    pub async fn update_licence<U>(
        &self,
        m: &Mutation,
        org: Option<&OrganisationId>,
        id: Uuid,
        expected_version: i64,
        decide: U,
        encode: Encoder<'_, Licence>,
    ) -> Result<Outcome<Licence>, StoreError>
    where
        U: Fn(&Licence) -> Result<(LicenceState, &'static str, String), DomainError>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let org = org.cloned();
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let decide = decide.clone();
            let org = org.clone();
            Box::pin(async move {
                let current = find_licence(txn, org.as_ref(), id, true).await?;
                if current.version != expected_version {
                    return Err(StoreError::StaleEtag {
                        current: current.version,
                    });
                }
                let (to, action, reason_text) = decide(&current)?;
                if !move_licence(txn, &m, &current, to, action, &reason_text).await? {
                    return Err(StoreError::StaleEtag {
                        current: current.version + 1,
                    });
                }
                find_licence(txn, None, id, false).await
            })
        })
        .await
    }

    /// Starts a shipment: records it as NLR, or depletes the named or first covering licence
    /// (exhausting it when nothing remains), all in one transaction whose writes go to the
    /// database together.
    pub async fn start_shipment(
        &self,
        m: &Mutation,
        spec: &ShipmentSpec,
        cover: &Cover,
        determinations: &[Determination],
        encode: Encoder<'_, Shipment>,
    ) -> Result<Outcome<Shipment>, StoreError> {
        self.idempotent_batched_write(m, encode, |txn| {
            let m = m.clone();
            let spec = spec.clone();
            let cover = cover.clone();
            let determinations = determinations.to_vec();
            Box::pin(async move {
                // The organisation exists: its products, which the caller checked, do.
                let org = m.exporter()?.clone();
                let licence = match &cover {
                    Cover::NoLicenceRequired => None,
                    Cover::Named(id) => {
                        // Read under the row lock so the coverage check sees committed balances.
                        let licence = find_licence(txn, Some(&org), *id, true).await?;
                        if let Some(refusal) = not_covering(&licence, &spec) {
                            return Err(refusal);
                        }
                        Some(licence)
                    }
                    Cover::FirstCovering { required_because } => {
                        Some(first_covering(txn, &org, &spec, required_because).await?)
                    }
                };
                if let Some(l) = &licence {
                    crate::aggregate::draw_on_cap(txn, l, &spec).await?;
                }
                let mut batch = Batch::new();
                let mut changes = match &licence {
                    Some(l) => stage_drawdown(&mut batch, &m, l, &spec),
                    None => Vec::new(),
                };
                let (shipment, started) = stage_shipment(
                    &mut batch,
                    &m,
                    &org,
                    &spec,
                    licence.as_ref(),
                    &determinations,
                )?;
                changes.push(started);
                stage_changes(txn, &mut batch, changes).await?;
                Ok((shipment, batch))
            })
        })
        .await
    }

    /// Cancels a started shipment and restores its quantities and values exactly once; an
    /// exhausted licence becomes active again.
    pub async fn cancel_shipment(
        &self,
        m: &Mutation,
        id: Uuid,
        cancel_reason: &str,
        encode: Encoder<'_, Shipment>,
    ) -> Result<Outcome<Shipment>, StoreError> {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let cancel_reason = cancel_reason.to_owned();
            Box::pin(async move {
                let org = m.exporter()?.clone();
                let current = find_shipment(txn, &org, id).await?;
                let cancelled = shipment::Entity::update_many()
                    .col_expr(
                        shipment::Column::State,
                        Expr::value(ShipmentState::Cancelled.as_str()),
                    )
                    .col_expr(shipment::Column::CancelTime, Expr::value(Some(m.now)))
                    .col_expr(
                        shipment::Column::CancelReason,
                        Expr::value(Some(cancel_reason.clone())),
                    )
                    .filter(shipment::Column::Id.eq(id))
                    .filter(shipment::Column::State.eq(ShipmentState::Started.as_str()))
                    .exec(txn)
                    .await?;
                if cancelled.rows_affected != 1 {
                    return Err(refused(
                        reason::ALREADY_CANCELLED,
                        "the shipment is already cancelled",
                    ));
                }
                if let Some(licence_id) = current.licence_id {
                    let licence = find_licence(txn, Some(&org), licence_id, true).await?;
                    for line in &current.spec.lines {
                        let Some((index, _)) = licence.line_of(line.product_id) else {
                            continue;
                        };
                        licence_line::Entity::update_many()
                            .col_expr(
                                licence_line::Column::RemainingQuantity,
                                Expr::col(licence_line::Column::RemainingQuantity)
                                    .add(line.quantity),
                            )
                            .col_expr(
                                licence_line::Column::RemainingValueMinorUnits,
                                Expr::col(licence_line::Column::RemainingValueMinorUnits)
                                    .add(line.value.minor_units),
                            )
                            .filter(licence_line::Column::LicenceId.eq(licence_id))
                            .filter(licence_line::Column::LineIndex.eq(index as i32))
                            .exec(txn)
                            .await?;
                    }
                    crate::aggregate::return_to_cap(txn, &licence, &current.spec).await?;
                    touch_licence(txn, licence_id, m.now).await?;
                    let owner = Mutation {
                        organisation: Some(licence.holder.clone()),
                        ..m.clone()
                    };
                    record_change(
                        txn,
                        &owner,
                        &Collection::Licences.name_of(licence_id),
                        change_by(
                            &owner,
                            "licence.restored",
                            licence.state.as_str(),
                            licence.state.as_str(),
                            json!({ "shipment": Collection::Shipments.name_of(id) }),
                        ),
                    )
                    .await?;
                    if licence.state == LicenceState::Exhausted {
                        let after = find_licence(txn, Some(&org), licence_id, false).await?;
                        move_licence(
                            txn,
                            &m,
                            &after,
                            LicenceState::Active,
                            "licence.reactivated",
                            "shipment cancelled",
                        )
                        .await?;
                    }
                }
                let change = Change {
                    reason: cancel_reason.clone(),
                    ..change_by(&m, "shipment.cancelled", "STARTED", "CANCELLED", json!({}))
                };
                record_change(txn, &m, &Collection::Shipments.name_of(id), change).await?;
                find_shipment(txn, &org, id).await
            })
        })
        .await
    }

    pub async fn get_shipment(
        &self,
        org: &OrganisationId,
        id: Uuid,
    ) -> Result<Shipment, StoreError> {
        let read = self.begin_read().await?;
        let shipment = find_shipment(&read, org, id).await?;
        read.commit().await?;
        Ok(shipment)
    }

    /// One page (plus one row) of the organisation's shipments (`None`: every holder's) in id
    /// order.
    pub async fn list_shipments(
        &self,
        org: Option<&OrganisationId>,
        filter: &ShipmentFilter,
        page: &PageRequest,
    ) -> Result<Vec<Shipment>, StoreError> {
        let mut query = shipment::Entity::find();
        if let Some(org) = org {
            query = query.filter(shipment::Column::OrganisationId.eq(org.as_str()));
        }
        if let Some(licence) = filter.licence {
            query = query.filter(shipment::Column::LicenceId.eq(licence));
        }
        if let Some(state) = filter.state {
            query = query.filter(shipment::Column::State.eq(state.as_str()));
        }
        if let Some(reference) = &filter.erp_reference {
            query = query.filter(shipment::Column::ErpReference.eq(reference.as_str()));
        }
        if let Some(day) = filter.shipment_date {
            let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            query = query
                .filter(shipment::Column::ShipmentTime.gte(start))
                .filter(shipment::Column::ShipmentTime.lt(start + chrono::Duration::days(1)));
        }
        if let Some(after) = page.after {
            query = query.filter(shipment::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(shipment::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?;
        load_shipments(&self.db, rows).await
    }

    /// Expires every licence whose validity has ended, up to `batch` at a time. Each move is
    /// guarded on the state it leaves, and PostgreSQL skips rows another replica holds, so
    /// no expiry is recorded twice.
    pub async fn expire_due_licences(
        &self,
        now: DateTime<Utc>,
        batch: u64,
    ) -> Result<usize, StoreError> {
        let write = self.begin_write().await?;
        let mut query = licence::Entity::find()
            .filter(licence::Column::State.is_in([
                LicenceState::Active.as_str(),
                LicenceState::Suspended.as_str(),
                LicenceState::Exhausted.as_str(),
            ]))
            .filter(licence::Column::ValidUntil.lte(now))
            .order_by_asc(licence::Column::ValidUntil)
            .limit(batch);
        if write.txn.get_database_backend() == DbBackend::Postgres {
            query = query.lock_with_behavior(
                LockType::Update,
                sea_orm::sea_query::LockBehavior::SkipLocked,
            );
        }
        let due = load_licences(&write.txn, query.all(&write.txn).await?).await?;
        let m = Mutation {
            actor: "clearance expiry".into(),
            organisation: None,
            idempotency_scope: "system".into(),
            previous_scope: None,
            request_id: format!("expiry:{}", now.timestamp()),
            method: "expiry",
            request_sha256: String::new(),
            now,
        };
        let mut expired = 0;
        for l in &due {
            if move_licence(
                &write.txn,
                &m,
                l,
                LicenceState::Expired,
                "licence.expired",
                "validity ended",
            )
            .await?
            {
                expired += 1;
            }
        }
        write.commit().await?;
        Ok(expired)
    }
}

impl Store {
    /// Up to `limit` active (or exhausted) licences of every holder after `after`, in id order,
    /// with their lines' products, for impact analysis.
    pub async fn licences_for_impact(
        &self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<ImpactSubject>, StoreError> {
        let mut query = licence::Entity::find().filter(licence::Column::State.is_in([
            LicenceState::Active.as_str(),
            LicenceState::Exhausted.as_str(),
        ]));
        if let Some(after) = after {
            query = query.filter(licence::Column::Id.gt(after));
        }
        let licences = load_licences(
            &self.db,
            query
                .order_by_asc(licence::Column::Id)
                .limit(limit)
                .all(&self.db)
                .await?,
        )
        .await?;
        let mut lines = impact_lines(
            &self.db,
            licences
                .iter()
                .flat_map(|l| {
                    l.lines
                        .iter()
                        .enumerate()
                        .map(|(i, line)| (l.id, i as i32, line.product_id))
                })
                .collect(),
        )
        .await?;
        Ok(licences
            .into_iter()
            .map(|l| ImpactSubject {
                transaction: l.transaction_kind,
                id: l.id,
                organisation: l.holder.clone(),
                destination: Some(l.destination.clone()),
                end_user_headquarters: l.end_user().and_then(|p| p.headquarters_country.clone()),
                at: None,
                lines: lines.remove(&l.id).unwrap_or_default(),
            })
            .collect())
    }

    /// Up to `limit` started shipments made since `since`, after `after` in id order, for
    /// impact analysis.
    pub async fn shipments_for_impact(
        &self,
        since: DateTime<Utc>,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<ImpactSubject>, StoreError> {
        let mut query = shipment::Entity::find()
            .filter(shipment::Column::State.eq(ShipmentState::Started.as_str()))
            .filter(shipment::Column::ShipmentTime.gte(since));
        if let Some(after) = after {
            query = query.filter(shipment::Column::Id.gt(after));
        }
        let shipments = load_shipments(
            &self.db,
            query
                .order_by_asc(shipment::Column::Id)
                .limit(limit)
                .all(&self.db)
                .await?,
        )
        .await?;
        let mut lines = impact_lines(
            &self.db,
            shipments
                .iter()
                .flat_map(|s| {
                    s.spec
                        .lines
                        .iter()
                        .enumerate()
                        .map(|(i, line)| (s.id, i as i32, line.product_id))
                })
                .collect(),
        )
        .await?;
        Ok(shipments
            .into_iter()
            .map(|s| ImpactSubject {
                transaction: s.spec.transaction,
                id: s.id,
                organisation: s.organisation.clone(),
                destination: Some(s.spec.destination.clone()),
                end_user_headquarters: s.spec.end_user_headquarters.clone(),
                at: Some(s.spec.shipment_time),
                lines: lines.remove(&s.id).unwrap_or_default(),
            })
            .collect())
    }
}

async fn candidates<C: ConnectionTrait>(
    conn: &C,
    org: &OrganisationId,
    destination: &CountryCode,
) -> Result<Vec<Licence>, StoreError> {
    let rows = licence::Entity::find()
        .filter(licence::Column::OrganisationId.eq(org.as_str()))
        .filter(licence::Column::DestinationCountryCode.eq(destination.as_str()))
        .order_by_asc(licence::Column::ValidUntil)
        .order_by_asc(licence::Column::Id)
        .all(conn)
        .await?;
    let mut licences = load_licences(conn, rows).await?;
    // Usable licences first, so a refusal names the nearest miss; suspended, revoked and
    // expired ones after, so the exporter still learns why they do not count.
    licences.sort_by_key(|l| !matches!(l.state, LicenceState::Active | LicenceState::Exhausted));
    Ok(licences)
}

impl Store {
    /// Licences by state, and how many ACTIVE ones are past their validity at `now` (the
    /// expiry sweep's backlog), for metrics.
    pub async fn licence_census(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        use sea_orm::{PaginatorTrait, Statement};
        let backend = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT state, COUNT(*) AS n FROM licences GROUP BY state ORDER BY state",
            ))
            .await?;
        let mut by_state = Vec::new();
        for row in rows {
            by_state.push((
                row.try_get::<String>("", "state")?,
                row.try_get::<i64>("", "n")?,
            ));
        }
        let backlog = licence::Entity::find()
            .filter(licence::Column::State.eq("ACTIVE"))
            .filter(licence::Column::ValidUntil.lte(now))
            .count(&self.db)
            .await?;
        Ok((by_state, backlog as i64))
    }
}
