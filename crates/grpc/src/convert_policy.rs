//! Conversions for control rules and determinations.

use chrono::{DateTime, TimeZone, Utc};
use clearance_domain::Violations;
use clearance_domain::ids::Collection;
use clearance_domain::policy::conditions::{
    AggregateCapDefinition, CertificationDefinition, CertificationInput, parse_certifications,
};
use clearance_domain::policy::determine::Impact;
use clearance_domain::policy::rules::PublishedRuleSet;
use clearance_domain::policy::{
    Certification, ConditionStatus, DestinationsDefinition, Determination, FiredRule, ReviewPolicy,
    RuleConditions, RuleDefinition, RuleSetDefinition, RuleSetRef, ShipmentCondition,
    TransactionKind,
};
use clearance_proto::v1 as pb;

use crate::convert::timestamp;

/// A protobuf timestamp as UTC; `field` names it in violations.
pub fn from_timestamp(
    field: &str,
    t: &prost_types::Timestamp,
) -> Result<DateTime<Utc>, Violations> {
    // google.protobuf.Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z,
    // nanos 0..=999,999,999. Anything outside cannot be written back as proto JSON.
    const MIN_SECONDS: i64 = -62_135_596_800;
    const MAX_SECONDS: i64 = 253_402_300_799;
    let in_range =
        (MIN_SECONDS..=MAX_SECONDS).contains(&t.seconds) && (0..=999_999_999).contains(&t.nanos);
    u32::try_from(t.nanos)
        .ok()
        .filter(|_| in_range)
        .and_then(|nanos| Utc.timestamp_opt(t.seconds, nanos).single())
        .ok_or_else(|| {
            Violations::single(
                field,
                "is not a valid timestamp (0001-01-01 to 9999-12-31 UTC, nanos 0 to 999999999)",
            )
        })
}

pub fn policy_to_pb(p: Option<ReviewPolicy>) -> i32 {
    (match p {
        None => pb::ReviewPolicy::Unspecified,
        Some(ReviewPolicy::PresumptionOfDenial) => pb::ReviewPolicy::PresumptionOfDenial,
        Some(ReviewPolicy::CaseByCase) => pb::ReviewPolicy::CaseByCase,
        Some(ReviewPolicy::PresumptionOfApproval) => pb::ReviewPolicy::PresumptionOfApproval,
    }) as i32
}

fn policy_from_pb(raw: i32) -> Option<ReviewPolicy> {
    match pb::ReviewPolicy::try_from(raw).ok()? {
        pb::ReviewPolicy::Unspecified => None,
        pb::ReviewPolicy::PresumptionOfDenial => Some(ReviewPolicy::PresumptionOfDenial),
        pb::ReviewPolicy::CaseByCase => Some(ReviewPolicy::CaseByCase),
        pb::ReviewPolicy::PresumptionOfApproval => Some(ReviewPolicy::PresumptionOfApproval),
    }
}

pub fn rule_set_to_pb(p: &PublishedRuleSet) -> pb::RuleSet {
    let d = &p.rule_set.definition;
    pb::RuleSet {
        name: Collection::RuleSets.name_of(p.id),
        key: d.key.clone(),
        version: p.version,
        display_name: d.display_name.clone(),
        citation: d.citation.clone(),
        effective_time: Some(timestamp(&d.effective_time)),
        expire_time: d.expire_time.as_ref().map(timestamp),
        illustrative: d.illustrative,
        source: d.source.clone(),
        rules: d
            .rules
            .iter()
            .map(|r| pb::Rule {
                rule_id: r.id.clone(),
                description: r.description.clone(),
                citation: r.citation.clone(),
                classifications: r.classifications.clone(),
                criterion: r.criterion.clone(),
                destinations: Some(pb::Destinations {
                    country_codes: r.destinations.countries.clone(),
                    country_groups: r.destinations.country_groups.clone(),
                    excluded_country_codes: r.destinations.excluded_countries.clone(),
                    excluded_country_groups: r.destinations.excluded_country_groups.clone(),
                    end_user_headquarters_country_codes: r
                        .destinations
                        .end_user_headquarters_countries
                        .clone(),
                    end_user_headquarters_country_groups: r
                        .destinations
                        .end_user_headquarters_country_groups
                        .clone(),
                }),
                licence_required: r.licence_required,
                review_policy: policy_to_pb(r.review_policy),
                transaction_kinds: r
                    .transaction_kinds
                    .iter()
                    .map(|k| transaction_kind_to_pb(*k) as i32)
                    .collect(),
                conditions: (!r.conditions.is_empty()).then(|| conditions_to_pb(&r.conditions)),
            })
            .collect(),
        publish_time: Some(timestamp(&p.publish_time)),
        publisher: p.published_by.clone(),
    }
}

