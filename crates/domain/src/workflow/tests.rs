use chrono::TimeZone;

use super::*;
use crate::application::{ApplicationContent, ApplicationInput, LineInput, MoneyInput, PartyInput};
use crate::ids::{Collection, OrganisationId};

fn principal(subject: &str, roles: &[Role], org: Option<&str>) -> Principal {
    Principal {
        subject: subject.into(),
        roles: roles.to_vec(),
        organisation: org.map(|o| OrganisationId::parse(o).unwrap()),
        agency: None,
    }
}

fn complete_content() -> ApplicationContent {
    ApplicationContent::parse(ApplicationInput {
        transaction_kind: String::new(),
        destination_country_code: "CN".into(),
        end_use_statement: "Inference".into(),
        parties: vec![PartyInput {
            role: Some(PartyRole::EndUser),
            display_name: "Example Cloud".into(),
            address: "1 Example Road".into(),
            country_code: "CN".into(),
            headquarters_country_code: "CN".into(),
        }],
        lines: vec![LineInput {
            product: Collection::Products.name_of(Uuid::now_v7()),
            quantity: 100,
            unit_value: Some(MoneyInput {
                currency_code: "USD".into(),
                minor_units: 1000,
            }),
        }],
        documents: vec![],
        certifications: Vec::new(),
    })
    .unwrap()
}

fn case(state: ApplicationState) -> Case {
    let now = Utc.with_ymd_and_hms(2025, 6, 2, 9, 0, 0).unwrap();
    Case {
        application: Application {
            id: Uuid::now_v7(),
            reference: "CL-2025-000001".into(),
            organisation: OrganisationId::parse("acme").unwrap(),
            content: complete_content(),
            state,
            version: 1,
            create_time: now,
            update_time: now,
            submit_time: (state != ApplicationState::Draft).then_some(now),
            amendment: None,
        },
        assignee: None,
        determinations: vec![],
        review_policy: None,
        due_date: None,
        information_requests: vec![],
        notes: vec![],
        proposals: vec![],
        referrals: vec![],
        appeals: vec![],
        screening: vec![],
        screening_currency: Default::default(),
    }
}

fn determination() -> Determination {
    Determination {
        at: Utc::now(),
        licence_required: true,
        review_policy: Some(ReviewPolicy::CaseByCase),
        consulted: vec![],
        fired: vec![],
    }
}

/// A deterministic pseudo-random sequence, so a failing case can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const STATES: [ApplicationState; 10] = ApplicationState::ALL;

fn allowed_edges() -> Vec<(ApplicationState, ApplicationState)> {
    use ApplicationState::*;
    let mut edges = vec![
        (Draft, Submitted),
        (Submitted, UnderReview),
        (UnderReview, AwaitingApplicant),
        (AwaitingApplicant, UnderReview),
        (UnderReview, PendingCountersign),
        (PendingCountersign, Approved),
        (PendingCountersign, Denied),
        (PendingCountersign, UnderReview),
        (UnderReview, Returned),
        (Denied, UnderAppeal),
        (UnderAppeal, UnderReview),
        (UnderAppeal, Denied),
    ];
    for s in [
        Draft,
        Submitted,
        UnderReview,
        AwaitingApplicant,
        PendingCountersign,
        UnderAppeal,
    ] {
        edges.push((s, Withdrawn));
    }
    // Reassignment and notes leave the state as it is.
    for s in ApplicationState::ALL.into_iter().filter(|s| *s != Draft) {
        edges.push((s, s));
    }
    edges
}

