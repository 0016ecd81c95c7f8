//! The gate every contract call passes first: bearer token → principal, the service side, and
//! the method's roles — before the request body is even decoded. A panic inside a handler fails
//! only its own call.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use clearance_auth::{Audience, Verifier};
use clearance_domain::access::Principal;
use clearance_domain::error::reason;
use std::time::{Duration, Instant};

use clearance_store::{CallWrites, tracking_writes, within_deadline};
use futures::FutureExt;
use futures::future::Either;
use tonic::body::Body;
use tonic::{Code, Status};

use crate::error::ApiError;
use crate::limits::CallLimits;
use crate::metrics::CallMetrics;

/// Verifies the caller's token, admits only the roles of one side of the system and only the
/// roles each method allows.
#[derive(Clone, Debug)]
pub struct Authenticator {
    verifier: Verifier,
    audience: Audience,
}

impl Authenticator {
    pub fn new(verifier: Verifier, audience: Audience) -> Self {
        Authenticator { verifier, audience }
    }

    /// The caller of `path`, if the token is good and its roles may call that method here.
    pub async fn admit(
        &self,
        headers: &http::HeaderMap,
        path: &str,
    ) -> Result<Principal, ApiError> {
        let header = headers
            .get("authorization")
            .map(|v| {
                v.to_str().map_err(|_| {
                    ApiError::Unauthenticated("unreadable authorization header".into())
                })
            })
            .transpose()?;
        let principal = self
            .verifier
            .verify_header_refreshing(header)
            .await
            .map_err(ApiError::from)?;
        tracing::Span::current().record("principal", principal.subject.as_str());
        if !principal.may_use(self.audience) {
            let side = match self.audience {
                Audience::Exporter => "exporter roles (applicant, erp)",
                Audience::Regulator => {
                    "regulator roles (reviewer, senior_reviewer, policy_admin, auditor, adviser)"
                }
            };
            return Err(ApiError::PermissionDenied {
                reason: reason::ROLE_NOT_ALLOWED,
                message: format!("this service accepts only {side}"),
            });
        }
        crate::method_roles::may_call(&principal, path)?;
        Ok(principal)
    }

    /// The tower layer that puts this gate in front of every service of a listener, with no
    /// limits beyond a generous call bound (tests and tools).
    pub fn layer(self) -> GateLayer {
        self.layer_with(
            CallLimits::new(Duration::from_secs(300), usize::MAX >> 4, 0, 0),
            CallMetrics::unregistered(),
        )
    }

    /// The gate with the process's call limits and metrics.
    pub fn layer_with(self, limits: CallLimits, metrics: CallMetrics) -> GateLayer {
        GateLayer {
            gate: self,
            limits,
            metrics,
        }
    }
}

/// Who is at the other end of a connection, as the transport knows it: attached to every call
/// by the listener. With client certificates (mTLS), the organisation the certificate was
/// issued to; a token used over that connection must act for the same organisation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    pub remote_addr: Option<std::net::SocketAddr>,
    pub certificate_organisation: Option<String>,
}

impl PeerIdentity {
    /// Refuses a caller whose token acts for another organisation than the connection's
    /// client certificate names.
    fn admits(&self, principal: &Principal) -> Result<(), ApiError> {
        let Some(certified) = &self.certificate_organisation else {
            return Ok(());
        };
        let acting = principal.organisation.as_ref().map(|o| o.as_str());
        if acting == Some(certified.as_str()) {
            return Ok(());
        }
        Err(ApiError::PermissionDenied {
            reason: reason::CERTIFICATE_MISMATCH,
            message: format!(
                "this connection's client certificate was issued to organisation '{certified}', but the token acts for {}",
                match acting {
                    Some(org) => format!("organisation '{org}'"),
                    None => "a regulator".to_owned(),
                }
            ),
        })
    }
}

/// Methods of the contract pass the gate; health and reflection are open to all.
const CONTRACT_PREFIX: &str = "/clearance.v1.";

