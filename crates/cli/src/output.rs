//! Output: protobuf messages as canonical proto3 JSON (via the contract's descriptors), or as
//! readable text; errors in plain words with exit codes scripts can use.

use tonic::Code;
use tonic_types::StatusExt;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// A local failure (no call answered) in the chosen format.
pub fn report_local(e: &anyhow::Error, format: Format, code: &str) {
    match format {
        Format::Json => eprintln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "error": { "code": code, "message": format!("{e:#}") }
            }))
            .unwrap_or_default()
        ),
        Format::Text => eprintln!("error: {e:#}"),
    }
}

/// Exit codes: 0 ok, 1 other failure, 2 invalid input, 3 not found, 4 refused (illegal
/// state, permission, stale etag), 5 not authenticated, 6 unavailable.
pub mod exit {
    pub const FAILURE: u8 = 1;
    pub const INVALID: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const REFUSED: u8 = 4;
    pub const UNAUTHENTICATED: u8 = 5;
    pub const UNAVAILABLE: u8 = 6;
}

/// A message as proto3 JSON (field names as in the .proto files).
pub fn to_json<M: prost::Message>(
    message: &M,
    full_name: &str,
) -> anyhow::Result<serde_json::Value> {
    Ok(clearance_proto::json::to_json(message, full_name)?)
}

/// A message from proto3 JSON, e.g. a file written by hand.
pub fn from_json<M: prost::Message + Default>(json: &str, full_name: &str) -> anyhow::Result<M> {
    Ok(clearance_proto::json::from_json(json, full_name)?)
}

/// Prints a message: JSON, or `text` for people.
pub fn print<M: prost::Message>(
    format: Format,
    message: &M,
    full_name: &str,
    text: impl FnOnce(&M) -> String,
) -> anyhow::Result<()> {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&to_json(message, full_name)?)?
        ),
        Format::Text => println!("{}", text(message)),
    }
    Ok(())
}

/// What to do about a refusal, by its stable reason; empty when the message says it all.
fn advice(reason: &str) -> &'static str {
    match reason {
        "STALE_ETAG" | "CONCURRENT_CHANGE" => {
            "someone changed it since you read it: show it again, check what changed, and retry with the new etag"
        }
        "REQUEST_ID_REUSED" => {
            "this request id was used for a different request; leave --request-id out or use a new one"
        }
        "ADVICE_OUTSTANDING" => {
            "an agency's advice is still due; see `clearancectl referrals list --outstanding`"
        }
        "APPEAL_PERIOD_OVER" => "the period for appealing this denial has ended",
        "SCREENING_UNRESOLVED" => {
            "resolve the screening hit first: `cases show` lists it; clear or confirm it with reasons"
        }
        "DENIED_PARTY" => {
            "the party resembles a restricted party; nothing ships to it until a reviewer clears it"
        }
        "APPEAL_NOT_INDEPENDENT" => {
            "an appeal is decided by a senior reviewer who took no part in the denial"
        }
        "SELF_COUNTERSIGN" => {
            "the two-person rule: a different senior reviewer must countersign your proposal"
        }
        "ROLE_NOT_ALLOWED" => {
            "your token's role may not do this; ask for a token with the right role"
        }
        "UNAUTHENTICATED" => {
            "get a token (clearance token …) and pass it with --token, CLEARANCE_TOKEN or a profile"
        }
        "LICENCE_REQUIRED" => "a licence is required and none of yours covers this shipment",
        "PRODUCT_IN_USE" => {
            "the product is referred to by a submitted application, licence or shipment; create a new product instead"
        }
        _ => "",
    }
}

/// A status's message in words: the server's message, or a sentence for its code when it sent
/// none (an empty "error:" helps nobody).
pub fn in_words(status: &tonic::Status) -> String {
    if !status.message().trim().is_empty() {
        return status.message().to_owned();
    }
    match status.code() {
        Code::Unimplemented => "this endpoint does not serve that call: is it the application (exporter) endpoint or the reviewer endpoint?".into(),
        Code::Unavailable => "the service is unavailable; try again shortly".into(),
        Code::DeadlineExceeded => "the call timed out (see timeout_seconds in your profile)".into(),
        Code::Unauthenticated => "the call carried no valid token".into(),
        Code::PermissionDenied => "your token's role may not do this".into(),
        code => format!(
            "the server answered {} without saying why; is this a Clearance endpoint?",
            code.description()
        ),
    }
}

/// Prints a failed call in plain words and returns its exit code.
pub fn report(status: &tonic::Status, format: Format) -> u8 {
    let reason = status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default();
    let violations: Vec<(String, String)> = status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default();
    if format == Format::Json {
        let json = serde_json::json!({
            "error": {
                "code": format!("{:?}", status.code()),
                "reason": reason,
                "message": in_words(status),
                "field_violations": violations.iter().map(|(f, d)| serde_json::json!({"field": f, "description": d})).collect::<Vec<_>>(),
            }
        });
        eprintln!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        if violations.is_empty() {
            eprintln!("error: {}", in_words(status));
        } else {
            eprintln!("error: the request is invalid:");
            for (field, description) in &violations {
                eprintln!("  {field}: {description}");
            }
        }
        let advice = advice(&reason);
        if !advice.is_empty() {
            eprintln!("what to do: {advice}");
        }
        if !reason.is_empty() {
            eprintln!("reason: {reason}");
        }
    }
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => exit::INVALID,
        Code::NotFound => exit::NOT_FOUND,
        Code::FailedPrecondition | Code::PermissionDenied | Code::Aborted | Code::AlreadyExists => {
            exit::REFUSED
        }
        Code::Unauthenticated => exit::UNAUTHENTICATED,
        Code::Unavailable | Code::DeadlineExceeded => exit::UNAVAILABLE,
        _ => exit::FAILURE,
    }
}
