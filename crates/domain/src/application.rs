//! Export-licence applications: content, validation, states and the draft rules.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::codes::{CountryCode, CurrencyCode};
use crate::error::{DomainError, reason};
use crate::ids::{Collection, OrganisationId};
use crate::policy::TransactionKind;
use crate::policy::conditions::{Certification, CertificationInput, parse_certifications};
use crate::validation::{Violations, integer_in_range, optional_text, required_text};

pub const MAX_LINES: usize = 100;
pub const MAX_PARTIES: usize = 20;
pub const MAX_DOCUMENTS: usize = 50;
pub const MAX_END_USE_CHARS: usize = 4000;
pub const MAX_PARTY_NAME_CHARS: usize = 200;
pub const MAX_ADDRESS_CHARS: usize = 1000;
pub const MAX_DOCUMENT_NAME_CHARS: usize = 255;
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// 10^13 minor units: a hundred billion in a two-decimal currency, far beyond any one line.
pub const MAX_UNIT_VALUE_MINOR: i64 = 10_000_000_000_000;
/// 1 TiB; supporting documents are scans and spreadsheets, not disk images.
/// The most a line may be worth (quantity × unit value) and the most a shipment line may
/// carry, in minor units: ten trillion of a currency's major unit. With the tolerance capped at
/// 100 %, a licence line's value plus tolerance, and any sum of shipped values within it, stay
/// far inside `i64` on every database.
pub const MAX_LINE_VALUE_MINOR: i64 = 1_000_000_000_000_000;
pub const MAX_DOCUMENT_BYTES: i64 = 1 << 40;

/// Where an application is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationState {
    Draft,
    Submitted,
    UnderReview,
    AwaitingApplicant,
    PendingCountersign,
    Approved,
    Denied,
    Returned,
    Withdrawn,
    UnderAppeal,
}

impl ApplicationState {
    pub const ALL: [ApplicationState; 10] = [
        Self::Draft,
        Self::Submitted,
        Self::UnderReview,
        Self::AwaitingApplicant,
        Self::PendingCountersign,
        Self::Approved,
        Self::Denied,
        Self::Returned,
        Self::Withdrawn,
        Self::UnderAppeal,
    ];

    /// The stored and displayed name, e.g. `DRAFT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Submitted => "SUBMITTED",
            Self::UnderReview => "UNDER_REVIEW",
            Self::AwaitingApplicant => "AWAITING_APPLICANT",
            Self::PendingCountersign => "PENDING_COUNTERSIGN",
            Self::Approved => "APPROVED",
            Self::Denied => "DENIED",
            Self::Returned => "RETURNED",
            Self::Withdrawn => "WITHDRAWN",
            Self::UnderAppeal => "UNDER_APPEAL",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The state in words with its name, e.g. "a draft (DRAFT)", for messages to people.
    pub fn in_words(self) -> String {
        let words = match self {
            Self::Draft => "a draft",
            Self::Submitted => "submitted and not yet assigned",
            Self::UnderReview => "under review",
            Self::AwaitingApplicant => "waiting for the applicant's answer",
            Self::PendingCountersign => "waiting for a countersignature",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Returned => "returned to the applicant",
            Self::Withdrawn => "withdrawn",
            Self::UnderAppeal => "under appeal",
        };
        format!("{words} ({})", self.as_str())
    }
}

/// The role a party plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PartyRole {
    EndUser,
    UltimateConsignee,
    IntermediateConsignee,
    Purchaser,
}

