//! Licences and the ledger: issuance from an approved case, whether a licence covers a
//! shipment (with every reason it does not), and the depletion arithmetic the store enforces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::application::{Money, Party, PartyRole};
use crate::codes::{CountryCode, CurrencyCode};
use crate::error::{DomainError, reason};
use crate::ids::OrganisationId;
use crate::policy::{LicenceTerms, ShipmentCondition, TransactionKind};
use crate::validation::Violations;
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
        self.remaining_value_minor
            .saturating_add(self.value_tolerance_minor)
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
    /// The kind of transaction the licence was granted for; it covers no other.
    pub transaction_kind: TransactionKind,
    pub parties: Vec<Party>,
    pub conditions: Vec<String>,
    /// What the rules the grant rests on require of every shipment (a test report, a cap).
    pub terms: LicenceTerms,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub value_tolerance_percent: i64,
    pub lines: Vec<LicenceLine>,
    pub state: LicenceState,
    /// 1 when issued; each approved amendment issues the next revision.
    pub revision: i64,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// The human number of the `sequence`-th licence issued in `year`.
/// The prefix of licence numbers (`CLL-2026-000001`).
pub const NUMBER_PREFIX: &str = clearance_contract::references::LICENCE_PREFIX;

pub fn licence_number(year: i32, sequence: i64) -> String {
    format!("{NUMBER_PREFIX}-{year}-{sequence:06}")
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
            // Inputs are bounded so that these fit; checked all the same, never saturated.
            let value = line.unit_value.minor_units.checked_mul(*granted);
            let tolerance = value
                .and_then(|v| v.checked_mul(proposal.value_tolerance_percent))
                .map(|t| t / 100);
            let (Some(value), Some(tolerance)) = (value, tolerance) else {
                return Err(DomainError::invalid(
                    "granted_quantities",
                    "the granted value does not fit the ledger",
                ));
            };
            Ok(LicenceLine {
                product_id: line.product_id,
                granted_quantity: *granted,
                granted_value: Money {
                    currency: line.unit_value.currency.clone(),
                    minor_units: value,
                },
                remaining_quantity: *granted,
                remaining_value_minor: value,
                value_tolerance_minor: tolerance,
            })
        })
        .collect::<Result<Vec<_>, DomainError>>()?;
    Ok(Licence {
        id: Uuid::now_v7(),
        number: String::new(),
        holder: app.organisation.clone(),
        application_id: app.id,
        destination,
        transaction_kind: app.content.transaction_kind,
        parties: app.content.parties.clone(),
        conditions: proposal.conditions.clone(),
        terms: case
            .determinations
            .iter()
            .fold(LicenceTerms::default(), |acc, d| {
                acc.merge(&d.licence_terms())
            }),
        valid_from: now,
        valid_until,
        value_tolerance_percent: proposal.value_tolerance_percent,
        lines,
        state: LicenceState::Active,
        revision: 1,
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
    /// Who receives the goods when it is not the end user (a distributor or forwarder);
    /// screened like the end user.
    pub consignee: Option<ShipmentConsignee>,
    pub erp_reference: String,
    pub shipment_time: DateTime<Utc>,
    /// When the shipment is recorded (the server's clock, not the caller's).
    pub recorded_time: DateTime<Utc>,
    pub lines: Vec<ShipmentLine>,
    pub transaction: TransactionKind,
    /// The third-party testing laboratory's report on the items, when the ERP gives one.
    pub test_report: Option<TestReport>,
}

/// A report of a testing laboratory that verified the items' performance before export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub reference: String,
    pub laboratory: String,
    pub laboratory_country: CountryCode,
    pub tested_on: chrono::NaiveDate,
}

/// Raw test report as an ERP sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReportInput {
    pub reference: String,
    pub laboratory: String,
    pub laboratory_country_code: String,
    /// `YYYY-MM-DD`.
    pub tested_on: String,
}

