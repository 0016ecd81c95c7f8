//! AuditService, served by both services: signed checkpoints of the audit log and proofs
//! against them. Regulators may prove any entry; an exporter only entries of its own resources
//! that its history shows it (the same rule as its event stream), so a proof never reveals
//! that a deliberation took place.

use clearance_domain::Violations;
use clearance_domain::access::Principal;
use clearance_domain::error::reason;
use clearance_domain::events::exporter_history_entry;
use clearance_proto::v1 as pb;
use clearance_proto::v1::audit_service_server::AuditService;
use clearance_store::{Store, StoredCheckpoint};
use tonic::{Request, Response, Status};

use crate::convert::timestamp;
use crate::error::{ApiError, ApiResult};

/// Serves the audit log's checkpoints and proofs.
#[derive(Clone)]
pub struct AuditApi {
    store: Store,
}

impl AuditApi {
    pub fn new(store: Store) -> Self {
        AuditApi { store }
    }
}

fn checkpoint_to_pb(c: &StoredCheckpoint) -> pb::Checkpoint {
    pb::Checkpoint {
        tree_size: i64::try_from(c.size).unwrap_or(i64::MAX),
        root_hash: c.root.to_vec(),
        note: c.note.clone(),
        sign_time: Some(timestamp(&c.sign_time)),
    }
}

/// A size from a request: not negative.
fn size(field: &str, value: i64, v: &mut Violations) -> u64 {
    u64::try_from(value).unwrap_or_else(|_| {
        v.add(field, "must not be negative");
        0
    })
}

impl AuditApi {
    /// The checkpoint of `size` (0: the latest); NOT_FOUND when none was signed.
    async fn checkpoint(&self, size: u64) -> ApiResult<StoredCheckpoint> {
        let found = if size == 0 {
            self.store.latest_checkpoint().await
        } else {
            self.store.checkpoint_of_size(size).await
        }
        .map_err(|e| ApiError::from_store("checkpoints", e))?;
        found.ok_or_else(|| {
            ApiError::NotFound(if size == 0 {
                "a checkpoint (none has been signed yet)".into()
            } else {
                format!("a checkpoint of size {size}")
            })
        })
    }

    async fn get_checkpoint(
        &self,
        _principal: Principal,
        req: pb::GetCheckpointRequest,
    ) -> ApiResult<pb::Checkpoint> {
        let mut v = Violations::new();
        let size = size("tree_size", req.tree_size, &mut v);
        if !v.is_empty() {
            return Err(v.into());
        }
        Ok(checkpoint_to_pb(&self.checkpoint(size).await?))
    }

    async fn get_inclusion_proof(
        &self,
        principal: Principal,
        req: pb::GetInclusionProofRequest,
    ) -> ApiResult<pb::InclusionProof> {
        let mut v = Violations::new();
        if req.resource.is_empty() || req.resource.len() > 128 || !req.resource.contains('/') {
            v.add("resource", "must name a resource, e.g. applications/{id}");
        }
        if req.sequence < 1 {
            v.add("sequence", "must be 1 or more");
        }
        let tree_size = size("tree_size", req.tree_size, &mut v);
        if !v.is_empty() {
            return Err(v.into());
        }
        let not_found = || ApiError::NotFound(format!("{} entry {}", req.resource, req.sequence));
        let logged = self
            .store
            .logged_entry(&req.resource, req.sequence)
            .await
            .map_err(|e| ApiError::from_store(&req.resource, e))?
            .ok_or_else(not_found)?;
        // Another organisation's entries, and the regulator's deliberation, are not there for
        // an exporter at all.
        if let Some(org) = &principal.organisation {
            let shown = logged.owner.as_deref() == Some(org.as_str())
                && logged
                    .entry
                    .as_ref()
                    .is_some_and(|e| exporter_history_entry(e).is_some());
            if !shown {
                return Err(not_found());
            }
        }
        let checkpoint = self.checkpoint(tree_size).await?;
        let index = match logged.log_index {
            Some(index) if index < checkpoint.size => index,
            _ => {
                return Err(ApiError::FailedPrecondition {
                    reason: reason::NOT_IN_CHECKPOINT,
                    message: format!(
                        "{} entry {} joined the log after the checkpoint of size {}; ask again after the next checkpoint",
                        req.resource, req.sequence, checkpoint.size
                    ),
                });
            }
        };
        let hashes = self
            .store
            .log_inclusion_proof(index, checkpoint.size)
            .await
            .map_err(|e| ApiError::from_store("audit log", e))?;
        Ok(pb::InclusionProof {
            log_index: i64::try_from(index).unwrap_or(i64::MAX),
            tree_size: i64::try_from(checkpoint.size).unwrap_or(i64::MAX),
            entry_sha256: logged.entry_sha256,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
            checkpoint: Some(checkpoint_to_pb(&checkpoint)),
        })
    }

    async fn get_consistency_proof(
        &self,
        _principal: Principal,
        req: pb::GetConsistencyProofRequest,
    ) -> ApiResult<pb::ConsistencyProof> {
        let mut v = Violations::new();
        let first = size("first_tree_size", req.first_tree_size, &mut v);
        let second = size("second_tree_size", req.second_tree_size, &mut v);
        if !v.is_empty() {
            return Err(v.into());
        }
        let second = if second == 0 {
            self.checkpoint(0).await?.size
        } else {
            second
        };
        let (log_size, _) = self
            .store
            .log_head()
            .await
            .map_err(|e| ApiError::from_store("audit log", e))?;
        if first > second {
            v.add(
                "first_tree_size",
                format!("must not exceed second_tree_size ({second})"),
            );
        }
        if second > log_size {
            v.add(
                "second_tree_size",
                format!("the log holds {log_size} entries"),
            );
        }
        if !v.is_empty() {
            return Err(v.into());
        }
        let hashes = self
            .store
            .log_consistency_proof(first, second)
            .await
            .map_err(|e| ApiError::from_store("audit log", e))?;
        Ok(pb::ConsistencyProof {
            first_tree_size: i64::try_from(first).unwrap_or(i64::MAX),
            second_tree_size: i64::try_from(second).unwrap_or(i64::MAX),
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        })
    }
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        crate::handle!(self, request, get_checkpoint)
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        crate::handle!(self, request, get_inclusion_proof)
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        crate::handle!(self, request, get_consistency_proof)
    }
}
