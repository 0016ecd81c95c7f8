use chrono::{Duration, TimeZone};

use super::*;
use crate::application::{
    ApplicationContent, ApplicationInput, ApplicationState, LineInput, MoneyInput, PartyInput,
};
use crate::ids::Collection;
use crate::workflow::ProposalOutcome;

fn usd(minor: i64) -> Money {
    money(CurrencyCode::parse("c", "USD").unwrap(), minor)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 1, 9, 0, 0).unwrap()
}

/// A licence line for 100 units worth 1,000,000 with 25 % tolerance.
fn licence(product: Uuid) -> Licence {
    let content = ApplicationContent::parse(ApplicationInput {
        transaction_kind: String::new(),
        destination_country_code: "CN".into(),
        end_use_statement: "Inference".into(),
        parties: vec![PartyInput {
            role: Some(PartyRole::EndUser),
            display_name: "Example Cloud Ltd".into(),
            address: "1 Example Road".into(),
            country_code: "CN".into(),
            headquarters_country_code: "CN".into(),
        }],
        lines: vec![LineInput {
            product: Collection::Products.name_of(product),
            quantity: 100,
            unit_value: Some(MoneyInput {
                currency_code: "USD".into(),
                minor_units: 10_000,
            }),
        }],
        documents: vec![],
        certifications: Vec::new(),
    })
    .unwrap();
    let case = Case {
        application: crate::application::Application {
            id: Uuid::now_v7(),
            reference: "CL-2025-000001".into(),
            organisation: OrganisationId::parse("acme").unwrap(),
            content,
            state: ApplicationState::Approved,
            version: 7,
            create_time: now(),
            update_time: now(),
            submit_time: Some(now()),
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
    };
    let proposal = Proposal {
        id: Uuid::now_v7(),
        decision: Decision::Approve,
        reason: String::new(),
        granted_quantities: vec![100],
        conditions: vec![],
        validity_months: 48,
        value_tolerance_percent: 25,
        proposer: "alice".into(),
        justification: String::new(),
        create_time: now(),
        outcome: ProposalOutcome::Countersigned,
        resolved_by: Some("bob".into()),
        resolved_time: Some(now()),
        resolution_reason: None,
    };
    issue_licence(&case, &proposal, now()).unwrap()
}

fn shipment(product: Uuid, quantity: i64, value: i64) -> ShipmentSpec {
    ShipmentSpec {
        destination: CountryCode::parse("c", "CN").unwrap(),
        end_user_name: "example cloud ltd".into(),
        end_user_country: CountryCode::parse("c", "CN").unwrap(),
        end_user_headquarters: None,
        consignee: None,
        erp_reference: "SO-1".into(),
        shipment_time: now() + Duration::days(1),
        recorded_time: now() + Duration::days(1),
        lines: vec![ShipmentLine {
            product_id: product,
            quantity,
            value: usd(value),
        }],
        transaction: crate::policy::TransactionKind::Export,
        test_report: None,
    }
}

fn deplete(l: &mut Licence, s: &ShipmentSpec) {
    *l = l.after_shipment(s);
}

#[test]
fn an_issued_licence_grants_value_and_tolerance() {
    let p = Uuid::now_v7();
    let l = licence(p);
    assert_eq!(l.lines[0].granted_value.minor_units, 1_000_000);
    assert_eq!(l.lines[0].value_tolerance_minor, 250_000);
    assert_eq!(
        l.valid_until,
        Utc.with_ymd_and_hms(2029, 9, 1, 9, 0, 0).unwrap()
    );
}

#[test]
fn sixty_then_forty_exhausts_and_one_more_is_refused_by_quantity() {
    let p = Uuid::now_v7();
    let mut l = licence(p);
    for (q, v) in [(60, 600_000), (40, 400_000)] {
        let s = shipment(p, q, v);
        assert!(l.coverage(&s).is_empty());
        deplete(&mut l, &s);
    }
    assert!(l.is_exhausted());
    let reasons = l.coverage(&shipment(p, 1, 1));
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].reason(), "QUANTITY_EXCEEDED");
}

