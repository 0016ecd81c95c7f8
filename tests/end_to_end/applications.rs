//! Draft applications: validation, editing, concurrency and their history.

use clearance_domain::history::verify_chain;
use clearance_proto::v1 as pb;
use clearance_tests::{TestApp, TestDb, on_both_databases};
use tonic::Code;

use crate::fixtures::{
    all_applications, assert_code, create_application, create_product, draft, line, reason,
    request_id, violated_fields,
};

async fn a_draft_is_created_read_listed_and_edited(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let created = create_application(&mut acme, &product.name).await;
    assert_eq!(created.state, pb::ApplicationState::Draft as i32);
    assert_eq!(created.applicant, "organisations/acme");
    assert!(
        created.reference.starts_with("CL-"),
        "{}",
        created.reference
    );
    assert_eq!(created.lines, vec![line(&product.name, 100)]);

    let read = acme
        .get_application(pb::GetApplicationRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
    assert_eq!(all_applications(&mut acme).await, vec![created.clone()]);

    let mut edit = created.clone();
    edit.lines = vec![line(&product.name, 40)];
    edit.destination_country_code = "hk".into();
    let edited = acme
        .update_application(pb::UpdateApplicationRequest {
            request_id: request_id(),
            application: Some(edit),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["lines".into(), "destination_country_code".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited.lines[0].quantity, 40);
    assert_eq!(edited.destination_country_code, "HK");
    assert_eq!(edited.parties, created.parties);
    assert_eq!(edited.reference, created.reference);

    let hong_kong = acme
        .list_applications(pb::ListApplicationsRequest {
            filter: r#"state = APPLICATION_STATE_DRAFT AND destination_country_code = "HK""#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hong_kong.applications, vec![edited]);

    let history = app
        .store
        .history(&created.name, Some("acme"))
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].previous_entry_sha256, history[0].entry_sha256);
    assert_eq!(verify_chain(&history).first_broken_sequence, None);
    assert_eq!(app.store.outbox_count(&created.name).await.unwrap(), 2);
}

async fn invalid_applications_name_every_bad_field_and_write_nothing(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let mut bad = draft(&product.name);
    bad.destination_country_code = "XX".into();
    bad.end_use_statement = "e".repeat(4001);
    bad.parties[0].display_name = String::new();
    bad.lines = vec![line(&product.name, 0), line("products/not-an-id", -3)];
    bad.lines[1].unit_value.as_mut().unwrap().currency_code = "ZZZ".into();
    let status = assert_code(
        acme.create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(bad),
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        [
            "application.destination_country_code",
            "application.end_use_statement",
            "application.parties[0].display_name",
            "application.lines[0].quantity",
            "application.lines[1].product",
            "application.lines[1].quantity",
            "application.lines[1].unit_value.currency_code",
        ]
    );

    let mut too_many = draft(&product.name);
    too_many.lines = (0..101).map(|_| line(&product.name, 1)).collect();
    let status = assert_code(
        acme.create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(too_many),
        })
        .await,
        Code::InvalidArgument,
    );
    assert!(violated_fields(&status).contains(&"application.lines".to_string()));

    let mut unknown_product = draft(&product.name);
    unknown_product.lines = vec![line(&format!("products/{}", uuid::Uuid::now_v7()), 1)];
    let status = assert_code(
        acme.create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(unknown_product),
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["application.lines[0].product"]);

    assert!(all_applications(&mut acme).await.is_empty());
}

async fn concurrent_edits_with_one_etag_let_exactly_one_through(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let created = create_application(&mut acme, &product.name).await;
    let attempts = 8;
    let mut tasks = Vec::new();
    for i in 0..attempts {
        let mut client = app.applicant("acme");
        let mut edit = created.clone();
        edit.end_use_statement = format!("edit number {i}");
        tasks.push(tokio::spawn(async move {
            client
                .update_application(pb::UpdateApplicationRequest {
                    request_id: request_id(),
                    application: Some(edit),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["end_use_statement".into()],
                    }),
                })
                .await
        }));
    }
    let mut won = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(r) => won.push(r.into_inner()),
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "{status:?}");
                assert_eq!(reason(&status), "STALE_ETAG");
            }
        }
    }
    assert_eq!(won.len(), 1, "exactly one edit wins");
    let now = acme
        .get_application(pb::GetApplicationRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now, won[0]);
    let history = app.store.history(&created.name, None).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(verify_chain(&history).first_broken_sequence, None);
}

on_both_databases!(
    a_draft_is_created_read_listed_and_edited,
    invalid_applications_name_every_bad_field_and_write_nothing,
    concurrent_edits_with_one_etag_let_exactly_one_through,
);
