//! Rule sets: their definition as data, validation, and versions with effective windows.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::conditions::RuleConditions;
use super::criterion::{Criterion, Item};
use super::groups::CountryGroups;
use crate::codes::CountryCode;
use crate::validation::{Violations, required_text};

/// How licence applications a rule catches are reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewPolicy {
    PresumptionOfDenial,
    CaseByCase,
    PresumptionOfApproval,
}

impl ReviewPolicy {
    /// The policy in words, e.g. "presumption of denial".
    pub fn in_words(self) -> &'static str {
        match self {
            Self::PresumptionOfDenial => "presumption of denial",
            Self::CaseByCase => "case by case",
            Self::PresumptionOfApproval => "presumption of approval",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PresumptionOfDenial => "PRESUMPTION_OF_DENIAL",
            Self::CaseByCase => "CASE_BY_CASE",
            Self::PresumptionOfApproval => "PRESUMPTION_OF_APPROVAL",
        }
    }

    /// When several rules fire, the strictest policy governs the review.
    pub fn strictest(a: Option<ReviewPolicy>, b: Option<ReviewPolicy>) -> Option<ReviewPolicy> {
        fn rank(p: ReviewPolicy) -> u8 {
            match p {
                ReviewPolicy::PresumptionOfDenial => 3,
                ReviewPolicy::CaseByCase => 2,
                ReviewPolicy::PresumptionOfApproval => 1,
            }
        }
        match (a, b) {
            (Some(x), Some(y)) => Some(if rank(x) >= rank(y) { x } else { y }),
            (x, None) => x,
            (None, y) => y,
        }
    }
}

/// What kind of transaction moves the item (15 CFR 734.13 to 734.16): from the United States,
/// from one foreign country to another, out of a foreign country by a party abroad, or within
/// one foreign country. A rule may apply to some kinds only: the January 2026 case-by-case
/// review applies to exports from the United States alone (91 FR 1684).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransactionKind {
    /// From the United States (the default: what Clearance's exporters file).
    #[default]
    Export,
    Reexport,
    ExportFromAbroad,
    InCountryTransfer,
}

impl TransactionKind {
    pub const ALL: [TransactionKind; 4] = [
        Self::Export,
        Self::Reexport,
        Self::ExportFromAbroad,
        Self::InCountryTransfer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "EXPORT",
            Self::Reexport => "REEXPORT",
            Self::ExportFromAbroad => "EXPORT_FROM_ABROAD",
            Self::InCountryTransfer => "IN_COUNTRY_TRANSFER",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// A kind as a request gives it: empty is an export from the United States (what clients
    /// that predate the field mean); anything but a known kind is a violation of `field`.
    pub fn parse_input(field: &str, raw: &str) -> Result<Self, Violations> {
        match raw.trim() {
            "" => Ok(Self::Export),
            raw => Self::parse(raw).ok_or_else(|| {
                Violations::single(
                    field,
                    "must be EXPORT, REEXPORT, EXPORT_FROM_ABROAD or IN_COUNTRY_TRANSFER",
                )
            }),
        }
    }

    /// The kind in words, e.g. "reexport".
    pub fn in_words(self) -> &'static str {
        match self {
            Self::Export => "export from the United States",
            Self::Reexport => "reexport",
            Self::ExportFromAbroad => "export from abroad",
            Self::InCountryTransfer => "in-country transfer",
        }
    }
}

/// Where a rule applies: destinations by country or group (minus exclusions), or end users
/// headquartered in given countries or groups wherever the goods go.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DestinationsDefinition {
    pub countries: Vec<String>,
    pub country_groups: Vec<String>,
    pub excluded_countries: Vec<String>,
    pub excluded_country_groups: Vec<String>,
    pub end_user_headquarters_countries: Vec<String>,
    pub end_user_headquarters_country_groups: Vec<String>,
}

/// One rule, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDefinition {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub citation: String,
    /// ECCN prefixes the rule is limited to (e.g. `3A090`); empty: any classification.
    #[serde(default)]
    pub classifications: Vec<String>,
    /// See [`Criterion`] for the syntax.
    pub criterion: String,
    pub destinations: DestinationsDefinition,
    /// The transaction kinds the rule applies to; empty: every kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transaction_kinds: Vec<TransactionKind>,
    pub licence_required: bool,
    #[serde(default)]
    pub review_policy: Option<ReviewPolicy>,
    /// What the review policy rests on: product facts, certifications, and what a licence
    /// under the rule requires of shipments (see [`RuleConditions`]).
    #[serde(default, skip_serializing_if = "RuleConditions::is_empty")]
    pub conditions: RuleConditions,
}

