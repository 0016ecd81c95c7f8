//! Conditions a rule's review policy rests on, as data versioned with the rule. The January
//! 2026 rule (91 FR 1684) reviews H200-class chips to China and Macau case by case only for
//! chips commercially available in the United States when it was published, only when the
//! exporter certifies a list of statements (one with a figure: units shipped to US
//! customers), and only under conditions every shipment must meet (a third-party test in the
//! United States) and an aggregate cap (China and Macau units at most half the US units).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::rules::ReviewPolicy;
use crate::validation::{Violations, required_text};

/// The most certifications a rule may ask for, or an application may carry.
pub const MAX_CERTIFICATIONS: usize = 20;
/// The largest supporting figure accepted (units shipped in a year are far fewer).
pub const MAX_FIGURE: i64 = 1_000_000_000_000;

/// A statement the exporter must certify to qualify for the rule's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificationDefinition {
    /// Stable key an application names, e.g. `us-supply-sufficient`.
    pub key: String,
    /// What the exporter certifies, in words.
    pub statement: String,
    /// What the supporting figure counts (e.g. "units shipped to US customers for US end
    /// use"); empty when the statement needs no figure.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub figure: String,
}

/// What every shipment under a licence issued under the rule must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipmentCondition {
    /// A report by an independent third-party testing laboratory in the United States that
    /// verified the items' performance before export: its reference, laboratory and date.
    ThirdPartyTestReport,
}

impl ShipmentCondition {
    pub const ALL: [ShipmentCondition; 1] = [Self::ThirdPartyTestReport];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThirdPartyTestReport => "THIRD_PARTY_TEST_REPORT",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// The condition in words.
    pub fn in_words(self) -> &'static str {
        match self {
            Self::ThirdPartyTestReport => {
                "a report of an independent third-party testing laboratory in the United States verifying the items' performance before export"
            }
        }
    }
}

/// Units a holder ships under its licences carrying the cap, per product, may be at most
/// `percent_of_us_units` % of the units it has reported shipping to US customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateCapDefinition {
    pub percent_of_us_units: i64,
}

/// A rule's conditions. Empty: the rule's policy applies unconditionally.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConditions {
    /// The product must have been commercially available in the United States on this date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commercially_available_in_us_by: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certifications: Vec<CertificationDefinition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shipment_conditions: Vec<ShipmentCondition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate_cap: Option<AggregateCapDefinition>,
    /// The policy when a product fact or certification is not met.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<ReviewPolicy>,
}

impl RuleConditions {
    pub fn is_empty(&self) -> bool {
        *self == RuleConditions::default()
    }

    /// Whether the policy depends on facts or certifications (so `otherwise` is needed).
    fn qualifies(&self) -> bool {
        self.commercially_available_in_us_by.is_some() || !self.certifications.is_empty()
    }

    /// Checks the conditions of a rule that does (`licence_required`) or does not require a
    /// licence; violations are named under `field`.
    pub fn check(&self, v: &mut Violations, field: &str, licence_required: bool) {
        if self.is_empty() {
            return;
        }
        if !licence_required {
            v.add(field, "apply only to rules that require a licence");
            return;
        }
        match (self.qualifies(), self.otherwise) {
            (true, None) => v.add(
                format!("{field}.otherwise"),
                "is required when a product fact or certification is a condition: the policy when it is not met",
            ),
            (false, Some(_)) => v.add(
                format!("{field}.otherwise"),
                "applies only when a product fact or certification is a condition",
            ),
            _ => {}
        }
        if self.certifications.len() > MAX_CERTIFICATIONS {
            v.add(
                format!("{field}.certifications"),
                format!("must have at most {MAX_CERTIFICATIONS} entries"),
            );
        }
        let mut keys = std::collections::HashSet::new();
        for (i, c) in self.certifications.iter().enumerate() {
            let at = format!("{field}.certifications[{i}]");
            if !is_certification_key(&c.key) {
                v.add(
                    format!("{at}.key"),
                    "must be 1 to 64 lower-case letters, digits or '-'",
                );
            } else if !keys.insert(c.key.as_str()) {
                v.add(format!("{at}.key"), format!("'{}' appears twice", c.key));
            }
            required_text(v, &format!("{at}.statement"), &c.statement, 1000);
            crate::validation::optional_text(v, &format!("{at}.figure"), &c.figure, 200);
        }
        if let Some(cap) = self.aggregate_cap
            && !(1..=100).contains(&cap.percent_of_us_units)
        {
            v.add(
                format!("{field}.aggregate_cap.percent_of_us_units"),
                "must be between 1 and 100",
            );
        }
    }
}

