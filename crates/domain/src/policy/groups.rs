//! Country groups (D:1, D:4, D:5, A:5, A:6, ...) as data.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::codes::CountryCode;

/// Named sets of countries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CountryGroups {
    groups: BTreeMap<String, BTreeSet<String>>,
    pub source: String,
}

#[derive(Deserialize)]
struct GroupsFile {
    #[serde(default)]
    source: String,
    groups: BTreeMap<String, Vec<String>>,
}

impl CountryGroups {
    /// Parses a groups file (see `policies/country-groups.toml`); every member must be an
    /// ISO 3166-1 alpha-2 code.
    pub fn parse_toml(text: &str) -> Result<CountryGroups, String> {
        let file: GroupsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut groups = BTreeMap::new();
        for (name, members) in file.groups {
            let mut set = BTreeSet::new();
            for code in members {
                let country = CountryCode::parse("country", &code)
                    .map_err(|_| format!("group {name}: '{code}' is not a country code"))?;
                set.insert(country.as_str().to_owned());
            }
            groups.insert(name, set);
        }
        Ok(CountryGroups {
            groups,
            source: file.source,
        })
    }

    pub fn contains_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// Whether `country` is a member of `group` (false for an unknown group).
    pub fn is_member(&self, group: &str, country: &CountryCode) -> bool {
        self.groups
            .get(group)
            .is_some_and(|members| members.contains(country.as_str()))
    }

    pub fn names(&self) -> Vec<&str> {
        self.groups.keys().map(String::as_str).collect()
    }
}
