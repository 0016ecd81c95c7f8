//! Amendments: the holder of an ACTIVE licence asks for more quantity or value on a line, a
//! new consignee or a longer validity. The request becomes a draft application that mirrors
//! the licence (one line per licence line, in order) and is submitted and decided like any
//! other case; a countersigned approval revises the licence instead of issuing a new one.

use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::application::{
    ApplicationContent, LineInput, MoneyInput, PartyInput, PartyRole, parse_line, parse_party,
};
use crate::error::{DomainError, reason};
use crate::ids::Collection;
use crate::ledger::{Licence, LicenceAmendment, LicenceState};
use crate::validation::{Violations, required_text};
use crate::workflow::{Case, Proposal};

/// The longest validity a licence may reach by amendment, from its first day.
pub const MAX_VALIDITY_MONTHS: u32 = 120;

/// What marks an application as an amendment of a licence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmendmentRequest {
    pub licence_id: Uuid,
    pub reasons: String,
    /// The longer validity asked for, if any.
    pub valid_until: Option<DateTime<Utc>>,
}

/// One licence line to change: its new total quantity and, if it changes, its unit value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmendedLineInput {
    /// The licence line, counted from 1.
    pub line_number: i64,
    pub quantity: i64,
    pub unit_value: Option<MoneyInput>,
}

/// An amendment as the holder asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmendmentInput {
    pub lines: Vec<AmendedLineInput>,
    /// A new ultimate consignee (replacing the licence's) or another intermediate consignee.
    pub consignee: Option<PartyInput>,
    pub valid_until: Option<DateTime<Utc>>,
    pub reasons: String,
}

/// The draft an amendment request becomes: the licence's parties (with the new consignee) and
/// one line per licence line at the quantity and unit value asked for; the end use is the
/// original application's.
pub fn request_amendment(
    licence: &Licence,
    original: &ApplicationContent,
    input: AmendmentInput,
    now: DateTime<Utc>,
) -> Result<(ApplicationContent, AmendmentRequest), DomainError> {
    let mut v = Violations::new();
    let reasons = required_text(&mut v, "reasons", &input.reasons, 4000);
    let mut lines = Vec::with_capacity(licence.lines.len());
    let mut named = vec![false; licence.lines.len()];
    for (i, asked) in input.lines.iter().enumerate() {
        let index = usize::try_from(asked.line_number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .filter(|n| *n < licence.lines.len());
        let Some(index) = index else {
            v.add(
                format!("lines[{i}].line_number"),
                format!("the licence has lines 1 to {}", licence.lines.len()),
            );
            continue;
        };
        if std::mem::replace(&mut named[index], true) {
            v.add(format!("lines[{i}].line_number"), "names a line twice");
        }
    }
    for (index, line) in licence.lines.iter().enumerate() {
        let asked = input
            .lines
            .iter()
            .enumerate()
            .find(|(_, a)| usize::try_from(a.line_number).ok() == Some(index + 1));
        let current_unit = MoneyInput {
            currency_code: line.granted_value.currency.as_str().to_owned(),
            minor_units: line
                .granted_value
                .minor_units
                .checked_div(line.granted_quantity)
                .unwrap_or(0),
        };
        let (field, quantity, unit_value) = match asked {
            Some((i, a)) => (
                format!("lines[{i}]"),
                a.quantity,
                a.unit_value.clone().unwrap_or_else(|| current_unit.clone()),
            ),
            None => (
                format!("lines[{index}]"),
                line.granted_quantity,
                current_unit.clone(),
            ),
        };
        let shipped = line
            .granted_quantity
            .saturating_sub(line.remaining_quantity);
        if quantity < shipped {
            v.add(
                format!("{field}.quantity"),
                format!("must be at least the {shipped} already shipped"),
            );
        }
        if unit_value.currency_code != current_unit.currency_code {
            v.add(
                format!("{field}.unit_value.currency_code"),
                format!("the licence line is in {}", current_unit.currency_code),
            );
        }
        let parsed = parse_line(LineInput {
            product: Collection::Products.name_of(line.product_id),
            quantity,
            unit_value: Some(unit_value),
        });
        if let Some(parsed) = v.check(&field, parsed) {
            lines.push(parsed);
        }
    }
    let mut parties = licence.parties.clone();
    if let Some(consignee) = input.consignee {
        match consignee.role {
            Some(PartyRole::UltimateConsignee) => {
                parties.retain(|p| p.role != PartyRole::UltimateConsignee);
            }
            Some(PartyRole::IntermediateConsignee) => {}
            _ => v.add(
                "consignee.role",
                "must be ULTIMATE_CONSIGNEE or INTERMEDIATE_CONSIGNEE",
            ),
        }
        if let Some(party) = v.check("consignee", parse_party(consignee)) {
            parties.push(party);
        }
    }
    if let Some(until) = input.valid_until {
        let longest = licence
            .valid_from
            .checked_add_months(Months::new(MAX_VALIDITY_MONTHS));
        if until <= licence.valid_until {
            v.add(
                "valid_until",
                "an amendment may only lengthen validity; it must lie after the licence's end",
            );
        } else if longest.is_none_or(|l| until > l) {
            v.add(
                "valid_until",
                format!("a licence is valid for at most {MAX_VALIDITY_MONTHS} months"),
            );
        }
    }
    let lines_change = lines.iter().zip(&licence.lines).any(|(asked, line)| {
        asked.quantity != line.granted_quantity
            || Some(asked.unit_value.minor_units)
                != line
                    .granted_value
                    .minor_units
                    .checked_div(line.granted_quantity)
    });
    if v.is_empty() && !lines_change && parties == licence.parties && input.valid_until.is_none() {
        v.add(
            "lines",
            "the amendment changes nothing: ask for more quantity or value, a new consignee or a longer validity",
        );
    }
    if !v.is_empty() {
        return Err(v.into());
    }
    let state = licence.state_at(now);
    if state != LicenceState::Active {
        return Err(DomainError::FailedPrecondition {
            reason: reason::LICENCE_NOT_ACTIVE,
            message: format!(
                "only an ACTIVE licence can be amended; this one is {}",
                state.as_str()
            ),
        });
    }
    let content = ApplicationContent {
        destination: Some(licence.destination.clone()),
        transaction_kind: original.transaction_kind,
        parties,
        end_use_statement: original.end_use_statement.clone(),
        lines,
        documents: Vec::new(),
        // The licence's grant rests on what the original application certified.
        certifications: original.certifications.clone(),
    };
    Ok((
        content,
        AmendmentRequest {
            licence_id: licence.id,
            reasons,
            valid_until: input.valid_until,
        },
    ))
}

/// What a countersigned approval of an amendment case changes on its licence: each line's
/// grant at the approved quantity and the unit value asked for, the parties as amended and the
/// validity asked for.
pub fn approved_amendment(
    case: &Case,
    amendment: &AmendmentRequest,
    proposal: &Proposal,
) -> Result<LicenceAmendment, DomainError> {
    let mut lines = Vec::with_capacity(proposal.granted_quantities.len());
    for (index, (line, granted)) in case
        .application
        .content
        .lines
        .iter()
        .zip(&proposal.granted_quantities)
        .enumerate()
    {
        let value = line
            .unit_value
            .minor_units
            .checked_mul(*granted)
            .ok_or_else(|| {
                DomainError::invalid(
                    "granted_quantities",
                    "the granted value does not fit the ledger",
                )
            })?;
        lines.push((index, *granted, value));
    }
    Ok(LicenceAmendment {
        lines,
        valid_until: amendment.valid_until,
        parties: Some(case.application.content.parties.clone()),
    })
}