/// Puts the [`Authenticator`], the call limits, panic isolation and the access log in front of
/// a listener's services.
#[derive(Clone, Debug)]
pub struct GateLayer {
    gate: Authenticator,
    limits: CallLimits,
    metrics: CallMetrics,
}

impl<S> tower::Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            gate: self.gate.clone(),
            limits: self.limits.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`GateLayer`].
#[derive(Clone, Debug)]
pub struct Gate<S> {
    inner: S,
    gate: Authenticator,
    limits: CallLimits,
    metrics: CallMetrics,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<Body>> for Gate<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The ready service goes into the future; a fresh clone waits for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        let limits = self.limits.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            // Inside the future, so the call's tracing span is entered.
            let arrived = Instant::now();
            let path = request.uri().path().to_owned();
            let (deadline, client_deadline) = limits.deadline(request.headers(), arrived);
            let mut _in_flight = None;
            if path.starts_with(CONTRACT_PREFIX) {
                let peer = request.extensions().get::<PeerIdentity>().cloned();
                let admitted = gate
                    .admit(request.headers(), &path)
                    .await
                    .and_then(|principal| {
                        if let Some(peer) = &peer {
                            peer.admits(&principal)?;
                        }
                        Ok((limits.admit(&principal)?, principal))
                    });
                match admitted {
                    Ok((permit, principal)) => {
                        _in_flight = Some(permit);
                        request.extensions_mut().insert(principal);
                        request
                            .extensions_mut()
                            .insert(crate::replay::CallPath(path.clone()));
                    }
                    Err(e) => {
                        return Ok(access_logged(
                            Status::from(e).into_http(),
                            &path,
                            arrived,
                            &metrics,
                        ));
                    }
                }
            }
            // What the call's writes came to, for the log line if it is abandoned or cancelled.
            let writes = Arc::new(CallWrites::default());
            let mut unanswered = Unanswered {
                writes: writes.clone(),
                arrived,
                answered: false,
            };
            let work = tracking_writes(
                writes.clone(),
                AssertUnwindSafe(inner.call(request)).catch_unwind(),
            );
            // A client's shorter deadline also bounds the database work (see within_deadline);
            // the server's own bound is the sessions' statement timeout already.
            let work = if client_deadline {
                Either::Left(within_deadline(deadline, work))
            } else {
                Either::Right(work)
            };
            let response = match tokio::time::timeout_at(deadline.into(), work).await {
                Ok(Ok(Ok(response))) => match too_large(&response) {
                    Some(refusal) => refusal,
                    None => response.map(Body::new),
                },
                Ok(Ok(Err(e))) => {
                    unanswered.answered = true;
                    return Err(e);
                }
                Ok(Err(panic)) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    Status::from(ApiError::Internal(format!(
                        "handler of {path} panicked: {what}"
                    )))
                    .into_http::<Body>()
                }
                Err(_) => {
                    let fate = log_unfinished(&writes, arrived, "abandoned at its deadline");
                    Status::from(ApiError::DeadlineExceeded(format!(
                        "the call did not finish within its deadline ({} ms); {}: retry with the same request_id",
                        deadline.saturating_duration_since(arrived).as_millis(),
                        fate.describe()
                    )))
                    .into_http::<Body>()
                }
            };
            unanswered.answered = true;
            Ok(access_logged(response, &path, arrived, &metrics))
        })
    }
}

/// tonic's own refusal of a request message over the size limit (OUT_OF_RANGE, no details),
/// told as the limit it is: RESOURCE_EXHAUSTED with MESSAGE_TOO_LARGE, as documented.
fn too_large<B>(response: &http::Response<B>) -> Option<http::Response<Body>> {
    let headers = response.headers();
    if headers.get("grpc-status")?.as_bytes() != b"11" {
        return None;
    }
    let message = headers.get("grpc-message")?.to_str().ok()?;
    let message = percent_decoded(message);
    if !message.contains("message length too large") {
        return None;
    }
    let sizes = message
        .split_once("found ")
        .map_or(String::new(), |(_, rest)| format!(" ({rest})"));
    Some(
        Status::from(ApiError::MessageTooLarge(format!(
            "the request message is larger than this server accepts{sizes}"
        )))
        .into_http(),
    )
}

