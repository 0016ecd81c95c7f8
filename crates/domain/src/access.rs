//! Who is calling: roles, principals and which service each role may use.

use crate::error::{DomainError, reason};
use crate::ids::OrganisationId;

/// A role carried in a token's `roles` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Applicant,
    Erp,
    Reviewer,
    SeniorReviewer,
    PolicyAdmin,
    Auditor,
    /// Staff of another agency the regulator consults; the token's `org` names the agency.
    Adviser,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Applicant,
        Role::Erp,
        Role::Reviewer,
        Role::SeniorReviewer,
        Role::PolicyAdmin,
        Role::Auditor,
        Role::Adviser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Applicant => "applicant",
            Role::Erp => "erp",
            Role::Reviewer => "reviewer",
            Role::SeniorReviewer => "senior_reviewer",
            Role::PolicyAdmin => "policy_admin",
            Role::Auditor => "auditor",
            Role::Adviser => "adviser",
        }
    }

    /// The role as people say it, e.g. "a senior reviewer".
    pub fn in_words(self) -> &'static str {
        match self {
            Role::Applicant => "an applicant (compliance officer)",
            Role::Erp => "an ERP system",
            Role::Reviewer => "a reviewer",
            Role::SeniorReviewer => "a senior reviewer",
            Role::PolicyAdmin => "a policy administrator",
            Role::Auditor => "an auditor",
            Role::Adviser => "an adviser of another agency",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// Exporter roles act for one organisation and need the `org` claim.
    pub fn is_exporter(self) -> bool {
        matches!(self, Role::Applicant | Role::Erp)
    }
}

/// The side of the system a service serves; each accepts only its own side's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Exporter,
    Regulator,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`.
    pub subject: String,
    pub roles: Vec<Role>,
    /// Present exactly when the roles are exporter roles.
    pub organisation: Option<OrganisationId>,
    /// The advising agency, present exactly for advisers (from the token's `org`).
    pub agency: Option<String>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.has(*r))
    }

    /// Refuses the call unless the caller holds one of `allowed`.
    /// Refuses unless the caller holds one of `allowed`; `action` says what was attempted,
    /// e.g. "call CountersignDecision" or "suspend a licence".
    pub fn require_any(&self, allowed: &[Role], action: &str) -> Result<(), DomainError> {
        if self.has_any(allowed) {
            Ok(())
        } else {
            let words = |roles: &[Role]| {
                roles
                    .iter()
                    .map(|r| r.in_words())
                    .collect::<Vec<_>>()
                    .join(" or ")
            };
            Err(DomainError::PermissionDenied {
                reason: reason::ROLE_NOT_ALLOWED,
                message: format!(
                    "only {} may {action}; your token is for {}",
                    words(allowed),
                    words(&self.roles)
                ),
            })
        }
    }

    /// The exporter organisation the caller acts for.
    pub fn exporter_organisation(&self) -> Result<&OrganisationId, DomainError> {
        self.organisation
            .as_ref()
            .ok_or(DomainError::PermissionDenied {
                reason: reason::ROLE_NOT_ALLOWED,
                message: "only exporter organisations have a catalogue and applications".into(),
            })
    }

    /// Whether this caller may use a service of the given side at all.
    pub fn may_use(&self, audience: Audience) -> bool {
        match audience {
            Audience::Exporter => {
                self.organisation.is_some() && self.roles.iter().any(|r| r.is_exporter())
            }
            Audience::Regulator => self.roles.iter().any(|r| !r.is_exporter()),
        }
    }
}

pub const EXPORTER_READERS: &[Role] = &[Role::Applicant, Role::Erp];
pub const APPLICANTS: &[Role] = &[Role::Applicant];
pub const SHIPPERS: &[Role] = &[Role::Erp];
pub const REGULATORS: &[Role] = &[
    Role::Reviewer,
    Role::SeniorReviewer,
    Role::PolicyAdmin,
    Role::Auditor,
];
pub const PUBLISHERS: &[Role] = &[Role::PolicyAdmin];
/// Advisers read only the referrals to their agency; the regulator's staff read them all.
pub const REFERRAL_READERS: &[Role] = &[
    Role::Reviewer,
    Role::SeniorReviewer,
    Role::PolicyAdmin,
    Role::Auditor,
    Role::Adviser,
];
pub const ADVISERS: &[Role] = &[Role::Adviser];
/// Everyone but advisers, who learn of nothing but the referrals to their agency.
pub const EVENT_WATCHERS: &[Role] = &[
    Role::Applicant,
    Role::Erp,
    Role::Reviewer,
    Role::SeniorReviewer,
    Role::PolicyAdmin,
    Role::Auditor,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role], org: Option<&str>) -> Principal {
        Principal {
            subject: "someone".into(),
            roles: roles.to_vec(),
            organisation: org.map(|o| OrganisationId::parse(o).unwrap()),
            agency: None,
        }
    }

    #[test]
    fn advisers_use_the_regulator_side_only() {
        let adviser = principal(&[Role::Adviser], None);
        assert!(adviser.may_use(Audience::Regulator));
        assert!(!adviser.may_use(Audience::Exporter));
    }

    #[test]
    fn exporter_roles_use_the_exporter_side_only() {
        let p = principal(&[Role::Applicant], Some("acme"));
        assert!(p.may_use(Audience::Exporter));
        assert!(!p.may_use(Audience::Regulator));
    }

    #[test]
    fn regulator_roles_use_the_regulator_side_only() {
        let p = principal(&[Role::Reviewer], None);
        assert!(p.may_use(Audience::Regulator));
        assert!(!p.may_use(Audience::Exporter));
    }

    #[test]
    fn a_role_outside_the_allowed_set_is_refused() {
        let p = principal(&[Role::Erp], Some("acme"));
        let refused = p.require_any(&[Role::Applicant], "create a product");
        assert_eq!(
            refused.unwrap_err().to_string(),
            "only an applicant (compliance officer) may create a product; your token is for an ERP system"
        );
        assert!(
            p.require_any(&[Role::Applicant], "create a product")
                .is_err()
        );
        assert!(p.require_any(&[Role::Applicant, Role::Erp], "read").is_ok());
    }

    #[test]
    fn roles_round_trip_through_their_claim_names() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