/// What one shipment takes from one licence line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drawdown {
    pub line_index: usize,
    pub product_id: Uuid,
    pub quantity: i64,
    pub value_minor: i64,
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
    /// `total` is the value shipped with this shipment; `ceiling` the grant plus tolerance.
    ValueExceeded {
        product_id: Uuid,
        currency: CurrencyCode,
        requested: i64,
        total: i64,
        ceiling: i64,
    },
    TransactionMismatch {
        licensed: TransactionKind,
        requested: TransactionKind,
    },
    ShipmentConditionUnmet {
        condition: ShipmentCondition,
        why: String,
        citation: String,
    },
    /// Units under the holder's capped licences for the product would pass the cap.
    AggregateCapExceeded {
        product_id: Uuid,
        requested: i64,
        shipped: i64,
        us_units: i64,
        percent: i64,
        citation: String,
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
            NotCovered::TransactionMismatch { .. } => reason::TRANSACTION_MISMATCH,
            NotCovered::ShipmentConditionUnmet { .. } => reason::SHIPMENT_CONDITION_UNMET,
            NotCovered::AggregateCapExceeded { .. } => reason::AGGREGATE_CAP_EXCEEDED,
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
                currency,
                requested,
                total,
                ceiling,
            } => format!(
                "a value of {} for products/{product_id} brings the value shipped to {}, above the {} allowed (granted value plus tolerance)",
                currency.format(*requested),
                currency.format(*total),
                currency.format(*ceiling)
            ),
            NotCovered::TransactionMismatch {
                licensed,
                requested,
            } => format!(
                "the licence covers an {} only, not a {}",
                licensed.in_words(),
                requested.in_words()
            ),
            NotCovered::ShipmentConditionUnmet {
                condition,
                why,
                citation,
            } => format!(
                "condition {} of the licence is not met: {why}; every shipment needs {} ({citation})",
                condition.as_str(),
                condition.in_words()
            ),
            NotCovered::AggregateCapExceeded {
                product_id,
                requested,
                shipped,
                us_units,
                percent,
                citation,
            } => format!(
                "{requested} more units of products/{product_id} would bring the units shipped under the holder's capped licences to {}, above {percent}% of the {us_units} units reported shipped to US customers ({citation})",
                shipped.saturating_add(*requested)
            ),
        }
    }
}

/// The aggregate cap: `shipped + requested` units at most `percent` % of `us_units`, in exact
/// integer arithmetic.
pub fn within_aggregate_cap(percent: i64, us_units: i64, shipped: i64, requested: i64) -> bool {
    (i128::from(shipped) + i128::from(requested)) * 100
        <= i128::from(us_units) * i128::from(percent)
}

/// How an end user is recognised: the name without surrounding space, in any case, and the
/// country. A shipment goes to a licence's end user when their keys are equal.
pub fn end_user_key(name: &str, country: &CountryCode) -> String {
    format!("{}|{}", name.trim().to_lowercase(), country.as_str())
}

/// What a shipment asks of one product: its lines for that product summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductDemand {
    pub product_id: Uuid,
    pub quantity: i64,
    pub value_minor: i64,
}

impl ShipmentSpec {
    /// Why the shipment does not meet `condition`, if it does not.
    pub fn unmet(&self, condition: ShipmentCondition) -> Option<String> {
        match condition {
            ShipmentCondition::ThirdPartyTestReport => match &self.test_report {
                None => Some("the shipment carries no test_report".into()),
                Some(r) if r.laboratory_country.as_str() != "US" => Some(format!(
                    "the testing laboratory is in {}, not in the United States",
                    r.laboratory_country.as_str()
                )),
                Some(_) => None,
            },
        }
    }

    pub fn end_user_key(&self) -> String {
        end_user_key(&self.end_user_name, &self.end_user_country)
    }

    /// Per product, in order of first appearance, what the lines ask for together.
    pub fn demand(&self) -> Vec<ProductDemand> {
        let mut demand: Vec<ProductDemand> = Vec::new();
        for line in &self.lines {
            match demand.iter_mut().find(|d| d.product_id == line.product_id) {
                Some(d) => {
                    d.quantity = d.quantity.saturating_add(line.quantity);
                    d.value_minor = d.value_minor.saturating_add(line.value.minor_units);
                }
                None => demand.push(ProductDemand {
                    product_id: line.product_id,
                    quantity: line.quantity,
                    value_minor: line.value.minor_units,
                }),
            }
        }
        demand
    }
}

impl Licence {
    pub fn end_user(&self) -> Option<&Party> {
        self.parties.iter().find(|p| p.role == PartyRole::EndUser)
    }

