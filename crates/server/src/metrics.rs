//! The Prometheus endpoint, on its own port: call counts and latencies per method (recorded at
//! the edge of every call), and at each scrape the database pool, open event streams, licences
//! by state and the expiry backlog.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clearance_grpc::{CallMetrics, Clock, EventApi, ShipmentMetrics};
use clearance_store::Store;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// What a scrape reads besides the call metrics.
pub struct Gauges {
    registry: Registry,
    store: Store,
    clock: Arc<dyn Clock>,
    streams: Vec<EventApi>,
    pool_open: Gauge,
    pool_idle: Gauge,
    streams_open: Gauge,
    licences: Family<StateLabels, Gauge>,
    expiry_backlog: Gauge,
    stream_lag: Gauge,
    database_up: Gauge,
    signer_halted: Gauge,
}

/// What the services record as they answer.
pub struct Recorders {
    pub calls: CallMetrics,
    pub shipments: ShipmentMetrics,
}

/// A registry with the recorders in it, for the listeners' gates and services, and the gauges.
pub fn registry(store: Store, clock: Arc<dyn Clock>) -> (Recorders, Gauges) {
    let mut registry = Registry::default();
    let calls = CallMetrics::register(&mut registry);
    let shipments = ShipmentMetrics::register(&mut registry);
    let gauges = Gauges {
        pool_open: Gauge::default(),
        pool_idle: Gauge::default(),
        streams_open: Gauge::default(),
        licences: Family::default(),
        expiry_backlog: Gauge::default(),
        stream_lag: Gauge::default(),
        database_up: Gauge::default(),
        signer_halted: Gauge::default(),
        registry,
        store,
        clock,
        streams: Vec::new(),
    };
    let mut gauges = gauges;
    let r = &mut gauges.registry;
    r.register(
        "clearance_db_pool_connections",
        "Open database connections",
        gauges.pool_open.clone(),
    );
    r.register(
        "clearance_db_pool_idle_connections",
        "Idle database connections",
        gauges.pool_idle.clone(),
    );
    r.register(
        "clearance_event_streams_open",
        "WatchEvents streams being served",
        gauges.streams_open.clone(),
    );
    r.register(
        "clearance_licences",
        "Licences by state",
        gauges.licences.clone(),
    );
    r.register(
        "clearance_licence_expiry_backlog",
        "ACTIVE licences past their validity, not yet swept to EXPIRED",
        gauges.expiry_backlog.clone(),
    );
    r.register(
        "clearance_database_up",
        "1 when the last scrape could read the database",
        gauges.database_up.clone(),
    );
    r.register(
        "clearance_audit_signer_halted",
        "1 when the checkpoint signer found the audit log rewritten (forked) and stopped signing",
        gauges.signer_halted.clone(),
    );
    (Recorders { calls, shipments }, gauges)
}

impl Gauges {
    /// The gauge the checkpoint signer raises when it stops on a forked log.
    pub fn signer_halted(&self) -> Gauge {
        self.signer_halted.clone()
    }

    /// Counts the streams of `events` too.
    pub fn watch_streams(&mut self, events: EventApi) {
        self.streams.push(events);
    }

    async fn scrape(&self) -> String {
        let (open, idle) = self.store.pool_status();
        self.pool_open.set(i64::from(open));
        self.pool_idle.set(idle as i64);
        self.streams_open
            .set(self.streams.iter().map(|e| e.open_streams() as i64).sum());
        let census = self.store.licence_census(self.clock.now()).await;
        let newest = self.store.latest_event_position().await;
        match census.and_then(|c| Ok((c, newest?))) {
            Ok(((by_state, backlog), newest)) => {
                let slowest = self
                    .streams
                    .iter()
                    .filter_map(EventApi::slowest_position)
                    .min();
                self.stream_lag
                    .set(slowest.map_or(0, |s| newest.saturating_sub(s).max(0)));
                self.licences.clear();
                for (state, n) in by_state {
                    self.licences.get_or_create(&StateLabels { state }).set(n);
                }
                self.expiry_backlog.set(backlog);
                self.database_up.set(1);
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: the database did not answer");
                self.database_up.set(0);
            }
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(error = %e, "metrics: encoding failed");
        }
        text
    }
}

/// `GET /metrics` is the scrape; anything else is not found.
async fn answer(
    request: &Request<hyper::body::Incoming>,
    gauges: &Gauges,
) -> Result<Response<Full<Bytes>>, hyper::http::Error> {
    if request.method() == hyper::Method::GET && request.uri().path() == "/metrics" {
        Response::builder()
            .header(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
            .body(Full::new(Bytes::from(gauges.scrape().await)))
    } else {
        Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"metrics are at /metrics\n")))
    }
}

/// Serves `GET /metrics` on `addr` until `stopped`; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    gauges: Gauges,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    let local = listener.local_addr()?;
    let gauges = Arc::new(gauges);
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(_) => continue,
                },
                _ = stopped.changed() => return,
            };
            let gauges = gauges.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let gauges = gauges.clone();
                    async move { answer(&request, &gauges).await }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok((local, task))
}
