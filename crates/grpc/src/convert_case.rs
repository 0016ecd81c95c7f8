//! Conversions for cases and the review records an application carries.

use chrono::{NaiveDate, TimeZone, Utc};
use clearance_domain::Violations;
use clearance_domain::appeal::{Appeal, AppealOutcome};
use clearance_domain::ids::Collection;
use clearance_domain::referral::{Advice, LineAdvice, Referral};
use clearance_domain::screening::{FlagStatus, ScreeningFlag};
use clearance_domain::workflow::{
    Case, Decision, InformationRequest, Note, Proposal, ProposalOutcome, ReviewSettings,
};
use clearance_proto::v1 as pb;

use crate::convert::{application_to_pb, timestamp};
use crate::convert_policy::{determination_to_pb, policy_to_pb};

/// Who is looking: applicants never see regulator-only notes, advisers see no notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Applicant,
    Regulator,
    Adviser,
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
        justification: p.justification.clone(),
    }
}

fn appeal_to_pb(application: &str, a: &Appeal, viewer: Viewer, today: NaiveDate) -> pb::Appeal {
    pb::Appeal {
        name: format!("{application}/appeals/{}", a.id),
        grounds: a.grounds.clone(),
        documents: a
            .documents
            .iter()
            .map(|d| pb::SupportingDocument {
                display_name: d.display_name.clone(),
                media_type: d.media_type.clone(),
                sha256: d.sha256.clone(),
                size_bytes: d.size_bytes,
            })
            .collect(),
        file_time: Some(timestamp(&a.filed_time)),
        due_time: Some(start_of(a.due_date)),
        overdue: a.is_overdue(today),
        outcome: (match a.outcome {
            None => pb::AppealOutcome::Unspecified,
            Some(AppealOutcome::Upheld) => pb::AppealOutcome::Upheld,
            Some(AppealOutcome::Overturned) => pb::AppealOutcome::Overturned,
        }) as i32,
        decide_time: a.decided_time.as_ref().map(timestamp),
        decision_reason: a.decision_reason.clone().unwrap_or_default(),
        // The regulator's staff are not named to applicants.
        decided_by: match viewer {
            Viewer::Regulator => a.decided_by.clone().unwrap_or_default(),
            Viewer::Applicant | Viewer::Adviser => String::new(),
        },
    }
}

fn screening_hit_to_pb(application: &str, f: &ScreeningFlag) -> pb::ScreeningHit {
    pb::ScreeningHit {
        name: format!("{application}/screeningHits/{}", f.id),
        party_number: i32::try_from(f.party_index + 1).unwrap_or(i32::MAX),
        party_name: f.party_name.clone(),
        list: Collection::ScreeningLists.name_of(f.hit.list_id),
        entry_id: f.hit.entry_id.clone(),
        listed_name: f.hit.listed_name.clone(),
        matched_name: f.hit.matched_name.clone(),
        score: f.hit.score,
        matched_fields: f.hit.matched_fields.clone(),
        source_list: f.hit.source_list.clone(),
        programs: f.hit.programs.clone(),
        status: (match f.status {
            FlagStatus::Open => pb::ScreeningHitStatus::Open,
            FlagStatus::Cleared => pb::ScreeningHitStatus::Cleared,
            FlagStatus::Confirmed => pb::ScreeningHitStatus::Confirmed,
        }) as i32,
        raise_time: Some(timestamp(&f.raised_time)),
        decided_by: f.decided_by.clone().unwrap_or_default(),
        decide_time: f.decided_time.as_ref().map(timestamp),
        reason: f.reason.clone().unwrap_or_default(),
    }
}

/// Line indices as the API counts lines, from 1.
fn line_numbers(indices: &[usize]) -> Vec<i32> {
    indices
        .iter()
        .map(|i| i32::try_from(*i + 1).unwrap_or(i32::MAX))
        .collect()
}

fn advice_to_pb(line: &LineAdvice) -> pb::LineAdvice {
    let (kind, text) = match &line.advice {
        Advice::Approve => (pb::AdviceKind::Approve, String::new()),
        Advice::ApproveWithProvisos { provisos } => {
            (pb::AdviceKind::ApproveWithProvisos, provisos.clone())
        }
        Advice::Refuse { reasons } => (pb::AdviceKind::Refuse, reasons.clone()),
        Advice::NoLicenceRequired => (pb::AdviceKind::NoLicenceRequired, String::new()),
    };
    pb::LineAdvice {
        line_number: line_numbers(&[line.line_index])[0],
        kind: kind as i32,
        text,
    }
}