impl PartyRole {
    pub const ALL: [PartyRole; 4] = [
        Self::EndUser,
        Self::UltimateConsignee,
        Self::IntermediateConsignee,
        Self::Purchaser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndUser => "END_USER",
            Self::UltimateConsignee => "ULTIMATE_CONSIGNEE",
            Self::IntermediateConsignee => "INTERMEDIATE_CONSIGNEE",
            Self::Purchaser => "PURCHASER",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Roles a transaction has at most one of.
    fn is_unique(self) -> bool {
        matches!(self, Self::EndUser | Self::UltimateConsignee)
    }
}

/// Money in integer minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Money {
    pub currency: CurrencyCode,
    pub minor_units: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoneyInput {
    pub currency_code: String,
    pub minor_units: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Party {
    pub role: PartyRole,
    pub display_name: String,
    pub address: String,
    pub country: CountryCode,
    pub headquarters_country: Option<CountryCode>,
}

/// Raw party; `role: None` is an unspecified role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartyInput {
    pub role: Option<PartyRole>,
    pub display_name: String,
    pub address: String,
    pub country_code: String,
    pub headquarters_country_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplicationLine {
    pub product_id: Uuid,
    pub quantity: i64,
    pub unit_value: Money,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    /// Resource name `products/{id}`.
    pub product: String,
    pub quantity: i64,
    pub unit_value: Option<MoneyInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SupportingDocument {
    pub display_name: String,
    pub media_type: String,
    pub sha256: String,
    pub size_bytes: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentInput {
    pub display_name: String,
    pub media_type: String,
    pub sha256: String,
    pub size_bytes: i64,
}

impl From<&SupportingDocument> for DocumentInput {
    fn from(d: &SupportingDocument) -> Self {
        DocumentInput {
            display_name: d.display_name.clone(),
            media_type: d.media_type.clone(),
            sha256: d.sha256.clone(),
            size_bytes: d.size_bytes,
        }
    }
}

/// Raw application content as it arrives from a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationInput {
    pub destination_country_code: String,
    /// `EXPORT`, `REEXPORT`, `EXPORT_FROM_ABROAD` or `IN_COUNTRY_TRANSFER`; empty: `EXPORT`.
    pub transaction_kind: String,
    pub parties: Vec<PartyInput>,
    pub end_use_statement: String,
    pub lines: Vec<LineInput>,
    pub documents: Vec<DocumentInput>,
    pub certifications: Vec<CertificationInput>,
}

/// The applicant-editable content of an application, validated. A draft may be incomplete
/// (completeness is checked at submission) but everything present is well formed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplicationContent {
    pub destination: Option<CountryCode>,
    /// How the goods move: the rules may differ (the January 2026 case-by-case review is for
    /// exports from the United States only).
    pub transaction_kind: TransactionKind,
    pub parties: Vec<Party>,
    pub end_use_statement: String,
    pub lines: Vec<ApplicationLine>,
    pub documents: Vec<SupportingDocument>,
    /// Statements the exporter certifies, as a rule's conditions ask (91 FR 1684).
    pub certifications: Vec<Certification>,
}

/// A stored application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Application {
    pub id: Uuid,
    /// Human reference, e.g. `CL-2025-000123`.
    pub reference: String,
    pub organisation: OrganisationId,
    pub content: ApplicationContent,
    pub state: ApplicationState,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub submit_time: Option<DateTime<Utc>>,
    /// Present when the application asks to amend a licence.
    pub amendment: Option<crate::amendment::AmendmentRequest>,
}

/// The human reference of the `sequence`-th application filed in `year`.
pub fn application_reference(year: i32, sequence: i64) -> String {
    format!("{REFERENCE_PREFIX}-{year}-{sequence:06}")
}

impl Application {
    /// Applicants edit only drafts; afterwards the record is what the regulator reviews.
    pub fn ensure_editable(&self) -> Result<(), DomainError> {
        if self.amendment.is_some() {
            return Err(DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: "an amendment request mirrors its licence and cannot be edited; withdraw it and request the amendment again".into(),
            });
        }
        if self.state == ApplicationState::Draft {
            Ok(())
        } else {
            Err(DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: format!(
                    "only a DRAFT application can be edited; this one is {}",
                    self.state.as_str()
                ),
            })
        }
    }
}

impl ApplicationContent {
    /// Validates every field; violations are named relative to the application.
    pub fn parse(input: ApplicationInput) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let destination = v
            .check(
                "",
                CountryCode::parse_optional(
                    "destination_country_code",
                    &input.destination_country_code,
                ),
            )
            .flatten();
        let end_use_statement = optional_text(
            &mut v,
            "end_use_statement",
            &input.end_use_statement,
            MAX_END_USE_CHARS,
        );
        let transaction_kind = v
            .check(
                "",
                TransactionKind::parse_input("transaction_kind", &input.transaction_kind),
            )
            .unwrap_or_default();

