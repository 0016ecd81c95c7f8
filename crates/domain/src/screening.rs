//! Denied-party screening: restricted-party lists as data, names normalised and compared
//! fuzzily, an in-memory index built once per list version so a lookup costs a few
//! comparisons, and the rules for what a hit blocks.

mod formats;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, reason};
use crate::validation::{Violations, required_text};

pub use formats::{ListFormat, parse_list};

/// Hits at or above this score are flagged unless configured otherwise.
pub const DEFAULT_THRESHOLD: f64 = 0.85;
/// Longest name, alias or address kept from a list entry.
pub const MAX_FIELD_CHARS: usize = 1_000;
/// Most entries one list version may hold.
pub const MAX_ENTRIES: usize = 2_000_000;

/// One restricted party as a list publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedParty {
    /// The list's own id for the entry.
    pub entry_id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub addresses: Vec<String>,
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub countries: Vec<String>,
    /// The list within the source, e.g. "Entity List (EL) - Bureau of Industry and Security".
    pub source_list: String,
    pub programs: Vec<String>,
}

/// Words that say what kind of legal entity a party is, not which one.
const LEGAL_FORMS: &[&str] = &[
    "ltd",
    "limited",
    "co",
    "company",
    "corp",
    "corporation",
    "inc",
    "incorporated",
    "llc",
    "llp",
    "lp",
    "plc",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "oy",
    "ab",
    "as",
    "kk",
    "jsc",
    "pjsc",
    "ojsc",
    "cjsc",
    "ooo",
    "oao",
    "zao",
    "pao",
    "pte",
    "pty",
    "the",
    "and",
    "of",
];

/// A name as compared: transliterated to Latin letters, lower case, punctuation and
/// legal-form words removed, in its original order.
pub fn name_tokens(name: &str) -> Vec<String> {
    let latin = deunicode::deunicode(name).to_lowercase();
    latin
        .split(|c: char| !c.is_ascii_alphanumeric())
        // Single letters (initials, the "A" of "A.S.") say little about who is meant.
        .filter(|t| t.len() > 1 && !LEGAL_FORMS.contains(t))
        .map(str::to_owned)
        .collect()
}

/// Two words the same up to a small spelling difference.
fn same_word(a: &str, b: &str) -> bool {
    a == b || (a.len() >= 4 && b.len() >= 4 && strsim::jaro_winkler(a, b) >= 0.92)
}

/// How alike two normalised names are, from 0 to 1: the larger of the share of words that
/// find a partner (word order ignored) and the edit similarity of the whole names (spacing
/// and word order ignored).
pub fn name_similarity(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let found_a = a
        .iter()
        .filter(|t| b.iter().any(|u| same_word(t, u)))
        .count();
    let found_b = b
        .iter()
        .filter(|t| a.iter().any(|u| same_word(t, u)))
        .count();
    let shared = (found_a + found_b) as f64 / (a.len() + b.len()) as f64;
    let sorted = |words: &[String]| {
        let mut w = words.to_vec();
        w.sort();
        w.concat()
    };
    let reordered = strsim::normalized_levenshtein(&sorted(a), &sorted(b));
    let run_together = strsim::normalized_levenshtein(&a.concat(), &b.concat());
    shared.max(reordered).max(run_together)
}

/// The party being screened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartyQuery {
    pub name: String,
    /// ISO alpha-2, if known.
    pub country: Option<String>,
    pub address: String,
}

/// A listed party a screened party resembles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The list version the entry belongs to.
    pub list_id: Uuid,
    pub entry_id: String,
    pub listed_name: String,
    /// The listed name or alias that matched best.
    pub matched_name: String,
    /// 0 to 1.
    pub score: f64,
    /// Which fields agreed: `name` or `alias`, and `country`, `address`.
    pub matched_fields: Vec<String>,
    pub source_list: String,
    pub programs: Vec<String>,
}

struct Indexed {
    list_id: Uuid,
    party: ListedParty,
    /// The primary name first, then the aliases.
    names: Vec<Vec<String>>,
    address_words: HashSet<String>,
}

/// Every entry of the lists in force, with a word-prefix index so a lookup compares only the
/// entries that share a word beginning or ending with the query's.
pub struct ScreeningIndex {
    entries: Vec<Indexed>,
    blocks: HashMap<String, Vec<u32>>,
}