/// A grpc-message header's text (percent-encoded as the gRPC spec says).
fn percent_decoded(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(h), Some(l)) if hex(*h).is_some() && hex(*l).is_some() => {
                out.push((hex(*h).unwrap_or(0) * 16 + hex(*l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Logs a call dropped before it was answered — its client cancelled or went away — with the
/// mutation's request_id and whether its change was committed, so an operator can reconcile
/// what the client will retry.
struct Unanswered {
    writes: Arc<CallWrites>,
    arrived: Instant,
    answered: bool,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        log_unfinished(
            &self.writes,
            self.arrived,
            "cancelled by its client before it was answered",
        );
    }
}

/// The log line of a call that ended without its answer: its mutation's request_id and
/// whether its change committed (yes, no or unknown).
fn log_unfinished(writes: &CallWrites, arrived: Instant, how: &str) -> clearance_store::WriteFate {
    let fate = writes.fate();
    tracing::warn!(
        waited_ms = arrived.elapsed().as_millis() as u64,
        mutation_request_id = writes.request_id().unwrap_or_default(),
        committed = fate.committed(),
        "call {how}: {}",
        fate.describe()
    );
    fate
}

/// One access-log line per call, in the call's span (method, request id, principal): the gRPC
/// code it answered and how long the answer took (to its headers, for streams); and the same
/// in the call metrics.
fn access_logged(
    response: http::Response<Body>,
    path: &str,
    arrived: Instant,
    metrics: &CallMetrics,
) -> http::Response<Body> {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0);
    let code = Code::from_i32(code);
    let took = arrived.elapsed();
    tracing::info!(
        target: "clearance::access",
        ?code,
        latency_us = took.as_micros() as u64,
        "call"
    );
    metrics.record(path, code, took);
    response
}

#[cfg(test)]
mod tests {
    use clearance_auth::{KeyAlgorithm, VerifierConfig, VerifyingKey};
    use tower::{Layer, Service};

    use super::*;

    fn gate() -> GateLayer {
        let verifier = Verifier::new(VerifierConfig {
            issuer: "test".into(),
            audience: "test".into(),
            keys: vec![VerifyingKey {
                algorithm: KeyAlgorithm::Hs256,
                material: b"a test secret that is long enough to use".to_vec(),
            }],
            leeway_seconds: 0,
            development_mode: true,
            key_set: None,
        })
        .unwrap();
        Authenticator::new(verifier, Audience::Regulator).layer()
    }

    fn grpc_status(response: &http::Response<Body>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_its_call_with_internal_and_the_service_goes_on() {
        let inner = tower::service_fn(|request: http::Request<Body>| async move {
            if request.uri().path().ends_with("/Panic") {
                panic!("a bug in one handler");
            }
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        });
        let mut service = gate().layer(inner);
        let call = |path: &str| {
            http::Request::builder()
                .uri(path)
                .body(Body::empty())
                .unwrap()
        };
        let failed = service
            .call(call("/grpc.health.v1.Health/Panic"))
            .await
            .unwrap();
        assert_eq!(grpc_status(&failed), Some("13"));
        let fine = service
            .call(call("/grpc.health.v1.Health/Check"))
            .await
            .unwrap();
        assert_eq!(fine.status(), http::StatusCode::OK);
        assert_eq!(grpc_status(&fine), None);
    }

    #[tokio::test]
    async fn a_contract_call_without_a_token_never_reaches_the_handler() {
        let inner = tower::service_fn(|_: http::Request<Body>| async move {
            panic!("the handler must not run");
            #[allow(unreachable_code)]
            Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
        });
        let mut service = gate().layer(inner);
        let request = http::Request::builder()
            .uri("/clearance.v1.ReviewService/AssignCase")
            .body(Body::empty())
            .unwrap();
        let refused = service.call(request).await.unwrap();
        assert_eq!(grpc_status(&refused), Some("16"));
    }
}