    pub fn end_user_key(&self) -> Option<String> {
        self.end_user()
            .map(|eu| end_user_key(&eu.display_name, &eu.country))
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
        // An exhausted licence is refused by the quantities it no longer has.
        if !matches!(self.state, LicenceState::Active | LicenceState::Exhausted) {
            reasons.push(NotCovered::LicenceNotActive(self.state));
        }
        // Valid at the shipment's time, and not expired now, whether or not the expiry sweep
        // has caught up with it yet.
        if shipment.shipment_time < self.valid_from
            || shipment.shipment_time >= self.valid_until
            || shipment.recorded_time >= self.valid_until
        {
            reasons.push(NotCovered::OutsideValidity);
        }
        if shipment.destination != self.destination {
            reasons.push(NotCovered::DestinationMismatch);
        }
        if self.end_user_key() != Some(shipment.end_user_key()) {
            reasons.push(NotCovered::EndUserMismatch);
        }
        if shipment.transaction != self.transaction_kind {
            reasons.push(NotCovered::TransactionMismatch {
                licensed: self.transaction_kind,
                requested: shipment.transaction,
            });
        }
        for condition in &self.terms.shipment_conditions {
            if let Some(why) = shipment.unmet(*condition) {
                reasons.push(NotCovered::ShipmentConditionUnmet {
                    condition: *condition,
                    why,
                    citation: self.terms.citation.clone(),
                });
            }
        }
        for line in &shipment.lines {
            match self.line_of(line.product_id) {
                None => reasons.push(NotCovered::ProductNotLicensed {
                    product_id: line.product_id,
                }),
                Some((_, licensed)) if licensed.granted_value.currency != line.value.currency => {
                    reasons.push(NotCovered::CurrencyMismatch {
                        product_id: line.product_id,
                    });
                }
                Some(_) => {}
            }
        }
        // Lines for the same product draw on one licence line together.
        for draw in self.drawdowns(shipment) {
            let licensed = &self.lines[draw.line_index];
            if draw.quantity > licensed.remaining_quantity {
                reasons.push(NotCovered::QuantityExceeded {
                    product_id: draw.product_id,
                    requested: draw.quantity,
                    remaining: licensed.remaining_quantity,
                });
            }
            if draw.value_minor > licensed.value_allowance_minor() {
                // Bounded inputs keep these exact; saturation only guards old rows.
                let shipped = licensed
                    .granted_value
                    .minor_units
                    .saturating_sub(licensed.remaining_value_minor);
                reasons.push(NotCovered::ValueExceeded {
                    product_id: draw.product_id,
                    currency: licensed.granted_value.currency.clone(),
                    requested: draw.value_minor,
                    total: shipped.saturating_add(draw.value_minor),
                    ceiling: licensed
                        .granted_value
                        .minor_units
                        .saturating_add(licensed.value_tolerance_minor),
                });
            }
        }
        reasons
    }

    /// The licence's balances once `shipment` (which it covers) has drawn on them: what the
    /// store's guarded updates leave, so the exhaustion decision needs no re-read.
    pub fn after_shipment(&self, shipment: &ShipmentSpec) -> Licence {
        let mut after = self.clone();
        for draw in self.drawdowns(shipment) {
            let l = &mut after.lines[draw.line_index];
            l.remaining_quantity = l.remaining_quantity.saturating_sub(draw.quantity);
            l.remaining_value_minor = l.remaining_value_minor.saturating_sub(draw.value_minor);
        }
        after
    }

    /// What `shipment` draws from each licence line, in line order: its lines for the same
    /// product summed. Products not on the licence draw nothing (coverage refuses them).
    pub fn drawdowns(&self, shipment: &ShipmentSpec) -> Vec<Drawdown> {
        let mut draws: Vec<Drawdown> = shipment
            .demand()
            .into_iter()
            .filter_map(|d| {
                self.line_of(d.product_id).map(|(line_index, _)| Drawdown {
                    line_index,
                    product_id: d.product_id,
                    quantity: d.quantity,
                    value_minor: d.value_minor,
                })
            })
            .collect();
        draws.sort_by_key(|d| d.line_index);
        draws
    }

    /// Every line's quantity is used up.
    pub fn is_exhausted(&self) -> bool {
        self.lines.iter().all(|l| l.remaining_quantity == 0)
    }

    /// Whether `at` is past the end of validity.
    fn is_expired_at(&self, at: DateTime<Utc>) -> bool {
        at >= self.valid_until
    }

    /// The licence's state as time has it at `now`: past `valid_until` a licence that was
    /// still usable (ACTIVE, EXHAUSTED, SUSPENDED) is EXPIRED, whether or not the expiry sweep
    /// has written it yet. Every licence action judges this state, never the stored one.
    pub fn state_at(&self, now: DateTime<Utc>) -> LicenceState {
        match self.state {
            LicenceState::Active | LicenceState::Exhausted | LicenceState::Suspended
                if self.is_expired_at(now) =>
            {
                LicenceState::Expired
            }
            other => other,
        }
    }
}

/// The largest value one licence line may carry (the bound on application lines).
pub const MAX_LINE_VALUE_MINOR: i64 = 1_000_000_000_000_000;

/// What an approved amendment changes on a licence: a line's granted quantity and value, and
/// the end of validity. Lines not named keep their grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LicenceAmendment {
    /// (line index, new granted quantity, new granted value in the line's currency).
    pub lines: Vec<(usize, i64, i64)>,
    pub valid_until: Option<DateTime<Utc>>,
    /// The parties as amended (a new consignee), if they change.
    pub parties: Option<Vec<Party>>,
}

