//! The exporter-facing gRPC service: the catalogue, applications and licences of one
//! organisation (ApplicationService) and shipments for ERP systems (ShipmentService).
//!
//! Every method is "load, decide in the domain, persist in one store transaction"; no business
//! rule lives here.

mod applications;
mod documents;
mod shipments;

pub use applications::ApplicationApi;
pub use documents::Documents;
pub use shipments::ShipmentApi;
