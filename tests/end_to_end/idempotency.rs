//! `request_id`: retries return the first response and write once.

use clearance_grpc::Clock;
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
    a_lost_shipment_answer_resent_after_a_listing_or_the_window_gets_the_shipment,
    a_submission_resent_after_withdrawal_and_deletion_gets_its_first_answer,
    an_erp_failing_over_to_another_service_account_ships_once,
);

/// Replay first: a StartShipment whose answer was lost, resent byte for byte after a list now
/// names its end user, or after its shipment time has left the window, answers the shipment
/// that was started (the licence was drawn; the ERP must not conclude nothing shipped).
async fn a_lost_shipment_answer_resent_after_a_listing_or_the_window_gets_the_shipment(
    _db: &TestDb,
    app: TestApp,
) {
    use crate::ledger::{erp, licensed, shipment};
    let (product, _) = licensed(&app, "acme", 100).await;
    let mut shipper = erp(&app, "acme");
    let now = app.clock.now();
    let mut dated = shipment(&product, 5, 50_000);
    // Just after the licence's first instant (which has sub-second precision).
    dated.shipment_time = Some(prost_types::Timestamp {
        seconds: now.timestamp() + 1,
        nanos: 0,
    });
    let before_window = pb::StartShipmentRequest {
        request_id: request_id(),
        shipment: Some(dated),
    };
    let before_listing = pb::StartShipmentRequest {
        request_id: request_id(),
        shipment: Some(shipment(&product, 7, 70_000)),
    };
    let mut first = Vec::new();
    for request in [&before_window, &before_listing] {
        first.push(
            shipper
                .start_shipment(request.clone())
                .await
                .expect("shipped")
                .into_inner(),
        );
    }

    crate::screening::import_csl(&app).await;
    let fresh = pb::StartShipmentRequest {
        request_id: request_id(),
        ..before_listing.clone()
    };
    let status = assert_code(
        shipper.start_shipment(fresh).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status), "DENIED_PARTY", "a new shipment is refused");
    let again = shipper
        .start_shipment(before_listing.clone())
        .await
        .expect("the retry gets the first answer")
        .into_inner();
    assert_eq!(
        again.encode_to_vec(),
        first[1].encode_to_vec(),
        "byte for byte"
    );

    app.clock.set(now + chrono::Duration::hours(80));
    let again = shipper
        .start_shipment(before_window.clone())
        .await
        .expect("the retry gets the first answer")
        .into_inner();
    assert_eq!(
        again.encode_to_vec(),
        first[0].encode_to_vec(),
        "byte for byte"
    );

    // A different request under a used id is still a reuse, never a replay.
    let mut other = before_window.clone();
    other.shipment.as_mut().unwrap().lines[0].quantity = 6;
    let status = assert_code(shipper.start_shipment(other).await, Code::InvalidArgument);
    assert!(
        ["REQUEST_ID_REUSED", "INVALID_ARGUMENT"].contains(&reason(&status).as_str()),
        "{status:?}"
    );
    let shipped: i64 = shipper
        .list_shipments(pb::ListShipmentsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shipments
        .iter()
        .map(|s| s.lines[0].quantity)
        .sum();
    assert_eq!(shipped, 12, "each shipment once");
}

/// A submission resent after its application was withdrawn and its document deleted answers
/// what the submission answered.
async fn a_submission_resent_after_withdrawal_and_deletion_gets_its_first_answer(
    _db: &TestDb,
    app: TestApp,
) {
    use crate::fixtures::{pdf, upload};
    let mut acme = app.applicant("acme");
    let document = upload(&mut acme, "end-use.pdf", "application/pdf", &pdf(2_000))
        .await
        .expect("upload");
    let product = create_product(&mut acme).await;
    let mut application = draft(&product.name);
    application.documents = vec![document.clone()];
    let created = acme
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        })
        .await
        .expect("create")
        .into_inner();
    let submission = pb::SubmitApplicationRequest {
        name: created.name.clone(),
        request_id: request_id(),
        etag: created.etag.clone(),
        declaration_confirmed: true,
    };
    let submitted = acme
        .submit_application(submission.clone())
        .await
        .expect("submit")
        .into_inner();
    acme.withdraw_application(pb::WithdrawApplicationRequest {
        name: created.name.clone(),
        request_id: request_id(),
        etag: submitted.etag.clone(),
        reason: "order cancelled".into(),
    })
    .await
    .expect("withdraw");
    acme.delete_document(pb::DeleteDocumentRequest {
        sha256: document.sha256.clone(),
    })
    .await
    .expect("delete the document of a withdrawn application");
    let again = acme
        .submit_application(submission)
        .await
        .expect("the retry gets the first answer")
        .into_inner();
    assert_eq!(
        again.encode_to_vec(),
        submitted.encode_to_vec(),
        "byte for byte"
    );
}

/// An exporter's request ids belong to the organisation: an ERP system that fails over to a
/// second service account and resends a lost StartShipment gets the first answer, and ships
/// once.
async fn an_erp_failing_over_to_another_service_account_ships_once(_db: &TestDb, app: TestApp) {
    use crate::ledger::{licensed, shipment};
    use clearance_proto::v1::shipment_service_client::ShipmentServiceClient;
    let (product, _) = licensed(&app, "acme", 100).await;
    let erp = |subject: &str| {
        ShipmentServiceClient::with_interceptor(
            app.application_channel.clone(),
            clearance_tests::Bearer::new(Some(app.token_for(subject, &["erp"], Some("acme")))),
        )
    };
    let request = pb::StartShipmentRequest {
        request_id: request_id(),
        shipment: Some(shipment(&product, 3, 30_000)),
    };
    let first = erp("erp-primary@acme")
        .start_shipment(request.clone())
        .await
        .expect("ship")
        .into_inner();
    let again = erp("erp-standby@acme")
        .start_shipment(request)
        .await
        .expect("the standby's retry")
        .into_inner();
    assert_eq!(
        again.encode_to_vec(),
        first.encode_to_vec(),
        "byte for byte"
    );
    let shipped = erp("erp-standby@acme")
        .list_shipments(pb::ListShipmentsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shipments;
    assert_eq!(shipped.len(), 1, "shipped once");
}
