//! Which roles may call which RPC, by its gRPC path: the table the gate consults before a
//! request is decoded. The role sets and the workflow's own role rules are the domain's; the
//! paths are the contract's, so the table lives here.

use clearance_domain::DomainError;
use clearance_domain::access::{
    ADVISERS, APPLICANTS, EVENT_WATCHERS, EXPORTER_READERS, PUBLISHERS, Principal,
    REFERRAL_READERS, REGULATORS, Role, SHIPPERS,
};
use clearance_domain::error::reason;

/// The roles that may call each RPC of the contract, by its full gRPC path
/// (`/clearance.v1.ReviewService/AssignCase`); `None` for a path outside the contract.
///
/// This table is consulted before a request is even decoded, so a caller without the role
/// learns nothing about the resource, the payload's validity or earlier requests. Workflow
/// steps and licence actions take their roles from [`Action::allowed_roles`] and
/// [`LicenceAction::allowed_roles`], the rules the domain applies again when it runs them.
///
/// [`Action::allowed_roles`]: clearance_domain::workflow::Action::allowed_roles
/// [`LicenceAction::allowed_roles`]: clearance_domain::ledger::LicenceAction::allowed_roles
pub fn roles_for_method(path: &str) -> Option<&'static [Role]> {
    use clearance_domain::ledger::LicenceAction;
    use clearance_domain::workflow::Action;
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

/// Refuses a call of `path` unless `principal` holds one of the roles it needs.
pub fn may_call(principal: &Principal, path: &str) -> Result<(), DomainError> {
    let method = path.rsplit('/').next().unwrap_or(path);
    match roles_for_method(path) {
        Some(roles) => principal.require_any(roles, &format!("call {method}")),
        None => Err(DomainError::PermissionDenied {
            reason: reason::ROLE_NOT_ALLOWED,
            message: "this method is not part of the contract".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clearance_domain::ids::OrganisationId;

    fn principal(roles: &[Role], org: Option<&str>) -> Principal {
        Principal {
            subject: "someone".into(),
            roles: roles.to_vec(),
            organisation: org.map(|o| OrganisationId::parse(o).unwrap()),
            agency: None,
        }
    }

    #[test]
    fn every_method_names_its_roles_and_others_are_refused() {
        let reviewer = principal(&[Role::Reviewer], None);
        assert!(may_call(&reviewer, "/clearance.v1.ReviewService/AssignCase").is_ok());
        assert!(may_call(&reviewer, "/clearance.v1.ReviewService/CountersignDecision").is_err());
        assert!(may_call(&reviewer, "/clearance.v1.PolicyService/PublishRuleSet").is_err());
        let auditor = principal(&[Role::Auditor], None);
        assert!(may_call(&auditor, "/clearance.v1.ReviewService/GetHistory").is_ok());
        assert!(may_call(&auditor, "/clearance.v1.ReviewService/AssignCase").is_err());
        let erp = principal(&[Role::Erp], Some("acme"));
        assert!(may_call(&erp, "/clearance.v1.ShipmentService/StartShipment").is_ok());
        assert!(may_call(&erp, "/clearance.v1.ApplicationService/CreateProduct").is_err());
        assert!(may_call(&erp, "/clearance.v1.ApplicationService/Nothing").is_err());
        assert_eq!(roles_for_method("/other.Service/Method"), None);
    }

    #[test]
    fn advisers_read_and_answer_referrals_and_nothing_else() {
        let adviser = principal(&[Role::Adviser], None);
        for allowed in ["ListReferrals", "GetReferral", "GiveAdvice"] {
            let path = format!("/clearance.v1.ReviewService/{allowed}");
            assert!(may_call(&adviser, &path).is_ok(), "{allowed}");
        }
        for refused in [
            "/clearance.v1.ReviewService/ListCases",
            "/clearance.v1.ReviewService/GetCase",
            "/clearance.v1.ReviewService/ReferCase",
            "/clearance.v1.ReviewService/GetHistory",
            "/clearance.v1.PolicyService/ListRuleSets",
            "/clearance.v1.EventService/WatchEvents",
        ] {
            assert!(may_call(&adviser, refused).is_err(), "{refused}");
        }
        let reviewer = principal(&[Role::Reviewer], None);
        assert!(may_call(&reviewer, "/clearance.v1.ReviewService/ReferCase").is_ok());
        assert!(may_call(&reviewer, "/clearance.v1.ReviewService/GiveAdvice").is_err());
    }
}