#[test]
fn random_command_sequences_only_follow_the_diagram_and_final_states_never_change() {
    let actions = [
        Action::Submit,
        Action::Assign,
        Action::RequestInformation,
        Action::AnswerInformation,
        Action::ProposeDecision,
        Action::Countersign { approve: true },
        Action::Countersign { approve: false },
        Action::RejectProposal,
        Action::Return,
        Action::Withdraw,
        Action::AddNote,
        Action::Refer,
        Action::Appeal,
        Action::DecideAppeal { overturn: true },
        Action::DecideAppeal { overturn: false },
        Action::ResolveScreening,
    ];
    let edges = allowed_edges();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let mut state = ApplicationState::Draft;
        for _ in 0..30 {
            let action = actions[rng.next(actions.len())];
            match transition(state, action) {
                Ok(next) => {
                    assert!(
                        edges.contains(&(state, next)),
                        "{state:?} -{action:?}-> {next:?} is not in the diagram"
                    );
                    assert!(
                        !is_final(state) || next == state || action == Action::Appeal,
                        "final state {state:?} changed by {action:?}"
                    );
                    state = next;
                }
                Err(e) => assert!(matches!(e, DomainError::FailedPrecondition { .. })),
            }
        }
    }
    // Every state is reachable by some sequence.
    for target in STATES.iter() {
        let reached = (0..5000).any(|seed| {
            let mut rng = XorShift(seed + 1);
            let mut state = ApplicationState::Draft;
            for _ in 0..40 {
                if let Ok(next) = transition(state, actions[rng.next(actions.len())]) {
                    state = next;
                }
                if state == *target {
                    return true;
                }
            }
            false
        });
        assert!(reached, "{target:?} unreachable");
    }
}

fn ctx<'a>(p: &'a Principal, settings: &'a ReviewSettings) -> Context<'a> {
    Context {
        principal: p,
        now: Utc.with_ymd_and_hms(2025, 6, 3, 9, 0, 0).unwrap(),
        request_id: "r",
        settings,
    }
}

#[test]
fn the_proposer_can_never_countersign() {
    let settings = ReviewSettings::default();
    let alice = principal("alice", &[Role::SeniorReviewer], None);
    let bob = principal("bob", &[Role::SeniorReviewer], None);
    let mut c = case(ApplicationState::UnderReview);
    let update = c
        .propose(
            &ctx(&alice, &settings),
            ProposalInput {
                approve: true,
                ..Default::default()
            },
        )
        .unwrap();
    c.proposals.push(update.new_proposal.unwrap());
    c.application.state = update.state;
    let refused = c.countersign(&ctx(&alice, &settings)).unwrap_err();
    assert!(matches!(
        refused,
        DomainError::PermissionDenied {
            reason: "SELF_COUNTERSIGN",
            ..
        }
    ));
    assert_eq!(
        c.countersign(&ctx(&bob, &settings)).unwrap().state,
        ApplicationState::Approved
    );
    let reviewer = principal("carol", &[Role::Reviewer], None);
    assert!(matches!(
        c.countersign(&ctx(&reviewer, &settings)),
        Err(DomainError::PermissionDenied { .. })
    ));
}

#[test]
fn an_approval_may_reduce_but_never_raise_a_quantity() {
    let settings = ReviewSettings::default();
    let alice = principal("alice", &[Role::Reviewer], None);
    let c = case(ApplicationState::UnderReview);
    let more = ProposalInput {
        approve: true,
        granted_quantities: vec![101],
        ..Default::default()
    };
    assert!(matches!(
        c.propose(&ctx(&alice, &settings), more),
        Err(DomainError::Invalid(_))
    ));
    let less = ProposalInput {
        approve: true,
        granted_quantities: vec![60],
        ..Default::default()
    };
    let p = c
        .propose(&ctx(&alice, &settings), less)
        .unwrap()
        .new_proposal
        .unwrap();
    assert_eq!(p.granted_quantities, vec![60]);
    assert_eq!(p.validity_months, 48);
    assert_eq!(p.value_tolerance_percent, 25);
}

#[test]
fn an_incomplete_application_names_every_missing_piece() {
    let settings = ReviewSettings::default();
    let applicant = principal("o", &[Role::Applicant], Some("acme"));
    let mut c = case(ApplicationState::Draft);
    c.application.content = ApplicationContent::parse(ApplicationInput::default()).unwrap();
    let Err(DomainError::Invalid(v)) =
        c.submit(&ctx(&applicant, &settings), false, vec![], vec![], 0)
    else {
        panic!("incomplete submission accepted");
    };
    let fields: Vec<String> = v.into_vec().into_iter().map(|f| f.field).collect();
    assert_eq!(
        fields,
        [
            "destination_country_code",
            "end_use_statement",
            "lines",
            "parties",
            "declaration_confirmed"
        ]
    );
}

