//! The authentication interceptor: bearer token → principal in the request's extensions.

use clearance_auth::{Audience, Verifier};
use clearance_domain::error::reason;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::error::ApiError;

/// Verifies the caller's token and admits only the roles of one side of the system.
#[derive(Clone, Debug)]
pub struct Authenticator {
    verifier: Verifier,
    audience: Audience,
}

impl Authenticator {
    pub fn new(verifier: Verifier, audience: Audience) -> Self {
        Authenticator { verifier, audience }
    }
}

impl Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|v| {
                v.to_str().map_err(|_| {
                    ApiError::Unauthenticated("unreadable authorization header".into())
                })
            })
            .transpose()?;
        let principal = self
            .verifier
            .verify_header(header)
            .map_err(ApiError::from)?;
        tracing::Span::current().record("principal", principal.subject.as_str());
        if !principal.may_use(self.audience) {
            let side = match self.audience {
                Audience::Exporter => "exporter roles (applicant, erp)",
                Audience::Regulator => {
                    "regulator roles (reviewer, senior_reviewer, policy_admin, auditor)"
                }
            };
            return Err(ApiError::PermissionDenied {
                reason: reason::ROLE_NOT_ALLOWED,
                message: format!("this service accepts only {side}"),
            }
            .into());
        }
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}
