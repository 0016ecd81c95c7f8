//! What both gRPC services share.
//!
//! Architecture Invariant: every error reaches clients through [`ApiError`]'s one mapping to
//! `google.rpc.Status`; internal causes are logged with a correlation id and never sent.

mod audit;
mod auth;
mod clock;
mod context;
pub mod convert;
pub mod convert_case;
pub mod convert_ledger;
pub mod convert_policy;
pub mod documents;
mod error;
mod events;
mod limits;
pub mod method_roles;
mod metrics;
pub mod replay;
mod respond;
mod rule_book;
mod screener;
pub mod workflow;

pub use audit::AuditApi;
pub use auth::{Authenticator, Gate, GateLayer, PeerIdentity};
pub use clock::{Clock, SettableClock, SystemClock};
pub use context::{
    UpdateTarget, principal, request_sha256, validate_create, validate_list, validate_request_id,
    validate_update,
};
pub use error::{ApiError, ApiResult};
pub use events::{EventApi, decode_cursor, encode_cursor};
pub use limits::{CallLimits, caller_key};
pub use metrics::{CallMetrics, ShipmentMetrics};
pub use respond::{mutation, respond};
pub use rule_book::RuleBook;
pub use screener::{
    Rescreened, Screener, run_screening_sweeps, screen_cases_behind, screening_principal,
};

/// Runs a handler method `$self.$method(principal, message)` returning `ApiResult<T>` and
/// answers with its response or its status.
///
/// With `first_answer` (every method that changes something), a refusal of a request whose
/// request_id already has a committed answer becomes that answer (see [`replay`]).
#[macro_export]
macro_rules! handle {
    ($self:ident, $request:ident, $method:ident, first_answer) => {{
        let p = $crate::principal(&$request)?;
        let key = $crate::replay::ReplayKey::of(&$request, &p);
        let answer = $self.$method(p, $request.into_inner()).await;
        $crate::replay::or_first_answer(&$self.store, key, answer)
            .await
            .map(tonic::Response::new)
            .map_err(tonic::Status::from)
    }};
    ($self:ident, $request:ident, $method:ident) => {{
        let p = $crate::principal(&$request)?;
        $self
            .$method(p, $request.into_inner())
            .await
            .map(tonic::Response::new)
            .map_err(tonic::Status::from)
    }};
}
