//! Documents: bytes in a content-addressed store (a file per SHA-256 in a directory, written
//! once under a temporary name and renamed into place, or an object per SHA-256 in
//! S3-compatible storage), and in the database which organisation uploaded which document.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

use clearance_domain::application::{ApplicationState, SupportingDocument};
use clearance_domain::documents::is_sha256;
use clearance_domain::error::DomainError;
use clearance_domain::ids::OrganisationId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, sea_query::LockType,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connection::Store;
use crate::entities::{
    appeal, application, application_document, deleted_upload, document_blob, information_request,
    stored_document,
};
use crate::error::StoreError;

/// Where document bytes live, by SHA-256: a directory (`ROOT/ab/abcdef…`) or a bucket of
/// S3-compatible object storage (`PREFIX/abcdef…`). Uploads are received into a local spool
/// file first, so that only whole documents under their hash ever reach either.
#[derive(Debug, Clone)]
pub struct DocumentFiles {
    spool: PathBuf,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Directory(PathBuf),
    Objects {
        store: Arc<dyn ObjectStore>,
        prefix: String,
    },
}

/// An S3-compatible bucket (AWS S3, MinIO, Ceph, …) for documents, as configured under
/// `[documents.s3]`. Credentials left empty come from the usual `AWS_*` environment variables
/// (or the instance's role).
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ObjectStorage {
    pub bucket: String,
    /// e.g. `https://s3.eu-central-1.amazonaws.com` or a MinIO/Ceph address; empty for AWS's
    /// default for the region.
    pub endpoint: String,
    pub region: String,
    /// Keys are `PREFIX/{sha256}` (no prefix when empty).
    pub prefix: String,
    /// Allows an `http://` endpoint (a local test server), never for production.
    pub allow_http: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
}

// The secret never reaches a log.
impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"…")
            .finish()
    }
}

/// A document's bytes as they are read.
pub type DocumentBytes = BoxStream<'static, Result<Bytes, StoreError>>;

/// An upload being received: written to a spool file and hashed as it arrives.
pub struct PendingFile {
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    size: i64,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Files(e.to_string())
}

fn objects(e: object_store::Error) -> StoreError {
    StoreError::Files(e.to_string())
}

/// Bytes read from a file (or sent to object storage) at a time.
const CHUNK_BYTES: usize = 256 * 1024;

