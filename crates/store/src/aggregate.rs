//! The aggregate cap's ledger: holders' reports of units shipped to US customers (every one
//! kept), and per holder and product the units shipped under licences carrying a cap. One
//! row per holder and product carries both; a shipment's guarded update and a report's
//! upsert take its lock, so the cap holds exactly under races (91 FR 1684).

use clearance_domain::ids::{Collection, OrganisationId};
use clearance_domain::ledger::{AggregatePosition, Licence, ShipmentSpec, UsShipmentReport};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde_json::json;
use uuid::Uuid;

use crate::connection::Store;
use crate::entities::{aggregate_position, us_shipment_report};
use crate::error::StoreError;
use crate::write::{Encoder, Mutation, Outcome, change_by, record_change};

async fn position<C: ConnectionTrait>(
    conn: &C,
    org: &OrganisationId,
    product_id: Uuid,
) -> Result<AggregatePosition, StoreError> {
    Ok(
        aggregate_position::Entity::find_by_id((org.as_str().to_owned(), product_id))
            .one(conn)
            .await?
            .map(|row| AggregatePosition {
                us_units: row.us_units,
                capped_units: row.capped_units,
            })
            .unwrap_or_default(),
    )
}

/// Counts a shipment under `licence` against the holder's cap, per product, in the caller's
/// transaction: a guarded update that fails when the cap would be passed. Nothing to do when
/// the licence carries no cap.
pub(crate) async fn draw_on_cap(
    txn: &DatabaseTransaction,
    licence: &Licence,
    spec: &ShipmentSpec,
) -> Result<(), StoreError> {
    let Some(percent) = licence.terms.aggregate_cap_percent else {
        return Ok(());
    };
    let org = &licence.holder;
    let mut demand = spec.demand();
    // One lock order for every transaction: no deadlock between two multi-product shipments.
    demand.sort_by_key(|d| d.product_id);
    for d in demand {
        let drawn = aggregate_position::Entity::update_many()
            .col_expr(
                aggregate_position::Column::CappedUnits,
                Expr::col(aggregate_position::Column::CappedUnits).add(d.quantity),
            )
            .filter(aggregate_position::Column::OrganisationId.eq(org.as_str()))
            .filter(aggregate_position::Column::ProductId.eq(d.product_id))
            // (capped + quantity) * 100 <= us_units * percent, exactly, in SQL.
            .filter(
                Expr::col(aggregate_position::Column::CappedUnits)
                    .add(d.quantity)
                    .mul(100)
                    .lte(Expr::col(aggregate_position::Column::UsUnits).mul(percent)),
            )
            .exec(txn)
            .await?;
        if drawn.rows_affected != 1 {
            let now = position(txn, org, d.product_id).await?;
            // The position read after the refused update: the refusal states its figures. If
            // they fit now, a report raised the figure meanwhile: the caller may retry.
            let Some(refusal) = licence.cap_refusal(d.product_id, d.quantity, now) else {
                return Err(StoreError::Conflict(
                    "the US figure changed while the shipment was recorded".into(),
                ));
            };
            return Err(StoreError::Domain(
                clearance_domain::DomainError::FailedPrecondition {
                    reason: refusal.reason(),
                    message: format!("licence {}: {}", licence.number, refusal.describe()),
                },
            ));
        }
    }
    Ok(())
}

/// Gives back what a cancelled shipment under `licence` counted against the cap.
pub(crate) async fn return_to_cap(
    txn: &DatabaseTransaction,
    licence: &Licence,
    spec: &ShipmentSpec,
) -> Result<(), StoreError> {
    if licence.terms.aggregate_cap_percent.is_none() {
        return Ok(());
    }
    let mut demand = spec.demand();
    demand.sort_by_key(|d| d.product_id);
    for d in demand {
        aggregate_position::Entity::update_many()
            .col_expr(
                aggregate_position::Column::CappedUnits,
                Expr::col(aggregate_position::Column::CappedUnits).sub(d.quantity),
            )
            .filter(aggregate_position::Column::OrganisationId.eq(licence.holder.as_str()))
            .filter(aggregate_position::Column::ProductId.eq(d.product_id))
            .exec(txn)
            .await?;
    }
    Ok(())
}

