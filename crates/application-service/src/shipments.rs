//! ShipmentService: built with the licence ledger; every method says so until then.

use clearance_grpc::ApiError;
use clearance_proto::v1 as pb;
use clearance_proto::v1::shipment_service_server::ShipmentService;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone, Default)]
pub struct ShipmentApi;

#[tonic::async_trait]
impl ShipmentService for ShipmentApi {
    async fn check_shipment(
        &self,
        _: Request<pb::CheckShipmentRequest>,
    ) -> Result<Response<pb::CheckShipmentResponse>, Status> {
        Err(ApiError::Unimplemented("CheckShipment").into())
    }

    async fn start_shipment(
        &self,
        _: Request<pb::StartShipmentRequest>,
    ) -> Result<Response<pb::Shipment>, Status> {
        Err(ApiError::Unimplemented("StartShipment").into())
    }

    async fn cancel_shipment(
        &self,
        _: Request<pb::CancelShipmentRequest>,
    ) -> Result<Response<pb::Shipment>, Status> {
        Err(ApiError::Unimplemented("CancelShipment").into())
    }

    async fn get_shipment(
        &self,
        _: Request<pb::GetShipmentRequest>,
    ) -> Result<Response<pb::Shipment>, Status> {
        Err(ApiError::Unimplemented("GetShipment").into())
    }

    async fn list_shipments(
        &self,
        _: Request<pb::ListShipmentsRequest>,
    ) -> Result<Response<pb::ListShipmentsResponse>, Status> {
        Err(ApiError::Unimplemented("ListShipments").into())
    }
}