fn conditions_to_pb(c: &RuleConditions) -> pb::RuleConditions {
    pb::RuleConditions {
        commercially_available_in_us_by: c
            .commercially_available_in_us_by
            .map(|d| d.to_string())
            .unwrap_or_default(),
        certifications: c
            .certifications
            .iter()
            .map(|d| pb::CertificationDefinition {
                key: d.key.clone(),
                statement: d.statement.clone(),
                figure: d.figure.clone(),
            })
            .collect(),
        shipment_conditions: c
            .shipment_conditions
            .iter()
            .map(|s| shipment_condition_to_pb(*s) as i32)
            .collect(),
        aggregate_cap_percent_of_us_units: c
            .aggregate_cap
            .map(|a| a.percent_of_us_units)
            .unwrap_or_default(),
        otherwise: policy_to_pb(c.otherwise),
    }
}

/// A rule's conditions from a request; violations are named under `field`.
fn conditions_from_pb(
    v: &mut Violations,
    field: &str,
    c: Option<pb::RuleConditions>,
) -> RuleConditions {
    let Some(c) = c else {
        return RuleConditions::default();
    };
    let by = match c.commercially_available_in_us_by.trim() {
        "" => None,
        raw => match chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                v.add(
                    format!("{field}.commercially_available_in_us_by"),
                    "is not a date (YYYY-MM-DD)",
                );
                None
            }
        },
    };
    let mut shipment_conditions = Vec::new();
    for (j, raw) in c.shipment_conditions.iter().enumerate() {
        match pb::ShipmentCondition::try_from(*raw) {
            Ok(pb::ShipmentCondition::ThirdPartyTestReport) => {
                if !shipment_conditions.contains(&ShipmentCondition::ThirdPartyTestReport) {
                    shipment_conditions.push(ShipmentCondition::ThirdPartyTestReport);
                }
            }
            _ => v.add(
                format!("{field}.shipment_conditions[{j}]"),
                "is not a known shipment condition",
            ),
        }
    }
    if pb::ReviewPolicy::try_from(c.otherwise).is_err() {
        v.add(format!("{field}.otherwise"), "is not a known review policy");
    }
    RuleConditions {
        commercially_available_in_us_by: by,
        certifications: c
            .certifications
            .into_iter()
            .map(|d| CertificationDefinition {
                key: d.key,
                statement: d.statement,
                figure: d.figure,
            })
            .collect(),
        shipment_conditions,
        aggregate_cap: (c.aggregate_cap_percent_of_us_units != 0).then_some(
            AggregateCapDefinition {
                percent_of_us_units: c.aggregate_cap_percent_of_us_units,
            },
        ),
        otherwise: policy_from_pb(c.otherwise),
    }
}

pub fn shipment_condition_to_pb(c: ShipmentCondition) -> pb::ShipmentCondition {
    match c {
        ShipmentCondition::ThirdPartyTestReport => pb::ShipmentCondition::ThirdPartyTestReport,
    }
}

pub fn certification_to_pb(c: &Certification) -> pb::Certification {
    pb::Certification {
        key: c.key.clone(),
        figure: c.figure,
    }
}

pub fn certification_input(c: pb::Certification) -> CertificationInput {
    CertificationInput {
        key: c.key,
        figure: c.figure,
    }
}

/// The certifications a determination request states: `None` when it states none either way.
pub fn stated_certifications(
    v: &mut Violations,
    set: Option<pb::CertificationSet>,
) -> Option<Vec<Certification>> {
    let set = set?;
    v.check(
        "",
        parse_certifications(
            "certifications.certifications",
            set.certifications
                .into_iter()
                .map(certification_input)
                .collect(),
        ),
    )
}

pub fn transaction_kind_to_pb(k: TransactionKind) -> pb::TransactionKind {
    match k {
        TransactionKind::Export => pb::TransactionKind::Export,
        TransactionKind::Reexport => pb::TransactionKind::Reexport,
        TransactionKind::ExportFromAbroad => pb::TransactionKind::ExportFromAbroad,
        TransactionKind::InCountryTransfer => pb::TransactionKind::InCountryTransfer,
    }
}

