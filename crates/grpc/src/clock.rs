//! Time as an input: services read it from a clock they are given, so tests can move it.

use chrono::{DateTime, SubsecRound, Utc};

pub trait Clock: Send + Sync + 'static {
    /// The current time, truncated to microseconds (what every store keeps exactly).
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that stands where it is set: for tests and the guided demo, which replay dates
/// such as April 2025 without waiting for them.
#[derive(Debug)]
pub struct SettableClock(std::sync::Mutex<DateTime<Utc>>);

impl SettableClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        SettableClock(std::sync::Mutex::new(at.trunc_subsecs(6)))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        // A poisoned lock still holds a valid time.
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = at.trunc_subsecs(6);
    }
}

impl Clock for SettableClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
