//! Two `clearance serve` processes on one PostgreSQL database with one signing key: what must
//! hold across replicas holds. 64 shipments released together, split across both, on a licence
//! with 10 units left: exactly 10 succeed; an exporter's stream on one replica sees the other's
//! shipments in order, once each; and a live stream follows 16 concurrent writers on both
//! replicas without skipping an event; both sign the audit log's checkpoints, never two for
//! one size, and the database verifies against either replica's files.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use clearance_auth::{DevKey, TokenRequest};
use clearance_proto::v1 as pb;
use clearance_proto::v1::application_service_client::ApplicationServiceClient;
use clearance_proto::v1::event_service_client::EventServiceClient;
use clearance_proto::v1::review_service_client::ReviewServiceClient;
use clearance_proto::v1::shipment_service_client::ShipmentServiceClient;
use tonic::transport::Channel;

/// Kills the server process when the test ends, however it ends.
struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(url: &str, keys: &Path, dir: &Path, service: &str, app: u16, rev: u16) -> Replica {
    Replica(
        Command::new(env!("CARGO_BIN_EXE_clearance"))
            .args(["serve", "--service", service])
            .current_dir(dir)
            .env("CLEARANCE_DATABASE_URL", url)
            .env("CLEARANCE_AUTH__DEV_KEY_DIR", keys)
            .env("CLEARANCE_APPLICATION_LISTEN", format!("127.0.0.1:{app}"))
            .env("CLEARANCE_REVIEWER_LISTEN", format!("127.0.0.1:{rev}"))
            // Each replica signs the audit log every second, into a directory of its own.
            .env("CLEARANCE_AUDIT__CHECKPOINT_INTERVAL_SECONDS", "1")
            .env(
                "CLEARANCE_AUDIT__CHECKPOINT_DIR",
                dir.join(format!("checkpoints-{app}")),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clearance serve"),
    )
}

async fn connect(port: u16) -> Channel {
    for _ in 0..600 {
        if let Ok(channel) = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
        {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
            let serving = health
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok_and(|r| r.into_inner().status == 1);
            if serving {
                return channel;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no replica answers on port {port}");
}

type AddBearer =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send + Sync>;
type Authed = tonic::service::interceptor::InterceptedService<Channel, AddBearer>;

fn bearer(token: String) -> AddBearer {
    let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    Box::new(move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", value.clone());
        Ok(request)
    })
}

fn authed(channel: &Channel, token: String) -> Authed {
    tonic::service::interceptor::InterceptedService::new(channel.clone(), bearer(token))
}

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_exact_ledger_and_one_ordered_stream() {
    let Some(database) = crate::support::FreshDatabase::create("clearance_replicas_test").await
    else {
        return;
    };
    let url = database.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let key = DevKey::load_or_create(&keys).unwrap();
    let token = |subject: &str, role: &str, org: Option<&str>| {
        key.mint(&TokenRequest {
            subject: subject.into(),
            roles: vec![role.into()],
            organisation: org.map(String::from),
            issuer: "clearance-dev".into(),
            audience: "clearance".into(),
            now: chrono::Utc::now(),
            lifetime_seconds: 3600,
        })
        .unwrap()
    };
    let (a_app, a_rev, b_app, b_rev) = (free_port(), free_port(), free_port(), free_port());
    let _a = serve(&url, &keys, dir.path(), "both", a_app, a_rev);
    let _b = serve(&url, &keys, dir.path(), "application", b_app, b_rev);
    let (a, reviewer, b) = (
        connect(a_app).await,
        connect(a_rev).await,
        connect(b_app).await,
    );

    // A licence for 10 units, issued through replica A.
    let officer_token = token("olivia@acme", "applicant", Some("acme"));
    let mut officer = ApplicationServiceClient::new(authed(&a, officer_token.clone()));
    let product = officer
        .create_product(pb::CreateProductRequest {
            request_id: id(),
            product: Some(pb::Product {
                display_name: "H20".into(),
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
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let end_user = pb::Party {
        role: pb::PartyRole::EndUser as i32,
        display_name: "Example Cloud Ltd".into(),
        address: "1 Example Road, Shenzhen".into(),
        country_code: "CN".into(),
        headquarters_country_code: "CN".into(),
    };
    let draft = officer
        .create_application(pb::CreateApplicationRequest {
            request_id: id(),
            application: Some(pb::Application {
                destination_country_code: "CN".into(),
                end_use_statement: "Inference serving".into(),
                parties: vec![end_user.clone()],
                lines: vec![pb::ApplicationLine {
                    product: product.name.clone(),
                    quantity: 10,
                    unit_value: Some(pb::Money {
                        currency_code: "USD".into(),
                        minor_units: 10_000,
                    }),
                    determination: None,
                }],
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let submitted = officer
        .submit_application(pb::SubmitApplicationRequest {
            name: draft.name.clone(),
            request_id: id(),
            etag: draft.etag,
            declaration_confirmed: true,
        })
        .await
        .unwrap()
        .into_inner();
    let mut alice = ReviewServiceClient::new(authed(&reviewer, token("alice", "reviewer", None)));
    let mut bob =
        ReviewServiceClient::new(authed(&reviewer, token("bob", "senior_reviewer", None)));
    let case = alice
        .assign_case(pb::AssignCaseRequest {
            name: submitted.name.clone(),
            request_id: id(),
            etag: submitted.etag,
            assignee: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let case = alice
        .propose_decision(pb::ProposeDecisionRequest {
            name: case.name.clone(),
            request_id: id(),
            etag: case.etag,
            approve: true,
            reason: "verified".into(),
            value_tolerance_percent: Some(25),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    bob.countersign_decision(pb::CountersignDecisionRequest {
        name: case.name.clone(),
        request_id: id(),
        etag: case.etag,
    })
    .await
    .unwrap();

    // 64 one-unit shipments released together, alternating between the replicas.
    let erp_token = token("sap@acme", "erp", Some("acme"));
    let barrier = Arc::new(tokio::sync::Barrier::new(64));
    let mut calls = Vec::new();
    for i in 0..64 {
        let channel = if i % 2 == 0 { a.clone() } else { b.clone() };
        let mut client = ShipmentServiceClient::new(authed(&channel, erp_token.clone()));
        let request = pb::StartShipmentRequest {
            request_id: id(),
            shipment: Some(pb::Shipment {
                destination_country_code: "CN".into(),
                end_user: Some(end_user.clone()),
                lines: vec![pb::ShipmentLine {
                    product: product.name.clone(),
                    quantity: 1,
                    value: Some(pb::Money {
                        currency_code: "USD".into(),
                        minor_units: 10_000,
                    }),
                }],
                ..Default::default()
            }),
        };
        let barrier = barrier.clone();
        calls.push(tokio::spawn(async move {
            barrier.wait().await;
            client.start_shipment(request).await
        }));
    }
    let mut started = Vec::new();
    for call in calls {
        match call.await.unwrap() {
            Ok(shipment) => started.push(shipment.into_inner().name),
            Err(status) => assert_eq!(
                status.code(),
                tonic::Code::FailedPrecondition,
                "a refusal, not a fault: {status:?}"
            ),
        }
    }
    assert_eq!(started.len(), 10, "exactly the 10 units left were shipped");

    // The exporter's stream on replica B sees every shipment, wherever it was made, in order
    // and once each.
    let mut events = EventServiceClient::new(authed(&b, erp_token));
    let mut stream = events
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    let mut cursors = Vec::new();
    while seen.len() < started.len() {
        let event = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .expect("the stream keeps up")
            .unwrap()
            .expect("the stream stays open");
        cursors.push(event.cursor.clone());
        if event.r#type == "shipment.started" {
            seen.push(event.resource);
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "each shipment once");
    let mut expected = started.clone();
    expected.sort();
    assert_eq!(unique, expected);
    let positions: Vec<i64> = cursors
        .iter()
        .map(|c| clearance_grpc::decode_cursor(c).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in commit order");

    drop(stream);

    // 16 writers, half on each replica, while a stream on replica B follows live: it receives
    // every event once, in strictly increasing positions, none skipped.
    let mut live = EventServiceClient::new(authed(&b, officer_token.clone()))
        .watch_events(pb::WatchEventsRequest {
            after_cursor: cursors.last().cloned().unwrap_or_default(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let mut writers = Vec::new();
    for i in 0..16 {
        let channel = if i % 2 == 0 { a.clone() } else { b.clone() };
        let mut client = ApplicationServiceClient::new(authed(&channel, officer_token.clone()));
        let barrier = barrier.clone();
        let template = product.clone();
        writers.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut created = Vec::new();
            for j in 0..5 {
                let p = pb::Product {
                    display_name: format!("part {i}-{j}"),
                    part_number: template.part_number.clone(),
                    classification: template.classification.clone(),
                    datacenter: template.datacenter,
                    parameters: template.parameters,
                    ..Default::default()
                };
                let made = client
                    .create_product(pb::CreateProductRequest {
                        request_id: id(),
                        product: Some(p),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                created.push(made.name);
            }
            created
        }));
    }
    let mut created = Vec::new();
    for w in writers {
        created.extend(w.await.unwrap());
    }
    let mut followed = Vec::new();
    let mut last = positions.last().copied().unwrap_or(0);
    while followed.len() < created.len() {
        let event = tokio::time::timeout(Duration::from_secs(30), live.message())
            .await
            .expect("the live stream keeps up")
            .unwrap()
            .expect("the stream stays open");
        let position = clearance_grpc::decode_cursor(&event.cursor).unwrap();
        assert!(position > last, "positions only increase");
        last = position;
        if event.r#type == "product.created" {
            followed.push(event.resource);
        }
    }
    created.sort();
    followed.sort();
    assert_eq!(followed, created, "every write seen once, none skipped");

    // Both replicas signed checkpoints of the one log; for every size both signed, they
    // signed the same root, and the database verifies against either's files.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let signed = |port: u16| -> std::collections::BTreeMap<String, String> {
        std::fs::read_dir(dir.path().join(format!("checkpoints-{port}")))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "checkpoint"))
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            std::fs::read_to_string(e.path()).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (from_a, from_b) = (signed(a_app), signed(b_app));
    assert!(from_a.len() + from_b.len() >= 2, "{from_a:?} {from_b:?}");
    for (size, note) in &from_a {
        if let Some(other) = from_b.get(size) {
            assert_eq!(note, other, "two checkpoints for {size}");
        }
    }
    for port in [a_app, b_app] {
        let checkpoints = dir.path().join(format!("checkpoints-{port}"));
        if !checkpoints.join("verifier.vkey").exists() {
            continue;
        }
        let verified = Command::new(env!("CARGO_BIN_EXE_clearance"))
            .args(["verify", "--checkpoints"])
            .arg(&checkpoints)
            .arg("--verifier-key")
            .arg(checkpoints.join("verifier.vkey"))
            .current_dir(dir.path())
            .env("CLEARANCE_DATABASE_URL", &url)
            .env("CLEARANCE_AUTH__DEV_KEY_DIR", &keys)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&verified.stdout);
        assert!(
            verified.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&verified.stderr)
        );
        assert!(said.contains("intact"), "{said}");
    }

    drop(live);
    drop((_a, _b));
    database.drop_database().await;
}
