//! Building store mutations from requests and answering with their outcome.

use clearance_domain::access::Principal;
use clearance_domain::ids::OrganisationId;
use clearance_store::{Mutation, Outcome};

use crate::error::{ApiError, ApiResult};

/// The mutation context of a call: who, for which organisation, under which idempotency key.
pub fn mutation(
    principal: &Principal,
    organisation: Option<OrganisationId>,
    request_id: String,
    method: &'static str,
    request_sha256: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Mutation {
    let idempotency_scope = idempotency_scope(principal);
    // Exporters' keys were the organisation's and subject's together before they became the
    // organisation's.
    let previous_scope = principal.organisation.as_ref().map(|org| {
        clearance_domain::history::sha256_hex(
            format!("org:{org}\nsub:{}", principal.subject).as_bytes(),
        )
    });
    Mutation {
        actor: principal.subject.clone(),
        organisation,
        idempotency_scope,
        previous_scope,
        request_id,
        method,
        request_sha256,
        now,
    }
}

/// The scope a caller's request ids live in.
pub(crate) fn idempotency_scope(principal: &Principal) -> String {
    // An exporter's request id belongs to its organisation: an ERP system failing over to a
    // second service account retries under the same key and gets the first answer (the
    // record keeps who sent it). The regulator's staff and advisers act as persons: the same
    // id from another person is another request and never sees this one's response.
    let caller = match (&principal.organisation, &principal.agency) {
        (Some(org), _) => format!("org:{org}"),
        (None, Some(agency)) => format!("agency:{agency}\nsub:{}", principal.subject),
        (None, None) => format!("regulator\nsub:{}", principal.subject),
    };
    clearance_domain::history::sha256_hex(caller.as_bytes())
}

/// The response of a write: freshly rendered, or the stored bytes of the first identical call.
pub fn respond<T, M>(outcome: Outcome<T>, to_pb: impl Fn(&T) -> M) -> ApiResult<M>
where
    M: prost::Message + Default,
{
    match outcome {
        Outcome::Applied(value) => Ok(to_pb(&value)),
        Outcome::Replayed(bytes) => M::decode(bytes.as_slice())
            .map_err(|e| ApiError::Internal(format!("stored response unreadable: {e}"))),
    }
}
