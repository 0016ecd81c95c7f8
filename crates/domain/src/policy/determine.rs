//! The licence determination: which rules fire for an item, destination, end user and date.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::conditions::{Certification, ConditionCheck, LicenceTerms, judge};
use super::criterion::Item;
use super::groups::CountryGroups;
use super::rules::{PublishedRuleSet, ReviewPolicy, TransactionKind, in_force};
use crate::codes::CountryCode;

/// A rule-set version consulted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSetRef {
    pub id: Uuid,
    pub key: String,
    pub version: i64,
}

/// A rule that caught the item, with its citation and the part of its criterion that held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredRule {
    pub rule_set: RuleSetRef,
    pub rule_id: String,
    pub citation: String,
    pub licence_required: bool,
    /// The policy that governs: the rule's own, or its `otherwise` when a condition is not
    /// met.
    pub review_policy: Option<ReviewPolicy>,
    pub matched: String,
    /// The rule's description, e.g. why a reexport stays under a presumption of denial.
    #[serde(default)]
    pub description: String,
    /// Each of the rule's conditions, judged (met, not met, to certify, on the licence).
    #[serde(default)]
    pub conditions: Vec<ConditionCheck>,
    /// What a licence issued under the rule requires of shipments.
    #[serde(default)]
    pub terms: LicenceTerms,
}

/// The outcome and its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Determination {
    pub at: DateTime<Utc>,
    pub licence_required: bool,
    /// The strictest review policy among the rules that require a licence.
    pub review_policy: Option<ReviewPolicy>,
    pub consulted: Vec<RuleSetRef>,
    pub fired: Vec<FiredRule>,
}

impl Determination {
    /// What a licence granted on this determination carries: the terms of every fired rule
    /// that requires a licence.
    pub fn licence_terms(&self) -> LicenceTerms {
        self.fired
            .iter()
            .filter(|f| f.licence_required)
            .fold(LicenceTerms::default(), |acc, f| acc.merge(&f.terms))
    }

    /// Every condition judged, as `condition=STATUS`, sorted: what an impact analysis
    /// compares.
    fn condition_states(&self) -> Vec<String> {
        let mut states: Vec<String> = self
            .fired
            .iter()
            .flat_map(|f| f.conditions.iter())
            .map(|c| format!("{}={}", c.condition, c.status.as_str()))
            .collect();
        // A cap's share matters as much as its presence.
        if let Some(percent) = self.licence_terms().aggregate_cap_percent {
            states.push(format!("aggregate_cap_percent={percent}"));
        }
        states.sort();
        states.dedup();
        states
    }
}

/// What is being exported, where, to whom.
#[derive(Debug, Clone, Copy)]
pub struct Export<'a> {
    pub item: Item,
    pub classification: &'a str,
    pub destination: &'a CountryCode,
    pub end_user_headquarters: Option<&'a CountryCode>,
    pub transaction: TransactionKind,
    /// The certifications the request states; `None` for a what-if that states none either
    /// way (certifications a rule asks for are then listed as to be certified).
    pub certifications: Option<&'a [Certification]>,
}

/// Determines a shipment under the rules in force at its time and at the time it is recorded:
/// the stricter outcome wins, and the determination names the versions consulted and the rules
/// fired at both times. So a shipment dated just before a new restriction, recorded after it,
/// still needs the licence.
pub fn determine_shipment(
    export: &Export<'_>,
    shipment_time: DateTime<Utc>,
    recorded_time: DateTime<Utc>,
    published: &[PublishedRuleSet],
    groups: &CountryGroups,
) -> Determination {
    let mut at_shipment = determine(export, shipment_time, published, groups);
    if recorded_time == shipment_time {
        return at_shipment;
    }
    let at_recording = determine(export, recorded_time, published, groups);
    at_shipment.licence_required |= at_recording.licence_required;
    at_shipment.review_policy =
        ReviewPolicy::strictest(at_shipment.review_policy, at_recording.review_policy);
    for version in at_recording.consulted {
        if !at_shipment.consulted.contains(&version) {
            at_shipment.consulted.push(version);
        }
    }
    for rule in at_recording.fired {
        let known = at_shipment
            .fired
            .iter()
            .any(|f| f.rule_set == rule.rule_set && f.rule_id == rule.rule_id);
        if !known {
            at_shipment.fired.push(rule);
        }
    }
    at_shipment
}

