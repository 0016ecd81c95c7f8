//! Licences and the ledger: issuance from an approved case, whether a licence covers a
//! shipment (with every reason it does not), and the depletion arithmetic the store enforces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::application::{Money, Party, PartyRole};
use crate::codes::{CountryCode, CurrencyCode};
use crate::error::{DomainError, reason};
use crate::ids::OrganisationId;
use crate::workflow::{Case, Decision, Proposal};

/// Lifecycle of a licence. EXPIRED and EXHAUSTED are set by the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LicenceState {
    Active,
    Suspended,
    Revoked,
    Expired,
    Exhausted,
    Surrendered,
}

impl LicenceState {
    pub const ALL: [LicenceState; 6] = [
        Self::Active,
        Self::Suspended,
        Self::Revoked,
        Self::Expired,
        Self::Exhausted,
        Self::Surrendered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Revoked => "REVOKED",
            Self::Expired => "EXPIRED",
            Self::Exhausted => "EXHAUSTED",
            Self::Surrendered => "SURRENDERED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// One licensed product with its grant and what remains of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenceLine {
    pub product_id: Uuid,
    pub granted_quantity: i64,
    pub granted_value: Money,
    pub remaining_quantity: i64,
    /// May fall below zero by at most `value_tolerance_minor`.
    pub remaining_value_minor: i64,
    /// How far value may exceed the grant (tolerance % of the granted value), in minor units.
    pub value_tolerance_minor: i64,
}

impl LicenceLine {
    /// The most value a shipment on this line may still carry.
    pub fn value_allowance_minor(&self) -> i64 {
        self.remaining_value_minor + self.value_tolerance_minor
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Licence {
    pub id: Uuid,
    /// e.g. `CLL-2025-000042`.
    pub number: String,
    pub holder: OrganisationId,
    pub application_id: Uuid,
    pub destination: CountryCode,
    pub parties: Vec<Party>,
    pub conditions: Vec<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub value_tolerance_percent: i64,
    pub lines: Vec<LicenceLine>,
    pub state: LicenceState,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// The human number of the `sequence`-th licence issued in `year`.
pub fn licence_number(year: i32, sequence: i64) -> String {
    format!("CLL-{year}-{sequence:06}")
}

/// Issues the licence a countersigned approval grants: lines at the granted quantities
/// (lines granted zero are left out), valid from `now` for the proposal's validity.
pub fn issue_licence(
    case: &Case,
    proposal: &Proposal,
    now: DateTime<Utc>,
) -> Result<Licence, DomainError> {
    let app = &case.application;
    let destination =
        app.content
            .destination
            .clone()
            .ok_or_else(|| DomainError::FailedPrecondition {
                reason: reason::INVALID_TRANSITION,
                message: "an approved application must have a destination".into(),
            })?;
    if proposal.decision != Decision::Approve {
        return Err(DomainError::FailedPrecondition {
            reason: reason::INVALID_TRANSITION,
            message: "only an approval issues a licence".into(),
        });
    }
    let valid_until = proposal
        .valid_until(now)
        .ok_or_else(|| DomainError::invalid("validity_months", "is too long"))?;
    let lines = app
        .content
        .lines
        .iter()
        .zip(&proposal.granted_quantities)
        .filter(|(_, granted)| **granted > 0)
        .map(|(line, granted)| {
            let value = line.unit_value.minor_units.saturating_mul(*granted);
            LicenceLine {
                product_id: line.product_id,
                granted_quantity: *granted,
                granted_value: Money {
                    currency: line.unit_value.currency.clone(),
                    minor_units: value,
                },
                remaining_quantity: *granted,
                remaining_value_minor: value,
                value_tolerance_minor: value.saturating_mul(proposal.value_tolerance_percent) / 100,
            }
        })
        .collect();
    Ok(Licence {
        id: Uuid::now_v7(),
        number: String::new(),
        holder: app.organisation.clone(),
        application_id: app.id,
        destination,
        parties: app.content.parties.clone(),
        conditions: proposal.conditions.clone(),
        valid_from: now,
        valid_until,
        value_tolerance_percent: proposal.value_tolerance_percent,
        lines,
        state: LicenceState::Active,
        version: 1,
        create_time: now,
        update_time: now,
    })
}

/// One line of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipmentLine {
    pub product_id: Uuid,
    pub quantity: i64,
    pub value: Money,
}

/// What an ERP system asks to ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipmentSpec {
    pub destination: CountryCode,
    pub end_user_name: String,
    pub end_user_country: CountryCode,
    pub end_user_headquarters: Option<CountryCode>,
    pub erp_reference: String,
    pub shipment_time: DateTime<Utc>,
    pub lines: Vec<ShipmentLine>,
}

/// Why a licence does not cover a shipment. Each has a stable reason clients switch on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum NotCovered {
    LicenceNotActive(LicenceState),
    OutsideValidity,
    DestinationMismatch,
    EndUserMismatch,
    ProductNotLicensed {
        product_id: Uuid,
    },
    CurrencyMismatch {
        product_id: Uuid,
    },
    QuantityExceeded {
        product_id: Uuid,
        requested: i64,
        remaining: i64,
    },
    ValueExceeded {
        product_id: Uuid,
        requested: i64,
        allowed: i64,
    },
}

impl NotCovered {
    pub fn reason(&self) -> &'static str {
        match self {
            NotCovered::LicenceNotActive(_) => reason::LICENCE_NOT_ACTIVE,
            NotCovered::OutsideValidity => reason::OUTSIDE_VALIDITY,
            NotCovered::DestinationMismatch => reason::DESTINATION_MISMATCH,
            NotCovered::EndUserMismatch => reason::END_USER_MISMATCH,
            NotCovered::ProductNotLicensed { .. } => reason::PRODUCT_NOT_LICENSED,
            NotCovered::CurrencyMismatch { .. } => reason::CURRENCY_MISMATCH,
            NotCovered::QuantityExceeded { .. } => reason::QUANTITY_EXCEEDED,
            NotCovered::ValueExceeded { .. } => reason::VALUE_EXCEEDED,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            NotCovered::LicenceNotActive(s) => format!("the licence is {}", s.as_str()),
            NotCovered::OutsideValidity => {
                "the shipment date is outside the licence's validity".into()
            }
            NotCovered::DestinationMismatch => "the destination differs from the licence's".into(),
            NotCovered::EndUserMismatch => "the end user differs from the licence's".into(),
            NotCovered::ProductNotLicensed { product_id } => {
                format!("products/{product_id} is not on the licence")
            }
            NotCovered::CurrencyMismatch { product_id } => {
                format!("products/{product_id} is valued in another currency than the licence")
            }
            NotCovered::QuantityExceeded {
                product_id,
                requested,
                remaining,
            } => format!(
                "quantity {requested} of products/{product_id} exceeds the {remaining} remaining"
            ),
            NotCovered::ValueExceeded {
                product_id,
                requested,
                allowed,
            } => format!(
                "value {requested} of products/{product_id} exceeds the {allowed} still allowed (remaining value plus tolerance)"
            ),
        }
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

impl Licence {
    pub fn end_user(&self) -> Option<&Party> {
        self.parties.iter().find(|p| p.role == PartyRole::EndUser)
    }