impl DocumentFiles {
    /// Documents in the directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        DocumentFiles {
            spool: root.join("incoming"),
            backend: Backend::Directory(root),
        }
    }

    /// Documents in an S3-compatible bucket, received into `spool` (a local directory) first.
    pub fn object_storage(
        settings: &ObjectStorage,
        spool: impl Into<PathBuf>,
    ) -> Result<Self, StoreError> {
        // The HTTP client takes its TLS from the process's rustls provider: ring, as every other
        // TLS connection here (already installed is fine).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_allow_http(settings.allow_http);
        if !settings.region.is_empty() {
            builder = builder.with_region(&settings.region);
        }
        if !settings.endpoint.is_empty() {
            builder = builder
                .with_endpoint(&settings.endpoint)
                // Self-hosted stores (MinIO, Ceph) address buckets by path.
                .with_virtual_hosted_style_request(false);
        }
        if !settings.access_key_id.is_empty() {
            builder = builder
                .with_access_key_id(&settings.access_key_id)
                .with_secret_access_key(&settings.secret_access_key);
        }
        let store = builder.build().map_err(objects)?;
        Ok(DocumentFiles {
            spool: spool.into(),
            backend: Backend::Objects {
                store: Arc::new(store),
                prefix: settings.prefix.trim_matches('/').to_owned(),
            },
        })
    }

    /// Where the documents are, in words for logs.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Directory(root) => format!("directory {}", root.display()),
            Backend::Objects { store, prefix } => format!("{store} under '{prefix}'"),
        }
    }

    fn path_of(root: &Path, sha256: &str) -> PathBuf {
        root.join(sha256.get(..2).unwrap_or("xx")).join(sha256)
    }

    fn key_of(prefix: &str, sha256: &str) -> ObjectPath {
        if prefix.is_empty() {
            ObjectPath::from(sha256)
        } else {
            ObjectPath::from(format!("{prefix}/{sha256}"))
        }
    }

    /// Starts receiving a document.
    pub async fn begin(&self) -> Result<PendingFile, StoreError> {
        tokio::fs::create_dir_all(&self.spool).await.map_err(io)?;
        let path = self.spool.join(uuid::Uuid::now_v7().to_string());
        let file = tokio::fs::File::create(&path).await.map_err(io)?;
        Ok(PendingFile {
            path,
            file,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Files a received document under its SHA-256 (the same bytes again are the same file).
    pub async fn finish(&self, mut pending: PendingFile) -> Result<(String, i64), StoreError> {
        pending.file.flush().await.map_err(io)?;
        pending.file.sync_all().await.map_err(io)?;
        let sha256 = pending.sha256();
        match &self.backend {
            Backend::Directory(root) => {
                let target = Self::path_of(root, &sha256);
                if let Some(dir) = target.parent() {
                    tokio::fs::create_dir_all(dir).await.map_err(io)?;
                }
                tokio::fs::rename(&pending.path, &target)
                    .await
                    .map_err(io)?;
            }
            Backend::Objects { store, prefix } => {
                let key = Self::key_of(prefix, &sha256);
                let sent = Self::send(store.as_ref(), &key, &pending.path).await;
                let _ = tokio::fs::remove_file(&pending.path).await;
                sent?;
            }
        }
        Ok((sha256, pending.size))
    }

    /// Sends the spool file at `path` to `key`, unless an object with that key (hence those
    /// bytes) is already there.
    async fn send(
        store: &dyn ObjectStore,
        key: &ObjectPath,
        path: &Path,
    ) -> Result<(), StoreError> {
        match store.head(key).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(objects(e)),
        }
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        let mut upload = WriteMultipart::new(store.put_multipart(key).await.map_err(objects)?);
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let sent: Result<(), StoreError> = async {
            loop {
                let read = file.read(&mut buffer).await.map_err(io)?;
                if read == 0 {
                    return Ok(());
                }
                upload.wait_for_capacity(4).await.map_err(objects)?;
                upload.write(&buffer[..read]);
            }
        }
        .await;
        match sent {
            Ok(()) => upload.finish().await.map(|_| ()).map_err(objects),
            Err(e) => {
                let _ = upload.abort().await;
                Err(e)
            }
        }
    }

    /// The stored bytes of a document, if they are here.
    pub async fn open(&self, sha256: &str) -> Result<Option<DocumentBytes>, StoreError> {
        if !is_sha256(sha256) {
            return Ok(None);
        }
        match &self.backend {
            Backend::Directory(root) => {
                match tokio::fs::File::open(Self::path_of(root, sha256)).await {
                    Ok(file) => Ok(Some(file_bytes(file))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io(e)),
                }
            }
            Backend::Objects { store, prefix } => {
                match store.get(&Self::key_of(prefix, sha256)).await {
                    Ok(found) => Ok(Some(found.into_stream().map_err(objects).boxed())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(objects(e)),
                }
            }
        }
    }

    /// The SHA-256 of the bytes stored for `sha256` now, if they are here: differs from its
    /// name when the file was changed.
    pub async fn rehash(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        let Some(mut bytes) = self.open(sha256).await? else {
            return Ok(None);
        };
        let mut hasher = Sha256::new();
        while let Some(chunk) = bytes.try_next().await? {
            hasher.update(&chunk);
        }
        Ok(Some(hex(&hasher.finalize())))
    }

    pub async fn remove(&self, sha256: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Directory(root) => {
                match tokio::fs::remove_file(Self::path_of(root, sha256)).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(io(e)),
                }
            }
            Backend::Objects { store, prefix } => {
                match store.delete(&Self::key_of(prefix, sha256)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(objects(e)),
                }
            }
        }
    }
}

/// A file's bytes, a chunk at a time.
fn file_bytes(file: tokio::fs::File) -> DocumentBytes {
    futures::stream::try_unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let read = file.read(&mut buffer).await.map_err(io)?;
        if read == 0 {
            return Ok(None);
        }
        buffer.truncate(read);
        Ok(Some((Bytes::from(buffer), file)))
    })
    .boxed()
}