/// A version of a rule set, as data (a built-in catalogue file, or a publish request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetDefinition {
    /// Stable key shared by every version, e.g. `us-advanced-computing`.
    pub key: String,
    /// Only built-in catalogue files state their version; publishing assigns the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    pub display_name: String,
    pub citation: String,
    pub effective_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub illustrative: bool,
    #[serde(default)]
    pub source: String,
    pub rules: Vec<RuleDefinition>,
}

pub const MAX_RULES: usize = 200;
const MAX_TEXT: usize = 2000;
/// The most entries a rule's classification or country list may have (there are fewer than
/// 300 countries).
pub const MAX_LIST_ENTRIES: usize = 300;

/// A rule ready to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRule {
    pub definition: RuleDefinition,
    pub criterion: Criterion,
}

/// A validated rule-set version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRuleSet {
    pub definition: RuleSetDefinition,
    pub rules: Vec<CompiledRule>,
}

fn is_key(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == '_'
        })
}

fn check_countries(v: &mut Violations, field: &str, codes: &[String]) {
    for (i, code) in codes.iter().enumerate() {
        if CountryCode::parse("", code).is_err()
            || code.len() != 2
            || code.to_ascii_uppercase() != *code
        {
            v.add(
                format!("{field}[{i}]"),
                format!("'{code}' is not an upper-case ISO 3166-1 alpha-2 code"),
            );
        }
    }
}

fn check_groups(v: &mut Violations, field: &str, names: &[String], groups: &CountryGroups) {
    for (i, name) in names.iter().enumerate() {
        if !groups.contains_group(name) {
            v.add(
                format!("{field}[{i}]"),
                format!(
                    "unknown country group '{name}' (known: {})",
                    groups.names().join(", ")
                ),
            );
        }
    }
}

