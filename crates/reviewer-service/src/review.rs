//! ReviewService: the case queue, the review workflow and the verifiable history.

use std::collections::HashMap;
use std::sync::Arc;

use clearance_domain::Violations;
use clearance_domain::access::Principal;
use clearance_domain::appeal::AppealOutcome;
use clearance_domain::etag::parse_etag;
use clearance_domain::history::verify_chain;
use clearance_domain::ids::Collection;
use clearance_domain::ledger::LicenceAction;
use clearance_domain::policy::LicenceTerms;
use clearance_domain::product::Product;
use clearance_domain::referral::{ReferralFilter, give_advice};
use clearance_domain::workflow::{Case, CaseFilter, ProposalInput, ReviewSettings};
use clearance_grpc::RuleBook;
use clearance_grpc::convert::{history_page, history_resource, product_to_pb};

use clearance_grpc::convert_case::{
    advice_from_pb, case_to_pb, line_indices_from_pb, referred_case_to_pb,
};

use clearance_domain::documents::referenced_documents;
use clearance_grpc::convert_ledger::{
    LicenceActionRequest, LicenceListing, act_on_licence, licence_page, licence_to_pb_at,
    shipment_page,
};
use clearance_grpc::convert_policy::from_timestamp;
use clearance_grpc::documents::{DocumentStream, download};
use clearance_grpc::workflow::{Step, StepTarget};
use clearance_grpc::{
    ApiError, ApiResult, Clock, mutation, request_sha256, respond, validate_list,
    validate_request_id,
};
use clearance_proto::v1 as pb;
use clearance_proto::v1::review_service_server::ReviewService;
use clearance_store::{DocumentFiles, ReferredCase, Store, due_sort_key, referral_sort_key};
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// Products one BatchGetProducts call may ask for.
const MAX_BATCH_PRODUCTS: usize = 100;

/// Serves ReviewService to the regulator's staff.
#[derive(Clone)]
pub struct ReviewApi {
    store: Store,
    files: DocumentFiles,
    settings: Arc<ReviewSettings>,
    clock: Arc<dyn Clock>,
    rules: RuleBook,
}

impl ReviewApi {
    pub fn new(
        store: Store,
        files: DocumentFiles,
        settings: Arc<ReviewSettings>,
        clock: Arc<dyn Clock>,
        rules: RuleBook,
    ) -> Self {
        ReviewApi {
            store,
            files,
            settings,
            clock,
            rules,
        }
    }

    fn step<'a>(&'a self, p: &'a Principal, method: &'static str, hash: String) -> Step<'a> {
        Step {
            store: &self.store,
            settings: self.settings.clone(),
            now: self.clock.now(),
            principal: p,
            scope: None,
            method,
            request_sha256: hash,
            pinned_products: Vec::new(),
            pinned_documents: Vec::new(),
            screening_gate: false,
        }
    }

    fn view(&self) -> impl Fn(&Case) -> pb::Case + Send + Sync + use<> {
        let settings = self.settings.clone();
        let today = self.clock.now().date_naive();
        move |case| case_to_pb(case, &settings, today)
    }
}

impl ReviewApi {
    async fn list_cases(
        &self,
        _principal: Principal,
        req: pb::ListCasesRequest,
    ) -> ApiResult<pb::ListCasesResponse> {
        let (filter, page) = validate_list(
            req.page_size,
            &req.page_token,
            &req.filter,
            "cases",
            CaseFilter::parse,
        )?;
        let today = self.clock.now().date_naive();
        let rows = self
            .store
            .list_cases(&filter, today, &page)
            .await
            .map_err(|e| ApiError::from_store("cases", e))?;
        let (rows, next_page_token) =
            page.finish_sorted_page(rows, |c| (due_sort_key(c.due_date), c.application.id));
        let view = self.view();
        Ok(pb::ListCasesResponse {
            cases: rows.iter().map(view).collect(),
            next_page_token,
        })
    }

