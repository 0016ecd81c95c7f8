//! Documents as both services serve them: names, and bytes streamed from the file store.

use std::pin::Pin;

use clearance_domain::Violations;
use clearance_domain::documents::{is_sha256, referenced_documents};
use clearance_domain::ids::{Collection, OrganisationId};
use clearance_proto::v1 as pb;
use clearance_store::{DocumentBytes, DocumentFiles, Store};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// A stream of a document's bytes.
pub type DocumentStream = Pin<Box<dyn Stream<Item = Result<pb::DocumentChunk, Status>> + Send>>;

/// "applications/{id}/documents/{sha256}" → the application and the document's SHA-256.
pub fn parse_document_name(name: &str) -> Result<(Uuid, String), Violations> {
    let malformed = || {
        Violations::single(
            "name",
            "must be 'applications/{id}/documents/{sha256}' (64 lower-case hex digits)",
        )
    };
    let (application, sha256) = name.split_once("/documents/").ok_or_else(malformed)?;
    let id = Collection::Applications.parse_name("name", application)?;
    if !is_sha256(sha256) {
        return Err(malformed());
    }
    Ok((id, sha256.to_owned()))
}

/// The document `name` ("applications/{id}/documents/{sha256}") streamed, if the application
/// rests on it and the caller may read the application (`org` scopes an exporter to its own);
/// anything else is NOT_FOUND.
pub async fn download(
    store: &Store,
    files: &DocumentFiles,
    org: Option<&OrganisationId>,
    name: &str,
) -> ApiResult<DocumentStream> {
    let (id, sha256) = parse_document_name(name)?;
    let case = store
        .get_case(org, id)
        .await
        .map_err(|e| ApiError::from_store(name, e))?;
    if !referenced_documents(&case)
        .iter()
        .any(|d| d.sha256 == sha256)
    {
        return Err(ApiError::NotFound(name.to_owned()));
    }
    let bytes = files
        .open(&sha256)
        .await
        .map_err(|e| ApiError::from_store(name, e))?
        .ok_or_else(|| ApiError::NotFound(name.to_owned()))?;
    Ok(stream_bytes(bytes))
}

/// Streams a document's bytes in chunks; the reading stops when the client goes.
fn stream_bytes(mut bytes: DocumentBytes) -> DocumentStream {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let message = match bytes.next().await {
                None => return,
                Some(Ok(chunk)) => Ok(pb::DocumentChunk {
                    data: chunk.to_vec(),
                }),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "reading a document failed");
                    Err(Status::internal("the document could not be read"))
                }
            };
            let failed = message.is_err();
            if tx.send(message).await.is_err() || failed {
                return;
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}