#[test]
fn lines_for_one_product_draw_on_its_licence_line_together() {
    let p = Uuid::now_v7();
    let l = licence(p);
    let mut twice = shipment(p, 60, 600_000);
    twice.lines.push(twice.lines[0].clone());
    // Each line alone fits the 100 remaining; together they ask for 120.
    let reasons = l.coverage(&twice);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(
        reasons[0],
        NotCovered::QuantityExceeded {
            product_id: p,
            requested: 120,
            remaining: 100
        }
    );
    let mut fits = shipment(p, 30, 300_000);
    fits.lines.push(fits.lines[0].clone());
    assert!(l.coverage(&fits).is_empty());
    assert_eq!(
        l.drawdowns(&fits),
        [Drawdown {
            line_index: 0,
            product_id: p,
            quantity: 60,
            value_minor: 600_000
        }]
    );
    assert_eq!(l.after_shipment(&fits).lines[0].remaining_quantity, 40);
}

#[test]
fn the_end_user_is_recognised_by_name_in_any_case_and_country() {
    let p = Uuid::now_v7();
    let l = licence(p);
    let mut s = shipment(p, 1, 1);
    s.end_user_name = "  EXAMPLE Cloud LTD ".into();
    assert!(l.coverage(&s).is_empty());
    assert_eq!(l.end_user_key(), Some(s.end_user_key()));
    s.end_user_country = CountryCode::parse("c", "HK").unwrap();
    assert_eq!(l.coverage(&s)[0].reason(), "END_USER_MISMATCH");
}

#[test]
fn value_may_exceed_the_grant_by_the_tolerance_only() {
    let p = Uuid::now_v7();
    let mut l = licence(p);
    let first = shipment(p, 50, 1_200_000);
    assert!(l.coverage(&first).is_empty());
    deplete(&mut l, &first);
    let reasons = l.coverage(&shipment(p, 10, 100_000));
    assert_eq!(reasons.len(), 1);
    assert_eq!(
        reasons[0],
        NotCovered::ValueExceeded {
            product_id: p,
            currency: CurrencyCode::parse("c", "USD").unwrap(),
            requested: 100_000,
            total: 1_300_000,
            ceiling: 1_250_000,
        }
    );
    assert!(
        reasons[0]
            .describe()
            .contains("USD 13,000.00, above the USD 12,500.00 allowed"),
        "{}",
        reasons[0].describe()
    );
}

#[test]
fn every_reason_is_listed_at_once() {
    let p = Uuid::now_v7();
    let mut l = licence(p);
    l.state = LicenceState::Suspended;
    let mut s = shipment(Uuid::now_v7(), 1, 1);
    s.destination = CountryCode::parse("c", "DE").unwrap();
    s.end_user_name = "Someone Else".into();
    s.shipment_time = now() + Duration::days(365 * 5);
    let reasons: Vec<&str> = l.coverage(&s).iter().map(NotCovered::reason).collect();
    assert_eq!(
        reasons,
        [
            "LICENCE_NOT_ACTIVE",
            "OUTSIDE_VALIDITY",
            "DESTINATION_MISMATCH",
            "END_USER_MISMATCH",
            "PRODUCT_NOT_LICENSED"
        ]
    );
}

#[test]
fn only_senior_actions_of_the_diagram_change_a_licence() {
    assert_eq!(
        licence_transition(LicenceState::Active, LicenceAction::Suspend).unwrap(),
        LicenceState::Suspended
    );
    assert_eq!(
        licence_transition(LicenceState::Suspended, LicenceAction::Reinstate).unwrap(),
        LicenceState::Active
    );
    assert!(licence_transition(LicenceState::Revoked, LicenceAction::Reinstate).is_err());
    assert!(licence_transition(LicenceState::Expired, LicenceAction::Suspend).is_err());
}

#[test]
fn the_cover_rule_uses_a_named_licence_else_nlr_else_the_first_covering() {
    let required = crate::policy::Determination {
        at: now(),
        licence_required: true,
        review_policy: None,
        consulted: vec![],
        fired: vec![],
    };
    let free = crate::policy::Determination {
        licence_required: false,
        ..required.clone()
    };
    let id = Uuid::now_v7();
    assert_eq!(
        choose_cover(Some(id), std::slice::from_ref(&free)),
        Cover::Named(id)
    );
    assert_eq!(
        choose_cover(None, std::slice::from_ref(&free)),
        Cover::NoLicenceRequired
    );
    assert!(matches!(
        choose_cover(None, &[free, required]),
        Cover::FirstCovering { .. }
    ));
}

