//! Supporting documents end to end: a 20 MB upload streamed in, hashed on receipt, downloaded
//! byte for byte by the applicant and the regulator, its hash on the record, a changed file
//! caught by VerifyHistory; limits, types, other organisations and open cases refused.

use clearance_proto::v1 as pb;
use clearance_proto::v1::upload_document_request::Part;
use clearance_tests::{ApplicationClient, TestApp, TestDb, on_both_databases};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::fixtures::{
    assert_code, create_product, draft, pdf, request_id, submit, upload, violated_fields,
};

on_both_databases!(
    a_large_document_travels_byte_for_byte_and_a_changed_file_is_caught,
    documents_outside_the_limits_or_of_others_are_refused,
    only_documents_the_organisation_uploaded_may_be_named,
    a_submission_racing_the_deletion_of_its_document_never_loses_it,
    uploads_racing_deletions_of_the_same_bytes_keep_every_recorded_document,
    a_cancelled_upload_leaves_nothing_and_declarations_must_match_the_bytes,
);

/// The same, with the documents in an S3-compatible bucket instead of a directory.
mod in_object_storage {
    use super::{
        a_large_document_travels_byte_for_byte_and_a_changed_file_is_caught,
        documents_outside_the_limits_or_of_others_are_refused,
    };

    clearance_tests::on_both_databases!(
        @with |c: &mut clearance_tests::Config| {
            c.documents.s3 = clearance_tests::object_storage::new_bucket();
        };
        a_large_document_travels_byte_for_byte_and_a_changed_file_is_caught,
        documents_outside_the_limits_or_of_others_are_refused,
    );
}

async fn download_all<S>(
    stream: Result<tonic::Response<S>, tonic::Status>,
) -> Result<Vec<u8>, tonic::Status>
where
    S: tokio_stream::Stream<Item = Result<pb::DocumentChunk, tonic::Status>> + Unpin,
{
    let mut stream = stream?.into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend(chunk?.data);
    }
    Ok(bytes)
}

/// Acme's draft for `product` resting on `document`.
async fn draft_with(
    acme: &mut ApplicationClient,
    product: &str,
    document: &pb::SupportingDocument,
) -> pb::Application {
    let mut application = draft(product);
    application.documents = vec![document.clone()];
    acme.create_application(pb::CreateApplicationRequest {
        request_id: request_id(),
        application: Some(application),
    })
    .await
    .expect("create")
    .into_inner()
}

/// Acme's application resting on `document`, submitted.
async fn submitted_with(
    acme: &mut ApplicationClient,
    document: &pb::SupportingDocument,
) -> pb::Application {
    let product = create_product(acme).await;
    let created = draft_with(acme, &product.name, document).await;
    submit(acme, &created).await
}

