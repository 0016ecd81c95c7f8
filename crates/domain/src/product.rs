//! Products of an exporter's catalogue and their technical parameters.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::ids::OrganisationId;
use crate::validation::{Violations, integer_in_range, required_text};

pub const MAX_DISPLAY_NAME_CHARS: usize = 200;
pub const MAX_PART_NUMBER_CHARS: usize = 100;
/// Generous upper bound for any parameter; beyond it the input is a typo, not a chip.
pub const MAX_PARAMETER_VALUE: i64 = 1_000_000_000;

/// The parameters the control rules test, all integers in the units of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TechnicalParameters {
    pub total_processing_performance: i64,
    pub die_area_mm2: i64,
    pub memory_bandwidth_gbps: i64,
    pub io_bandwidth_gbps: i64,
}

impl TechnicalParameters {
    /// TPP per mm² of die, for display. Rules compare it exactly with integer maths instead.
    pub fn performance_density(&self) -> f64 {
        self.total_processing_performance as f64 / self.die_area_mm2 as f64
    }
}

/// Raw parameters as they arrive; `None` is a missing value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParametersInput {
    pub total_processing_performance: Option<i64>,
    pub die_area_mm2: Option<i64>,
    pub memory_bandwidth_gbps: Option<i64>,
    pub io_bandwidth_gbps: Option<i64>,
}

/// Raw product fields as they arrive from a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductInput {
    pub display_name: String,
    pub part_number: String,
    pub classification: String,
    pub datacenter: bool,
    pub parameters: Option<ParametersInput>,
    /// `YYYY-MM-DD`, or empty when the product is not (known to be) sold in the United States.
    pub us_commercially_available_since: String,
}

/// The mutable content of a product, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductSpec {
    pub display_name: String,
    pub part_number: String,
    pub classification: String,
    pub datacenter: bool,
    pub parameters: TechnicalParameters,
    /// Since when the product is commercially available in the United States, if it is.
    pub us_available_since: Option<NaiveDate>,
}

impl ProductSpec {
    /// Facts a licence rests on are frozen: once a submitted application, a licence or a
    /// shipment relies on the product (`in_use`), its classification, datacenter flag and
    /// technical parameters may not change. Its name and part number may.
    pub fn ensure_may_replace(
        &self,
        new: &ProductSpec,
        in_use: bool,
    ) -> Result<(), crate::DomainError> {
        let relied_on_changes = self.classification != new.classification
            || self.datacenter != new.datacenter
            || self.parameters != new.parameters
            || self.us_available_since != new.us_available_since;
        if in_use && relied_on_changes {
            return Err(crate::DomainError::FailedPrecondition {
                reason: crate::error::reason::PRODUCT_IN_USE,
                message: "a submitted application, licence or shipment relies on this product's classification, parameters and US availability; create a new product for the changed revision".into(),
            });
        }
        Ok(())
    }
}

/// A stored product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub id: Uuid,
    pub organisation: OrganisationId,
    pub spec: ProductSpec,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl Serialize for OrganisationId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Checks an export control classification: `EAR99` or an ECCN such as `3A090.a` or `4A994.l`.
pub fn parse_classification(field: &str, raw: &str) -> Result<String, Violations> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(Violations::single(field, "is required"));
    }
    if value == "EAR99" || is_eccn(value) {
        Ok(value.to_owned())
    } else {
        Err(Violations::single(
            field,
            format!(
                "'{}' is neither an ECCN (e.g. 3A090.a) nor EAR99",
                crate::validation::quote(value)
            ),
        ))
    }
}

