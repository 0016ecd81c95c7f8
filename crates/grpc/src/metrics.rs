//! Call metrics, recorded at the edge of every call, in a registry the server passes in (no
//! process-wide recorder, so several servers in one process keep their own).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

/// Calls by method and answer code, and their latency by method.
#[derive(Clone, Debug)]
pub struct CallMetrics {
    calls: Family<CallLabels, Counter>,
    latency: Family<MethodLabels, Histogram>,
}

/// Latency buckets from 0.5 ms to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0005, 2.0, 16,
    ))
}

/// The standard services every listener serves besides the contract.
const SERVED_BESIDE_THE_CONTRACT: [&str; 4] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

impl CallMetrics {
    /// Registers the call metrics in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = CallMetrics {
            calls: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        };
        registry.register(
            "clearance_calls",
            "Calls answered, by method and gRPC code",
            metrics.calls.clone(),
        );
        registry.register(
            "clearance_call_duration_seconds",
            "Time to answer a call (to its headers, for streams), by method",
            metrics.latency.clone(),
        );
        metrics
    }

    /// A metrics set registered nowhere (tests and tools).
    pub fn unregistered() -> Self {
        CallMetrics {
            calls: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }

    pub(crate) fn record(&self, method: &str, code: tonic::Code, took: Duration) {
        // Only the contract's methods and health's and reflection's: anything else a client
        // sends (a made-up method under the contract's package too) is one label value, so
        // labels stay bounded.
        let known = crate::method_roles::roles_for_method(method).is_some()
            || SERVED_BESIDE_THE_CONTRACT.contains(&method);
        let method = if known {
            method.to_owned()
        } else {
            "other".to_owned()
        };
        self.calls
            .get_or_create(&CallLabels {
                method: method.clone(),
                code: format!("{code:?}"),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabels { method })
            .observe(took.as_secs_f64());
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
    reason: String,
}

/// StartShipment's answers: started, or refused with the reason (an identical retry answered
/// from its first answer counts again).
#[derive(Clone, Debug, Default)]
pub struct ShipmentMetrics {
    answers: Family<OutcomeLabels, Counter>,
}

impl ShipmentMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = ShipmentMetrics::default();
        registry.register(
            "clearance_shipment_starts",
            "StartShipment answers: started, or refused by reason",
            metrics.answers.clone(),
        );
        metrics
    }

    /// Counts one StartShipment answer; failures that are not refusals (bad input, outages)
    /// show in the call metrics only.
    pub fn record_start<T>(&self, result: &Result<T, tonic::Status>) {
        use tonic_types::StatusExt;
        let labels = match result {
            Ok(_) => OutcomeLabels {
                outcome: "started".into(),
                reason: String::new(),
            },
            Err(status) if status.code() == tonic::Code::FailedPrecondition => OutcomeLabels {
                outcome: "refused".into(),
                reason: status
                    .get_details_error_info()
                    .map(|info| info.reason)
                    .unwrap_or_default(),
            },
            Err(_) => return,
        };
        self.answers.get_or_create(&labels).inc();
    }
}
