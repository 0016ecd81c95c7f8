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
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        match e {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => StoreError::Unavailable(e),
            other => match sqlstate(&other).as_deref() {
                // query_canceled: the statement timeout, i.e. the call's deadline, passed.
                Some("57014") => StoreError::TimedOut(other),
                // lock_not_available: the lock timeout passed; the lock's holder may finish.
                Some("55P03") => StoreError::Unavailable(other),
                _ => StoreError::Database(other),
            },
        }
    }
}

/// The SQLSTATE of a database error, if the database sent one.
pub(crate) fn sqlstate(e: &DbErr) -> Option<String> {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            inner
                .as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned())
        }
        _ => None,
    }
}

pub(crate) fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