/// The keys a word files an entry under: its first three letters, and its last three when it
/// is long (spelling differences rarely touch both ends).
fn block_keys(words: &[String]) -> impl Iterator<Item = String> + '_ {
    words.iter().flat_map(|w| {
        let mut keys = vec![format!("<{}", prefix(w, 3))];
        if w.len() >= 5 {
            keys.push(format!(">{}", &w[w.len() - 3..]));
        }
        keys
    })
}

fn prefix(w: &str, n: usize) -> &str {
    w.get(..n).unwrap_or(w)
}

impl ScreeningIndex {
    /// The index of every entry of the given list versions.
    pub fn build(parties: Vec<(Uuid, ListedParty)>) -> ScreeningIndex {
        let mut blocks: HashMap<String, Vec<u32>> = HashMap::new();
        let mut entries = Vec::with_capacity(parties.len());
        for (i, (list_id, party)) in parties.into_iter().enumerate() {
            let names: Vec<Vec<String>> = std::iter::once(&party.name)
                .chain(&party.aliases)
                .map(|n| name_tokens(n))
                .filter(|t| !t.is_empty())
                .collect();
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            let mut keys: HashSet<String> = HashSet::new();
            for name in &names {
                keys.extend(block_keys(name));
            }
            for key in keys {
                blocks.entry(key).or_default().push(id);
            }
            let address_words = party
                .addresses
                .iter()
                .flat_map(|a| name_tokens(a))
                .filter(|w| w.len() >= 3)
                .collect();
            entries.push(Indexed {
                list_id,
                party,
                names,
                address_words,
            });
        }
        ScreeningIndex { entries, blocks }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The listed parties `query` resembles at `threshold` or above, best first.
    pub fn screen(&self, query: &PartyQuery, threshold: f64) -> Vec<Hit> {
        let words = name_tokens(&query.name);
        if words.is_empty() {
            return Vec::new();
        }
        // A candidate must share most of the query's words (by their first or last letters):
        // a name sharing one frequent word ("trading", "technology") with thousands of listed
        // names is not compared with all of them. The share matches what scoring needs to
        // reach the threshold.
        let mut per_word: Vec<Vec<u32>> = words
            .iter()
            .map(|word| {
                let mut ids: Vec<u32> = block_keys(std::slice::from_ref(word))
                    .filter_map(|k| self.blocks.get(&k))
                    .flatten()
                    .copied()
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            })
            .collect();
        per_word.sort_by_key(Vec::len);
        let needed = (words.len() * 2).div_ceil(3);
        // An entry sharing `needed` words appears in at least one of the rarest
        // `len - needed + 1` words' lists: only those are walked, the rest looked up.
        let mut candidates: Vec<u32> = per_word[..per_word.len() - needed + 1]
            .iter()
            .flatten()
            .copied()
            .filter(|id| {
                per_word
                    .iter()
                    .filter(|ids| ids.binary_search(id).is_ok())
                    .count()
                    >= needed
            })
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let address: HashSet<String> = name_tokens(&query.address)
            .into_iter()
            .filter(|w| w.len() >= 3)
            .collect();
        let mut hits: Vec<Hit> = candidates
            .into_iter()
            .filter_map(|i| self.entries.get(i as usize))
            .filter_map(|e| score(e, &words, query.country.as_deref(), &address, threshold))
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits
    }
}

/// The entry's best name against the query, adjusted for country and address agreement.
fn score(
    e: &Indexed,
    words: &[String],
    country: Option<&str>,
    address: &HashSet<String>,
    threshold: f64,
) -> Option<Hit> {
    let (best, similarity) = e
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| (i, name_similarity(words, n)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    // A name far from the query cannot be lifted over the threshold by the rest.
    if similarity < threshold - 0.1 {
        return None;
    }
    let mut fields = vec![if best == 0 { "name" } else { "alias" }.to_owned()];
    let mut total = similarity;
    if let Some(country) = country.filter(|_| !e.party.countries.is_empty()) {
        if e.party
            .countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(country))
        {
            total += 0.05;
            fields.push("country".into());
        } else {
            total -= 0.15;
        }
    }
    if !address.is_empty() && !e.address_words.is_empty() {
        let shared = address.intersection(&e.address_words).count();
        if shared * 2 >= address.len().min(e.address_words.len()) {
            total += 0.05;
            fields.push("address".into());
        }
    }
    let total = total.clamp(0.0, 1.0);
    if total < threshold {
        return None;
    }
    let matched_name = if best == 0 {
        e.party.name.clone()
    } else {
        e.party
            .aliases
            .get(best - 1)
            .cloned()
            .unwrap_or_else(|| e.party.name.clone())
    };
    Some(Hit {
        list_id: e.list_id,
        entry_id: e.party.entry_id.clone(),
        listed_name: e.party.name.clone(),
        matched_name,
        score: (total * 1000.0).round() / 1000.0,
        matched_fields: fields,
        source_list: e.party.source_list.clone(),
        programs: e.party.programs.clone(),
    })
}

/// One imported version of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListVersion {
    pub id: Uuid,
    /// Who publishes the list, as the importer names it (e.g. "US CSL", "OpenSanctions").
    pub source: String,
    pub format: String,
    /// Lower-case hex SHA-256 of the file as imported.
    pub file_sha256: String,
    pub entry_count: i64,
    pub import_time: DateTime<Utc>,
    pub imported_by: String,
}