fn is_eccn(value: &str) -> bool {
    let (head, tail) = value.split_at(value.find('.').unwrap_or(value.len()));
    let head: Vec<char> = head.chars().collect();
    let head_ok = head.len() == 5
        && head[0].is_ascii_digit()
        && ('A'..='E').contains(&head[1])
        && head[2..].iter().all(char::is_ascii_digit);
    let tail_ok = tail.is_empty()
        || tail[1..].split('.').all(|part| {
            !part.is_empty()
                && part.len() <= 3
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    head_ok && tail_ok
}

impl ProductSpec {
    /// Validates every field; violations are named relative to the product.
    pub fn parse(input: ProductInput) -> Result<Self, Violations> {
        let mut v = Violations::new();
        let display_name = required_text(
            &mut v,
            "display_name",
            &input.display_name,
            MAX_DISPLAY_NAME_CHARS,
        );
        let part_number = required_text(
            &mut v,
            "part_number",
            &input.part_number,
            MAX_PART_NUMBER_CHARS,
        );
        let classification = v.check(
            "",
            parse_classification("classification", &input.classification),
        );
        let parameters = match input.parameters {
            None => {
                v.add("parameters", "is required");
                None
            }
            Some(p) => v.check("parameters", parse_parameters(p)),
        };
        let us_available_since = v
            .check(
                "",
                parse_us_availability(&input.us_commercially_available_since),
            )
            .flatten();
        match (classification, parameters) {
            (Some(classification), Some(parameters)) if v.is_empty() => Ok(ProductSpec {
                display_name,
                part_number,
                classification,
                datacenter: input.datacenter,
                parameters,
                us_available_since,
            }),
            _ => Err(v),
        }
    }

    /// The spec as raw input, so an update can replace only the masked fields.
    pub fn to_input(&self) -> ProductInput {
        ProductInput {
            display_name: self.display_name.clone(),
            part_number: self.part_number.clone(),
            classification: self.classification.clone(),
            datacenter: self.datacenter,
            parameters: Some(ParametersInput {
                total_processing_performance: Some(self.parameters.total_processing_performance),
                die_area_mm2: Some(self.parameters.die_area_mm2),
                memory_bandwidth_gbps: Some(self.parameters.memory_bandwidth_gbps),
                io_bandwidth_gbps: Some(self.parameters.io_bandwidth_gbps),
            }),
            us_commercially_available_since: self
                .us_available_since
                .map(|d| d.to_string())
                .unwrap_or_default(),
        }
    }

    /// The paths an update mask may name.
    pub const UPDATABLE_FIELDS: [&'static str; 6] = [
        "display_name",
        "part_number",
        "classification",
        "datacenter",
        "parameters",
        "us_commercially_available_since",
    ];

    /// Replaces the fields named in `mask` (all mutable fields when empty) and revalidates.
    /// Check the mask first with [`crate::validation::check_update_mask`]; other paths are ignored.
    pub fn apply_update(&self, update: ProductInput, mask: &[String]) -> Result<Self, Violations> {
        if mask.is_empty() {
            return Self::parse(update);
        }
        let mut merged = self.to_input();
        for path in mask {
            match path.as_str() {
                "display_name" => merged.display_name = update.display_name.clone(),
                "part_number" => merged.part_number = update.part_number.clone(),
                "classification" => merged.classification = update.classification.clone(),
                "datacenter" => merged.datacenter = update.datacenter,
                "parameters" => merged.parameters = update.parameters.clone(),
                "us_commercially_available_since" => {
                    merged.us_commercially_available_since =
                        update.us_commercially_available_since.clone()
                }
                _ => {}
            }
        }
        Self::parse(merged)
    }
}

/// What the control rules need of a product: classification, datacenter flag and parameters,
/// validated (names and part numbers are not needed to determine a licence requirement).
pub fn parse_controlled_item(
    input: &ProductInput,
) -> Result<(String, crate::policy::Item), Violations> {
    let mut v = Violations::new();
    let classification = v.check(
        "",
        parse_classification("classification", &input.classification),
    );
    let parameters = match &input.parameters {
        None => {
            v.add("parameters", "is required");
            None
        }
        Some(p) => v.check("parameters", parse_parameters(p.clone())),
    };
    let us_available_since = v
        .check(
            "",
            parse_us_availability(&input.us_commercially_available_since),
        )
        .flatten();
    match (classification, parameters) {
        (Some(classification), Some(parameters)) if v.is_empty() => Ok((
            classification,
            crate::policy::Item {
                parameters,
                datacenter: input.datacenter,
                us_available_since,
            },
        )),
        _ => Err(v),
    }
}

impl Product {
    /// The product as the control rules see it.
    pub fn controlled_item(&self) -> crate::policy::Item {
        crate::policy::Item {
            parameters: self.spec.parameters,
            datacenter: self.spec.datacenter,
            us_available_since: self.spec.us_available_since,
        }
    }
}

/// A date of US commercial availability as sent: empty is none; otherwise `YYYY-MM-DD`
/// between 1970 and 2100 (outside that range it is a typo).
fn parse_us_availability(raw: &str) -> Result<Option<NaiveDate>, Violations> {
    const FIELD: &str = "us_commercially_available_since";
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) if (1970..=2100).contains(&chrono::Datelike::year(&d)) => Ok(Some(d)),
        Ok(_) => Err(Violations::single(FIELD, "must be between 1970 and 2100")),
        Err(_) => Err(Violations::single(
            FIELD,
            format!(
                "'{}' is not a date (YYYY-MM-DD)",
                crate::validation::quote(raw)
            ),
        )),
    }
}

