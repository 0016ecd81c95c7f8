//! Limits at the edge of every call: a deadline (the client's or the server's bound, whichever
//! comes first), a process-wide cap on calls in flight and a per-caller rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clearance_domain::access::Principal;
use clearance_domain::error::reason;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Callers remembered by the rate limiter before idle ones are forgotten.
const MAX_TRACKED_CALLERS: usize = 100_000;
/// How long an overloaded server asks clients to wait.
const OVERLOAD_RETRY: Duration = Duration::from_millis(200);

/// See the module documentation; shared by every call of a process.
#[derive(Debug, Clone)]
pub struct CallLimits {
    call_timeout: Duration,
    in_flight: Arc<Semaphore>,
    rate: Option<Arc<RateLimiter>>,
}

impl CallLimits {
    /// `calls_per_second` 0 turns rate limiting off.
    pub fn new(
        call_timeout: Duration,
        max_in_flight: usize,
        calls_per_second: u32,
        burst: u32,
    ) -> Self {
        CallLimits {
            call_timeout,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            rate: (calls_per_second > 0).then(|| {
                Arc::new(RateLimiter::new(
                    f64::from(calls_per_second),
                    f64::from(burst.max(1)),
                ))
            }),
        }
    }

    /// When a call that arrived at `arrived` must be answered: the server's bound, or the
    /// client's `grpc-timeout` if sooner — less a small margin, so this answer
    /// (DEADLINE_EXCEEDED) goes out before the transport's own timer answers CANCELLED. The
    /// flag says whether the client's deadline is the one that applies.
    pub fn deadline(&self, headers: &http::HeaderMap, arrived: Instant) -> (Instant, bool) {
        let client = headers
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        match client {
            Some(client) if client < self.call_timeout => {
                let margin = (client / 10).min(Duration::from_millis(20));
                (arrived + client.saturating_sub(margin), true)
            }
            _ => (arrived + self.call_timeout, false),
        }
    }

    /// Admits a call of `principal`: within its rate, and a place among the calls in flight
    /// (held until the answer is ready).
    pub fn admit(&self, principal: &Principal) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Some(rate) = &self.rate {
            rate.take(&caller_key(principal), Instant::now())
                .map_err(|retry_after| ApiError::ResourceExhausted {
                    reason: reason::RATE_LIMITED,
                    message: format!(
                        "too many calls from {}; retry in {} ms",
                        principal.subject,
                        retry_after.as_millis().max(1)
                    ),
                    retry_after,
                })?;
        }
        self.in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::ResourceExhausted {
                reason: reason::OVERLOADED,
                message: "the server is at its limit of calls in flight; retry shortly".into(),
                retry_after: OVERLOAD_RETRY,
            })
    }
}

/// One caller: its token's subject within its organisation (regulators have none).
pub fn caller_key(principal: &Principal) -> String {
    match (&principal.organisation, &principal.agency) {
        (Some(org), _) => format!("{}/{}", org.as_str(), principal.subject),
        (None, Some(agency)) => format!("agency:{agency}/{}", principal.subject),
        (None, None) => principal.subject.clone(),
    }
}

/// `grpc-timeout`: at most 8 digits and a unit (H, M, S, m, u, n), per the gRPC spec.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// A token bucket per caller.
#[derive(Debug)]
struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    fn new(per_second: f64, burst: f64) -> Self {
        RateLimiter {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from `key`'s bucket, or says how long until one is there.
    fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        // A poisoned lock only means another call panicked; the map is still whole.
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED_CALLERS && !buckets.contains_key(key) {
            // Forget callers whose bucket has refilled: they lose nothing by it.
            let refill = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, b| now.saturating_duration_since(b.updated) < refill);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_spec_writes_them() {
        assert_eq!(parse_grpc_timeout("1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "1", "123456789S", "-1S", "1s", "1.5S", "१S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_caller_gets_its_burst_then_its_rate_and_others_are_not_affected() {
        let limiter = RateLimiter::new(10.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.take("a", t0).unwrap();
        }
        let wait = limiter.take("a", t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        limiter.take("b", t0).unwrap();
        // A tenth of a second later one more call is allowed.
        limiter.take("a", t0 + Duration::from_millis(100)).unwrap();
        assert!(limiter.take("a", t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn the_client_deadline_applies_when_shorter_than_the_bound() {
        let limits = CallLimits::new(Duration::from_secs(30), 10, 0, 0);
        let now = Instant::now();
        let mut headers = http::HeaderMap::new();
        assert_eq!(
            limits.deadline(&headers, now),
            (now + Duration::from_secs(30), false)
        );
        headers.insert("grpc-timeout", http::HeaderValue::from_static("1S"));
        let (deadline, client) = limits.deadline(&headers, now);
        assert!(client);
        assert!(
            deadline < now + Duration::from_secs(1) && deadline >= now + Duration::from_millis(980)
        );
        headers.insert("grpc-timeout", http::HeaderValue::from_static("1H"));
        assert_eq!(
            limits.deadline(&headers, now),
            (now + Duration::from_secs(30), false)
        );
    }
}