/// The versions in force: the latest import of each source.
pub fn in_force(mut versions: Vec<ListVersion>) -> Vec<ListVersion> {
    versions.sort_by_key(|v| std::cmp::Reverse((v.import_time, v.id)));
    let mut seen = HashSet::new();
    versions.retain(|v| seen.insert(v.source.clone()));
    versions.sort_by(|a, b| a.source.cmp(&b.source));
    versions
}

/// Checks the name of a list's source: 1 to 200 characters of text.
pub fn check_source(source: &str) -> Result<String, Violations> {
    let mut v = Violations::new();
    let source = required_text(&mut v, "source", source, 200);
    v.finish(|| source)
}

/// What a reviewer decided about a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlagStatus {
    /// Not yet looked at: no decision may be proposed.
    Open,
    /// A false positive, with reasons.
    Cleared,
    /// The party is the listed one: the case can only be denied.
    Confirmed,
}

impl FlagStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagStatus::Open => "OPEN",
            FlagStatus::Cleared => "CLEARED",
            FlagStatus::Confirmed => "CONFIRMED",
        }
    }

    pub fn parse(raw: &str) -> Option<FlagStatus> {
        [FlagStatus::Open, FlagStatus::Cleared, FlagStatus::Confirmed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A hit on one of a case's parties, and what a reviewer decided about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreeningFlag {
    pub id: Uuid,
    /// The party of the application (0-based).
    pub party_index: usize,
    pub party_name: String,
    pub hit: Hit,
    pub status: FlagStatus,
    pub raised_time: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_time: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// The hits on one party of an application.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyScreening {
    pub party_index: usize,
    pub party_name: String,
    pub hits: Vec<Hit>,
}

/// Every party of an application against `index`: the parties with hits.
pub fn screen_parties(
    index: &ScreeningIndex,
    parties: &[crate::application::Party],
    threshold: f64,
) -> Vec<PartyScreening> {
    parties
        .iter()
        .enumerate()
        .map(|(party_index, p)| PartyScreening {
            party_index,
            party_name: p.display_name.clone(),
            hits: index.screen(
                &PartyQuery {
                    name: p.display_name.clone(),
                    country: Some(p.country.as_str().to_owned()),
                    address: p.address.clone(),
                },
                threshold,
            ),
        })
        .filter(|s| !s.hits.is_empty())
        .collect()
}

/// The flags a screening raises: one per party and listed entry.
pub fn raise_flags(screened: Vec<PartyScreening>, now: DateTime<Utc>) -> Vec<ScreeningFlag> {
    screened
        .into_iter()
        .flat_map(|p| {
            let (index, name) = (p.party_index, p.party_name);
            p.hits.into_iter().map(move |hit| ScreeningFlag {
                id: Uuid::now_v7(),
                party_index: index,
                party_name: name.clone(),
                hit,
                status: FlagStatus::Open,
                raised_time: now,
                decided_by: None,
                decided_time: None,
                reason: None,
            })
        })
        .collect()
}

fn describe(f: &ScreeningFlag) -> String {
    format!(
        "{} resembles listed party {} ({}, score {:.2})",
        f.party_name, f.hit.listed_name, f.hit.source_list, f.hit.score
    )
}

/// No decision is proposed (or countersigned) over an open hit, and a confirmed hit allows
/// only a denial.
/// How current a case's screening is. Imported list versions are counted (versions are never
/// removed, so the count only grows): `screened_through` is the count when the case's parties
/// were last screened against the lists then in force, `imported` the count now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScreeningCurrency {
    pub screened_through: i64,
    pub imported: i64,
}

