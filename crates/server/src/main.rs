//! `clearance`: serve the gRPC services, migrate the database, mint development tokens.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use clearance_auth::{DevKey, Role, TokenRequest};
use clearance_grpc::{Clock, SystemClock};
use clearance_server::serve::{connect_store, redact};
use clearance_server::{
    AuthMode, Config, ServiceSelection, build_verifier, prepare, start, telemetry,
};
use clearance_store::Store;

#[derive(Parser)]
#[command(name = "clearance", version, about = "Export-licence workflow server")]
struct Cli {
    /// TOML configuration file (default: ./clearance.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database URL, e.g. sqlite://clearance.db or postgres://postgres@127.0.0.1/clearance.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the gRPC services until SIGINT/SIGTERM.
    Serve {
        /// Which services this process serves.
        #[arg(long, value_enum)]
        service: Option<ServiceSelection>,
        /// Address of the application (exporter) service.
        #[arg(long)]
        application_listen: Option<std::net::SocketAddr>,
        /// Address of the reviewer (regulator) service.
        #[arg(long)]
        reviewer_listen: Option<std::net::SocketAddr>,
    },
    /// Serve only the caseworkers' web console, calling a reviewer service elsewhere (development
    /// sign-in; loopback addresses only).
    Console {
        /// Where the console answers; defaults to console.listen (127.0.0.1:8080).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// The reviewer service it calls.
        #[arg(long, default_value = "http://127.0.0.1:50052")]
        reviewer_endpoint: String,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the development signing key pair in auth.dev_key_dir if it is not there, and
    /// print where its public half is (to trust it as a key of a production-mode server).
    Keygen,
    /// Make a local certificate authority and a server certificate for trying TLS: writes
    /// ca.pem (for clients), server.pem and server-key.pem (for [tls]) into DIR.
    DevCert {
        /// Where the files go.
        #[arg(long, default_value = ".clearance/tls")]
        dir: PathBuf,
        /// Host names and IP addresses the certificate is for (repeatable).
        #[arg(long = "host", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()])]
        hosts: Vec<String>,
        /// Also a client certificate (mTLS) for this organisation's ERP system: writes
        /// client-ORG.pem and client-ORG-key.pem (repeatable).
        #[arg(long = "client")]
        clients: Vec<String>,
    },
    /// Write a consistent copy of the embedded (SQLite) database to FILE while it serves.
    Backup {
        /// Where the copy goes; an existing file is never overwritten.
        file: PathBuf,
    },
    /// Denied-party screening lists: import a version, list the versions.
    #[command(subcommand)]
    Screening(Screening),
    /// Check a database against its own records and the audit log's signed checkpoints: every
    /// history chain, every entry against the log, the log against each checkpoint, each
    /// application's state against its history and each licence line's balance against its
    /// shipments. Names the first mismatch and exits 1 on any.
    Verify {
        /// The checkpoint files; defaults to audit.checkpoint_dir.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
        /// The verifier key (name+id+key) the checkpoints are signed with; defaults to the
        /// configured signing key's.
        #[arg(long)]
        verifier_key: Option<PathBuf>,
    },
    /// Sign a checkpoint of the audit log now (unless it has not grown since the latest) and
    /// write it to audit.checkpoint_dir; prints it.
    Checkpoint,
    /// Tell the H20 story of 2025 and the H200 rules of 2026 end to end against a throw-away database.
    Demo,
    /// Print a development token signed with the local development key.
    Token {
        /// applicant, erp, reviewer, senior_reviewer, policy_admin, auditor or adviser
        /// (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Organisation of exporter roles (applicant, erp), or an adviser's agency.
        #[arg(long)]
        org: Option<String>,
        /// Subject (user or service account); defaults to the role and organisation.
        #[arg(long)]
        subject: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 8 * 3600)]
        ttl: i64,
    },
}