/// A transaction kind as sent; `None` for UNSPECIFIED or an unknown number.
pub fn transaction_kind_from_pb(raw: i32) -> Option<TransactionKind> {
    match pb::TransactionKind::try_from(raw).ok()? {
        pb::TransactionKind::Unspecified => None,
        pb::TransactionKind::Export => Some(TransactionKind::Export),
        pb::TransactionKind::Reexport => Some(TransactionKind::Reexport),
        pb::TransactionKind::ExportFromAbroad => Some(TransactionKind::ExportFromAbroad),
        pb::TransactionKind::InCountryTransfer => Some(TransactionKind::InCountryTransfer),
    }
}

/// A transaction kind as the domain reads a request's: its name, empty when unspecified, the
/// number itself when unknown (for the domain to refuse).
pub fn transaction_kind_input(raw: i32) -> String {
    match raw {
        0 => String::new(),
        raw => {
            transaction_kind_from_pb(raw).map_or_else(|| raw.to_string(), |k| k.as_str().to_owned())
        }
    }
}

/// A draft rule set from a request; violations are named relative to the rule set.
pub fn rule_set_definition(r: pb::RuleSet) -> Result<RuleSetDefinition, Violations> {
    let mut v = Violations::new();
    let effective_time = match &r.effective_time {
        None => {
            v.add("effective_time", "is required");
            None
        }
        Some(t) => v.check("", from_timestamp("effective_time", t)),
    };
    let expire_time = match &r.expire_time {
        None => None,
        Some(t) => v.check("", from_timestamp("expire_time", t)),
    };
    let mut rules = Vec::new();
    for (i, rule) in r.rules.into_iter().enumerate() {
        if pb::ReviewPolicy::try_from(rule.review_policy).is_err() {
            v.add(
                format!("rules[{i}].review_policy"),
                "is not a known review policy",
            );
        }
        let mut transaction_kinds = Vec::new();
        for (j, raw) in rule.transaction_kinds.iter().enumerate() {
            match transaction_kind_from_pb(*raw) {
                Some(kind) if !transaction_kinds.contains(&kind) => transaction_kinds.push(kind),
                Some(_) => v.add(
                    format!("rules[{i}].transaction_kinds[{j}]"),
                    "is listed twice",
                ),
                None => v.add(
                    format!("rules[{i}].transaction_kinds[{j}]"),
                    "is not a known transaction kind",
                ),
            }
        }
        let d = rule.destinations.unwrap_or_default();
        let conditions =
            conditions_from_pb(&mut v, &format!("rules[{i}].conditions"), rule.conditions);
        rules.push(RuleDefinition {
            id: rule.rule_id,
            description: rule.description,
            citation: rule.citation,
            classifications: rule.classifications,
            criterion: rule.criterion,
            destinations: DestinationsDefinition {
                countries: d.country_codes,
                country_groups: d.country_groups,
                excluded_countries: d.excluded_country_codes,
                excluded_country_groups: d.excluded_country_groups,
                end_user_headquarters_countries: d.end_user_headquarters_country_codes,
                end_user_headquarters_country_groups: d.end_user_headquarters_country_groups,
            },
            transaction_kinds,
            licence_required: rule.licence_required,
            review_policy: policy_from_pb(rule.review_policy),
            conditions,
        });
    }
    let Some(effective_time) = effective_time else {
        return Err(v);
    };
    v.finish(|| RuleSetDefinition {
        key: r.key,
        version: None,
        display_name: r.display_name,
        citation: r.citation,
        effective_time,
        expire_time,
        illustrative: r.illustrative,
        source: r.source,
        rules,
    })
}

fn version_to_pb(r: &RuleSetRef) -> pb::RuleSetVersion {
    pb::RuleSetVersion {
        rule_set: if r.id.is_nil() {
            String::new()
        } else {
            Collection::RuleSets.name_of(r.id)
        },
        key: r.key.clone(),
        version: r.version,
    }
}

fn fired_to_pb(f: &FiredRule) -> pb::FiredRule {
    pb::FiredRule {
        rule_set: Some(version_to_pb(&f.rule_set)),
        rule_id: f.rule_id.clone(),
        citation: f.citation.clone(),
        licence_required: f.licence_required,
        review_policy: policy_to_pb(f.review_policy),
        matched_criterion: f.matched.clone(),
        description: f.description.clone(),
        conditions: f
            .conditions
            .iter()
            .map(|c| pb::ConditionCheck {
                condition: c.condition.clone(),
                status: (match c.status {
                    ConditionStatus::Met => pb::ConditionStatus::Met,
                    ConditionStatus::NotMet => pb::ConditionStatus::NotMet,
                    ConditionStatus::ToCertify => pb::ConditionStatus::ToCertify,
                    ConditionStatus::OnLicence => pb::ConditionStatus::OnLicence,
                }) as i32,
                explanation: c.explanation.clone(),
            })
            .collect(),
    }
}

