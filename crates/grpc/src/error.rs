//! The API layer's error and its one mapping to gRPC status codes.

use clearance_auth::AuthError;
use clearance_domain::error::reason;
use clearance_domain::{DomainError, Violations};
use clearance_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of every error Clearance returns.
pub const ERROR_DOMAIN: &str = "clearance.v1";

/// At most this many field violations are listed in one reply.
pub const MAX_REPORTED_VIOLATIONS: usize = 50;

pub type ApiResult<T> = Result<T, ApiError>;

/// Everything an RPC can fail with. The comment on each variant is its gRPC code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// INVALID_ARGUMENT with a BadRequest listing every field violation.
    #[error("invalid argument: {0}")]
    Invalid(Violations),
    /// INVALID_ARGUMENT: a request_id reused for another request.
    #[error("request_id was already used for a different request")]
    RequestIdReused,
    /// NOT_FOUND: absent, or belonging to another organisation.
    #[error("{0} not found")]
    NotFound(String),
    /// FAILED_PRECONDITION: the resource's state does not allow this.
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    /// ABORTED: the etag is stale.
    #[error("{0}")]
    StaleEtag(String),
    /// ABORTED: a concurrent change won; retrying may succeed.
    #[error("{0}")]
    Conflict(String),
    /// UNAUTHENTICATED.
    #[error("{0}")]
    Unauthenticated(String),
    /// PERMISSION_DENIED.
    #[error("{message}")]
    PermissionDenied {
        reason: &'static str,
        message: String,
    },
    /// OUT_OF_RANGE: a stream cursor older than the events kept.
    #[error("{0}")]
    CursorExpired(String),
    /// RESOURCE_EXHAUSTED with RetryInfo: a limit was reached; retry after the delay.
    #[error("{message}")]
    ResourceExhausted {
        reason: &'static str,
        message: String,
        retry_after: std::time::Duration,
    },
    /// DEADLINE_EXCEEDED: the call's deadline (or the server's bound) passed first.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// RESOURCE_EXHAUSTED: a request message larger than the server accepts.
    #[error("{0}")]
    MessageTooLarge(String),
    /// UNAVAILABLE: the database cannot be reached; safe to retry.
    #[error("service temporarily unavailable")]
    Unavailable(String),
    /// INTERNAL: the cause is logged, the client gets a correlation id.
    #[error("internal error")]
    Internal(String),
}

impl From<Violations> for ApiError {
    fn from(v: Violations) -> Self {
        ApiError::Invalid(v)
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(v) => ApiError::Invalid(v),
            DomainError::FailedPrecondition { reason, message } => {
                ApiError::FailedPrecondition { reason, message }
            }
            DomainError::PermissionDenied { reason, message } => {
                ApiError::PermissionDenied { reason, message }
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Configuration(cause) => ApiError::Internal(cause),
            other => ApiError::Unauthenticated(other.to_string()),
        }
    }
}

