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
                        !is_final(state) || next == state,
                        "final state {state:?} changed by {action:?}"
                    );
                    state = next;
                }
                Err(e) => assert!(matches!(e, DomainError::FailedPrecondition { .. })),
            }
        }
    }
    // Every state is reachable by some sequence.
    for target in STATES
        .iter()
        .filter(|s| **s != ApplicationState::UnderAppeal)
    {
        let reached = (0..500).any(|seed| {
            let mut rng = XorShift(seed + 1);
            let mut state = ApplicationState::Draft;
            for _ in 0..20 {
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
    let Err(DomainError::Invalid(v)) = c.submit(&ctx(&applicant, &settings), false, vec![]) else {
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
        .submit(&ctx(&applicant, &settings), true, vec![determination()])
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
