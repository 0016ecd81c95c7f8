//! The audit log: every history entry of every resource, in one append-only Merkle tree whose
//! signed checkpoints are kept outside the database. The per-resource chains show that a
//! resource's entries follow each other; the tree shows that no entry, of any resource, was
//! changed, dropped or added after a checkpoint was signed.

pub mod checkpoint;
pub mod merkle;

pub use checkpoint::{Checkpoint, CheckpointError, NoteVerifier};
pub use merkle::{Hash, Subtree, Subtrees, leaf_hash};

/// What the log holds of a history entry: the resource, its place in the resource's chain,
/// and the entry's hash (which covers its content and, through the chain, every entry before).
pub fn leaf_data(resource: &str, sequence: i64, entry_sha256: &str) -> Vec<u8> {
    format!("{resource}\n{sequence}\n{entry_sha256}").into_bytes()
}

/// Lower-case hex of a hash, as the database keeps it.
pub fn to_hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hash from its lower-case hex.
pub fn from_hex(hex: &str) -> Option<Hash> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}
