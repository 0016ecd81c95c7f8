//! What the services answered, in plain words for the page: a summary, and each field
//! violation next to its field. Internal causes are logged, never shown.

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Why an action or a page did not go through.
#[derive(Debug, Clone, Default)]
pub struct Problem {
    pub summary: String,
    /// (field, description) as the service named them, e.g. `granted_quantities[0]`.
    pub fields: Vec<(String, String)>,
    /// Someone changed the resource since the page was shown (a stale etag).
    pub conflict: bool,
    /// The HTTP status the page is sent with.
    pub http_status: u16,
}

impl Problem {
    pub fn new(summary: impl Into<String>, http_status: u16) -> Self {
        Problem {
            summary: summary.into(),
            http_status,
            ..Default::default()
        }
    }

    /// The description of the violation of `field`, if any.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, d)| d.as_str())
    }

    pub fn from_status(status: &Status) -> Self {
        match status.code() {
            Code::InvalidArgument => {
                let fields: Vec<(String, String)> = status
                    .get_details_bad_request()
                    .map(|b| {
                        b.field_violations
                            .into_iter()
                            .map(|v| (v.field, v.description))
                            .collect()
                    })
                    .unwrap_or_default();
                Problem {
                    summary: if fields.is_empty() {
                        status.message().to_owned()
                    } else {
                        "Some of what you entered needs correcting.".into()
                    },
                    fields,
                    conflict: false,
                    http_status: 422,
                }
            }
            // The services word these for people: the two-person rule, a closed case, a role.
            Code::FailedPrecondition | Code::PermissionDenied => {
                Problem::new(sentence(status.message()), 403)
            }
            Code::Aborted => Problem {
                summary: "Someone changed this after you opened the page, so nothing was done. \
                          Here is what changed; the page now shows the current state."
                    .into(),
                conflict: true,
                http_status: 409,
                ..Default::default()
            },
            Code::NotFound => {
                Problem::new("There is nothing here, or it is not yours to see.", 404)
            }
            Code::Unauthenticated => {
                Problem::new("Your sign-in is no longer accepted. Sign in again.", 401)
            }
            Code::ResourceExhausted => Problem::new(
                "Clearance is busy right now. Wait a moment and try again.",
                429,
            ),
            _ => {
                tracing::warn!(code = ?status.code(), message = status.message(), "the reviewer service failed a console call");
                Problem::new(
                    "Clearance could not do this just now. Wait a moment and try again.",
                    503,
                )
            }
        }
    }
}

/// A service message as a sentence: capitalised, ending in a full stop.
fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return "This is not allowed.".into(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_answers_become_plain_words() {
        let p = Problem::from_status(&Status::failed_precondition(
            "the proposer cannot also countersign",
        ));
        assert_eq!(p.summary, "The proposer cannot also countersign.");
        assert_eq!(p.http_status, 403);
        let p = Problem::from_status(&Status::aborted("etag mismatch"));
        assert!(p.conflict);
        let p = Problem::from_status(&Status::internal("sqlx: connection reset"));
        assert!(!p.summary.contains("sqlx"));
    }
}
