//! The call's deadline, carried to the database: a transaction begun with less time left than
//! the session's statement timeout gets a shorter one (`SET LOCAL statement_timeout`), so a
//! call abandoned at its deadline does not leave its statement waiting on a lock. And what the
//! call's writes came to, so a call abandoned before it answered can be logged truthfully.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

tokio::task_local! {
    static CALL_DEADLINE: Instant;
    static CALL_WRITES: Arc<CallWrites>;
}

/// How far a call's write transactions got; shared between the call and whoever abandons it.
#[derive(Debug, Default)]
pub struct CallWrites {
    begun: AtomicU32,
    commits_sent: AtomicU32,
    committed: AtomicU32,
    /// The mutation's `request_id`, once its idempotency key is claimed.
    request_id: OnceLock<String>,
}

/// What became of a call's writes when it stopped before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFate {
    /// No write transaction was begun: nothing changed.
    NoneBegun,
    /// A transaction was open and is rolled back: nothing changed.
    RolledBack,
    /// A COMMIT was sent and not answered: the change may or may not have been made.
    CommitUnanswered,
    /// Every transaction begun committed: the change was made.
    Committed,
}

impl WriteFate {
    /// For the log line and the client's message.
    pub fn describe(self) -> &'static str {
        match self {
            WriteFate::NoneBegun => "no change was begun",
            WriteFate::RolledBack => "the change it was making was rolled back",
            WriteFate::CommitUnanswered => {
                "the change it was making may or may not have been committed"
            }
            WriteFate::Committed => "the change it made was committed",
        }
    }

    /// `committed` field of the log line: yes, no or unknown.
    pub fn committed(self) -> &'static str {
        match self {
            WriteFate::NoneBegun | WriteFate::RolledBack => "no",
            WriteFate::CommitUnanswered => "unknown",
            WriteFate::Committed => "yes",
        }
    }
}

impl CallWrites {
    /// What the call's writes have come to so far.
    pub fn fate(&self) -> WriteFate {
        let begun = self.begun.load(Ordering::Acquire);
        let sent = self.commits_sent.load(Ordering::Acquire);
        let committed = self.committed.load(Ordering::Acquire);
        if sent > committed {
            WriteFate::CommitUnanswered
        } else if begun == 0 {
            WriteFate::NoneBegun
        } else if committed < begun {
            WriteFate::RolledBack
        } else {
            WriteFate::Committed
        }
    }

    /// The mutation's `request_id`, when the call got as far as claiming it.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.get().map(String::as_str)
    }
}

/// Runs `work` with `writes` told of every write transaction it begins and commits.
pub async fn tracking_writes<F: Future>(writes: Arc<CallWrites>, work: F) -> F::Output {
    CALL_WRITES.scope(writes, work).await
}

/// A write transaction begins (outside a tracked call: nothing to tell).
pub(crate) fn note_begun() {
    let _ = CALL_WRITES.try_with(|w| w.begun.fetch_add(1, Ordering::AcqRel));
}

/// Its COMMIT is about to be sent.
pub(crate) fn note_commit_sent() {
    let _ = CALL_WRITES.try_with(|w| w.commits_sent.fetch_add(1, Ordering::AcqRel));
}

/// Its COMMIT was answered: the transaction committed.
pub(crate) fn note_committed() {
    let _ = CALL_WRITES.try_with(|w| w.committed.fetch_add(1, Ordering::AcqRel));
}

/// The mutation's idempotency key was claimed.
pub(crate) fn note_request_id(request_id: &str) {
    let _ = CALL_WRITES.try_with(|w| w.request_id.set(request_id.to_owned()));
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
    /// Waiting for a connection of the pool (including opening one) before the call fails
    /// UNAVAILABLE: short, so a database that is down fails calls fast. Zero: 30 s.
    pub acquire: Duration,
}

/// The pool-acquire timeout when none is configured (tools that run one statement at a time).
const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

impl SessionTimeouts {
    pub(crate) fn acquire_or_default(&self) -> Duration {
        if self.acquire.is_zero() {
            DEFAULT_ACQUIRE_TIMEOUT
        } else {
            self.acquire
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_s_writes_say_what_became_of_its_change() {
        let writes = Arc::new(CallWrites::default());
        let fate = |steps: fn()| {
            let writes = writes.clone();
            async move {
                tracking_writes(writes.clone(), async { steps() }).await;
                writes.fate()
            }
        };
        assert_eq!(writes.fate(), WriteFate::NoneBegun);
        assert_eq!(writes.request_id(), None);
        assert_eq!(
            fate(|| {
                note_request_id("r-1");
                note_begun();
            })
            .await,
            WriteFate::RolledBack
        );
        assert_eq!(writes.request_id(), Some("r-1"));
        assert_eq!(fate(note_commit_sent).await, WriteFate::CommitUnanswered);
        assert_eq!(fate(note_committed).await, WriteFate::Committed);
        // A second transaction begun and abandoned: its change was not committed.
        assert_eq!(fate(note_begun).await, WriteFate::RolledBack);
        assert_eq!(WriteFate::CommitUnanswered.committed(), "unknown");
        // Outside a tracked call nothing is told and nothing fails.
        note_begun();
        assert_eq!(writes.fate(), WriteFate::RolledBack);
    }
}