async fn a_large_document_travels_byte_for_byte_and_a_changed_file_is_caught(
    _db: &TestDb,
    app: TestApp,
) {
    let bytes = pdf(20 * 1024 * 1024);
    let mut acme = app.applicant("acme");
    let uploaded = upload(
        &mut acme,
        "end-user-certificate.pdf",
        "application/pdf",
        &bytes,
    )
    .await
    .expect("a 20 MB upload");
    let sha256 = clearance_domain::history::sha256_hex(&bytes);
    assert_eq!(uploaded.sha256, sha256, "hashed on receipt");
    assert_eq!(uploaded.size_bytes, bytes.len() as i64);
    // The same bytes again are the same document.
    let again = upload(&mut acme, "copy.pdf", "application/pdf", &bytes[..])
        .await
        .expect("again");
    assert_eq!(again.sha256, sha256);
    // The bytes are where the configuration says, and nothing is left in the spool.
    let documents = &app.config.documents.dir;
    assert_eq!(
        documents.join(&sha256[..2]).join(&sha256).exists(),
        app.config.documents.s3.is_none()
    );
    let spooled = std::fs::read_dir(documents.join("incoming"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(spooled, 0, "no upload is left half-received");

    let submitted = submitted_with(&mut acme, &uploaded).await;
    let name = format!("{}/documents/{sha256}", submitted.name);
    let downloaded = download_all(
        acme.download_document(pb::DownloadDocumentRequest { name: name.clone() })
            .await,
    )
    .await
    .expect("download");
    assert!(
        downloaded == bytes,
        "the applicant's download is byte-identical"
    );
    let mut auditor = app.regulator("audrey@regulator", &["auditor"]);
    let regulator_copy = download_all(
        auditor
            .download_document(pb::DownloadDocumentRequest { name: name.clone() })
            .await,
    )
    .await
    .expect("regulator download");
    assert!(regulator_copy == bytes);

    // The hash is on the record: the application's recorded change names it, as its event
    // carries it.
    let events = crate::events::collect(
        &app.application_channel,
        app.token(&["applicant"], Some("acme")),
        "",
        3,
    )
    .await;
    let created = events
        .iter()
        .find(|e| e.r#type == "application.created")
        .expect("created event");
    assert!(
        created.payload_json.contains(&sha256),
        "{}",
        created.payload_json
    );
    let verdict = auditor
        .verify_history(pb::VerifyHistoryRequest {
            resource: submitted.name.clone(),
        })
        .await
        .expect("verify")
        .into_inner();
    assert!(verdict.intact && verdict.altered_documents.is_empty());

    // Someone with access to the storage changes the file: VerifyHistory names it.
    let mut changed = bytes.clone();
    changed[1_000_000] ^= 0xff;
    app.overwrite_stored_document(&sha256, &changed);
    let verdict = auditor
        .verify_history(pb::VerifyHistoryRequest {
            resource: submitted.name.clone(),
        })
        .await
        .expect("verify")
        .into_inner();
    assert!(!verdict.intact);
    assert_eq!(verdict.altered_documents, [name]);
}

async fn documents_outside_the_limits_or_of_others_are_refused(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    // Past the limit (25 MiB by default): refused as the bytes arrive.
    let status = assert_code(
        upload(
            &mut acme,
            "big.pdf",
            "application/pdf",
            &pdf(26 * 1024 * 1024),
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["chunk"]);
    // A type not accepted, and bytes that are not what the type says.
    let status = assert_code(
        upload(
            &mut acme,
            "setup.exe",
            "application/x-msdownload",
            b"MZ\x90\x00",
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["metadata.media_type"]);
    let status = assert_code(
        upload(
            &mut acme,
            "fake.pdf",
            "application/pdf",
            b"MZ\x90\x00 not a pdf",
        )
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["chunk"]);
    // No metadata first, or nothing at all.
    let chunk_only = vec![pb::UploadDocumentRequest {
        part: Some(Part::Chunk(b"%PDF-".to_vec())),
    }];
    assert_code(
        acme.upload_document(tokio_stream::iter(chunk_only)).await,
        Code::InvalidArgument,
    );
    assert_code(
        upload(&mut acme, "empty.pdf", "application/pdf", b"").await,
        Code::InvalidArgument,
    );
    // Nothing of a refused upload was kept.
    let incoming = app.config.documents.dir.join("incoming");
    let left = std::fs::read_dir(&incoming).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "refused uploads leave no files behind");

    let small = pdf(4096);
    let document = upload(&mut acme, "spec.pdf", "application/pdf", &small)
        .await
        .expect("upload");
    let submitted = submitted_with(&mut acme, &document).await;
    let name = format!("{}/documents/{}", submitted.name, document.sha256);
    // Another organisation's applicant: not found, as if it did not exist.
    let mut globex = app.applicant("globex");
    assert_code(
        download_all(
            globex
                .download_document(pb::DownloadDocumentRequest { name: name.clone() })
                .await,
        )
        .await,
        Code::NotFound,
    );
    // A document the application does not rest on is not found through it either.
    let other = upload(&mut acme, "other.pdf", "application/pdf", &pdf(2048))
        .await
        .expect("upload");
    assert_code(
        download_all(
            acme.download_document(pb::DownloadDocumentRequest {
                name: format!("{}/documents/{}", submitted.name, other.sha256),
            })
            .await,
        )
        .await,
        Code::NotFound,
    );
    for bad in ["", "applications/x/documents/y", "documents/abc"] {
        assert_code(
            download_all(
                acme.download_document(pb::DownloadDocumentRequest { name: bad.into() })
                    .await,
            )
            .await,
            Code::InvalidArgument,
        );
    }
    // An open case rests on it: it stays. One nothing rests on may go.
    let status = assert_code(
        acme.delete_document(pb::DeleteDocumentRequest {
            sha256: document.sha256.clone(),
        })
        .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("open"), "{status:?}");
    assert!(app.stored_document_exists(&other.sha256));
    acme.delete_document(pb::DeleteDocumentRequest {
        sha256: other.sha256.clone(),
    })
    .await
    .expect("an unused upload is deleted");
    acme.delete_document(pb::DeleteDocumentRequest {
        sha256: other.sha256.clone(),
    })
    .await
    .expect("a retried deletion answers as the first did");
    // The bytes are never deleted in the request: the sweeper takes them once nobody has held
    // them for the grace period.
    assert!(app.stored_document_exists(&other.sha256));
    sweep_orphaned(&app, chrono::Duration::minutes(1)).await;
    assert!(
        app.stored_document_exists(&other.sha256),
        "within the grace period"
    );
    sweep_orphaned(&app, chrono::Duration::hours(2)).await;
    assert!(
        !app.stored_document_exists(&other.sha256),
        "the bytes went after the last holder"
    );
    assert!(app.stored_document_exists(&document.sha256), "still held");
    assert_code(
        globex
            .delete_document(pb::DeleteDocumentRequest {
                sha256: document.sha256.clone(),
            })
            .await,
        Code::NotFound,
    );
}

async fn only_documents_the_organisation_uploaded_may_be_named(_db: &TestDb, app: TestApp) {
    let mut acme = app.applicant("acme");
    let mut globex = app.applicant("globex");
    let product = create_product(&mut acme).await;
    let create = |document: pb::SupportingDocument| {
        let mut application = draft(&product.name);
        application.documents = vec![document];
        pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        }
    };
    let never_uploaded = pb::SupportingDocument {
        display_name: "statement.pdf".into(),
        media_type: "application/pdf".into(),
        sha256: "ab".repeat(32),
        size_bytes: 1_000,
    };
    let status = assert_code(
        acme.create_application(create(never_uploaded)).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        ["application.documents[0].sha256"]
    );
    // Another organisation's upload is not acme's to name.
    let theirs = upload(&mut globex, "theirs.pdf", "application/pdf", &pdf(4_096))
        .await
        .expect("globex uploads");
    let status = assert_code(
        acme.create_application(create(theirs)).await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        ["application.documents[0].sha256"]
    );

    // Its own upload it names; deleted again while the application is a draft, the draft
    // cannot be submitted until the document is uploaded again.
    let bytes = pdf(8_192);
    let ours = upload(&mut acme, "ours.pdf", "application/pdf", &bytes)
        .await
        .expect("acme uploads");
    let created = acme
        .create_application(create(ours.clone()))
        .await
        .expect("an uploaded document is named")
        .into_inner();
    acme.delete_document(pb::DeleteDocumentRequest {
        sha256: ours.sha256.clone(),
    })
    .await
    .expect("a draft's document may be deleted");
    let status = assert_code(
        acme.submit_application(pb::SubmitApplicationRequest {
            name: created.name.clone(),
            request_id: request_id(),
            etag: created.etag.clone(),
            declaration_confirmed: true,
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["documents[0].sha256"]);
    upload(&mut acme, "ours.pdf", "application/pdf", &bytes)
        .await
        .expect("uploaded again");
    submit(&mut acme, &created).await;
}

/// A draft's submission and the deletion of the document it names, released together, round
/// after round: never both. Either the case is submitted and the document stays (and reads
/// back), or the document is gone and the submission is refused.
async fn a_submission_racing_the_deletion_of_its_document_never_loses_it(
    _db: &TestDb,
    app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let product = create_product(&mut acme).await;
    let (mut submitted_first, mut deleted_first) = (0, 0);
    for round in 0..12u8 {
        let mut bytes = pdf(2048);
        bytes.push(round); // a document of its own each round
        let document = upload(&mut acme, "statement.pdf", "application/pdf", &bytes)
            .await
            .expect("upload");
        let created = draft_with(&mut acme, &product.name, &document).await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let submitting = {
            let (mut client, barrier) = (acme.clone(), barrier.clone());
            let request = pb::SubmitApplicationRequest {
                name: created.name.clone(),
                request_id: request_id(),
                etag: created.etag.clone(),
                declaration_confirmed: true,
            };
            tokio::spawn(async move {
                barrier.wait().await;
                client.submit_application(request).await
            })
        };
        let deleting = {
            let (mut client, barrier) = (acme.clone(), barrier.clone());
            let request = pb::DeleteDocumentRequest {
                sha256: document.sha256.clone(),
            };
            tokio::spawn(async move {
                barrier.wait().await;
                // Later each round, so both orders and the contended middle are all met.
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(round) * 3)).await;
                client.delete_document(request).await
            })
        };
        match (
            submitting.await.expect("submit task"),
            deleting.await.expect("delete task"),
        ) {
            (Ok(submitted), Err(refused)) => {
                assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
                let read = download_all(
                    acme.download_document(pb::DownloadDocumentRequest {
                        name: format!("{}/documents/{}", submitted.get_ref().name, document.sha256),
                    })
                    .await,
                )
                .await
                .expect("the submitted case's document reads back");
                assert_eq!(read, bytes);
                submitted_first += 1;
            }
            (Err(refused), Ok(_)) => {
                assert!(
                    matches!(refused.code(), Code::Aborted | Code::InvalidArgument),
                    "{refused:?}"
                );
                deleted_first += 1;
            }
            (Ok(_), Ok(_)) => {
                panic!("round {round}: submitted and deleted: the case rests on a lost document")
            }
            (Err(a), Err(b)) => panic!("round {round}: neither went through: {a:?} / {b:?}"),
        }
    }
    eprintln!("{submitted_first} rounds submitted first, {deleted_first} deleted first");
}

/// Runs the sweeper of orphaned bytes as if `later` had passed.
async fn sweep_orphaned(app: &TestApp, later: chrono::Duration) -> usize {
    use clearance_grpc::Clock;
    let files = app.config.documents.files().expect("document files");
    app.store
        .sweep_orphaned_documents(
            &files,
            app.clock.now() + later,
            chrono::Duration::hours(1),
            1000,
        )
        .await
        .expect("sweep")
}

/// Two organisations hold the same bytes: A deletes its upload while B uploads them (and
/// rests a submitted case on them), released together, with the sweeper running too, 20
/// rounds: every document recorded downloads, during and after the sweep. VerifyHistory
/// names bytes that are gone as missing.
async fn uploads_racing_deletions_of_the_same_bytes_keep_every_recorded_document(
    _db: &TestDb,
    app: TestApp,
) {
    let mut a = app.applicant("alpha");
    let mut b = app.applicant("bravo");
    let product = create_product(&mut b).await;
    let mut last = None;
    for round in 0..20u8 {
        let mut bytes = pdf(4096);
        bytes.push(round);
        upload(&mut a, "shared.pdf", "application/pdf", &bytes)
            .await
            .expect("alpha uploads");
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
        let deleting = {
            let (mut a, barrier) = (a.clone(), barrier.clone());
            let sha256 = clearance_domain::history::sha256_hex(&bytes);
            tokio::spawn(async move {
                barrier.wait().await;
                a.delete_document(pb::DeleteDocumentRequest { sha256 })
                    .await
            })
        };
        let uploading = {
            let (mut b, barrier, bytes) = (b.clone(), barrier.clone(), bytes.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                upload(&mut b, "shared.pdf", "application/pdf", &bytes).await
            })
        };
        let sweeping = {
            let barrier = barrier.clone();
            let store = app.store.clone();
            let files = app.config.documents.files().expect("document files");
            let now = chrono::Utc::now();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .sweep_orphaned_documents(&files, now, chrono::Duration::hours(1), 1000)
                    .await
            })
        };
        deleting.await.unwrap().expect("alpha deletes");
        let document = uploading.await.unwrap().expect("bravo uploads");
        sweeping.await.unwrap().expect("sweep");
        let submitted = submitted_with_product(&mut b, &product.name, &document).await;
        let read = download_all(
            b.download_document(pb::DownloadDocumentRequest {
                name: format!("{}/documents/{}", submitted.name, document.sha256),
            })
            .await,
        )
        .await
        .unwrap_or_else(|e| panic!("round {round}: bravo's recorded document is gone: {e:?}"));
        assert_eq!(read, bytes, "round {round}");
        last = Some((submitted, document));
    }
    // Long after: bravo still holds every one, so none goes.
    sweep_orphaned(&app, chrono::Duration::hours(3)).await;
    let (submitted, document) = last.expect("rounds");
    assert!(app.stored_document_exists(&document.sha256));
    let mut auditor = app.regulator("audrey@regulator", &["auditor"]);
    let verdict = auditor
        .verify_history(pb::VerifyHistoryRequest {
            resource: submitted.name.clone(),
        })
        .await
        .expect("verify")
        .into_inner();
    assert!(verdict.intact, "{verdict:?}");
    // Bytes removed behind the service's back are named as missing, not passed over.
    let files = app.config.documents.files().expect("document files");
    files
        .remove(&document.sha256)
        .await
        .expect("remove the bytes");
    let verdict = auditor
        .verify_history(pb::VerifyHistoryRequest {
            resource: submitted.name.clone(),
        })
        .await
        .expect("verify")
        .into_inner();
    assert!(!verdict.intact, "{verdict:?}");
    assert_eq!(
        verdict.missing_documents,
        [format!("{}/documents/{}", submitted.name, document.sha256)]
    );
}

