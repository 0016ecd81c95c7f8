//! Conversions for cases and the review records an application carries.

use chrono::{NaiveDate, TimeZone, Utc};
use clearance_domain::ids::Collection;
use clearance_domain::workflow::{
    Case, Decision, InformationRequest, Note, Proposal, ProposalOutcome, ReviewSettings,
};
use clearance_proto::v1 as pb;

use crate::convert::{application_to_pb, timestamp};
use crate::convert_policy::{determination_to_pb, policy_to_pb};

/// Who is looking: applicants never see regulator-only notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Applicant,
    Regulator,
}

fn start_of(day: NaiveDate) -> prost_types::Timestamp {
    let t = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default());
    timestamp(&t)
}

fn request_to_pb(application: &str, r: &InformationRequest) -> pb::InformationRequest {
    pb::InformationRequest {
        name: format!("{application}/informationRequests/{}", r.id),
        question: r.question.clone(),
        ask_time: Some(timestamp(&r.asked_time)),
        response_due_time: Some(start_of(r.response_due_date)),
        answer: r.answer.clone().unwrap_or_default(),
        answer_documents: r
            .answer_documents
            .iter()
            .map(|d| pb::SupportingDocument {
                display_name: d.display_name.clone(),
                media_type: d.media_type.clone(),
                sha256: d.sha256.clone(),
                size_bytes: d.size_bytes,
            })
            .collect(),
        answer_time: r.answered_time.as_ref().map(timestamp),
    }
}

fn note_to_pb(application: &str, n: &Note) -> pb::Note {
    pb::Note {
        name: format!("{application}/notes/{}", n.id),
        author: n.author.clone(),
        text: n.text.clone(),
        visible_to_applicant: n.visible_to_applicant,
        create_time: Some(timestamp(&n.create_time)),
    }
}

fn proposal_to_pb(application: &str, p: &Proposal) -> pb::Proposal {
    pb::Proposal {
        name: format!("{application}/proposals/{}", p.id),
        approve: p.decision == Decision::Approve,
        reason: p.reason.clone(),
        granted_quantities: p.granted_quantities.clone(),
        conditions: p.conditions.clone(),
        validity_months: i32::try_from(p.validity_months).unwrap_or(i32::MAX),
        value_tolerance_percent: i32::try_from(p.value_tolerance_percent).unwrap_or(i32::MAX),
        proposer: p.proposer.clone(),
        create_time: Some(timestamp(&p.create_time)),
        state: (match p.outcome {
            ProposalOutcome::Pending => pb::ProposalState::Pending,
            ProposalOutcome::Countersigned => pb::ProposalState::Countersigned,
            ProposalOutcome::Rejected => pb::ProposalState::Rejected,
        }) as i32,
        resolved_by: p.resolved_by.clone().unwrap_or_default(),
        resolve_time: p.resolved_time.as_ref().map(timestamp),
        resolution_reason: p.resolution_reason.clone().unwrap_or_default(),
    }
}

/// The application with its determinations, information requests and the notes `viewer` may
/// see.
pub fn case_application_to_pb(case: &Case, viewer: Viewer) -> pb::Application {
    let mut a = application_to_pb(&case.application);
    for (line, determination) in a.lines.iter_mut().zip(&case.determinations) {
        line.determination = Some(determination_to_pb(determination));
    }
    a.review_policy = policy_to_pb(case.review_policy);
    a.information_requests = case
        .information_requests
        .iter()
        .map(|r| request_to_pb(&a.name, r))
        .collect();
    a.notes = match viewer {
        Viewer::Applicant => case
            .notes_visible_to_applicant()
            .map(|n| note_to_pb(&a.name, n))
            .collect(),
        Viewer::Regulator => case.notes.iter().map(|n| note_to_pb(&a.name, n)).collect(),
    };
    a
}

/// The regulator's view of a case on `today`.
pub fn case_to_pb(case: &Case, settings: &ReviewSettings, today: NaiveDate) -> pb::Case {
    let application = case_application_to_pb(case, Viewer::Regulator);
    let clock = case.clock(settings, today).map(|c| pb::ReviewClock {
        elapsed_working_days: c.elapsed_working_days,
        paused_working_days: c.paused_working_days,
        target_working_days: c.target_working_days,
        due_time: Some(start_of(c.due_date)),
        paused: c.paused,
        overdue: c.overdue,
    });
    pb::Case {
        name: Collection::Applications.name_of(case.application.id),
        proposals: case
            .proposals
            .iter()
            .map(|p| proposal_to_pb(&application.name, p))
            .collect(),
        etag: application.etag.clone(),
        assignee: case.assignee.clone().unwrap_or_default(),
        clock,
        application: Some(application),
    }
}