#[test]
fn a_line_balance_is_exact_only_when_remaining_is_granted_minus_shipped() {
    let exact = LineBalance {
        granted_quantity: 100,
        remaining_quantity: 40,
        shipped_quantity: 60,
        granted_value_minor: 1_000_000,
        // Value may run past the grant within the tolerance: remaining goes below zero.
        remaining_value_minor: -50_000,
        shipped_value_minor: 1_050_000,
    };
    assert_eq!(exact.discrepancy(), None);
    let edited = LineBalance {
        remaining_quantity: 41,
        ..exact.clone()
    };
    let said = edited.discrepancy().unwrap();
    assert!(
        said.contains("remaining quantity 41 but granted 100 − shipped 60"),
        "{said}"
    );
    let overflow = LineBalance {
        shipped_value_minor: i64::MIN,
        ..exact
    };
    assert!(overflow.discrepancy().unwrap().contains("remaining value"));
}

#[test]
fn an_amendment_keeps_what_has_shipped_counted() {
    let product = Uuid::now_v7();
    let mut l = licence(product);
    deplete(&mut l, &shipment(product, 60, 600_000));
    let amendment = LicenceAmendment {
        lines: vec![(0, 150, 1_500_000)],
        valid_until: Some(l.valid_until + Duration::days(365)),
        parties: None,
    };
    let next = l.amended(&amendment, now()).unwrap();
    let line = &next.lines[0];
    assert_eq!(
        (line.granted_quantity, line.remaining_quantity),
        (150, 90),
        "granted 150, 60 used, 90 remaining"
    );
    assert_eq!(line.remaining_value_minor, 900_000);
    assert_eq!(line.value_tolerance_minor, 375_000);
    assert_eq!(next.version, l.version + 1);
    assert_eq!(next.revision, 2);
    // The balance check agrees: remaining = granted − shipped.
    let balance = LineBalance {
        granted_quantity: line.granted_quantity,
        remaining_quantity: line.remaining_quantity,
        shipped_quantity: 60,
        granted_value_minor: line.granted_value.minor_units,
        remaining_value_minor: line.remaining_value_minor,
        shipped_value_minor: 600_000,
    };
    assert_eq!(balance.discrepancy(), None);

    let refused = l
        .amended(
            &LicenceAmendment {
                lines: vec![(0, 50, 500_000), (3, 10, 10)],
                valid_until: Some(l.valid_until - Duration::days(1)),
                parties: None,
            },
            now(),
        )
        .unwrap_err();
    let fields: Vec<String> = refused.iter().map(|v| v.field.clone()).collect();
    assert_eq!(
        fields,
        [
            "amendment.lines[0].quantity",
            "amendment.lines[1]",
            "amendment.valid_until"
        ]
    );
    assert!(
        l.amended(&LicenceAmendment::default(), now()).is_err(),
        "changes nothing"
    );
}

#[test]
fn an_amendment_request_mirrors_the_licence_and_asks_for_a_real_change() {
    use crate::amendment::{AmendedLineInput, AmendmentInput, request_amendment};
    let product = Uuid::now_v7();
    let mut l = licence(product);
    deplete(&mut l, &shipment(product, 60, 600_000));
    let original = ApplicationContent {
        end_use_statement: "Inference".into(),
        ..ApplicationContent::default()
    };
    let more = |quantity| AmendmentInput {
        lines: vec![AmendedLineInput {
            line_number: 1,
            quantity,
            unit_value: None,
        }],
        reasons: "A second data hall".into(),
        ..AmendmentInput::default()
    };
    let (content, request) = request_amendment(&l, &original, more(150), now()).unwrap();
    assert_eq!(request.licence_id, l.id);
    assert_eq!(content.lines.len(), 1);
    assert_eq!(
        (
            content.lines[0].quantity,
            content.lines[0].unit_value.minor_units
        ),
        (150, 10_000),
        "the new total at the licence's unit value"
    );
    assert_eq!(content.parties, l.parties);
    assert_eq!(content.end_use_statement, "Inference");

    let fields = |input: AmendmentInput| -> Vec<String> {
        match request_amendment(&l, &original, input, now()) {
            Err(DomainError::Invalid(v)) => v.iter().map(|v| v.field.clone()).collect(),
            other => panic!("expected violations, got {other:?}"),
        }
    };
    assert_eq!(
        fields(more(50)),
        ["lines[0].quantity"],
        "below the 60 shipped"
    );
    assert_eq!(fields(more(100)), ["lines"], "changes nothing");
    let mut elsewhere = more(150);
    elsewhere.lines[0].line_number = 2;
    elsewhere.reasons = " ".into();
    elsewhere.valid_until = Some(l.valid_until - Duration::days(1));
    elsewhere.consignee = Some(PartyInput {
        role: Some(PartyRole::EndUser),
        display_name: "Someone Else".into(),
        address: "2 Road".into(),
        country_code: "CN".into(),
        headquarters_country_code: "CN".into(),
    });
    assert_eq!(
        fields(elsewhere),
        [
            "reasons",
            "lines[0].line_number",
            "consignee.role",
            "valid_until"
        ]
    );
    let consignee = AmendmentInput {
        consignee: Some(PartyInput {
            role: Some(PartyRole::UltimateConsignee),
            display_name: "Example Logistics".into(),
            address: "3 Port Road".into(),
            country_code: "HK".into(),
            headquarters_country_code: "HK".into(),
        }),
        reasons: "New forwarder".into(),
        ..AmendmentInput::default()
    };
    let (content, _) = request_amendment(&l, &original, consignee.clone(), now()).unwrap();
    assert_eq!(content.parties.len(), 2);

    l.state = LicenceState::Suspended;
    assert!(matches!(
        request_amendment(&l, &original, consignee.clone(), now()),
        Err(DomainError::FailedPrecondition {
            reason: reason::LICENCE_NOT_ACTIVE,
            ..
        })
    ));
}

