//! What both gRPC services share.
//!
//! Architecture Invariant: every error reaches clients through [`ApiError`]'s one mapping to
//! `google.rpc.Status`; internal causes are logged with a correlation id and never sent.

mod auth;
mod clock;
mod context;
pub mod convert;
mod error;
mod events;
mod respond;

pub use auth::Authenticator;
pub use clock::{Clock, SystemClock};
pub use context::{principal, request_sha256, validate_request_id};
pub use error::{ApiError, ApiResult};
pub use events::EventApi;
pub use respond::{mutation, respond};
