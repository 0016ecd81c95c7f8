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

const EXPORTER_READERS: &[Role] = &[Role::Applicant, Role::Erp];
const APPLICANTS: &[Role] = &[Role::Applicant];
const SHIPPERS: &[Role] = &[Role::Erp];
const REGULATORS: &[Role] = &[
    Role::Reviewer,
    Role::SeniorReviewer,
    Role::PolicyAdmin,
    Role::Auditor,
];
const PUBLISHERS: &[Role] = &[Role::PolicyAdmin];
/// Advisers read only the referrals to their agency; the regulator's staff read them all.
const REFERRAL_READERS: &[Role] = &[
    Role::Reviewer,
    Role::SeniorReviewer,
    Role::PolicyAdmin,
    Role::Auditor,
    Role::Adviser,
];
const ADVISERS: &[Role] = &[Role::Adviser];
/// Everyone but advisers, who learn of nothing but the referrals to their agency.
const EVENT_WATCHERS: &[Role] = &[
    Role::Applicant,
    Role::Erp,
    Role::Reviewer,
    Role::SeniorReviewer,
    Role::PolicyAdmin,
    Role::Auditor,
];

/// The roles that may call each RPC of the contract, by its full gRPC path
/// (`/clearance.v1.ReviewService/AssignCase`); `None` for a path outside the contract.
///
/// This table is consulted before a request is even decoded, so a caller without the role
/// learns nothing about the resource, the payload's validity or earlier requests. Workflow
/// steps and licence actions take their roles from [`Action::allowed_roles`] and
/// [`LicenceAction::allowed_roles`], the rules the domain applies again when it runs them.
///
/// [`Action::allowed_roles`]: crate::workflow::Action::allowed_roles
/// [`LicenceAction::allowed_roles`]: crate::ledger::LicenceAction::allowed_roles
pub fn roles_for_method(path: &str) -> Option<&'static [Role]> {
    use crate::ledger::LicenceAction;
    use crate::workflow::Action;
    let (service, method) = path.strip_prefix("/clearance.v1.")?.split_once('/')?;
    let roles = match (service, method) {
        ("ApplicationService", method) => match method {
            "GetProduct"
            | "ListProducts"
            | "GetApplication"
            | "ListApplications"
            | "GetLicence"
            | "ListLicences"
            | "DetermineRequirement"
            | "ListHistory"
            | "DownloadDocument"
            | "ListUsShipmentReports" => EXPORTER_READERS,
            "CreateProduct" | "UpdateProduct" | "CreateApplication" | "UpdateApplication"
            | "ReportUsShipments" => APPLICANTS,
            "SubmitApplication" => Action::Submit.allowed_roles(),
            "WithdrawApplication" => Action::Withdraw.allowed_roles(),
            "AnswerInformationRequest" => Action::AnswerInformation.allowed_roles(),
            "SurrenderLicence" => LicenceAction::Surrender.allowed_roles(),
            "RequestAmendment" | "UploadDocument" | "DeleteDocument" => APPLICANTS,
            "AppealDenial" => Action::Appeal.allowed_roles(),
            _ => return None,
        },
        ("ShipmentService", method) => match method {
            "CheckShipment" | "GetShipment" | "ListShipments" => EXPORTER_READERS,
            "StartShipment" | "CancelShipment" => SHIPPERS,
            _ => return None,
        },
        ("ReviewService", method) => match method {
            "ListCases" | "GetCase" | "ListAllLicences" | "GetAnyLicence" | "ListAllShipments"
            | "GetHistory" | "VerifyHistory" | "DownloadDocument" | "BatchGetProducts" => {
                REGULATORS
            }
            "AssignCase" => Action::Assign.allowed_roles(),
            "RequestInformation" => Action::RequestInformation.allowed_roles(),
            "AddNote" => Action::AddNote.allowed_roles(),
            "ProposeDecision" => Action::ProposeDecision.allowed_roles(),
            "CountersignDecision" => Action::Countersign { approve: true }.allowed_roles(),
            "RejectProposal" => Action::RejectProposal.allowed_roles(),
            "ReturnApplication" => Action::Return.allowed_roles(),
            "ReferCase" => Action::Refer.allowed_roles(),
            "ListReferrals" | "GetReferral" => REFERRAL_READERS,
            "GiveAdvice" => ADVISERS,
            "DecideAppeal" => Action::DecideAppeal { overturn: true }.allowed_roles(),
            "ResolveScreeningHit" => Action::ResolveScreening.allowed_roles(),
            "SuspendLicence" => LicenceAction::Suspend.allowed_roles(),
            "RevokeLicence" => LicenceAction::Revoke.allowed_roles(),
            "ReinstateLicence" => LicenceAction::Reinstate.allowed_roles(),
            _ => return None,
        },
        ("PolicyService", method) => match method {
            "ListRuleSets" | "GetRuleSet" | "AnalyzeImpact" | "Determine" => REGULATORS,
            "PublishRuleSet" | "ImportScreeningList" => PUBLISHERS,
            _ => return None,
        },
        // Each side's stream is scoped by the caller's side and organisation.
        ("EventService", "WatchEvents") => EVENT_WATCHERS,
        // Exporters prove only their own entries (checked by the service).
        ("AuditService", "GetCheckpoint" | "GetInclusionProof" | "GetConsistencyProof") => {
            EVENT_WATCHERS
        }
        _ => return None,
    };
    Some(roles)
}

