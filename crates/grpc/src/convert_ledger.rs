//! Conversions for licences and shipments.

use clearance_domain::application::{Money, PartyInput};
use clearance_domain::ids::Collection;
use clearance_domain::ledger::{
    Licence, LicenceFilter, LicenceState, NotCovered, Shipment, ShipmentInput, ShipmentLineInput,
    ShipmentState,
};
use clearance_proto::v1 as pb;

use crate::convert::{party_to_pb, timestamp};
use crate::convert_policy::{determination_to_pb, from_timestamp};

fn money_to_pb(m: &Money) -> pb::Money {
    pb::Money {
        currency_code: m.currency.as_str().to_owned(),
        minor_units: m.minor_units,
    }
}

fn licence_state_to_pb(s: LicenceState) -> i32 {
    (match s {
        LicenceState::Active => pb::LicenceState::Active,
        LicenceState::Suspended => pb::LicenceState::Suspended,
        LicenceState::Revoked => pb::LicenceState::Revoked,
        LicenceState::Expired => pb::LicenceState::Expired,
        LicenceState::Exhausted => pb::LicenceState::Exhausted,
        LicenceState::Surrendered => pb::LicenceState::Surrendered,
    }) as i32
}

/// A licence as a reader sees it at `now`: past its end it is EXPIRED even before the expiry
/// sweep has written that.
pub fn licence_to_pb_at(l: &Licence, now: chrono::DateTime<chrono::Utc>) -> pb::Licence {
    pb::Licence {
        state: licence_state_to_pb(l.state_at(now)),
        ..licence_to_pb(l)
    }
}

pub fn licence_to_pb(l: &Licence) -> pb::Licence {
    pb::Licence {
        name: Collection::Licences.name_of(l.id),
        number: l.number.clone(),
        application: Collection::Applications.name_of(l.application_id),
        state: licence_state_to_pb(l.state),
        valid_from_time: Some(timestamp(&l.valid_from)),
        valid_until_time: Some(timestamp(&l.valid_until)),
        etag: clearance_domain::etag::etag_of(l.version),
        revision: i32::try_from(l.revision).unwrap_or(i32::MAX),
        holder: l.holder.resource_name(),
        destination_country_code: l.destination.as_str().to_owned(),
        parties: l.parties.iter().map(party_to_pb).collect(),
        conditions: l.conditions.clone(),
        value_tolerance_percent: i32::try_from(l.value_tolerance_percent).unwrap_or(i32::MAX),
        lines: l
            .lines
            .iter()
            .map(|line| pb::LicenceLine {
                product: Collection::Products.name_of(line.product_id),
                granted_quantity: line.granted_quantity,
                granted_value: Some(money_to_pb(&line.granted_value)),
                remaining_quantity: line.remaining_quantity,
                remaining_value: Some(pb::Money {
                    currency_code: line.granted_value.currency.as_str().to_owned(),
                    minor_units: line.remaining_value_minor,
                }),
                value_tolerance: Some(pb::Money {
                    currency_code: line.granted_value.currency.as_str().to_owned(),
                    minor_units: line.value_tolerance_minor,
                }),
            })
            .collect(),
        create_time: Some(timestamp(&l.create_time)),
        update_time: Some(timestamp(&l.update_time)),
        transaction_kind: crate::convert_policy::transaction_kind_to_pb(l.transaction_kind) as i32,
        shipment_conditions: l
            .terms
            .shipment_conditions
            .iter()
            .map(|c| crate::convert_policy::shipment_condition_to_pb(*c) as i32)
            .collect(),
        aggregate_cap_percent: l.terms.aggregate_cap_percent.unwrap_or_default(),
        terms_citation: l.terms.citation.clone(),
    }
}

