//! Documents: bytes in a content-addressed file store (a file per SHA-256, written once under
//! a temporary name and renamed into place), and in the database which organisation uploaded
//! which document.

use std::path::{Path, PathBuf};

use clearance_domain::application::{ApplicationState, SupportingDocument};
use clearance_domain::ids::OrganisationId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::connection::Store;
use crate::entities::{application, stored_document};
use crate::error::StoreError;

/// Where document bytes live: `ROOT/ab/abcdef…` by SHA-256.
#[derive(Debug, Clone)]
pub struct DocumentFiles {
    root: PathBuf,
}

/// An upload being received: written to a temporary file and hashed as it arrives.
pub struct PendingFile {
    path: PathBuf,
    file: tokio::fs::File,
    hasher: Sha256,
    size: i64,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Files(e.to_string())
}

impl DocumentFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DocumentFiles { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, sha256: &str) -> PathBuf {
        self.root.join(sha256.get(..2).unwrap_or("xx")).join(sha256)
    }

    /// Starts receiving a document.
    pub async fn begin(&self) -> Result<PendingFile, StoreError> {
        let incoming = self.root.join("incoming");
        tokio::fs::create_dir_all(&incoming).await.map_err(io)?;
        let path = incoming.join(uuid::Uuid::now_v7().to_string());
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
        let sha256 = hex(&pending.hasher.finalize());
        let target = self.path_of(&sha256);
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        tokio::fs::rename(&pending.path, &target)
            .await
            .map_err(io)?;
        Ok((sha256, pending.size))
    }

    /// The stored bytes of a document, if they are here.
    pub async fn open(&self, sha256: &str) -> Result<Option<tokio::fs::File>, StoreError> {
        if !is_sha256(sha256) {
            return Ok(None);
        }
        match tokio::fs::File::open(self.path_of(sha256)).await {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    /// The SHA-256 of the bytes stored for `sha256` now, if they are here: differs from its
    /// name when the file was changed.
    pub async fn rehash(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        let Some(mut file) = self.open(sha256).await? else {
            return Ok(None);
        };
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let read = file.read(&mut buffer).await.map_err(io)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        Ok(Some(hex(&hasher.finalize())))
    }

    pub async fn remove(&self, sha256: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path_of(sha256)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
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

    /// Gives the upload up, removing what was received.
    pub async fn abandon(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
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

    /// Whether `org` uploaded a document with these bytes.
    pub async fn uploaded(&self, org: &OrganisationId, sha256: &str) -> Result<bool, StoreError> {
        Ok(
            stored_document::Entity::find_by_id((org.as_str().to_owned(), sha256.to_owned()))
                .one(&self.db)
                .await?
                .is_some(),
        )
    }

    /// The states of `org`'s applications that rest on the document `sha256`, for the rule
    /// on deleting it. Documents are named in the applications' stored content (documents,
    /// answers and appeals), so the organisation's cases are read whole.
    pub async fn states_resting_on(
        &self,
        org: &OrganisationId,
        sha256: &str,
    ) -> Result<Vec<ApplicationState>, StoreError> {
        let rows = application::Entity::find()
            .filter(application::Column::OrganisationId.eq(org.as_str()))
            .all(&self.db)
            .await?;
        let cases = crate::cases::load_cases(&self.db, rows).await?;
        Ok(cases
            .iter()
            .filter(|c| {
                clearance_domain::documents::referenced_documents(c)
                    .iter()
                    .any(|d| d.sha256 == sha256)
            })
            .map(|c| c.application.state)
            .collect())
    }

    /// Forgets `org`'s upload; answers whether any organisation still holds the same bytes.
    pub async fn forget_upload(
        &self,
        org: &OrganisationId,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        let write = self.begin_write().await?;
        stored_document::Entity::delete_by_id((org.as_str().to_owned(), sha256.to_owned()))
            .exec(&write.txn)
            .await?;
        let still_held = stored_document::Entity::find()
            .filter(stored_document::Column::Sha256.eq(sha256))
            .one(&write.txn)
            .await?
            .is_some();
        write.commit().await?;
        Ok(still_held)
    }
}
