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