#[test]
fn submission_stores_determinations_and_sets_the_due_date() {
    let settings = ReviewSettings::default();
    let applicant = principal("o", &[Role::Applicant], Some("acme"));
    let c = case(ApplicationState::Draft);
    let update = c
        .submit(
            &ctx(&applicant, &settings),
            true,
            vec![determination()],
            vec![],
            0,
        )
        .unwrap();
    assert_eq!(update.state, ApplicationState::Submitted);
    assert_eq!(update.review_policy, Some(ReviewPolicy::CaseByCase));
    // Tuesday 2025-06-03 + 30 working days.
    assert_eq!(
        update.due_date,
        Some(NaiveDate::from_ymd_opt(2025, 7, 15).unwrap())
    );
}

#[test]
fn answering_needs_the_open_request() {
    let settings = ReviewSettings::default();
    let applicant = principal("o", &[Role::Applicant], Some("acme"));
    let c = case(ApplicationState::AwaitingApplicant);
    assert!(matches!(
        c.answer_information(&ctx(&applicant, &settings), Uuid::now_v7(), "here", vec![]),
        Err(DomainError::FailedPrecondition { .. })
    ));
}

/// A hit on a listed party, as screening reports it.
fn listed_hit() -> crate::screening::Hit {
    crate::screening::Hit {
        list_id: Uuid::nil(),
        entry_id: "e1".into(),
        listed_name: "Example Cloud Ltd".into(),
        matched_name: "Example Cloud Ltd".into(),
        score: 0.97,
        matched_fields: vec!["name".into()],
        source_list: "Entity List".into(),
        programs: vec![],
    }
}

/// What the store does with an update, for a test that replays whole workflows in memory.
fn apply(c: &mut Case, u: CaseUpdate) {
    if let Some(through) = u.screened_through {
        c.screening_currency.screened_through = through;
    }
    c.application.state = u.state;
    c.application.version += 1;
    c.application.submit_time = u.submit_time;
    c.assignee = u.assignee;
    if let Some(d) = u.determinations {
        c.determinations = d;
    }
    c.review_policy = u.review_policy;
    c.due_date = u.due_date;
    if let Some(r) = u.new_request {
        c.information_requests.push(r);
    }
    if let Some(answered) = u.answered_request {
        for r in &mut c.information_requests {
            if r.id == answered.id {
                *r = answered.clone();
            }
        }
    }
    if let Some(n) = u.new_note {
        c.notes.push(n);
    }
    if let Some(p) = u.new_proposal {
        c.proposals.push(p);
    }
    if let Some(resolved) = u.resolved_proposal {
        for p in &mut c.proposals {
            if p.id == resolved.id {
                *p = resolved.clone();
            }
        }
    }
    c.referrals.extend(u.new_referrals);
    c.screening.extend(u.new_flags);
    if let Some(resolved) = u.resolved_flag {
        for f in &mut c.screening {
            if f.id == resolved.id {
                *f = resolved.clone();
            }
        }
    }
    if let Some(a) = u.new_appeal {
        c.appeals.push(a);
    }
    if let Some(decided) = u.decided_appeal {
        for a in &mut c.appeals {
            if a.id == decided.id {
                *a = decided.clone();
            }
        }
    }
}

/// The end user's screening: a hit on a listed party, or nothing.
fn end_user_screening(hit: bool) -> Vec<crate::screening::PartyScreening> {
    if hit {
        vec![crate::screening::PartyScreening {
            party_index: 0,
            party_name: "Example Cloud".into(),
            hits: vec![listed_hit()],
        }]
    } else {
        Vec::new()
    }
}

