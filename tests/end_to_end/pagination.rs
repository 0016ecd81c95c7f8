//! Keyset pagination with opaque, tamper-evident tokens.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clearance_proto::v1 as pb;
use clearance_tests::{ApplicationClient, TestApp, TestDb, on_both_databases};
use futures::StreamExt;
use tonic::Code;

use crate::fixtures::{assert_code, create_application, create_product, violated_fields};

async fn create_many(app: &TestApp, product: &str, count: usize) -> Vec<String> {
    futures::stream::iter(0..count)
        .map(|_| {
            let mut client = app.applicant("acme");
            let product = product.to_owned();
            async move { create_application(&mut client, &product).await.name }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

async fn page(client: &mut ApplicationClient, token: &str) -> pb::ListApplicationsResponse {
    client
        .list_applications(pb::ListApplicationsRequest {
            page_size: 100,
            page_token: token.into(),
            filter: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn pages_cover_every_application_once_while_new_ones_arrive(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let original: HashSet<String> = create_many(&app, &product.name, 250)
        .await
        .into_iter()
        .collect();
    assert_eq!(original.len(), 250);

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let response = page(&mut acme, &token).await;
        pages += 1;
        seen.extend(response.applications.into_iter().map(|a| a.name));
        // Others keep filing between page requests.
        create_many(&app, &product.name, 5).await;
        if response.next_page_token.is_empty() {
            break;
        }
        token = response.next_page_token;
        assert!(pages < 10, "pagination does not end");
    }
    let seen_set: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen_set.len(), seen.len(), "no application appears twice");
    assert!(
        original.is_subset(&seen_set),
        "every original application appears"
    );
    assert_eq!(pages, 3 + usize::from(seen.len() > 300));
}

async fn tampered_or_foreign_page_tokens_are_refused(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    for _ in 0..3 {
        create_application(&mut acme, &product.name).await;
    }
    let first = acme
        .list_applications(pb::ListApplicationsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.applications.len(), 1);
    let mut bytes = URL_SAFE_NO_PAD.decode(&first.next_page_token).unwrap();
    bytes[3] ^= 0x40;
    let tampered = URL_SAFE_NO_PAD.encode(bytes);
    for (token, filter) in [
        (tampered.as_str(), ""),
        ("not a token", ""),
        (first.next_page_token.as_str(), "state = DRAFT"),
    ] {
        let status = assert_code(
            acme.list_applications(pb::ListApplicationsRequest {
                page_size: 1,
                page_token: token.into(),
                filter: filter.into(),
            })
            .await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), ["page_token"]);
    }
    // Another organisation cannot use acme's token either.
    let mut globex = app.applicant("globex");
    assert_code(
        globex
            .list_applications(pb::ListApplicationsRequest {
                page_size: 1,
                page_token: first.next_page_token.clone(),
                filter: String::new(),
            })
            .await,
        Code::InvalidArgument,
    );
}

on_both_databases!(
    pages_cover_every_application_once_while_new_ones_arrive,
    tampered_or_foreign_page_tokens_are_refused,
);
