//! Token verification.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use clearance_domain::access::{Principal, Role};
use clearance_domain::ids::OrganisationId;
use clearance_domain::referral::is_agency_id;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::jwks::KeySet;

/// The claims Clearance reads. Identity providers write `aud` as a string or an array and may
/// leave out `nbf` and `iat`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: Audiences,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audiences {
    One(String),
    Many(Vec<String>),
}

impl From<String> for Audiences {
    fn from(one: String) -> Self {
        Audiences::One(one)
    }
}

/// Why a token was refused. All of these are `UNAUTHENTICATED` at the edge; the message is
/// safe to send (it never echoes the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token in the authorization header")]
    Missing,
    #[error("the authorization header must be 'Bearer <token>'")]
    Malformed,
    #[error("token refused: {0}")]
    Invalid(String),
    #[error("token refused: it names key id '{0}', which is not among this server's keys")]
    UnknownKeyId(String),
    #[error("key configuration: {0}")]
    Configuration(String),
}

/// Which signature algorithm a configured key verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EdDsa,
    Es256,
    Rs256,
    /// Shared secret; development only.
    Hs256,
}

impl KeyAlgorithm {
    fn algorithm(self) -> Algorithm {
        match self {
            KeyAlgorithm::EdDsa => Algorithm::EdDSA,
            KeyAlgorithm::Es256 => Algorithm::ES256,
            KeyAlgorithm::Rs256 => Algorithm::RS256,
            KeyAlgorithm::Hs256 => Algorithm::HS256,
        }
    }
}

/// A key that verifies signatures: a public key in PEM, or (HS256) the shared secret.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    pub algorithm: KeyAlgorithm,
    pub material: Vec<u8>,
}

/// What a verifier checks.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub issuer: String,
    pub audience: String,
    pub keys: Vec<VerifyingKey>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// Permits HS256 keys. Never set in production.
    pub development_mode: bool,
    /// Keys from an identity provider's key set, chosen by `kid`.
    pub key_set: Option<Arc<KeySet>>,
}

/// Verifies bearer tokens; cheap to clone and share.
#[derive(Clone)]
pub struct Verifier {
    issuer: String,
    audience: String,
    keys: Vec<(Algorithm, DecodingKey)>,
    key_set: Option<Arc<KeySet>>,
    leeway_seconds: u64,
    /// Tokens already verified, by the SHA-256 of their text: a token's validity depends only
    /// on its bytes, the keys and the clock, so a repeat needs only its expiry checked — and
    /// that the key set has not changed since (the generation). Bounded by `cache_capacity`.
    verified: Arc<Mutex<HashMap<TokenDigest, Remembered>>>,
    cache_capacity: usize,
}

/// SHA-256 of a token's text.
type TokenDigest = [u8; 32];

/// A verified token's caller, its expiry and the key set generation it was verified under.
type Remembered = (Principal, i64, u64);

