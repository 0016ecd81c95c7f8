//! The `clearance.v1` contract as Rust types, clients and server traits.
//!
//! Only the service crates, the server binary and the CLI depend on this crate.

#![allow(clippy::all, missing_docs)]

pub mod codec;
#[cfg(feature = "json")]
pub mod json;

pub mod v1 {
    tonic::include_proto!("clearance.v1");
}

/// Encoded `FileDescriptorSet` of the contract (with its imports), for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/clearance_descriptor.bin"));
