//! Calls any method of the contract with any bytes, and requests built from the service
//! descriptors: for the authorization matrix and the fuzz test.

use bytes::{Buf, BufMut};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Sends and receives raw message bytes.
#[derive(Debug, Clone, Default)]
pub struct RawCodec;

#[derive(Debug, Clone, Default)]
pub struct RawBytes;

impl Encoder for RawBytes {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawBytes {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawBytes;
    type Decoder = RawBytes;
    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }
    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

/// One RPC of the contract.
#[derive(Debug, Clone)]
pub struct ContractMethod {
    /// `/clearance.v1.Service/Method`.
    pub path: String,
    pub service: String,
    pub method: String,
    /// Fully qualified input type, e.g. `.clearance.v1.GetCaseRequest`.
    pub input_type: String,
    pub server_streaming: bool,
}

/// Every method of every `clearance.v1` service, read from the descriptor set.
pub fn contract_methods() -> Vec<ContractMethod> {
    let set = descriptors();
    let mut out = Vec::new();
    for file in &set.file {
        if file.package() != "clearance.v1" {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                out.push(ContractMethod {
                    path: format!("/clearance.v1.{}/{}", service.name(), method.name()),
                    service: service.name().to_owned(),
                    method: method.name().to_owned(),
                    input_type: method.input_type().to_owned(),
                    server_streaming: method.server_streaming(),
                });
            }
        }
    }
    out
}

fn descriptors() -> FileDescriptorSet {
    FileDescriptorSet::decode(clearance_proto::FILE_DESCRIPTOR_SET).expect("descriptor set")
}

/// A small deterministic generator (xorshift), so a failing case can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// How [`MessageBuilder`] fills fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Plausible values: decodable, often valid.
    WellFormed,
    /// Extreme values: huge strings, extreme numbers, bad timestamps, unknown enum values.
    Hostile,
}

/// Builds encoded messages of any contract type from its descriptor.
pub struct MessageBuilder {
    messages: Vec<(String, DescriptorProto)>,
}

impl Default for MessageBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageBuilder {
    pub fn new() -> Self {
        let mut messages = Vec::new();
        for file in descriptors().file {
            let package = file.package().to_owned();
            for m in &file.message_type {
                collect(&format!(".{package}"), m, &mut messages);
            }
        }
        MessageBuilder { messages }
    }