impl Licence {
    /// The next revision of this licence under `amendment`: what has shipped stays counted —
    /// each amended line's remaining balance is its new grant minus what it has drawn — so the
    /// ledger stays exact across the change. A grant below what has already shipped, a
    /// shorter validity or a line that does not exist is refused. This is the rule on one
    /// snapshot; a store applies the approved change relative to the row (remaining += new
    /// grant − old grant) under the line's guard, so shipments racing the approval are kept.
    pub fn amended(
        &self,
        amendment: &LicenceAmendment,
        now: DateTime<Utc>,
    ) -> Result<Licence, Violations> {
        let mut v = Violations::new();
        let mut next = self.clone();
        for (i, (line_index, quantity, value)) in amendment.lines.iter().enumerate() {
            let Some(line) = next.lines.get_mut(*line_index) else {
                v.add(
                    format!("amendment.lines[{i}]"),
                    format!("the licence has {} lines", self.lines.len()),
                );
                continue;
            };
            let shipped_quantity = line
                .granted_quantity
                .saturating_sub(line.remaining_quantity);
            let shipped_value = line
                .granted_value
                .minor_units
                .saturating_sub(line.remaining_value_minor);
            if *quantity < shipped_quantity.max(1) {
                v.add(
                    format!("amendment.lines[{i}].quantity"),
                    format!(
                        "must be at least the {shipped_quantity} already shipped (and at least 1)"
                    ),
                );
            }
            if !(0..=MAX_LINE_VALUE_MINOR).contains(value) {
                v.add(
                    format!("amendment.lines[{i}].value"),
                    format!("must lie between 0 and {MAX_LINE_VALUE_MINOR} minor units"),
                );
            }
            line.remaining_quantity = quantity.saturating_sub(shipped_quantity);
            line.remaining_value_minor = value.saturating_sub(shipped_value);
            line.granted_quantity = *quantity;
            line.granted_value.minor_units = *value;
            line.value_tolerance_minor = value.saturating_mul(self.value_tolerance_percent) / 100;
        }
        if let Some(until) = amendment.valid_until {
            if until <= self.valid_until {
                v.add(
                    "amendment.valid_until",
                    "an amendment may only lengthen validity",
                );
            }
            next.valid_until = until;
        }
        if let Some(parties) = &amendment.parties {
            next.parties = parties.clone();
        }
        if amendment.lines.is_empty()
            && amendment.valid_until.is_none()
            && amendment.parties.is_none()
        {
            v.add("amendment", "changes nothing");
        }
        // An exhausted licence given more to ship is active again; a suspended one stays so.
        // A licence whose validity has ended takes no amendment, swept or not.
        next.state = match self.state_at(now) {
            LicenceState::Exhausted if !next.is_exhausted() => LicenceState::Active,
            LicenceState::Active if next.is_exhausted() => LicenceState::Exhausted,
            LicenceState::Active | LicenceState::Exhausted | LicenceState::Suspended => self.state,
            other => {
                v.add(
                    "licence",
                    format!("a {} licence cannot be amended", other.as_str()),
                );
                other
            }
        };
        next.revision = self.revision.saturating_add(1);
        next.version = self.version.saturating_add(1);
        next.update_time = now;
        v.finish(|| next)
    }
}

/// A licence line's stored balance beside what its started shipments drew, for checking a
/// database (after a restore, say) against the ledger's rule: remaining = granted − shipped,
/// in quantity and in value. Cancelled shipments gave their draw back and do not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBalance {
    pub granted_quantity: i64,
    pub remaining_quantity: i64,
    pub shipped_quantity: i64,
    pub granted_value_minor: i64,
    pub remaining_value_minor: i64,
    pub shipped_value_minor: i64,
}

