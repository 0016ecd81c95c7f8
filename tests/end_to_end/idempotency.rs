//! `request_id`: retries return the first response and write once.

use clearance_proto::v1 as pb;
use clearance_tests::{TestApp, TestDb, on_both_databases};
use prost::Message;
use tonic::Code;

use crate::fixtures::{all_applications, assert_code, create_product, draft, reason, request_id};

async fn a_retry_returns_the_identical_response_and_writes_once(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let request = pb::CreateApplicationRequest {
        request_id: request_id(),
        application: Some(draft(&product.name)),
    };
    let first = acme
        .create_application(request.clone())
        .await
        .unwrap()
        .into_inner();
    let second = acme
        .create_application(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.encode_to_vec(),
        second.encode_to_vec(),
        "byte for byte"
    );
    assert_eq!(all_applications(&mut acme).await.len(), 1);
    assert_eq!(app.store.history(&first.name, None).await.unwrap().len(), 1);

    let mut other = request.clone();
    other.application.as_mut().unwrap().destination_country_code = "DE".into();
    let status = assert_code(acme.create_application(other).await, Code::InvalidArgument);
    assert_eq!(reason(&status), "REQUEST_ID_REUSED");
    assert_eq!(all_applications(&mut acme).await.len(), 1);

    // The same key on another method is a reuse too.
    let status = assert_code(
        acme.create_product(pb::CreateProductRequest {
            request_id: request.request_id.clone(),
            product: Some(crate::fixtures::h20()),
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(reason(&status), "REQUEST_ID_REUSED");
}

async fn a_replayed_update_returns_the_first_response_even_after_later_changes(
    _db: &TestDb,
    app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let mut edit = product.clone();
    edit.display_name = "renamed".into();
    let update = pb::UpdateProductRequest {
        request_id: request_id(),
        product: Some(edit),
        update_mask: None,
    };
    let first = acme
        .update_product(update.clone())
        .await
        .unwrap()
        .into_inner();
    let mut later = first.clone();
    later.display_name = "renamed again".into();
    acme.update_product(pb::UpdateProductRequest {
        request_id: request_id(),
        product: Some(later),
        update_mask: None,
    })
    .await
    .unwrap();
    // The retry carries the old etag, yet it is answered from the record, not refused.
    let replay = acme.update_product(update).await.unwrap().into_inner();
    assert_eq!(replay, first);
    assert_eq!(
        app.store.history(&product.name, None).await.unwrap().len(),
        3
    );
}

async fn concurrent_retries_of_one_request_write_once(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let request = pb::CreateApplicationRequest {
        request_id: request_id(),
        application: Some(draft(&product.name)),
    };
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut client = app.applicant("acme");
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            client.create_application(request).await
        }));
    }
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(
            task.await
                .unwrap()
                .expect("every retry succeeds")
                .into_inner()
                .encode_to_vec(),
        );
    }
    assert!(
        responses.windows(2).all(|w| w[0] == w[1]),
        "identical responses"
    );
    assert_eq!(all_applications(&mut acme).await.len(), 1);
}

on_both_databases!(
    a_retry_returns_the_identical_response_and_writes_once,
    a_replayed_update_returns_the_first_response_even_after_later_changes,
    concurrent_retries_of_one_request_write_once,
);