    async fn get_case(
        &self,
        _principal: Principal,
        req: pb::GetCaseRequest,
    ) -> ApiResult<pb::Case> {
        let id = Collection::Applications.parse_name("name", &req.name)?;
        let case = self
            .store
            .get_case(None, id)
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        Ok(self.view()(&case))
    }

    async fn assign_case(&self, p: Principal, req: pb::AssignCaseRequest) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let assignee = req.assignee;
        self.step(&p, "/clearance.v1.ReviewService/AssignCase", hash)
            .run(
                target,
                move |case, ctx| case.assign(ctx, &assignee),
                self.view(),
            )
            .await
    }

    async fn request_information(
        &self,
        p: Principal,
        req: pb::RequestInformationRequest,
    ) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let due = req
            .response_due_time
            .as_ref()
            .map(|t| from_timestamp("response_due_time", t).map(|t| t.date_naive()))
            .transpose()?;
        let question = req.question;
        self.step(&p, "/clearance.v1.ReviewService/RequestInformation", hash)
            .run(
                target,
                move |case, ctx| case.request_information(ctx, &question, due),
                self.view(),
            )
            .await
    }

    async fn add_note(&self, p: Principal, req: pb::AddNoteRequest) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let (text, visible) = (req.text, req.visible_to_applicant);
        self.step(&p, "/clearance.v1.ReviewService/AddNote", hash)
            .run(
                target,
                move |case, ctx| case.add_note(ctx, &text, visible),
                self.view(),
            )
            .await
    }

    async fn propose_decision(
        &self,
        p: Principal,
        req: pb::ProposeDecisionRequest,
    ) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let mut v = Violations::new();
        let validity_months = u32::try_from(req.validity_months).unwrap_or_else(|_| {
            v.add("validity_months", "must not be negative");
            0
        });
        if !v.is_empty() {
            return Err(v.into());
        }
        let input = ProposalInput {
            justification: req.justification,
            approve: req.approve,
            reason: req.reason,
            granted_quantities: req.granted_quantities,
            conditions: req.conditions,
            validity_months,
            value_tolerance_percent: req.value_tolerance_percent.map(i64::from),
        };
        Step {
            screening_gate: true,
            ..self.step(&p, "/clearance.v1.ReviewService/ProposeDecision", hash)
        }
        .run(
            target,
            move |case, ctx| case.propose(ctx, input.clone()),
            self.view(),
        )
        .await
    }

    async fn countersign_decision(
        &self,
        p: Principal,
        req: pb::CountersignDecisionRequest,
    ) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let terms_now = self.terms_now(target.id).await?;
        Step {
            screening_gate: true,
            ..self.step(&p, "/clearance.v1.ReviewService/CountersignDecision", hash)
        }
        .run(
            target,
            move |case, ctx| case.countersign_under(ctx, &terms_now),
            self.view(),
        )
        .await
    }

    /// What the rules in force now require of a licence on the application `id` (its lines
    /// determined afresh, with its certifications); nothing for an application not found
    /// (the step then says so).
    async fn terms_now(&self, id: uuid::Uuid) -> ApiResult<LicenceTerms> {
        let case = match self.store.get_case(None, id).await {
            Ok(case) => case,
            Err(_) => return Ok(LicenceTerms::default()),
        };
        let application = &case.application;
        let (determinations, _) = self
            .rules
            .determine_lines(
                &application.organisation,
                &application.content,
                self.clock.now(),
            )
            .await?;
        Ok(determinations
            .iter()
            .fold(LicenceTerms::default(), |acc, d| {
                acc.merge(&d.licence_terms())
            }))
    }

    async fn reject_proposal(
        &self,
        p: Principal,
        req: pb::RejectProposalRequest,
    ) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let reason = req.reason;
        self.step(&p, "/clearance.v1.ReviewService/RejectProposal", hash)
            .run(
                target,
                move |case, ctx| case.reject_proposal(ctx, &reason),
                self.view(),
            )
            .await
    }

    async fn return_application(
        &self,
        p: Principal,
        req: pb::ReturnApplicationRequest,
    ) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let reason = req.reason;
        self.step(&p, "/clearance.v1.ReviewService/ReturnApplication", hash)
            .run(
                target,
                move |case, ctx| case.return_application(ctx, &reason),
                self.view(),
            )
            .await
    }

    async fn resolve_screening_hit(
        &self,
        p: Principal,
        req: pb::ResolveScreeningHitRequest,
    ) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let malformed =
            || Violations::single("name", "must be 'applications/{id}/screeningHits/{id}'");
        let (application, hit) = req
            .name
            .split_once("/screeningHits/")
            .ok_or_else(malformed)?;
        let hit = uuid::Uuid::try_parse(hit).map_err(|_| malformed())?;
        let target = StepTarget::parse(application, &req.etag, &req.request_id)?;
        let (confirm, reason) = (req.confirm, req.reason);
        self.step(&p, "/clearance.v1.ReviewService/ResolveScreeningHit", hash)
            .run(
                target,
                move |case, ctx| case.resolve_screening(ctx, hit, confirm, &reason),
                self.view(),
            )
            .await
    }

    async fn decide_appeal(
        &self,
        p: Principal,
        req: pb::DecideAppealRequest,
    ) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let mut v = Violations::new();
        let target = v.check("", StepTarget::parse(&req.name, &req.etag, &req.request_id));
        let outcome = match pb::AppealOutcome::try_from(req.outcome) {
            Ok(pb::AppealOutcome::Upheld) => Some(AppealOutcome::Upheld),
            Ok(pb::AppealOutcome::Overturned) => Some(AppealOutcome::Overturned),
            _ => {
                v.add("outcome", "must be UPHELD or OVERTURNED");
                None
            }
        };
        let (Some(target), Some(outcome)) = (target, outcome) else {
            return Err(v.into());
        };
        let reason = req.reason;
        self.step(&p, "/clearance.v1.ReviewService/DecideAppeal", hash)
            .run(
                target,
                move |case, ctx| case.decide_appeal(ctx, outcome, &reason),
                self.view(),
            )
            .await
    }

    async fn refer_case(&self, p: Principal, req: pb::ReferCaseRequest) -> ApiResult<pb::Case> {
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let lines = line_indices_from_pb("line_numbers", &req.line_numbers)?;
        let agencies = req.agencies;
        self.step(&p, "/clearance.v1.ReviewService/ReferCase", hash)
            .run(
                target,
                move |case, ctx| case.refer(ctx, &agencies, &lines),
                self.view(),
            )
            .await
    }

    fn referral_view(&self) -> impl Fn(&ReferredCase) -> pb::Referral + Send + Sync + use<> {
        let today = self.clock.now().date_naive();
        move |r| referred_case_to_pb(&r.referral, &r.case, today)
    }

    async fn list_referrals(
        &self,
        p: Principal,
        req: pb::ListReferralsRequest,
    ) -> ApiResult<pb::ListReferralsResponse> {
        let (filter, page) = validate_list(
            req.page_size,
            &req.page_token,
            &req.filter,
            "referrals",
            ReferralFilter::parse,
        )?;
        let today = self.clock.now().date_naive();
        let rows = self
            .store
            .list_referrals(&filter, p.agency.as_deref(), today, &page)
            .await
            .map_err(|e| ApiError::from_store("referrals", e))?;
        let (rows, next_page_token) =
            page.finish_sorted_page(rows, |r| referral_sort_key(&r.referral));
        let view = self.referral_view();
        Ok(pb::ListReferralsResponse {
            referrals: rows.iter().map(view).collect(),
            next_page_token,
        })
    }

    async fn get_referral(
        &self,
        p: Principal,
        req: pb::GetReferralRequest,
    ) -> ApiResult<pb::Referral> {
        let id = Collection::Referrals.parse_name("name", &req.name)?;
        let found = self
            .store
            .get_referral(id, p.agency.as_deref())
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        Ok(self.referral_view()(&found))
    }

    async fn give_advice(
        &self,
        p: Principal,
        req: pb::GiveAdviceRequest,
    ) -> ApiResult<pb::Referral> {
        let hash = request_sha256(&req);
        let mut v = Violations::new();
        let id = v.check("", Collection::Referrals.parse_name("name", &req.name));
        let version = v.check("", parse_etag("etag", &req.etag));
        let request_id = v.check("", validate_request_id(&req.request_id));
        let advice = v.check("", advice_from_pb(&req.advice));
        if req.advice.is_empty() {
            v.add("advice", "give advice on every referred line");
        }
        let (Some(id), Some(version), Some(request_id), Some(advice)) =
            (id, version, request_id, advice)
        else {
            return Err(v.into());
        };
        if !v.is_empty() {
            return Err(v.into());
        }
        // The gate admits only advisers, and every adviser's token names its agency.
        let agency = p.agency.clone().unwrap_or_default();
        let now = self.clock.now();
        let m = mutation(
            &p,
            None,
            request_id.clone(),
            "/clearance.v1.ReviewService/GiveAdvice",
            hash,
            now,
        );
        let view = self.referral_view();
        let outcome = self
            .store
            .give_advice(
                &m,
                id,
                &agency,
                version,
                move |referral, state| {
                    give_advice(referral, state, &p, &request_id, now, advice.clone())
                },
                &|r| view(r).encode_to_vec(),
            )
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        respond(outcome, self.referral_view())
    }

    async fn list_all_licences(
        &self,
        _principal: Principal,
        req: pb::ListAllLicencesRequest,
    ) -> ApiResult<pb::ListAllLicencesResponse> {
        let listing = LicenceListing {
            page_size: req.page_size,
            page_token: &req.page_token,
            filter: &req.filter,
        };
        let (licences, next_page_token) =
            licence_page(&self.store, None, listing, self.clock.now()).await?;
        Ok(pb::ListAllLicencesResponse {
            licences,
            next_page_token,
        })
    }

    async fn list_all_shipments(
        &self,
        _principal: Principal,
        req: pb::ListAllShipmentsRequest,
    ) -> ApiResult<pb::ListAllShipmentsResponse> {
        let listing = LicenceListing {
            page_size: req.page_size,
            page_token: &req.page_token,
            filter: &req.filter,
        };
        let (shipments, next_page_token) = shipment_page(&self.store, None, listing).await?;
        Ok(pb::ListAllShipmentsResponse {
            shipments,
            next_page_token,
        })
    }

    async fn get_any_licence(
        &self,
        _principal: Principal,
        req: pb::GetAnyLicenceRequest,
    ) -> ApiResult<pb::Licence> {
        let id = Collection::Licences.parse_name("name", &req.name)?;
        let licence = self
            .store
            .get_licence(None, id)
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        Ok(licence_to_pb_at(&licence, self.clock.now()))
    }

    async fn batch_get_products(
        &self,
        _principal: Principal,
        req: pb::BatchGetProductsRequest,
    ) -> ApiResult<pb::BatchGetProductsResponse> {
        if req.names.len() > MAX_BATCH_PRODUCTS {
            return Err(Violations::single(
                "names",
                format!("must have at most {MAX_BATCH_PRODUCTS} entries"),
            )
            .into());
        }
        let mut v = Violations::new();
        let ids: Vec<Uuid> = req
            .names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                v.check(
                    "",
                    Collection::Products.parse_name(&format!("names[{i}]"), n),
                )
            })
            .collect();
        if !v.is_empty() {
            return Err(v.into());
        }
        let found: HashMap<Uuid, Product> = self
            .store
            .get_any_products(&ids)
            .await
            .map_err(|e| ApiError::from_store("products", e))?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let products = ids
            .iter()
            .zip(&req.names)
            .map(|(id, name)| {
                found
                    .get(id)
                    .map(product_to_pb)
                    .ok_or_else(|| ApiError::NotFound(name.clone()))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(pb::BatchGetProductsResponse { products })
    }

    async fn get_history(
        &self,
        _principal: Principal,
        req: pb::GetHistoryRequest,
    ) -> ApiResult<pb::GetHistoryResponse> {
        let (entries, next_page_token) = history_page(
            &self.store,
            None,
            &req.resource,
            req.page_size,
            &req.page_token,
        )
        .await?;
        Ok(pb::GetHistoryResponse {
            entries,
            next_page_token,
        })
    }

    async fn verify_history(
        &self,
        _principal: Principal,
        req: pb::VerifyHistoryRequest,
    ) -> ApiResult<pb::VerifyHistoryResponse> {
        let resource = history_resource(&req.resource)?;
        let entries = self
            .store
            .history(&resource, None)
            .await
            .map_err(|e| ApiError::from_store(&resource, e))?;
        if entries.is_empty() {
            return Err(ApiError::NotFound(resource));
        }
        let verdict = verify_chain(&entries);
        let (altered_documents, missing_documents) = self.judge_documents(&resource).await?;
        Ok(pb::VerifyHistoryResponse {
            intact: verdict.first_broken_sequence.is_none()
                && altered_documents.is_empty()
                && missing_documents.is_empty(),
            entries_checked: verdict.entries_checked,
            first_broken_sequence: verdict.first_broken_sequence.unwrap_or_default(),
            altered_documents,
            missing_documents,
        })
    }

    /// For an application, the documents it rests on whose stored bytes no longer hash to
    /// the SHA-256 on the record, and those whose bytes are gone.
    async fn judge_documents(&self, resource: &str) -> ApiResult<(Vec<String>, Vec<String>)> {
        let Ok(id) = Collection::Applications.parse_name("resource", resource) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let case = self
            .store
            .get_case(None, id)
            .await
            .map_err(|e| ApiError::from_store(resource, e))?;
        let (mut altered, mut missing) = (Vec::new(), Vec::new());
        for document in referenced_documents(&case) {
            let now = self
                .files
                .rehash(&document.sha256)
                .await
                .map_err(|e| ApiError::from_store(resource, e))?;
            let name = format!("{resource}/documents/{}", document.sha256);
            match now {
                None => missing.push(name),
                Some(h) if h != document.sha256 => altered.push(name),
                Some(_) => {}
            }
        }
        altered.dedup();
        missing.dedup();
        Ok((altered, missing))
    }

    async fn download_case_document(
        &self,
        req: pb::DownloadDocumentRequest,
    ) -> ApiResult<DocumentStream> {
        download(&self.store, &self.files, None, &req.name).await
    }
}

