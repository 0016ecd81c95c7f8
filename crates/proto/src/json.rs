//! Messages as canonical proto3 JSON and back, through the contract's own descriptors: what
//! people write by hand (a draft rule set) and what scripts read.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

/// Why a message could not be turned into JSON or read from it, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

fn pool() -> Result<&'static DescriptorPool, JsonError> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| JsonError(e.clone()))
}

fn message(full_name: &str) -> Result<prost_reflect::MessageDescriptor, JsonError> {
    pool()?
        .get_message_by_name(full_name)
        .ok_or_else(|| JsonError(format!("unknown message {full_name}")))
}

/// A message as proto3 JSON (field names as in the .proto files, defaults left out).
pub fn to_json<M: prost::Message>(
    message_value: &M,
    full_name: &str,
) -> Result<serde_json::Value, JsonError> {
    let dynamic = DynamicMessage::decode(
        message(full_name)?,
        message_value.encode_to_vec().as_slice(),
    )
    .map_err(|e| JsonError(e.to_string()))?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(true);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| JsonError(e.to_string()))
}

/// A message from proto3 JSON, e.g. a file written by hand.
pub fn from_json<M: prost::Message + Default>(json: &str, full_name: &str) -> Result<M, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let dynamic = DynamicMessage::deserialize(message(full_name)?, &mut deserializer)
        .map_err(|e| JsonError(e.to_string()))?;
    dynamic
        .transcode_to::<M>()
        .map_err(|e| JsonError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1 as pb;

    #[test]
    fn a_rule_set_goes_to_json_and_back() {
        let rule_set = pb::RuleSet {
            key: "us-advanced-computing".into(),
            display_name: "Advanced computing".into(),
            rules: vec![pb::Rule {
                rule_id: "3A090".into(),
                criterion: "tpp >= 4800".into(),
                licence_required: true,
                review_policy: pb::ReviewPolicy::PresumptionOfDenial as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let json = to_json(&rule_set, "clearance.v1.RuleSet").unwrap();
        assert_eq!(
            json["rules"][0]["review_policy"],
            "REVIEW_POLICY_PRESUMPTION_OF_DENIAL"
        );
        let back: pb::RuleSet = from_json(&json.to_string(), "clearance.v1.RuleSet").unwrap();
        assert_eq!(back, rule_set);
        let bad = from_json::<pb::RuleSet>("{\"rules\": 5}", "clearance.v1.RuleSet").unwrap_err();
        assert!(!bad.0.is_empty());
        assert!(from_json::<pb::RuleSet>("{}", "clearance.v1.Nothing").is_err());
    }
}