fn report_from(row: us_shipment_report::Model) -> Result<UsShipmentReport, StoreError> {
    Ok(UsShipmentReport {
        id: row.id,
        organisation: OrganisationId::parse(&row.organisation_id)
            .map_err(|e| StoreError::Corrupt(format!("us shipment report {}: {e}", row.id)))?,
        product_id: row.product_id,
        units: row.units,
        reported_by: row.reported_by,
        report_time: row.report_time,
    })
}

impl Store {
    /// Records the holder's figure of US units shipped for one of its products: a new report
    /// (never an overwrite) that the cap measures against from now on, and an entry in the
    /// product's history.
    pub async fn report_us_shipments(
        &self,
        m: &Mutation,
        product_id: Uuid,
        units: i64,
        encode: Encoder<'_, UsShipmentReport>,
    ) -> Result<Outcome<UsShipmentReport>, StoreError> {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            Box::pin(async move {
                let org = m.exporter()?.clone();
                // The product must be the caller's (other organisations' are NOT_FOUND).
                crate::products::find_product(txn, &org, product_id).await?;
                let report = UsShipmentReport {
                    id: Uuid::now_v7(),
                    organisation: org.clone(),
                    product_id,
                    units,
                    reported_by: m.actor.clone(),
                    report_time: m.now,
                };
                us_shipment_report::Entity::insert(us_shipment_report::ActiveModel {
                    id: Set(report.id),
                    organisation_id: Set(org.as_str().to_owned()),
                    product_id: Set(product_id),
                    units: Set(units),
                    reported_by: Set(report.reported_by.clone()),
                    report_time: Set(report.report_time),
                })
                .exec_without_returning(txn)
                .await?;
                let before = position(txn, &org, product_id).await?;
                aggregate_position::Entity::insert(aggregate_position::ActiveModel {
                    organisation_id: Set(org.as_str().to_owned()),
                    product_id: Set(product_id),
                    us_units: Set(units),
                    capped_units: Set(0),
                })
                .on_conflict(
                    OnConflict::columns([
                        aggregate_position::Column::OrganisationId,
                        aggregate_position::Column::ProductId,
                    ])
                    .update_column(aggregate_position::Column::UsUnits)
                    .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
                record_change(
                    txn,
                    &m,
                    &Collection::Products.name_of(product_id),
                    change_by(
                        &m,
                        "product.us_shipments_reported",
                        "",
                        "",
                        json!({
                            "report": report.id,
                            "units": units,
                            "previous_units": before.us_units,
                            "capped_units_shipped": before.capped_units,
                        }),
                    ),
                )
                .await?;
                Ok(report)
            })
        })
        .await
    }

    /// The holder's aggregate positions for `products` (absent ones are zero).
    pub async fn aggregate_positions(
        &self,
        org: &OrganisationId,
        products: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, AggregatePosition>, StoreError> {
        Ok(aggregate_position::Entity::find()
            .filter(aggregate_position::Column::OrganisationId.eq(org.as_str()))
            .filter(aggregate_position::Column::ProductId.is_in(products.iter().copied()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| {
                (
                    row.product_id,
                    AggregatePosition {
                        us_units: row.us_units,
                        capped_units: row.capped_units,
                    },
                )
            })
            .collect())
    }

    /// Every US figure the holder reported for the product, newest first, and its position.
    pub async fn us_shipment_reports(
        &self,
        org: &OrganisationId,
        product_id: Uuid,
    ) -> Result<(Vec<UsShipmentReport>, AggregatePosition), StoreError> {
        let conn = &self.db;
        crate::products::find_product(conn, org, product_id).await?;
        let reports = us_shipment_report::Entity::find()
            .filter(us_shipment_report::Column::OrganisationId.eq(org.as_str()))
            .filter(us_shipment_report::Column::ProductId.eq(product_id))
            .order_by_desc(us_shipment_report::Column::Id)
            .all(conn)
            .await?
            .into_iter()
            .map(report_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((reports, position(conn, org, product_id).await?))
    }
}