    fn find(&self, name: &str) -> Option<&DescriptorProto> {
        self.messages
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d)
    }

    /// An encoded `type_name` message filled as `fill` says.
    pub fn build(&self, type_name: &str, fill: Fill, rng: &mut Rng) -> Vec<u8> {
        let mut buf = Vec::new();
        self.fill(type_name, fill, rng, 0, &mut buf);
        buf
    }

    fn fill(&self, type_name: &str, fill: Fill, rng: &mut Rng, depth: usize, buf: &mut Vec<u8>) {
        let Some(message) = self.find(type_name) else {
            return;
        };
        if type_name == ".google.protobuf.Timestamp" {
            let (seconds, nanos): (i64, i64) = match fill {
                Fill::WellFormed => (chrono::Utc::now().timestamp(), 0),
                Fill::Hostile => match rng.below(5) {
                    0 => (i64::MAX, 0),
                    1 => (i64::MIN, 0),
                    2 => (253_402_300_800, 0),
                    3 => (0, -1),
                    _ => (0, 2_000_000_000),
                },
            };
            encode_key(1, WireType::Varint, buf);
            encode_varint(seconds as u64, buf);
            encode_key(2, WireType::Varint, buf);
            encode_varint(nanos as u64, buf);
            return;
        }
        for field in &message.field {
            // Leave some fields out, as real clients do.
            if rng.below(6) == 0 {
                continue;
            }
            let repeated = field.label() == Label::Repeated;
            let copies = match (repeated, fill) {
                (false, _) => 1,
                (true, Fill::WellFormed) => 1 + rng.below(2) as usize,
                (true, Fill::Hostile) => [0, 1, 3, 60][rng.below(4) as usize],
            };
            for _ in 0..copies {
                self.field(field, fill, rng, depth, buf);
            }
        }
    }

    fn field(
        &self,
        field: &prost_types::FieldDescriptorProto,
        fill: Fill,
        rng: &mut Rng,
        depth: usize,
        buf: &mut Vec<u8>,
    ) {
        let tag = field.number() as u32;
        match field.r#type() {
            Type::String => {
                let text = match fill {
                    Fill::WellFormed => plausible_text(field.name(), rng),
                    Fill::Hostile => hostile_text(rng),
                };
                encode_key(tag, WireType::LengthDelimited, buf);
                encode_varint(text.len() as u64, buf);
                buf.extend_from_slice(text.as_bytes());
            }
            Type::Bytes => {
                let len = rng.below(64) as usize;
                let bytes = rng.bytes(len);
                encode_key(tag, WireType::LengthDelimited, buf);
                encode_varint(bytes.len() as u64, buf);
                buf.extend_from_slice(&bytes);
            }
            Type::Message => {
                if depth >= 5 {
                    return;
                }
                let mut inner = Vec::new();
                self.fill(field.type_name(), fill, rng, depth + 1, &mut inner);
                encode_key(tag, WireType::LengthDelimited, buf);
                encode_varint(inner.len() as u64, buf);
                buf.extend_from_slice(&inner);
            }
            Type::Bool => {
                encode_key(tag, WireType::Varint, buf);
                encode_varint(rng.below(2), buf);
            }
            Type::Double => {
                encode_key(tag, WireType::SixtyFourBit, buf);
                let value = match fill {
                    Fill::WellFormed => 1.5f64,
                    Fill::Hostile => [f64::NAN, f64::INFINITY, -1e308, 0.0][rng.below(4) as usize],
                };
                buf.put_f64_le(value);
            }
            Type::Float => {
                encode_key(tag, WireType::ThirtyTwoBit, buf);
                buf.put_f32_le(1.5);
            }
            Type::Fixed64 | Type::Sfixed64 => {
                encode_key(tag, WireType::SixtyFourBit, buf);
                buf.put_u64_le(rng.next_u64());
            }
            Type::Fixed32 | Type::Sfixed32 => {
                encode_key(tag, WireType::ThirtyTwoBit, buf);
                buf.put_u32_le(rng.next_u64() as u32);
            }
            _ => {
                // Varint integers and enums.
                let value: i64 = match fill {
                    Fill::WellFormed => match field.r#type() {
                        Type::Enum => 1,
                        _ => 1 + rng.below(100) as i64,
                    },
                    Fill::Hostile => [i64::MAX, i64::MIN, -1, 0, 999, i64::from(i32::MAX), 1 << 40]
                        [rng.below(7) as usize],
                };
                encode_key(tag, WireType::Varint, buf);
                encode_varint(value as u64, buf);
            }
        }
    }
}

fn collect(prefix: &str, m: &DescriptorProto, out: &mut Vec<(String, DescriptorProto)>) {
    let name = format!("{prefix}.{}", m.name());
    for nested in &m.nested_type {
        collect(&name, nested, out);
    }
    out.push((name, m.clone()));
}

fn plausible_text(field: &str, rng: &mut Rng) -> String {
    let id = uuid::Uuid::now_v7();
    match field {
        "request_id" => id.to_string(),
        "etag" => "W/\"1\"".into(),
        "name" | "application" => format!("applications/{id}"),
        "product" => format!("products/{id}"),
        "licence" => format!("licences/{id}"),
        "resource" => format!("shipments/{id}"),
        "page_token" | "after_cursor" | "filter" => String::new(),
        f if f.ends_with("country_code") => ["CN", "DE", "US"][rng.below(3) as usize].into(),
        f if f.ends_with("currency_code") => "USD".into(),
        "criterion" => "tpp >= 4800".into(),
        "classification" => "3A090.a".into(),
        _ => format!("sample {}", rng.below(1000)),
    }
}

fn hostile_text(rng: &mut Rng) -> String {
    match rng.below(7) {
        0 => String::new(),
        1 => "x".repeat(20_000),
        2 => "é\u{0}\u{1b}[31m\u{202e}".repeat(50),
        3 => "(".repeat(5_000),
        4 => "applications/../../etc/passwd".into(),
        5 => "' OR 1=1 --".into(),
        _ => "y".repeat(rng.below(5_000) as usize),
    }
}
