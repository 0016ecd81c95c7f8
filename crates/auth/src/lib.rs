//! Access: verifying bearer tokens (JWT) and turning their claims into a [`Principal`].
//!
//! Production verifies asymmetric signatures (EdDSA, ES256, RS256) against configured public
//! keys. A development deployment generates an Ed25519 key pair on first start and mints
//! tokens with it (`clearance token`). A shared secret (HS256) is accepted only when the
//! operator explicitly enables development mode.

mod dev_key;
mod jwks;
mod verifier;

pub use clearance_domain::access::{Audience, Principal, Role};
pub use dev_key::{DevKey, TokenRequest};
pub use jwks::{JwksSource, KeySet};
pub use verifier::{
    Audiences, AuthError, Claims, KeyAlgorithm, Verifier, VerifierConfig, VerifyingKey,
    principal_from,
};