impl LineBalance {
    /// What does not add up, in words; `None` when the balance is exact.
    pub fn discrepancy(&self) -> Option<String> {
        let expected_quantity = self.granted_quantity.checked_sub(self.shipped_quantity);
        let expected_value = self
            .granted_value_minor
            .checked_sub(self.shipped_value_minor);
        let mut problems = Vec::new();
        if expected_quantity != Some(self.remaining_quantity) {
            problems.push(format!(
                "remaining quantity {} but granted {} − shipped {}",
                self.remaining_quantity, self.granted_quantity, self.shipped_quantity
            ));
        }
        if expected_value != Some(self.remaining_value_minor) {
            problems.push(format!(
                "remaining value {} but granted {} − shipped {} (minor units)",
                self.remaining_value_minor, self.granted_value_minor, self.shipped_value_minor
            ));
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipmentState {
    Started,
    Cancelled,
}

impl ShipmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentState::Started => "STARTED",
            ShipmentState::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Started, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A started (or cancelled) shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shipment {
    pub id: Uuid,
    pub organisation: OrganisationId,
    /// The licence it depleted; `None` when no licence was required (NLR).
    pub licence_id: Option<Uuid>,
    pub state: ShipmentState,
    pub no_licence_required: bool,
    /// The determinations consulted at start, one per line.
    pub determinations: Vec<crate::policy::Determination>,
    pub spec: ShipmentSpec,
    pub cancel_time: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub create_time: DateTime<Utc>,
}

/// The end user a shipment goes to, and its consignee when there is one, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentEndUser {
    pub display_name: String,
    pub country: CountryCode,
    pub headquarters_country: Option<CountryCode>,
    /// Absent in shipments recorded before consignees were asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consignee: Option<ShipmentConsignee>,
}

/// The party a shipment is delivered to on the end user's behalf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentConsignee {
    pub display_name: String,
    pub country: CountryCode,
}

/// What `ListShipments` may filter on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipmentFilter {
    pub licence: Option<Uuid>,
    pub state: Option<ShipmentState>,
    /// Shipments leaving on this UTC date.
    pub shipment_date: Option<chrono::NaiveDate>,
    /// The ERP system's own reference for the shipment.
    pub erp_reference: Option<String>,
}

impl ShipmentFilter {
    pub const FIELDS: [&'static str; 4] = ["licence", "state", "shipment_date", "erp_reference"];

    pub fn parse(raw: &str) -> Result<Self, crate::Violations> {
        let mut filter = ShipmentFilter::default();
        for c in crate::filter::parse_filter(raw, &Self::FIELDS)? {
            match c.field.as_str() {
                "licence" => {
                    filter.licence =
                        Some(crate::ids::Collection::Licences.parse_name("filter", &c.value)?);
                }
                "erp_reference" => filter.erp_reference = Some(c.value.clone()),
                "shipment_date" => {
                    let date = chrono::NaiveDate::parse_from_str(&c.value, "%Y-%m-%d")
                        .ok()
                        .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)))
                        .ok_or_else(|| {
                            crate::Violations::single(
                                "filter",
                                format!(
                                    "'{}' is not a date like 2025-05-01",
                                    crate::validation::quote(&c.value)
                                ),
                            )
                        })?;
                    filter.shipment_date = Some(date);
                }
                _ => {
                    let name = c.value.strip_prefix("SHIPMENT_STATE_").unwrap_or(&c.value);
                    filter.state = Some(ShipmentState::parse(name).ok_or_else(|| {
                        crate::Violations::single(
                            "filter",
                            format!(
                                "'{}' is not a shipment state",
                                crate::validation::quote(&c.value)
                            ),
                        )
                    })?);
                }
            }
        }
        Ok(filter)
    }
}

/// What `ListLicences` may filter on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LicenceFilter {
    pub state: Option<LicenceState>,
    /// The holder (regulators only; an exporter sees its own).
    pub organisation: Option<OrganisationId>,
    pub application: Option<Uuid>,
    /// Valid until before the start of this day (UTC).
    pub expiring_before: Option<chrono::NaiveDate>,
    /// The licence number, e.g. `CLL-2026-000001`.
    pub number: Option<String>,
}

impl LicenceFilter {
    /// An exporter's filter over its own licences.
    pub fn parse(raw: &str) -> Result<Self, crate::Violations> {
        Self::parse_fields(raw, &["state", "application", "expiring_before", "number"])
    }

    /// A regulator's filter over every holder's licences.
    pub fn parse_for_regulator(raw: &str) -> Result<Self, crate::Violations> {
        Self::parse_fields(
            raw,
            &[
                "state",
                "organisation",
                "application",
                "expiring_before",
                "number",
            ],
        )
    }

    fn parse_fields(raw: &str, allowed: &[&str]) -> Result<Self, crate::Violations> {
        let mut filter = LicenceFilter::default();
        let refuse = |what: &str, value: &str| {
            crate::Violations::single(
                "filter",
                format!("'{}' is not {what}", crate::validation::quote(value)),
            )
        };
        for c in crate::filter::parse_filter(raw, allowed)? {
            match c.field.as_str() {
                "state" => {
                    let name = c.value.strip_prefix("LICENCE_STATE_").unwrap_or(&c.value);
                    filter.state = Some(
                        LicenceState::parse(name)
                            .ok_or_else(|| refuse("a licence state", &c.value))?,
                    );
                }
                "organisation" => {
                    let name = c.value.strip_prefix("organisations/").unwrap_or(&c.value);
                    filter.organisation = Some(
                        OrganisationId::parse(name)
                            .map_err(|_| refuse("an organisation", &c.value))?,
                    );
                }
                "number" => {
                    filter.number = Some(crate::ids::parse_reference(
                        "filter",
                        NUMBER_PREFIX,
                        &c.value,
                    )?);
                }
                "application" => {
                    filter.application = Some(
                        crate::ids::Collection::Applications
                            .parse_name("filter", &c.value)
                            .map_err(|_| {
                                refuse("an application name (applications/{id})", &c.value)
                            })?,
                    );
                }
                _ => {
                    filter.expiring_before = Some(
                        chrono::NaiveDate::parse_from_str(&c.value, "%Y-%m-%d")
                            .map_err(|_| refuse("a date (YYYY-MM-DD)", &c.value))?,
                    );
                }
            }
        }
        Ok(filter)
    }
}

