//! ApplicationService's documents: uploads received as a stream and hashed on arrival,
//! downloads of documents the caller's applications rest on, deletion while no open case
//! rests on them.

use clearance_domain::Violations;
use clearance_domain::access::Principal;
use clearance_domain::application::{DocumentInput, SupportingDocument};
use clearance_domain::documents::{
    check_content_start, check_size, check_upload, check_uploaded, is_sha256, may_delete,
    normalise_sha256,
};
use clearance_grpc::documents::{DocumentStream, download};
use clearance_grpc::{ApiError, ApiResult};
use clearance_proto::v1 as pb;
use clearance_proto::v1::upload_document_request::Part;
use clearance_store::DocumentFiles;
use tonic::{Status, Streaming};

use crate::applications::ApplicationApi;

/// Where documents are kept and how large one may be.
#[derive(Debug, Clone)]
pub struct Documents {
    pub files: DocumentFiles,
    pub max_bytes: i64,
}

/// Bytes of the start of a file kept to check its type.
const START_BYTES: usize = 16;

/// The largest chunk an upload message may carry (the contract's 1 MiB).
const MAX_CHUNK_BYTES: usize = 1024 * 1024;

fn store_error(what: &str) -> impl Fn(clearance_store::StoreError) -> ApiError + '_ {
    move |e| ApiError::from_store(what, e)
}

impl ApplicationApi {
    pub(crate) async fn upload_document(
        &self,
        p: &Principal,
        mut stream: Streaming<pb::UploadDocumentRequest>,
    ) -> Result<pb::SupportingDocument, Status> {
        let org = p.exporter_organisation().map_err(ApiError::from)?.clone();
        let metadata = match stream.message().await? {
            Some(pb::UploadDocumentRequest {
                part: Some(Part::Metadata(m)),
            }) => m,
            _ => {
                return Err(ApiError::from(Violations::single(
                    "metadata",
                    "the first message carries the document's name and type",
                ))
                .into());
            }
        };
        let (display_name, media_type) =
            check_upload(&metadata.display_name, &metadata.media_type).map_err(ApiError::from)?;
        let files = &self.documents().files;
        let mut pending = files.begin().await.map_err(store_error("document"))?;
        let mut start = Vec::with_capacity(START_BYTES);
        let received: Result<i64, Status> = async {
            let mut size = 0;
            while let Some(message) = stream.message().await? {
                match message.part {
                    Some(Part::Chunk(bytes)) if bytes.len() > MAX_CHUNK_BYTES => {
                        return Err(ApiError::from(Violations::single(
                            "chunk",
                            format!("a chunk is at most {MAX_CHUNK_BYTES} bytes (1 MiB)"),
                        ))
                        .into());
                    }
                    Some(Part::Chunk(bytes)) => {
                        let wanted = START_BYTES.saturating_sub(start.len()).min(bytes.len());
                        start.extend_from_slice(&bytes[..wanted]);
                        size = pending
                            .write(&bytes)
                            .await
                            .map_err(store_error("document"))?;
                        // Refused as soon as it grows too large, not after it all arrived.
                        check_size(size, self.documents().max_bytes).map_err(ApiError::from)?;
                    }
                    Some(Part::Metadata(_)) => {
                        return Err(ApiError::from(Violations::single(
                            "metadata",
                            "comes once, in the first message",
                        ))
                        .into());
                    }
                    None => {}
                }
            }
            if size == 0 {
                return Err(
                    ApiError::from(Violations::single("chunk", "the document is empty")).into(),
                );
            }
            check_content_start(&media_type, &start).map_err(ApiError::from)?;
            Ok(size)
        }
        .await;
        if let Err(refused) = received {
            pending.abandon().await;
            return Err(refused);
        }
        // The bytes' blob is claimed before they are filed, so the sweeper of orphaned bytes
        // (never a deletion in a request) cannot take them from under this upload.
        self.store()
            .claim_blob(&pending.sha256(), self.now())
            .await
            .map_err(store_error("document"))?;
        let (sha256, size_bytes) = files
            .finish(pending)
            .await
            .map_err(store_error("document"))?;
        let document = SupportingDocument {
            display_name,
            media_type,
            sha256,
            size_bytes,
        };
        self.store()
            .record_upload(&org, &document, &p.subject, self.now())
            .await
            .map_err(store_error("document"))?;
        Ok(pb::SupportingDocument {
            display_name: document.display_name,
            media_type: document.media_type,
            sha256: document.sha256,
            size_bytes: document.size_bytes,
        })
    }

    /// Refuses documents named in `field` that the organisation has not uploaded; answers
    /// them as stored (normalised), for a step to pin.
    pub(crate) async fn require_uploaded(
        &self,
        org: &clearance_domain::ids::OrganisationId,
        field: &str,
        named: Vec<DocumentInput>,
    ) -> ApiResult<Vec<String>> {
        if named.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<String> = named.iter().map(|d| normalise_sha256(&d.sha256)).collect();
        let uploaded = self
            .store()
            .uploaded_among(org, &wanted)
            .await
            .map_err(store_error(field))?;
        check_uploaded(field, &named, &uploaded).map_err(ApiError::from)?;
        // Malformed hashes are the step's own validation to refuse, field by field.
        Ok(wanted.into_iter().filter(|s| is_sha256(s)).collect())
    }

    pub(crate) async fn download_document(
        &self,
        p: &Principal,
        req: pb::DownloadDocumentRequest,
    ) -> ApiResult<DocumentStream> {
        let org = p.exporter_organisation()?.clone();
        download(self.store(), &self.documents().files, Some(&org), &req.name).await
    }

    pub(crate) async fn delete_document(
        &self,
        p: &Principal,
        req: pb::DeleteDocumentRequest,
    ) -> ApiResult<pb::DeleteDocumentResponse> {
        let org = p.exporter_organisation()?.clone();
        let sha256 = normalise_sha256(&req.sha256);
        if !is_sha256(&sha256) {
            return Err(Violations::single("sha256", "must be 64 hexadecimal digits").into());
        }
        let name = format!("documents/{sha256}");
        // The bytes go later, when no organisation has held them for the grace period.
        self.store()
            .delete_upload(&org, &sha256, may_delete, self.now())
            .await
            .map_err(store_error(&name))?;
        Ok(pb::DeleteDocumentResponse {})
    }
}
