//! The regulator-facing gRPC service: the review workflow (ReviewService) and the control
//! rules (PolicyService).

mod policy;
mod review;

pub use policy::PolicyApi;
pub use review::ReviewApi;
