//! What every Clearance client shares with the server, and no business rule: the stable error
//! reasons clients switch on, how money and human references are written, and the audit log's
//! Merkle proofs and signed checkpoints (so a client can check a proof without trusting the
//! server). The domain builds on it; clients (the CLI, the console) depend on this crate and
//! never on the domain.

pub mod audit;
pub mod money;
pub mod references;

/// Stable `ErrorInfo.reason` values clients can switch on. Documented in docs/errors.md.
pub mod reason {
    pub const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
    pub const INVALID_TRANSITION: &str = "INVALID_TRANSITION";
    pub const STALE_ETAG: &str = "STALE_ETAG";
    pub const CONCURRENT_CHANGE: &str = "CONCURRENT_CHANGE";
    pub const REQUEST_ID_REUSED: &str = "REQUEST_ID_REUSED";
    pub const SELF_COUNTERSIGN: &str = "SELF_COUNTERSIGN";
    pub const LICENCE_NOT_ACTIVE: &str = "LICENCE_NOT_ACTIVE";
    pub const OUTSIDE_VALIDITY: &str = "OUTSIDE_VALIDITY";
    pub const DESTINATION_MISMATCH: &str = "DESTINATION_MISMATCH";
    pub const END_USER_MISMATCH: &str = "END_USER_MISMATCH";
    pub const PRODUCT_NOT_LICENSED: &str = "PRODUCT_NOT_LICENSED";
    pub const CURRENCY_MISMATCH: &str = "CURRENCY_MISMATCH";
    pub const QUANTITY_EXCEEDED: &str = "QUANTITY_EXCEEDED";
    pub const VALUE_EXCEEDED: &str = "VALUE_EXCEEDED";
    pub const LICENCE_REQUIRED: &str = "LICENCE_REQUIRED";
    pub const ALREADY_CANCELLED: &str = "ALREADY_CANCELLED";
    pub const PRODUCT_IN_USE: &str = "PRODUCT_IN_USE";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const ROLE_NOT_ALLOWED: &str = "ROLE_NOT_ALLOWED";
    pub const INTERNAL: &str = "INTERNAL";
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    pub const CURSOR_EXPIRED: &str = "CURSOR_EXPIRED";
    pub const CERTIFICATE_MISMATCH: &str = "CERTIFICATE_MISMATCH";
    pub const ADVICE_OUTSTANDING: &str = "ADVICE_OUTSTANDING";
    pub const APPEAL_PERIOD_OVER: &str = "APPEAL_PERIOD_OVER";
    pub const SCREENING_UNRESOLVED: &str = "SCREENING_UNRESOLVED";
    pub const DENIED_PARTY: &str = "DENIED_PARTY";
    pub const APPEAL_NOT_INDEPENDENT: &str = "APPEAL_NOT_INDEPENDENT";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const OVERLOADED: &str = "OVERLOADED";
    pub const TOO_MANY_STREAMS: &str = "TOO_MANY_STREAMS";
    pub const NOT_IN_CHECKPOINT: &str = "NOT_IN_CHECKPOINT";
    pub const DEADLINE_EXCEEDED: &str = "DEADLINE_EXCEEDED";
    pub const MESSAGE_TOO_LARGE: &str = "MESSAGE_TOO_LARGE";
    pub const TRANSACTION_MISMATCH: &str = "TRANSACTION_MISMATCH";
    pub const SHIPMENT_CONDITION_UNMET: &str = "SHIPMENT_CONDITION_UNMET";
    pub const AGGREGATE_CAP_EXCEEDED: &str = "AGGREGATE_CAP_EXCEEDED";

    /// Every reason the server can return.
    pub const ALL: &[&str] = &[
        INVALID_ARGUMENT,
        INVALID_TRANSITION,
        STALE_ETAG,
        CONCURRENT_CHANGE,
        REQUEST_ID_REUSED,
        SELF_COUNTERSIGN,
        LICENCE_NOT_ACTIVE,
        OUTSIDE_VALIDITY,
        DESTINATION_MISMATCH,
        END_USER_MISMATCH,
        PRODUCT_NOT_LICENSED,
        CURRENCY_MISMATCH,
        QUANTITY_EXCEEDED,
        VALUE_EXCEEDED,
        LICENCE_REQUIRED,
        ALREADY_CANCELLED,
        PRODUCT_IN_USE,
        NOT_FOUND,
        UNAUTHENTICATED,
        ROLE_NOT_ALLOWED,
        INTERNAL,
        UNAVAILABLE,
        CURSOR_EXPIRED,
        CERTIFICATE_MISMATCH,
        ADVICE_OUTSTANDING,
        APPEAL_PERIOD_OVER,
        SCREENING_UNRESOLVED,
        DENIED_PARTY,
        APPEAL_NOT_INDEPENDENT,
        RATE_LIMITED,
        OVERLOADED,
        TOO_MANY_STREAMS,
        NOT_IN_CHECKPOINT,
        DEADLINE_EXCEEDED,
        MESSAGE_TOO_LARGE,
        TRANSACTION_MISMATCH,
        SHIPMENT_CONDITION_UNMET,
        AGGREGATE_CAP_EXCEEDED,
    ];

    /// The reasons whose call may be sent again unchanged, with the same request_id: the
    /// failure says nothing against the request, and the request_id makes a repeat exactly
    /// safe (a change that committed is answered, not made again).
    pub const RETRY_SAME_REQUEST: &[&str] = &[
        CONCURRENT_CHANGE,
        RATE_LIMITED,
        OVERLOADED,
        DEADLINE_EXCEEDED,
        UNAVAILABLE,
    ];
}