impl PendingFile {
    /// Appends a chunk; answers the size received so far.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<i64, StoreError> {
        self.file.write_all(chunk).await.map_err(io)?;
        self.hasher.update(chunk);
        self.size = self
            .size
            .saturating_add(i64::try_from(chunk.len()).unwrap_or(i64::MAX));
        Ok(self.size)
    }

    /// The SHA-256 of what was received so far (all of it, once the stream has ended).
    pub fn sha256(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }

    /// Gives the upload up, removing what was received.
    pub async fn abandon(self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

/// An upload dropped unfinished (its client went away, or its call was cancelled) leaves
/// nothing in the spool; a finished one was moved away already.
impl Drop for PendingFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Records that `org` uploaded `document` (the same bytes again change nothing).
    pub async fn record_upload(
        &self,
        org: &OrganisationId,
        document: &SupportingDocument,
        uploaded_by: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        crate::write::ensure_organisation(&write.txn, org, now).await?;
        stored_document::Entity::insert(stored_document::ActiveModel {
            organisation_id: Set(org.as_str().to_owned()),
            sha256: Set(document.sha256.clone()),
            size_bytes: Set(document.size_bytes),
            media_type: Set(document.media_type.clone()),
            display_name: Set(document.display_name.clone()),
            uploaded_by: Set(uploaded_by.to_owned()),
            upload_time: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                stored_document::Column::OrganisationId,
                stored_document::Column::Sha256,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&write.txn)
        .await?;
        write.commit().await
    }

    /// Claims the blob of `sha256` for an upload about to file its bytes: the sweeper leaves
    /// bytes claimed within its grace period alone, and waits on this claim's lock.
    pub async fn claim_blob(
        &self,
        sha256: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        document_blob::Entity::insert(document_blob::ActiveModel {
            sha256: Set(sha256.to_owned()),
            claim_time: Set(now),
        })
        .on_conflict(
            OnConflict::column(document_blob::Column::Sha256)
                .update_column(document_blob::Column::ClaimTime)
                .to_owned(),
        )
        .exec_without_returning(&write.txn)
        .await?;
        write.commit().await
    }

    /// Which of `sha256s` `org` uploaded, with the size and media type of each upload.
    pub async fn uploaded_among(
        &self,
        org: &OrganisationId,
        sha256s: &[String],
    ) -> Result<std::collections::HashMap<String, (i64, String)>, StoreError> {
        Ok(stored_document::Entity::find()
            .filter(stored_document::Column::OrganisationId.eq(org.as_str()))
            .filter(stored_document::Column::Sha256.is_in(sha256s.iter().map(String::as_str)))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|d| (d.sha256, (d.size_bytes, d.media_type)))
            .collect())
    }

    /// Deletes the bytes no upload holds and no application names whose last claim is older
    /// than `grace` (up to `limit` of them); answers how many went. Each is re-checked under its blob's lock and
    /// its bytes removed before that lock is released, so an upload claiming the same bytes
    /// meanwhile either comes first (and keeps them) or files them anew after.
    pub async fn sweep_orphaned_documents(
        &self,
        files: &DocumentFiles,
        now: chrono::DateTime<chrono::Utc>,
        grace: chrono::Duration,
        limit: u64,
    ) -> Result<usize, StoreError> {
        use sea_orm::sea_query::{Expr, ExprTrait, Query};
        let cutoff = now - grace;
        let held = Query::select()
            .column(stored_document::Column::Sha256)
            .from(stored_document::Entity)
            .to_owned();
        let named = Query::select()
            .column(application_document::Column::Sha256)
            .from(application_document::Entity)
            .to_owned();
        let candidates = document_blob::Entity::find()
            .filter(document_blob::Column::ClaimTime.lt(cutoff))
            .filter(Expr::col(document_blob::Column::Sha256).not_in_subquery(held))
            .filter(Expr::col(document_blob::Column::Sha256).not_in_subquery(named))
            .limit(limit)
            .all(&self.db)
            .await?;
        let mut removed = 0;
        for candidate in candidates {
            let write = self.begin_write().await?;
            let mut blob = document_blob::Entity::find_by_id(candidate.sha256.clone());
            if write.txn.get_database_backend() == DbBackend::Postgres {
                blob = blob.lock(LockType::Update);
            }
            let still_orphaned = match blob.one(&write.txn).await? {
                Some(b) if b.claim_time < cutoff => {
                    !bytes_named(&write.txn, &candidate.sha256).await?
                }
                _ => false,
            };
            if !still_orphaned {
                write.txn.rollback().await?;
                continue;
            }
            files.remove(&candidate.sha256).await?;
            document_blob::Entity::delete_by_id(candidate.sha256.clone())
                .exec(&write.txn)
                .await?;
            write.commit().await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Deletes `org`'s upload of `sha256` if `may_delete` allows it given the states of the
    /// organisation's applications that rest on it. One transaction, with the upload's row
    /// locked first, so a step that pins the document (see [`pin_documents`]) either commits
    /// before the states are read (and counts) or finds the document gone. The bytes stay
    /// for the sweeper ([`Store::sweep_orphaned_documents`]); a tombstone makes a retried
    /// deletion succeed as the first did.
    pub async fn delete_upload(
        &self,
        org: &OrganisationId,
        sha256: &str,
        may_delete: impl FnOnce(&[ApplicationState]) -> Result<(), DomainError>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let write = self.begin_write().await?;
        let mut upload =
            stored_document::Entity::find_by_id((org.as_str().to_owned(), sha256.to_owned()));
        if write.txn.get_database_backend() == DbBackend::Postgres {
            upload = upload.lock(LockType::Update);
        }
        if upload.one(&write.txn).await?.is_none() {
            let deleted_before =
                deleted_upload::Entity::find_by_id((org.as_str().to_owned(), sha256.to_owned()))
                    .one(&write.txn)
                    .await?
                    .is_some();
            return if deleted_before {
                Ok(())
            } else {
                Err(StoreError::NotFound)
            };
        }
        // Documents are named in the applications' stored content (documents, answers and
        // appeals), so the organisation's cases are read whole.
        let rows = application::Entity::find()
            .filter(application::Column::OrganisationId.eq(org.as_str()))
            .all(&write.txn)
            .await?;
        let cases = crate::cases::load_cases(&write.txn, rows).await?;
        let states: Vec<ApplicationState> = cases
            .iter()
            .filter(|c| {
                clearance_domain::documents::referenced_documents(c)
                    .iter()
                    .any(|d| d.sha256 == sha256)
            })
            .map(|c| c.application.state)
            .collect();
        may_delete(&states)?;
        stored_document::Entity::delete_by_id((org.as_str().to_owned(), sha256.to_owned()))
            .exec(&write.txn)
            .await?;
        deleted_upload::Entity::insert(deleted_upload::ActiveModel {
            organisation_id: Set(org.as_str().to_owned()),
            sha256: Set(sha256.to_owned()),
            delete_time: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                deleted_upload::Column::OrganisationId,
                deleted_upload::Column::Sha256,
            ])
            .update_column(deleted_upload::Column::DeleteTime)
            .to_owned(),
        )
        .exec_without_returning(&write.txn)
        .await?;
        write.commit().await
    }
}

/// Whether an upload holds these bytes or any application names them (its documents, an
/// answer's or an appeal's, whatever its state: a decided case's record keeps its documents).
async fn bytes_named(txn: &DatabaseTransaction, sha256: &str) -> Result<bool, StoreError> {
    let uploaded = stored_document::Entity::find()
        .filter(stored_document::Column::Sha256.eq(sha256))
        .one(txn)
        .await?
        .is_some();
    if uploaded {
        return Ok(true);
    }
    let in_content = application_document::Entity::find()
        .filter(application_document::Column::Sha256.eq(sha256))
        .one(txn)
        .await?
        .is_some();
    if in_content {
        return Ok(true);
    }
    let pattern = format!("%{sha256}%");
    let in_answers = information_request::Entity::find()
        .filter(information_request::Column::AnswerDocumentsJson.like(pattern.as_str()))
        .one(txn)
        .await?
        .is_some();
    let in_appeals = appeal::Entity::find()
        .filter(appeal::Column::DocumentsJson.like(pattern.as_str()))
        .one(txn)
        .await?
        .is_some();
    Ok(in_answers || in_appeals)
}

/// Holds `org`'s uploads of `sha256s` for the rest of the transaction (shared locks on
/// PostgreSQL; SQLite has one writer), so a document a step's case comes to rest on cannot be
/// deleted under it; a document deleted meanwhile refuses the step as a conflict.
pub(crate) async fn pin_documents(
    txn: &DatabaseTransaction,
    org: Option<&OrganisationId>,
    sha256s: &[String],
) -> Result<(), StoreError> {
    let Some(org) = org else {
        return Ok(());
    };
    if sha256s.is_empty() {
        return Ok(());
    }
    let mut query = stored_document::Entity::find()
        .filter(stored_document::Column::OrganisationId.eq(org.as_str()))
        .filter(stored_document::Column::Sha256.is_in(sha256s.iter().map(String::as_str)));
    if txn.get_database_backend() == DbBackend::Postgres {
        query = query.lock(LockType::Share);
    }
    let held: std::collections::HashSet<String> = query
        .all(txn)
        .await?
        .into_iter()
        .map(|d| d.sha256)
        .collect();
    if sha256s.iter().all(|s| held.contains(s)) {
        Ok(())
    } else {
        Err(StoreError::Conflict(
            "a document this names was deleted meanwhile; upload it again and retry".into(),
        ))
    }
}
