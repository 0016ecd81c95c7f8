//! Who may receive which event: exporters see what a regulator has decided to tell them,
//! never the deliberation (assignment, proposals, rejected proposals, regulator-only notes)
//! nor the names of the regulator's staff. Regulators' streams carry every event as recorded.

use serde_json::{Map, Value};

/// What an exporter's stream carries of an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExporterSees {
    /// Not the event, nor that it happened.
    Nothing,
    /// The event, with the names of the regulator's staff removed from its payload.
    Payload,
    /// A countersigned decision: the outcome, reasons and terms, not who proposed or signed.
    Decision,
    /// A note: only when it was marked visible to the applicant, and then only its id.
    SharedNote,
}

/// Every event type the system records and what exporters see of it. A type missing here
/// reaches regulators only.
pub const EVENT_TYPES: &[(&str, ExporterSees)] = &[
    ("product.created", ExporterSees::Payload),
    ("product.updated", ExporterSees::Payload),
    // The holder's own figure for the aggregate cap (91 FR 1684).
    ("product.us_shipments_reported", ExporterSees::Payload),
    ("application.created", ExporterSees::Payload),
    ("application.updated", ExporterSees::Payload),
    ("application.submitted", ExporterSees::Payload),
    ("application.withdrawn", ExporterSees::Payload),
    ("application.information_provided", ExporterSees::Payload),
    ("case.information_requested", ExporterSees::Payload),
    ("case.returned", ExporterSees::Payload),
    ("case.decision_countersigned", ExporterSees::Decision),
    ("case.note_added", ExporterSees::SharedNote),
    ("case.assigned", ExporterSees::Nothing),
    ("case.decision_proposed", ExporterSees::Nothing),
    ("case.proposal_rejected", ExporterSees::Nothing),
    ("application.appealed", ExporterSees::Payload),
    ("case.appeal_decided", ExporterSees::Payload),
    ("case.screening_resolved", ExporterSees::Nothing),
    ("case.rescreened", ExporterSees::Nothing),
    ("screening_list.imported", ExporterSees::Nothing),
    // Referrals are recorded on the regulator's own chains; listed to say exporters never
    // see them.
    ("case.referred", ExporterSees::Nothing),
    ("referral.advice_given", ExporterSees::Nothing),
    ("licence.issued", ExporterSees::Payload),
    ("licence.amended", ExporterSees::Payload),
    ("licence.drawn_down", ExporterSees::Payload),
    ("licence.exhausted", ExporterSees::Payload),
    ("licence.restored", ExporterSees::Payload),
    ("licence.reactivated", ExporterSees::Payload),
    ("licence.expired", ExporterSees::Payload),
    ("licence.suspended", ExporterSees::Payload),
    ("licence.revoked", ExporterSees::Payload),
    ("licence.reinstated", ExporterSees::Payload),
    ("licence.surrendered", ExporterSees::Payload),
    ("shipment.started", ExporterSees::Payload),
    ("shipment.cancelled", ExporterSees::Payload),
    ("rule_set.published", ExporterSees::Nothing),
];

/// What exporters see of `event_type`.
pub fn exporter_sees(event_type: &str) -> ExporterSees {
    EVENT_TYPES
        .iter()
        .find(|(t, _)| *t == event_type)
        .map_or(ExporterSees::Nothing, |(_, sees)| *sees)
}

/// Payload keys that name the regulator's staff, or hold deliberation (screening hits).
const STAFF_KEYS: [&str; 10] = [
    "asked_by",
    "author",
    "proposer",
    "resolved_by",
    "assignee",
    "actor",
    "resolution_reason",
    "decided_by",
    "decision_participants",
    "screening",
];

/// The terms of a countersigned decision an exporter may read.
const DECISION_KEYS: [&str; 6] = [
    "decision",
    "reason",
    "granted_quantities",
    "conditions",
    "validity_months",
    "value_tolerance_percent",
];

fn without_staff(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !STAFF_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), without_staff(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_staff).collect()),
        other => other.clone(),
    }
}

