//! The product catalogue.

use clearance_proto::v1 as pb;
use clearance_tests::{TestApp, TestDb, on_both_databases};
use tonic::Code;

use crate::fixtures::{assert_code, create_product, h20, reason, request_id, violated_fields};

async fn a_product_is_created_read_listed_and_updated(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let created = create_product(&mut acme).await;
    assert!(created.name.starts_with("products/"));
    assert_eq!(created.etag, "\"v1\"");
    let params = created.parameters.unwrap();
    assert!((params.performance_density - 2368.0 / 814.0).abs() < 1e-9);

    let read = acme
        .get_product(pb::GetProductRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);

    let mut renamed = created.clone();
    renamed.display_name = "H20 (export SKU)".into();
    renamed.part_number = "ignored because not in the mask".into();
    let updated = acme
        .update_product(pb::UpdateProductRequest {
            request_id: request_id(),
            product: Some(renamed),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.display_name, "H20 (export SKU)");
    assert_eq!(updated.part_number, created.part_number);
    assert_eq!(updated.etag, "\"v2\"");

    let datacenter = acme
        .list_products(pb::ListProductsRequest {
            filter: r#"classification = "3A090.a" AND datacenter = true"#.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(datacenter.products, vec![updated]);
    let consumer = acme
        .list_products(pb::ListProductsRequest {
            filter: "datacenter = false".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(consumer.products.is_empty());
    let status = assert_code(
        acme.list_products(pb::ListProductsRequest {
            filter: "colour = red".into(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["filter"]);

    let history = app.store.history(&created.name, None).await.unwrap();
    let actions: Vec<&str> = history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["product.created", "product.updated"]);
    assert_eq!(app.store.outbox_count(&created.name).await.unwrap(), 2);
}

async fn invalid_products_are_refused_field_by_field_and_nothing_is_written(
    _db: &TestDb,
    app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let mut product = h20();
    product.display_name = "   ".into();
    product.part_number = "x".repeat(101);
    product.classification = "3A9".into();
    let params = product.parameters.as_mut().unwrap();
    params.die_area_mm2 = None;
    params.memory_bandwidth_gbps = Some(-1);
    let status = assert_code(
        acme.create_product(pb::CreateProductRequest {
            request_id: String::new(),
            product: Some(product),
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(reason(&status), "INVALID_ARGUMENT");
    assert_eq!(
        violated_fields(&status),
        [
            "request_id",
            "product.display_name",
            "product.part_number",
            "product.classification",
            "product.parameters.die_area_mm2",
            "product.parameters.memory_bandwidth_gbps",
        ]
    );
    let status = assert_code(
        acme.create_product(pb::CreateProductRequest {
            request_id: request_id(),
            product: None,
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["product"]);
    let listed = acme
        .list_products(pb::ListProductsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.products.is_empty());
}

async fn a_stale_etag_is_aborted_and_changes_nothing(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let created = create_product(&mut acme).await;
    let mut first = created.clone();
    first.display_name = "first".into();
    acme.update_product(pb::UpdateProductRequest {
        request_id: request_id(),
        product: Some(first),
        update_mask: None,
    })
    .await
    .unwrap();
    let mut second = created.clone();
    second.display_name = "second, from a stale read".into();
    let status = assert_code(
        acme.update_product(pb::UpdateProductRequest {
            request_id: request_id(),
            product: Some(second),
            update_mask: None,
        })
        .await,
        Code::Aborted,
    );
    assert_eq!(reason(&status), "STALE_ETAG");
    let now = acme
        .get_product(pb::GetProductRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(now.display_name, "first");
    assert_eq!(now.etag, "\"v2\"");

    let mut unmasked = now.clone();
    unmasked.etag = String::new();
    let status = assert_code(
        acme.update_product(pb::UpdateProductRequest {
            request_id: request_id(),
            product: Some(unmasked),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["colour".into()],
            }),
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["update_mask", "product.etag"]);
}

on_both_databases!(
    a_product_is_created_read_listed_and_updated,
    invalid_products_are_refused_field_by_field_and_nothing_is_written,
    a_stale_etag_is_aborted_and_changes_nothing,
);