#[derive(Subcommand)]
enum Screening {
    /// Import a version of a restricted-party list: all of it or, if any line is wrong, none
    /// (naming the lines); the same file again changes nothing. The latest version of each
    /// source is in force on every replica at once.
    Import {
        /// The list file.
        file: PathBuf,
        /// csl-csv or csl-json (the US Consolidated Screening List), or ftm (OpenSanctions'
        /// FollowTheMoney entities, JSON lines).
        #[arg(long)]
        format: String,
        /// Who publishes it, e.g. "US CSL" or "OpenSanctions"; a later import of the same
        /// source replaces this one.
        #[arg(long)]
        source: String,
    },
    /// Every imported version, newest first, marking those in force.
    List,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(mut config) => {
            if let Some(url) = cli.database_url.take() {
                config.database_url = url;
            }
            config
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let _telemetry = match telemetry::init(&config.log_format, config.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: setting up trace export: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let json = config.log_format == "json";
    match run(cli, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The causes in plain words; backtraces are for developers (RUST_BACKTRACE).
            say(json, &format!("error: {e:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}

/// A line for the operator: plain on stderr, or a log event when logs are JSON, so a JSON
/// log stream holds nothing else.
fn say(json: bool, line: &str) {
    if json {
        tracing::info!(target: "clearance", "{line}");
    } else {
        eprintln!("{line}");
    }
}

async fn run(cli: Cli, mut config: Config) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            service,
            application_listen,
            reviewer_listen,
        } => {
            if let Some(s) = service {
                config.services = s;
            }
            if let Some(a) = application_listen {
                config.application_listen = a;
            }
            if let Some(r) = reviewer_listen {
                config.reviewer_listen = r;
            }
            serve(config).await
        }
        Command::Console {
            listen,
            reviewer_endpoint,
        } => {
            let listen = listen
                .or(config.console.listen)
                .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
            anyhow::ensure!(
                listen.ip().is_loopback() || config.console.oidc.is_some(),
                "refusing to serve the console on {listen}: its development sign-in lets anyone who reaches it act as any regulator role; listen on 127.0.0.1 or ::1, or sign people in through [console.oidc]"
            );
            let console =
                clearance_server::serve::console_config(&config, reviewer_endpoint.clone())?;
            let (listener, addr) = clearance_console::bind(listen).await?;
            eprintln!(
                "web console at http://{addr}/, calling the reviewer service at {reviewer_endpoint}"
            );
            clearance_console::serve(
                listener,
                console,
                clearance_server::serve::shutdown_signal(),
            )
            .await
        }
        Command::Keygen => {
            let key = DevKey::load_or_create(&config.auth.dev_key_dir)?;
            eprintln!("signing key: {}", key.private_path.display());
            println!("{}", key.public_path().display());
            Ok(())
        }
        Command::Backup { file } => {
            let store = Store::connect(&config.database_url, 1).await?;
            store
                .backup_to(&file)
                .await
                .with_context(|| format!("backing up to {}", file.display()))?;
            eprintln!(
                "backup written to {}; check it with: clearance --database-url sqlite://{} verify",
                file.display(),
                file.display()
            );
            Ok(())
        }
        Command::Verify {
            checkpoints,
            verifier_key,
        } => verify(&config, checkpoints, verifier_key).await,
        Command::Checkpoint => checkpoint(&config).await,
        Command::DevCert {
            dir,
            hosts,
            clients,
        } => {
            clearance_server::tls::write_dev_certificates(&dir, &hosts, &clients)?;
            let show = |f: &str| dir.join(f).display().to_string();
            eprintln!(
                "a development CA and a server certificate for {} (never for production)",
                hosts.join(", ")
            );
            println!(
                "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n# client certificates (mTLS): client_ca_file = \"{}\"\n# clients: --ca-file {}",
                show("server.pem"),
                show("server-key.pem"),
                show("ca.pem"),
                show("ca.pem")
            );
            Ok(())
        }
        Command::Demo => {
            let mut out = std::io::stdout();
            clearance_server::demo::run(&mut out).await
        }
        Command::Migrate => {
            let store = Store::connect(&config.database_url, 1).await?;
            prepare(&config, &store, SystemClock.now()).await?;
            say(
                config.log_format == "json",
                &format!("migrations applied to {}", store.backend_name()),
            );
            Ok(())
        }
        Command::Token {
            roles,
            org,
            subject,
            ttl,
        } => token(&config, roles, org, subject, ttl),
        Command::Screening(command) => screening(&config, command).await,
    }
}

async fn screening(config: &Config, command: Screening) -> anyhow::Result<()> {
    use clearance_domain::screening::{ListFormat, check_source, parse_list};
    let store = Store::connect(&config.database_url, 1)
        .await
        .with_context(|| format!("connecting to {}", redact(&config.database_url)))?;
    prepare(config, &store, SystemClock.now()).await?;
    match command {
        Screening::List => {
            let all = store.screening_lists().await?;
            let in_force: Vec<_> = clearance_domain::screening::in_force(all.clone())
                .into_iter()
                .map(|v| v.id)
                .collect();
            if all.is_empty() {
                println!("no screening lists imported");
            }
            for v in &all {
                println!(
                    "{}  {}  {}  {} entries  imported {} by {}  sha256 {}{}",
                    v.id,
                    v.source,
                    v.format,
                    v.entry_count,
                    v.import_time.format("%Y-%m-%d %H:%M UTC"),
                    v.imported_by,
                    v.file_sha256,
                    if in_force.contains(&v.id) {
                        "  IN FORCE"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        Screening::Import {
            file,
            format,
            source,
        } => {
            let format = ListFormat::parse(&format).with_context(|| {
                format!(
                    "--format must be one of {}, not '{format}'",
                    ListFormat::NAMES.join(", ")
                )
            })?;
            let source = check_source(&source).map_err(|v| anyhow::anyhow!("{v}"))?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let text = std::str::from_utf8(&bytes)
                .with_context(|| format!("{} is not UTF-8 text", file.display()))?;
            let parties = parse_list(format, text).map_err(|problems| {
                let lines: Vec<String> = problems.iter().map(|p| p.description.clone()).collect();
                anyhow::anyhow!(
                    "{} was not imported; the versions in force are unchanged:\n  {}",
                    file.display(),
                    lines.join("\n  ")
                )
            })?;
            let sha256 = clearance_domain::history::sha256_hex(&bytes);
            let now = SystemClock.now();
            let m = clearance_store::Mutation {
                actor: "clearance screening import".into(),
                organisation: None,
                idempotency_scope: "operator".into(),
                previous_scope: None,
                request_id: format!("screening-import:{sha256}"),
                method: "screening import",
                request_sha256: sha256.clone(),
                now,
            };
            let outcome = store
                .import_screening_list(&m, &source, format, &sha256, &parties, &|v| {
                    v.id.as_bytes().to_vec()
                })
                .await?;
            match outcome {
                clearance_store::Outcome::Applied(v) if v.import_time == now => {
                    println!(
                        "imported {} entries of {} as version {} (sha256 {})",
                        v.entry_count, v.source, v.id, v.file_sha256
                    );
                    // Open cases and the cases behind licences are screened against the
                    // lists now in force (running servers would do it within seconds too;
                    // both together only repeat reads).
                    println!("screening open cases and licences' cases again…");
                    let screener =
                        clearance_grpc::Screener::new(store.clone(), config.screening.threshold);
                    let settings = Arc::new(config.review.settings()?);
                    loop {
                        let found = clearance_grpc::screen_cases_behind(
                            &store,
                            &screener,
                            settings.clone(),
                            SystemClock.now(),
                        )
                        .await
                        .map_err(|e| anyhow::anyhow!("screening again: {e}"))?;
                        println!(
                            "screened against {} list versions: {} open cases and {} licences' cases, {} with new hits to resolve",
                            found.through, found.open_cases, found.licence_cases, found.flagged
                        );
                        if found.left == 0 {
                            break;
                        }
                        println!("{} cases moved meanwhile; screening them again", found.left);
                    }
                }
                clearance_store::Outcome::Applied(v) => println!(
                    "already imported as version {} on {}: nothing changed",
                    v.id,
                    v.import_time.format("%Y-%m-%d %H:%M UTC")
                ),
                clearance_store::Outcome::Replayed(_) => {
                    println!("already imported: nothing changed")
                }
            }
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    config.refuse_development_mode_on_the_network()?;
    let verifier = build_verifier(&config).await?;
    let store = connect_store(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    prepare(&config, &store, clock.now()).await?;
    tracing::info!(database = store.backend_name(), "database ready");
    let running = start(&config, store, verifier, clock).await?;
    let json = config.log_format == "json";
    if let Some(addr) = running.application_addr {
        say(
            json,
            &format!(
                "application service (ApplicationService, ShipmentService, EventService) on {addr}"
            ),
        );
    }
    if let Some(addr) = running.reviewer_addr {
        say(
            json,
            &format!("reviewer service (ReviewService, PolicyService, EventService) on {addr}"),
        );
    }
    if config.auth.mode == AuthMode::Development {
        say(
            json,
            "get a token: clearance token --role applicant --org acme   (or --role reviewer)",
        );
    }
    running.run_until_signal().await
}

async fn verify(
    config: &Config,
    checkpoints: Option<PathBuf>,
    verifier_key: Option<PathBuf>,
) -> anyhow::Result<()> {
    let store = Store::connect(&config.database_url, 1)
        .await
        .with_context(|| format!("connecting to {}", redact(&config.database_url)))?;
    let dir = checkpoints.unwrap_or_else(|| config.audit.checkpoint_dir.clone());
    let verifier = clearance_server::audit::verifier_for(config, verifier_key.as_deref())?;
    let started = std::time::Instant::now();
    let mut last_report = std::time::Instant::now();
    let report = clearance_server::audit::verify(&store, &dir, &verifier, &mut |entries| {
        if last_report.elapsed() >= std::time::Duration::from_secs(2) {
            last_report = std::time::Instant::now();
            eprintln!("… {entries} history entries checked");
        }
    })
    .await?;
    println!(
        "checked {} history chains ({} entries), the audit log ({} entries) against {} checkpoint(s) in {}, and {} licence lines in {:.1} s",
        report.chains,
        report.entries,
        report.log_entries,
        report.checkpoints,
        dir.display(),
        report.licence_lines,
        started.elapsed().as_secs_f64()
    );
    if report.is_intact() {
        println!(
            "intact: every chain verifies, every entry is in the audit log as signed, every application is in the state its history leads to, and every balance equals granted minus shipped"
        );
        return Ok(());
    }
    for problem in &report.problems {
        println!("MISMATCH {problem}");
    }
    anyhow::bail!(
        "{} problem(s) found; the first: {}",
        report.problem_count,
        report.problems.first().map(String::as_str).unwrap_or("")
    )
}

async fn checkpoint(config: &Config) -> anyhow::Result<()> {
    let signer = clearance_server::audit::Signer::from_config(config)?.ok_or_else(|| {
        anyhow::anyhow!("no audit signing key: set audit.signing_key_file (production mode)")
    })?;
    let store = Store::connect(&config.database_url, 1)
        .await
        .with_context(|| format!("connecting to {}", redact(&config.database_url)))?;
    store.migrate().await?;
    let stored = signer.checkpoint(&store, chrono::Utc::now()).await?;
    if !stored.new {
        eprintln!(
            "the log has not grown since the latest checkpoint (size {})",
            stored.size
        );
    }
    print!("{}", stored.note);
    Ok(())
}

fn token(
    config: &Config,
    roles: Vec<String>,
    org: Option<String>,
    subject: Option<String>,
    ttl: i64,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.auth.mode == AuthMode::Development,
        "tokens are minted only in development mode; production tokens come from your identity provider"
    );
    for role in &roles {
        anyhow::ensure!(
            Role::parse(role).is_some(),
            "unknown role '{role}' (applicant, erp, reviewer, senior_reviewer, policy_admin, auditor, adviser)"
        );
    }
    anyhow::ensure!(ttl > 0, "--ttl must be positive");
    let exporter = roles
        .iter()
        .filter_map(|r| Role::parse(r))
        .any(|r| r.is_exporter());
    let adviser = roles.iter().any(|r| Role::parse(r) == Some(Role::Adviser));
    anyhow::ensure!(
        !exporter || org.is_some(),
        "exporter roles (applicant, erp) act for an organisation: add --org NAME"
    );
    anyhow::ensure!(
        !adviser || org.is_some(),
        "an adviser acts for an advising agency: add --org AGENCY (e.g. defense)"
    );
    anyhow::ensure!(
        exporter || adviser || org.is_none(),
        "--org is only for exporter roles (applicant, erp) and advisers; regulator tokens carry none"
    );
    let subject = subject.unwrap_or_else(|| match &org {
        Some(o) => format!("{}@{o}", roles.join("+")),
        None => roles.join("+"),
    });
    // Mint only what the server will accept.
    clearance_auth::principal_from(clearance_auth::Claims {
        sub: subject.clone(),
        iss: config.auth.issuer.clone(),
        aud: config.auth.audience.clone().into(),
        exp: 0,
        nbf: None,
        iat: None,
        roles: roles.clone(),
        org: org.clone(),
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let key = DevKey::load_or_create(&config.auth.dev_key_dir)?;
    let token = key.mint(&TokenRequest {
        subject,
        roles,
        organisation: org,
        issuer: config.auth.issuer.clone(),
        audience: config.auth.audience.clone(),
        now: chrono::Utc::now(),
        lifetime_seconds: ttl,
    })?;
    println!("{token}");
    Ok(())
}
