//! Applications with their lines, parties and documents.

use std::collections::{HashMap, HashSet};

use chrono::Datelike;
use clearance_domain::DomainError;
use clearance_domain::amendment::AmendmentRequest;
use clearance_domain::application::{
    Application, ApplicationContent, ApplicationFilter, ApplicationLine, ApplicationState, Money,
    Party, PartyRole, SupportingDocument, application_reference,
};
use clearance_domain::codes::{CountryCode, CurrencyCode};
use clearance_domain::ids::{Collection, OrganisationId};
use clearance_domain::ledger::Licence;
use clearance_domain::paging::PageRequest;
use clearance_domain::policy::TransactionKind;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use crate::connection::Store;
use crate::entities::{
    application, application_document, application_line, application_party, product,
};
use crate::error::StoreError;
use crate::write::{Encoder, Mutation, Outcome, change_by, ensure_organisation, record_change};

pub(crate) fn corrupt(id: Uuid, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("application {id}: {what}"))
}

fn country(id: Uuid, code: &str) -> Result<CountryCode, StoreError> {
    CountryCode::parse("country", code).map_err(|e| corrupt(id, e))
}

/// The children of a set of applications, loaded with one query per table.
pub(crate) struct Children {
    pub(crate) lines: HashMap<Uuid, Vec<application_line::Model>>,
    parties: HashMap<Uuid, Vec<application_party::Model>>,
    documents: HashMap<Uuid, Vec<application_document::Model>>,
}

pub(crate) async fn load_children<C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> Result<Children, StoreError> {
    let mut children = Children {
        lines: HashMap::new(),
        parties: HashMap::new(),
        documents: HashMap::new(),
    };
    if ids.is_empty() {
        return Ok(children);
    }
    for row in application_line::Entity::find()
        .filter(application_line::Column::ApplicationId.is_in(ids.iter().copied()))
        .order_by_asc(application_line::Column::LineIndex)
        .all(conn)
        .await?
    {
        children
            .lines
            .entry(row.application_id)
            .or_default()
            .push(row);
    }
    for row in application_party::Entity::find()
        .filter(application_party::Column::ApplicationId.is_in(ids.iter().copied()))
        .order_by_asc(application_party::Column::PartyIndex)
        .all(conn)
        .await?
    {
        children
            .parties
            .entry(row.application_id)
            .or_default()
            .push(row);
    }
    for row in application_document::Entity::find()
        .filter(application_document::Column::ApplicationId.is_in(ids.iter().copied()))
        .order_by_asc(application_document::Column::DocumentIndex)
        .all(conn)
        .await?
    {
        children
            .documents
            .entry(row.application_id)
            .or_default()
            .push(row);
    }
    Ok(children)
}

