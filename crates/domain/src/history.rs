//! The tamper-evident history: append-only entries, hash-chained per resource.
//!
//! Each entry's hash covers a fixed, length-prefixed encoding of its fields (including the
//! previous entry's hash), so editing or deleting any entry breaks the chain from there on.
//! The encoding is defined here, not by a serialisation library whose bytes could change.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What a change records about itself before it is chained.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// e.g. `application.created`.
    pub action: &'static str,
    pub actor: String,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
    pub request_id: String,
    /// The resource after the change (or the change itself), as JSON.
    pub payload: Value,
}

/// A chained history entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub resource: String,
    pub sequence: i64,
    pub action: String,
    pub actor: String,
    pub create_time: DateTime<Utc>,
    pub from_state: String,
    pub to_state: String,
    pub reason: String,
    pub request_id: String,
    /// The canonical JSON the payload hash covers.
    pub payload_json: String,
    pub payload_sha256: String,
    pub previous_entry_sha256: String,
    pub entry_sha256: String,
}

const ENCODING_TAG: &str = "clearance.history.v1";

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Timestamps enter the hash with microsecond precision, which every store keeps exactly.
pub fn canonical_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// JSON with object keys sorted at every depth and no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    if let Some(v) = map.get(k) {
                        out.insert(k.clone(), sorted(v));
                    }
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // Serialising a `Value` cannot fail; an empty string would still be hashed consistently.
    serde_json::to_string(&sorted(value)).unwrap_or_default()
}

impl HistoryEntry {
    /// Chains `change` onto `previous` (the resource's latest entry, if any).
    pub fn chain(
        resource: &str,
        previous: Option<&HistoryEntry>,
        change: Change,
        now: DateTime<Utc>,
    ) -> HistoryEntry {
        let payload_json = canonical_json(&change.payload);
        let mut entry = HistoryEntry {
            resource: resource.to_owned(),
            sequence: previous.map_or(1, |p| p.sequence + 1),
            action: change.action.to_owned(),
            actor: change.actor,
            create_time: now,
            from_state: change.from_state,
            to_state: change.to_state,
            reason: change.reason,
            request_id: change.request_id,
            payload_sha256: sha256_hex(payload_json.as_bytes()),
            payload_json,
            previous_entry_sha256: previous.map(|p| p.entry_sha256.clone()).unwrap_or_default(),
            entry_sha256: String::new(),
        };
        entry.entry_sha256 = entry.compute_hash();
        entry
    }

    /// The hash of this entry's canonical encoding (every field but `entry_sha256`).
    pub fn compute_hash(&self) -> String {
        let sequence = self.sequence.to_string();
        let time = canonical_time(&self.create_time);
        let fields: [&str; 12] = [
            ENCODING_TAG,
            &self.resource,
            &sequence,
            &self.action,
            &self.actor,
            &time,
            &self.from_state,
            &self.to_state,
            &self.reason,
            &self.request_id,
            &self.payload_sha256,
            &self.previous_entry_sha256,
        ];
        let mut encoded = Vec::new();
        for field in fields {
            encoded.extend_from_slice(&(field.len() as u64).to_be_bytes());
            encoded.extend_from_slice(field.as_bytes());
        }
        sha256_hex(&encoded)
    }
}

/// The result of recomputing a resource's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerdict {
    pub entries_checked: i64,
    /// Sequence number of the first entry that does not match; `None` when intact.
    pub first_broken_sequence: Option<i64>,
}

/// Recomputes the chain of one resource's entries, in sequence order, and names the first
/// entry whose position, payload hash, link or own hash does not match.
pub fn verify_chain(entries: &[HistoryEntry]) -> ChainVerdict {
    let mut previous_hash = String::new();
    for (index, entry) in entries.iter().enumerate() {
        let expected_sequence = index as i64 + 1;
        let intact = entry.sequence == expected_sequence
            && entry.previous_entry_sha256 == previous_hash
            && sha256_hex(entry.payload_json.as_bytes()) == entry.payload_sha256
            && entry.compute_hash() == entry.entry_sha256;
        if !intact {
            return ChainVerdict {
                entries_checked: expected_sequence,
                // A missing entry shows as a gap: the first entry after it is named.
                first_broken_sequence: Some(entry.sequence.min(expected_sequence)),
            };
        }
        previous_hash = entry.entry_sha256.clone();
    }
    ChainVerdict {
        entries_checked: entries.len() as i64,
        first_broken_sequence: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(reason: &str) -> Change {
        Change {
            action: "application.updated",
            actor: "alice".into(),
            from_state: "DRAFT".into(),
            to_state: "DRAFT".into(),
            reason: reason.into(),
            request_id: "r1".into(),
            payload: json!({"b": 1, "a": [ {"z": 1, "y": 2} ]}),
        }
    }

    fn chain_of(n: usize) -> Vec<HistoryEntry> {
        let mut entries: Vec<HistoryEntry> = Vec::new();
        for i in 0..n {
            let e = HistoryEntry::chain(
                "applications/x",
                entries.last(),
                change(&format!("step {i}")),
                Utc::now(),
            );
            entries.push(e);
        }
        entries
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": [ {"z": 1, "y": 2} ]})),
            r#"{"a":[{"y":2,"z":1}],"b":1}"#
        );
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let verdict = verify_chain(&chain_of(4));
        assert_eq!(verdict.first_broken_sequence, None);
        assert_eq!(verdict.entries_checked, 4);
    }

    #[test]
    fn an_edited_reason_names_that_entry() {
        let mut entries = chain_of(4);
        entries[2].reason = "edited".into();
        assert_eq!(verify_chain(&entries).first_broken_sequence, Some(3));
    }

    #[test]
    fn an_edited_payload_names_that_entry() {
        let mut entries = chain_of(3);
        entries[1].payload_json = "{}".into();
        assert_eq!(verify_chain(&entries).first_broken_sequence, Some(2));
    }

    #[test]
    fn a_deleted_entry_names_the_entry_after_the_gap() {
        let mut entries = chain_of(4);
        entries.remove(1);
        assert_eq!(verify_chain(&entries).first_broken_sequence, Some(2));
    }

    #[test]
    fn a_rehashed_edit_still_breaks_the_link_to_the_next_entry() {
        let mut entries = chain_of(3);
        entries[0].reason = "edited".into();
        entries[0].entry_sha256 = entries[0].compute_hash();
        assert_eq!(verify_chain(&entries).first_broken_sequence, Some(2));
    }
}