impl RuleSetDefinition {
    /// Parses a catalogue file.
    pub fn parse_toml(text: &str) -> Result<RuleSetDefinition, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Validates every rule; violations are named relative to the rule set
    /// (`rules[2].destinations.country_groups[0]`).
    pub fn compile(&self, groups: &CountryGroups) -> Result<CompiledRuleSet, Violations> {
        let mut v = Violations::new();
        if !is_key(&self.key) {
            v.add(
                "key",
                "must be 1 to 64 lower-case letters, digits, '-', '_' or '.'",
            );
        }
        required_text(&mut v, "display_name", &self.display_name, 200);
        required_text(&mut v, "citation", &self.citation, MAX_TEXT);
        crate::validation::optional_text(&mut v, "source", &self.source, MAX_TEXT);
        if let Some(expire) = self.expire_time
            && expire <= self.effective_time
        {
            v.add("expire_time", "must be after effective_time");
        }
        if self.rules.is_empty() {
            v.add("rules", "must contain at least one rule");
        }
        if self.rules.len() > MAX_RULES {
            v.add("rules", format!("must contain at most {MAX_RULES} rules"));
        }
        let mut ids = HashSet::new();
        let mut rules = Vec::new();
        for (i, rule) in self.rules.iter().enumerate().take(MAX_RULES) {
            let field = format!("rules[{i}]");
            if !is_key(&rule.id.to_ascii_lowercase()) || rule.id.len() > 64 {
                v.add(
                    format!("{field}.id"),
                    "must be 1 to 64 letters, digits, '-', '_' or '.'",
                );
            } else if !ids.insert(rule.id.clone()) {
                v.add(
                    format!("{field}.id"),
                    format!("'{}' appears twice in this rule set", rule.id),
                );
            }
            required_text(
                &mut v,
                &format!("{field}.citation"),
                &rule.citation,
                MAX_TEXT,
            );
            crate::validation::optional_text(
                &mut v,
                &format!("{field}.description"),
                &rule.description,
                MAX_TEXT,
            );
            let d = &rule.destinations;
            for (name, list) in [
                ("classifications", &rule.classifications),
                ("destinations.country_codes", &d.countries),
                ("destinations.country_groups", &d.country_groups),
                ("destinations.excluded_country_codes", &d.excluded_countries),
                (
                    "destinations.excluded_country_groups",
                    &d.excluded_country_groups,
                ),
                (
                    "destinations.end_user_headquarters_country_codes",
                    &d.end_user_headquarters_countries,
                ),
                (
                    "destinations.end_user_headquarters_country_groups",
                    &d.end_user_headquarters_country_groups,
                ),
            ] {
                if list.len() > MAX_LIST_ENTRIES {
                    v.add(
                        format!("{field}.{name}"),
                        format!("must have at most {MAX_LIST_ENTRIES} entries"),
                    );
                }
            }
            for (j, c) in rule.classifications.iter().enumerate() {
                if c.is_empty()
                    || c.len() > 16
                    || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '.')
                {
                    v.add(
                        format!("{field}.classifications[{j}]"),
                        "must be an ECCN or ECCN prefix such as 3A090",
                    );
                }
            }
            let d = &rule.destinations;
            let dest = format!("{field}.destinations");
            check_countries(&mut v, &format!("{dest}.country_codes"), &d.countries);
            check_countries(
                &mut v,
                &format!("{dest}.excluded_country_codes"),
                &d.excluded_countries,
            );
            check_countries(
                &mut v,
                &format!("{dest}.end_user_headquarters_country_codes"),
                &d.end_user_headquarters_countries,
            );
            check_groups(
                &mut v,
                &format!("{dest}.country_groups"),
                &d.country_groups,
                groups,
            );
            check_groups(
                &mut v,
                &format!("{dest}.excluded_country_groups"),
                &d.excluded_country_groups,
                groups,
            );
            check_groups(
                &mut v,
                &format!("{dest}.end_user_headquarters_country_groups"),
                &d.end_user_headquarters_country_groups,
                groups,
            );
            if d.countries.is_empty()
                && d.country_groups.is_empty()
                && d.end_user_headquarters_countries.is_empty()
                && d.end_user_headquarters_country_groups.is_empty()
            {
                v.add(
                    dest.clone(),
                    "must name at least one country, group or end-user headquarters",
                );
            }
            match (rule.licence_required, rule.review_policy) {
                (true, None) => v.add(
                    format!("{field}.review_policy"),
                    "is required when a licence is required",
                ),
                (false, Some(_)) => v.add(
                    format!("{field}.review_policy"),
                    "applies only to rules that require a licence",
                ),
                _ => {}
            }
            rule.conditions.check(
                &mut v,
                &format!("{field}.conditions"),
                rule.licence_required,
            );
            match Criterion::parse(&rule.criterion) {
                Ok(criterion) => rules.push(CompiledRule {
                    definition: rule.clone(),
                    criterion,
                }),
                Err(e) => v.add(
                    format!("{field}.criterion"),
                    format!("malformed criterion: {e}"),
                ),
            }
        }
        v.finish(|| CompiledRuleSet {
            definition: self.clone(),
            rules,
        })
    }
}

impl CompiledRule {
    /// Whether the rule catches an item going to `destination` for an end user headquartered
    /// in `headquarters`, moved by a transaction of `kind`.
    pub fn applies(
        &self,
        item: &Item,
        classification: &str,
        destination: &CountryCode,
        headquarters: Option<&CountryCode>,
        kind: TransactionKind,
        groups: &CountryGroups,
    ) -> bool {
        let kinds = &self.definition.transaction_kinds;
        if !kinds.is_empty() && !kinds.contains(&kind) {
            return false;
        }
        let d = &self.definition.destinations;
        let listed = |countries: &[String], group_names: &[String], c: &CountryCode| {
            countries.iter().any(|x| x == c.as_str())
                || group_names.iter().any(|g| groups.is_member(g, c))
        };
        let destination_hit = listed(&d.countries, &d.country_groups, destination)
            && !listed(
                &d.excluded_countries,
                &d.excluded_country_groups,
                destination,
            );
        let headquarters_hit = headquarters.is_some_and(|hq| {
            listed(
                &d.end_user_headquarters_countries,
                &d.end_user_headquarters_country_groups,
                hq,
            )
        });
        let classification_hit = self.definition.classifications.is_empty()
            || self
                .definition
                .classifications
                .iter()
                .any(|prefix| classification.starts_with(prefix.as_str()));
        (destination_hit || headquarters_hit) && classification_hit && self.criterion.holds(item)
    }
}