pub fn shipment_to_pb(s: &Shipment) -> pb::Shipment {
    pb::Shipment {
        name: Collection::Shipments.name_of(s.id),
        licence: s
            .licence_id
            .map(|id| Collection::Licences.name_of(id))
            .unwrap_or_default(),
        state: (match s.state {
            ShipmentState::Started => pb::ShipmentState::Started,
            ShipmentState::Cancelled => pb::ShipmentState::Cancelled,
        }) as i32,
        destination_country_code: s.spec.destination.as_str().to_owned(),
        erp_reference: s.spec.erp_reference.clone(),
        lines: s
            .spec
            .lines
            .iter()
            .map(|l| pb::ShipmentLine {
                product: Collection::Products.name_of(l.product_id),
                quantity: l.quantity,
                value: Some(money_to_pb(&l.value)),
            })
            .collect(),
        shipment_time: Some(timestamp(&s.spec.shipment_time)),
        create_time: Some(timestamp(&s.create_time)),
        end_user: Some(pb::Party {
            role: pb::PartyRole::EndUser as i32,
            display_name: s.spec.end_user_name.clone(),
            address: String::new(),
            country_code: s.spec.end_user_country.as_str().to_owned(),
            headquarters_country_code: s
                .spec
                .end_user_headquarters
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
        }),
        consignee: s.spec.consignee.as_ref().map(|c| pb::Party {
            role: pb::PartyRole::UltimateConsignee as i32,
            display_name: c.display_name.clone(),
            address: String::new(),
            country_code: c.country.as_str().to_owned(),
            headquarters_country_code: String::new(),
        }),
        no_licence_required: s.no_licence_required,
        determinations: s.determinations.iter().map(determination_to_pb).collect(),
        cancel_time: s.cancel_time.as_ref().map(timestamp),
        cancel_reason: s.cancel_reason.clone().unwrap_or_default(),
        transaction_kind: crate::convert_policy::transaction_kind_to_pb(s.spec.transaction) as i32,
        test_report: s.spec.test_report.as_ref().map(|r| pb::TestReport {
            reference: r.reference.clone(),
            laboratory: r.laboratory.clone(),
            laboratory_country_code: r.laboratory_country.as_str().to_owned(),
            tested_on: r.tested_on.to_string(),
        }),
    }
}

/// A shipment's party as sent; its role is implied by the field it is in.
fn shipment_party(p: pb::Party) -> PartyInput {
    PartyInput {
        role: None,
        ..crate::convert::party_input(p)
    }
}

/// A shipment from a request, with its time parsed; violations relative to the shipment.
pub fn shipment_input(s: pb::Shipment) -> Result<ShipmentInput, clearance_domain::Violations> {
    let shipment_time = s
        .shipment_time
        .as_ref()
        .map(|t| from_timestamp("shipment_time", t))
        .transpose()?;
    Ok(ShipmentInput {
        destination_country_code: s.destination_country_code,
        end_user: s.end_user.map(shipment_party),
        consignee: s.consignee.map(shipment_party),
        erp_reference: s.erp_reference,
        lines: s
            .lines
            .into_iter()
            .map(|l| ShipmentLineInput {
                product: l.product,
                quantity: l.quantity,
                value: l.value.map(|m| clearance_domain::application::MoneyInput {
                    currency_code: m.currency_code,
                    minor_units: m.minor_units,
                }),
            })
            .collect(),
        shipment_time,
        transaction_kind: crate::convert_policy::transaction_kind_input(s.transaction_kind),
        test_report: s
            .test_report
            .map(|r| clearance_domain::ledger::TestReportInput {
                reference: r.reference,
                laboratory: r.laboratory,
                laboratory_country_code: r.laboratory_country_code,
                tested_on: r.tested_on,
            }),
    })
}

pub fn problem_to_pb(p: &NotCovered) -> pb::CoverageProblem {
    pb::CoverageProblem {
        reason: p.reason().to_owned(),
        description: p.describe(),
    }
}

/// What a list of licences or shipments asks for, from either side's request.
pub struct LicenceListing<'a> {
    pub page_size: i32,
    pub page_token: &'a str,
    pub filter: &'a str,
}