/// The most verified tokens remembered at once by default; past it, expired ones are dropped first and
/// then everything, so memory stays bounded whatever clients send.
pub const MAX_CACHED_TOKENS: usize = 10_000;

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Verifier {
    pub fn new(config: VerifierConfig) -> Result<Verifier, AuthError> {
        if config.keys.is_empty() && config.key_set.is_none() {
            return Err(AuthError::Configuration(
                "no verification key configured".into(),
            ));
        }
        let mut keys = Vec::new();
        for key in &config.keys {
            let decoding = match key.algorithm {
                KeyAlgorithm::EdDsa => DecodingKey::from_ed_pem(&key.material),
                KeyAlgorithm::Es256 => DecodingKey::from_ec_pem(&key.material),
                KeyAlgorithm::Rs256 => DecodingKey::from_rsa_pem(&key.material),
                KeyAlgorithm::Hs256 if config.development_mode => {
                    if key.material.len() < 32 {
                        return Err(AuthError::Configuration(
                            "a shared secret must be at least 32 bytes".into(),
                        ));
                    }
                    Ok(DecodingKey::from_secret(&key.material))
                }
                KeyAlgorithm::Hs256 => {
                    return Err(AuthError::Configuration(
                        "shared-secret (HS256) keys are refused outside development mode".into(),
                    ));
                }
            }
            .map_err(|e| {
                AuthError::Configuration(format!("unreadable {:?} key: {e}", key.algorithm))
            })?;
            keys.push((key.algorithm.algorithm(), decoding));
        }
        Ok(Verifier {
            issuer: config.issuer,
            audience: config.audience,
            keys,
            key_set: config.key_set,
            leeway_seconds: config.leeway_seconds,
            verified: Arc::new(Mutex::new(HashMap::new())),
            cache_capacity: MAX_CACHED_TOKENS,
        })
    }

    /// Remembers at most `capacity` verified tokens instead of [`MAX_CACHED_TOKENS`].
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity.max(1);
        self
    }

    /// Verifies an `authorization` header value (`Bearer <jwt>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Malformed)?;
        self.verify(token)
    }

    /// Like [`Verifier::verify_header`]; a token naming a key id not seen yet first refreshes
    /// the key set (at most once per its rate limit), so a provider's rotation is picked up at
    /// once.
    pub async fn verify_header_refreshing(
        &self,
        header: Option<&str>,
    ) -> Result<Principal, AuthError> {
        self.refreshing_on_unknown_kid(|| self.verify_header(header))
            .await
    }

    /// `verify`'s answer; if it names a key id not seen yet and the key set could be read
    /// again (within its rate limit), the answer after that refresh.
    async fn refreshing_on_unknown_kid<T>(
        &self,
        verify: impl Fn() -> Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        match verify() {
            Err(AuthError::UnknownKeyId(kid)) => match &self.key_set {
                Some(set) if set.refresh_for_unknown_kid().await => verify(),
                _ => Err(AuthError::UnknownKeyId(kid)),
            },
            other => other,
        }
    }

    /// Verifies a compact JWT: signature by a configured key of the header's algorithm
    /// (`alg: none` is never accepted), issuer, audience, `exp` and `nbf`.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let key: TokenDigest = Sha256::digest(token.as_bytes()).into();
        let now = chrono::Utc::now().timestamp();
        let leeway = i64::try_from(self.leeway_seconds).unwrap_or(i64::MAX);
        // A poisoned lock only means another verification panicked; the map is still whole.
        let generation = self.key_set.as_ref().map_or(0, |set| set.generation());
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((principal, exp, seen)) = verified.get(&key)
            && now < exp.saturating_add(leeway)
            && *seen == generation
        {
            return Ok(principal.clone());
        }
        drop(verified);
        let (principal, exp) = self.verify_signature(token)?;
        verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= self.cache_capacity {
            verified.retain(|_, (_, exp, _)| now < exp.saturating_add(leeway));
            if verified.len() >= self.cache_capacity {
                verified.clear();
            }
        }
        verified.insert(key, (principal.clone(), exp, generation));
        Ok(principal)
    }

    /// How many verified tokens are remembered now.
    pub fn cached_tokens(&self) -> usize {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn verify_signature(&self, token: &str) -> Result<(Principal, i64), AuthError> {
        let claims: Claims = self.checked_claims(token)?;
        let exp = claims.exp;
        principal_from(claims).map(|p| (p, exp))
    }

    /// The claims of a token whose signature, issuer, audience, `exp` and `nbf` check out,
    /// as the caller reads them (e.g. an ID token's `nonce`); nothing is cached. A key id not
    /// seen yet first refreshes the key set, as [`Verifier::verify_header_refreshing`] does.
    pub async fn verified_claims<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<T, AuthError> {
        self.refreshing_on_unknown_kid(|| self.checked_claims(token))
            .await
    }

    fn checked_claims<T: serde::de::DeserializeOwned>(&self, token: &str) -> Result<T, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(in_plain_words(&e)))?;
        let mut last_error = AuthError::Invalid(format!(
            "no configured key verifies {:?} signatures",
            header.alg
        ));
        // A key id the key set knows picks that key alone; otherwise the configured keys of
        // the token's algorithm are tried.
        let from_set = match (&self.key_set, &header.kid) {
            (Some(set), Some(kid)) => set.current().get(kid).cloned(),
            _ => None,
        };
        let candidates: Vec<(Algorithm, DecodingKey)> = match from_set {
            Some(key) => vec![key],
            None => {
                if let (Some(_), Some(kid)) = (&self.key_set, &header.kid) {
                    last_error = AuthError::UnknownKeyId(kid.chars().take(64).collect());
                }
                self.keys.clone()
            }
        };
        for (algorithm, key) in candidates.iter().filter(|(a, _)| *a == header.alg) {
            let mut validation = Validation::new(*algorithm);
            validation.set_issuer(&[&self.issuer]);
            validation.set_audience(&[&self.audience]);
            validation.leeway = self.leeway_seconds;
            // Checked when present; identity providers often leave it out.
            validation.validate_nbf = true;
            validation.required_spec_claims = ["exp", "iss", "aud", "sub"]
                .into_iter()
                .map(String::from)
                .collect();
            match decode::<T>(token, key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    if !matches!(last_error, AuthError::UnknownKeyId(_)) {
                        last_error = AuthError::Invalid(in_plain_words(&e));
                    }
                }
            }
        }
        Err(last_error)
    }
}

