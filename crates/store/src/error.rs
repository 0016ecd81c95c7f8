//! The store layer's error. Each variant says which gRPC status it becomes.

use clearance_domain::DomainError;
use sea_orm::{DbErr, RuntimeErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource does not exist for this caller → `NOT_FOUND`.
    #[error("not found")]
    NotFound,
    /// The caller's etag names an older version → `ABORTED`.
    #[error("the resource has changed (now at version {current}); read it again")]
    StaleEtag { current: i64 },
    /// A concurrent change won a race; retrying may succeed → `ABORTED`.
    #[error("{0}")]
    Conflict(String),
    /// The request_id was used before with another request → `INVALID_ARGUMENT`.
    #[error("request_id was already used for a different request")]
    RequestIdReused,
    /// A business rule refused the change → the domain error's status.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database could not be reached → `UNAVAILABLE`.
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    /// The statement ran past its timeout (the call's deadline) → `DEADLINE_EXCEEDED`.
    #[error("the database statement ran past the call's deadline: {0}")]
    TimedOut(DbErr),
    /// Anything else the database said → `INTERNAL` (cause logged, never sent).
    #[error("database error: {0}")]
    Database(DbErr),
    /// A stream cursor at or before events already pruned → `OUT_OF_RANGE`.
    #[error("events up to position {kept_after} are no longer kept")]
    CursorExpired { kept_after: i64 },
    /// An operator command this database does not offer, or cannot do as asked (never
    /// reached by calls).
    #[error("{0}")]
    Unsupported(String),
    /// The document file store failed (disk full, permissions) → `INTERNAL`.
    #[error("document files: {0}")]
    Files(String),
    /// A stored row the domain refuses to read → `INTERNAL`.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The audit log is not an append-only extension of a tree already signed: someone
    /// rewrote it. The checkpoint signer stops (never reached by calls).
    #[error("the audit log forked: {0}")]
    LogForked(String),
}

/// What a database failure means for the call that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection was lost, reset, refused or never got, the server is shutting down or
    /// restarting, or a lock or idle timeout ended the work → `UNAVAILABLE`: retry.
    Unreachable,
    /// The statement ran past the call's deadline → `DEADLINE_EXCEEDED`: retry with the
    /// same request_id (it may have committed just before).
    TimedOut,
    /// The database chose this transaction to give way (serialization failure, deadlock) →
    /// `ABORTED`: retry.
    GaveWay,
    /// Anything else: a bug or corrupt data → `INTERNAL`.
    Other,
}

/// Each SQLSTATE (PostgreSQL) or result code (SQLite) that is not a bug, and what it means.
/// Class 08 (connection exception) is unreachable whatever its subclass.
pub const FAULTS_BY_CODE: &[(&str, Fault)] = &[
    ("57014", Fault::TimedOut),    // query_canceled: the statement timeout
    ("55P03", Fault::Unreachable), // lock_not_available: the lock timeout
    ("25P03", Fault::Unreachable), // idle_in_transaction_session_timeout
    ("57P01", Fault::Unreachable), // admin_shutdown: the session was terminated
    ("57P02", Fault::Unreachable), // crash_shutdown
    ("57P03", Fault::Unreachable), // cannot_connect_now: starting up or in recovery
    ("57P05", Fault::Unreachable), // idle_session_timeout
    ("53300", Fault::Unreachable), // too_many_connections
    ("53000", Fault::Unreachable), // insufficient_resources
    ("40001", Fault::GaveWay),     // serialization_failure
    ("40P01", Fault::GaveWay),     // deadlock_detected
    ("5", Fault::Unreachable),     // SQLITE_BUSY
    ("6", Fault::Unreachable),     // SQLITE_LOCKED
    ("261", Fault::Unreachable),   // SQLITE_BUSY_RECOVERY
    ("517", Fault::Unreachable),   // SQLITE_BUSY_SNAPSHOT
];

/// What a database error code means; codes not listed are `Other`.
pub fn fault_of_code(code: &str) -> Fault {
    if code.len() == 5 && code.starts_with("08") {
        return Fault::Unreachable;
    }
    FAULTS_BY_CODE
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(Fault::Other, |(_, f)| *f)
}

/// What a database error means for the call.
pub fn fault_of(e: &DbErr) -> Fault {
    use sea_orm::sqlx::Error as Sqlx;
    let inner = match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return Fault::Unreachable,
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            inner
        }
        _ => return Fault::Other,
    };
    match inner.as_ref() {
        // The connection broke under the statement (reset, closed, refused, TLS).
        Sqlx::Io(_)
        | Sqlx::Tls(_)
        | Sqlx::Protocol(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed => Fault::Unreachable,
        Sqlx::Database(d) => d.code().map_or(Fault::Other, |c| fault_of_code(&c)),
        _ => Fault::Other,
    }
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        match fault_of(&e) {
            Fault::Unreachable => StoreError::Unavailable(e),
            Fault::TimedOut => StoreError::TimedOut(e),
            Fault::GaveWay => StoreError::Conflict(
                "the database made this call give way to a concurrent one; retry it with the same request_id".into(),
            ),
            Fault::Other => StoreError::Database(e),
        }
    }
}

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlx(e: sea_orm::sqlx::Error) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(e)))
    }

    #[test]
    fn every_class_of_database_failure_has_its_meaning() {
        use std::io::{Error, ErrorKind};
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::ConnectionRefused,
            ErrorKind::BrokenPipe,
            ErrorKind::UnexpectedEof,
        ] {
            let e = sqlx(sea_orm::sqlx::Error::Io(Error::from(kind)));
            assert_eq!(fault_of(&e), Fault::Unreachable, "{kind:?}");
            assert!(matches!(StoreError::from(e), StoreError::Unavailable(_)));
        }
        for e in [
            sea_orm::sqlx::Error::PoolTimedOut,
            sea_orm::sqlx::Error::PoolClosed,
            sea_orm::sqlx::Error::WorkerCrashed,
            sea_orm::sqlx::Error::Protocol("unexpected message".into()),
        ] {
            assert_eq!(fault_of(&sqlx(e)), Fault::Unreachable);
        }
        assert_eq!(
            fault_of(&DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
            Fault::Unreachable
        );
        for (code, fault) in [
            ("08006", Fault::Unreachable),
            ("08003", Fault::Unreachable),
            ("57P01", Fault::Unreachable),
            ("57P03", Fault::Unreachable),
            ("55P03", Fault::Unreachable),
            ("53300", Fault::Unreachable),
            ("5", Fault::Unreachable),
            ("57014", Fault::TimedOut),
            ("40001", Fault::GaveWay),
            ("40P01", Fault::GaveWay),
            ("23505", Fault::Other),
            ("42601", Fault::Other),
            ("0800", Fault::Other),
        ] {
            assert_eq!(fault_of_code(code), fault, "{code}");
        }
        assert!(matches!(
            StoreError::from(DbErr::Custom("a bug".into())),
            StoreError::Database(_)
        ));
        assert_eq!(
            fault_of(&sqlx(sea_orm::sqlx::Error::RowNotFound)),
            Fault::Other
        );
    }
}
