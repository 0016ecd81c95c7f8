//! A call carrying a W3C `traceparent` is traced as a child of the caller's span, and the span
//! is exported (here to an in-memory exporter in place of an OTLP collector).
//!
//! A test binary of its own, one test on one thread: tracing's per-callsite interest is shared
//! by the whole process, so a subscriber scoped to one test thread is only dependable where no
//! other test runs beside it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use clearance_proto::v1 as pb;
use clearance_tests::{Backend, TestApp};
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

/// Both databases in turn, on this test's one thread (a single-threaded runtime), under one
/// subscriber that exports to memory.
#[tokio::test]
async fn a_traced_call_continues_the_callers_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("clearance")))
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    let _traced = tracing::subscriber::set_default(subscriber);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        continues_the_callers_trace(backend, &provider, &exporter).await;
    }
}

async fn continues_the_callers_trace(
    backend: Backend,
    provider: &SdkTracerProvider,
    exporter: &InMemorySpanExporter,
) {
    exporter.reset();

    let Some((db, app)) = TestApp::spawn(backend).await else {
        return;
    };
    let mut request = tonic::Request::new(pb::ListProductsRequest::default());
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_SPAN}-01").parse().unwrap(),
    );
    app.applicant("acme").list_products(request).await.unwrap();
    // The call's span closes once its answer has gone out; give the server task time (the
    // whole suite may be running on two cores).
    let mut found = None;
    for _ in 0..200 {
        provider.force_flush().unwrap();
        found = exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .find(|s| {
                s.name == "rpc" && s.span_context.trace_id() == TraceId::from_hex(TRACE_ID).unwrap()
            });
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let span = found.unwrap_or_else(|| {
        let seen: Vec<(String, TraceId)> = exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s| s.name == "rpc")
            .map(|s| (s.name.to_string(), s.span_context.trace_id()))
            .collect();
        panic!("the call's span was not exported with the caller's trace id; exported: {seen:?}")
    });
    assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT_SPAN).unwrap());
    assert!(
        span.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "method" && kv.value.as_str().contains("ListProducts")),
        "{:?}",
        span.attributes
    );
    db.drop_database().await;
}
