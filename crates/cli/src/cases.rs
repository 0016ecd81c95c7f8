//! `clearancectl cases`: the regulator's queue, review steps and decisions.

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{
    Authed, Change, Ctx, Decided, Failure, LocalProblem, Outcome, Page, decided_etag, request_id,
};
use crate::output::{self, Format, print};
use crate::text;

#[derive(Subcommand)]
pub(crate) enum Cases {
    /// The queue, earliest due first.
    #[command(after_help = "Example:\n  clearancectl cases list --filter 'overdue = true'")]
    List(Page),
    /// One case with its clock, notes and proposals.
    #[command(after_help = "Example:\n  clearancectl cases show applications/0192...")]
    Show {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
    },
    /// Assign to yourself or to `--to`.
    #[command(
        after_help = "Example:\n  clearancectl cases assign applications/0192... --to alice@regulator"
    )]
    Assign {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// The regulator (token subject) to assign to; yourself when absent.
        #[arg(long, default_value = "")]
        to: String,
        #[command(flatten)]
        change: Change,
    },
    /// Ask the applicant a question (the clock stops until the answer).
    #[command(
        after_help = "Example:\n  clearancectl cases ask applications/0192... --question 'Which data centre?'"
    )]
    Ask {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// The question for the applicant.
        #[arg(long)]
        question: String,
        #[command(flatten)]
        change: Change,
    },
    /// Add a note, regulator-only unless `--visible-to-applicant`.
    #[command(
        after_help = "Example:\n  clearancectl cases note applications/0192... --text 'Checked the end user'"
    )]
    Note {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// The note's text.
        #[arg(long)]
        text: String,
        /// Show the note to the applicant as well.
        #[arg(long)]
        visible_to_applicant: bool,
        #[command(flatten)]
        change: Change,
    },
    /// Propose approval (or `--deny`) for a senior reviewer to countersign.
    #[command(
        after_help = "Example:\n  clearancectl cases propose applications/0192... --grant 800 --condition 'No re-export' --reason 'verified'"
    )]
    Propose {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Propose denial instead of approval.
        #[arg(long)]
        deny: bool,
        /// Why, for the record (the countersigner and the history see it).
        #[arg(long, default_value = "")]
        reason: String,
        /// Granted quantity per line, in line order (repeat); all as applied when absent.
        #[arg(long = "grant")]
        grants: Vec<i64>,
        /// A condition of the licence (repeat for several).
        #[arg(long = "condition")]
        conditions: Vec<String>,
        /// Why an approval departs from an advising agency's refusal (required when it does).
        #[arg(long, default_value = "")]
        justification: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Refer the case, or some lines, to advising agencies; no decision can be proposed
    /// until each has advised.
    #[command(
        after_help = "Example:\n  clearancectl cases refer CL-2026-000002 --agency defense --agency energy"
    )]
    Refer {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// An advising agency as configured, e.g. defense (repeat for several).
        #[arg(long = "agency", required = true)]
        agencies: Vec<String>,
        /// A line to refer, counted from 1 (repeat); every line when absent.
        #[arg(long = "line")]
        lines: Vec<i32>,
        #[command(flatten)]
        change: Change,
    },
    /// Decide an appeal against a denial (a senior reviewer who took no part in the denial).
    #[command(
        name = "decide-appeal",
        after_help = "Example:\n  clearancectl cases decide-appeal CL-2026-000002 --overturn --reason 'the end user was delisted' --latest"
    )]
    DecideAppeal {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Set the denial aside: the case is under review again for a new decision.
        #[arg(long, conflicts_with = "uphold", required_unless_present = "uphold")]
        overturn: bool,
        /// Let the denial stand.
        #[arg(long)]
        uphold: bool,
        /// Why, for the record (the applicant sees it).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Clear a denied-party screening hit as a false positive, or confirm it (the case can
    /// then only be denied). No decision can be proposed while a hit is open.
    #[command(
        name = "resolve-hit",
        after_help = "Examples:\n  clearancectl cases resolve-hit CL-2026-000002 1 --clear --reason 'another company: different address and registration' --latest\n  clearancectl cases resolve-hit CL-2026-000002 2 --confirm --reason 'same entity as the Entity List entry' --etag '\"v7\"'"
    )]
    ResolveHit {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// The hit: its number in `cases show` (1, 2, ...) or its resource name.
        hit: String,
        /// A false positive: the party is not the listed one.
        #[arg(long, conflicts_with = "confirm", required_unless_present = "confirm")]
        clear: bool,
        /// The party is the listed one.
        #[arg(long)]
        confirm: bool,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Countersign the pending proposal (senior reviewer, never the proposer).
    #[command(after_help = "Example:\n  clearancectl cases countersign applications/0192...")]
    Countersign {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Send the pending proposal back with a reason.
    #[command(
        after_help = "Example:\n  clearancectl cases reject applications/0192... --reason 'conditions too weak'"
    )]
    Reject {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Why, for the record (the countersigner and the history see it).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
    /// Return the application without action.
    #[command(
        name = "return",
        after_help = "Example:\n  clearancectl cases return applications/0192... --reason 'no licence required'"
    )]
    ReturnApplication {
        /// The case: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Why, for the record (the countersigner and the history see it).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Decided,
    },
}

