//! Running one workflow step for either service: parse the target, decide in the domain,
//! persist through the store, answer (or replay) the response.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use clearance_domain::access::Principal;
use clearance_domain::etag::parse_etag;
use clearance_domain::ids::{Collection, OrganisationId};
use clearance_domain::workflow::{Case, CaseUpdate, Context, ReviewSettings};
use clearance_domain::{DomainError, Violations};
use clearance_store::{CaseTarget, Store};
use uuid::Uuid;

use crate::context::validate_request_id;
use crate::error::{ApiError, ApiResult};
use crate::respond::{mutation, respond};

/// The case a step acts on, the version the caller read, and the idempotency key.
#[derive(Debug, Clone)]
pub struct StepTarget {
    pub name: String,
    pub id: Uuid,
    pub version: i64,
    pub request_id: String,
}

impl StepTarget {
    /// Validates `name` (an application), `etag` and `request_id` together.
    pub fn parse(name: &str, etag: &str, request_id: &str) -> Result<StepTarget, Violations> {
        let mut v = Violations::new();
        let id = v.check("", Collection::Applications.parse_name("name", name));
        let version = v.check("", parse_etag("etag", etag));
        let request_id = v.check("", validate_request_id(request_id));
        match (id, version, request_id) {
            (Some(id), Some(version), Some(request_id)) => Ok(StepTarget {
                name: name.to_owned(),
                id,
                version,
                request_id,
            }),
            _ => Err(v),
        }
    }
}

/// What a step needs besides its decision.
pub struct Step<'a> {
    pub store: &'a Store,
    pub settings: Arc<ReviewSettings>,
    pub now: DateTime<Utc>,
    pub principal: &'a Principal,
    /// The exporter organisation whose case this must be (`None` for the regulator).
    pub scope: Option<OrganisationId>,
    pub method: &'static str,
    pub request_sha256: String,
    /// Products (with the versions read) the decision was computed from; the step is refused
    /// as a conflict if any has changed by the time it commits.
    pub pinned_products: Vec<(Uuid, i64)>,
    /// Documents (SHA-256) the case comes to rest on: they cannot be deleted before the step
    /// commits, and the step is refused as a conflict if one was deleted meanwhile.
    pub pinned_documents: Vec<String>,
    /// The step decides, so its case's screening must be current (see
    /// `CaseTarget::screening_gate`).
    pub screening_gate: bool,
}

impl Step<'_> {
    /// Runs `decide` on the current case and answers with `render` of the result.
    pub async fn run<F, M>(
        self,
        target: StepTarget,
        decide: F,
        render: impl Fn(&Case) -> M + Send + Sync,
    ) -> ApiResult<M>
    where
        F: Fn(&Case, &Context<'_>) -> Result<CaseUpdate, DomainError>
            + Clone
            + Send
            + Sync
            + 'static,
        M: prost::Message + Default,
    {
        let m = mutation(
            self.principal,
            self.scope.clone(),
            target.request_id.clone(),
            self.method,
            self.request_sha256,
            self.now,
        );
        let principal = self.principal.clone();
        let settings = self.settings.clone();
        let now = self.now;
        let request_id = target.request_id.clone();
        let decide_now = move |case: &Case| {
            let ctx = Context {
                principal: &principal,
                now,
                request_id: &request_id,
                settings: &settings,
            };
            decide(case, &ctx)
        };
        let outcome = self
            .store
            .update_case(
                &m,
                CaseTarget {
                    org: self.scope,
                    id: target.id,
                    expected_version: target.version,
                    pinned_products: &self.pinned_products,
                    pinned_documents: &self.pinned_documents,
                    screening_gate: self.screening_gate,
                },
                decide_now,
                &|c| render(c).encode_to_vec(),
            )
            .await
            .map_err(|e| ApiError::from_store(&target.name, e))?;
        respond(outcome, render)
    }
}