#[test]
fn an_exhausted_licence_given_more_is_active_again_and_a_revoked_one_is_not_amended() {
    let product = Uuid::now_v7();
    let mut l = licence(product);
    deplete(&mut l, &shipment(product, 100, 1_000_000));
    l.state = LicenceState::Exhausted;
    let more = LicenceAmendment {
        lines: vec![(0, 120, 1_200_000)],
        ..LicenceAmendment::default()
    };
    let next = l.amended(&more, now()).unwrap();
    assert_eq!(next.state, LicenceState::Active);
    assert_eq!(next.lines[0].remaining_quantity, 20);
    l.state = LicenceState::Revoked;
    assert!(l.amended(&more, now()).is_err());
}

#[test]
fn a_licence_past_its_end_is_expired_for_every_action_before_the_sweep_writes_it() {
    use crate::access::{Principal, Role};
    use crate::amendment::{AmendedLineInput, AmendmentInput, request_amendment};
    let product = Uuid::now_v7();
    let l = licence(product);
    assert_eq!(l.state, LicenceState::Active);
    let after_end = l.valid_until;
    let before_end = l.valid_until - Duration::seconds(1);
    assert_eq!(l.state_at(before_end), LicenceState::Active);
    assert_eq!(l.state_at(after_end), LicenceState::Expired);
    for stored in [LicenceState::Exhausted, LicenceState::Suspended] {
        let mut x = l.clone();
        x.state = stored;
        assert_eq!(x.state_at(after_end), LicenceState::Expired);
    }
    for stored in [LicenceState::Revoked, LicenceState::Surrendered] {
        let mut x = l.clone();
        x.state = stored;
        assert_eq!(x.state_at(after_end), stored, "a person's end stays");
    }

    let longer = LicenceAmendment {
        valid_until: Some(l.valid_until + Duration::days(365)),
        ..LicenceAmendment::default()
    };
    assert!(l.amended(&longer, before_end).is_ok());
    assert!(
        l.amended(&longer, after_end).is_err(),
        "no amending back to life"
    );

    let original = ApplicationContent {
        end_use_statement: "Inference".into(),
        ..ApplicationContent::default()
    };
    let ask = AmendmentInput {
        lines: vec![AmendedLineInput {
            line_number: 1,
            quantity: 150,
            unit_value: None,
        }],
        reasons: "More".into(),
        ..AmendmentInput::default()
    };
    assert!(request_amendment(&l, &original, ask.clone(), before_end).is_ok());
    assert!(matches!(
        request_amendment(&l, &original, ask, after_end),
        Err(DomainError::FailedPrecondition {
            reason: reason::LICENCE_NOT_ACTIVE,
            ..
        })
    ));

    let mut suspended = l.clone();
    suspended.state = LicenceState::Suspended;
    let senior = Principal {
        subject: "senior".into(),
        roles: vec![Role::SeniorReviewer],
        organisation: None,
        agency: None,
    };
    assert!(
        act_on_licence(
            &suspended,
            &senior,
            LicenceAction::Reinstate,
            "ok",
            before_end
        )
        .is_ok()
    );
    for (licence, action) in [
        (&suspended, LicenceAction::Reinstate),
        (&l, LicenceAction::Suspend),
    ] {
        assert!(
            matches!(
                act_on_licence(licence, &senior, action, "late", after_end),
                Err(DomainError::FailedPrecondition { .. })
            ),
            "{action:?} after the end"
        );
    }
}