impl ApiError {
    /// Maps a store error about `resource` (a resource name, for NOT_FOUND messages).
    pub fn from_store(resource: &str, e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::NotFound(resource.to_owned()),
            StoreError::StaleEtag { .. } => ApiError::StaleEtag(format!(
                "{resource} has changed since you read it; read it again and retry with its new etag"
            )),
            StoreError::RequestIdReused => ApiError::RequestIdReused,
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::Domain(d) => d.into(),
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause.to_string()),
            StoreError::TimedOut(cause) => {
                tracing::warn!(%cause, "a statement ran past its call's deadline");
                ApiError::DeadlineExceeded(
                    "the call did not finish within its deadline; a change it was making was rolled back: retry with the same request_id".into(),
                )
            }
            StoreError::CursorExpired { kept_after } => ApiError::CursorExpired(format!(
                "events up to position {kept_after} are no longer kept (retention); \
                 resume from a newer cursor or from the beginning of what is kept (an empty cursor)"
            )),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn with_reason(code: Code, message: String, reason: &str) -> Status {
    let details =
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::new());
    Status::with_error_details(code, message, details)
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        match e {
            ApiError::Invalid(violations) => {
                let mut details = ErrorDetails::with_error_info(
                    reason::INVALID_ARGUMENT,
                    ERROR_DOMAIN,
                    std::collections::HashMap::new(),
                );
                // Status details travel in a header: a bounded list keeps them deliverable.
                let total = violations.iter().count();
                for v in violations.iter().take(MAX_REPORTED_VIOLATIONS) {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                let shown: Vec<String> =
                    violations.iter().take(3).map(ToString::to_string).collect();
                let more = if total > 3 {
                    format!(" (and {} more)", total - 3)
                } else {
                    String::new()
                };
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid request: {}{more}", shown.join("; ")),
                    details,
                )
            }
            ApiError::RequestIdReused => with_reason(
                Code::InvalidArgument,
                "request_id was already used for a different request; choose a new request_id"
                    .into(),
                reason::REQUEST_ID_REUSED,
            ),
            ApiError::NotFound(what) => with_reason(
                Code::NotFound,
                format!("{what} not found"),
                reason::NOT_FOUND,
            ),
            ApiError::FailedPrecondition { reason, message } => {
                with_reason(Code::FailedPrecondition, message, reason)
            }
            ApiError::StaleEtag(message) => with_reason(Code::Aborted, message, reason::STALE_ETAG),
            ApiError::Conflict(message) => {
                with_reason(Code::Aborted, message, reason::CONCURRENT_CHANGE)
            }
            ApiError::Unauthenticated(message) => {
                with_reason(Code::Unauthenticated, message, reason::UNAUTHENTICATED)
            }
            ApiError::PermissionDenied { reason, message } => {
                with_reason(Code::PermissionDenied, message, reason)
            }
            ApiError::CursorExpired(message) => {
                with_reason(Code::OutOfRange, message, reason::CURSOR_EXPIRED)
            }
            ApiError::ResourceExhausted {
                reason,
                message,
                retry_after,
            } => {
                let mut details = ErrorDetails::with_error_info(
                    reason,
                    ERROR_DOMAIN,
                    std::collections::HashMap::new(),
                );
                details.set_retry_info(Some(retry_after));
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
            ApiError::DeadlineExceeded(message) => {
                with_reason(Code::DeadlineExceeded, message, reason::DEADLINE_EXCEEDED)
            }
            ApiError::MessageTooLarge(message) => {
                with_reason(Code::ResourceExhausted, message, reason::MESSAGE_TOO_LARGE)
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                with_reason(
                    Code::Unavailable,
                    "the service is temporarily unavailable; retry with the same request_id".into(),
                    reason::UNAVAILABLE,
                )
            }
            ApiError::Internal(cause) => {
                let correlation_id = uuid::Uuid::now_v7();
                tracing::error!(%correlation_id, %cause, "internal error");
                with_reason(
                    Code::Internal,
                    format!("internal error (correlation id {correlation_id})"),
                    reason::INTERNAL,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clearance_domain::error::reason;

    /// docs/errors.md's rows: reason (or "—"), gRPC code, and the retry verdict.
    fn documented() -> Vec<(String, String, String)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md");
        let text = std::fs::read_to_string(path).expect("docs/errors.md");
        text.lines()
            .filter(|l| l.starts_with("| `") || l.starts_with("| — |"))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
                let unquote = |c: &str| c.trim_matches('`').to_owned();
                (
                    unquote(cells[0]),
                    unquote(cells[1]),
                    cells.last().copied().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn the_error_table_says_for_every_reason_whether_to_retry() {
        let rows = documented();
        // Every reason the server can return is there once, and nothing else.
        for r in reason::ALL {
            let found = rows.iter().filter(|(reason, _, _)| reason == r).count();
            assert_eq!(found, 1, "{r} in docs/errors.md");
        }
        for (documented_reason, code, verdict) in &rows {
            assert!(
                documented_reason == "—" || reason::ALL.contains(&documented_reason.as_str()),
                "{documented_reason} is not a reason the server returns"
            );
            let retry = match verdict.as_str() {
                "retry" => true,
                "do not retry" => false,
                other => panic!("{documented_reason}: verdict {other:?} is neither"),
            };
            // The retry verdicts are the server's own list, plus CANCELLED (no reason: the
            // client or a proxy cancelled), and only codes that say nothing against the request.
            let expected = reason::RETRY_SAME_REQUEST.contains(&documented_reason.as_str())
                || code == "CANCELLED";
            assert_eq!(retry, expected, "{documented_reason} ({code})");
            if retry {
                assert!(
                    [
                        "UNAVAILABLE",
                        "DEADLINE_EXCEEDED",
                        "CANCELLED",
                        "ABORTED",
                        "RESOURCE_EXHAUSTED"
                    ]
                    .contains(&code.as_str()),
                    "{documented_reason}: {code} is not a code to retry"
                );
            }
        }
        // The example service config retries exactly the retryable codes the table uses.
        let config = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../docs/grpc-service-config.json"),
        )
        .expect("docs/grpc-service-config.json");
        let config: serde_json::Value = serde_json::from_str(&config).expect("JSON");
        let mut codes: Vec<String> =
            config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"]
                .as_array()
                .expect("codes")
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
        codes.sort();
        let mut from_table: Vec<String> = rows
            .iter()
            .filter(|(_, code, verdict)| verdict == "retry" && code != "CANCELLED")
            .map(|(_, code, _)| code.clone())
            .collect();
        from_table.sort();
        from_table.dedup();
        assert_eq!(codes, from_table);
    }
}
