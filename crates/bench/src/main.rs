//! `clearance-bench`: starts `clearance serve` (the release build next to this binary) on a
//! fresh PostgreSQL database and on SQLite, loads data through the API, drives each scenario
//! with N concurrent gRPC clients for a fixed time after a warm-up, and prints throughput,
//! p50/p99 latency, errors and the server's peak memory, beside two ceilings measured in the
//! same run: the health check under the same load (the framework) and pgbench TPC-B (the
//! database). Afterwards it checks every licence: granted − shipped = remaining.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use clearance_auth::{DevKey, TokenRequest};
use clearance_proto::v1 as pb;
use clearance_proto::v1::application_service_client::ApplicationServiceClient;
use clearance_proto::v1::policy_service_client::PolicyServiceClient;
use clearance_proto::v1::review_service_client::ReviewServiceClient;
use clearance_proto::v1::shipment_service_client::ShipmentServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

#[derive(Parser, Debug)]
#[command(about = "Benchmark Clearance beside its framework and database ceilings")]
struct Args {
    /// PostgreSQL server URL; the benchmark creates and drops its own database there.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Seconds each scenario is measured (after a one-second warm-up).
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Concurrent clients of the concurrent scenarios.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    clients: Vec<usize>,
    /// Licences the spread shipment scenarios draw on, each for its own product.
    #[arg(long, default_value_t = 1000)]
    licences: usize,
    /// Case counts at which the regulator's queue is measured (PostgreSQL; the cases beyond
    /// the loaded ones are bulk-inserted in SQL).
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
    queue_sizes: Vec<usize>,
    /// Skip the SQLite run.
    #[arg(long)]
    postgres_only: bool,
    /// The `clearance` binary to benchmark (default: next to this one).
    #[arg(long)]
    server: Option<PathBuf>,
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

fn authed(channel: &Channel, token: &str) -> anyhow::Result<Authed> {
    Ok(InterceptedService::new(
        channel.clone(),
        Bearer(format!("Bearer {token}").parse()?),
    ))
}

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The server under test; killed when dropped.
struct Server {
    child: Child,
    application: u16,
    reviewer: u16,
    /// The web console beside the reviewer service.
    console: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Peak resident memory so far, in MiB (Linux).
    fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn start_server(binary: &Path, url: &str, dir: &Path) -> anyhow::Result<Server> {
    let (application, reviewer, console) = (free_port()?, free_port()?, free_port()?);
    let child = Command::new(binary)
        .arg("serve")
        .current_dir(dir)
        .env("CLEARANCE_DATABASE_URL", url)
        .env("CLEARANCE_AUTH__DEV_KEY_DIR", dir.join("keys"))
        // Capacity is measured, not policy: every scenario calls with one token per role.
        .env("CLEARANCE_LIMITS__CALLS_PER_SECOND_PER_CALLER", "0")
        .env("CLEARANCE_LIMITS__MAX_CONCURRENT_CALLS", "100000")
        .env(
            "CLEARANCE_APPLICATION_LISTEN",
            format!("127.0.0.1:{application}"),
        )
        .env("CLEARANCE_REVIEWER_LISTEN", format!("127.0.0.1:{reviewer}"))
        .env("CLEARANCE_CONSOLE__LISTEN", format!("127.0.0.1:{console}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let server = Server {
        child,
        application,
        reviewer,
        console,
    };
    for port in [application, reviewer] {
        connect(port).await?;
    }
    Ok(server)
}

async fn connect(port: u16) -> anyhow::Result<Channel> {
    for _ in 0..600 {
        if let Ok(channel) = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
            .tcp_nodelay(true)
            .connect()
            .await
        {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
            if health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok_and(|r| r.into_inner().status == 1)
            {
                return Ok(channel);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server did not become ready on port {port}")
}

/// One scenario's measurements.
struct Measured {
    calls: usize,
    errors: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Where the machine's CPU went while measuring, in % of one core.
    cpu: CpuSplit,
}

/// CPU used by the server processes (`clearance`), PostgreSQL's processes and this load
/// generator, in % of one core over a window (the machine has `cores` × 100 %).
#[derive(Debug, Clone, Copy, Default)]
struct CpuSplit {
    server: f64,
    database: f64,
    client: f64,
}

/// Ticks per second of /proc's CPU times.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds used so far by every `clearance` process, every `postgres` process and this
/// one (Linux /proc; zeros elsewhere).
fn cpu_seconds(ticks: f64) -> CpuSplit {
    let used = |stat: &str| -> Option<(String, f64)> {
        let (head, tail) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat; 12 and 13 after the comm.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((comm, (utime + stime) / ticks))
    };
    let mut split = CpuSplit::default();
    if let Some((_, own)) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| used(&s))
    {
        split.client = own;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return split;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Some((comm, seconds)) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| used(&s))
        else {
            continue;
        };
        match comm.as_str() {
            "clearance" => split.server += seconds,
            "postgres" => split.database += seconds,
            _ => {}
        }
    }
    split
}

impl Measured {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.seconds
    }
}

/// Runs `call(client, n)` from `clients` concurrent tasks for a one-second warm-up, then for
/// `seconds`, and measures the latter.
async fn drive<C, F, Fut>(clients: Vec<C>, seconds: u64, call: F) -> Measured
where
    C: Send + 'static,
    F: Fn(&mut C, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let counter = Arc::new(AtomicUsize::new(0));
    let warm_until = Instant::now() + Duration::from_secs(1);
    let stop_at = warm_until + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for mut client in clients {
        let call = call.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            loop {
                let started = Instant::now();
                if started >= stop_at {
                    break;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let ok = call(&mut client, n).await;
                if started >= warm_until {
                    latencies.push(started.elapsed());
                    if !ok {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    // CPU over the measured window: from the end of the warm-up to the stop.
    let ticks = clock_ticks();
    tokio::time::sleep_until(warm_until.into()).await;
    let cpu_start = cpu_seconds(ticks);
    tokio::time::sleep_until(stop_at.into()).await;
    let cpu_end = cpu_seconds(ticks);
    let window = seconds.max(1) as f64;
    let cpu = CpuSplit {
        server: (cpu_end.server - cpu_start.server) / window * 100.0,
        database: (cpu_end.database - cpu_start.database) / window * 100.0,
        client: (cpu_end.client - cpu_start.client) / window * 100.0,
    };
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((l, e)) = task.await {
            latencies.extend(l);
            errors += e;
        }
    }
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Measured {
        calls: latencies.len(),
        errors,
        seconds: seconds as f64,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        cpu,
    }
}

/// A licence and the one product on it.
#[derive(Clone)]
struct Licensed {
    licence: String,
    product: String,
}

/// What the loaded data gives the scenarios.
struct Loaded {
    applications: Vec<String>,
    spread: Vec<Licensed>,
    hot: Licensed,
    end_user: pb::Party,
}

fn h20() -> pb::Product {
    pb::Product {
        display_name: "H20-class accelerator".into(),
        part_number: "H20-SXM".into(),
        classification: "3A090.a".into(),
        datacenter: true,
        parameters: Some(pb::TechnicalParameters {
            total_processing_performance: Some(2368),
            die_area_mm2: Some(814),
            memory_bandwidth_gbps: Some(4000),
            io_bandwidth_gbps: Some(900),
            performance_density: 0.0,
        }),
        ..Default::default()
    }
}

struct Tokens {
    officer: String,
    erp: String,
    reviewer: String,
    senior: String,
    policy: String,
}

fn tokens(dir: &Path) -> anyhow::Result<Tokens> {
    let key = DevKey::load_or_create(&dir.join("keys"))?;
    let mint = |subject: &str, role: &str, org: Option<&str>| {
        key.mint(&TokenRequest {
            subject: subject.into(),
            roles: vec![role.into()],
            organisation: org.map(String::from),
            issuer: "clearance-dev".into(),
            audience: "clearance".into(),
            now: chrono::Utc::now(),
            lifetime_seconds: 4 * 3600,
        })
    };
    Ok(Tokens {
        officer: mint("olivia@acme", "applicant", Some("acme"))?,
        erp: mint("sap@acme", "erp", Some("acme"))?,
        reviewer: mint("alice@regulator", "reviewer", None)?,
        senior: mint("bob@regulator", "senior_reviewer", None)?,
        policy: mint("paula@regulator", "policy_admin", None)?,
    })
}

/// Concurrent loaders: the review workflow is several calls per licence.
const LOADERS: usize = 8;

/// Clients of one loader.
#[derive(Clone)]
struct Loader {
    officer: ApplicationServiceClient<Authed>,
    alice: ReviewServiceClient<Authed>,
    bob: ReviewServiceClient<Authed>,
    end_user: pb::Party,
}

impl Loader {
    /// A product and a licence for 1,000,000 of it, through the real review workflow; returns
    /// the application's name.
    async fn issue(&mut self, i: usize) -> anyhow::Result<String> {
        let product = self
            .officer
            .create_product(pb::CreateProductRequest {
                request_id: id(),
                product: Some(pb::Product {
                    display_name: format!("H20-class accelerator #{i}"),
                    ..h20()
                }),
            })
            .await?
            .into_inner()
            .name;
        let draft = self
            .officer
            .create_application(pb::CreateApplicationRequest {
                request_id: id(),
                application: Some(pb::Application {
                    destination_country_code: "CN".into(),
                    end_use_statement: "Inference serving".into(),
                    parties: vec![self.end_user.clone()],
                    lines: vec![pb::ApplicationLine {
                        product,
                        quantity: 1_000_000,
                        unit_value: Some(pb::Money {
                            currency_code: "USD".into(),
                            minor_units: 1_000,
                        }),
                        determination: None,
                    }],
                    ..Default::default()
                }),
            })
            .await?
            .into_inner();
        let submitted = self
            .officer
            .submit_application(pb::SubmitApplicationRequest {
                name: draft.name.clone(),
                request_id: id(),
                etag: draft.etag,
                declaration_confirmed: true,
            })
            .await?
            .into_inner();
        let case = self
            .alice
            .assign_case(pb::AssignCaseRequest {
                name: submitted.name.clone(),
                request_id: id(),
                etag: submitted.etag,
                assignee: String::new(),
            })
            .await?
            .into_inner();
        let case = self
            .alice
            .propose_decision(pb::ProposeDecisionRequest {
                name: case.name.clone(),
                request_id: id(),
                etag: case.etag,
                approve: true,
                reason: "benchmark".into(),
                value_tolerance_percent: Some(25),
                ..Default::default()
            })
            .await?
            .into_inner();
        self.bob
            .countersign_decision(pb::CountersignDecisionRequest {
                name: case.name.clone(),
                request_id: id(),
                etag: case.etag,
            })
            .await?;
        Ok(submitted.name)
    }
}

/// `count` licences, each for its own product, plus one hot licence, issued through the real
/// review workflow by [`LOADERS`] clients at once.
async fn load(server: &Server, t: &Tokens, count: usize) -> anyhow::Result<Loaded> {
    let app = connect(server.application).await?;
    let rev = connect(server.reviewer).await?;
    let end_user = pb::Party {
        role: pb::PartyRole::EndUser as i32,
        display_name: "Example Cloud Ltd".into(),
        address: "1 Example Road, Shenzhen".into(),
        country_code: "CN".into(),
        headquarters_country_code: "CN".into(),
    };
    let loader = Loader {
        officer: ApplicationServiceClient::new(authed(&app, &t.officer)?),
        alice: ReviewServiceClient::new(authed(&rev, &t.reviewer)?),
        bob: ReviewServiceClient::new(authed(&rev, &t.senior)?),
        end_user: end_user.clone(),
    };
    let total = count + 1;
    let issued = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..LOADERS {
        let mut loader = loader.clone();
        let issued = issued.clone();
        workers.push(tokio::spawn(async move {
            let mut names = Vec::new();
            for i in (worker..total).step_by(LOADERS) {
                names.push(loader.issue(i).await?);
                let done = issued.fetch_add(1, Ordering::Relaxed) + 1;
                if done.is_multiple_of(100) || done == total {
                    eprintln!("  issued {done} of {total} licences");
                }
            }
            anyhow::Ok(names)
        }));
    }
    let mut applications = Vec::new();
    for w in workers {
        applications.extend(w.await??);
    }
    let mut officer = loader.officer.clone();
    let mut spread = Vec::new();
    let mut token = String::new();
    loop {
        let page = officer
            .list_licences(pb::ListLicencesRequest {
                page_size: 1000,
                page_token: token,
                filter: String::new(),
            })
            .await?
            .into_inner();
        for l in page.licences {
            let product = l
                .lines
                .first()
                .context("a licence without lines")?
                .product
                .clone();
            spread.push(Licensed {
                licence: l.name,
                product,
            });
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let hot = spread.pop().context("no licence was issued")?;
    Ok(Loaded {
        applications,
        spread,
        hot,
        end_user,
    })
}

/// Which licence a shipment scenario names.
#[derive(Clone, Copy)]
enum Cover {
    /// A different one of the spread licences each call.
    Spread,
    /// Always the same one.
    Hot,
    /// None: Clearance picks the covering licence, a different one each call.
    Unnamed,
}

/// Follows the regulator's event stream from its current end and records, for every event,
/// how long after its commit time it arrived.
struct EventLag {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<f64>>,
}

impl EventLag {
    async fn follow(port: u16, token: &str) -> anyhow::Result<EventLag> {
        use clearance_proto::v1::event_service_client::EventServiceClient;
        let mut client = EventServiceClient::new(authed(&connect(port).await?, token)?);
        // Skip what is already there: read to the end first.
        let mut cursor = String::new();
        loop {
            let mut stream = client
                .watch_events(pb::WatchEventsRequest {
                    after_cursor: cursor.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            let mut got = false;
            while let Ok(Ok(Some(event))) =
                tokio::time::timeout(Duration::from_millis(300), stream.message()).await
            {
                cursor = event.cursor;
                got = true;
            }
            if !got {
                break;
            }
        }
        let mut stream = client
            .watch_events(pb::WatchEventsRequest {
                after_cursor: cursor,
                ..Default::default()
            })
            .await?
            .into_inner();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut lags = Vec::new();
            loop {
                tokio::select! {
                    _ = stopped.changed() => return lags,
                    next = stream.message() => match next {
                        Ok(Some(event)) => {
                            if let Some(t) = event.create_time {
                                let at = chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32);
                                if let Some(at) = at {
                                    let lag = chrono::Utc::now() - at;
                                    lags.push(lag.num_microseconds().unwrap_or(0) as f64 / 1000.0);
                                }
                            }
                        }
                        _ => return lags,
                    }
                }
            }
        });
        Ok(EventLag { stop, task })
    }

    /// Events seen, p50 and p99 lag in milliseconds.
    async fn stop(self) -> (usize, f64, f64) {
        // Let the stream catch up with the last writes before stopping.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = self.stop.send(true);
        let mut lags = self.task.await.unwrap_or_default();
        lags.sort_by(f64::total_cmp);
        let at = |q: f64| {
            lags.get(((lags.len() as f64 * q) as usize).min(lags.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        (lags.len(), at(0.5), at(0.99))
    }
}

/// One unit of `on.product`, under `on.licence` when `named`, else under the licence
/// Clearance picks.
fn shipment(l: &Loaded, on: &Licensed, named: bool) -> pb::StartShipmentRequest {
    pb::StartShipmentRequest {
        request_id: id(),
        shipment: Some(pb::Shipment {
            licence: if named {
                on.licence.clone()
            } else {
                String::new()
            },
            destination_country_code: "CN".into(),
            end_user: Some(l.end_user.clone()),
            lines: vec![pb::ShipmentLine {
                product: on.product.clone(),
                quantity: 1,
                value: Some(pb::Money {
                    currency_code: "USD".into(),
                    minor_units: 1_000,
                }),
            }],
            ..Default::default()
        }),
    }
}

async fn channels(port: u16, n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(connect(port).await?);
    }
    Ok(out)
}

/// `n` clients of one kind, each on its own connection to `port`, sending `token`.
async fn connect_clients<C>(
    port: u16,
    n: usize,
    token: &str,
    make: fn(Authed) -> C,
) -> anyhow::Result<Vec<C>> {
    channels(port, n)
        .await?
        .iter()
        .map(|c| authed(c, token).map(make))
        .collect()
}

fn report(backend: &str, scenario: &str, clients: usize, m: &Measured, server: &Server) {
    println!(
        "| {backend} | {scenario} | {clients} | {:.0} | {:.2} | {:.2} | {} | {:.0} / {:.0} / {:.0} | {} |",
        m.rate(),
        m.p50_ms,
        m.p99_ms,
        m.errors,
        m.cpu.server,
        m.cpu.database,
        m.cpu.client,
        server
            .peak_rss_mib()
            .map_or_else(|| "?".into(), |m| format!("{m:.0}"))
    );
}

/// Runs every scenario against one server.
async fn scenarios(
    backend: &str,
    server: &Server,
    t: &Tokens,
    l: Arc<Loaded>,
    args: &Args,
) -> anyhow::Result<Vec<(String, usize, f64)>> {
    let mut rates = Vec::new();
    let s = args.seconds;
    // Serial: one client, one call at a time.
    {
        let clients = vec![ApplicationServiceClient::new(authed(
            &connect(server.application).await?,
            &t.officer,
        )?)];
        let l = l.clone();
        let m = drive(clients, s, move |c, n| {
            let name = l.applications[n % l.applications.len()].clone();
            let mut c = c.clone();
            async move {
                c.get_application(pb::GetApplicationRequest { name })
                    .await
                    .is_ok()
            }
        })
        .await;
        report(backend, "get-application (serial)", 1, &m, server);
    }
    for &n in &args.clients {
        let health = drive(channels(server.application, n).await?, s, |c, _| {
            let mut h = tonic_health::pb::health_client::HealthClient::new(c.clone());
            async move {
                h.check(tonic_health::pb::HealthCheckRequest::default())
                    .await
                    .is_ok()
            }
        })
        .await;
        report(backend, "health (framework ceiling)", n, &health, server);
        rates.push(("health".to_owned(), n, health.rate()));

        let clients: Vec<_> = connect_clients(
            server.application,
            n,
            &t.officer,
            ApplicationServiceClient::new,
        )
        .await?;
        let ll = l.clone();
        let m = drive(clients, s, move |c, k| {
            let name = ll.applications[k % ll.applications.len()].clone();
            let mut c = c.clone();
            async move {
                c.get_application(pb::GetApplicationRequest { name })
                    .await
                    .is_ok()
            }
        })
        .await;
        report(backend, "get-application", n, &m, server);
        rates.push(("get-application".to_owned(), n, m.rate()));

        let clients: Vec<_> =
            connect_clients(server.reviewer, n, &t.reviewer, PolicyServiceClient::new).await?;
        let m = drive(clients, s, |c, _| {
            let mut c = c.clone();
            async move {
                c.determine(pb::DetermineRequest {
                    product: h20().into(),
                    destination_country_code: "CN".into(),
                    end_user_headquarters_country_code: "CN".into(),
                    export_time: None,
                    transaction_kind: pb::TransactionKind::Export as i32,
                    certifications: None,
                })
                .await
                .is_ok()
            }
        })
        .await;
        report(backend, "determine", n, &m, server);
        rates.push(("determine".to_owned(), n, m.rate()));

        let clients: Vec<_> =
            connect_clients(server.reviewer, n, &t.reviewer, ReviewServiceClient::new).await?;
        let m = drive(clients, s, |c, _| {
            let mut c = c.clone();
            async move {
                c.list_cases(pb::ListCasesRequest {
                    page_size: 50,
                    page_token: String::new(),
                    filter: "state = APPROVED".into(),
                })
                .await
                .is_ok()
            }
        })
        .await;
        report(backend, "list-cases (first page)", n, &m, server);

        for (scenario, cover) in [
            ("start-shipment named, spread", Cover::Spread),
            ("start-shipment hot", Cover::Hot),
            ("start-shipment unnamed, spread", Cover::Unnamed),
        ] {
            let rate = shipments(backend, server, t, &l, n, s, scenario, cover).await?;
            rates.push((scenario.to_owned(), n, rate));
        }
    }
    Ok(rates)
}

/// One StartShipment scenario with a regulator's stream following the writes; answers its
/// rate.
// The arguments are the scenario's whole description, as `scenarios` holds them.
#[allow(clippy::too_many_arguments)]
async fn shipments(
    backend: &str,
    server: &Server,
    t: &Tokens,
    l: &Arc<Loaded>,
    n: usize,
    s: u64,
    scenario: &str,
    cover: Cover,
) -> anyhow::Result<f64> {
    let clients: Vec<_> =
        connect_clients(server.application, n, &t.erp, ShipmentServiceClient::new).await?;
    // A regulator's stream follows the writes: how long after commit it sees each.
    let lag = EventLag::follow(server.reviewer, &t.reviewer).await?;
    let ll = l.clone();
    let m = drive(clients, s, move |c, k| {
        let spread = &ll.spread[k % ll.spread.len()];
        let request = match cover {
            Cover::Hot => shipment(&ll, &ll.hot, true),
            Cover::Spread => shipment(&ll, spread, true),
            Cover::Unnamed => shipment(&ll, spread, false),
        };
        let mut c = c.clone();
        async move { c.start_shipment(request).await.is_ok() }
    })
    .await;
    report(backend, scenario, n, &m, server);
    let (seen, p50, p99) = lag.stop().await;
    println!(
        "| {backend} | event lag during {scenario} | {n} | {seen} events | {p50:.1} | {p99:.1} | | | |"
    );
    Ok(m.rate())
}

/// Entries of the synthetic screening list the benchmark imports.
const LISTED: usize = 20_000;

/// A synthetic list in the CSL CSV format: names sharing words with ordinary company names
/// (so lookups score candidates), none resembling the benchmark's end user.
fn synthetic_list(entries: usize) -> String {
    let words = [
        "Northern",
        "Trading",
        "Systems",
        "Holdings",
        "Electronics",
        "Logistics",
        "Cloud",
        "Dynamics",
        "Instruments",
        "Maritime",
    ];
    let countries = ["CN", "RU", "IR", "AE", "HK", "SY", "KP"];
    let mut csv = String::from(
        "_id,source,entity_number,type,programs,name,title,addresses,alt_names,citizenships\n",
    );
    for i in 0..entries {
        let name = format!(
            "{} {} {i:05}",
            words[i % words.len()],
            words[(i / words.len()) % words.len()]
        );
        csv.push_str(&format!(
            "b{i},Bench List,,Entity,EAR,{name},,\"{i} Harbour Road, {}\",,\n",
            countries[i % countries.len()]
        ));
    }
    csv
}

/// StartShipment again with a screening list of `LISTED` entries in force: what screening
/// costs a shipment.
async fn screening_on(
    backend: &str,
    server: &Server,
    t: &Tokens,
    l: Arc<Loaded>,
    args: &Args,
) -> anyhow::Result<Vec<(String, usize, f64)>> {
    // Measured right before the import too, so that both sides see the same database size.
    let mut rates = Vec::new();
    for &n in &args.clients {
        let scenario = "start-shipment named, spread, before the list";
        let rate = shipments(
            backend,
            server,
            t,
            &l,
            n,
            args.seconds,
            scenario,
            Cover::Spread,
        )
        .await?;
        rates.push((scenario.to_owned(), n, rate));
    }
    let mut policy = PolicyServiceClient::new(authed(&connect(server.reviewer).await?, &t.policy)?);
    policy
        .import_screening_list(pb::ImportScreeningListRequest {
            request_id: id(),
            source: "Bench List".into(),
            format: pb::ScreeningListFormat::CslCsv as i32,
            content: synthetic_list(LISTED).into_bytes(),
        })
        .await?;
    for &n in &args.clients {
        let scenario = "start-shipment named, spread, screening on";
        let rate = shipments(
            backend,
            server,
            t,
            &l,
            n,
            args.seconds,
            scenario,
            Cover::Spread,
        )
        .await?;
        rates.push((scenario.to_owned(), n, rate));
    }
    Ok(rates)
}

/// Named spread shipments from clients split evenly between `first` and a second
/// `clearance serve` on the same database: what a second replica adds.
async fn two_processes(
    first: &Server,
    second: &Server,
    t: &Tokens,
    l: Arc<Loaded>,
    args: &Args,
) -> anyhow::Result<Vec<(String, usize, f64)>> {
    let scenario = "start-shipment named, spread, two processes";
    let mut rates = Vec::new();
    for &n in &args.clients {
        let mut clients =
            connect_clients(first.application, n / 2, &t.erp, ShipmentServiceClient::new).await?;
        clients.extend(
            connect_clients(
                second.application,
                n - n / 2,
                &t.erp,
                ShipmentServiceClient::new,
            )
            .await?,
        );
        let ll = l.clone();
        let m = drive(clients, args.seconds, move |c, k| {
            let request = shipment(&ll, &ll.spread[k % ll.spread.len()], true);
            let mut c = c.clone();
            async move { c.start_shipment(request).await.is_ok() }
        })
        .await;
        report("postgres", scenario, n, &m, second);
        rates.push((scenario.to_owned(), n, m.rate()));
    }
    Ok(rates)
}

/// Submitted cases `from..=to`, inserted in SQL (the documented bulk path: a million cases
/// through the API would take most of an hour). Due dates spread over 60 days.
fn bulk_cases_sql(from: usize, to: usize) -> String {
    format!(
        "INSERT INTO applications (id, organisation_id, reference, destination_country_code, \
         end_use_statement, state, version, create_time, update_time, submit_time, assignee, \
         due_date, review_policy) \
         SELECT gen_random_uuid(), 'acme', 'BULK-' || g, 'CN', 'Bulk-loaded for the queue \
         benchmark', 'SUBMITTED', 1, now(), now(), now(), NULL, current_date + (g % 60), NULL \
         FROM generate_series({from}, {to}) AS g"
    )
}

const QUEUE_FILTER: &str = "state = SUBMITTED";

/// A page token for the queue that starts half-way down it: at the first case due in 30 days
/// (bulk cases are due evenly over 60 days). Made as the server makes it (the fingerprint of
/// the list call, the last key of a previous page), since paging half a million cases there
/// through the API would take minutes.
fn half_way_token() -> anyhow::Result<String> {
    let due = chrono::Utc::now().date_naive() + chrono::Duration::days(30);
    let page =
        clearance_domain::paging::PageRequest::parse(50, "", &format!("cases|{QUEUE_FILTER}"))
            .map_err(|v| anyhow::anyhow!("{v:?}"))?;
    Ok(page.token_after(
        clearance_store::due_sort_key(Some(due)) - 1,
        uuid::Uuid::max(),
    ))
}

/// The regulator's queue, first page and a page half-way down, at each of the queue sizes.
async fn queue_at_scale(server: &Server, url: &str, t: &Tokens, args: &Args) -> anyhow::Result<()> {
    let n = args.clients.first().copied().unwrap_or(16);
    let mut inserted = 0;
    for &size in &args.queue_sizes {
        if size > inserted {
            eprintln!(
                "postgres: inserting {} submitted cases in SQL, then ANALYZE",
                size - inserted
            );
            clearance_store::execute_statement(url, &bulk_cases_sql(inserted + 1, size)).await?;
            clearance_store::execute_statement(url, "ANALYZE").await?;
            inserted = size;
        }
        let deep = half_way_token()?;
        for (label, token) in [("first page", String::new()), ("deep page", deep)] {
            let mut probe =
                ReviewServiceClient::new(authed(&connect(server.reviewer).await?, &t.reviewer)?);
            let held = probe
                .list_cases(pb::ListCasesRequest {
                    page_size: 50,
                    page_token: token.clone(),
                    filter: QUEUE_FILTER.into(),
                })
                .await?
                .into_inner()
                .cases
                .len();
            anyhow::ensure!(held == 50, "the {label} of {size} cases held {held} cases");
            let clients =
                connect_clients(server.reviewer, n, &t.reviewer, ReviewServiceClient::new).await?;
            let m = drive(clients, args.seconds, move |c, _| {
                let mut c = c.clone();
                let page_token = token.clone();
                async move {
                    c.list_cases(pb::ListCasesRequest {
                        page_size: 50,
                        page_token,
                        filter: QUEUE_FILTER.into(),
                    })
                    .await
                    .is_ok()
                }
            })
            .await;
            report(
                "postgres",
                &format!("list-cases {label}, {size} cases"),
                n,
                &m,
                server,
            );
        }
        console_queue(server.console, size).await?;
    }
    Ok(())
}

/// One HTTP/1.1 exchange on a fresh connection: the status and the whole response.
async fn http(
    port: u16,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, response))
}

/// `name=value` of the cookie a response sets.
fn cookie_set(response: &str, name: &str) -> anyhow::Result<String> {
    response
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_owned)
        .with_context(|| format!("the console set no {name} cookie"))
}

/// The web console's queue page (the first 50 submitted cases) as a reviewer opens it, one
/// request after another over loopback: the time is the console's and the reviewer
/// service's together (ListCases, then the HTML).
async fn console_queue(port: u16, size: usize) -> anyhow::Result<()> {
    // The sign-in form is tied to the cookie its page sets.
    let (_, form) = http(port, "GET", "/sign-in", "", "").await?;
    let sign_in_cookie = cookie_set(&form, "clearance_sign_in")?;
    let token = form
        .split("name=\"sign_in_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the sign-in page has no form token")?
        .to_owned();
    let (status, response) = http(
        port,
        "POST",
        "/sign-in",
        &sign_in_cookie,
        &format!("sign_in_token={token}&subject=bench%40regulator&role=reviewer"),
    )
    .await?;
    anyhow::ensure!(status == 303, "console sign-in answered {status}");
    let cookie = cookie_set(&response, "clearance_session")?;
    let mut times = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let (status, page) = http(port, "GET", "/queue?state=SUBMITTED", &cookie, "").await?;
        times.push(started.elapsed());
        anyhow::ensure!(
            status == 200 && page.contains("50 cases"),
            "the console's queue page answered {status}"
        );
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{:<9} {:<44} p50 {:>6.1} ms  p99 {:>6.1} ms  (100 page loads, one at a time)",
        "postgres",
        format!("console queue page, {size} cases"),
        ms(times[49]),
        ms(times[98])
    );
    Ok(())
}

/// The k6 script: GetApplication over gRPC, with the contract loaded from `proto/`.
const K6_SCRIPT: &str = r#"
import grpc from 'k6/net/grpc';
import { check } from 'k6';
const client = new grpc.Client();
client.load([__ENV.PROTO], 'clearance/v1/application_service.proto');
export const options = {
  vus: Number(__ENV.VUS), duration: __ENV.DURATION,
  summaryTrendStats: ['med', 'p(99)', 'avg'],
};
export default () => {
  if (__ITER === 0) { client.connect(__ENV.ADDR, { plaintext: true }); }
  const res = client.invoke('clearance.v1.ApplicationService/GetApplication',
    { name: __ENV.NAME }, { metadata: { authorization: 'Bearer ' + __ENV.TOKEN } });
  check(res, { ok: (r) => r && r.status === grpc.StatusOK });
};
"#;

/// GetApplication driven by k6 (a Go gRPC client nobody on this team wrote), if installed.
fn k6_get_application(server: &Server, t: &Tokens, l: &Loaded, vus: usize, seconds: u64) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let script = dir.path().join("get_application.js");
    if std::fs::write(&script, K6_SCRIPT).is_err() {
        return;
    }
    let Some(name) = l.applications.first() else {
        return;
    };
    let out = Command::new("k6")
        .arg("run")
        .arg("--quiet")
        .arg(&script)
        .env("VUS", vus.to_string())
        .env("DURATION", format!("{seconds}s"))
        .env("ADDR", format!("127.0.0.1:{}", server.application))
        .env("NAME", name)
        .env("TOKEN", &t.officer)
        .env("PROTO", concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto"))
        .output();
    match out {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let pick = |metric: &str| {
                text.lines()
                    .find(|l| l.trim_start().starts_with(metric))
                    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            };
            println!(
                "k6 get-application, {vus} VU: {} | {} | {}",
                pick("grpc_req_duration"),
                pick("iterations"),
                pick("checks")
            );
        }
        Err(_) => eprintln!("k6 is not installed (pip install k6): no k6 scenario in this run"),
    }
}

/// Every licence's remaining balance equals its grant less what its started shipments took.
async fn check_ledger(server: &Server, t: &Tokens) -> anyhow::Result<usize> {
    let app = connect(server.application).await?;
    let mut officer = ApplicationServiceClient::new(authed(&app, &t.officer)?);
    let mut erp = ShipmentServiceClient::new(authed(&app, &t.erp)?);
    let mut checked = 0;
    let mut token = String::new();
    loop {
        let page = officer
            .list_licences(pb::ListLicencesRequest {
                page_size: 1000,
                page_token: token,
                filter: String::new(),
            })
            .await?
            .into_inner();
        for licence in &page.licences {
            let mut shipped = 0i64;
            let mut st = String::new();
            loop {
                let shipments = erp
                    .list_shipments(pb::ListShipmentsRequest {
                        page_size: 1000,
                        page_token: st,
                        filter: format!("licence = \"{}\" AND state = STARTED", licence.name),
                    })
                    .await?
                    .into_inner();
                shipped += shipments
                    .shipments
                    .iter()
                    .flat_map(|s| s.lines.iter())
                    .map(|l| l.quantity)
                    .sum::<i64>();
                if shipments.next_page_token.is_empty() {
                    break;
                }
                st = shipments.next_page_token;
            }
            let line = licence.lines.first().context("a licence without lines")?;
            if line.granted_quantity - shipped != line.remaining_quantity {
                bail!(
                    "{}: granted {} − shipped {shipped} ≠ remaining {}",
                    licence.name,
                    line.granted_quantity,
                    line.remaining_quantity
                );
            }
            checked += 1;
        }
        if page.next_page_token.is_empty() {
            return Ok(checked);
        }
        token = page.next_page_token;
    }
}

/// pgbench TPC-B-like tps at `clients` on a scratch database of the same server.
fn pgbench(admin: &str, database: &str, clients: usize, seconds: u64) -> Option<f64> {
    let server = admin.rsplit_once('/').map_or(admin, |(s, _)| s);
    let url = format!("{server}/{database}");
    let out = Command::new("pgbench")
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-n",
            &url,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps ="))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
}

async fn run_backend(
    backend: &str,
    url: &str,
    binary: &Path,
    args: &Args,
) -> anyhow::Result<Vec<(String, usize, f64)>> {
    let dir = tempfile::tempdir()?;
    let t = tokens(dir.path())?;
    let server = start_server(binary, url, dir.path()).await?;
    eprintln!(
        "{backend}: loading {} licensed applications",
        args.licences + 1
    );
    let loaded = Arc::new(load(&server, &t, args.licences).await?);
    clearance_store::execute_statement(url, "ANALYZE").await?;
    eprintln!("{backend}: running scenarios");
    let mut rates = scenarios(backend, &server, &t, loaded.clone(), args).await?;
    eprintln!("{backend}: importing a screening list of {LISTED} entries");
    rates.extend(screening_on(backend, &server, &t, loaded.clone(), args).await?);
    if backend == "postgres" {
        eprintln!("postgres: starting a second server process on the same database");
        let second = start_server(binary, url, dir.path()).await?;
        rates.extend(two_processes(&server, &second, &t, loaded.clone(), args).await?);
        drop(second);
        queue_at_scale(&server, url, &t, args).await?;
        k6_get_application(&server, &t, &loaded, 1, args.seconds);
        if let Some(&n) = args.clients.first() {
            k6_get_application(&server, &t, &loaded, n, args.seconds);
        }
    }
    let checked = check_ledger(&server, &t).await?;
    eprintln!("{backend}: ledger exact on all {checked} licences (granted − shipped = remaining)");
    Ok(rates)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = match &args.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory")?
            .join("clearance"),
    };
    anyhow::ensure!(
        binary.exists(),
        "{} not found: build it first (cargo build --release --bin clearance --bin clearance-bench)",
        binary.display()
    );
    println!(
        "| backend | scenario | clients | req/s | p50 ms | p99 ms | errors | CPU % server / db / client | server peak MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let name = format!("clearance_bench_{}", uuid::Uuid::now_v7().simple());
    clearance_store::create_postgres_database(&args.postgres, &name).await?;
    let server_url = args
        .postgres
        .rsplit_once('/')
        .map_or(args.postgres.as_str(), |(s, _)| s);
    let pg_url = format!("{server_url}/{name}");
    let result = run_backend("postgres", &pg_url, &binary, &args).await;
    let _ = clearance_store::drop_postgres_database(&args.postgres, &name).await;
    let pg_rates = result?;

    // The database ceiling: pgbench TPC-B on a scratch database of the same server.
    let scratch = format!("clearance_pgbench_{}", uuid::Uuid::now_v7().simple());
    clearance_store::create_postgres_database(&args.postgres, &scratch).await?;
    let scratch_url = format!("{server_url}/{scratch}");
    let init = Command::new("pgbench")
        .args(["-i", "-s", "10", "-q", &scratch_url])
        .output();
    let mut ceilings = Vec::new();
    if init.is_ok_and(|o| o.status.success()) {
        for &n in &args.clients {
            if let Some(tps) = pgbench(&args.postgres, &scratch, n, args.seconds) {
                println!(
                    "| postgres | pgbench TPC-B (database ceiling) | {n} | {tps:.0} | | | | | |"
                );
                ceilings.push((n, tps));
            }
        }
    } else {
        eprintln!("pgbench is not available: no database ceiling in this run");
    }
    let _ = clearance_store::drop_postgres_database(&args.postgres, &scratch).await;

    if !args.postgres_only {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        run_backend("sqlite", &url, &binary, &args).await?;
    }

    println!();
    println!("Ratios (PostgreSQL):");
    for (scenario, n, rate) in &pg_rates {
        let health = pg_rates
            .iter()
            .find(|(s, c, _)| s == "health" && c == n)
            .map(|(_, _, r)| *r);
        let db = ceilings.iter().find(|(c, _)| c == n).map(|(_, t)| *t);
        if scenario == "health" {
            continue;
        }
        let vs_health = health.map_or_else(|| "?".into(), |h| format!("{:.2}", rate / h));
        let vs_db = db.map_or_else(|| "?".into(), |d| format!("{:.2}", rate / d));
        let vs_one = if scenario.ends_with(", screening on") {
            pg_rates
                .iter()
                .find(|(s, c, _)| s == "start-shipment named, spread, before the list" && c == n)
                .map_or_else(String::new, |(_, _, off)| {
                    format!(", {:.2} × screening off (measured just before)", rate / off)
                })
        } else if scenario.ends_with(", two processes") {
            pg_rates
                .iter()
                .find(|(s, c, _)| s == "start-shipment named, spread" && c == n)
                .map_or_else(String::new, |(_, _, one)| {
                    format!(", {:.2} × one process", rate / one)
                })
        } else {
            String::new()
        };
        println!("- {scenario}, c={n}: {vs_health} × health, {vs_db} × pgbench{vs_one}");
    }
    Ok(())
}
