//! `clearancectl documents`: supporting documents (end-user statements, data sheets) uploaded
//! by an exporter, named by their SHA-256 in applications, answers and appeals, and read back
//! by either side.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use clearance_proto::v1 as pb;
use sha2::{Digest, Sha256};

use crate::context::{Ctx, Failure, LocalProblem, Outcome};
use crate::output::print;
use crate::text;

/// Bytes per upload message, well under the server's message limit.
const CHUNK_BYTES: usize = 256 * 1024;

#[derive(Subcommand)]
pub(crate) enum Documents {
    /// Upload a file; prints the document to name in an application's `documents`.
    #[command(
        after_help = "Examples:\n  clearancectl documents upload end-user-statement.pdf\n  clearancectl documents upload scan.tif --display-name 'End-user statement (signed)'"
    )]
    Upload {
        /// The file: PDF, PNG, JPEG, TIFF, plain text, DOCX or XLSX.
        file: PathBuf,
        /// The name people see; the file's name when absent.
        #[arg(long)]
        display_name: Option<String>,
        /// The media type, e.g. application/pdf; guessed from the file's extension when absent.
        #[arg(long)]
        media_type: Option<String>,
    },
    /// Download a document an application names, checking its bytes against its SHA-256.
    #[command(
        after_help = "Example:\n  clearancectl documents download CL-2026-000002 9f86d081884c7d65... --to statement.pdf"
    )]
    Download {
        /// The application: its reference (CL-2026-000002) or applications/{id}.
        application: String,
        /// The document's SHA-256 (as `applications get` or `cases show` lists it).
        sha256: String,
        /// Where to write it (a new file; `-` for standard output).
        #[arg(long, short = 'o')]
        to: PathBuf,
    },
    /// Delete an uploaded document no submitted application names.
    #[command(after_help = "Example:\n  clearancectl documents delete 9f86d081884c7d65...")]
    Delete {
        /// The document's SHA-256, as the upload printed it.
        sha256: String,
    },
}

/// The media type a file's extension says, among those Clearance accepts.
fn media_type_of(file: &Path) -> Option<&'static str> {
    let extension = file.extension()?.to_str()?.to_ascii_lowercase();
    Some(match extension.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "tif" | "tiff" => "image/tiff",
        "txt" => "text/plain",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => return None,
    })
}

fn invalid(text: String) -> Failure {
    Failure::Local(LocalProblem::Invalid(text).into())
}

pub(crate) async fn run(ctx: &Ctx, cmd: Documents) -> Outcome {
    match cmd {
        Documents::Upload {
            file,
            display_name,
            media_type,
        } => {
            let media_type = match media_type {
                Some(t) => t,
                None => media_type_of(&file).map(str::to_owned).ok_or_else(|| {
                    invalid(format!(
                        "cannot tell the type of {} from its extension: pass --media-type \
                         (e.g. application/pdf)",
                        file.display()
                    ))
                })?,
            };
            let bytes =
                std::fs::read(&file).map_err(|e| invalid(format!("{}: {e}", file.display())))?;
            let display_name = display_name.unwrap_or_else(|| {
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let mut parts = vec![pb::UploadDocumentRequest {
                part: Some(pb::upload_document_request::Part::Metadata(
                    pb::DocumentMetadata {
                        display_name,
                        media_type,
                    },
                )),
            }];
            parts.extend(
                bytes
                    .chunks(CHUNK_BYTES)
                    .map(|chunk| pb::UploadDocumentRequest {
                        part: Some(pb::upload_document_request::Part::Chunk(chunk.to_vec())),
                    }),
            );
            let document = ctx
                .applications()
                .await?
                .upload_document(tokio_stream::iter(parts))
                .await?
                .into_inner();
            Ok(print(
                ctx.format,
                &document,
                "clearance.v1.SupportingDocument",
                text::document,
            )?)
        }
        Documents::Download {
            application,
            sha256,
            to: output,
        } => {
            let to_stdout = output.as_os_str() == "-";
            if !to_stdout && output.exists() {
                return Err(invalid(format!(
                    "{} exists; choose another --to or remove it first",
                    output.display()
                )));
            }
            let sha256 = sha256.trim().to_ascii_lowercase();
            let request = pb::DownloadDocumentRequest {
                name: format!("{application}/documents/{sha256}"),
            };
            let mut chunks = if ctx.speaks_for_exporter() {
                ctx.applications()
                    .await?
                    .download_document(request)
                    .await?
                    .into_inner()
            } else {
                ctx.reviews()
                    .await?
                    .download_document(request)
                    .await?
                    .into_inner()
            };
            let mut bytes = Vec::new();
            while let Some(chunk) = chunks.message().await? {
                bytes.extend_from_slice(&chunk.data);
            }
            let got = hex(&Sha256::digest(&bytes));
            if got != sha256 {
                return Err(Failure::Local(anyhow::anyhow!(
                    "the downloaded bytes do not match the document's SHA-256 ({sha256}; got \
                     {got}): nothing was written"
                )));
            }
            if to_stdout {
                std::io::stdout()
                    .write_all(&bytes)
                    .map_err(|e| Failure::Local(e.into()))?;
            } else {
                write_new(&output, &bytes)?;
                if ctx.format == crate::output::Format::Text {
                    eprintln!(
                        "wrote {} ({} bytes, SHA-256 checked)",
                        output.display(),
                        bytes.len()
                    );
                }
            }
            Ok(())
        }
        Documents::Delete { sha256 } => {
            ctx.applications()
                .await?
                .delete_document(pb::DeleteDocumentRequest {
                    sha256: sha256.clone(),
                })
                .await?;
            if ctx.format == crate::output::Format::Text {
                println!("deleted document {sha256}");
            } else {
                println!("{{}}");
            }
            Ok(())
        }
    }
}

/// Writes `bytes` to a new file at `path`, whole or not at all.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let partial = path.with_extension("part");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&partial, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        invalid(format!("{}: {e}", path.display()))
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