impl ScreeningCurrency {
    /// Screened against every list version imported so far.
    pub fn is_current(&self) -> bool {
        self.screened_through >= self.imported
    }
}

/// The decision gate: no decision on a case whose parties have not been screened against every
/// list version imported, nor while a hit is open; an approval not while a hit is confirmed.
pub fn check_screened(
    currency: ScreeningCurrency,
    flags: &[ScreeningFlag],
    approve: bool,
) -> Result<(), DomainError> {
    if !currency.is_current() {
        let newer = currency.imported - currency.screened_through;
        return Err(DomainError::FailedPrecondition {
            reason: reason::SCREENING_UNRESOLVED,
            message: format!(
                "the parties have not yet been screened against {newer} newer list version{}; \
                 screening again is under way, try again shortly",
                if newer == 1 { "" } else { "s" }
            ),
        });
    }
    check_flags(flags, approve)
}

pub fn check_flags(flags: &[ScreeningFlag], approve: bool) -> Result<(), DomainError> {
    if let Some(open) = flags.iter().find(|f| f.status == FlagStatus::Open) {
        return Err(DomainError::FailedPrecondition {
            reason: reason::SCREENING_UNRESOLVED,
            message: format!(
                "a screening hit must be cleared or confirmed first: {}",
                describe(open)
            ),
        });
    }
    if approve && let Some(confirmed) = flags.iter().find(|f| f.status == FlagStatus::Confirmed) {
        return Err(DomainError::FailedPrecondition {
            reason: reason::DENIED_PARTY,
            message: format!(
                "a case with a confirmed denied party can only be denied: {}",
                describe(confirmed)
            ),
        });
    }
    Ok(())
}

/// A reviewer clears (a false positive) or confirms an open flag, with reasons.
pub fn resolve_flag(
    flag: &ScreeningFlag,
    confirm: bool,
    reason_text: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<ScreeningFlag, DomainError> {
    let mut v = Violations::new();
    let reason_text = required_text(&mut v, "reason", reason_text, 4000);
    if !v.is_empty() {
        return Err(v.into());
    }
    if flag.status != FlagStatus::Open {
        return Err(DomainError::FailedPrecondition {
            reason: reason::INVALID_TRANSITION,
            message: format!("this hit was already {}", flag.status.as_str()),
        });
    }
    let mut resolved = flag.clone();
    resolved.status = if confirm {
        FlagStatus::Confirmed
    } else {
        FlagStatus::Cleared
    };
    resolved.decided_by = Some(by.to_owned());
    resolved.decided_time = Some(now);
    resolved.reason = Some(reason_text);
    Ok(resolved)
}

/// A reviewer's decision on a hit for a party of one exporter's case: (entry id, party name,
/// status).
pub type PartyDecision = (String, String, FlagStatus);

/// A shipment's party resembling a listed one is refused unless a case of the same exporter
/// cleared that very entry for a party of the same name (a known false positive) and none
/// confirmed it.
pub fn shipment_refusal(
    party_name: &str,
    hits: &[Hit],
    decisions: &[PartyDecision],
) -> Option<DomainError> {
    let words = name_tokens(party_name);
    let decided = |h: &Hit, status: FlagStatus| {
        decisions.iter().any(|(entry, name, s)| {
            *entry == h.entry_id && *s == status && name_tokens(name) == words
        })
    };
    let blocking = hits
        .iter()
        .find(|h| decided(h, FlagStatus::Confirmed) || !decided(h, FlagStatus::Cleared))?;
    Some(DomainError::FailedPrecondition {
        reason: reason::DENIED_PARTY,
        message: format!(
            "{party_name} resembles listed party {} ({}, score {:.2}) and {}",
            blocking.listed_name,
            blocking.source_list,
            blocking.score,
            if decided(blocking, FlagStatus::Confirmed) {
                "a reviewer confirmed it is that party"
            } else {
                "no reviewer has cleared it"
            }
        ),
    })
}
