//! Calls sent again, unchanged, when the answer says nothing against the request: the server
//! or its database was unavailable, the call ran out of time or was cancelled, or it lost a
//! race it may win next time (docs/errors.md, "retry the same request?"). The request goes
//! byte for byte as before, so a change carries the same request_id: if the first attempt
//! committed after all, the server answers with its result instead of making it again.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use clearance_contract::reason;
use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use tower::Service;

/// The first pause between attempts; each later one doubles, up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// The default number of retries after the first attempt.
pub(crate) const DEFAULT_RETRIES: u32 = 4;
/// Client-streaming calls are not buffered to be sent again.
const NOT_RETRIED: &[&str] = &["UploadDocument"];

/// How a command retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts after the first; 0 sends each call once.
    pub(crate) retries: u32,
    /// Say on stderr that a call is being retried (text output only).
    pub(crate) announce: bool,
}

/// Whether a failed call may be sent again unchanged, and how long the server asked to wait.
pub(crate) fn worth_retrying(status: &Status) -> Option<Option<Duration>> {
    let info = status.get_details_error_info();
    let retry = match status.code() {
        // Say nothing against the request whoever sent them (a proxy, the transport).
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => true,
        // ABORTED and RESOURCE_EXHAUSTED only where the reason says a repeat may succeed (a
        // stale etag will not).
        _ => info
            .as_ref()
            .is_some_and(|i| reason::RETRY_SAME_REQUEST.contains(&i.reason.as_str())),
    };
    retry.then(|| status.get_details_retry_info().and_then(|r| r.retry_delay))
}

/// The pause before retry `n` (1-based): exponential backoff with jitter, so clients that
/// failed together do not come back together.
fn backoff(n: u32) -> Duration {
    let full = FIRST_BACKOFF
        .saturating_mul(1u32 << n.saturating_sub(1).min(8))
        .min(MAX_BACKOFF);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    // Between half and all of the full pause.
    full / 2 + full.mul_f64((random % 1000) as f64 / 2000.0)
}

/// A channel that retries calls by [`RetryPolicy`].
#[derive(Clone)]
pub(crate) struct Retrying {
    inner: Channel,
    policy: RetryPolicy,
}

impl Retrying {
    pub(crate) fn new(inner: Channel, policy: RetryPolicy) -> Self {
        Retrying { inner, policy }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<http::Request<Body>> for Retrying {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The ready channel goes into the future; a fresh clone waits for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let policy = self.policy;
        Box::pin(async move {
            let method = request
                .uri()
                .path()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            if policy.retries == 0 || NOT_RETRIED.contains(&method.as_str()) {
                return inner.call(request).await.map_err(Into::into);
            }
            let (parts, body) = request.into_parts();
            // A unary or server-streaming request is one small message: kept to send again.
            let bytes = body.collect().await.map_err(BoxError::from)?.to_bytes();
            let mut attempt = 0;
            loop {
                let request = http::Request::from_parts(
                    parts.clone(),
                    Body::new(http_body_util::Full::new(bytes.clone())),
                );
                let response = inner.call(request).await.map_err(BoxError::from)?;
                // Failures come as trailers-only answers: the status is in the headers.
                if !response.headers().contains_key("grpc-status") || attempt >= policy.retries {
                    return Ok(response);
                }
                let status = Status::from_header_map(response.headers());
                let Some(asked) = status.as_ref().and_then(worth_retrying) else {
                    return Ok(response);
                };
                attempt += 1;
                let pause = asked.unwrap_or_else(|| backoff(attempt)).min(MAX_BACKOFF);
                if policy.announce {
                    let code = status.map(|s| s.code()).unwrap_or(Code::Unknown);
                    eprintln!(
                        "{method}: {code:?}; retrying in {} ms with the same request \
                         (retry {attempt} of {})",
                        pause.as_millis(),
                        policy.retries
                    );
                }
                tokio::time::sleep(pause).await;
                std::future::poll_fn(|cx| inner.poll_ready(cx))
                    .await
                    .map_err(BoxError::from)?;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    fn with_reason(code: Code, r: &str) -> Status {
        Status::with_error_details(
            code,
            "x",
            ErrorDetails::with_error_info(r, "clearance", std::collections::HashMap::new()),
        )
    }

    #[test]
    fn only_answers_that_say_nothing_against_the_request_are_retried() {
        assert!(worth_retrying(&Status::unavailable("down")).is_some());
        assert!(worth_retrying(&Status::deadline_exceeded("late")).is_some());
        assert!(worth_retrying(&Status::cancelled("gone")).is_some());
        assert!(worth_retrying(&with_reason(Code::Aborted, reason::CONCURRENT_CHANGE)).is_some());
        assert!(worth_retrying(&with_reason(Code::Aborted, reason::STALE_ETAG)).is_none());
        assert!(worth_retrying(&Status::aborted("no reason")).is_none());
        assert!(
            worth_retrying(&with_reason(
                Code::InvalidArgument,
                reason::INVALID_ARGUMENT
            ))
            .is_none()
        );
        assert!(worth_retrying(&Status::internal("bug")).is_none());
        let mut details = ErrorDetails::with_error_info(
            reason::RATE_LIMITED,
            "clearance",
            std::collections::HashMap::new(),
        );
        details.set_retry_info(Some(Duration::from_millis(300)));
        let limited = Status::with_error_details(Code::ResourceExhausted, "slow down", details);
        assert_eq!(
            worth_retrying(&limited),
            Some(Some(Duration::from_millis(300)))
        );
    }

    #[test]
    fn pauses_grow_and_stay_bounded() {
        for n in 1..20 {
            let pause = backoff(n);
            assert!(pause <= MAX_BACKOFF, "{n}: {pause:?}");
            assert!(pause >= FIRST_BACKOFF / 2, "{n}: {pause:?}");
        }
        assert!(backoff(1) <= FIRST_BACKOFF);
        assert!(backoff(5) >= MAX_BACKOFF / 2);
    }
}
