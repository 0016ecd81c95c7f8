//! The development signing key: an Ed25519 pair generated on first start, beside the embedded
//! database, and used by `clearance token` to mint tokens for local work.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

use crate::verifier::{AuthError, Claims, KeyAlgorithm, VerifyingKey};

const PRIVATE_FILE: &str = "dev-signing-key.pem";
const PUBLIC_FILE: &str = "dev-signing-key.pub.pem";

/// A development key pair stored as two PEM files in a directory.
#[derive(Debug, Clone)]
pub struct DevKey {
    private_pem: String,
    public_pem: String,
    pub private_path: PathBuf,
}

/// What to put into a minted token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub subject: String,
    pub roles: Vec<String>,
    pub organisation: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub now: DateTime<Utc>,
    pub lifetime_seconds: i64,
}

impl DevKey {
    /// Reads the pair from `dir`, generating it first if absent. Safe when several processes
    /// start at once on a shared directory: the private key appears whole and only once (a
    /// hard link to a finished file either wins or finds the winner's), and every process
    /// derives the public half from it.
    pub fn load_or_create(dir: &Path) -> Result<DevKey, AuthError> {
        let private_path = dir.join(PRIVATE_FILE);
        if !private_path.exists() {
            std::fs::create_dir_all(dir).map_err(|e| configuration(dir, e))?;
            let mut secret = [0u8; 32];
            getrandom(&mut secret)?;
            let private_pem = SigningKey::from_bytes(&secret)
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| AuthError::Configuration(e.to_string()))?;
            let draft = dir.join(format!(".{PRIVATE_FILE}.{}", draft_suffix()));
            write_private(&draft, private_pem.as_bytes())?;
            let published = std::fs::hard_link(&draft, &private_path);
            let _ = std::fs::remove_file(&draft);
            match published {
                Ok(()) => {}
                // Another process won the race; use its key.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(configuration(&private_path, e)),
            }
        }
        let key = Self::load(dir)?;
        // The public file is for people and other tools; the server derives it anyway.
        let public_path = dir.join(PUBLIC_FILE);
        if std::fs::read_to_string(&public_path).ok().as_deref() != Some(key.public_pem.as_str()) {
            let draft = dir.join(format!(".{PUBLIC_FILE}.{}", draft_suffix()));
            std::fs::write(&draft, key.public_pem.as_bytes())
                .and_then(|()| std::fs::rename(&draft, &public_path))
                .map_err(|e| configuration(&public_path, e))?;
        }
        Ok(key)
    }

    /// Reads an existing key from `dir` and derives its public half.
    pub fn load(dir: &Path) -> Result<DevKey, AuthError> {
        let private_path = dir.join(PRIVATE_FILE);
        let private_pem = std::fs::read_to_string(&private_path).map_err(|e| {
            AuthError::Configuration(format!(
                "{}: {e} (run `clearance keygen` or start `clearance serve` once to generate the development key)",
                private_path.display()
            ))
        })?;
        let public_pem = SigningKey::from_pkcs8_pem(&private_pem)
            .map_err(|e| {
                AuthError::Configuration(format!(
                    "{}: not an Ed25519 key: {e}",
                    private_path.display()
                ))
            })?
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| AuthError::Configuration(e.to_string()))?;
        Ok(DevKey {
            private_pem: private_pem.to_string(),
            public_pem,
            private_path,
        })
    }

    /// Where the public half is written, for configurations that trust it as a production key.
    pub fn public_path(&self) -> PathBuf {
        self.private_path.with_file_name(PUBLIC_FILE)
    }

    /// The public half, for the verifier.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            algorithm: KeyAlgorithm::EdDsa,
            material: self.public_pem.as_bytes().to_vec(),
        }
    }

    /// Signs a token with the development key.
    pub fn mint(&self, request: &TokenRequest) -> Result<String, AuthError> {
        let now = request.now.timestamp();
        let claims = Claims {
            sub: request.subject.clone(),
            iss: request.issuer.clone(),
            aud: request.audience.clone().into(),
            exp: now + request.lifetime_seconds,
            nbf: Some(now),
            iat: Some(now),
            roles: request.roles.clone(),
            org: request.organisation.clone(),
        };
        self.sign(&claims, None)
    }

    /// Signs any claims, with `kid` in the header when given (a key published in a key set).
    pub fn sign<T: serde::Serialize>(
        &self,
        claims: &T,
        kid: Option<&str>,
    ) -> Result<String, AuthError> {
        let key = EncodingKey::from_ed_pem(self.private_pem.as_bytes())
            .map_err(|e| AuthError::Configuration(e.to_string()))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        encode(&header, claims, &key).map_err(|e| AuthError::Configuration(e.to_string()))
    }

    /// The Ed25519 key itself, e.g. to sign the audit log's checkpoints with a key generated
    /// for development.
    pub fn ed25519(&self) -> Result<SigningKey, AuthError> {
        SigningKey::from_pkcs8_pem(&self.private_pem)
            .map_err(|e| AuthError::Configuration(e.to_string()))
    }

    /// The public key as a JSON Web Key with id `kid`, for a key set.
    pub fn public_jwk(&self, kid: &str) -> Result<serde_json::Value, AuthError> {
        use base64::Engine;
        let signing = SigningKey::from_pkcs8_pem(&self.private_pem)
            .map_err(|e| AuthError::Configuration(e.to_string()))?;
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(signing.verifying_key().as_bytes());
        Ok(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"
        }))
    }
}