/// Determines, under the rule-set versions in force at `at`, whether `export` needs a licence,
/// and names every rule that fired.
pub fn determine(
    export: &Export<'_>,
    at: DateTime<Utc>,
    published: &[PublishedRuleSet],
    groups: &CountryGroups,
) -> Determination {
    let mut determination = Determination {
        at,
        licence_required: false,
        review_policy: None,
        consulted: Vec::new(),
        fired: Vec::new(),
    };
    for version in in_force(published, at) {
        let rule_set = RuleSetRef {
            id: version.id,
            key: version.key().to_owned(),
            version: version.version,
        };
        for rule in &version.rule_set.rules {
            if rule.applies(
                &export.item,
                export.classification,
                export.destination,
                export.end_user_headquarters,
                export.transaction,
                groups,
            ) {
                let d = &rule.definition;
                let judged = judge(
                    &d.conditions,
                    d.review_policy,
                    &d.citation,
                    export.item.us_available_since,
                    export.certifications,
                );
                if d.licence_required {
                    determination.licence_required = true;
                    determination.review_policy =
                        ReviewPolicy::strictest(determination.review_policy, judged.policy);
                }
                determination.fired.push(FiredRule {
                    rule_set: rule_set.clone(),
                    rule_id: d.id.clone(),
                    citation: d.citation.clone(),
                    licence_required: d.licence_required,
                    review_policy: judged.policy,
                    matched: rule.criterion.explain(&export.item),
                    description: d.description.clone(),
                    conditions: judged.checks,
                    terms: judged.terms,
                });
            }
        }
        determination.consulted.push(rule_set);
    }
    determination
}

/// How a determination changes between two rule states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Impact {
    NowRequiresLicence,
    NoLongerRequiresLicence,
    ReviewPolicyChanged,
    /// Same policy, but conditions changed (a certification asked for, a shipment condition
    /// or cap on the licence).
    ConditionsChanged,
}

impl Impact {
    pub fn between(before: &Determination, after: &Determination) -> Option<Impact> {
        match (before.licence_required, after.licence_required) {
            (false, true) => Some(Impact::NowRequiresLicence),
            (true, false) => Some(Impact::NoLongerRequiresLicence),
            (true, true) if before.review_policy != after.review_policy => {
                Some(Impact::ReviewPolicyChanged)
            }
            (true, true) if before.condition_states() != after.condition_states() => {
                Some(Impact::ConditionsChanged)
            }
            _ => None,
        }
    }

    /// The change in words, with before and after: "review policy: presumption of denial →
    /// case by case", "now requires a licence (case by case)".
    pub fn summarise(self, before: &Determination, after: &Determination) -> String {
        let policy = |d: &Determination| d.review_policy.map_or("no policy", |p| p.in_words());
        match self {
            Impact::NowRequiresLicence => {
                format!("now requires a licence ({})", policy(after))
            }
            Impact::NoLongerRequiresLicence => {
                format!("no longer requires a licence (was {})", policy(before))
            }
            Impact::ReviewPolicyChanged => {
                format!("review policy: {} → {}", policy(before), policy(after))
            }
            Impact::ConditionsChanged => {
                let (was, now) = (before.condition_states(), after.condition_states());
                let added: Vec<&str> = now
                    .iter()
                    .filter(|c| !was.contains(c))
                    .map(String::as_str)
                    .collect();
                let removed: Vec<&str> = was
                    .iter()
                    .filter(|c| !now.contains(c))
                    .map(String::as_str)
                    .collect();
                format!(
                    "conditions ({}): now {}; before {}",
                    policy(after),
                    if added.is_empty() {
                        "-".to_owned()
                    } else {
                        added.join(", ")
                    },
                    if removed.is_empty() {
                        "-".to_owned()
                    } else {
                        removed.join(", ")
                    }
                )
            }
        }
    }
}

