//! Health, reflection, unbuilt methods and graceful shutdown.

use std::time::Duration;

use clearance_tests::{TestApp, TestDb, health, on_both_databases};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

async fn listed_services(channel: &Channel) -> Vec<String> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("reflection reply")
        .expect("one reply");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            names.sort();
            names
        }
        other => panic!("unexpected reflection reply {other:?}"),
    }
}

async fn both_services_report_serving_and_list_their_services(_db: &TestDb, app: TestApp) {
    for service in [
        "",
        "clearance.v1.ApplicationService",
        "clearance.v1.ShipmentService",
        "clearance.v1.EventService",
    ] {
        assert_eq!(
            health(&app.application_channel, service).await,
            ServingStatus::Serving,
            "{service}"
        );
    }
    for service in [
        "",
        "clearance.v1.ReviewService",
        "clearance.v1.PolicyService",
        "clearance.v1.EventService",
    ] {
        assert_eq!(
            health(&app.reviewer_channel, service).await,
            ServingStatus::Serving,
            "{service}"
        );
    }
    let mut all = listed_services(&app.application_channel).await;
    assert!(all.contains(&"clearance.v1.ApplicationService".to_string()));
    assert!(all.contains(&"grpc.health.v1.Health".to_string()));
    all.extend(listed_services(&app.reviewer_channel).await);
    for service in [
        "clearance.v1.ApplicationService",
        "clearance.v1.ShipmentService",
        "clearance.v1.ReviewService",
        "clearance.v1.PolicyService",
        "clearance.v1.EventService",
    ] {
        assert!(
            all.contains(&service.to_string()),
            "{service} not listed: {all:?}"
        );
    }
}

async fn shutdown_reports_not_serving_before_it_stops(_db: &TestDb, mut app: TestApp) {
    let running = app
        .running
        .take()
        .expect("running")
        .with_grace(Duration::from_secs(2));
    let stopping = tokio::spawn(running.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        health(&app.application_channel, "").await,
        ServingStatus::NotServing
    );
    assert_eq!(
        health(&app.reviewer_channel, "clearance.v1.ReviewService").await,
        ServingStatus::NotServing
    );
    stopping.await.expect("join").expect("graceful shutdown");
}

on_both_databases!(
    both_services_report_serving_and_list_their_services,
    shutdown_reports_not_serving_before_it_stops,
    readiness_follows_the_database_and_liveness_does_not,
);

/// Liveness ("") never depends on the database; readiness (a service name) does.
async fn readiness_follows_the_database_and_liveness_does_not(db: &TestDb, app: TestApp) {
    let Some(name) = db.postgres_database() else {
        // The embedded database cannot be taken away from a running process.
        return;
    };
    let admin = clearance_tests::postgres_admin_url();
    clearance_store::execute_statement(
        &admin,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
    )
    .await
    .unwrap();
    clearance_store::execute_statement(
        &admin,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    )
    .await
    .unwrap();
    let mut ready = ServingStatus::Serving;
    for _ in 0..300 {
        ready = health(&app.application_channel, "clearance.v1.ApplicationService").await;
        if ready == ServingStatus::NotServing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ready,
        ServingStatus::NotServing,
        "readiness follows the database"
    );
    assert_eq!(
        health(&app.application_channel, "").await,
        ServingStatus::Serving,
        "liveness does not"
    );
    clearance_store::execute_statement(
        &admin,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .await
    .unwrap();
    for _ in 0..300 {
        ready = health(&app.application_channel, "clearance.v1.ApplicationService").await;
        if ready == ServingStatus::Serving {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, ServingStatus::Serving, "ready again once it answers");
}