    pub fn line_of(&self, product_id: Uuid) -> Option<(usize, &LicenceLine)> {
        self.lines
            .iter()
            .enumerate()
            .find(|(_, l)| l.product_id == product_id)
    }

    /// Every reason the licence does not cover `shipment`; empty when it does.
    pub fn coverage(&self, shipment: &ShipmentSpec) -> Vec<NotCovered> {
        let mut reasons = Vec::new();
        if self.state != LicenceState::Active {
            reasons.push(NotCovered::LicenceNotActive(self.state));
        }
        if shipment.shipment_time < self.valid_from || shipment.shipment_time >= self.valid_until {
            reasons.push(NotCovered::OutsideValidity);
        }
        if shipment.destination != self.destination {
            reasons.push(NotCovered::DestinationMismatch);
        }
        let end_user_matches = self.end_user().is_some_and(|eu| {
            same_name(&eu.display_name, &shipment.end_user_name)
                && eu.country == shipment.end_user_country
        });
        if !end_user_matches {
            reasons.push(NotCovered::EndUserMismatch);
        }
        for line in &shipment.lines {
            match self.line_of(line.product_id) {
                None => reasons.push(NotCovered::ProductNotLicensed {
                    product_id: line.product_id,
                }),
                Some((_, licensed)) => {
                    if licensed.granted_value.currency != line.value.currency {
                        reasons.push(NotCovered::CurrencyMismatch {
                            product_id: line.product_id,
                        });
                    }
                    if line.quantity > licensed.remaining_quantity {
                        reasons.push(NotCovered::QuantityExceeded {
                            product_id: line.product_id,
                            requested: line.quantity,
                            remaining: licensed.remaining_quantity,
                        });
                    }
                    if line.value.minor_units > licensed.value_allowance_minor() {
                        reasons.push(NotCovered::ValueExceeded {
                            product_id: line.product_id,
                            requested: line.value.minor_units,
                            allowed: licensed.value_allowance_minor(),
                        });
                    }
                }
            }
        }
        reasons
    }

    /// Every line's quantity is used up.
    pub fn is_exhausted(&self) -> bool {
        self.lines.iter().all(|l| l.remaining_quantity == 0)
    }

    /// Whether `at` is past the end of validity.
    pub fn is_expired_at(&self, at: DateTime<Utc>) -> bool {
        at >= self.valid_until
    }
}

/// A regulator's action on a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenceAction {
    Suspend,
    Revoke,
    Reinstate,
}

impl LicenceAction {
    pub fn history_name(self) -> &'static str {
        match self {
            LicenceAction::Suspend => "licence.suspended",
            LicenceAction::Revoke => "licence.revoked",
            LicenceAction::Reinstate => "licence.reinstated",
        }
    }
}

/// Suspension, revocation and reinstatement: senior reviewers only, with a reason.
pub fn licence_transition(
    from: LicenceState,
    action: LicenceAction,
) -> Result<LicenceState, DomainError> {
    use LicenceState::*;
    let to = match (from, action) {
        (Active | Exhausted, LicenceAction::Suspend) => Some(Suspended),
        (Active | Suspended | Exhausted, LicenceAction::Revoke) => Some(Revoked),
        (Suspended, LicenceAction::Reinstate) => Some(Active),
        _ => None,
    };
    to.ok_or_else(|| DomainError::FailedPrecondition {
        reason: reason::INVALID_TRANSITION,
        message: format!(
            "{} is not allowed while the licence is {}",
            action.history_name(),
            from.as_str()
        ),
    })
}

/// A money amount in a currency, for shipments.
pub fn money(currency: CurrencyCode, minor_units: i64) -> Money {
    Money {
        currency,
        minor_units,
    }
}

#[cfg(test)]
mod tests;
