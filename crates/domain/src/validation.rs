//! Field violations: every piece of bad input is reported at once, each named by its proto path.

use std::fmt;

/// One invalid field, named by its path in the request (`lines[2].quantity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// The longest field path a violation reports.
pub const MAX_FIELD_PATH_CHARS: usize = 200;
/// The longest description a violation reports.
pub const MAX_DESCRIPTION_CHARS: usize = 400;
/// How much of a bad value an error message may quote.
pub const MAX_QUOTED_CHARS: usize = 40;

/// `text` cut to at most `max` characters, marked with an ellipsis when cut.
pub fn short_prefix(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// A bad value as an error message may quote it: a short prefix.
pub fn quote(value: &str) -> String {
    short_prefix(value.to_owned(), MAX_QUOTED_CHARS)
}

/// Collects violations while validating a whole input, so the caller sees every problem at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation. Field paths and descriptions are cut to a short prefix, so an
    /// error that quotes a huge value still fits in a reply's trailers.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: short_prefix(field.into(), MAX_FIELD_PATH_CHARS),
            description: short_prefix(description.into(), MAX_DESCRIPTION_CHARS),
        });
    }

    /// Adds another collection's violations with `prefix.` in front of each field.
    pub fn absorb(&mut self, prefix: &str, other: Violations) {
        for v in other.0 {
            let field = if prefix.is_empty() {
                v.field
            } else if v.field.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", v.field)
            };
            self.0.push(FieldViolation {
                field,
                description: v.description,
            });
        }
    }

    /// Runs a validation that yields a value or violations, recording the latter under `prefix`.
    pub fn check<T>(&mut self, prefix: &str, result: Result<T, Violations>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(v) => {
                self.absorb(prefix, v);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Violations> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }

    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut v = Self::new();
        v.add(field, description);
        v
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

/// Validates a required free-text field: trimmed, non-empty, at most `max_chars` characters,
/// no control characters.
pub fn required_text(
    violations: &mut Violations,
    field: &str,
    value: &str,
    max_chars: usize,
) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        violations.add(field, "is required");
    } else {
        check_text_shape(violations, field, trimmed, max_chars);
    }
    trimmed.to_owned()
}

/// Validates an optional free-text field; empty stays empty.
pub fn optional_text(
    violations: &mut Violations,
    field: &str,
    value: &str,
    max_chars: usize,
) -> String {
    let trimmed = value.trim();
    if !trimmed.is_empty() {
        check_text_shape(violations, field, trimmed, max_chars);
    }
    trimmed.to_owned()
}

fn check_text_shape(violations: &mut Violations, field: &str, value: &str, max_chars: usize) {
    let count = value.chars().count();
    if count > max_chars {
        violations.add(
            field,
            format!("must be at most {max_chars} characters (got {count})"),
        );
    }
    // Newlines and tabs are fine in long text; other control characters corrupt records.
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        violations.add(field, "must not contain control characters");
    }
}

/// Validates that an integer lies in `min..=max`.
pub fn integer_in_range(violations: &mut Violations, field: &str, value: i64, min: i64, max: i64) {
    if value < min || value > max {
        violations.add(
            field,
            format!("must be between {min} and {max} (got {value})"),
        );
    }
}

/// Checks an update mask against the fields an update may replace.
pub fn check_update_mask(mask: &[String], updatable: &[&str]) -> Result<(), Violations> {
    let mut v = Violations::new();
    for path in mask {
        if !updatable.contains(&path.as_str()) {
            v.add(
                "update_mask",
                format!(
                    "'{}' cannot be updated; updatable fields: {}",
                    quote(path),
                    updatable.join(", ")
                ),
            );
        }
    }
    v.finish(|| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorbed_violations_are_prefixed_with_their_parent_path() {
        let mut inner = Violations::new();
        inner.add("quantity", "must be positive");
        let mut outer = Violations::new();
        outer.absorb("lines[2]", inner);
        assert_eq!(outer.into_vec()[0].field, "lines[2].quantity");
    }

    #[test]
    fn text_longer_than_the_limit_is_a_violation() {
        let mut v = Violations::new();
        required_text(&mut v, "display_name", &"x".repeat(201), 200);
        assert_eq!(v.iter().count(), 1);
    }

    #[test]
    fn blank_required_text_is_a_violation() {
        let mut v = Violations::new();
        required_text(&mut v, "display_name", "   ", 200);
        assert_eq!(v.into_vec()[0].description, "is required");
    }

    #[test]
    fn violations_quote_only_a_short_prefix_of_huge_values() {
        let mut v = Violations::new();
        let huge = "x".repeat(1_000_000);
        v.add(format!("f.{huge}"), format!("'{huge}' is bad"));
        let only = &v.into_vec()[0];
        assert!(only.field.chars().count() <= MAX_FIELD_PATH_CHARS + 1);
        assert!(only.description.chars().count() <= MAX_DESCRIPTION_CHARS + 1);
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote(&huge).chars().count(), MAX_QUOTED_CHARS + 1);
    }

    #[test]
    fn control_characters_are_refused() {
        let mut v = Violations::new();
        optional_text(&mut v, "address", "a\u{0}b", 100);
        assert!(!v.is_empty());
    }
}