/// A published, immutable rule-set version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedRuleSet {
    pub id: Uuid,
    pub version: i64,
    pub publish_time: DateTime<Utc>,
    pub published_by: String,
    pub rule_set: CompiledRuleSet,
}

impl PublishedRuleSet {
    pub fn key(&self) -> &str {
        &self.rule_set.definition.key
    }

    pub fn effective_time(&self) -> DateTime<Utc> {
        self.rule_set.definition.effective_time
    }
}

/// The versions in force at `at`: per key, the latest version that took effect by then and has
/// not expired. A later version ends the window of the one before it.
pub fn in_force(versions: &[PublishedRuleSet], at: DateTime<Utc>) -> Vec<&PublishedRuleSet> {
    let mut chosen: Vec<&PublishedRuleSet> = Vec::new();
    for candidate in versions.iter().filter(|v| v.effective_time() <= at) {
        match chosen.iter_mut().find(|c| c.key() == candidate.key()) {
            Some(current) if candidate.effective_time() > current.effective_time() => {
                *current = candidate
            }
            Some(_) => {}
            None => chosen.push(candidate),
        }
    }
    chosen.retain(|v| {
        v.rule_set
            .definition
            .expire_time
            .is_none_or(|expire| at < expire)
    });
    chosen.sort_by(|a, b| a.key().cmp(b.key()));
    chosen
}

/// The next version number of `key`, refusing a window that overlaps a published version:
/// a new version must start after every published version of its key, and not before an
/// explicit end of one.
pub fn next_version(
    published: &[PublishedRuleSet],
    draft: &RuleSetDefinition,
) -> Result<i64, Violations> {
    let mut v = Violations::new();
    let mut latest = 0;
    for existing in published.iter().filter(|p| p.key() == draft.key) {
        latest = latest.max(existing.version);
        let starts_too_early = draft.effective_time <= existing.effective_time();
        let inside_explicit_window = existing
            .rule_set
            .definition
            .expire_time
            .is_some_and(|expire| draft.effective_time < expire);
        if starts_too_early || inside_explicit_window {
            v.add(
                "effective_time",
                format!(
                    "overlaps published version {} of '{}' (effective from {}); a new version must take effect after it",
                    existing.version,
                    draft.key,
                    existing.effective_time().format("%Y-%m-%d %H:%M:%SZ")
                ),
            );
        }
    }
    v.finish(|| latest + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::catalogue;

    fn fields(r: Result<CompiledRuleSet, Violations>) -> Vec<String> {
        r.unwrap_err()
            .into_vec()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn the_built_in_catalogue_is_valid() {
        let groups = catalogue::country_groups().unwrap();
        let sets = catalogue::rule_sets(&groups).unwrap();
        assert_eq!(sets.len(), 4);
        assert!(sets.iter().all(|s| s.definition.illustrative));
    }

    #[test]
    fn bad_rules_are_named_field_by_field() {
        let groups = catalogue::country_groups().unwrap();
        let mut def = catalogue::rule_sets(&groups).unwrap()[0].definition.clone();
        def.rules[0].criterion = "clock_ghz >= 2".into();
        def.rules[1].criterion = "tpp >=".into();
        def.rules[2].destinations.country_groups = vec!["D:9".into()];
        def.rules[3].destinations.countries = vec!["XX".into()];
        assert_eq!(
            fields(def.compile(&groups)),
            [
                "rules[0].criterion",
                "rules[1].criterion",
                "rules[2].destinations.country_groups[0]",
                "rules[3].destinations.country_codes[0]",
            ]
        );
    }

    #[test]
    fn oversized_texts_and_lists_are_refused() {
        let groups = catalogue::country_groups().unwrap();
        let mut def = catalogue::rule_sets(&groups).unwrap()[0].definition.clone();
        def.source = "s".repeat(3_000);
        def.rules[0].description = "d".repeat(3_000);
        def.rules[0].destinations.countries = vec!["CN".into(); MAX_LIST_ENTRIES + 1];
        assert_eq!(
            fields(def.compile(&groups)),
            [
                "source",
                "rules[0].description",
                "rules[0].destinations.country_codes"
            ]
        );
    }
}
