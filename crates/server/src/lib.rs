//! The `clearance` server: configuration, wiring of both gRPC services, health, reflection,
//! graceful shutdown. `main.rs` is only the command line on top of this.

pub mod audit;
pub mod config;
pub mod demo;
pub mod metrics;
pub mod serve;
pub mod telemetry;
pub mod tls;

pub use config::{AuthMode, Config, ServiceSelection};
pub use serve::{Running, build_verifier, prepare, start};
