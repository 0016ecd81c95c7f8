//! Access: verifying bearer tokens (JWT) and turning their claims into a [`Principal`].
//!
//! Production verifies asymmetric signatures (EdDSA, ES256, RS256) against configured public
//! keys. A development deployment generates an Ed25519 key pair on first start and mints
//! tokens with it (`clearance token`). A shared secret (HS256) is accepted only when the
//! operator explicitly enables development mode.

mod dev_key;
mod jwks;
mod oidc;
mod verifier;

pub use clearance_domain::access::{Audience, Principal, Role};
pub use dev_key::{DevKey, TokenRequest};
pub use jwks::{JwksSource, KeySet};
pub use oidc::{
    OidcError, OidcProvider, OidcSettings, PendingSignIn, SignedIn, code_challenge, roles_in,
};
pub use verifier::{
    Audiences, AuthError, Claims, KeyAlgorithm, Verifier, VerifierConfig, VerifyingKey,
    principal_from,
};

/// Compares secrets (tokens, nonces) in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