/// One page of licences and the next page's token: the holder's (`Some(org)`, parsed with the
/// exporter's filter) or every holder's (`None`, the regulator's filter).
pub async fn licence_page(
    store: &clearance_store::Store,
    org: Option<&clearance_domain::ids::OrganisationId>,
    listing: LicenceListing<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::ApiResult<(Vec<pb::Licence>, String)> {
    let (scope, parse): (String, fn(&str) -> _) = match org {
        Some(org) => (format!("licences|{org}"), LicenceFilter::parse),
        None => (
            "licences|regulator".to_owned(),
            LicenceFilter::parse_for_regulator,
        ),
    };
    let (filter, page) = crate::validate_list(
        listing.page_size,
        listing.page_token,
        listing.filter,
        &scope,
        parse,
    )?;
    let rows = store
        .list_licences(org, &filter, &page)
        .await
        .map_err(|e| crate::ApiError::from_store("licences", e))?;
    let (rows, next_page_token) = page.finish_page(rows, |l| l.id);
    Ok((
        rows.iter().map(|l| licence_to_pb_at(l, now)).collect(),
        next_page_token,
    ))
}

/// One page of shipments and the next page's token: the holder's (`Some(org)`) or every
/// holder's (`None`, for the regulator), with one filter language for both.
pub async fn shipment_page(
    store: &clearance_store::Store,
    org: Option<&clearance_domain::ids::OrganisationId>,
    listing: LicenceListing<'_>,
) -> crate::ApiResult<(Vec<pb::Shipment>, String)> {
    let scope = match org {
        Some(org) => format!("shipments|{org}"),
        None => "shipments|regulator".to_owned(),
    };
    let (filter, page) = crate::validate_list(
        listing.page_size,
        listing.page_token,
        listing.filter,
        &scope,
        clearance_domain::ledger::ShipmentFilter::parse,
    )?;
    let rows = store
        .list_shipments(org, &filter, &page)
        .await
        .map_err(|e| crate::ApiError::from_store("shipments", e))?;
    let (rows, next_page_token) = page.finish_page(rows, |s| s.id);
    Ok((rows.iter().map(shipment_to_pb).collect(), next_page_token))
}

/// What a licence action names: the licence, the request id, the etag read and the reason.
pub struct LicenceActionRequest {
    pub name: String,
    pub request_id: String,
    pub etag: String,
    pub reason: String,
}

/// Suspends, revokes or reinstates a licence (regulators: any holder's) or surrenders one (its
/// holder: only its own), if it is still at the version the etag names.
pub async fn act_on_licence(
    store: &clearance_store::Store,
    now: chrono::DateTime<chrono::Utc>,
    principal: clearance_domain::access::Principal,
    action: clearance_domain::ledger::LicenceAction,
    request: LicenceActionRequest,
    hash: String,
) -> crate::ApiResult<pb::Licence> {
    use clearance_domain::ledger::LicenceAction;
    use prost::Message;
    let LicenceActionRequest {
        name,
        request_id,
        etag,
        reason,
    } = request;
    let mut v = clearance_domain::Violations::new();
    let id = v.check("", Collection::Licences.parse_name("name", &name));
    let version = v.check("", clearance_domain::etag::parse_etag("etag", &etag));
    let request_id = v.check("", crate::validate_request_id(&request_id));
    let (Some(id), Some(version), Some(request_id)) = (id, version, request_id) else {
        return Err(v.into());
    };
    let method = match action {
        LicenceAction::Suspend => "/clearance.v1.ReviewService/SuspendLicence",
        LicenceAction::Revoke => "/clearance.v1.ReviewService/RevokeLicence",
        LicenceAction::Reinstate => "/clearance.v1.ReviewService/ReinstateLicence",
        LicenceAction::Surrender => "/clearance.v1.ApplicationService/SurrenderLicence",
    };
    let holder = principal.organisation.clone();
    let m = crate::mutation(&principal, holder.clone(), request_id, method, hash, now);
    let outcome = store
        .update_licence(
            &m,
            holder.as_ref(),
            id,
            version,
            move |licence| {
                clearance_domain::ledger::act_on_licence(licence, &principal, action, &reason, now)
            },
            &|l| licence_to_pb(l).encode_to_vec(),
        )
        .await
        .map_err(|e| crate::ApiError::from_store(&name, e))?;
    crate::respond(outcome, licence_to_pb)
}