        if input.parties.len() > MAX_PARTIES {
            v.add(
                "parties",
                format!("must have at most {MAX_PARTIES} entries"),
            );
        }
        let mut parties = Vec::new();
        let mut seen_roles = HashSet::new();
        for (i, p) in input.parties.into_iter().take(MAX_PARTIES).enumerate() {
            if let Some(role) = p.role.filter(|r| r.is_unique())
                && !seen_roles.insert(role)
            {
                v.add(
                    format!("parties[{i}].role"),
                    format!("an application has at most one {}", role.as_str()),
                );
            }
            if let Some(party) = v.check(&format!("parties[{i}]"), parse_party(p)) {
                parties.push(party);
            }
        }

        if input.lines.len() > MAX_LINES {
            v.add("lines", format!("must have at most {MAX_LINES} entries"));
        }
        let mut lines: Vec<ApplicationLine> = Vec::new();
        for (i, l) in input.lines.into_iter().take(MAX_LINES).enumerate() {
            if let Some(line) = v.check(&format!("lines[{i}]"), parse_line(l)) {
                if let Some(first) = lines.iter().position(|x| x.product_id == line.product_id) {
                    v.add(
                        format!("lines[{i}].product"),
                        format!("is already on lines[{first}]; put the whole quantity on one line"),
                    );
                }
                lines.push(line);
            }
        }

        if input.documents.len() > MAX_DOCUMENTS {
            v.add(
                "documents",
                format!("must have at most {MAX_DOCUMENTS} entries"),
            );
        }
        let mut documents = Vec::new();
        for (i, d) in input.documents.into_iter().take(MAX_DOCUMENTS).enumerate() {
            if let Some(doc) = v.check(&format!("documents[{i}]"), parse_document(d)) {
                documents.push(doc);
            }
        }

        let certifications = v
            .check(
                "",
                parse_certifications("certifications", input.certifications),
            )
            .unwrap_or_default();

        v.finish(|| ApplicationContent {
            destination,
            transaction_kind,
            parties,
            end_use_statement,
            lines,
            documents,
            certifications,
        })
    }

    /// The content as raw input, so an update can replace only the masked fields.
    pub fn to_input(&self) -> ApplicationInput {
        ApplicationInput {
            transaction_kind: self.transaction_kind.as_str().to_owned(),
            destination_country_code: self
                .destination
                .as_ref()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            parties: self
                .parties
                .iter()
                .map(|p| PartyInput {
                    role: Some(p.role),
                    display_name: p.display_name.clone(),
                    address: p.address.clone(),
                    country_code: p.country.as_str().to_owned(),
                    headquarters_country_code: p
                        .headquarters_country
                        .as_ref()
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_default(),
                })
                .collect(),
            end_use_statement: self.end_use_statement.clone(),
            lines: self
                .lines
                .iter()
                .map(|l| LineInput {
                    product: Collection::Products.name_of(l.product_id),
                    quantity: l.quantity,
                    unit_value: Some(MoneyInput {
                        currency_code: l.unit_value.currency.as_str().to_owned(),
                        minor_units: l.unit_value.minor_units,
                    }),
                })
                .collect(),
            documents: self
                .documents
                .iter()
                .map(|d| DocumentInput {
                    display_name: d.display_name.clone(),
                    media_type: d.media_type.clone(),
                    sha256: d.sha256.clone(),
                    size_bytes: d.size_bytes,
                })
                .collect(),
            certifications: self
                .certifications
                .iter()
                .map(|c| CertificationInput {
                    key: c.key.clone(),
                    figure: c.figure,
                })
                .collect(),
        }
    }

    /// The paths an update mask may name.
    pub const UPDATABLE_FIELDS: [&'static str; 7] = [
        "destination_country_code",
        "transaction_kind",
        "parties",
        "end_use_statement",
        "lines",
        "documents",
        "certifications",
    ];

    /// Replaces the fields named in `mask` (all applicant-editable fields when empty).
    /// Check the mask first with [`crate::validation::check_update_mask`]; other paths are ignored.
    pub fn apply_update(
        &self,
        update: ApplicationInput,
        mask: &[String],
    ) -> Result<Self, Violations> {
        if mask.is_empty() {
            return Self::parse(update);
        }
        let mut merged = self.to_input();
        for path in mask {
            match path.as_str() {
                "destination_country_code" => {
                    merged.destination_country_code = update.destination_country_code.clone()
                }
                "transaction_kind" => merged.transaction_kind = update.transaction_kind.clone(),
                "parties" => merged.parties = update.parties.clone(),
                "end_use_statement" => merged.end_use_statement = update.end_use_statement.clone(),
                "lines" => merged.lines = update.lines.clone(),
                "documents" => merged.documents = update.documents.clone(),
                "certifications" => merged.certifications = update.certifications.clone(),
                _ => {}
            }
        }
        Self::parse(merged)
    }

    /// The distinct products the lines name.
    pub fn product_ids(&self) -> Vec<Uuid> {
        self.lines.iter().map(|l| l.product_id).collect()
    }

    /// Names every line whose product is not in the applicant's catalogue.
    pub fn check_products_known(&self, known: &HashSet<Uuid>) -> Result<(), Violations> {
        let mut v = Violations::new();
        for (i, line) in self.lines.iter().enumerate() {
            if !known.contains(&line.product_id) {
                v.add(
                    format!("lines[{i}].product"),
                    "is not a product of your organisation's catalogue",
                );
            }
        }
        v.finish(|| ())
    }
}

