//! Etags: the optimistic-concurrency version of a resource, opaque to clients.

use crate::validation::Violations;

/// Renders a resource's version as its etag.
pub fn etag_of(version: i64) -> String {
    format!("\"v{version}\"")
}

/// Parses an etag a client sent back into the version it names. Required on every change.
pub fn parse_etag(field: &str, etag: &str) -> Result<i64, Violations> {
    if etag.is_empty() {
        return Err(Violations::single(
            field,
            "is required: read the resource and send back its etag",
        ));
    }
    etag.strip_prefix("\"v")
        .and_then(|rest| rest.strip_suffix('"'))
        .and_then(|digits| digits.parse::<i64>().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| Violations::single(field, "is not an etag this service issued"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_etag_round_trips() {
        assert_eq!(parse_etag("etag", &etag_of(7)).unwrap(), 7);
    }

    #[test]
    fn foreign_or_missing_etags_are_refused() {
        assert!(parse_etag("etag", "").is_err());
        assert!(parse_etag("etag", "7").is_err());
        assert!(parse_etag("etag", "\"v-1\"").is_err());
    }
}
