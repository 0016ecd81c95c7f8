//! Reading the caller and the request's identity.

use clearance_domain::Violations;
use clearance_domain::access::Principal;
use sha2::{Digest, Sha256};
use tonic::Request;

use crate::error::ApiError;

/// The authenticated caller, put there by [`crate::Authenticator`].
pub fn principal<T>(request: &Request<T>) -> Result<Principal, ApiError> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ApiError::Unauthenticated("missing bearer token".into()))
}

/// Hex SHA-256 of a request's protobuf encoding, to tell a retry from a reuse of its key.
pub fn request_sha256<M: prost::Message>(message: &M) -> String {
    Sha256::digest(message.encode_to_vec())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `request_id` is required on every mutation: 1..=128 printable ASCII characters
/// (a UUID is the usual choice).
pub fn validate_request_id(request_id: &str) -> Result<String, Violations> {
    if request_id.is_empty() {
        return Err(Violations::single(
            "request_id",
            "is required: choose a unique id (e.g. a UUID) and reuse it when retrying",
        ));
    }
    if request_id.len() > 128 || !request_id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Violations::single(
            "request_id",
            "must be 1 to 128 printable ASCII characters",
        ));
    }
    Ok(request_id.to_owned())
}

/// Validates a create request: its `request_id` and its body message `field`, reporting the
/// problems of both together.
pub fn validate_create<B: Clone, T>(
    request_id: &str,
    field: &str,
    body: &Option<B>,
    parse: impl FnOnce(B) -> Result<T, Violations>,
) -> Result<(String, T), Violations> {
    let mut v = Violations::new();
    let request_id = v.check("", validate_request_id(request_id));
    let value = match body {
        None => {
            v.add(field, "is required");
            None
        }
        Some(b) => v.check(field, parse(b.clone())),
    };
    match (request_id, value) {
        (Some(request_id), Some(value)) => Ok((request_id, value)),
        _ => Err(v),
    }
}

/// What an update request names: its idempotency key, the resource and the version read.
#[derive(Debug, Clone)]
pub struct UpdateTarget {
    pub request_id: String,
    pub id: uuid::Uuid,
    pub version: i64,
}

/// Validates an update request: `request_id`, the update mask against `updatable`, and the
/// body's `name` and `etag` (named `{field}.name`, `{field}.etag`).
pub fn validate_update(
    request_id: &str,
    mask: &[String],
    updatable: &[&str],
    field: &str,
    collection: clearance_domain::ids::Collection,
    name: &str,
    etag: &str,
) -> Result<UpdateTarget, Violations> {
    let mut v = Violations::new();
    let request_id = v.check("", validate_request_id(request_id));
    v.check(
        "",
        clearance_domain::validation::check_update_mask(mask, updatable),
    );
    let id = v.check("", collection.parse_name(&format!("{field}.name"), name));
    let version = v.check(
        "",
        clearance_domain::etag::parse_etag(&format!("{field}.etag"), etag),
    );
    match (request_id, id, version) {
        (Some(request_id), Some(id), Some(version)) if v.is_empty() => Ok(UpdateTarget {
            request_id,
            id,
            version,
        }),
        _ => Err(v),
    }
}

/// Validates a list request's filter (with `parse_filter`) and paging together. `scope`
/// names the collection and the caller's organisation, so a page token only continues the
/// very query that issued it.
pub fn validate_list<F>(
    page_size: i32,
    page_token: &str,
    filter: &str,
    scope: &str,
    parse_filter: impl FnOnce(&str) -> Result<F, Violations>,
) -> Result<(F, clearance_domain::paging::PageRequest), Violations> {
    let mut v = Violations::new();
    let parsed = v.check("", parse_filter(filter));
    let page = v.check(
        "",
        clearance_domain::paging::PageRequest::parse(
            page_size,
            page_token,
            &format!("{scope}|{filter}"),
        ),
    );
    match (parsed, page) {
        (Some(parsed), Some(page)) => Ok((parsed, page)),
        _ => Err(v),
    }
}
