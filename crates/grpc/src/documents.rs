//! Documents as both services serve them: names, and bytes streamed from the file store.

use std::pin::Pin;

use clearance_domain::Violations;
use clearance_domain::ids::Collection;
use clearance_proto::v1 as pb;
use tokio::io::AsyncReadExt;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use uuid::Uuid;

/// Bytes per streamed chunk.
const CHUNK_BYTES: usize = 256 * 1024;

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
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(malformed());
    }
    Ok((id, sha256.to_owned()))
}

/// Streams `file` in chunks; the reading stops when the client goes.
pub fn stream_file(mut file: tokio::fs::File) -> DocumentStream {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        loop {
            match file.read(&mut buffer).await {
                Ok(0) => return,
                Ok(read) => {
                    let chunk = pb::DocumentChunk {
                        data: buffer[..read].to_vec(),
                    };
                    if tx.send(Ok(chunk)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading a document failed");
                    let _ = tx
                        .send(Err(Status::internal("the document could not be read")))
                        .await;
                    return;
                }
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}