fn parse_parameters(p: ParametersInput) -> Result<TechnicalParameters, Violations> {
    let mut v = Violations::new();
    let mut get = |field: &str, value: Option<i64>, min: i64| match value {
        None => {
            v.add(field, "is required");
            0
        }
        Some(n) => {
            integer_in_range(&mut v, field, n, min, MAX_PARAMETER_VALUE);
            n
        }
    };
    let parameters = TechnicalParameters {
        total_processing_performance: get(
            "total_processing_performance",
            p.total_processing_performance,
            0,
        ),
        // Density divides by the die area, so it must be positive.
        die_area_mm2: get("die_area_mm2", p.die_area_mm2, 1),
        memory_bandwidth_gbps: get("memory_bandwidth_gbps", p.memory_bandwidth_gbps, 0),
        io_bandwidth_gbps: get("io_bandwidth_gbps", p.io_bandwidth_gbps, 0),
    };
    v.finish(|| parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn h20() -> ProductInput {
        ProductInput {
            display_name: "H20".into(),
            part_number: "900-2G133-0000-000".into(),
            classification: "3A090.a".into(),
            datacenter: true,
            parameters: Some(ParametersInput {
                total_processing_performance: Some(2368),
                die_area_mm2: Some(814),
                memory_bandwidth_gbps: Some(4000),
                io_bandwidth_gbps: Some(900),
            }),
            us_commercially_available_since: String::new(),
        }
    }

    #[test]
    fn a_complete_product_parses() {
        let spec = ProductSpec::parse(h20()).unwrap();
        assert!((spec.parameters.performance_density() - 2.909).abs() < 0.01);
    }

    #[test]
    fn every_missing_field_is_reported_at_once() {
        let mut input = h20();
        input.display_name = String::new();
        input.parameters.as_mut().unwrap().die_area_mm2 = None;
        input.parameters.as_mut().unwrap().io_bandwidth_gbps = Some(-1);
        let fields: Vec<String> = ProductSpec::parse(input)
            .unwrap_err()
            .into_vec()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "display_name",
                "parameters.die_area_mm2",
                "parameters.io_bandwidth_gbps"
            ]
        );
    }

    #[test]
    fn classifications_must_be_eccns_or_ear99() {
        for ok in ["3A090.a", "4A994.l", "EAR99", "5A992.c", "3A090"] {
            assert!(parse_classification("c", ok).is_ok(), "{ok}");
        }
        for bad in ["3a090", "ZZ999", "3A09", "3A090.", "3A090.A", "chip"] {
            assert!(parse_classification("c", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_masked_update_changes_only_the_named_fields() {
        let spec = ProductSpec::parse(h20()).unwrap();
        let update = ProductInput {
            display_name: "H20 NVL".into(),
            ..ProductInput::default()
        };
        let updated = spec.apply_update(update, &["display_name".into()]).unwrap();
        assert_eq!(updated.display_name, "H20 NVL");
        assert_eq!(updated.parameters, spec.parameters);
    }

    #[test]
    fn an_unknown_mask_path_is_refused() {
        let mask = ["colour".to_string()];
        assert!(
            crate::validation::check_update_mask(&mask, &ProductSpec::UPDATABLE_FIELDS).is_err()
        );
    }
}

/// What `ListProducts` may filter on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    pub classification: Option<String>,
    pub datacenter: Option<bool>,
    pub part_number: Option<String>,
}

impl ProductFilter {
    pub const FIELDS: [&'static str; 3] = ["classification", "datacenter", "part_number"];

    pub fn parse(raw: &str) -> Result<Self, Violations> {
        let mut filter = ProductFilter::default();
        for c in crate::filter::parse_filter(raw, &Self::FIELDS)? {
            match c.field.as_str() {
                "classification" => filter.classification = Some(c.value),
                "part_number" => filter.part_number = Some(c.value),
                _ => filter.datacenter = Some(crate::filter::parse_bool(&c.field, &c.value)?),
            }
        }
        Ok(filter)
    }
}