/// Certification keys: what a rule defines and an application names.
pub fn is_certification_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A statement an application certifies, with its supporting figure when the rule asks one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certification {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figure: Option<i64>,
}

/// Raw certification as a client sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificationInput {
    pub key: String,
    pub figure: Option<i64>,
}

/// Validates the certifications an application or a determination request carries.
pub fn parse_certifications(
    field: &str,
    input: Vec<CertificationInput>,
) -> Result<Vec<Certification>, Violations> {
    let mut v = Violations::new();
    if input.len() > MAX_CERTIFICATIONS {
        v.add(
            field,
            format!("must have at most {MAX_CERTIFICATIONS} entries"),
        );
    }
    let mut out: Vec<Certification> = Vec::new();
    for (i, c) in input.into_iter().enumerate().take(MAX_CERTIFICATIONS) {
        let key = c.key.trim().to_owned();
        if !is_certification_key(&key) {
            v.add(
                format!("{field}[{i}].key"),
                format!(
                    "'{}' is not a certification key (lower-case letters, digits and '-')",
                    crate::validation::quote(&key)
                ),
            );
            continue;
        }
        if out.iter().any(|o| o.key == key) {
            v.add(
                format!("{field}[{i}].key"),
                format!("'{key}' appears twice"),
            );
        }
        if let Some(figure) = c.figure {
            crate::validation::integer_in_range(
                &mut v,
                &format!("{field}[{i}].figure"),
                figure,
                0,
                MAX_FIGURE,
            );
        }
        out.push(Certification {
            key,
            figure: c.figure,
        });
    }
    v.finish(|| out)
}

/// Whether a condition of a fired rule holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionStatus {
    Met,
    NotMet,
    /// A certification the request did not state either way (a what-if determination): it is
    /// asked for at submission.
    ToCertify,
    /// What a licence under the rule will require of every shipment.
    OnLicence,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Met => "MET",
            Self::NotMet => "NOT_MET",
            Self::ToCertify => "TO_CERTIFY",
            Self::OnLicence => "ON_LICENCE",
        }
    }
}

/// One condition of a fired rule, judged, in words that cite the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionCheck {
    /// `commercially_available_in_us`, `certification:<key>`, `shipment:<CONDITION>` or
    /// `aggregate_cap`.
    pub condition: String,
    pub status: ConditionStatus,
    pub explanation: String,
}

/// What a licence under a fired rule carries: conditions on every shipment and the cap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceTerms {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shipment_conditions: Vec<ShipmentCondition>,
    /// Per product: units to China and Macau at most this % of the holder's US units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_cap_percent: Option<i64>,
    /// The rule the terms come from, e.g. "91 FR 1684; ECCN 3A090.a".
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub citation: String,
}

impl LicenceTerms {
    pub fn is_empty(&self) -> bool {
        self.shipment_conditions.is_empty() && self.aggregate_cap_percent.is_none()
    }

