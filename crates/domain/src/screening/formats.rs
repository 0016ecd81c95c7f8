//! Reading published restricted-party lists: the US Consolidated Screening List (CSV and
//! JSON, as trade.gov publishes them) and OpenSanctions' FollowTheMoney entities (JSON lines).
//! A file is read whole or refused, naming the first lines that are wrong.

use serde_json::Value;

use super::{ListedParty, MAX_ENTRIES, MAX_FIELD_CHARS};
use crate::validation::{Violations, short_prefix};

/// The formats Clearance reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// Consolidated Screening List, CSV (`consolidated.csv`).
    CslCsv,
    /// Consolidated Screening List, JSON (`{"results": [...]}`).
    CslJson,
    /// FollowTheMoney entities, one JSON object per line (OpenSanctions `entities.ftm.json`).
    FollowTheMoney,
}

impl ListFormat {
    pub const NAMES: [&'static str; 3] = ["csl-csv", "csl-json", "ftm"];

    pub fn as_str(self) -> &'static str {
        match self {
            ListFormat::CslCsv => "csl-csv",
            ListFormat::CslJson => "csl-json",
            ListFormat::FollowTheMoney => "ftm",
        }
    }

    pub fn parse(raw: &str) -> Option<ListFormat> {
        match raw {
            "csl-csv" => Some(ListFormat::CslCsv),
            "csl-json" => Some(ListFormat::CslJson),
            "ftm" => Some(ListFormat::FollowTheMoney),
            _ => None,
        }
    }
}

/// Most problems named when a file is refused.
const MAX_REPORTED: usize = 20;

/// Every entry of `text` in `format`, or the lines that are wrong (field `file`).
pub fn parse_list(format: ListFormat, text: &str) -> Result<Vec<ListedParty>, Violations> {
    let mut problems = Problems::default();
    let parties = match format {
        ListFormat::CslCsv => csl_csv(text, &mut problems),
        ListFormat::CslJson => csl_json(text, &mut problems),
        ListFormat::FollowTheMoney => ftm(text, &mut problems),
    };
    if parties.len() > MAX_ENTRIES {
        problems.add(0, format!("holds more than {MAX_ENTRIES} entries"));
    }
    if parties.is_empty() && problems.0.is_empty() {
        problems.add(0, "holds no entries");
    }
    problems.finish(parties)
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, line: usize, what: impl Into<String>) {
        if self.0.len() < MAX_REPORTED {
            let what = what.into();
            self.0.push(if line == 0 {
                what
            } else {
                format!("line {line}: {what}")
            });
        }
    }

    fn finish(self, parties: Vec<ListedParty>) -> Result<Vec<ListedParty>, Violations> {
        if self.0.is_empty() {
            return Ok(parties);
        }
        let mut v = Violations::new();
        for p in self.0 {
            v.add("file", p);
        }
        Err(v)
    }
}

/// A field kept to its bound, trimmed.
fn bounded(text: &str) -> String {
    text.trim().chars().take(MAX_FIELD_CHARS).collect()
}

/// `a; b; c` as published in CSL cells.
fn split_list(cell: &str) -> Vec<String> {
    cell.split(';')
        .map(bounded)
        .filter(|s| !s.is_empty())
        .collect()
}

fn country_code(raw: &str) -> Option<String> {
    let c = raw.trim();
    (c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic())).then(|| c.to_uppercase())
}

fn csl_csv(text: &str, problems: &mut Problems) -> Vec<ListedParty> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            problems.add(
                1,
                format!("not a CSV header: {}", short_prefix(e.to_string(), 80)),
            );
            return Vec::new();
        }
    };
    let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h.trim()));
    let (Some(name_at), Some(id_at)) = (column(&["name"]), column(&["_id", "id", "entity_number"]))
    else {
        problems.add(1, "the header needs a 'name' and an '_id' (or 'id') column");
        return Vec::new();
    };
    let alt_at = column(&["alt_names"]);
    let addresses_at = column(&["addresses"]);
    let source_at = column(&["source"]);
    let programs_at = column(&["programs"]);
    let countries_at = [column(&["citizenships"]), column(&["nationalities"])];
    let mut parties = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.add(line, short_prefix(e.to_string(), 120));
                continue;
            }
        };
        let cell = |at: Option<usize>| at.and_then(|a| record.get(a)).unwrap_or_default();
        let name = bounded(cell(Some(name_at)));
        let entry_id = bounded(cell(Some(id_at)));
        if name.is_empty() || entry_id.is_empty() {
            problems.add(line, "an entry needs a name and an id");
            continue;
        }
        let addresses = split_list(cell(addresses_at));
        let mut countries: Vec<String> = addresses
            .iter()
            .filter_map(|a| a.rsplit(',').next().and_then(country_code))
            .collect();
        for at in countries_at {
            countries.extend(split_list(cell(at)).iter().filter_map(|c| country_code(c)));
        }
        countries.sort();
        countries.dedup();
        parties.push(ListedParty {
            entry_id,
            name,
            aliases: split_list(cell(alt_at)),
            addresses,
            countries,
            source_list: bounded(cell(source_at)),
            programs: split_list(cell(programs_at)),
        });
    }
    parties
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(bounded)
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) => split_list(s),
        _ => Vec::new(),
    }
}