pub(crate) fn parse_party(p: PartyInput) -> Result<Party, Violations> {
    let mut v = Violations::new();
    if p.role.is_none() {
        v.add("role", "is required");
    }
    let display_name = required_text(
        &mut v,
        "display_name",
        &p.display_name,
        MAX_PARTY_NAME_CHARS,
    );
    let address = optional_text(&mut v, "address", &p.address, MAX_ADDRESS_CHARS);
    let country = v.check("", CountryCode::parse("country_code", &p.country_code));
    let headquarters_country = v
        .check(
            "",
            CountryCode::parse_optional("headquarters_country_code", &p.headquarters_country_code),
        )
        .flatten();
    match (p.role, country) {
        (Some(role), Some(country)) if v.is_empty() => Ok(Party {
            role,
            display_name,
            address,
            country,
            headquarters_country,
        }),
        _ => Err(v),
    }
}

pub(crate) fn parse_line(l: LineInput) -> Result<ApplicationLine, Violations> {
    let mut v = Violations::new();
    let product_id = v.check("", Collection::Products.parse_name("product", &l.product));
    if l.quantity <= 0 {
        v.add("quantity", "must be at least 1");
    } else {
        integer_in_range(&mut v, "quantity", l.quantity, 1, MAX_QUANTITY);
    }
    let unit_value = match l.unit_value {
        None => {
            v.add("unit_value", "is required");
            None
        }
        Some(m) => {
            let currency = v.check(
                "unit_value",
                CurrencyCode::parse("currency_code", &m.currency_code),
            );
            integer_in_range(
                &mut v,
                "unit_value.minor_units",
                m.minor_units,
                0,
                MAX_UNIT_VALUE_MINOR,
            );
            let line_value = i128::from(l.quantity) * i128::from(m.minor_units);
            if line_value > i128::from(MAX_LINE_VALUE_MINOR) {
                v.add(
                    "unit_value.minor_units",
                    format!(
                        "quantity × unit value is {line_value} minor units; a line may be worth at most {MAX_LINE_VALUE_MINOR}"
                    ),
                );
            }
            currency.map(|currency| Money {
                currency,
                minor_units: m.minor_units,
            })
        }
    };
    match (product_id, unit_value) {
        (Some(product_id), Some(unit_value)) if v.is_empty() => Ok(ApplicationLine {
            product_id,
            quantity: l.quantity,
            unit_value,
        }),
        _ => Err(v),
    }
}

/// Validates a list of document metadata, named `documents[i].field`.
pub fn parse_documents(
    documents: Vec<DocumentInput>,
) -> Result<Vec<SupportingDocument>, Violations> {
    let mut v = Violations::new();
    if documents.len() > MAX_DOCUMENTS {
        v.add(
            "documents",
            format!("must have at most {MAX_DOCUMENTS} entries"),
        );
    }
    let mut parsed = Vec::new();
    for (i, d) in documents.into_iter().take(MAX_DOCUMENTS).enumerate() {
        if let Some(doc) = v.check(&format!("documents[{i}]"), parse_document(d)) {
            parsed.push(doc);
        }
    }
    v.finish(|| parsed)
}