/// Why a token was refused, in words a person can act on (the library's names, such as
/// `ExpiredSignature`, mean nothing to them).
fn in_plain_words(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired; get a new one".into(),
        ErrorKind::ImmatureSignature => {
            "the token is not valid yet (its nbf time is in the future)".into()
        }
        ErrorKind::InvalidSignature => {
            "the token's signature does not verify with this server's keys".into()
        }
        ErrorKind::InvalidIssuer => "the token was issued by another issuer".into(),
        ErrorKind::InvalidAudience => "the token was issued for another audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the token lacks the '{claim}' claim")
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token is signed with an algorithm this server does not accept".into()
        }
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => {
            "the token is not a well-formed JWT (three base64url parts: header, claims, signature)"
                .into()
        }
        _ => "the token cannot be verified".into(),
    }
}

/// Maps claims to a principal: known roles only, and an organisation exactly for exporters.
pub fn principal_from(claims: Claims) -> Result<Principal, AuthError> {
    if claims.sub.trim().is_empty() {
        return Err(AuthError::Invalid("empty subject".into()));
    }
    let mut roles = Vec::new();
    let mut seen = HashSet::new();
    for raw in &claims.roles {
        let role =
            Role::parse(raw).ok_or_else(|| AuthError::Invalid(format!("unknown role '{raw}'")))?;
        if seen.insert(role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err(AuthError::Invalid("the token carries no role".into()));
    }
    let exporter = roles.iter().any(|r| r.is_exporter());
    if exporter && roles.iter().any(|r| !r.is_exporter()) {
        return Err(AuthError::Invalid(
            "a token cannot carry both exporter and regulator roles".into(),
        ));
    }
    let adviser = roles.contains(&Role::Adviser);
    if adviser && roles.len() > 1 {
        return Err(AuthError::Invalid(
            "the adviser role cannot be combined with other roles".into(),
        ));
    }
    let (organisation, agency) = match (exporter, adviser, claims.org) {
        (true, _, Some(org)) => (
            Some(OrganisationId::parse(&org).map_err(|e| AuthError::Invalid(e.to_string()))?),
            None,
        ),
        (true, _, None) => {
            return Err(AuthError::Invalid(
                "exporter roles need the 'org' claim".into(),
            ));
        }
        (false, true, Some(agency)) if is_agency_id(&agency) => (None, Some(agency)),
        (false, true, _) => {
            return Err(AuthError::Invalid(
                "the adviser role needs the 'org' claim naming its agency (lower-case letters, digits, - and _)".into(),
            ));
        }
        (false, false, _) => (None, None),
    };
    Ok(Principal {
        subject: claims.sub,
        roles,
        organisation,
        agency,
    })
}
