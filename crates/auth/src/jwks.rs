//! Verification keys from an identity provider's JSON Web Key Set (a file or an https URL),
//! chosen by the token's `kid`, refreshed periodically and, rate-limited, when a token names
//! a key id not seen yet (the provider has rotated).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm as JwkAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::verifier::AuthError;

/// The largest key set read (a provider publishes a handful of keys).
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How long fetching the key set from a URL may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the key set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

impl JwksSource {
    /// `https://…` (or `http://` for a provider on the same host) is a URL; anything else a
    /// file path.
    pub fn parse(raw: &str) -> JwksSource {
        if raw.starts_with("https://") || raw.starts_with("http://") {
            JwksSource::Url(raw.to_owned())
        } else {
            JwksSource::File(PathBuf::from(raw))
        }
    }

    fn describe(&self) -> String {
        match self {
            JwksSource::File(path) => path.display().to_string(),
            JwksSource::Url(url) => url.clone(),
        }
    }
}

/// The keys of one key set by `kid`, swapped whole on each refresh.
pub struct KeySet {
    source: JwksSource,
    keys: RwLock<Arc<HashMap<String, (Algorithm, DecodingKey)>>>,
    /// When the set was last loaded (or a load was tried), for rate-limiting refreshes.
    last_load: Mutex<Option<Instant>>,
    /// Refreshes on an unknown `kid` come at most this often.
    min_refresh: Duration,
    /// Bumped on every change of the set, so verified-token caches can be dropped.
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("source", &self.source)
            .field("keys", &self.key_ids())
            .finish()
    }
}

impl KeySet {
    /// Loads the set once; a server does not start without its keys.
    pub async fn load(source: JwksSource, min_refresh: Duration) -> Result<KeySet, AuthError> {
        let set = KeySet {
            source,
            keys: RwLock::new(Arc::new(HashMap::new())),
            last_load: Mutex::new(None),
            min_refresh,
            generation: std::sync::atomic::AtomicU64::new(0),
        };
        set.refresh().await?;
        Ok(set)
    }

    /// The key ids in the set now.
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.current().keys().cloned().collect();
        ids.sort();
        ids
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn current(&self) -> Arc<HashMap<String, (Algorithm, DecodingKey)>> {
        // A poisoned lock only means a refresh panicked; the previous set is still whole.
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the set again and swaps it in. On failure the previous keys stay in force.
    pub async fn refresh(&self) -> Result<usize, AuthError> {
        *self.last_load.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let bytes = self.fetch().await?;
        let keys = parse_key_set(&bytes).map_err(|e| {
            AuthError::Configuration(format!("key set {}: {e}", self.source.describe()))
        })?;
        let count = keys.len();
        let mut current = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let changed = {
            let mut old: Vec<&String> = current.keys().collect();
            let mut new: Vec<&String> = keys.keys().collect();
            old.sort();
            new.sort();
            old != new
        };
        *current = Arc::new(keys);
        drop(current);
        if changed {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tracing::info!(source = %self.source.describe(), keys = ?self.key_ids(), "verification keys changed");
        }
        Ok(count)
    }

    /// Refreshes because a token named an unknown `kid`, unless a load happened within the
    /// rate limit. Whether a refresh ran.
    pub(crate) async fn refresh_for_unknown_kid(&self) -> bool {
        {
            let last = self.last_load.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.min_refresh) {
                return false;
            }
        }
        match self.refresh().await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "refreshing the key set failed; the previous keys stay");
                false
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<u8>, AuthError> {
        let fail = |e: String| {
            AuthError::Configuration(format!("key set {}: {e}", self.source.describe()))
        };
        let bytes = match &self.source {
            JwksSource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| fail(e.to_string()))?,
            JwksSource::Url(url) => {
                let client = reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .build()
                    .map_err(|e| fail(e.to_string()))?;
                let response = client
                    .get(url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| fail(e.to_string()))?;
                response
                    .bytes()
                    .await
                    .map_err(|e| fail(e.to_string()))?
                    .to_vec()
            }
        };
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(fail(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        Ok(bytes)
    }

    /// Refreshes every `interval` until the returned task is aborted.
    pub fn spawn_refresh(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let set = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(set) = set.upgrade() else {
                    return;
                };
                if let Err(e) = set.refresh().await {
                    tracing::warn!(error = %e, "refreshing the key set failed; the previous keys stay");
                }
            }
        })
    }
}

/// The signing keys of a JWKS document by `kid`. Encryption keys and shared secrets are left
/// out; a key without `kid` cannot be chosen and is left out too.
fn parse_key_set(bytes: &[u8]) -> Result<HashMap<String, (Algorithm, DecodingKey)>, String> {
    let set: JwkSet =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Some(algorithm) = signing_algorithm(jwk) else {
            tracing::warn!(%kid, "key of an algorithm Clearance does not accept; left out");
            continue;
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {kid}: {e}"))?;
        keys.insert(kid, (algorithm, key));
    }
    if keys.is_empty() {
        return Err("no signing key with a key id (kid) in it".into());
    }
    Ok(keys)
}

/// EdDSA (Ed25519), ES256 (P-256) or RS256; the `alg` member, if any, must agree.
fn signing_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    let by_key = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        _ => return None,
    };
    let stated = match jwk.common.key_algorithm {
        None => return Some(by_key),
        Some(JwkAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(JwkAlgorithm::ES256) => Algorithm::ES256,
        Some(JwkAlgorithm::RS256) => Algorithm::RS256,
        Some(_) => return None,
    };
    (stated == by_key).then_some(by_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DevKey;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves `body` to every request on a local port, as an identity provider's jwks_uri.
    async fn provider(body: String) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}/.well-known/jwks.json")
    }

    #[tokio::test]
    async fn a_key_set_is_fetched_from_the_providers_url() {
        let dir = tempfile::tempdir().unwrap();
        let key = DevKey::load_or_create(dir.path()).unwrap();
        let encryption = serde_json::json!({
            "kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB", "e": "AQAB"
        });
        let body = serde_json::json!({ "keys": [key.public_jwk("sig-1").unwrap(), encryption] })
            .to_string();
        let url = provider(body).await;
        let set = KeySet::load(JwksSource::parse(&url), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(set.key_ids(), ["sig-1"], "encryption keys are left out");
        // A refresh within the rate limit does not happen.
        assert!(!set.refresh_for_unknown_kid().await);
    }

    #[tokio::test]
    async fn a_provider_that_is_down_or_sends_no_signing_key_is_named() {
        let refused = KeySet::load(
            JwksSource::parse("http://127.0.0.1:9/jwks.json"),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(refused.contains("127.0.0.1:9"), "{refused}");
        let url = provider(r#"{"keys": []}"#.into()).await;
        let empty = KeySet::load(JwksSource::parse(&url), Duration::from_secs(1))
            .await
            .unwrap_err()
            .to_string();
        assert!(empty.contains("no signing key"), "{empty}");
    }
}
