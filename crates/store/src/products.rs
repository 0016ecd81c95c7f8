//! Products: create, read, list (keyset), update (version-guarded).

use clearance_domain::DomainError;
use clearance_domain::ids::{Collection, OrganisationId};
use clearance_domain::paging::PageRequest;
use clearance_domain::product::{Product, ProductFilter, ProductSpec, TechnicalParameters};
use sea_orm::sea_query::Expr;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use crate::connection::Store;
use crate::entities::product;
use crate::error::StoreError;
use crate::write::{
    Encoder, Mutation, Outcome, change_by, ensure_organisation, record_change, record_creation,
};

fn to_domain(row: product::Model) -> Result<Product, StoreError> {
    let organisation = OrganisationId::parse(&row.organisation_id)
        .map_err(|e| StoreError::Corrupt(format!("product {}: {e}", row.id)))?;
    Ok(Product {
        id: row.id,
        organisation,
        spec: ProductSpec {
            display_name: row.display_name,
            part_number: row.part_number,
            classification: row.classification,
            datacenter: row.datacenter,
            parameters: TechnicalParameters {
                total_processing_performance: row.total_processing_performance,
                die_area_mm2: row.die_area_mm2,
                memory_bandwidth_gbps: row.memory_bandwidth_gbps,
                io_bandwidth_gbps: row.io_bandwidth_gbps,
            },
            us_available_since: us_available_since(row.id, row.us_available_since.as_deref())?,
        },
        version: row.version,
        create_time: row.create_time,
        update_time: row.update_time,
    })
}

/// A product's stored date of US commercial availability.
pub(crate) fn us_available_since(
    id: Uuid,
    raw: Option<&str>,
) -> Result<Option<chrono::NaiveDate>, StoreError> {
    raw.map(|d| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|e| StoreError::Corrupt(format!("product {id}: us_available_since: {e}")))
    })
    .transpose()
}

fn payload(p: &Product) -> Result<serde_json::Value, StoreError> {
    crate::write::history_payload(p)
}

/// Holds the products a decision was computed from at the versions it read, until the
/// transaction ends: a product edited meanwhile is a conflict (retry), and an edit waits for
/// this transaction (PostgreSQL; SQLite has one writer).
pub(crate) async fn pin_products(
    txn: &DatabaseTransaction,
    pinned: &[(Uuid, i64)],
) -> Result<(), StoreError> {
    if pinned.is_empty() {
        return Ok(());
    }
    let mut query =
        product::Entity::find().filter(product::Column::Id.is_in(pinned.iter().map(|(id, _)| *id)));
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock(LockType::Share);
    }
    let rows = query.all(txn).await?;
    for (id, version) in pinned {
        if !rows.iter().any(|r| r.id == *id && r.version == *version) {
            return Err(StoreError::Conflict(
                "a product changed while this was being decided; read it again and retry".into(),
            ));
        }
    }
    Ok(())
}

/// Whether a submitted application, a licence or a shipment refers to the product.
async fn product_in_use(txn: &DatabaseTransaction, id: Uuid) -> Result<bool, StoreError> {
    use crate::entities::{application, application_line, licence_line, shipment_line};
    use clearance_domain::application::ApplicationState;
    use sea_orm::PaginatorTrait;
    let submitted_lines = application_line::Entity::find()
        .filter(application_line::Column::ProductId.eq(id))
        .filter(
            application_line::Column::ApplicationId.in_subquery(
                application::Entity::find()
                    .select_only()
                    .column(application::Column::Id)
                    .filter(application::Column::State.ne(ApplicationState::Draft.as_str()))
                    .into_query(),
            ),
        )
        .count(txn)
        .await?;
    if submitted_lines > 0 {
        return Ok(true);
    }
    let licensed = licence_line::Entity::find()
        .filter(licence_line::Column::ProductId.eq(id))
        .count(txn)
        .await?;
    let shipped = shipment_line::Entity::find()
        .filter(shipment_line::Column::ProductId.eq(id))
        .count(txn)
        .await?;
    Ok(licensed + shipped > 0)
}

