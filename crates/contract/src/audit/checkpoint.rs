//! Checkpoints: the log's size and root, signed in the signed-note format transparency logs
//! use (C2SP tlog-checkpoint and signed-note), so tools written for those logs read them.
//!
//! ```text
//! clearance.example/audit
//! 1024
//! <base64 root hash>
//!
//! — clearance.example/audit <base64(key id ‖ Ed25519 signature)>
//! ```
//!
//! The signature covers the text before the blank line; the key id is the first four bytes of
//! SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key). A verifier key is written
//! `<name>+<key id hex>+<base64(0x01 ‖ public key)>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The signature type of Ed25519 in signed notes.
const ED25519: u8 = 0x01;

/// A tree head: how many entries the log held and the root over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Names the log, e.g. "clearance.example.gov/audit".
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// Why a checkpoint or key was refused, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a checkpoint: {0}")]
    Malformed(String),
    #[error("the checkpoint is not signed by {0}")]
    Unsigned(String),
    #[error("not a verifier key: {0}")]
    BadKey(String),
}

fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A key name must be a single word of printable characters without `+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && name.chars().all(|c| c.is_ascii_graphic())
}

impl Checkpoint {
    /// The signed text: origin, size and root, each on its line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// The signed note, signed by `key` under `name`.
    pub fn sign(&self, name: &str, key: &SigningKey) -> String {
        let body = self.body();
        let signature = key.sign(body.as_bytes());
        let mut blob = key_id(name, &key.verifying_key()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{body}\n\u{2014} {name} {}\n", STANDARD.encode(blob))
    }

    /// Reads a signed note, accepting it only with a valid signature of `verifier`.
    pub fn open(note: &str, verifier: &NoteVerifier) -> Result<Checkpoint, CheckpointError> {
        let (body, signatures) = note.split_once("\n\n").ok_or_else(|| {
            CheckpointError::Malformed("no blank line before the signatures".into())
        })?;
        let body = format!("{body}\n");
        let signed = signatures.lines().any(|line| {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return false;
            };
            let Some((name, blob)) = rest.split_once(' ') else {
                return false;
            };
            let Ok(blob) = STANDARD.decode(blob) else {
                return false;
            };
            name == verifier.name
                && blob.len() == 4 + 64
                && blob[..4] == verifier.key_id
                && Signature::from_slice(&blob[4..])
                    .is_ok_and(|s| verifier.key.verify(body.as_bytes(), &s).is_ok())
        });
        if !signed {
            return Err(CheckpointError::Unsigned(verifier.name.clone()));
        }
        let mut lines = body.lines();
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| CheckpointError::Malformed("no origin line".into()))?;
        let size = lines
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| CheckpointError::Malformed("the size line is not a number".into()))?;
        let root: Hash = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| {
                CheckpointError::Malformed("the root line is not a base64 SHA-256".into())
            })?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// Who may sign checkpoints: a key name and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    key_id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Result<NoteVerifier, CheckpointError> {
        if !valid_name(name) {
            return Err(CheckpointError::BadKey(
                "a key name is printable characters without spaces or '+'".into(),
            ));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: key_id(name, &key),
            key,
        })
    }

    /// Reads `<name>+<key id hex>+<base64(0x01 ‖ key)>`.
    pub fn parse(text: &str) -> Result<NoteVerifier, CheckpointError> {
        let text = text.trim();
        // Names hold no '+', and the key id is hex; the key's base64 may hold '+'.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CheckpointError::BadKey("expected name+keyid+key".into()));
        };
        let key = STANDARD
            .decode(key)
            .map_err(|_| CheckpointError::BadKey("the key is not base64".into()))?;
        let bytes: [u8; 32] = match key.split_first() {
            Some((&ED25519, rest)) => rest
                .try_into()
                .map_err(|_| CheckpointError::BadKey("not an Ed25519 key".into()))?,
            _ => return Err(CheckpointError::BadKey("not an Ed25519 key".into())),
        };
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| CheckpointError::BadKey("not an Ed25519 key".into()))?;
        let verifier = NoteVerifier::new(name, key)?;
        let expected: String = verifier.key_id.iter().map(|b| format!("{b:02x}")).collect();
        if id != expected {
            return Err(CheckpointError::BadKey(
                "the key id does not belong to this name and key".into(),
            ));
        }
        Ok(verifier)
    }

    /// The verifier key as text, for publishing beside the checkpoints.
    pub fn to_text(&self) -> String {
        let id: String = self.key_id.iter().map(|b| format!("{b:02x}")).collect();
        let mut key = vec![ED25519];
        key.extend_from_slice(self.key.as_bytes());
        format!("{}+{id}+{}", self.name, STANDARD.encode(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_only() {
        let checkpoint = Checkpoint {
            origin: "clearance.example/audit".into(),
            size: 42,
            root: [7; 32],
        };
        let note = checkpoint.sign("clearance.example/audit", &key(1));
        assert!(note.starts_with("clearance.example/audit\n42\n"));
        assert!(note.contains("\n\n\u{2014} clearance.example/audit "));
        let verifier =
            NoteVerifier::new("clearance.example/audit", key(1).verifying_key()).unwrap();
        assert_eq!(Checkpoint::open(&note, &verifier).unwrap(), checkpoint);
        // Published as text and read back.
        let again = NoteVerifier::parse(&verifier.to_text()).unwrap();
        assert_eq!(again, verifier);
        // Another key, another name, or a changed size or root is refused.
        let other = NoteVerifier::new("clearance.example/audit", key(2).verifying_key()).unwrap();
        assert!(Checkpoint::open(&note, &other).is_err());
        let renamed = NoteVerifier::new("someone-else", key(1).verifying_key()).unwrap();
        assert!(Checkpoint::open(&note, &renamed).is_err());
        let bigger = note.replacen("\n42\n", "\n43\n", 1);
        assert!(Checkpoint::open(&bigger, &verifier).is_err());
        assert!(Checkpoint::open("nonsense", &verifier).is_err());
        // A key id that is not this name's and key's is refused.
        let text = verifier.to_text();
        let mut parts: Vec<&str> = text.split('+').collect();
        parts[1] = "00000000";
        assert!(NoteVerifier::parse(&parts.join("+")).is_err());
        assert!(NoteVerifier::parse("x+y").is_err());
    }
}
