//! Replay first: a request_id whose call already committed gets that call's answer, even when
//! a check made before the write would now refuse it (the shipment window has passed, a list
//! now names the end user, a document was deleted). The store's in-transaction claim still
//! settles races; this covers what handlers check before they reach the store.
//!
//! A refusal costs one extra lookup; an answer that succeeds costs nothing, so the happy path
//! is unchanged.

use clearance_domain::access::Principal;
use clearance_store::Store;

use crate::context::request_sha256;
use crate::error::{ApiError, ApiResult};

/// A request that changes something, identified by its caller's `request_id`.
pub trait Idempotent: prost::Message {
    fn request_id(&self) -> &str;
}

macro_rules! idempotent {
    ($($t:ident),* $(,)?) => {
        $(impl Idempotent for clearance_proto::v1::$t {
            fn request_id(&self) -> &str {
                &self.request_id
            }
        })*
    };
}

idempotent!(
    AddNoteRequest,
    AnswerInformationRequestRequest,
    AppealDenialRequest,
    AssignCaseRequest,
    CancelShipmentRequest,
    CountersignDecisionRequest,
    CreateApplicationRequest,
    CreateProductRequest,
    DecideAppealRequest,
    GiveAdviceRequest,
    ProposeDecisionRequest,
    PublishRuleSetRequest,
    ReferCaseRequest,
    RejectProposalRequest,
    ReportUsShipmentsRequest,
    RequestAmendmentRequest,
    RequestInformationRequest,
    ResolveScreeningHitRequest,
    ReturnApplicationRequest,
    StartShipmentRequest,
    SubmitApplicationRequest,
    UpdateApplicationRequest,
    UpdateProductRequest,
    WithdrawApplicationRequest,
);

/// The full method path of the call, put in the request's extensions by the gate.
#[derive(Debug, Clone)]
pub struct CallPath(pub String);

/// What identifies a call's first answer: the caller's idempotency scope, the request_id, the
/// method and the request's digest.
#[derive(Debug, Clone)]
pub struct ReplayKey {
    scope: String,
    request_id: String,
    method: String,
    request_sha256: String,
}

impl ReplayKey {
    /// The key of a call, or `None` when it carries no request_id or its path is unknown.
    pub fn of<T: Idempotent>(request: &tonic::Request<T>, principal: &Principal) -> Option<Self> {
        let method = request.extensions().get::<CallPath>()?.0.clone();
        let message = request.get_ref();
        if message.request_id().is_empty() {
            return None;
        }
        Some(ReplayKey {
            scope: crate::respond::idempotency_scope(principal),
            request_id: message.request_id().to_owned(),
            method,
            request_sha256: request_sha256(message),
        })
    }
}

/// The handler's answer, unless it is a refusal and an identical call committed before: then
/// that call's stored answer. A failed lookup leaves the refusal as it was.
pub async fn or_first_answer<M>(
    store: &Store,
    key: Option<ReplayKey>,
    answer: ApiResult<M>,
) -> ApiResult<M>
where
    M: prost::Message + Default,
{
    let (Err(refusal), Some(key)) = (&answer, key) else {
        return answer;
    };
    // Only a refusal of the request itself can hide a first answer; a database that does not
    // answer would not answer the lookup either (and the caller would wait twice).
    let refused = matches!(
        refusal,
        ApiError::Invalid(_)
            | ApiError::NotFound(_)
            | ApiError::FailedPrecondition { .. }
            | ApiError::PermissionDenied { .. }
            | ApiError::StaleEtag(_)
            | ApiError::Conflict(_)
    );
    if !refused {
        return answer;
    }
    match store
        .first_answer(
            &key.scope,
            &key.request_id,
            &key.method,
            &key.request_sha256,
        )
        .await
    {
        Ok(Some(bytes)) => M::decode(bytes.as_slice())
            .map_err(|e| ApiError::Internal(format!("stored response unreadable: {e}"))),
        Ok(None) | Err(_) => answer,
    }
}