/// Bravo's application for `product` resting on `document`, submitted.
async fn submitted_with_product(
    client: &mut ApplicationClient,
    product: &str,
    document: &pb::SupportingDocument,
) -> pb::Application {
    let created = draft_with(client, product, document).await;
    submit(client, &created).await
}

/// An upload whose client goes away mid-stream leaves nothing in the spool; a chunk over
/// 1 MiB is refused; a document named with another size or type than its upload's is refused.
async fn a_cancelled_upload_leaves_nothing_and_declarations_must_match_the_bytes(
    _db: &TestDb,
    app: TestApp,
) {
    let mut acme = app.applicant("acme");
    let spool = app.config.documents.dir.join("incoming");
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let mut client = acme.clone();
    let call = tokio::spawn(async move {
        client
            .upload_document(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
    });
    sender
        .send(pb::UploadDocumentRequest {
            part: Some(Part::Metadata(pb::DocumentMetadata {
                display_name: "half.pdf".into(),
                media_type: "application/pdf".into(),
            })),
        })
        .await
        .expect("metadata");
    for _ in 0..3 {
        sender
            .send(pb::UploadDocumentRequest {
                part: Some(Part::Chunk(pdf(1024 * 1024))),
            })
            .await
            .expect("chunk");
    }
    // The bytes arrive in the spool; then the client goes.
    let mut spooled = false;
    for _ in 0..100 {
        spooled = std::fs::read_dir(&spool).is_ok_and(|mut d| d.next().is_some());
        if spooled {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(spooled, "the upload was being received");
    call.abort();
    drop(sender);
    let mut emptied = false;
    for _ in 0..100 {
        emptied = std::fs::read_dir(&spool).is_ok_and(|mut d| d.next().is_none());
        if emptied {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(emptied, "a cancelled upload leaves no file in the spool");

    // A 2 MiB chunk is more than the contract allows.
    let status = assert_code(
        acme.upload_document(tokio_stream::iter(vec![
            pb::UploadDocumentRequest {
                part: Some(Part::Metadata(pb::DocumentMetadata {
                    display_name: "big.pdf".into(),
                    media_type: "application/pdf".into(),
                })),
            },
            pb::UploadDocumentRequest {
                part: Some(Part::Chunk(pdf(2 * 1024 * 1024))),
            },
        ]))
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["chunk"]);

    // Named with another size or type than was received.
    let document = upload(&mut acme, "statement.pdf", "application/pdf", &pdf(3000))
        .await
        .expect("upload");
    let product = create_product(&mut acme).await;
    let mut application = draft(&product.name);
    application.documents = vec![pb::SupportingDocument {
        size_bytes: 1,
        media_type: "text/plain".into(),
        ..document.clone()
    }];
    let status = assert_code(
        acme.create_application(pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        })
        .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        [
            "application.documents[0].size_bytes",
            "application.documents[0].media_type"
        ]
    );
}
