//! The `filter` string of list methods: a conjunction of equality tests (a subset of AIP-160),
//! e.g. `state = APPLICATION_STATE_DRAFT AND destination_country_code = "CN"`.

use crate::validation::Violations;

/// One `field = value` test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: String,
    pub value: String,
}

/// Splits a filter into conditions, refusing fields not in `allowed`.
pub fn parse_filter(raw: &str, allowed: &[&str]) -> Result<Vec<Condition>, Violations> {
    let mut conditions = Vec::new();
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(conditions);
    }
    if raw.len() > 2000 {
        return Err(Violations::single(
            "filter",
            "must be at most 2000 characters",
        ));
    }
    let tokens = tokenize(raw)?;
    let mut rest = tokens.as_slice();
    loop {
        match rest {
            [
                Token::Word(field),
                Token::Equals,
                Token::Word(value) | Token::Quoted(value),
                tail @ ..,
            ] => {
                if !allowed.contains(&field.as_str()) {
                    return Err(Violations::single(
                        "filter",
                        format!(
                            "cannot filter on '{field}'; allowed fields: {}",
                            allowed.join(", ")
                        ),
                    ));
                }
                // No text column holds a control character, and PostgreSQL refuses a NUL in a
                // parameter: such a value matches nothing, so it is refused as bad input.
                if value.chars().any(char::is_control) {
                    return Err(Violations::single(
                        "filter",
                        format!("the value of '{field}' holds a control character"),
                    ));
                }
                if conditions.iter().any(|c: &Condition| &c.field == field) {
                    return Err(Violations::single(
                        "filter",
                        format!("'{field}' appears more than once"),
                    ));
                }
                conditions.push(Condition {
                    field: field.clone(),
                    value: value.clone(),
                });
                match tail {
                    [] => return Ok(conditions),
                    [Token::Word(and), more @ ..] if and == "AND" && !more.is_empty() => {
                        rest = more
                    }
                    _ => return Err(syntax_error()),
                }
            }
            _ => return Err(syntax_error()),
        }
    }
}

fn syntax_error() -> Violations {
    Violations::single(
        "filter",
        "must be tests of the form `field = value` joined by AND",
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
}

fn tokenize(raw: &str) -> Result<Vec<Token>, Violations> {
    let mut tokens = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' {
            chars.next();
            tokens.push(Token::Equals);
        } else if c == '"' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(escaped) => value.push(escaped),
                        None => return Err(syntax_error()),
                    },
                    Some(other) => value.push(other),
                    None => {
                        return Err(Violations::single("filter", "has an unterminated string"));
                    }
                }
            }
            tokens.push(Token::Quoted(value));
        } else {
            let mut word = String::new();
            while let Some(&w) = chars.peek() {
                if w.is_whitespace() || w == '=' || w == '"' {
                    break;
                }
                word.push(w);
                chars.next();
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

/// Parses a boolean filter value.
pub fn parse_bool(field: &str, value: &str) -> Result<bool, Violations> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Violations::single(
            "filter",
            format!("{field} must be true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conjunctions_of_equalities_parse() {
        let c = parse_filter(r#"state = DRAFT AND country = "CN""#, &["state", "country"]).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].value, "CN");
    }

    #[test]
    fn unknown_fields_and_bad_syntax_are_refused() {
        assert!(parse_filter("colour = red", &["state"]).is_err());
        assert!(parse_filter("state DRAFT", &["state"]).is_err());
        assert!(parse_filter("state = A AND", &["state"]).is_err());
        assert!(parse_filter("state = \"A", &["state"]).is_err());
        assert!(parse_filter("state = A OR state = B", &["state"]).is_err());
    }

    #[test]
    fn control_characters_in_values_are_refused() {
        for raw in [
            "assignee = \"a\0b\"",
            "agency = x\0",
            "classification = \"3A\u{7}\"",
        ] {
            let field = raw.split(' ').next().unwrap();
            assert!(parse_filter(raw, &[field]).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn an_empty_filter_matches_everything() {
        assert!(parse_filter("  ", &["state"]).unwrap().is_empty());
    }
}