pub(crate) async fn find_product<C: ConnectionTrait>(
    conn: &C,
    org: &OrganisationId,
    id: Uuid,
) -> Result<Product, StoreError> {
    let row = product::Entity::find_by_id(id)
        .filter(product::Column::OrganisationId.eq(org.as_str()))
        .one(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    to_domain(row)
}

impl Store {
    pub async fn create_product(
        &self,
        m: &Mutation,
        spec: &ProductSpec,
        encode: Encoder<'_, Product>,
    ) -> Result<Outcome<Product>, StoreError> {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let spec = spec.clone();
            Box::pin(async move {
                let org = m.exporter()?.clone();
                ensure_organisation(txn, &org, m.now).await?;
                let p = Product {
                    id: Uuid::now_v7(),
                    organisation: org.clone(),
                    spec,
                    version: 1,
                    create_time: m.now,
                    update_time: m.now,
                };
                let params = p.spec.parameters;
                product::Entity::insert(product::ActiveModel {
                    id: Set(p.id),
                    organisation_id: Set(p.organisation.as_str().to_owned()),
                    display_name: Set(p.spec.display_name.clone()),
                    part_number: Set(p.spec.part_number.clone()),
                    classification: Set(p.spec.classification.clone()),
                    datacenter: Set(p.spec.datacenter),
                    us_available_since: Set(p.spec.us_available_since.map(|d| d.to_string())),
                    total_processing_performance: Set(params.total_processing_performance),
                    die_area_mm2: Set(params.die_area_mm2),
                    memory_bandwidth_gbps: Set(params.memory_bandwidth_gbps),
                    io_bandwidth_gbps: Set(params.io_bandwidth_gbps),
                    version: Set(p.version),
                    create_time: Set(p.create_time),
                    update_time: Set(p.update_time),
                })
                .exec_without_returning(txn)
                .await?;
                let resource = Collection::Products.name_of(p.id);
                record_creation(
                    txn,
                    &m,
                    &resource,
                    change_by(&m, "product.created", "", "", payload(&p)?),
                )
                .await?;
                Ok(p)
            })
        })
        .await
    }

    /// The organisation's product, or `NotFound` (also for other organisations' products).
    pub async fn get_product(&self, org: &OrganisationId, id: Uuid) -> Result<Product, StoreError> {
        find_product(&self.db, org, id).await
    }

    /// The organisation's products among `ids`, in one query.
    pub async fn get_products(
        &self,
        org: &OrganisationId,
        ids: &[Uuid],
    ) -> Result<Vec<Product>, StoreError> {
        self.products_among(Some(org), ids).await
    }

    /// The products with `ids`, of `org` or (for the regulator) of any organisation.
    async fn products_among(
        &self,
        org: Option<&OrganisationId>,
        ids: &[Uuid],
    ) -> Result<Vec<Product>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut query =
            product::Entity::find().filter(product::Column::Id.is_in(ids.iter().copied()));
        if let Some(org) = org {
            query = query.filter(product::Column::OrganisationId.eq(org.as_str()));
        }
        query
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    /// Products of any organisation, for the regulator (in no particular order).
    pub async fn get_any_products(&self, ids: &[Uuid]) -> Result<Vec<Product>, StoreError> {
        self.products_among(None, ids).await
    }

    /// One page of the organisation's products in id (creation) order; fetches one extra row
    /// so the caller can tell whether another page follows.
    pub async fn list_products(
        &self,
        org: &OrganisationId,
        filter: &ProductFilter,
        page: &PageRequest,
    ) -> Result<Vec<Product>, StoreError> {
        let mut query =
            product::Entity::find().filter(product::Column::OrganisationId.eq(org.as_str()));
        if let Some(c) = &filter.classification {
            query = query.filter(product::Column::Classification.eq(c.as_str()));
        }
        if let Some(d) = filter.datacenter {
            query = query.filter(product::Column::Datacenter.eq(d));
        }
        if let Some(part) = &filter.part_number {
            query = query.filter(product::Column::PartNumber.eq(part.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(product::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(product::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?;
        rows.into_iter().map(to_domain).collect()
    }

    /// Replaces the product's spec with `update(current)` if it is still at `expected_version`.
    pub async fn update_product<U>(
        &self,
        m: &Mutation,
        id: Uuid,
        expected_version: i64,
        update: U,
        encode: Encoder<'_, Product>,
    ) -> Result<Outcome<Product>, StoreError>
    where
        U: Fn(&Product) -> Result<ProductSpec, DomainError> + Clone + Send + Sync + 'static,
    {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let update = update.clone();
            Box::pin(async move {
                let org = m.exporter()?.clone();
                // Lock the row first, so a submission relying on it either commits before
                // the in-use check below or waits for this edit (and then sees it).
                if txn.get_database_backend() == DbBackend::Postgres {
                    product::Entity::find_by_id(id)
                        .lock(LockType::Update)
                        .one(txn)
                        .await?;
                }
                let current = find_product(txn, &org, id).await?;
                if current.version != expected_version {
                    return Err(StoreError::StaleEtag {
                        current: current.version,
                    });
                }
                let spec = update(&current)?;
                current
                    .spec
                    .ensure_may_replace(&spec, product_in_use(txn, id).await?)?;
                let params = spec.parameters;
                let result = product::Entity::update_many()
                    .col_expr(
                        product::Column::DisplayName,
                        Expr::value(spec.display_name.clone()),
                    )
                    .col_expr(
                        product::Column::PartNumber,
                        Expr::value(spec.part_number.clone()),
                    )
                    .col_expr(
                        product::Column::Classification,
                        Expr::value(spec.classification.clone()),
                    )
                    .col_expr(product::Column::Datacenter, Expr::value(spec.datacenter))
                    .col_expr(
                        product::Column::UsAvailableSince,
                        Expr::value(spec.us_available_since.map(|d| d.to_string())),
                    )
                    .col_expr(
                        product::Column::TotalProcessingPerformance,
                        Expr::value(params.total_processing_performance),
                    )
                    .col_expr(
                        product::Column::DieAreaMm2,
                        Expr::value(params.die_area_mm2),
                    )
                    .col_expr(
                        product::Column::MemoryBandwidthGbps,
                        Expr::value(params.memory_bandwidth_gbps),
                    )
                    .col_expr(
                        product::Column::IoBandwidthGbps,
                        Expr::value(params.io_bandwidth_gbps),
                    )
                    .col_expr(product::Column::Version, Expr::value(expected_version + 1))
                    .col_expr(product::Column::UpdateTime, Expr::value(m.now))
                    .filter(product::Column::Id.eq(id))
                    .filter(product::Column::Version.eq(expected_version))
                    .exec(txn)
                    .await?;
                if result.rows_affected != 1 {
                    return Err(StoreError::StaleEtag {
                        current: expected_version + 1,
                    });
                }
                let p = Product {
                    spec,
                    version: expected_version + 1,
                    update_time: m.now,
                    ..current
                };
                let resource = Collection::Products.name_of(id);
                record_change(
                    txn,
                    &m,
                    &resource,
                    change_by(&m, "product.updated", "", "", payload(&p)?),
                )
                .await?;
                Ok(p)
            })
        })
        .await
    }
}