impl Principal {
    /// Refuses a call of `path` unless the caller holds one of the roles it needs.
    pub fn may_call(&self, path: &str) -> Result<(), DomainError> {
        let method = path.rsplit('/').next().unwrap_or(path);
        match roles_for_method(path) {
            Some(roles) => self.require_any(roles, &format!("call {method}")),
            None => Err(DomainError::PermissionDenied {
                reason: reason::ROLE_NOT_ALLOWED,
                message: "this method is not part of the contract".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_names_its_roles_and_others_are_refused() {
        let reviewer = principal(&[Role::Reviewer], None);
        assert!(
            reviewer
                .may_call("/clearance.v1.ReviewService/AssignCase")
                .is_ok()
        );
        assert!(
            reviewer
                .may_call("/clearance.v1.ReviewService/CountersignDecision")
                .is_err()
        );
        assert!(
            reviewer
                .may_call("/clearance.v1.PolicyService/PublishRuleSet")
                .is_err()
        );
        let auditor = principal(&[Role::Auditor], None);
        assert!(
            auditor
                .may_call("/clearance.v1.ReviewService/GetHistory")
                .is_ok()
        );
        assert!(
            auditor
                .may_call("/clearance.v1.ReviewService/AssignCase")
                .is_err()
        );
        let erp = principal(&[Role::Erp], Some("acme"));
        assert!(
            erp.may_call("/clearance.v1.ShipmentService/StartShipment")
                .is_ok()
        );
        assert!(
            erp.may_call("/clearance.v1.ApplicationService/CreateProduct")
                .is_err()
        );
        assert!(
            erp.may_call("/clearance.v1.ApplicationService/Nothing")
                .is_err()
        );
        assert_eq!(roles_for_method("/other.Service/Method"), None);
    }

    fn principal(roles: &[Role], org: Option<&str>) -> Principal {
        Principal {
            subject: "someone".into(),
            roles: roles.to_vec(),
            organisation: org.map(|o| OrganisationId::parse(o).unwrap()),
            agency: None,
        }
    }

    #[test]
    fn advisers_read_and_answer_referrals_and_nothing_else() {
        let adviser = principal(&[Role::Adviser], None);
        assert!(adviser.may_use(Audience::Regulator));
        assert!(!adviser.may_use(Audience::Exporter));
        for allowed in ["ListReferrals", "GetReferral", "GiveAdvice"] {
            let path = format!("/clearance.v1.ReviewService/{allowed}");
            assert!(adviser.may_call(&path).is_ok(), "{allowed}");
        }
        for refused in [
            "/clearance.v1.ReviewService/ListCases",
            "/clearance.v1.ReviewService/GetCase",
            "/clearance.v1.ReviewService/ReferCase",
            "/clearance.v1.ReviewService/GetHistory",
            "/clearance.v1.PolicyService/ListRuleSets",
            "/clearance.v1.EventService/WatchEvents",
        ] {
            assert!(adviser.may_call(refused).is_err(), "{refused}");
        }
        let reviewer = principal(&[Role::Reviewer], None);
        assert!(
            reviewer
                .may_call("/clearance.v1.ReviewService/ReferCase")
                .is_ok()
        );
        assert!(
            reviewer
                .may_call("/clearance.v1.ReviewService/GiveAdvice")
                .is_err()
        );
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