fn csl_json(text: &str, problems: &mut Problems) -> Vec<ListedParty> {
    let document: Value = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            problems.add(
                e.line(),
                format!("not JSON: {}", short_prefix(e.to_string(), 80)),
            );
            return Vec::new();
        }
    };
    let results = match &document {
        Value::Object(o) => o.get("results").and_then(Value::as_array),
        Value::Array(a) => Some(a),
        _ => None,
    };
    let Some(results) = results else {
        problems.add(1, "expected {\"results\": [...]} or an array of entries");
        return Vec::new();
    };
    let mut parties = Vec::new();
    for (i, entry) in results.iter().enumerate() {
        let at = i + 1;
        let text = |key: &str| entry.get(key).and_then(Value::as_str).map(bounded);
        let name = text("name").unwrap_or_default();
        let entry_id = text("id")
            .or_else(|| text("_id"))
            .or_else(|| text("entity_number"))
            .unwrap_or_default();
        if name.is_empty() || entry_id.is_empty() {
            problems.add(
                0,
                format!("results[{i}] (entry {at}) needs a name and an id"),
            );
            continue;
        }
        let mut addresses = Vec::new();
        let mut countries = Vec::new();
        if let Some(Value::Array(list)) = entry.get("addresses") {
            for a in list {
                let part = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or_default();
                let joined: Vec<&str> = ["address", "city", "state", "postal_code", "country"]
                    .iter()
                    .map(|k| part(k))
                    .filter(|p| !p.is_empty())
                    .collect();
                addresses.push(bounded(&joined.join(", ")));
                countries.extend(country_code(part("country")));
            }
        }
        for key in ["citizenships", "nationalities"] {
            countries.extend(
                strings(entry.get(key))
                    .iter()
                    .filter_map(|c| country_code(c)),
            );
        }
        countries.sort();
        countries.dedup();
        parties.push(ListedParty {
            entry_id,
            name,
            aliases: strings(entry.get("alt_names")),
            addresses,
            countries,
            source_list: text("source").unwrap_or_default(),
            programs: strings(entry.get("programs")),
        });
    }
    parties
}

/// The FollowTheMoney schemata that name a party.
const PARTY_SCHEMATA: [&str; 5] = [
    "Person",
    "Company",
    "Organization",
    "LegalEntity",
    "PublicBody",
];

fn ftm(text: &str, problems: &mut Problems) -> Vec<ListedParty> {
    let mut parties = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let entity: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            Err(e) => {
                problems.add(
                    line,
                    format!("not JSON: {}", short_prefix(e.to_string(), 80)),
                );
                continue;
            }
        };
        let Some(schema) = entity.get("schema").and_then(Value::as_str) else {
            problems.add(line, "an entity needs a schema");
            continue;
        };
        // Sanctions, addresses and the like describe parties; they are not parties.
        if !PARTY_SCHEMATA.contains(&schema) {
            continue;
        }
        let props = entity.get("properties");
        let prop = |key: &str| strings(props.and_then(|p| p.get(key)));
        let names = prop("name");
        let entry_id = entity
            .get("id")
            .and_then(Value::as_str)
            .map(bounded)
            .unwrap_or_default();
        let Some(name) = names.first().cloned().filter(|_| !entry_id.is_empty()) else {
            problems.add(line, "an entity needs an id and a name");
            continue;
        };
        let mut aliases: Vec<String> = names.into_iter().skip(1).collect();
        for key in ["alias", "weakAlias", "previousName"] {
            aliases.extend(prop(key));
        }
        let mut countries: Vec<String> = ["country", "nationality", "jurisdiction", "citizenship"]
            .iter()
            .flat_map(|k| prop(k))
            .filter_map(|c| country_code(&c))
            .collect();
        countries.sort();
        countries.dedup();
        let datasets = strings(entity.get("datasets"));
        let mut programs = prop("program");
        programs.extend(prop("topics"));
        parties.push(ListedParty {
            entry_id,
            name,
            aliases,
            addresses: prop("address"),
            countries,
            source_list: if datasets.is_empty() {
                "OpenSanctions".into()
            } else {
                datasets.join(", ")
            },
            programs,
        });
    }
    parties
}
