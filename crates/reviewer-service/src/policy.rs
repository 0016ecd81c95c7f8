//! PolicyService: versioned control rules, impact analysis and determination.

use clearance_grpc::ApiError;
use clearance_proto::v1 as pb;
use clearance_proto::v1::policy_service_server::PolicyService;
use tonic::{Request, Response, Status};

/// PolicyService; each method is built by its issue and answers UNIMPLEMENTED until then.
#[derive(Debug, Clone, Default)]
pub struct PolicyApi;

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn list_rule_sets(
        &self,
        _: Request<pb::ListRuleSetsRequest>,
    ) -> Result<Response<pb::ListRuleSetsResponse>, Status> {
        Err(ApiError::Unimplemented("ListRuleSets").into())
    }

    async fn get_rule_set(
        &self,
        _: Request<pb::GetRuleSetRequest>,
    ) -> Result<Response<pb::RuleSet>, Status> {
        Err(ApiError::Unimplemented("GetRuleSet").into())
    }

    async fn publish_rule_set(
        &self,
        _: Request<pb::PublishRuleSetRequest>,
    ) -> Result<Response<pb::RuleSet>, Status> {
        Err(ApiError::Unimplemented("PublishRuleSet").into())
    }

    async fn analyze_impact(
        &self,
        _: Request<pb::AnalyzeImpactRequest>,
    ) -> Result<Response<pb::AnalyzeImpactResponse>, Status> {
        Err(ApiError::Unimplemented("AnalyzeImpact").into())
    }

    async fn determine(
        &self,
        _: Request<pb::DetermineRequest>,
    ) -> Result<Response<pb::Determination>, Status> {
        Err(ApiError::Unimplemented("Determine").into())
    }
}
