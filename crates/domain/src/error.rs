//! The domain layer's error: what a business rule refused, and why.

use crate::validation::Violations;

/// A refusal by a business rule. Each variant names the gRPC status it becomes at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Bad input → `INVALID_ARGUMENT` with field violations.
    #[error("invalid argument: {0}")]
    Invalid(Violations),
    /// A state change the lifecycle does not allow → `FAILED_PRECONDITION`.
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    /// The caller's role may not do this → `PERMISSION_DENIED`.
    #[error("{message}")]
    PermissionDenied {
        reason: &'static str,
        message: String,
    },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(Violations::single(field, description))
    }
}

impl From<Violations> for DomainError {
    fn from(v: Violations) -> Self {
        Self::Invalid(v)
    }
}

/// Stable `ErrorInfo.reason` values clients can switch on. Documented in docs/errors.md.
pub use clearance_contract::reason;