#[test]
fn random_workflows_of_applications_amendments_referrals_and_appeals_keep_every_rule() {
    use crate::amendment::AmendmentRequest;
    use crate::appeal::AppealOutcome;
    use crate::referral::{Advice, AdvisingAgencies, AdvisingAgency, LineAdvice, give_advice};
    use crate::screening::FlagStatus;
    let settings = ReviewSettings {
        agencies: AdvisingAgencies::new(vec![AdvisingAgency {
            id: "defense".into(),
            advice_working_days: 10,
        }])
        .unwrap(),
        ..ReviewSettings::default()
    };
    let people = [
        principal("officer", &[Role::Applicant], Some("acme")),
        principal("alice", &[Role::Reviewer], None),
        principal("bob", &[Role::SeniorReviewer], None),
        principal("carol", &[Role::SeniorReviewer], None),
        principal("dave", &[Role::SeniorReviewer], None),
    ];
    let admin = principal("screening", &[Role::PolicyAdmin], None);
    let mut dora = principal("dora", &[Role::Adviser], None);
    dora.agency = Some("defense".into());
    let edges = allowed_edges();
    let start = Utc.with_ymd_and_hms(2025, 6, 2, 9, 0, 0).unwrap();
    let (mut issued, mut amended, mut appealed, mut overturned) = (0, 0, 0, 0);
    for seed in 0..1000_u64 {
        let mut rng = XorShift(seed + 1);
        let mut c = case(ApplicationState::Draft);
        let is_amendment = seed % 2 == 1;
        if is_amendment {
            c.application.amendment = Some(AmendmentRequest {
                licence_id: Uuid::now_v7(),
                reasons: "more units".into(),
                valid_until: None,
            });
        }
        for step in 0..60_i64 {
            let command = rng.next(16);
            // Mostly someone whose role may give the command; now and then anyone at all.
            let who = if rng.next(10) < 8 {
                match command {
                    0 | 3 | 10 => &people[0],
                    15 => &admin,
                    5 | 6 | 11 => &people[2 + rng.next(3)],
                    _ => &people[1 + rng.next(4)],
                }
            } else {
                &people[rng.next(people.len())]
            };
            let ctx = Context {
                principal: who,
                now: start + chrono::Duration::days(step),
                request_id: "r",
                settings: &settings,
            };
            let before = c.clone();
            let result = match command {
                0 => {
                    // Now and then the end user resembles a listed party.
                    let screened = end_user_screening(rng.next(3) == 0);
                    let through = c.screening_currency.imported;
                    c.submit(&ctx, true, vec![determination()], screened, through)
                }
                14 => {
                    // A list version is imported: the case is behind until screened again.
                    c.screening_currency.imported += 1;
                    continue;
                }
                15 => {
                    // Screening again raises new hits, or only records that it looked.
                    let through = c.screening_currency.imported;
                    let screened = end_user_screening(rng.next(4) == 0);
                    match c.rescreen(&ctx, screened, through) {
                        Ok(update) => Ok(update),
                        Err(_) => {
                            c.screening_currency.screened_through = through;
                            continue;
                        }
                    }
                }
                13 => match c.screening.first().map(|f| f.id) {
                    Some(id) => c.resolve_screening(&ctx, id, rng.next(2) == 0, "checked"),
                    None => continue,
                },
                1 => c.assign(&ctx, ""),
                2 => c.request_information(&ctx, "Who is the end user?", None),
                3 => match c.open_request().map(|r| r.id) {
                    Some(id) => c.answer_information(&ctx, id, "A cloud provider", vec![]),
                    None => continue,
                },
                4 => c.propose(
                    &ctx,
                    ProposalInput {
                        approve: rng.next(3) > 0,
                        reason: "reasons".into(),
                        justification: if rng.next(2) == 0 {
                            String::new()
                        } else {
                            "the concern is met by conditions".into()
                        },
                        ..ProposalInput::default()
                    },
                ),
                5 | 6 => c.countersign(&ctx),
                7 => c.reject_proposal(&ctx, "look again"),
                8 => c.return_application(&ctx, "no licence needed"),
                9 => c.refer(&ctx, &["defense".into()], &[]),
                10 => c.appeal(&ctx, "a new end-user certificate", vec![]),
                11 => {
                    let outcome = if rng.next(2) == 0 {
                        AppealOutcome::Overturned
                    } else {
                        AppealOutcome::Upheld
                    };
                    c.decide_appeal(&ctx, outcome, "weighed the grounds")
                }
                _ => {
                    // The agency advises on whatever is outstanding (advice is not a case step).
                    let refuse = rng.next(2) == 0;
                    for r in c.referrals.iter_mut().filter(|r| r.is_outstanding()) {
                        let advice = r
                            .lines
                            .iter()
                            .map(|&line_index| LineAdvice {
                                line_index,
                                advice: if refuse {
                                    Advice::Refuse {
                                        reasons: "end user of concern".into(),
                                    }
                                } else {
                                    Advice::Approve
                                },
                            })
                            .collect();
                        if let Ok(given) =
                            give_advice(r, c.application.state, &dora, "r", ctx.now, advice)
                        {
                            *r = given.referral;
                        }
                    }
                    continue;
                }
            };
            let Ok(update) = result else { continue };
            let (from, to) = (before.application.state, update.state);
            assert!(edges.contains(&(from, to)), "{from:?} -> {to:?}");
            assert!(
                !is_final(from)
                    || from == to
                    || (from, to) == (ApplicationState::Denied, ApplicationState::UnderAppeal),
                "closed case {from:?} moved to {to:?}"
            );
            if let Some(p) = &update.new_proposal {
                assert!(
                    before.referrals.iter().all(|r| !r.is_outstanding()),
                    "proposed while advice was due"
                );
                let refused = before.referrals.iter().any(|r| {
                    r.advice
                        .as_ref()
                        .is_some_and(|a| a.lines.iter().any(|l| l.advice.is_refusal()))
                });
                if p.decision == Decision::Approve && refused {
                    assert!(!p.justification.is_empty(), "departure without a reason");
                }
            }
            if let Some(p) = &update.resolved_proposal
                && p.outcome == ProposalOutcome::Countersigned
            {
                assert_ne!(p.resolved_by.as_deref(), Some(p.proposer.as_str()));
            }
            // Screening: nothing proposed over an open hit, nothing approved over a confirmed
            // one; nothing decided before the parties were screened against every list.
            let approves = to == ApplicationState::Approved && from != to;
            if update.new_proposal.is_some() || approves {
                assert!(
                    before
                        .screening
                        .iter()
                        .all(|f| f.status != FlagStatus::Open),
                    "decided over an open screening hit"
                );
                assert!(
                    before.screening_currency.is_current(),
                    "decided before the case was screened against every list version"
                );
            }
            if to == ApplicationState::Approved
                || update
                    .new_proposal
                    .as_ref()
                    .is_some_and(|p| p.decision == Decision::Approve)
            {
                assert!(
                    before
                        .screening
                        .iter()
                        .all(|f| f.status != FlagStatus::Confirmed),
                    "approved a confirmed denied party"
                );
            }
            // An approval issues a licence, or revises one for an amendment; nothing else does.
            match (&update.issued_licence, &update.amended_licence) {
                (Some(_), None) => {
                    assert!(!is_amendment && to == ApplicationState::Approved);
                    issued += 1;
                }
                (None, Some((licence, _))) => {
                    assert!(is_amendment && to == ApplicationState::Approved);
                    assert_eq!(
                        Some(*licence),
                        before.application.amendment.as_ref().map(|a| a.licence_id)
                    );
                    amended += 1;
                }
                (None, None) => assert!(!approves, "approved without a licence"),
                (Some(_), Some(_)) => panic!("both issued and amended"),
            }
            if update.new_appeal.is_some() {
                appealed += 1;
            }
            if let Some(a) = &update.decided_appeal {
                let decider = a.decided_by.clone().unwrap_or_default();
                assert!(!a.decision_participants.contains(&decider));
                if a.outcome == Some(AppealOutcome::Overturned) {
                    overturned += 1;
                }
            }
            apply(&mut c, update);
            if c.application.state == ApplicationState::UnderAppeal {
                assert_eq!(c.due_date, c.open_appeal().map(|a| a.due_date));
            }
        }
    }
    // The walk reaches every kind of outcome.
    assert!(
        issued > 0 && amended > 0 && appealed > 0 && overturned > 0,
        "issued {issued}, amended {amended}, appealed {appealed}, overturned {overturned}"
    );
}
