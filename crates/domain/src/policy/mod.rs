//! Control rules as versioned data: criteria over technical parameters, destinations by
//! country and country group, rule-set versions with effective windows, and the licence
//! determination that explains itself.

pub mod catalogue;
pub mod conditions;
pub mod criterion;
pub mod determine;
pub mod groups;
pub mod rules;

pub use conditions::{
    Certification, ConditionCheck, ConditionStatus, LicenceTerms, RuleConditions, ShipmentCondition,
};
pub use criterion::{Criterion, Item};
pub use determine::{Determination, FiredRule, RuleSetRef, determine};
pub use groups::CountryGroups;
pub use rules::{
    CompiledRuleSet, DestinationsDefinition, ReviewPolicy, RuleDefinition, RuleSetDefinition,
    TransactionKind,
};