/// What a draft rule-set version would change, before it is published.
pub struct DraftComparison<'a> {
    published: &'a [PublishedRuleSet],
    with_draft: Vec<PublishedRuleSet>,
    /// When undecided records will be decided: now, or the draft's start if that is later.
    decided_at: DateTime<Utc>,
    groups: &'a CountryGroups,
}

impl<'a> DraftComparison<'a> {
    /// Compares `published` with `published` plus `draft` (as version `version`).
    pub fn new(
        published: &'a [PublishedRuleSet],
        draft: PublishedRuleSet,
        now: DateTime<Utc>,
        groups: &'a CountryGroups,
    ) -> Self {
        let decided_at = draft.effective_time().max(now);
        let mut with_draft = published.to_vec();
        with_draft.push(draft);
        DraftComparison {
            published,
            with_draft,
            decided_at,
            groups,
        }
    }

    /// How the draft changes the determination of `export`, with before and after. A shipment
    /// is judged at `shipped_at`; records still to be decided when they will be.
    pub fn compare(
        &self,
        export: &Export<'_>,
        shipped_at: Option<DateTime<Utc>>,
    ) -> Option<(Impact, Determination, Determination)> {
        let when = shipped_at.unwrap_or(self.decided_at);
        let before = determine(export, when, self.published, self.groups);
        let after = determine(export, when, &self.with_draft, self.groups);
        Impact::between(&before, &after).map(|impact| (impact, before, after))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::policy::catalogue;
    use crate::policy::rules::{PublishedRuleSet, RuleSetDefinition, next_version};
    use crate::product::TechnicalParameters;

    fn published() -> (Vec<PublishedRuleSet>, CountryGroups) {
        let groups = catalogue::country_groups().unwrap();
        let sets = catalogue::rule_sets(&groups)
            .unwrap()
            .into_iter()
            .map(|rule_set| PublishedRuleSet {
                id: Uuid::now_v7(),
                version: rule_set.definition.version.unwrap(),
                publish_time: Utc::now(),
                published_by: "test".into(),
                rule_set,
            })
            .collect();
        (sets, groups)
    }

    fn part(tpp: i64, die: i64, memory: i64, io: i64, datacenter: bool) -> Item {
        Item {
            parameters: TechnicalParameters {
                total_processing_performance: tpp,
                die_area_mm2: die,
                memory_bandwidth_gbps: memory,
                io_bandwidth_gbps: io,
            },
            datacenter,
            // Every part these tests name is sold in the United States.
            us_available_since: NaiveDate::from_ymd_opt(2024, 1, 1),
        }
    }

    fn on(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn check(item: Item, country: &str, at: DateTime<Utc>) -> Determination {
        let (sets, groups) = published();
        let destination = CountryCode::parse("c", country).unwrap();
        let export = Export {
            item,
            classification: "3A090.a",
            destination: &destination,
            end_user_headquarters: None,
            transaction: TransactionKind::Export,
            certifications: None,
        };
        determine(&export, at, &sets, &groups)
    }

    fn h800() -> Item {
        part(15_800, 814, 3_350, 400, true)
    }

    fn h20() -> Item {
        part(2_368, 814, 4_000, 900, true)
    }

    #[test]
    fn an_h800_to_china_in_2024_needs_a_licence_with_presumption_of_denial() {
        let d = check(h800(), "CN", on(2024, 1, 15));
        assert!(d.licence_required);
        assert_eq!(d.review_policy, Some(ReviewPolicy::PresumptionOfDenial));
        assert_eq!(d.fired.len(), 1);
        assert_eq!(d.fired[0].rule_id, "3A090.a-d5-macau");
        assert!(d.fired[0].citation.contains("3A090.a"));
        assert_eq!(d.consulted[0].version, 1);
        assert!(!check(h800(), "DE", on(2024, 1, 15)).licence_required);
    }

    #[test]
    fn a_shipment_across_a_rule_change_is_judged_by_the_stricter_rules() {
        let (sets, groups) = published();
        let destination = CountryCode::parse("c", "CN").unwrap();
        let export = Export {
            item: h20(),
            classification: "3A090.a",
            destination: &destination,
            end_user_headquarters: None,
            transaction: TransactionKind::Export,
            certifications: None,
        };
        let shipped = Utc.with_ymd_and_hms(2025, 4, 14, 20, 0, 0).unwrap();
        let recorded = Utc.with_ymd_and_hms(2025, 4, 15, 2, 0, 0).unwrap();
        assert!(!determine(&export, shipped, &sets, &groups).licence_required);
        let d = determine_shipment(&export, shipped, recorded, &sets, &groups);
        assert!(d.licence_required);
        assert_eq!(d.at, shipped);
        let versions: Vec<i64> = d.consulted.iter().map(|c| c.version).collect();
        assert_eq!(versions, [1, 2], "both regimes are recorded");
        // And the other way round: a restriction lifted after the shipment still applies.
        let lifted = determine_shipment(&export, recorded, shipped, &sets, &groups);
        assert!(lifted.licence_required);
    }

    #[test]
    fn the_h20_follows_the_2025_rule_changes() {
        assert!(!check(h20(), "CN", on(2025, 3, 1)).licence_required);
        let april = check(h20(), "CN", on(2025, 5, 1));
        assert!(april.licence_required);
        assert_eq!(april.consulted[0].version, 2);
        assert!(
            april.fired[0]
                .matched
                .starts_with("memory_bandwidth_gbps >= 1400")
        );
        let august = check(h20(), "CN", on(2025, 8, 1));
        assert!(august.licence_required);
        assert_eq!(august.review_policy, Some(ReviewPolicy::CaseByCase));
        assert_eq!(august.consulted[0].version, 3);
        assert!(check(h20(), "HK", on(2025, 5, 1)).licence_required);
        assert!(check(h20(), "MO", on(2025, 5, 1)).licence_required);
        assert!(!check(h20(), "DE", on(2025, 5, 1)).licence_required);
    }

    /// Real parts (datasheet figures, rounded): TPP, die area mm², memory and I/O bandwidth GB/s.
    fn h200() -> Item {
        part(15_832, 814, 4_800, 900, true)
    }

    fn b200() -> Item {
        part(36_000, 1_600, 8_000, 1_800, true)
    }

    fn l20() -> Item {
        part(1_912, 609, 864, 64, true)
    }

    /// A gaming part (not designed or marketed for datacenters) just under Note 2's TPP line.
    fn rtx_4090d() -> Item {
        part(4_708, 609, 1_008, 64, false)
    }

    /// Whether a licence is required, and under which review policy.
    type Outcome = (bool, Option<ReviewPolicy>);

    fn outcome(d: &Determination) -> Outcome {
        (d.licence_required, d.review_policy)
    }

    #[test]
    fn every_version_judges_real_parts_to_china_as_published() {
        use ReviewPolicy::{CaseByCase, PresumptionOfDenial};
        // Dates inside each version: October 2023, April 2025, July 2025, January 2026.
        let dates = [
            on(2024, 6, 1),
            on(2025, 5, 1),
            on(2025, 8, 1),
            on(2026, 2, 1),
        ];
        let denied = (true, Some(PresumptionOfDenial));
        let case = (true, Some(CaseByCase));
        let free = (false, None);
        let expected: [(&str, Item, [Outcome; 4]); 6] = [
            ("H800", h800(), [denied, denied, denied, case]),
            ("H20", h20(), [free, denied, case, case]),
            ("H200", h200(), [denied, denied, denied, case]),
            ("B200", b200(), [denied, denied, denied, denied]),
            ("L20", l20(), [free, free, free, free]),
            ("RTX 4090D", rtx_4090d(), [free, free, free, free]),
        ];
        for (name, item, outcomes) in expected {
            for (at, want) in dates.iter().zip(outcomes) {
                let d = check(item, "CN", *at);
                assert_eq!(outcome(&d), want, "{name} to CN at {at}: {:?}", d.fired);
            }
        }
        let january = check(h200(), "CN", on(2026, 2, 1));
        assert_eq!(january.consulted[0].version, 4);
        assert_eq!(january.fired[0].rule_id, "3A090.a-china-macau-h200-class");
        assert!(january.fired[0].citation.contains("91 FR 1684"));
        // The change is for China and Macau only: elsewhere in D:5 the denial stays.
        assert_eq!(outcome(&check(h200(), "MO", on(2026, 2, 1))), case);
        assert_eq!(outcome(&check(h200(), "IR", on(2026, 2, 1))), denied);
        // The day before and the day the January 2026 version took effect.
        assert_eq!(outcome(&check(h200(), "CN", on(2026, 1, 14))), denied);
        assert_eq!(outcome(&check(h200(), "CN", on(2026, 1, 15))), case);
    }

    /// The January 2026 case-by-case review applies to exports from the United States only:
    /// the same H200-class part reexported, exported from abroad or transferred within China
    /// keeps the presumption of denial, and the rule that fires says why (91 FR 1684).
    #[test]
    fn only_exports_from_the_united_states_get_the_january_2026_review() {
        let (sets, groups) = published();
        let china = CountryCode::parse("c", "CN").unwrap();
        let judged = |item: Item, transaction| {
            let export = Export {
                item,
                classification: "3A090.a",
                destination: &china,
                end_user_headquarters: None,
                transaction,
                certifications: None,
            };
            determine(&export, on(2026, 2, 1), &sets, &groups)
        };
        let exported = judged(h200(), TransactionKind::Export);
        assert_eq!(exported.review_policy, Some(ReviewPolicy::CaseByCase));
        for kind in [
            TransactionKind::Reexport,
            TransactionKind::ExportFromAbroad,
            TransactionKind::InCountryTransfer,
        ] {
            let d = judged(h200(), kind);
            assert!(d.licence_required, "{kind:?}");
            assert_eq!(
                d.review_policy,
                Some(ReviewPolicy::PresumptionOfDenial),
                "{kind:?}"
            );
            let why = d
                .fired
                .iter()
                .find(|f| f.review_policy == Some(ReviewPolicy::PresumptionOfDenial))
                .expect("the rule that denies");
            assert_eq!(why.rule_id, "3A090.a-china-macau-h200-class-not-from-us");
            assert!(why.citation.contains("91 FR 1684"), "{why:?}");
        }
        // Before the January 2026 rule, the kind changes nothing: a presumption of denial.
        let export = Export {
            item: h200(),
            classification: "3A090.a",
            destination: &china,
            end_user_headquarters: None,
            transaction: TransactionKind::Reexport,
            certifications: None,
        };
        let before = determine(&export, on(2025, 8, 1), &sets, &groups);
        assert_eq!(
            before.review_policy,
            Some(ReviewPolicy::PresumptionOfDenial)
        );
    }

    #[test]
    fn hong_kong_is_judged_as_china_at_every_date_from_2024() {
        let parts = [h800(), h20(), h200(), b200(), l20(), rtx_4090d()];
        let mut at = on(2024, 1, 1);
        while at < on(2026, 12, 31) {
            for item in &parts {
                let china = check(*item, "CN", at);
                let hong_kong = check(*item, "HK", at);
                assert_eq!(outcome(&hong_kong), outcome(&china), "{item:?} at {at}");
                let rules = |d: &Determination| -> Vec<String> {
                    d.fired.iter().map(|f| f.rule_id.clone()).collect()
                };
                assert_eq!(rules(&hong_kong), rules(&china), "{item:?} at {at}");
            }
            at += chrono::Duration::days(30);
        }
    }

    #[test]
    fn the_combined_bandwidth_test_catches_what_the_single_tests_miss() {
        let combined = check(part(1_000, 600, 1_000, 800, true), "CN", on(2025, 5, 1));
        assert!(combined.licence_required);
        assert_eq!(combined.fired.len(), 1);
        assert_eq!(
            combined.fired[0].matched,
            "memory_bandwidth_gbps + io_bandwidth_gbps >= 1700"
        );
        assert!(!check(part(1_000, 600, 1_000, 600, true), "CN", on(2025, 5, 1)).licence_required);
    }

    #[test]
    fn a_consumer_part_below_the_tpp_line_is_not_caught_note_2() {
        assert!(!check(part(4_000, 600, 900, 64, false), "CN", on(2024, 1, 15)).licence_required);
        // The same part designed for datacenters is 3A090.a by density.
        assert!(check(part(4_000, 600, 900, 64, true), "CN", on(2024, 1, 15)).licence_required);
    }

    #[test]
    fn end_users_headquartered_in_china_are_caught_wherever_they_are() {
        let (sets, groups) = published();
        let destination = CountryCode::parse("c", "MY").unwrap();
        let headquarters = CountryCode::parse("c", "CN").unwrap();
        let export = Export {
            item: h20(),
            classification: "3A090.a",
            destination: &destination,
            end_user_headquarters: Some(&headquarters),
            transaction: TransactionKind::Export,
            certifications: None,
        };
        assert!(determine(&export, on(2025, 5, 1), &sets, &groups).licence_required);
    }

    #[test]
    fn a_version_may_not_start_inside_a_published_one() {
        let (sets, _) = published();
        let mut draft: RuleSetDefinition = sets[2].rule_set.definition.clone();
        draft.version = None;
        draft.effective_time = on(2025, 6, 1);
        let err = next_version(&sets, &draft).unwrap_err();
        assert_eq!(err.into_vec()[0].field, "effective_time");
        draft.effective_time = on(2026, 1, 1);
        assert!(
            next_version(&sets, &draft).is_err(),
            "inside the January 2026 version"
        );
        draft.effective_time = on(2026, 6, 1);
        assert_eq!(next_version(&sets, &draft).unwrap(), 5);
    }

    #[test]
    fn a_draft_comparison_names_what_the_april_rules_change() {
        let (mut sets, groups) = published();
        let april = sets.remove(1);
        sets.truncate(1);
        let comparison = DraftComparison::new(&sets, april, on(2025, 5, 20), &groups);
        let china = CountryCode::parse("c", "CN").unwrap();
        let germany = CountryCode::parse("c", "DE").unwrap();
        let export = |destination| Export {
            item: h20(),
            classification: "3A090.a",
            destination,
            end_user_headquarters: None,
            transaction: TransactionKind::Export,
            certifications: None,
        };
        let (impact, before, after) = comparison.compare(&export(&china), None).unwrap();
        assert_eq!(impact, Impact::NowRequiresLicence);
        assert!(!before.licence_required && after.licence_required);
        assert!(comparison.compare(&export(&germany), None).is_none());
        // A shipment made before the draft takes effect is judged at its own time.
        assert!(
            comparison
                .compare(&export(&china), Some(on(2025, 3, 1)))
                .is_none()
        );
    }

    #[test]
    fn the_strictest_review_policy_governs() {
        assert_eq!(
            ReviewPolicy::strictest(
                Some(ReviewPolicy::CaseByCase),
                Some(ReviewPolicy::PresumptionOfDenial)
            ),
            Some(ReviewPolicy::PresumptionOfDenial)
        );
    }

    fn h200_to_china(
        item: Item,
        certifications: Option<&[crate::policy::Certification]>,
    ) -> Determination {
        let (sets, groups) = published();
        let china = CountryCode::parse("c", "CN").unwrap();
        let export = Export {
            item,
            classification: "3A090.a",
            destination: &china,
            end_user_headquarters: None,
            transaction: TransactionKind::Export,
            certifications,
        };
        determine(&export, on(2026, 2, 1), &sets, &groups)
    }

    fn all_certifications() -> Vec<crate::policy::Certification> {
        [
            "below-performance-criteria",
            "us-supply-sufficient",
            "no-foundry-diversion",
            "china-within-half-of-us-shipments",
            "no-end-use-prohibition",
            "consignee-know-your-customer",
            "third-party-testing",
        ]
        .into_iter()
        .map(|key| crate::policy::Certification {
            key: key.into(),
            figure: (key == "china-within-half-of-us-shipments").then_some(1_000),
        })
        .collect()
    }

    fn the_rule(d: &Determination) -> &FiredRule {
        d.fired
            .iter()
            .find(|f| f.rule_id == "3A090.a-china-macau-h200-class")
            .expect("the January 2026 rule fires")
    }

    /// The January 2026 case-by-case review rests on conditions (91 FR 1684): a chip sold in
    /// the United States when the rule was published, and the exporter's certifications. Each
    /// unmet one leaves the presumption of denial, in words that cite the rule; met, the
    /// licence will carry the per-shipment test and the aggregate cap.
    #[test]
    fn the_january_2026_review_rests_on_its_conditions() {
        use crate::policy::ConditionStatus;
        // A what-if without certifications: case by case, each listed as to be certified.
        let what_if = h200_to_china(h200(), None);
        assert_eq!(what_if.review_policy, Some(ReviewPolicy::CaseByCase));
        let to_certify = the_rule(&what_if)
            .conditions
            .iter()
            .filter(|c| c.status == ConditionStatus::ToCertify)
            .count();
        assert_eq!(to_certify, 7);

        // Not commercially available in the US on 2026-01-15.
        let mut new_chip = h200();
        new_chip.us_available_since = NaiveDate::from_ymd_opt(2026, 3, 1);
        let d = h200_to_china(new_chip, None);
        assert_eq!(d.review_policy, Some(ReviewPolicy::PresumptionOfDenial));
        let fact = &the_rule(&d).conditions[0];
        assert_eq!(fact.status, ConditionStatus::NotMet);
        assert!(
            fact.explanation.contains("only since 2026-03-01")
                && fact
                    .explanation
                    .contains("presumption of denial instead of case by case")
                && fact.explanation.contains("91 FR 1684"),
            "{}",
            fact.explanation
        );
        new_chip.us_available_since = None;
        let unrecorded = h200_to_china(new_chip, None);
        assert_eq!(
            unrecorded.review_policy,
            Some(ReviewPolicy::PresumptionOfDenial)
        );

        // A missing certification, and one without its figure.
        let mut partial = all_certifications();
        partial.retain(|c| c.key != "us-supply-sufficient");
        partial.iter_mut().for_each(|c| c.figure = None);
        let d = h200_to_china(h200(), Some(&partial));
        assert_eq!(d.review_policy, Some(ReviewPolicy::PresumptionOfDenial));
        let missing = crate::policy::conditions::missing_certifications(&the_rule(&d).conditions);
        let fields: Vec<_> = missing.iter().map(|v| v.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "certifications[us-supply-sufficient]",
                "certifications[china-within-half-of-us-shipments]"
            ]
        );
        let words: Vec<_> = missing.iter().map(|v| v.description.clone()).collect();
        assert!(words[0].starts_with("missing certification 'us-supply-sufficient'"));
        assert!(words[0].contains("91 FR 1684"), "{}", words[0]);
        assert!(words[1].contains("lacks its figure"), "{}", words[1]);
        assert!(d.licence_terms().is_empty(), "no terms under the fallback");

        // Everything certified: case by case, and the licence's terms.
        let all = all_certifications();
        let d = h200_to_china(h200(), Some(&all));
        assert_eq!(d.review_policy, Some(ReviewPolicy::CaseByCase));
        let terms = d.licence_terms();
        assert_eq!(
            terms.shipment_conditions,
            [crate::policy::ShipmentCondition::ThirdPartyTestReport]
        );
        assert_eq!(terms.aggregate_cap_percent, Some(50));
        assert!(terms.citation.contains("91 FR 1684"));
    }
}