/// The payload an exporter receives for an event, or `None` when the event is not theirs to
/// see. `payload_json` is the recorded payload.
pub fn exporter_payload(event_type: &str, payload_json: &str) -> Option<String> {
    let sees = exporter_sees(event_type);
    if sees == ExporterSees::Nothing {
        return None;
    }
    // A payload that does not parse is withheld rather than passed on unfiltered.
    let payload: Value = serde_json::from_str(payload_json).ok()?;
    let shown = match sees {
        ExporterSees::Nothing => return None,
        ExporterSees::Payload => without_staff(&payload),
        ExporterSees::Decision => {
            let proposal = payload.get("proposal")?.as_object()?;
            let terms: Map<String, Value> = DECISION_KEYS
                .iter()
                .filter_map(|k| proposal.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect();
            Value::Object(terms)
        }
        ExporterSees::SharedNote => {
            let note = payload.get("note")?;
            if note.get("visible_to_applicant")?.as_bool()? {
                serde_json::json!({ "note": { "id": note.get("id")?.clone() } })
            } else {
                return None;
            }
        }
    };
    Some(crate::history::canonical_json(&shown))
}

/// Whether the regulator's staff take `action` (their names are never shown to exporters).
pub fn taken_by_regulator(action: &str) -> bool {
    action.starts_with("case.")
        || matches!(
            action,
            "licence.issued"
                | "licence.amended"
                | "licence.suspended"
                | "licence.revoked"
                | "licence.reinstated"
                | "rule_set.published"
        )
}

/// What an exporter sees of one of its history entries, by the same rule as its event
/// stream: nothing of the regulator's deliberation, no staff names (the regulator's steps are
/// signed "the regulator"), and no hashes, which would not match the shown entry; the
/// regulator's VerifyHistory checks the chain. `None` when the entry is not for exporters.
pub fn exporter_history_entry(
    entry: &crate::history::HistoryEntry,
) -> Option<crate::history::HistoryEntry> {
    exporter_payload(&entry.action, &entry.payload_json)?;
    let mut shown = entry.clone();
    if taken_by_regulator(&entry.action) {
        shown.actor = "the regulator".into();
    }
    shown.payload_json = String::new();
    shown.payload_sha256 = String::new();
    shown.previous_entry_sha256 = String::new();
    shown.entry_sha256 = String::new();
    Some(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LicenceAction;
    use crate::workflow::Action;

    #[test]
    fn every_workflow_and_licence_event_has_an_audience() {
        let actions = [
            Action::Submit,
            Action::Assign,
            Action::RequestInformation,
            Action::AnswerInformation,
            Action::ProposeDecision,
            Action::Countersign { approve: true },
            Action::RejectProposal,
            Action::Return,
            Action::Withdraw,
            Action::AddNote,
        ];
        let names = actions.iter().map(|a| a.history_name()).chain(
            [
                LicenceAction::Suspend,
                LicenceAction::Revoke,
                LicenceAction::Reinstate,
            ]
            .iter()
            .map(|a| a.history_name()),
        );
        for name in names {
            assert!(
                EVENT_TYPES.iter().any(|(t, _)| *t == name),
                "{name} is missing from EVENT_TYPES"
            );
        }
    }

    #[test]
    fn deliberations_never_reach_exporters() {
        for internal in [
            "case.assigned",
            "case.decision_proposed",
            "case.proposal_rejected",
            "rule_set.published",
            "something.new",
        ] {
            assert_eq!(exporter_payload(internal, "{}"), None, "{internal}");
        }
        let hidden = r#"{"note":{"author":"alice","id":"n1","text_sha256":"ab","visible_to_applicant":false}}"#;
        assert_eq!(exporter_payload("case.note_added", hidden), None);
        let shared = r#"{"note":{"author":"alice","id":"n1","text_sha256":"ab","visible_to_applicant":true}}"#;
        assert_eq!(
            exporter_payload("case.note_added", shared).unwrap(),
            r#"{"note":{"id":"n1"}}"#
        );
    }

    #[test]
    fn decisions_and_questions_reach_exporters_without_staff_names() {
        let decided = r#"{"proposal":{"decision":"APPROVE","reason":"fine","proposer":"alice",
            "resolved_by":"bob","granted_quantities":[80],"conditions":["No re-export"],
            "validity_months":48,"value_tolerance_percent":25,"resolution_reason":null}}"#;
        let shown = exporter_payload("case.decision_countersigned", decided).unwrap();
        assert!(
            !shown.contains("alice") && !shown.contains("bob"),
            "{shown}"
        );
        assert!(
            shown.contains("No re-export") && shown.contains("80"),
            "{shown}"
        );
        let asked = r#"{"information_request":{"asked_by":"alice","question":"Who?"}}"#;
        let shown = exporter_payload("case.information_requested", asked).unwrap();
        assert_eq!(shown, r#"{"information_request":{"question":"Who?"}}"#);
    }
}