    /// The union of two sets of terms (a licence under several rules carries them all; the
    /// lower cap governs).
    pub fn merge(mut self, other: &LicenceTerms) -> LicenceTerms {
        for c in &other.shipment_conditions {
            if !self.shipment_conditions.contains(c) {
                self.shipment_conditions.push(*c);
            }
        }
        self.aggregate_cap_percent = match (self.aggregate_cap_percent, other.aggregate_cap_percent)
        {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.citation.is_empty() {
            self.citation = other.citation.clone();
        } else if !other.citation.is_empty() && !self.citation.contains(&other.citation) {
            self.citation = format!("{}; {}", self.citation, other.citation);
        }
        self
    }
}

/// The outcome of judging a rule's conditions for one export.
pub struct Judged {
    pub checks: Vec<ConditionCheck>,
    /// The policy that governs: the rule's when every fact and certification holds (or is
    /// still to be certified), `otherwise` when one does not.
    pub policy: Option<ReviewPolicy>,
    /// What a licence under the rule carries (empty when the policy fell to `otherwise`).
    pub terms: LicenceTerms,
}

/// Judges `conditions` of a rule (with `policy` and `citation`) for a product commercially
/// available in the US since `us_available_since`, with the `certifications` a request
/// states (`None`: a what-if that states none either way).
pub fn judge(
    conditions: &RuleConditions,
    policy: Option<ReviewPolicy>,
    citation: &str,
    us_available_since: Option<NaiveDate>,
    certifications: Option<&[Certification]>,
) -> Judged {
    let mut checks = Vec::new();
    let mut unmet = false;
    let words = |p: Option<ReviewPolicy>| p.map_or("no licence policy", |p| p.in_words());
    let fallback = format!(
        "{} instead of {}",
        words(conditions.otherwise),
        words(policy)
    );
    if let Some(by) = conditions.commercially_available_in_us_by {
        let (status, explanation) = match us_available_since {
            Some(since) if since <= by => (
                ConditionStatus::Met,
                format!(
                    "commercially available in the United States since {since}, on or before {by} ({citation})"
                ),
            ),
            known => {
                unmet = true;
                let fact = known.map_or_else(
                    || "the product records no date of US commercial availability".to_owned(),
                    |since| {
                        format!("commercially available in the United States only since {since}")
                    },
                );
                (
                    ConditionStatus::NotMet,
                    format!(
                        "{fact}: {fallback}; the policy applies only to items commercially available in the United States on {by} ({citation})"
                    ),
                )
            }
        };
        checks.push(ConditionCheck {
            condition: "commercially_available_in_us".into(),
            status,
            explanation,
        });
    }
    for def in &conditions.certifications {
        let given = certifications.map(|all| all.iter().find(|c| c.key == def.key));
        let needs_figure = !def.figure.is_empty();
        let (status, explanation) = match given {
            None => (
                ConditionStatus::ToCertify,
                format!(
                    "to be certified with the application: {}{} ({citation})",
                    def.statement,
                    if needs_figure {
                        format!(", stating {}", def.figure)
                    } else {
                        String::new()
                    }
                ),
            ),
            Some(Some(c)) if !needs_figure || c.figure.is_some() => (
                ConditionStatus::Met,
                match c.figure {
                    Some(n) if needs_figure => {
                        format!(
                            "certified: {} ({}: {n}) ({citation})",
                            def.statement, def.figure
                        )
                    }
                    _ => format!("certified: {} ({citation})", def.statement),
                },
            ),
            Some(found) => {
                unmet = true;
                let what = if found.is_some() {
                    format!(
                        "certification '{}' lacks its figure ({})",
                        def.key, def.figure
                    )
                } else {
                    format!("missing certification '{}'", def.key)
                };
                (
                    ConditionStatus::NotMet,
                    format!(
                        "{what}: the exporter must certify that {} ({citation}); without it, {fallback}",
                        lower_first(&def.statement)
                    ),
                )
            }
        };
        checks.push(ConditionCheck {
            condition: format!("certification:{}", def.key),
            status,
            explanation,
        });
    }
    if unmet {
        return Judged {
            checks,
            policy: conditions.otherwise,
            terms: LicenceTerms::default(),
        };
    }
    for c in &conditions.shipment_conditions {
        checks.push(ConditionCheck {
            condition: format!("shipment:{}", c.as_str()),
            status: ConditionStatus::OnLicence,
            explanation: format!(
                "every shipment under the licence must carry {} ({citation})",
                c.in_words()
            ),
        });
    }
    if let Some(cap) = conditions.aggregate_cap {
        checks.push(ConditionCheck {
            condition: "aggregate_cap".into(),
            status: ConditionStatus::OnLicence,
            explanation: format!(
                "units shipped under the holder's licences carrying this cap may not exceed {}% of the units it has reported shipping to US customers, per product ({citation})",
                cap.percent_of_us_units
            ),
        });
    }
    Judged {
        checks,
        policy,
        terms: LicenceTerms {
            shipment_conditions: conditions.shipment_conditions.clone(),
            aggregate_cap_percent: conditions.aggregate_cap.map(|c| c.percent_of_us_units),
            citation: if conditions.shipment_conditions.is_empty()
                && conditions.aggregate_cap.is_none()
            {
                String::new()
            } else {
                citation.to_owned()
            },
        },
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The certification violations of a submission: every certification a fired rule asks for
/// that the application does not carry (or carries without its figure), named by its key.
pub fn missing_certifications(checks: &[ConditionCheck]) -> Violations {
    let mut v = Violations::new();
    for check in checks {
        if let (ConditionStatus::NotMet, Some(key)) =
            (check.status, check.condition.strip_prefix("certification:"))
        {
            v.add(format!("certifications[{key}]"), check.explanation.clone());
        }
    }
    v
}
