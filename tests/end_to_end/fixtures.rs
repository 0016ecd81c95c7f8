//! Sample requests and assertions shared by the scenarios.

use clearance_proto::v1 as pb;
use clearance_proto::v1::upload_document_request::Part;
use clearance_tests::ApplicationClient;
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// An H20-class accelerator.
pub fn h20() -> pb::Product {
    pb::Product {
        display_name: "H20".into(),
        part_number: "900-2G133-0000-000".into(),
        classification: "3A090.a".into(),
        datacenter: true,
        parameters: Some(pb::TechnicalParameters {
            total_processing_performance: Some(2368),
            die_area_mm2: Some(814),
            memory_bandwidth_gbps: Some(4000),
            io_bandwidth_gbps: Some(900),
            performance_density: 0.0,
        }),
        us_commercially_available_since: "2024-03-01".into(),
        ..Default::default()
    }
}

/// Every certification the January 2026 rule's case-by-case review asks for (91 FR 1684),
/// stating `us_units` shipped to US customers.
pub fn january_2026_certifications(us_units: i64) -> Vec<pb::Certification> {
    [
        "below-performance-criteria",
        "us-supply-sufficient",
        "no-foundry-diversion",
        "china-within-half-of-us-shipments",
        "no-end-use-prohibition",
        "consignee-know-your-customer",
        "third-party-testing",
    ]
    .into_iter()
    .map(|key| pb::Certification {
        key: key.into(),
        figure: (key == "china-within-half-of-us-shipments").then_some(us_units),
    })
    .collect()
}

pub fn line(product: &str, quantity: i64) -> pb::ApplicationLine {
    pb::ApplicationLine {
        product: product.into(),
        quantity,
        unit_value: Some(pb::Money {
            currency_code: "USD".into(),
            minor_units: 1_250_000,
        }),
        determination: None,
    }
}

/// A complete draft for `product` to China.
pub fn draft(product: &str) -> pb::Application {
    pb::Application {
        destination_country_code: "CN".into(),
        end_use_statement: "Inference serving in a commercial cloud".into(),
        parties: vec![pb::Party {
            role: pb::PartyRole::EndUser as i32,
            display_name: "Example Cloud Ltd".into(),
            address: "1 Example Road, Shenzhen".into(),
            country_code: "CN".into(),
            headquarters_country_code: "CN".into(),
        }],
        lines: vec![line(product, 100)],
        ..Default::default()
    }
}

pub async fn create_product(client: &mut ApplicationClient) -> pb::Product {
    client
        .create_product(pb::CreateProductRequest {
            request_id: request_id(),
            product: Some(h20()),
        })
        .await
        .expect("create product")
        .into_inner()
}

pub async fn create_application(client: &mut ApplicationClient, product: &str) -> pb::Application {
    client
        .create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(draft(product)),
        })
        .await
        .expect("create application")
        .into_inner()
}

/// Every application of the caller, following page tokens.
pub async fn all_applications(client: &mut ApplicationClient) -> Vec<pb::Application> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_applications(pb::ListApplicationsRequest {
                page_size: 1000,
                page_token: token,
                filter: String::new(),
            })
            .await
            .expect("list")
            .into_inner();
        all.extend(page.applications);
        if page.next_page_token.is_empty() {
            return all;
        }
        token = page.next_page_token;
    }
}

pub fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    status
}

/// The fields named by the status's BadRequest violations.
pub fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

/// Submits `draft` (as read, with its etag) with the declaration confirmed.
pub async fn submit(client: &mut ApplicationClient, draft: &pb::Application) -> pb::Application {
    client
        .submit_application(pb::SubmitApplicationRequest {
            name: draft.name.clone(),
            request_id: request_id(),
            etag: draft.etag.clone(),
            declaration_confirmed: true,
        })
        .await
        .expect("submit")
        .into_inner()
}

/// The reviewer takes the submitted case.
pub async fn assign_to_self(
    reviewer: &mut clearance_tests::ReviewClient,
    submitted: &pb::Application,
) -> pb::Case {
    reviewer
        .assign_case(pb::AssignCaseRequest {
            name: submitted.name.clone(),
            request_id: request_id(),
            etag: submitted.etag.clone(),
            assignee: String::new(),
        })
        .await
        .expect("assign")
        .into_inner()
}

/// The reviewer proposes to approve every line in full with `reason` and a 25 % tolerance.
pub async fn propose_approval(
    reviewer: &mut clearance_tests::ReviewClient,
    case: &pb::Case,
    reason: &str,
) -> pb::Case {
    reviewer
        .propose_decision(pb::ProposeDecisionRequest {
            name: case.name.clone(),
            request_id: request_id(),
            etag: case.etag.clone(),
            approve: true,
            reason: reason.into(),
            value_tolerance_percent: Some(25),
            ..Default::default()
        })
        .await
        .expect("propose")
        .into_inner()
}

/// `len` bytes that start like a PDF, the rest pseudo-random (the same every run).
pub fn pdf(len: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

fn upload_messages(name: &str, media_type: &str, bytes: &[u8]) -> Vec<pb::UploadDocumentRequest> {
    let mut messages = vec![pb::UploadDocumentRequest {
        part: Some(Part::Metadata(pb::DocumentMetadata {
            display_name: name.into(),
            media_type: media_type.into(),
        })),
    }];
    messages.extend(
        bytes
            .chunks(1024 * 1024)
            .map(|c| pb::UploadDocumentRequest {
                part: Some(Part::Chunk(c.to_vec())),
            }),
    );
    messages
}

pub async fn upload(
    client: &mut ApplicationClient,
    name: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<pb::SupportingDocument, tonic::Status> {
    client
        .upload_document(tokio_stream::iter(upload_messages(name, media_type, bytes)))
        .await
        .map(|r| r.into_inner())
}
