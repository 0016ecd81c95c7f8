//! Hand-written conversions between protobuf messages and domain types. Inbound conversions
//! produce the domain's raw input types, which the domain validates.

use chrono::{DateTime, Utc};
use clearance_domain::application::{
    Application, ApplicationInput, ApplicationState, DocumentInput, LineInput, MoneyInput,
    PartyInput, PartyRole,
};
use clearance_domain::history::HistoryEntry;
use clearance_domain::ids::Collection;
use clearance_domain::product::{ParametersInput, Product, ProductInput};
use clearance_proto::v1 as pb;

pub fn timestamp(t: &DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn update_mask_paths(mask: Option<prost_types::FieldMask>) -> Vec<String> {
    mask.map(|m| m.paths).unwrap_or_default()
}

pub fn product_to_pb(p: &Product) -> pb::Product {
    let params = p.spec.parameters;
    pb::Product {
        name: Collection::Products.name_of(p.id),
        display_name: p.spec.display_name.clone(),
        part_number: p.spec.part_number.clone(),
        classification: p.spec.classification.clone(),
        datacenter: p.spec.datacenter,
        parameters: Some(pb::TechnicalParameters {
            total_processing_performance: Some(params.total_processing_performance),
            die_area_mm2: Some(params.die_area_mm2),
            memory_bandwidth_gbps: Some(params.memory_bandwidth_gbps),
            io_bandwidth_gbps: Some(params.io_bandwidth_gbps),
            performance_density: params.performance_density(),
        }),
        etag: clearance_domain::etag::etag_of(p.version),
        create_time: Some(timestamp(&p.create_time)),
        update_time: Some(timestamp(&p.update_time)),
        us_commercially_available_since: p
            .spec
            .us_available_since
            .map(|d| d.to_string())
            .unwrap_or_default(),
    }
}

pub fn product_input(p: pb::Product) -> ProductInput {
    ProductInput {
        display_name: p.display_name,
        part_number: p.part_number,
        classification: p.classification,
        datacenter: p.datacenter,
        parameters: p.parameters.map(|t| ParametersInput {
            total_processing_performance: t.total_processing_performance,
            die_area_mm2: t.die_area_mm2,
            memory_bandwidth_gbps: t.memory_bandwidth_gbps,
            io_bandwidth_gbps: t.io_bandwidth_gbps,
        }),
        us_commercially_available_since: p.us_commercially_available_since,
    }
}

pub fn state_to_pb(s: ApplicationState) -> pb::ApplicationState {
    match s {
        ApplicationState::Draft => pb::ApplicationState::Draft,
        ApplicationState::Submitted => pb::ApplicationState::Submitted,
        ApplicationState::UnderReview => pb::ApplicationState::UnderReview,
        ApplicationState::AwaitingApplicant => pb::ApplicationState::AwaitingApplicant,
        ApplicationState::PendingCountersign => pb::ApplicationState::PendingCountersign,
        ApplicationState::Approved => pb::ApplicationState::Approved,
        ApplicationState::Denied => pb::ApplicationState::Denied,
        ApplicationState::Returned => pb::ApplicationState::Returned,
        ApplicationState::Withdrawn => pb::ApplicationState::Withdrawn,
        ApplicationState::UnderAppeal => pb::ApplicationState::UnderAppeal,
    }
}

fn role_to_pb(r: PartyRole) -> pb::PartyRole {
    match r {
        PartyRole::EndUser => pb::PartyRole::EndUser,
        PartyRole::UltimateConsignee => pb::PartyRole::UltimateConsignee,
        PartyRole::IntermediateConsignee => pb::PartyRole::IntermediateConsignee,
        PartyRole::Purchaser => pb::PartyRole::Purchaser,
    }
}

fn role_from_pb(raw: i32) -> Option<PartyRole> {
    match pb::PartyRole::try_from(raw).ok()? {
        pb::PartyRole::Unspecified => None,
        pb::PartyRole::EndUser => Some(PartyRole::EndUser),
        pb::PartyRole::UltimateConsignee => Some(PartyRole::UltimateConsignee),
        pb::PartyRole::IntermediateConsignee => Some(PartyRole::IntermediateConsignee),
        pb::PartyRole::Purchaser => Some(PartyRole::Purchaser),
    }
}

pub fn party_to_pb(p: &clearance_domain::application::Party) -> pb::Party {
    pb::Party {
        role: role_to_pb(p.role) as i32,
        display_name: p.display_name.clone(),
        address: p.address.clone(),
        country_code: p.country.as_str().to_owned(),
        headquarters_country_code: p
            .headquarters_country
            .as_ref()
            .map(|h| h.as_str().to_owned())
            .unwrap_or_default(),
    }
}

pub fn application_to_pb(a: &Application) -> pb::Application {
    let c = &a.content;
    pb::Application {
        name: Collection::Applications.name_of(a.id),
        reference: a.reference.clone(),
        applicant: a.organisation.resource_name(),
        destination_country_code: c
            .destination
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        transaction_kind: crate::convert_policy::transaction_kind_to_pb(c.transaction_kind) as i32,
        parties: c.parties.iter().map(party_to_pb).collect(),
        end_use_statement: c.end_use_statement.clone(),
        lines: c
            .lines
            .iter()
            .map(|l| pb::ApplicationLine {
                product: Collection::Products.name_of(l.product_id),
                quantity: l.quantity,
                unit_value: Some(pb::Money {
                    currency_code: l.unit_value.currency.as_str().to_owned(),
                    minor_units: l.unit_value.minor_units,
                }),
                determination: None,
            })
            .collect(),
        documents: c
            .documents
            .iter()
            .map(|d| pb::SupportingDocument {
                display_name: d.display_name.clone(),
                media_type: d.media_type.clone(),
                sha256: d.sha256.clone(),
                size_bytes: d.size_bytes,
            })
            .collect(),
        state: state_to_pb(a.state) as i32,
        etag: clearance_domain::etag::etag_of(a.version),
        create_time: Some(timestamp(&a.create_time)),
        update_time: Some(timestamp(&a.update_time)),
        submit_time: a.submit_time.as_ref().map(timestamp),
        review_policy: pb::ReviewPolicy::Unspecified as i32,
        information_requests: Vec::new(),
        notes: Vec::new(),
        appeals: Vec::new(),
        amendment: a.amendment.as_ref().map(|r| pb::Amendment {
            licence: Collection::Licences.name_of(r.licence_id),
            reasons: r.reasons.clone(),
            valid_until_time: r.valid_until.as_ref().map(timestamp),
        }),
        certifications: c
            .certifications
            .iter()
            .map(crate::convert_policy::certification_to_pb)
            .collect(),
    }
}

/// A party as sent.
pub fn party_input(p: pb::Party) -> PartyInput {
    PartyInput {
        role: role_from_pb(p.role),
        display_name: p.display_name,
        address: p.address,
        country_code: p.country_code,
        headquarters_country_code: p.headquarters_country_code,
    }
}

/// Money as sent.
pub fn money_input(m: pb::Money) -> MoneyInput {
    MoneyInput {
        currency_code: m.currency_code,
        minor_units: m.minor_units,
    }
}

pub fn application_input(a: pb::Application) -> ApplicationInput {
    ApplicationInput {
        transaction_kind: crate::convert_policy::transaction_kind_input(a.transaction_kind),
        destination_country_code: a.destination_country_code,
        parties: a.parties.into_iter().map(party_input).collect(),
        end_use_statement: a.end_use_statement,
        lines: a
            .lines
            .into_iter()
            .map(|l| LineInput {
                product: l.product,
                quantity: l.quantity,
                unit_value: l.unit_value.map(money_input),
            })
            .collect(),
        documents: a.documents.into_iter().map(document_input).collect(),
        certifications: a
            .certifications
            .into_iter()
            .map(crate::convert_policy::certification_input)
            .collect(),
    }
}

/// A document's metadata as sent.
pub fn document_input(d: pb::SupportingDocument) -> DocumentInput {
    DocumentInput {
        display_name: d.display_name,
        media_type: d.media_type,
        sha256: d.sha256,
        size_bytes: d.size_bytes,
    }
}

pub fn history_entry_to_pb(e: &HistoryEntry) -> pb::HistoryEntry {
    pb::HistoryEntry {
        sequence: e.sequence,
        resource: e.resource.clone(),
        action: e.action.clone(),
        actor: e.actor.clone(),
        create_time: Some(timestamp(&e.create_time)),
        from_state: e.from_state.clone(),
        to_state: e.to_state.clone(),
        reason: e.reason.clone(),
        request_id: e.request_id.clone(),
        payload_sha256: e.payload_sha256.clone(),
        previous_entry_sha256: e.previous_entry_sha256.clone(),
        entry_sha256: e.entry_sha256.clone(),
    }
}

/// `resource` if it names something with a history: an application, product, rule set,
/// licence or shipment.
pub fn history_resource(resource: &str) -> Result<String, clearance_domain::Violations> {
    use clearance_domain::ids::Collection;
    let known = [
        Collection::Applications,
        Collection::Products,
        Collection::RuleSets,
        Collection::Licences,
        Collection::Shipments,
        Collection::Referrals,
    ];
    if known
        .iter()
        .any(|c| c.parse_name("resource", resource).is_ok())
    {
        Ok(resource.to_owned())
    } else {
        Err(clearance_domain::Violations::single(
            "resource",
            "must be the name of an application, product, rule set, licence, shipment or referral",
        ))
    }
}

/// One page of a resource's history and the next page's token: as recorded for regulators
/// (`org` None), or as its exporter may see it (`Some(org)`: its own resources only, through
/// `events::exporter_history_entry`).
pub async fn history_page(
    store: &clearance_store::Store,
    org: Option<&clearance_domain::ids::OrganisationId>,
    resource: &str,
    page_size: i32,
    page_token: &str,
) -> crate::ApiResult<(Vec<pb::HistoryEntry>, String)> {
    let mut v = clearance_domain::Violations::new();
    let checked = v.check("", history_resource(resource));
    let page = v.check(
        "",
        clearance_domain::paging::PageRequest::parse(
            page_size,
            page_token,
            &format!("history|{resource}"),
        ),
    );
    let (Some(resource), Some(page)) = (checked, page) else {
        return Err(v.into());
    };
    let entries = store
        .history_page(
            &resource,
            org.map(|o| o.as_str()),
            page.after_sort,
            page.fetch_limit(),
        )
        .await
        .map_err(|e| crate::ApiError::from_store(&resource, e))?;
    if entries.is_empty() && page.after.is_none() {
        return Err(crate::ApiError::NotFound(resource));
    }
    let (entries, next_page_token) =
        page.finish_sorted_page(entries, |e| (e.sequence, uuid::Uuid::nil()));
    let shown = entries
        .iter()
        .filter_map(|e| match org {
            None => Some(history_entry_to_pb(e)),
            Some(_) => {
                clearance_domain::events::exporter_history_entry(e).map(|e| history_entry_to_pb(&e))
            }
        })
        .collect();
    Ok((shown, next_page_token))
}