#[tonic::async_trait]
impl ReviewService for ReviewApi {
    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        clearance_grpc::handle!(self, request, list_cases)
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, get_case)
    }

    async fn assign_case(
        &self,
        request: Request<pb::AssignCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, assign_case, first_answer)
    }

    async fn request_information(
        &self,
        request: Request<pb::RequestInformationRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, request_information, first_answer)
    }

    async fn add_note(
        &self,
        request: Request<pb::AddNoteRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, add_note, first_answer)
    }

    async fn propose_decision(
        &self,
        request: Request<pb::ProposeDecisionRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, propose_decision, first_answer)
    }

    async fn countersign_decision(
        &self,
        request: Request<pb::CountersignDecisionRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, countersign_decision, first_answer)
    }

    async fn reject_proposal(
        &self,
        request: Request<pb::RejectProposalRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, reject_proposal, first_answer)
    }

    async fn return_application(
        &self,
        request: Request<pb::ReturnApplicationRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, return_application, first_answer)
    }

    async fn list_all_licences(
        &self,
        request: Request<pb::ListAllLicencesRequest>,
    ) -> Result<Response<pb::ListAllLicencesResponse>, Status> {
        clearance_grpc::handle!(self, request, list_all_licences)
    }

    async fn list_all_shipments(
        &self,
        request: Request<pb::ListAllShipmentsRequest>,
    ) -> Result<Response<pb::ListAllShipmentsResponse>, Status> {
        clearance_grpc::handle!(self, request, list_all_shipments)
    }

    async fn batch_get_products(
        &self,
        request: Request<pb::BatchGetProductsRequest>,
    ) -> Result<Response<pb::BatchGetProductsResponse>, Status> {
        clearance_grpc::handle!(self, request, batch_get_products)
    }

    async fn get_any_licence(
        &self,
        request: Request<pb::GetAnyLicenceRequest>,
    ) -> Result<Response<pb::Licence>, Status> {
        clearance_grpc::handle!(self, request, get_any_licence)
    }

    async fn suspend_licence(
        &self,
        request: Request<pb::SuspendLicenceRequest>,
    ) -> Result<Response<pb::Licence>, Status> {
        let p = clearance_grpc::principal(&request)?;
        let r = request.into_inner();
        let hash = request_sha256(&r);
        act_on_licence(
            &self.store,
            self.clock.now(),
            p,
            LicenceAction::Suspend,
            licence_action(r.name, r.request_id, r.etag, r.reason),
            hash,
        )
        .await
        .map(Response::new)
        .map_err(Status::from)
    }

    async fn revoke_licence(
        &self,
        request: Request<pb::RevokeLicenceRequest>,
    ) -> Result<Response<pb::Licence>, Status> {
        let p = clearance_grpc::principal(&request)?;
        let r = request.into_inner();
        let hash = request_sha256(&r);
        act_on_licence(
            &self.store,
            self.clock.now(),
            p,
            LicenceAction::Revoke,
            licence_action(r.name, r.request_id, r.etag, r.reason),
            hash,
        )
        .await
        .map(Response::new)
        .map_err(Status::from)
    }

    async fn reinstate_licence(
        &self,
        request: Request<pb::ReinstateLicenceRequest>,
    ) -> Result<Response<pb::Licence>, Status> {
        let p = clearance_grpc::principal(&request)?;
        let r = request.into_inner();
        let hash = request_sha256(&r);
        act_on_licence(
            &self.store,
            self.clock.now(),
            p,
            LicenceAction::Reinstate,
            licence_action(r.name, r.request_id, r.etag, r.reason),
            hash,
        )
        .await
        .map(Response::new)
        .map_err(Status::from)
    }

    async fn resolve_screening_hit(
        &self,
        request: Request<pb::ResolveScreeningHitRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, resolve_screening_hit, first_answer)
    }

    async fn decide_appeal(
        &self,
        request: Request<pb::DecideAppealRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, decide_appeal, first_answer)
    }

    async fn refer_case(
        &self,
        request: Request<pb::ReferCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        clearance_grpc::handle!(self, request, refer_case, first_answer)
    }

    async fn list_referrals(
        &self,
        request: Request<pb::ListReferralsRequest>,
    ) -> Result<Response<pb::ListReferralsResponse>, Status> {
        clearance_grpc::handle!(self, request, list_referrals)
    }

    async fn get_referral(
        &self,
        request: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        clearance_grpc::handle!(self, request, get_referral)
    }

    async fn give_advice(
        &self,
        request: Request<pb::GiveAdviceRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        clearance_grpc::handle!(self, request, give_advice, first_answer)
    }

    type DownloadDocumentStream = DocumentStream;

    async fn download_document(
        &self,
        request: Request<pb::DownloadDocumentRequest>,
    ) -> Result<Response<Self::DownloadDocumentStream>, Status> {
        clearance_grpc::principal(&request)?;
        self.download_case_document(request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn get_history(
        &self,
        request: Request<pb::GetHistoryRequest>,
    ) -> Result<Response<pb::GetHistoryResponse>, Status> {
        clearance_grpc::handle!(self, request, get_history)
    }

    async fn verify_history(
        &self,
        request: Request<pb::VerifyHistoryRequest>,
    ) -> Result<Response<pb::VerifyHistoryResponse>, Status> {
        clearance_grpc::handle!(self, request, verify_history)
    }
}

fn licence_action(
    name: String,
    request_id: String,
    etag: String,
    reason: String,
) -> LicenceActionRequest {
    LicenceActionRequest {
        name,
        request_id,
        etag,
        reason,
    }
}