/// A name no other writer uses at the same time: this process, and a counter within it.
fn draft_suffix() -> String {
    static DRAFTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = DRAFTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

fn configuration(path: &Path, e: std::io::Error) -> AuthError {
    AuthError::Configuration(format!("{}: {e}", path.display()))
}

fn getrandom(buf: &mut [u8]) -> Result<(), AuthError> {
    use rand_core::{OsRng, RngCore};
    OsRng
        .try_fill_bytes(buf)
        .map_err(|e| AuthError::Configuration(format!("no randomness: {e}")))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| AuthError::Configuration(format!("{}: {e}", path.display())))?;
    file.write_all(bytes)
        .map_err(|e| AuthError::Configuration(format!("{}: {e}", path.display())))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    std::fs::write(path, bytes)
        .map_err(|e| AuthError::Configuration(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::{Verifier, VerifierConfig};

    fn request(roles: &[&str], org: Option<&str>, now: DateTime<Utc>) -> TokenRequest {
        TokenRequest {
            subject: "alice".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            organisation: org.map(String::from),
            issuer: "clearance-dev".into(),
            audience: "clearance".into(),
            now,
            lifetime_seconds: 3600,
        }
    }

    fn verifier(key: &DevKey, audience: &str) -> Verifier {
        Verifier::new(VerifierConfig {
            issuer: "clearance-dev".into(),
            audience: audience.into(),
            keys: vec![key.verifying_key()],
            leeway_seconds: 30,
            development_mode: false,
            key_set: None,
        })
        .unwrap()
    }

    #[test]
    fn a_minted_token_verifies_into_a_principal() {
        let dir = tempfile::tempdir().unwrap();
        let key = DevKey::load_or_create(dir.path()).unwrap();
        let token = key
            .mint(&request(&["applicant"], Some("acme"), Utc::now()))
            .unwrap();
        let p = verifier(&key, "clearance").verify(&token).unwrap();
        assert_eq!(p.organisation.unwrap().as_str(), "acme");
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires_and_the_memory_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let key = DevKey::load_or_create(dir.path()).unwrap();
        let v = verifier(&key, "clearance").with_cache_capacity(20);
        let token = key
            .mint(&request(&["erp"], Some("acme"), Utc::now()))
            .unwrap();
        let first = v.verify(&token).unwrap();
        assert_eq!(
            v.verify(&token).unwrap(),
            first,
            "a repeat gives the same caller"
        );
        // A token that expired (beyond the leeway) is refused even after it was verified.
        let mut stale = request(
            &["erp"],
            Some("acme"),
            Utc::now() - chrono::Duration::seconds(100),
        );
        stale.lifetime_seconds = 60;
        let stale = key.mint(&stale).unwrap();
        assert!(v.verify(&stale).is_err());
        // A tampered copy of a remembered token is a different text: verified afresh, refused.
        let mut tampered = token.clone();
        tampered.pop();
        assert!(v.verify(&tampered).is_err());
        for i in 0..30 {
            let mut r = request(&["erp"], Some("acme"), Utc::now());
            r.subject = format!("erp-{i}");
            v.verify(&key.mint(&r).unwrap()).unwrap();
        }
        assert!(v.cached_tokens() <= 20);
    }

    #[test]
    fn processes_starting_together_on_one_directory_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let keys: Vec<String> = (0..8)
            .map(|_| {
                let dir = dir.path().to_owned();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    DevKey::load_or_create(&dir).unwrap().public_pem
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.iter().all(|k| *k == keys[0]), "one key for all");
        let on_disk = std::fs::read_to_string(dir.path().join(PUBLIC_FILE)).unwrap();
        assert_eq!(on_disk, keys[0]);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "only the two key files remain");
    }

    #[test]
    fn the_key_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = DevKey::load_or_create(dir.path()).unwrap();
        let b = DevKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_pem, b.public_pem);
    }

    #[test]
    fn expired_foreign_and_misaddressed_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other_dir = tempfile::tempdir().unwrap();
        let key = DevKey::load_or_create(dir.path()).unwrap();
        let other = DevKey::load_or_create(other_dir.path()).unwrap();
        let v = verifier(&key, "clearance");
        let old = Utc::now() - chrono::Duration::hours(3);
        assert!(
            v.verify(
                &key.mint(&request(&["applicant"], Some("acme"), old))
                    .unwrap()
            )
            .is_err()
        );
        assert!(
            v.verify(
                &other
                    .mint(&request(&["applicant"], Some("acme"), Utc::now()))
                    .unwrap()
            )
            .is_err()
        );
        assert!(
            verifier(&key, "elsewhere")
                .verify(
                    &key.mint(&request(&["applicant"], Some("acme"), Utc::now()))
                        .unwrap()
                )
                .is_err()
        );
    }

    #[test]
    fn exporter_roles_need_an_organisation_and_roles_do_not_mix() {
        let dir = tempfile::tempdir().unwrap();
        let key = DevKey::load_or_create(dir.path()).unwrap();
        let v = verifier(&key, "clearance");
        assert!(
            v.verify(&key.mint(&request(&["erp"], None, Utc::now())).unwrap())
                .is_err()
        );
        assert!(
            v.verify(
                &key.mint(&request(&["erp", "reviewer"], Some("acme"), Utc::now()))
                    .unwrap()
            )
            .is_err()
        );
        assert!(
            v.verify(&key.mint(&request(&["wizard"], None, Utc::now())).unwrap())
                .is_err()
        );
    }

    #[test]
    fn an_adviser_acts_for_one_well_named_agency_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let key = DevKey::load_or_create(dir.path()).unwrap();
        let v = verifier(&key, "clearance");
        let mint = |roles: &[&str], org: Option<&str>| key.mint(&request(roles, org, Utc::now()));
        let p = v
            .verify(&mint(&["adviser"], Some("defense")).unwrap())
            .unwrap();
        assert_eq!(p.agency.as_deref(), Some("defense"));
        assert_eq!(p.organisation, None, "an agency is not an exporter");
        for (roles, org) in [
            (&["adviser"][..], None),
            (&["adviser"][..], Some("Defense Dept")),
            (&["adviser", "reviewer"][..], Some("defense")),
        ] {
            assert!(
                v.verify(&mint(roles, org).unwrap()).is_err(),
                "{roles:?} {org:?}"
            );
        }
        let reviewer = v
            .verify(&mint(&["reviewer"], Some("defense")).unwrap())
            .unwrap();
        assert_eq!(reviewer.agency, None, "only advisers act for an agency");
    }

    #[test]
    fn shared_secrets_are_refused_outside_development_mode() {
        let config = VerifierConfig {
            issuer: "i".into(),
            audience: "a".into(),
            keys: vec![VerifyingKey {
                algorithm: KeyAlgorithm::Hs256,
                material: vec![7; 32],
            }],
            leeway_seconds: 0,
            development_mode: false,
            key_set: None,
        };
        assert!(Verifier::new(config).is_err());
    }
}
