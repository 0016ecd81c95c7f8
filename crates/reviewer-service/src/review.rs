//! ReviewService: the case queue, decisions, licence actions and audit.

use clearance_grpc::ApiError;
use clearance_proto::v1 as pb;
use clearance_proto::v1::review_service_server::ReviewService;
use tonic::{Request, Response, Status};

/// ReviewService; each method is built by its issue and answers UNIMPLEMENTED until then.
#[derive(Debug, Clone, Default)]
pub struct ReviewApi;

#[tonic::async_trait]
impl ReviewService for ReviewApi {
    async fn list_cases(
        &self,
        _: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        Err(ApiError::Unimplemented("ListCases").into())
    }

    async fn get_case(&self, _: Request<pb::GetCaseRequest>) -> Result<Response<pb::Case>, Status> {
        Err(ApiError::Unimplemented("GetCase").into())
    }

    async fn assign_case(
        &self,
        _: Request<pb::AssignCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        Err(ApiError::Unimplemented("AssignCase").into())
    }

    async fn request_information(
        &self,
        _: Request<pb::RequestInformationRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        Err(ApiError::Unimplemented("RequestInformation").into())
    }

    async fn add_note(&self, _: Request<pb::AddNoteRequest>) -> Result<Response<pb::Case>, Status> {
        Err(ApiError::Unimplemented("AddNote").into())
    }

    async fn propose_decision(
        &self,
        _: Request<pb::ProposeDecisionRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        Err(ApiError::Unimplemented("ProposeDecision").into())
    }

    async fn countersign_decision(
        &self,
        _: Request<pb::CountersignDecisionRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        Err(ApiError::Unimplemented("CountersignDecision").into())
    }

    async fn reject_proposal(
        &self,
        _: Request<pb::RejectProposalRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        Err(ApiError::Unimplemented("RejectProposal").into())
    }

    async fn return_application(
        &self,
        _: Request<pb::ReturnApplicationRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        Err(ApiError::Unimplemented("ReturnApplication").into())
    }

    async fn suspend_licence(
        &self,
        _: Request<pb::SuspendLicenceRequest>,
    ) -> Result<Response<pb::Licence>, Status> {
        Err(ApiError::Unimplemented("SuspendLicence").into())
    }

    async fn revoke_licence(
        &self,
        _: Request<pb::RevokeLicenceRequest>,
    ) -> Result<Response<pb::Licence>, Status> {
        Err(ApiError::Unimplemented("RevokeLicence").into())
    }

    async fn reinstate_licence(
        &self,
        _: Request<pb::ReinstateLicenceRequest>,
    ) -> Result<Response<pb::Licence>, Status> {
        Err(ApiError::Unimplemented("ReinstateLicence").into())
    }

    async fn get_history(
        &self,
        _: Request<pb::GetHistoryRequest>,
    ) -> Result<Response<pb::GetHistoryResponse>, Status> {
        Err(ApiError::Unimplemented("GetHistory").into())
    }

    async fn verify_history(
        &self,
        _: Request<pb::VerifyHistoryRequest>,
    ) -> Result<Response<pb::VerifyHistoryResponse>, Status> {
        Err(ApiError::Unimplemented("VerifyHistory").into())
    }
}