pub(crate) fn to_domain(
    row: application::Model,
    children: &mut Children,
) -> Result<Application, StoreError> {
    let id = row.id;
    let lines = children
        .lines
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .map(|l| {
            Ok(ApplicationLine {
                product_id: l.product_id,
                quantity: l.quantity,
                unit_value: Money {
                    currency: CurrencyCode::parse("currency", &l.currency_code)
                        .map_err(|e| corrupt(id, e))?,
                    minor_units: l.unit_value_minor_units,
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let parties = children
        .parties
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            Ok(Party {
                role: PartyRole::parse(&p.role).ok_or_else(|| corrupt(id, &p.role))?,
                display_name: p.display_name,
                address: p.address,
                country: country(id, &p.country_code)?,
                headquarters_country: p
                    .headquarters_country_code
                    .as_deref()
                    .map(|c| country(id, c))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let documents = children
        .documents
        .remove(&id)
        .unwrap_or_default()
        .into_iter()
        .map(|d| SupportingDocument {
            display_name: d.display_name,
            media_type: d.media_type,
            sha256: d.sha256,
            size_bytes: d.size_bytes,
        })
        .collect();
    Ok(Application {
        id,
        reference: row.reference,
        organisation: OrganisationId::parse(&row.organisation_id).map_err(|e| corrupt(id, e))?,
        content: ApplicationContent {
            destination: row
                .destination_country_code
                .as_deref()
                .map(|c| country(id, c))
                .transpose()?,
            transaction_kind: TransactionKind::parse(&row.transaction_kind)
                .ok_or_else(|| corrupt(id, &row.transaction_kind))?,
            parties,
            end_use_statement: row.end_use_statement,
            lines,
            documents,
            certifications: crate::json_column::from_optional_json(
                id,
                "certifications_json",
                row.certifications_json.as_deref(),
            )?,
        },
        state: ApplicationState::parse(&row.state).ok_or_else(|| corrupt(id, &row.state))?,
        version: row.version,
        create_time: row.create_time,
        update_time: row.update_time,
        submit_time: row.submit_time,
        amendment: row.amends_licence_id.map(|licence_id| AmendmentRequest {
            licence_id,
            reasons: row.amendment_reasons.unwrap_or_default(),
            valid_until: row.amendment_valid_until,
        }),
    })
}

async fn find_application<C: ConnectionTrait>(
    conn: &C,
    org: &OrganisationId,
    id: Uuid,
) -> Result<Application, StoreError> {
    let row = application::Entity::find_by_id(id)
        .filter(application::Column::OrganisationId.eq(org.as_str()))
        .one(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut children = load_children(conn, &[id]).await?;
    to_domain(row, &mut children)
}

/// Refuses lines naming products outside the organisation's catalogue.
async fn check_products_known(
    txn: &DatabaseTransaction,
    org: &OrganisationId,
    content: &ApplicationContent,
) -> Result<(), StoreError> {
    let ids = content.product_ids();
    if ids.is_empty() {
        return Ok(());
    }
    let known: HashSet<Uuid> = product::Entity::find()
        .select_only()
        .column(product::Column::Id)
        .filter(product::Column::OrganisationId.eq(org.as_str()))
        .filter(product::Column::Id.is_in(ids))
        .into_tuple::<Uuid>()
        .all(txn)
        .await?
        .into_iter()
        .collect();
    content
        .check_products_known(&known)
        .map_err(|v| StoreError::Domain(DomainError::Invalid(v)))
}

/// Takes the next number of a per-scope counter (`application:2025` → 1, 2, ...).
pub(crate) async fn next_in_sequence(
    txn: &DatabaseTransaction,
    scope: &str,
) -> Result<i64, StoreError> {
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO reference_counters (scope, last_value) VALUES ($1, 1) \
             ON CONFLICT (scope) DO UPDATE SET last_value = reference_counters.last_value + 1 \
             RETURNING last_value"
        }
        _ => {
            "INSERT INTO reference_counters (scope, last_value) VALUES (?, 1) \
             ON CONFLICT (scope) DO UPDATE SET last_value = reference_counters.last_value + 1 \
             RETURNING last_value"
        }
    };
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [scope.into()]))
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("counter {scope} returned nothing")))?;
    Ok(row.try_get::<i64>("", "last_value")?)
}

async fn insert_children(
    txn: &DatabaseTransaction,
    id: Uuid,
    content: &ApplicationContent,
) -> Result<(), StoreError> {
    if !content.lines.is_empty() {
        application_line::Entity::insert_many(content.lines.iter().enumerate().map(|(i, l)| {
            application_line::ActiveModel {
                application_id: Set(id),
                line_index: Set(i as i32),
                product_id: Set(l.product_id),
                quantity: Set(l.quantity),
                unit_value_minor_units: Set(l.unit_value.minor_units),
                currency_code: Set(l.unit_value.currency.as_str().to_owned()),
                determination_json: Set(None),
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    if !content.parties.is_empty() {
        application_party::Entity::insert_many(content.parties.iter().enumerate().map(|(i, p)| {
            application_party::ActiveModel {
                application_id: Set(id),
                party_index: Set(i as i32),
                role: Set(p.role.as_str().to_owned()),
                display_name: Set(p.display_name.clone()),
                address: Set(p.address.clone()),
                country_code: Set(p.country.as_str().to_owned()),
                headquarters_country_code: Set(p
                    .headquarters_country
                    .as_ref()
                    .map(|c| c.as_str().to_owned())),
            }
        }))
        .exec_without_returning(txn)
        .await?;
    }
    if !content.documents.is_empty() {
        application_document::Entity::insert_many(content.documents.iter().enumerate().map(
            |(i, d)| application_document::ActiveModel {
                application_id: Set(id),
                document_index: Set(i as i32),
                display_name: Set(d.display_name.clone()),
                media_type: Set(d.media_type.clone()),
                sha256: Set(d.sha256.clone()),
                size_bytes: Set(d.size_bytes),
            },
        ))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// Applies `update` to the application if it is still at `expected_version`, bumping the
/// version; otherwise the caller's etag is stale.
pub(crate) async fn update_if_unchanged(
    txn: &DatabaseTransaction,
    update: sea_orm::UpdateMany<application::Entity>,
    id: Uuid,
    expected_version: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    let result = update
        .col_expr(
            application::Column::Version,
            Expr::value(expected_version + 1),
        )
        .col_expr(application::Column::UpdateTime, Expr::value(now))
        .filter(application::Column::Id.eq(id))
        .filter(application::Column::Version.eq(expected_version))
        .exec(txn)
        .await
        // An appeal reopening a denied amendment while another one is pending.
        .map_err(pending_amendment_or_fault)?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::StaleEtag {
            current: expected_version + 1,
        })
    }
}

async fn delete_children(txn: &DatabaseTransaction, id: Uuid) -> Result<(), StoreError> {
    application_line::Entity::delete_many()
        .filter(application_line::Column::ApplicationId.eq(id))
        .exec(txn)
        .await?;
    application_party::Entity::delete_many()
        .filter(application_party::Column::ApplicationId.eq(id))
        .exec(txn)
        .await?;
    application_document::Entity::delete_many()
        .filter(application_document::Column::ApplicationId.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

fn payload(a: &Application) -> Result<serde_json::Value, StoreError> {
    crate::write::history_payload(a)
}

/// The refusal of a second pending amendment of one licence.
fn amendment_pending(which: &str) -> StoreError {
    DomainError::FailedPrecondition {
        reason: clearance_domain::error::reason::INVALID_TRANSITION,
        message: format!(
            "{which} of this licence is still pending; withdraw it or wait for its decision"
        ),
    }
    .into()
}

/// Whether the database refused a write because the licence already has a pending amendment
/// (the partial unique index `applications_one_pending_amendment`, which catches what the
/// read before the insert cannot see: a concurrent request's uncommitted draft).
fn is_second_pending_amendment(e: &sea_orm::DbErr) -> bool {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) => {
            message.contains("applications_one_pending_amendment")
                || message.contains("applications.amends_licence_id")
        }
        _ => false,
    }
}

/// A write's database error, told as the pending amendment it met when that is what it is.
fn pending_amendment_or_fault(e: sea_orm::DbErr) -> StoreError {
    if is_second_pending_amendment(&e) {
        amendment_pending("another amendment")
    } else {
        e.into()
    }
}

/// Inserts a new draft (an amendment request when `amendment` is given) with the next human
/// reference of the current year, and starts its history.
async fn insert_draft(
    txn: &DatabaseTransaction,
    m: &Mutation,
    content: ApplicationContent,
    amendment: Option<AmendmentRequest>,
) -> Result<Application, StoreError> {
    let org = m.exporter()?.clone();
    ensure_organisation(txn, &org, m.now).await?;
    check_products_known(txn, &org, &content).await?;
    let year = m.now.year();
    let sequence = next_in_sequence(txn, &format!("application:{year}")).await?;
    let a = Application {
        id: Uuid::now_v7(),
        reference: application_reference(year, sequence),
        organisation: org.clone(),
        content,
        state: ApplicationState::Draft,
        version: 1,
        create_time: m.now,
        update_time: m.now,
        submit_time: None,
        amendment,
    };
    application::Entity::insert(application::ActiveModel {
        id: Set(a.id),
        organisation_id: Set(a.organisation.as_str().to_owned()),
        reference: Set(a.reference.clone()),
        destination_country_code: Set(a
            .content
            .destination
            .as_ref()
            .map(|c| c.as_str().to_owned())),
        end_use_statement: Set(a.content.end_use_statement.clone()),
        transaction_kind: Set(a.content.transaction_kind.as_str().to_owned()),
        certifications_json: Set(crate::json_column::to_optional_json(
            &a.content.certifications,
        )?),
        state: Set(a.state.as_str().to_owned()),
        version: Set(a.version),
        create_time: Set(a.create_time),
        update_time: Set(a.update_time),
        submit_time: Set(None),
        amends_licence_id: Set(a.amendment.as_ref().map(|r| r.licence_id)),
        amendment_reasons: Set(a.amendment.as_ref().map(|r| r.reasons.clone())),
        amendment_valid_until: Set(a.amendment.as_ref().and_then(|r| r.valid_until)),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await
    .map_err(pending_amendment_or_fault)?;
    insert_children(txn, a.id, &a.content).await?;
    let resource = Collection::Applications.name_of(a.id);
    let state = a.state.as_str();
    crate::write::record_creation(
        txn,
        m,
        &resource,
        change_by(m, "application.created", "", state, payload(&a)?),
    )
    .await?;
    Ok(a)
}

impl Store {
    /// Files a new draft with the next human reference of the current year.
    pub async fn create_application(
        &self,
        m: &Mutation,
        content: &ApplicationContent,
        encode: Encoder<'_, Application>,
    ) -> Result<Outcome<Application>, StoreError> {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let content = content.clone();
            Box::pin(async move { insert_draft(txn, &m, content, None).await })
        })
        .await
    }

    /// Files the draft an amendment of the caller's licence becomes: `decide` turns the licence
    /// and its original application's content into the draft's content and the request. One
    /// amendment of a licence is pending at a time.
    pub async fn request_amendment<U>(
        &self,
        m: &Mutation,
        licence_id: Uuid,
        decide: U,
        encode: Encoder<'_, Application>,
    ) -> Result<Outcome<Application>, StoreError>
    where
        U: Fn(
                &Licence,
                &ApplicationContent,
            ) -> Result<(ApplicationContent, AmendmentRequest), DomainError>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let decide = decide.clone();
            Box::pin(async move {
                let org = m.exporter()?.clone();
                let licence =
                    crate::licences::find_licence(txn, Some(&org), licence_id, false).await?;
                let original = find_application(txn, &org, licence.application_id).await?;
                let (content, amendment) = decide(&licence, &original.content)?;
                let pending = application::Entity::find()
                    .filter(application::Column::AmendsLicenceId.eq(licence_id))
                    .filter(
                        application::Column::State.is_not_in(
                            ApplicationState::ALL
                                .iter()
                                .filter(|s| clearance_domain::workflow::is_final(**s))
                                .map(|s| s.as_str()),
                        ),
                    )
                    .one(txn)
                    .await?;
                if let Some(pending) = pending {
                    return Err(amendment_pending(&format!(
                        "amendment {}",
                        pending.reference
                    )));
                }
                insert_draft(txn, &m, content, Some(amendment)).await
            })
        })
        .await
    }

    /// One page (plus one row) of the organisation's applications in id order, with their
    /// review records.
    pub async fn list_applications(
        &self,
        org: &OrganisationId,
        filter: &ApplicationFilter,
        page: &PageRequest,
    ) -> Result<Vec<clearance_domain::workflow::Case>, StoreError> {
        let mut query = application::Entity::find()
            .filter(application::Column::OrganisationId.eq(org.as_str()));
        if let Some(state) = filter.state {
            query = query.filter(application::Column::State.eq(state.as_str()));
        }
        if let Some(dest) = &filter.destination {
            query = query.filter(application::Column::DestinationCountryCode.eq(dest.as_str()));
        }
        if let Some(reference) = &filter.reference {
            query = query.filter(application::Column::Reference.eq(reference.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(application::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(application::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?;
        crate::cases::load_cases(&self.db, rows).await
    }

    /// Replaces the content with `update(current)` if still at `expected_version`.
    pub async fn update_application<U>(
        &self,
        m: &Mutation,
        id: Uuid,
        expected_version: i64,
        update: U,
        encode: Encoder<'_, Application>,
    ) -> Result<Outcome<Application>, StoreError>
    where
        U: Fn(&Application) -> Result<ApplicationContent, DomainError>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        self.idempotent_write(m, encode, |txn| {
            let m = m.clone();
            let update = update.clone();
            Box::pin(async move {
                let org = m.exporter()?.clone();
                let current = find_application(txn, &org, id).await?;
                if current.version != expected_version {
                    return Err(StoreError::StaleEtag {
                        current: current.version,
                    });
                }
                let content = update(&current)?;
                check_products_known(txn, &org, &content).await?;
                let update = application::Entity::update_many()
                    .col_expr(
                        application::Column::DestinationCountryCode,
                        Expr::value(content.destination.as_ref().map(|c| c.as_str().to_owned())),
                    )
                    .col_expr(
                        application::Column::EndUseStatement,
                        Expr::value(content.end_use_statement.clone()),
                    )
                    .col_expr(
                        application::Column::TransactionKind,
                        Expr::value(content.transaction_kind.as_str()),
                    )
                    .col_expr(
                        application::Column::CertificationsJson,
                        Expr::value(crate::json_column::to_optional_json(
                            &content.certifications,
                        )?),
                    );
                update_if_unchanged(txn, update, id, expected_version, m.now).await?;
                delete_children(txn, id).await?;
                insert_children(txn, id, &content).await?;
                let a = Application {
                    content,
                    version: expected_version + 1,
                    update_time: m.now,
                    ..current
                };
                let resource = Collection::Applications.name_of(id);
                let state = a.state.as_str();
                record_change(
                    txn,
                    &m,
                    &resource,
                    change_by(&m, "application.updated", state, state, payload(&a)?),
                )
                .await?;
                Ok(a)
            })
        })
        .await
    }
}

/// A record impact analysis re-determines (a pending application, an active licence or a
/// recent shipment): where it goes, to whom, when, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpactSubject {
    pub id: Uuid,
    pub organisation: OrganisationId,
    pub destination: Option<CountryCode>,
    pub end_user_headquarters: Option<CountryCode>,
    /// How the goods move (licences and shipments: exports until they record it).
    pub transaction: TransactionKind,
    /// When the export happens (shipments); `None` for records not yet shipped.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    pub lines: Vec<ImpactLine>,
}

/// One line of such a record with its product's controlled characteristics.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpactLine {
    pub index: usize,
    pub product_id: Uuid,
    pub classification: String,
    pub item: clearance_domain::policy::Item,
}

/// States in which an application's determination can still matter to a decision.
const PENDING_STATES: [ApplicationState; 6] = [
    ApplicationState::Draft,
    ApplicationState::Submitted,
    ApplicationState::UnderReview,
    ApplicationState::AwaitingApplicant,
    ApplicationState::PendingCountersign,
    // An appeal may send the case back to a decision under the new rules.
    ApplicationState::UnderAppeal,
];

impl Store {
    /// Up to `limit` pending applications of every organisation after `after`, in id order,
    /// with their lines and products: four queries per page, none per row.
    pub async fn pending_applications(
        &self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<ImpactSubject>, StoreError> {
        let mut query = application::Entity::find()
            .filter(application::Column::State.is_in(PENDING_STATES.iter().map(|s| s.as_str())));
        if let Some(after) = after {
            query = query.filter(application::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(application::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let lines = application_line::Entity::find()
            .filter(application_line::Column::ApplicationId.is_in(ids.iter().copied()))
            .order_by_asc(application_line::Column::ApplicationId)
            .order_by_asc(application_line::Column::LineIndex)
            .all(&self.db)
            .await?;
        let mut by_application = impact_lines(
            &self.db,
            lines
                .iter()
                .map(|l| (l.application_id, l.line_index, l.product_id))
                .collect(),
        )
        .await?;
        let end_users: HashMap<Uuid, Option<String>> = application_party::Entity::find()
            .filter(application_party::Column::ApplicationId.is_in(ids.iter().copied()))
            .filter(application_party::Column::Role.eq(PartyRole::EndUser.as_str()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|p| (p.application_id, p.headquarters_country_code))
            .collect();
        rows.into_iter()
            .map(|row| {
                let id = row.id;
                Ok(ImpactSubject {
                    id,
                    organisation: OrganisationId::parse(&row.organisation_id)
                        .map_err(|e| corrupt(id, e))?,
                    destination: row
                        .destination_country_code
                        .as_deref()
                        .map(|c| country(id, c))
                        .transpose()?,
                    end_user_headquarters: end_users
                        .get(&id)
                        .cloned()
                        .flatten()
                        .as_deref()
                        .map(|c| country(id, c))
                        .transpose()?,
                    transaction: TransactionKind::parse(&row.transaction_kind)
                        .ok_or_else(|| corrupt(id, &row.transaction_kind))?,
                    at: None,
                    lines: by_application.remove(&id).unwrap_or_default(),
                })
            })
            .collect()
    }
}

/// Lines `(owner id, line index, product id)` with their products' controlled characteristics,
/// grouped by owner: one query for all the products.
pub(crate) async fn impact_lines<C: ConnectionTrait>(
    conn: &C,
    lines: Vec<(Uuid, i32, Uuid)>,
) -> Result<HashMap<Uuid, Vec<ImpactLine>>, StoreError> {
    let product_ids: HashSet<Uuid> = lines.iter().map(|(_, _, p)| *p).collect();
    let products: HashMap<Uuid, product::Model> = if product_ids.is_empty() {
        HashMap::new()
    } else {
        product::Entity::find()
            .filter(product::Column::Id.is_in(product_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect()
    };
    let mut grouped: HashMap<Uuid, Vec<ImpactLine>> = HashMap::new();
    for (owner, index, product_id) in lines {
        let p = products
            .get(&product_id)
            .ok_or_else(|| corrupt(owner, format!("line product {product_id} missing")))?;
        grouped.entry(owner).or_default().push(ImpactLine {
            index: usize::try_from(index).unwrap_or_default(),
            product_id,
            classification: p.classification.clone(),
            item: clearance_domain::policy::Item {
                parameters: clearance_domain::product::TechnicalParameters {
                    total_processing_performance: p.total_processing_performance,
                    die_area_mm2: p.die_area_mm2,
                    memory_bandwidth_gbps: p.memory_bandwidth_gbps,
                    io_bandwidth_gbps: p.io_bandwidth_gbps,
                },
                datacenter: p.datacenter,
                us_available_since: crate::products::us_available_since(
                    p.id,
                    p.us_available_since.as_deref(),
                )?,
            },
        });
    }
    Ok(grouped)
}