/// A regulator's action on a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenceAction {
    Suspend,
    Revoke,
    Reinstate,
    /// The holder gives the licence up: nothing more ships under it.
    Surrender,
}

impl LicenceAction {
    /// The action's verb, for refusals.
    pub fn verb(self) -> &'static str {
        match self {
            LicenceAction::Suspend => "suspend",
            LicenceAction::Revoke => "revoke",
            LicenceAction::Reinstate => "reinstate",
            LicenceAction::Surrender => "surrender",
        }
    }

    pub fn history_name(self) -> &'static str {
        match self {
            LicenceAction::Suspend => "licence.suspended",
            LicenceAction::Revoke => "licence.revoked",
            LicenceAction::Reinstate => "licence.reinstated",
            LicenceAction::Surrender => "licence.surrendered",
        }
    }
}

/// Suspension, revocation and reinstatement (senior reviewers) and surrender (the holder),
/// each with a reason.
pub fn licence_transition(
    from: LicenceState,
    action: LicenceAction,
) -> Result<LicenceState, DomainError> {
    use LicenceState::*;
    let to = match (from, action) {
        (Active | Exhausted, LicenceAction::Suspend) => Some(Suspended),
        (Active | Suspended | Exhausted, LicenceAction::Revoke) => Some(Revoked),
        (Suspended, LicenceAction::Reinstate) => Some(Active),
        // A suspended licence is the regulator's to resolve; a holder may give up one it
        // could still use or has used up.
        (Active | Exhausted, LicenceAction::Surrender) => Some(Surrendered),
        _ => None,
    };
    to.ok_or_else(|| DomainError::FailedPrecondition {
        reason: reason::INVALID_TRANSITION,
        message: format!(
            "cannot {} a licence that is {}",
            action.verb(),
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

/// Raw shipment fields as they arrive from an ERP system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipmentInput {
    pub destination_country_code: String,
    pub end_user: Option<crate::application::PartyInput>,
    pub consignee: Option<crate::application::PartyInput>,
    pub erp_reference: String,
    pub lines: Vec<ShipmentLineInput>,
    pub shipment_time: Option<DateTime<Utc>>,
    /// Empty: an export from the United States.
    pub transaction_kind: String,
    pub test_report: Option<TestReportInput>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipmentLineInput {
    pub product: String,
    pub quantity: i64,
    pub value: Option<crate::application::MoneyInput>,
}

pub const MAX_SHIPMENT_LINES: usize = 100;
/// The longest reason a cancellation may give.
pub const MAX_CANCEL_REASON_CHARS: usize = 4_000;

/// How far a shipment's time may lie from the moment it is recorded. Time is not the caller's
/// to choose: an ERP may record a shipment that left a little while ago, or is about to, but
/// cannot date one into another rule regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipmentWindow {
    pub back: chrono::Duration,
    pub ahead: chrono::Duration,
}

impl Default for ShipmentWindow {
    fn default() -> Self {
        ShipmentWindow {
            back: chrono::Duration::hours(72),
            ahead: chrono::Duration::hours(1),
        }
    }
}

impl ShipmentWindow {
    /// Refuses a shipment time outside the window around `now`.
    pub fn check(
        &self,
        field: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), crate::Violations> {
        if at < now - self.back || at > now + self.ahead {
            return Err(crate::Violations::single(
                field,
                format!(
                    "must lie between {} hours before and {} hours after now; record shipments as they happen",
                    self.back.num_hours(),
                    self.ahead.num_hours()
                ),
            ));
        }
        Ok(())
    }
}

/// Validates a shipment; violations are named relative to the shipment. The time defaults
/// to `now` and must lie in `window` around it; the end user's headquarters is required,
/// since rules may turn on it.
pub fn parse_shipment(
    input: ShipmentInput,
    now: DateTime<Utc>,
    window: &ShipmentWindow,
) -> Result<ShipmentSpec, crate::Violations> {
    use crate::validation::{integer_in_range, optional_text, required_text};
    let mut v = crate::Violations::new();
    let destination = v.check(
        "",
        CountryCode::parse("destination_country_code", &input.destination_country_code),
    );
    let erp_reference = optional_text(&mut v, "erp_reference", &input.erp_reference, 200);
    let (end_user_name, end_user_country, end_user_headquarters) = match &input.end_user {
        None => {
            v.add("end_user", "is required");
            (String::new(), None, None)
        }
        Some(p) => (
            required_text(&mut v, "end_user.display_name", &p.display_name, 200),
            v.check(
                "end_user",
                CountryCode::parse("country_code", &p.country_code),
            ),
            v.check(
                "end_user",
                CountryCode::parse("headquarters_country_code", &p.headquarters_country_code),
            ),
        ),
    };
    let consignee = input.consignee.as_ref().and_then(|p| {
        let display_name = required_text(&mut v, "consignee.display_name", &p.display_name, 200);
        v.check(
            "consignee",
            CountryCode::parse("country_code", &p.country_code),
        )
        .map(|country| ShipmentConsignee {
            display_name,
            country,
        })
    });
    let shipment_time = input.shipment_time.unwrap_or(now);
    v.check("", window.check("shipment_time", shipment_time, now));
    if input.lines.is_empty() {
        v.add("lines", "at least one line is required");
    }
    if input.lines.len() > MAX_SHIPMENT_LINES {
        v.add(
            "lines",
            format!("must have at most {MAX_SHIPMENT_LINES} entries"),
        );
    }
    let mut lines: Vec<ShipmentLine> = Vec::new();
    for (i, l) in input.lines.iter().enumerate().take(MAX_SHIPMENT_LINES) {
        let field = format!("lines[{i}]");
        let product = v.check(
            "",
            crate::ids::Collection::Products.parse_name(&format!("{field}.product"), &l.product),
        );
        if l.quantity <= 0 {
            v.add(format!("{field}.quantity"), "must be at least 1");
        } else {
            integer_in_range(
                &mut v,
                &format!("{field}.quantity"),
                l.quantity,
                1,
                crate::application::MAX_QUANTITY,
            );
        }
        let value = match &l.value {
            None => {
                v.add(format!("{field}.value"), "is required");
                None
            }
            Some(m) => {
                integer_in_range(
                    &mut v,
                    &format!("{field}.value.minor_units"),
                    m.minor_units,
                    0,
                    crate::application::MAX_LINE_VALUE_MINOR,
                );
                v.check(
                    &format!("{field}.value"),
                    CurrencyCode::parse("currency_code", &m.currency_code),
                )
                .map(|c| money(c, m.minor_units))
            }
        };
        if let Some(product_id) = product {
            if let Some(first) = lines.iter().position(|x| x.product_id == product_id) {
                v.add(
                    format!("{field}.product"),
                    format!("is already on lines[{first}]"),
                );
            }
            if let Some(value) = value {
                lines.push(ShipmentLine {
                    product_id,
                    quantity: l.quantity,
                    value,
                });
            }
        }
    }
    let transaction = v
        .check(
            "",
            TransactionKind::parse_input("transaction_kind", &input.transaction_kind),
        )
        .unwrap_or_default();
    let test_report = input.test_report.as_ref().and_then(|r| {
        v.check(
            "test_report",
            parse_test_report(r, shipment_time.date_naive()),
        )
    });
    match (destination, end_user_country) {
        (Some(destination), Some(end_user_country)) if v.is_empty() => Ok(ShipmentSpec {
            destination,
            end_user_name,
            end_user_country,
            end_user_headquarters,
            consignee,
            erp_reference,
            shipment_time,
            recorded_time: now,
            lines,
            transaction,
            test_report,
        }),
        _ => Err(v),
    }
}

/// A test report: reference and laboratory named, the laboratory's country, and a test on or
/// before the day of the shipment (the rule asks for testing before export).
fn parse_test_report(
    r: &TestReportInput,
    shipment_day: chrono::NaiveDate,
) -> Result<TestReport, crate::Violations> {
    use crate::validation::required_text;
    let mut v = crate::Violations::new();
    let reference = required_text(&mut v, "reference", &r.reference, 200);
    let laboratory = required_text(&mut v, "laboratory", &r.laboratory, 200);
    let country = v.check(
        "",
        CountryCode::parse("laboratory_country_code", &r.laboratory_country_code),
    );
    let tested_on = match chrono::NaiveDate::parse_from_str(r.tested_on.trim(), "%Y-%m-%d") {
        Ok(d) if d > shipment_day => {
            v.add("tested_on", "must be on or before the day of the shipment");
            None
        }
        Ok(d) if chrono::Datelike::year(&d) < 1970 => {
            v.add("tested_on", "must be after 1970");
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            v.add(
                "tested_on",
                format!(
                    "'{}' is not a date (YYYY-MM-DD)",
                    crate::validation::quote(&r.tested_on)
                ),
            );
            None
        }
    };
    match (country, tested_on) {
        (Some(laboratory_country), Some(tested_on)) if v.is_empty() => Ok(TestReport {
            reference,
            laboratory,
            laboratory_country,
            tested_on,
        }),
        _ => Err(v),
    }
}

impl LicenceAction {
    /// Senior reviewers act on licences; the holder's compliance officer surrenders one.
    pub fn allowed_roles(self) -> &'static [crate::access::Role] {
        match self {
            LicenceAction::Surrender => &[crate::access::Role::Applicant],
            _ => &[crate::access::Role::SeniorReviewer],
        }
    }
}

/// A senior reviewer suspends, revokes or reinstates a licence, or its holder surrenders it,
/// giving a reason: the new state, the history action and the reason.
pub fn act_on_licence(
    licence: &Licence,
    principal: &crate::access::Principal,
    action: LicenceAction,
    reason_text: &str,
    now: DateTime<Utc>,
) -> Result<(LicenceState, &'static str, String), DomainError> {
    principal.require_any(
        action.allowed_roles(),
        &format!("{} a licence", action.verb()),
    )?;
    let mut v = crate::Violations::new();
    let reason_text = crate::validation::required_text(&mut v, "reason", reason_text, 4000);
    if !v.is_empty() {
        return Err(v.into());
    }
    let to = licence_transition(licence.state_at(now), action)?;
    Ok((to, action.history_name(), reason_text))
}

/// How a shipment is to be covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cover {
    /// The current rules need no licence: record it as NLR.
    NoLicenceRequired,
    /// This licence of the holder, as the ERP system named it.
    Named(Uuid),
    /// The covering licence of the holder that expires first; `required_because` explains the
    /// refusal when none covers.
    FirstCovering { required_because: String },
}

/// The cover rule: a named licence is used as named; otherwise a shipment the current rules
/// do not require a licence for is NLR, and one they do needs the first covering licence.
pub fn choose_cover(named: Option<Uuid>, determinations: &[crate::policy::Determination]) -> Cover {
    if let Some(id) = named {
        return Cover::Named(id);
    }
    if !determinations.iter().any(|d| d.licence_required) {
        return Cover::NoLicenceRequired;
    }
    let rules: Vec<String> = determinations
        .iter()
        .flat_map(|d| d.fired.iter().filter(|f| f.licence_required))
        .map(|f| {
            format!(
                "{} ({}, {} v{})",
                f.rule_id, f.citation, f.rule_set.key, f.rule_set.version
            )
        })
        .collect();
    Cover::FirstCovering {
        required_because: format!(
            "a licence is required and none of yours covers this shipment; required by {}",
            rules.join("; ")
        ),
    }
}

/// A holder's figure of units of a product shipped to US customers for US end use: what the
/// aggregate cap of the January 2026 rule is measured against (91 FR 1684). Every report is
/// kept; the latest is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsShipmentReport {
    pub id: Uuid,
    pub organisation: OrganisationId,
    pub product_id: Uuid,
    pub units: i64,
    pub reported_by: String,
    pub report_time: DateTime<Utc>,
}

