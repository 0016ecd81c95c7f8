//! Identifiers and resource names (`products/{uuid}`), and organisation keys.

use std::fmt;

use uuid::Uuid;

use crate::validation::Violations;

/// A resource collection and the prefix of its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Products,
    Applications,
    Licences,
    Shipments,
    RuleSets,
    Referrals,
    ScreeningLists,
}

impl Collection {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Applications => "applications",
            Self::Licences => "licences",
            Self::Shipments => "shipments",
            Self::RuleSets => "ruleSets",
            Self::Referrals => "referrals",
            Self::ScreeningLists => "screeningLists",
        }
    }

    /// The resource name of `id` in this collection.
    pub fn name_of(self, id: Uuid) -> String {
        format!("{}/{}", self.prefix(), id)
    }

    /// Parses `"{prefix}/{uuid}"`; the uuid must be a UUIDv7 as every id Clearance issues.
    pub fn parse_name(self, field: &str, name: &str) -> Result<Uuid, Violations> {
        let fail = || {
            Violations::single(
                field,
                format!("must be a resource name like '{}/{{id}}'", self.prefix()),
            )
        };
        if name.trim().is_empty() {
            return Err(Violations::single(field, "is required"));
        }
        let rest = name
            .strip_prefix(self.prefix())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(fail)?;
        let id = Uuid::try_parse(rest).map_err(|_| fail())?;
        if id.get_version_num() != 7 {
            return Err(fail());
        }
        Ok(id)
    }
}

/// An exporter organisation, keyed by the `org` claim of its tokens (e.g. `acme`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganisationId(String);

impl OrganisationId {
    /// 1..=64 characters of lower-case letters, digits, `-`, `_` and `.`.
    pub fn parse(raw: &str) -> Result<Self, Violations> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Violations::single(
                "org",
                "must be 1 to 64 lower-case letters, digits, '-', '_' or '.'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The organisation's resource name, `organisations/{org}`.
    pub fn resource_name(&self) -> String {
        format!("organisations/{}", self.0)
    }
}

impl fmt::Display for OrganisationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A human reference such as `CL-2026-000002` (applications) or `CLL-2026-000001` (licences):
/// `prefix`, a year and six digits; any case is accepted and the canonical (upper) form
/// returned.
pub fn parse_reference(field: &str, prefix: &str, raw: &str) -> Result<String, Violations> {
    clearance_contract::references::canonical_reference(prefix, raw).ok_or_else(|| {
        Violations::single(
            field,
            format!(
                "'{}' is not a reference like {prefix}-2026-000001",
                crate::validation::quote(raw)
            ),
        )
    })
}

pub use clearance_contract::references::is_reference;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_in_any_case_and_only_with_their_own_prefix() {
        assert_eq!(
            parse_reference("f", "CL", " cl-2026-000002 ").unwrap(),
            "CL-2026-000002"
        );
        assert!(parse_reference("f", "CL", "CLL-2026-000002").is_err());
        assert!(parse_reference("f", "CLL", "CLL-2026-000002").is_ok());
        for bad in [
            "CL-26-1",
            "CL-2026-00000x",
            "CL2026000002",
            "",
            "CL-2026-0000002",
        ] {
            assert!(parse_reference("f", "CL", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_resource_name_round_trips() {
        let id = Uuid::now_v7();
        let name = Collection::Products.name_of(id);
        assert_eq!(Collection::Products.parse_name("name", &name).unwrap(), id);
    }

    #[test]
    fn a_name_from_another_collection_is_refused() {
        let name = Collection::Applications.name_of(Uuid::now_v7());
        assert!(Collection::Products.parse_name("name", &name).is_err());
    }

    #[test]
    fn non_v7_ids_are_refused() {
        let name = format!("products/{}", Uuid::nil());
        assert!(Collection::Products.parse_name("name", &name).is_err());
    }

    #[test]
    fn organisation_keys_are_restricted() {
        assert!(OrganisationId::parse("acme").is_ok());
        assert!(OrganisationId::parse("Acme Inc").is_err());
        assert!(OrganisationId::parse("").is_err());
    }
}