pub(crate) async fn run(ctx: &Ctx, cmd: Cases) -> Outcome {
    let f = ctx.format;
    let mut client = ctx.reviews().await?;
    let etag_of = |name: String, etag: Option<String>| {
        let mut client = client.clone();
        async move {
            match etag {
                Some(e) => Ok::<_, Failure>(e),
                None => Ok(client
                    .get_case(pb::GetCaseRequest { name })
                    .await?
                    .into_inner()
                    .etag),
            }
        }
    };
    let r = match cmd {
        Cases::List(p) => {
            return list_all!(
                ctx,
                client,
                list_cases,
                ListCasesRequest {
                    filter: p.filter.clone()
                },
                cases,
                "clearance.v1.Case",
                text::cases_table
            );
        }
        Cases::Show { name } => {
            let case = client
                .get_case(pb::GetCaseRequest { name })
                .await?
                .into_inner();
            // The licence an approval issued, shown with the case.
            let application = case
                .application
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_default();
            let licence = ctx
                .reviews()
                .await?
                .list_all_licences(pb::ListAllLicencesRequest {
                    filter: format!("application = \"{application}\""),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .licences
                .into_iter()
                .next();
            return Ok(print(f, &case, "clearance.v1.Case", |c| {
                text::case_detail(c, licence.as_ref())
            })?);
        }
        Cases::Assign { name, to, change } => {
            let etag = etag_of(name.clone(), change.etag.clone()).await?;
            client
                .assign_case(pb::AssignCaseRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    assignee: to,
                })
                .await?
        }
        Cases::Ask {
            name,
            question,
            change,
        } => {
            let etag = etag_of(name.clone(), change.etag.clone()).await?;
            client
                .request_information(pb::RequestInformationRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    question,
                    response_due_time: None,
                })
                .await?
        }
        Cases::Note {
            name,
            text,
            visible_to_applicant,
            change,
        } => {
            let etag = etag_of(name.clone(), change.etag.clone()).await?;
            client
                .add_note(pb::AddNoteRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    text,
                    visible_to_applicant,
                })
                .await?
        }
        Cases::Propose {
            name,
            deny,
            reason,
            grants,
            conditions,
            justification,
            change,
        } => {
            let etag =
                decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None)).await?;
            client
                .propose_decision(pb::ProposeDecisionRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    approve: !deny,
                    reason,
                    granted_quantities: grants,
                    conditions,
                    validity_months: 0,
                    value_tolerance_percent: None,
                    justification,
                })
                .await?
        }
        Cases::Refer {
            name,
            agencies,
            lines,
            change,
        } => {
            let etag = etag_of(name.clone(), change.etag.clone()).await?;
            client
                .refer_case(pb::ReferCaseRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    agencies,
                    line_numbers: lines,
                })
                .await?
        }
        Cases::DecideAppeal {
            name,
            overturn,
            uphold: _,
            reason,
            change,
        } => {
            let etag =
                decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None)).await?;
            client
                .decide_appeal(pb::DecideAppealRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    outcome: if overturn {
                        pb::AppealOutcome::Overturned
                    } else {
                        pb::AppealOutcome::Upheld
                    } as i32,
                    reason,
                })
                .await?
        }
        Cases::ResolveHit {
            name,
            hit,
            clear: _,
            confirm,
            reason,
            change,
        } => {
            let hit = screening_hit(&mut client.clone(), &name, &hit).await?;
            let etag =
                decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None)).await?;
            client
                .resolve_screening_hit(pb::ResolveScreeningHitRequest {
                    name: hit,
                    request_id: request_id(&change.request_id),
                    etag,
                    confirm,
                    reason,
                })
                .await?
        }
        Cases::Countersign { name, change } => {
            let etag =
                decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None)).await?;
            client
                .countersign_decision(pb::CountersignDecisionRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                })
                .await?
        }
        Cases::Reject {
            name,
            reason,
            change,
        } => {
            let etag =
                decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None)).await?;
            client
                .reject_proposal(pb::RejectProposalRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    reason,
                })
                .await?
        }
        Cases::ReturnApplication {
            name,
            reason,
            change,
        } => {
            let etag =
                decided_etag(f, &change, "cases", &name, || etag_of(name.clone(), None)).await?;
            client
                .return_application(pb::ReturnApplicationRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    reason,
                })
                .await?
        }
    };
    Ok(print(f, &r.into_inner(), "clearance.v1.Case", text::case)?)
}

/// The resource name of screening hit `hit` of `case`: its number as `cases show` lists it,
/// or its resource name (or id).
async fn screening_hit(
    client: &mut pb::review_service_client::ReviewServiceClient<Authed>,
    case: &str,
    hit: &str,
) -> Result<String, Failure> {
    if hit.starts_with("applications/") {
        return Ok(hit.to_owned());
    }
    let Some(number) = hit
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
    else {
        return Ok(format!("{case}/screeningHits/{hit}"));
    };
    let hits = client
        .get_case(pb::GetCaseRequest {
            name: case.to_owned(),
        })
        .await?
        .into_inner()
        .screening_hits;
    hits.get(number - 1).map(|h| h.name.clone()).ok_or_else(|| {
        Failure::Local(
            LocalProblem::NotFound(format!(
                "the case has {} screening hit{}, so there is no hit {number}; \
                 `clearancectl cases show` lists them",
                hits.len(),
                if hits.len() == 1 { "" } else { "s" }
            ))
            .into(),
        )
    })
}
