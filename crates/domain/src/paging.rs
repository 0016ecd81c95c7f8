//! Keyset pagination: page sizes and opaque, tamper-evident page tokens.
//!
//! A token carries the last key of the previous page and a fingerprint of the query it
//! belongs to; a token from another query, or one edited by hand, is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::validation::Violations;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 1000;

/// A validated page request: how many rows, and after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u64,
    /// The id of the last row of the previous page.
    pub after: Option<Uuid>,
    /// The sort key of that row, for lists ordered by something before the id (0 otherwise).
    pub after_sort: i64,
    query_fingerprint: [u8; 8],
}

const TOKEN_VERSION: u8 = 2;
const TOKEN_LEN: usize = 1 + 8 + 16 + 8 + 8;

fn fingerprint(query: &str) -> [u8; 8] {
    let digest = Sha256::digest(query.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

fn checksum(body: &[u8]) -> [u8; 8] {
    let mut hasher = Sha256::new();
    hasher.update(b"clearance.page-token.v1");
    hasher.update(body);
    let digest = hasher.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

impl PageRequest {
    /// Validates `page_size` (0 means the default; above the maximum is clamped, as AIP-158
    /// asks) and `page_token` against `query`, a canonical description of the list call
    /// (collection, caller's scope and filter).
    pub fn parse(page_size: i32, page_token: &str, query: &str) -> Result<Self, Violations> {
        let mut violations = Violations::new();
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => {
                violations.add("page_size", "must not be negative");
                DEFAULT_PAGE_SIZE
            }
            n => (n as u64).min(MAX_PAGE_SIZE),
        };
        let query_fingerprint = fingerprint(query);
        let (after_sort, after) = if page_token.is_empty() {
            (0, None)
        } else {
            match decode_token(page_token, &query_fingerprint) {
                Some((sort, id)) => (sort, Some(id)),
                None => {
                    violations.add(
                        "page_token",
                        "is not a page token of this query; start again without one",
                    );
                    (0, None)
                }
            }
        };
        violations.finish(|| PageRequest {
            size,
            after,
            after_sort,
            query_fingerprint,
        })
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> u64 {
        self.size + 1
    }

    /// Trims `rows` (fetched with `fetch_limit`) to the page and returns the next token,
    /// empty at the end.
    pub fn finish_page<T>(&self, rows: Vec<T>, key: impl Fn(&T) -> Uuid) -> (Vec<T>, String) {
        self.finish_sorted_page(rows, |r| (0, key(r)))
    }

    /// A token that continues this query after `(sort, id)`, for lists read in phases.
    pub fn token_after(&self, sort: i64, id: Uuid) -> String {
        encode_token(sort, id, &self.query_fingerprint)
    }

    /// Like [`PageRequest::finish_page`] for lists ordered by `(sort key, id)`.
    pub fn finish_sorted_page<T>(
        &self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> (i64, Uuid),
    ) -> (Vec<T>, String) {
        if rows.len() as u64 > self.size {
            rows.truncate(self.size as usize);
            let token = rows
                .last()
                .map(|last| {
                    let (sort, id) = key(last);
                    encode_token(sort, id, &self.query_fingerprint)
                })
                .unwrap_or_default();
            (rows, token)
        } else {
            (rows, String::new())
        }
    }
}

fn encode_token(sort: i64, last: Uuid, query_fingerprint: &[u8; 8]) -> String {
    let mut body = Vec::with_capacity(TOKEN_LEN);
    body.push(TOKEN_VERSION);
    body.extend_from_slice(&sort.to_be_bytes());
    body.extend_from_slice(last.as_bytes());
    body.extend_from_slice(query_fingerprint);
    let sum = checksum(&body);
    body.extend_from_slice(&sum);
    URL_SAFE_NO_PAD.encode(body)
}

fn decode_token(token: &str, query_fingerprint: &[u8; 8]) -> Option<(i64, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() != TOKEN_LEN || bytes[0] != TOKEN_VERSION {
        return None;
    }
    let (body, sum) = bytes.split_at(TOKEN_LEN - 8);
    if checksum(body) != sum || &body[25..33] != query_fingerprint {
        return None;
    }
    let sort = i64::from_be_bytes(body[1..9].try_into().ok()?);
    Some((sort, Uuid::from_slice(&body[9..25]).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_leads_to_the_next_page_of_the_same_query() {
        let first = PageRequest::parse(2, "", "q").unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (page, token) = first.finish_page(ids.clone(), |id| *id);
        assert_eq!(page.len(), 2);
        let second = PageRequest::parse(2, &token, "q").unwrap();
        assert_eq!(second.after, Some(ids[1]));
    }

    #[test]
    fn the_last_page_has_no_token() {
        let first = PageRequest::parse(5, "", "q").unwrap();
        let (_, token) = first.finish_page(vec![Uuid::now_v7()], |id| *id);
        assert!(token.is_empty());
    }

    #[test]
    fn a_token_of_another_query_is_refused() {
        let first = PageRequest::parse(1, "", "q").unwrap();
        let (_, token) = first.finish_page(vec![Uuid::now_v7(), Uuid::now_v7()], |id| *id);
        assert!(PageRequest::parse(1, &token, "other").is_err());
    }

    #[test]
    fn a_tampered_token_is_refused() {
        let first = PageRequest::parse(1, "", "q").unwrap();
        let (_, token) = first.finish_page(vec![Uuid::now_v7(), Uuid::now_v7()], |id| *id);
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[5] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert!(PageRequest::parse(1, &tampered, "q").is_err());
        assert!(PageRequest::parse(1, "garbage!", "q").is_err());
    }

    #[test]
    fn page_sizes_default_and_clamp() {
        assert_eq!(
            PageRequest::parse(0, "", "q").unwrap().size,
            DEFAULT_PAGE_SIZE
        );
        assert_eq!(
            PageRequest::parse(5000, "", "q").unwrap().size,
            MAX_PAGE_SIZE
        );
        assert!(PageRequest::parse(-1, "", "q").is_err());
    }
}