/// A referral as the regulator sees it inside a case (without the application).
pub fn referral_to_pb(r: &Referral, today: NaiveDate) -> pb::Referral {
    let advice = r.advice.as_ref();
    pb::Referral {
        name: Collection::Referrals.name_of(r.id),
        case: Collection::Applications.name_of(r.application_id),
        agency: r.agency.clone(),
        line_numbers: line_numbers(&r.lines),
        referred_by: r.referred_by.clone(),
        create_time: Some(timestamp(&r.referred_time)),
        due_time: Some(start_of(r.due_date)),
        overdue: r.is_overdue(today),
        advice: advice
            .map(|a| a.lines.iter().map(advice_to_pb).collect())
            .unwrap_or_default(),
        adviser: advice.map(|a| a.adviser.clone()).unwrap_or_default(),
        advice_time: advice.map(|a| timestamp(&a.time)),
        etag: clearance_domain::etag::etag_of(r.version),
        application: None,
    }
}

/// A referral with the application as referred, for `ListReferrals`, `GetReferral` and
/// `GiveAdvice`.
pub fn referred_case_to_pb(r: &Referral, case: &Case, today: NaiveDate) -> pb::Referral {
    pb::Referral {
        application: Some(case_application_to_pb(case, Viewer::Adviser, today)),
        ..referral_to_pb(r, today)
    }
}

/// Advice as sent: line numbers from 1 become line indices; kinds and texts are checked by the
/// domain.
pub fn advice_from_pb(advice: &[pb::LineAdvice]) -> Result<Vec<LineAdvice>, Violations> {
    let mut v = Violations::new();
    let mut lines = Vec::with_capacity(advice.len());
    for (i, a) in advice.iter().enumerate() {
        let line_index = usize::try_from(a.line_number)
            .ok()
            .and_then(|n| n.checked_sub(1));
        let Some(line_index) = line_index else {
            v.add(
                format!("advice[{i}].line_number"),
                "lines are counted from 1",
            );
            continue;
        };
        let kind = match pb::AdviceKind::try_from(a.kind) {
            Ok(pb::AdviceKind::Approve) => Advice::Approve,
            Ok(pb::AdviceKind::ApproveWithProvisos) => Advice::ApproveWithProvisos {
                provisos: a.text.clone(),
            },
            Ok(pb::AdviceKind::Refuse) => Advice::Refuse {
                reasons: a.text.clone(),
            },
            Ok(pb::AdviceKind::NoLicenceRequired) => Advice::NoLicenceRequired,
            Ok(pb::AdviceKind::Unspecified) | Err(_) => {
                v.add(
                    format!("advice[{i}].kind"),
                    "must be APPROVE, APPROVE_WITH_PROVISOS, REFUSE or NO_LICENCE_REQUIRED",
                );
                continue;
            }
        };
        if matches!(kind, Advice::Approve | Advice::NoLicenceRequired) && !a.text.is_empty() {
            v.add(
                format!("advice[{i}].text"),
                "only provisos and refusals carry text",
            );
        }
        lines.push(LineAdvice {
            line_index,
            advice: kind,
        });
    }
    v.finish(|| lines)
}

/// Line numbers from 1, as sent, to line indices.
pub fn line_indices_from_pb(field: &str, numbers: &[i32]) -> Result<Vec<usize>, Violations> {
    let mut v = Violations::new();
    let mut indices = Vec::with_capacity(numbers.len());
    for (i, n) in numbers.iter().enumerate() {
        match usize::try_from(*n).ok().and_then(|n| n.checked_sub(1)) {
            Some(index) => indices.push(index),
            None => v.add(format!("{field}[{i}]"), "lines are counted from 1"),
        }
    }
    v.finish(|| indices)
}

/// The application with its determinations, information requests, appeals and the notes
/// `viewer` may see, on `today`.
pub fn case_application_to_pb(case: &Case, viewer: Viewer, today: NaiveDate) -> pb::Application {
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
    a.appeals = case
        .appeals
        .iter()
        .map(|appeal| appeal_to_pb(&a.name, appeal, viewer, today))
        .collect();
    a.notes = match viewer {
        Viewer::Applicant => case
            .notes_visible_to_applicant()
            .map(|n| note_to_pb(&a.name, n))
            .collect(),
        Viewer::Regulator => case.notes.iter().map(|n| note_to_pb(&a.name, n)).collect(),
        Viewer::Adviser => Vec::new(),
    };
    a
}

/// The regulator's view of a case on `today`.
pub fn case_to_pb(case: &Case, settings: &ReviewSettings, today: NaiveDate) -> pb::Case {
    let application = case_application_to_pb(case, Viewer::Regulator, today);
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
        referrals: case
            .referrals
            .iter()
            .map(|r| referral_to_pb(r, today))
            .collect(),
        advice_overdue: case.advice_overdue(today),
        screening_hits: case
            .screening
            .iter()
            .map(|f| screening_hit_to_pb(&application.name, f))
            .collect(),
        assignee: case.assignee.clone().unwrap_or_default(),
        clock,
        application: Some(application),
    }
}
