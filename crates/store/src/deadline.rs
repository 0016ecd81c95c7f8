//! The call's deadline, carried to the database: a transaction begun with less time left than
//! the session's statement timeout gets a shorter one (`SET LOCAL statement_timeout`), so a
//! call abandoned at its deadline does not leave its statement waiting on a lock.

use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static CALL_DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the bound of every transaction it begins.
pub async fn within_deadline<F: Future>(deadline: Instant, work: F) -> F::Output {
    CALL_DEADLINE.scope(deadline, work).await
}

/// Time left before the current call's deadline, if it has one.
pub(crate) fn time_left() -> Option<Duration> {
    CALL_DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// Session limits on PostgreSQL connections, so a stuck client or a forgotten transaction
/// cannot hold locks for hours. Zero leaves the server's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionTimeouts {
    /// Any statement, including time waiting for locks.
    pub statement: Duration,
    /// Waiting for one lock.
    pub lock: Duration,
    /// A transaction left open with nothing running.
    pub idle_in_transaction: Duration,
}

impl SessionTimeouts {
    /// `-c name=value` startup options for the ones set.
    pub(crate) fn options(&self) -> Vec<(&'static str, String)> {
        [
            ("statement_timeout", self.statement),
            ("lock_timeout", self.lock),
            (
                "idle_in_transaction_session_timeout",
                self.idle_in_transaction,
            ),
        ]
        .into_iter()
        .filter(|(_, d)| !d.is_zero())
        .map(|(name, d)| (name, format!("{}ms", d.as_millis().max(1))))
        .collect()
    }
}
