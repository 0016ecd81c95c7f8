//! The event stream: in commit order, resumable, scoped, and gap-free under concurrent writers.

use std::time::Duration;

use clearance_proto::v1 as pb;
use clearance_proto::v1::event_service_client::EventServiceClient;
use clearance_tests::{Bearer, TestApp, TestDb, on_both_databases};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

use crate::fixtures::{assert_code, create_product};

pub async fn collect(
    channel: &Channel,
    token: String,
    after: &str,
    count: usize,
) -> Vec<pb::Event> {
    let mut client =
        EventServiceClient::with_interceptor(channel.clone(), Bearer::new(Some(token)));
    let mut stream = client
        .watch_events(pb::WatchEventsRequest {
            after_cursor: after.into(),
            ..Default::default()
        })
        .await
        .expect("watch")
        .into_inner();
    let mut events = Vec::new();
    while events.len() < count {
        match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
            Ok(Some(Ok(event))) => events.push(event),
            other => panic!(
                "stream ended after {} of {count} events: {other:?}",
                events.len()
            ),
        }
    }
    events
}

async fn each_organisation_follows_its_own_events_and_resumes(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let mut globex = app.applicant("globex");
    let first = create_product(&mut acme).await;
    create_product(&mut globex).await;
    let second = create_product(&mut acme).await;
    let third = create_product(&mut acme).await;

    let token = app.token(&["erp"], Some("acme"));
    let events = collect(&app.application_channel, token.clone(), "", 3).await;
    let resources: Vec<&str> = events.iter().map(|e| e.resource.as_str()).collect();
    assert_eq!(
        resources,
        [
            first.name.as_str(),
            second.name.as_str(),
            third.name.as_str()
        ]
    );
    assert!(events.iter().all(|e| e.r#type == "product.created"));

    let resumed = collect(&app.application_channel, token, &events[0].cursor, 2).await;
    assert_eq!(resumed, events[1..].to_vec());

    // The regulator sees every organisation's events.
    let all = collect(&app.reviewer_channel, app.token(&["auditor"], None), "", 4).await;
    assert_eq!(all.len(), 4);

    let mut client = EventServiceClient::with_interceptor(
        app.application_channel.clone(),
        Bearer::new(Some(app.token(&["erp"], Some("acme")))),
    );
    assert_code(
        client
            .watch_events(pb::WatchEventsRequest {
                after_cursor: "not-a-cursor".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );

    // From the end: only what is committed after the stream starts.
    let mut from_now = client
        .watch_events(pb::WatchEventsRequest {
            start_at_end: true,
            ..Default::default()
        })
        .await
        .expect("watch from the end")
        .into_inner();
    let fourth = create_product(&mut acme).await;
    let next = tokio::time::timeout(Duration::from_secs(30), from_now.next())
        .await
        .expect("an event")
        .expect("the stream is open")
        .expect("an event");
    assert_eq!(next.resource, fourth.name);
    assert_code(
        client
            .watch_events(pb::WatchEventsRequest {
                after_cursor: events[0].cursor.clone(),
                start_at_end: true,
            })
            .await,
        Code::InvalidArgument,
    );
}

async fn concurrent_writers_never_make_the_stream_skip(_db: &TestDb, app: TestApp) {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let watcher = {
        let channel = app.reviewer_channel.clone();
        let token = app.token(&["auditor"], None);
        tokio::spawn(async move { collect(&channel, token, "", WRITERS * EACH).await })
    };
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let mut client = app.applicant(&format!("org{w}"));
        tasks.push(tokio::spawn(async move {
            for _ in 0..EACH {
                create_product(&mut client).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = watcher.await.unwrap();
    let mut positions: Vec<i64> = events
        .iter()
        .map(|e| clearance_grpc::decode_cursor(&e.cursor).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "delivered in commit order"
    );
    positions.dedup();
    assert_eq!(positions.len(), WRITERS * EACH, "every event exactly once");
}

on_both_databases!(
    each_organisation_follows_its_own_events_and_resumes,
    concurrent_writers_never_make_the_stream_skip,
);