/// Per holder and product: the US figure in force and the units shipped under licences that
/// carry an aggregate cap (cancelled shipments give theirs back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AggregatePosition {
    pub us_units: i64,
    pub capped_units: i64,
}

impl Licence {
    /// Why `requested` more units of `product_id` under this licence would pass the holder's
    /// aggregate cap at `position`; `None` when the licence has no cap or they fit.
    pub fn cap_refusal(
        &self,
        product_id: Uuid,
        requested: i64,
        position: AggregatePosition,
    ) -> Option<NotCovered> {
        let percent = self.terms.aggregate_cap_percent?;
        // Products the licence does not list are refused by coverage, not by the cap.
        self.line_of(product_id)?;
        if within_aggregate_cap(percent, position.us_units, position.capped_units, requested) {
            return None;
        }
        Some(NotCovered::AggregateCapExceeded {
            product_id,
            requested,
            shipped: position.capped_units,
            us_units: position.us_units,
            percent,
            citation: self.terms.citation.clone(),
        })
    }
}

/// Validates a reported figure of US units.
pub fn parse_us_units(field: &str, units: i64) -> Result<i64, crate::Violations> {
    let mut v = crate::Violations::new();
    crate::validation::integer_in_range(
        &mut v,
        field,
        units,
        0,
        crate::policy::conditions::MAX_FIGURE,
    );
    v.finish(|| units)
}