pub fn determination_to_pb(d: &Determination) -> pb::Determination {
    pb::Determination {
        licence_required: d.licence_required,
        review_policy: policy_to_pb(d.review_policy),
        consulted: d.consulted.iter().map(version_to_pb).collect(),
        fired_rules: d.fired.iter().map(fired_to_pb).collect(),
        export_time: Some(timestamp(&d.at)),
        no_rules_in_force: d.consulted.is_empty(),
    }
}

pub fn impact_to_pb(i: Impact) -> i32 {
    (match i {
        Impact::NowRequiresLicence => pb::ImpactKind::NowRequiresLicence,
        Impact::NoLongerRequiresLicence => pb::ImpactKind::NoLongerRequiresLicence,
        Impact::ReviewPolicyChanged => pb::ImpactKind::ReviewPolicyChanged,
        Impact::ConditionsChanged => pb::ImpactKind::ConditionsChanged,
    }) as i32
}

/// Where, to whom and when an export would happen, as a determination request states it.
#[derive(Debug, Clone)]
pub struct ExportQuery {
    pub destination: clearance_domain::codes::CountryCode,
    pub end_user_headquarters: Option<clearance_domain::codes::CountryCode>,
    pub at: DateTime<Utc>,
    pub transaction: TransactionKind,
}

/// Validates a determination request's destination, end-user headquarters and time (absent:
/// `now`), recording problems in `v`.
pub fn export_query(
    v: &mut Violations,
    destination_country_code: &str,
    end_user_headquarters_country_code: &str,
    export_time: Option<&prost_types::Timestamp>,
    transaction_kind: i32,
    now: DateTime<Utc>,
) -> Option<ExportQuery> {
    use clearance_domain::codes::CountryCode;
    let destination = v.check(
        "",
        CountryCode::parse("destination_country_code", destination_country_code),
    );
    let headquarters = v.check(
        "",
        CountryCode::parse_optional(
            "end_user_headquarters_country_code",
            end_user_headquarters_country_code,
        ),
    );
    let at = match export_time {
        Some(t) => v.check("", from_timestamp("export_time", t)),
        None => Some(now),
    };
    let transaction = v.check(
        "",
        TransactionKind::parse_input(
            "transaction_kind",
            &transaction_kind_input(transaction_kind),
        ),
    );
    Some(ExportQuery {
        destination: destination?,
        end_user_headquarters: headquarters?,
        at: at?,
        transaction: transaction?,
    })
}

/// A list format as the contract names it.
pub fn screening_format_from_pb(raw: i32) -> Option<clearance_domain::screening::ListFormat> {
    use clearance_domain::screening::ListFormat;
    match pb::ScreeningListFormat::try_from(raw) {
        Ok(pb::ScreeningListFormat::CslCsv) => Some(ListFormat::CslCsv),
        Ok(pb::ScreeningListFormat::CslJson) => Some(ListFormat::CslJson),
        Ok(pb::ScreeningListFormat::FollowTheMoney) => Some(ListFormat::FollowTheMoney),
        _ => None,
    }
}

pub fn screening_list_to_pb(v: &clearance_domain::screening::ListVersion) -> pb::ScreeningList {
    use clearance_domain::screening::ListFormat;
    let format = match ListFormat::parse(&v.format) {
        Some(ListFormat::CslCsv) => pb::ScreeningListFormat::CslCsv,
        Some(ListFormat::CslJson) => pb::ScreeningListFormat::CslJson,
        Some(ListFormat::FollowTheMoney) => pb::ScreeningListFormat::FollowTheMoney,
        None => pb::ScreeningListFormat::Unspecified,
    };
    pb::ScreeningList {
        name: clearance_domain::ids::Collection::ScreeningLists.name_of(v.id),
        source: v.source.clone(),
        format: format as i32,
        file_sha256: v.file_sha256.clone(),
        entry_count: v.entry_count,
        import_time: Some(crate::convert::timestamp(&v.import_time)),
        imported_by: v.imported_by.clone(),
    }
}
