//! The built-in catalogue: country groups and rule-set versions shipped as data files in
//! `policies/`, compiled into the binary so a fresh install needs nothing else.

use super::groups::CountryGroups;
use super::rules::{CompiledRuleSet, RuleSetDefinition};

const COUNTRY_GROUPS: &str = include_str!("../../../../policies/country-groups.toml");

/// The rule-set versions, oldest first.
const RULE_SETS: [(&str, &str); 4] = [
    (
        "us-advanced-computing-v1-2023-10.toml",
        include_str!("../../../../policies/us-advanced-computing-v1-2023-10.toml"),
    ),
    (
        "us-advanced-computing-v2-2025-04.toml",
        include_str!("../../../../policies/us-advanced-computing-v2-2025-04.toml"),
    ),
    (
        "us-advanced-computing-v3-2025-07.toml",
        include_str!("../../../../policies/us-advanced-computing-v3-2025-07.toml"),
    ),
    (
        "us-advanced-computing-v4-2026-01.toml",
        include_str!("../../../../policies/us-advanced-computing-v4-2026-01.toml"),
    ),
];

/// The built-in country groups.
pub fn country_groups() -> Result<CountryGroups, String> {
    CountryGroups::parse_toml(COUNTRY_GROUPS)
        .map_err(|e| format!("policies/country-groups.toml: {e}"))
}

/// The built-in rule-set versions, validated against the built-in groups.
pub fn rule_sets(groups: &CountryGroups) -> Result<Vec<CompiledRuleSet>, String> {
    RULE_SETS
        .iter()
        .map(|(file, text)| {
            let definition =
                RuleSetDefinition::parse_toml(text).map_err(|e| format!("policies/{file}: {e}"))?;
            definition
                .compile(groups)
                .map_err(|v| format!("policies/{file}: {v}"))
        })
        .collect()
}
