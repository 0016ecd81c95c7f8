//! Supporting documents: what may be uploaded (type, size, that the bytes are what the type
//! says), which documents a case rests on, and when one may be deleted.

use crate::application::{ApplicationState, SupportingDocument};
use crate::error::{DomainError, reason};
use crate::validation::{Violations, quote, required_text};
use crate::workflow::{Case, is_final};

/// The largest upload unless configured otherwise (25 MiB).
pub const DEFAULT_MAX_DOCUMENT_BYTES: i64 = 25 * 1024 * 1024;

/// The types a case document may have, with the bytes such a file starts with (empty: any).
pub const ACCEPTED_TYPES: &[(&str, &[u8])] = &[
    ("application/pdf", b"%PDF-"),
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff"),
    ("image/tiff", b""),
    ("text/plain", b""),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        b"PK\x03\x04",
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        b"PK\x03\x04",
    ),
];

/// A document's name and type as an upload declares them.
pub fn check_upload(display_name: &str, media_type: &str) -> Result<(String, String), Violations> {
    let mut v = Violations::new();
    let display_name = required_text(&mut v, "metadata.display_name", display_name, 255);
    let media_type = media_type.trim().to_ascii_lowercase();
    if !ACCEPTED_TYPES.iter().any(|(t, _)| *t == media_type) {
        v.add(
            "metadata.media_type",
            format!(
                "{} is not accepted; accepted: {}",
                quote(&media_type),
                ACCEPTED_TYPES
                    .iter()
                    .map(|(t, _)| *t)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    v.finish(|| (display_name, media_type))
}

/// Refuses content whose first bytes are not what its declared type starts with.
pub fn check_content_start(media_type: &str, first_bytes: &[u8]) -> Result<(), Violations> {
    let magic = ACCEPTED_TYPES
        .iter()
        .find(|(t, _)| *t == media_type)
        .map(|(_, m)| *m)
        .unwrap_or_default();
    if first_bytes.starts_with(magic) {
        Ok(())
    } else {
        Err(Violations::single(
            "chunk",
            format!("the content is not {media_type}"),
        ))
    }
}

/// Refuses an upload that has grown past `max_bytes`.
pub fn check_size(received: i64, max_bytes: i64) -> Result<(), Violations> {
    if received > max_bytes {
        Err(Violations::single(
            "chunk",
            format!("the document is larger than the {max_bytes} bytes accepted"),
        ))
    } else {
        Ok(())
    }
}

/// Every document a case rests on: the application's, the answers' and the appeals'.
pub fn referenced_documents(case: &Case) -> Vec<&SupportingDocument> {
    case.application
        .content
        .documents
        .iter()
        .chain(
            case.information_requests
                .iter()
                .flat_map(|r| &r.answer_documents),
        )
        .chain(case.appeals.iter().flat_map(|a| &a.documents))
        .collect()
}

/// A document an application, answer or appeal names must have been uploaded by the same
/// organisation first, so that the regulator can read every document a case rests on. Each
/// named hash (`named`, as sent) not among `uploaded` violates `{field}[i].sha256`; malformed
/// hashes are left to the document's own validation.
pub fn check_uploaded(
    field: &str,
    named: &[crate::application::DocumentInput],
    uploaded: &std::collections::HashMap<String, (i64, String)>,
) -> Result<(), Violations> {
    let mut v = Violations::new();
    for (i, document) in named.iter().enumerate() {
        let sha256 = normalise_sha256(&document.sha256);
        if !is_sha256(&sha256) {
            continue;
        }
        match uploaded.get(&sha256) {
            None => v.add(
                format!("{field}[{i}].sha256"),
                format!(
                    "{} is not a document your organisation uploaded; upload it with UploadDocument first",
                    quote(&sha256)
                ),
            ),
            // What is declared must be what was received.
            Some((size, media_type)) => {
                if document.size_bytes != *size {
                    v.add(
                        format!("{field}[{i}].size_bytes"),
                        format!("the uploaded document is {size} bytes"),
                    );
                }
                if !document.media_type.trim().eq_ignore_ascii_case(media_type) {
                    v.add(
                        format!("{field}[{i}].media_type"),
                        format!("the uploaded document is {}", quote(media_type)),
                    );
                }
            }
        }
    }
    v.finish(|| ())
}

/// A SHA-256 as clients may send it: surrounding space and upper-case digits allowed.
pub fn normalise_sha256(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}

/// 64 lower-case hexadecimal digits.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A document may be deleted only while no open case rests on it: `states` are the states of
/// the applications that reference it.
pub fn may_delete(states: &[ApplicationState]) -> Result<(), DomainError> {
    match states
        .iter()
        .find(|s| **s != ApplicationState::Draft && !is_final(**s))
    {
        Some(open) => Err(DomainError::FailedPrecondition {
            reason: reason::INVALID_TRANSITION,
            message: format!(
                "a case that is {} rests on this document; it cannot be deleted while the case is open",
                open.in_words()
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_checked_for_type_bytes_and_size() {
        assert!(check_upload("certificate.pdf", "Application/PDF").is_ok());
        let refused = check_upload(" ", "application/x-msdownload").unwrap_err();
        assert_eq!(refused.iter().count(), 2);
        assert!(check_content_start("application/pdf", b"%PDF-1.7\n").is_ok());
        assert!(check_content_start("application/pdf", b"MZ\x90\x00").is_err());
        assert!(check_content_start("text/plain", b"anything").is_ok());
        assert!(check_size(10, 10).is_ok());
        assert!(check_size(11, 10).is_err());
    }

    #[test]
    fn only_uploaded_documents_may_be_named_as_they_were_received() {
        use crate::application::DocumentInput;
        let named = |sha256: String, size_bytes: i64, media_type: &str| DocumentInput {
            display_name: "end-use.pdf".into(),
            media_type: media_type.into(),
            sha256,
            size_bytes,
        };
        let uploaded: std::collections::HashMap<String, (i64, String)> =
            [("ab".repeat(32), (2_000, "application/pdf".to_owned()))].into();
        let as_uploaded = named("AB".repeat(32), 2_000, "Application/PDF");
        assert!(check_uploaded("documents", std::slice::from_ref(&as_uploaded), &uploaded).is_ok());
        let not_a_hash = named("not a hash".into(), 1, "text/plain");
        assert!(check_uploaded("documents", &[not_a_hash], &uploaded).is_ok());
        let refused = check_uploaded(
            "documents",
            &[
                as_uploaded,
                named("cd".repeat(32), 2_000, "application/pdf"),
                named("ab".repeat(32), 1_999, "image/png"),
            ],
            &uploaded,
        )
        .unwrap_err();
        let fields: Vec<_> = refused.iter().map(|v| v.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "documents[1].sha256",
                "documents[2].size_bytes",
                "documents[2].media_type"
            ]
        );
    }

    #[test]
    fn a_document_an_open_case_rests_on_stays() {
        use ApplicationState::*;
        assert!(may_delete(&[]).is_ok());
        assert!(may_delete(&[Draft, Approved, Withdrawn]).is_ok());
        assert!(may_delete(&[Approved, UnderReview]).is_err());
        assert!(may_delete(&[UnderAppeal]).is_err());
    }
}