fn parse_document(d: DocumentInput) -> Result<SupportingDocument, Violations> {
    let mut v = Violations::new();
    let display_name = required_text(
        &mut v,
        "display_name",
        &d.display_name,
        MAX_DOCUMENT_NAME_CHARS,
    );
    let media_type = d.media_type.trim().to_ascii_lowercase();
    if !is_media_type(&media_type) {
        v.add("media_type", "must be a media type such as application/pdf");
    }
    let sha256 = crate::documents::normalise_sha256(&d.sha256);
    if !crate::documents::is_sha256(&sha256) {
        v.add("sha256", "must be 64 hexadecimal digits");
    }
    integer_in_range(&mut v, "size_bytes", d.size_bytes, 1, MAX_DOCUMENT_BYTES);
    v.finish(|| SupportingDocument {
        display_name,
        media_type,
        sha256,
        size_bytes: d.size_bytes,
    })
}

fn is_media_type(value: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    match value.split_once('/') {
        Some((kind, sub)) => token(kind) && token(sub),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> String {
        Collection::Products.name_of(Uuid::now_v7())
    }

    fn line(product: String, quantity: i64) -> LineInput {
        LineInput {
            product,
            quantity,
            unit_value: Some(MoneyInput {
                currency_code: "USD".into(),
                minor_units: 1_200_000,
            }),
        }
    }

    fn input() -> ApplicationInput {
        ApplicationInput {
            transaction_kind: String::new(),
            destination_country_code: "cn".into(),
            parties: vec![PartyInput {
                role: Some(PartyRole::EndUser),
                display_name: "Example Cloud Ltd".into(),
                address: "1 Example Road, Shenzhen".into(),
                country_code: "CN".into(),
                headquarters_country_code: "CN".into(),
            }],
            end_use_statement: "Inference serving".into(),
            lines: vec![line(product(), 100)],
            documents: vec![DocumentInput {
                display_name: "End-user statement.pdf".into(),
                media_type: "application/pdf".into(),
                sha256: "a".repeat(64),
                size_bytes: 1024,
            }],
            certifications: Vec::new(),
        }
    }

    fn fields(r: Result<ApplicationContent, Violations>) -> Vec<String> {
        r.unwrap_err()
            .into_vec()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn an_application_says_how_the_goods_move_exports_by_default() {
        let exported = ApplicationContent::parse(input()).unwrap();
        assert_eq!(exported.transaction_kind, TransactionKind::Export);
        let reexported = ApplicationContent::parse(ApplicationInput {
            transaction_kind: " REEXPORT ".into(),
            ..input()
        })
        .unwrap();
        assert_eq!(reexported.transaction_kind, TransactionKind::Reexport);
        let refused = ApplicationContent::parse(ApplicationInput {
            transaction_kind: "SIDEWAYS".into(),
            ..input()
        })
        .unwrap_err();
        assert_eq!(refused.into_vec()[0].field, "transaction_kind");
        // An update naming only the kind keeps the rest.
        let updated = exported
            .apply_update(
                ApplicationInput {
                    transaction_kind: "IN_COUNTRY_TRANSFER".into(),
                    ..ApplicationInput::default()
                },
                &["transaction_kind".to_owned()],
            )
            .unwrap();
        assert_eq!(updated.transaction_kind, TransactionKind::InCountryTransfer);
        assert_eq!(updated.lines, exported.lines);
    }

    #[test]
    fn a_complete_application_parses_and_normalises() {
        let c = ApplicationContent::parse(input()).unwrap();
        assert_eq!(c.destination.unwrap().as_str(), "CN");
    }

    #[test]
    fn an_empty_draft_is_allowed() {
        assert!(ApplicationContent::parse(ApplicationInput::default()).is_ok());
    }

    #[test]
    fn bad_lines_are_named_by_index() {
        let mut i = input();
        i.lines.push(line(product(), 0));
        i.lines.push(line("products/nope".into(), -5));
        assert_eq!(
            fields(ApplicationContent::parse(i)),
            ["lines[1].quantity", "lines[2].product", "lines[2].quantity"]
        );
    }

    #[test]
    fn too_many_lines_are_refused() {
        let mut i = input();
        i.lines = (0..=MAX_LINES).map(|_| line(product(), 1)).collect();
        assert_eq!(fields(ApplicationContent::parse(i)), ["lines"]);
    }

    #[test]
    fn the_same_product_twice_is_refused() {
        let mut i = input();
        let p = product();
        i.lines = vec![line(p.clone(), 1), line(p, 2)];
        assert_eq!(fields(ApplicationContent::parse(i)), ["lines[1].product"]);
    }

    #[test]
    fn an_unknown_country_and_a_second_end_user_are_refused() {
        let mut i = input();
        i.destination_country_code = "XX".into();
        let mut second = i.parties[0].clone();
        second.country_code = "ZZ".into();
        i.parties.push(second);
        assert_eq!(
            fields(ApplicationContent::parse(i)),
            [
                "destination_country_code",
                "parties[1].role",
                "parties[1].country_code"
            ]
        );
    }

    #[test]
    fn bad_documents_are_refused() {
        let mut i = input();
        i.documents[0].sha256 = "abc".into();
        i.documents[0].media_type = "pdf".into();
        i.documents[0].size_bytes = 0;
        assert_eq!(
            fields(ApplicationContent::parse(i)),
            [
                "documents[0].media_type",
                "documents[0].sha256",
                "documents[0].size_bytes"
            ]
        );
    }

    #[test]
    fn only_drafts_are_editable() {
        let content = ApplicationContent::parse(input()).unwrap();
        let mut app = Application {
            id: Uuid::now_v7(),
            reference: application_reference(2025, 1),
            organisation: OrganisationId::parse("acme").unwrap(),
            content,
            state: ApplicationState::Draft,
            version: 1,
            create_time: Utc::now(),
            update_time: Utc::now(),
            submit_time: None,
            amendment: None,
        };
        assert!(app.ensure_editable().is_ok());
        app.state = ApplicationState::Submitted;
        assert!(matches!(
            app.ensure_editable(),
            Err(DomainError::FailedPrecondition { .. })
        ));
    }

    #[test]
    fn references_are_zero_padded() {
        assert_eq!(application_reference(2025, 123), "CL-2025-000123");
    }

    #[test]
    fn unknown_products_are_named_by_line() {
        let c = ApplicationContent::parse(input()).unwrap();
        let err = c.check_products_known(&HashSet::new()).unwrap_err();
        assert_eq!(err.into_vec()[0].field, "lines[0].product");
    }
}

/// What `ListApplications` may filter on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationFilter {
    pub state: Option<ApplicationState>,
    pub destination: Option<CountryCode>,
    /// The human reference, e.g. `CL-2026-000002`.
    pub reference: Option<String>,
}

/// The prefix of application references (`CL-2026-000002`).
pub const REFERENCE_PREFIX: &str = clearance_contract::references::APPLICATION_PREFIX;

impl ApplicationFilter {
    pub const FIELDS: [&'static str; 3] = ["state", "destination_country_code", "reference"];

    pub fn parse(raw: &str) -> Result<Self, Violations> {
        let mut filter = ApplicationFilter::default();
        for c in crate::filter::parse_filter(raw, &Self::FIELDS)? {
            if c.field == "state" {
                let name = c
                    .value
                    .strip_prefix("APPLICATION_STATE_")
                    .unwrap_or(&c.value);
                filter.state = Some(ApplicationState::parse(name).ok_or_else(|| {
                    Violations::single(
                        "filter",
                        format!("'{}' is not an application state", c.value),
                    )
                })?);
            } else if c.field == "reference" {
                filter.reference = Some(crate::ids::parse_reference(
                    "filter",
                    REFERENCE_PREFIX,
                    &c.value,
                )?);
            } else {
                let country = CountryCode::parse("filter", &c.value)?;
                filter.destination = Some(country);
            }
        }
        Ok(filter)
    }
}

#[cfg(test)]
mod filter_tests {
    use super::*;

    #[test]
    fn states_are_accepted_with_or_without_the_enum_prefix() {
        let a = ApplicationFilter::parse("state = APPLICATION_STATE_DRAFT").unwrap();
        let b = ApplicationFilter::parse("state = DRAFT").unwrap();
        assert_eq!(a, b);
        assert!(ApplicationFilter::parse("state = SHIPPED").is_err());
    }
}
