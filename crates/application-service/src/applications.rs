//! ApplicationService: products, applications and (later) licences and determination.

use std::sync::Arc;

use clearance_domain::access::Principal;

use clearance_domain::amendment::{AmendedLineInput, AmendmentInput, request_amendment};
use clearance_domain::application::{ApplicationContent, ApplicationFilter, DocumentInput};
use clearance_domain::ids::Collection;
use clearance_domain::ids::OrganisationId;
use clearance_domain::ledger::LicenceAction;
use clearance_domain::policy::determine::Export;
use clearance_domain::product::{ProductFilter, ProductSpec};
use clearance_domain::screening::{PartyScreening, screen_parties};
use clearance_domain::workflow::{Case, ReviewSettings};
use clearance_domain::{DomainError, Violations};
use clearance_grpc::convert::{
    application_input, application_to_pb, document_input, money_input, party_input, product_input,
    product_to_pb, update_mask_paths,
};
use clearance_grpc::convert_case::{Viewer, case_application_to_pb};
use clearance_grpc::convert_ledger::{
    LicenceActionRequest, LicenceListing, act_on_licence, licence_page, licence_to_pb_at,
};
use clearance_grpc::convert_policy::from_timestamp;
use clearance_grpc::convert_policy::{determination_to_pb, export_query};
use clearance_grpc::workflow::{Step, StepTarget};
use clearance_grpc::{
    ApiError, ApiResult, Clock, RuleBook, Screener, UpdateTarget, mutation, request_sha256,
    respond, validate_create, validate_list, validate_request_id, validate_update,
};
use clearance_proto::v1 as pb;
use clearance_proto::v1::application_service_server::ApplicationService;
use clearance_store::Store;

use crate::documents::Documents;
use prost::Message;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// Serves ApplicationService for exporter organisations.
#[derive(Clone)]
pub struct ApplicationApi {
    store: Store,
    rules: RuleBook,
    screener: Screener,
    documents: Documents,
    settings: Arc<ReviewSettings>,
    clock: Arc<dyn Clock>,
}

impl ApplicationApi {
    pub fn new(
        store: Store,
        rules: RuleBook,
        screener: Screener,
        documents: Documents,
        settings: Arc<ReviewSettings>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        ApplicationApi {
            store,
            rules,
            screener,
            documents,
            settings,
            clock,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn documents(&self) -> &Documents {
        &self.documents
    }

    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The applicant's view of a case on today's date.
    fn view(&self) -> impl Fn(&Case) -> pb::Application + Send + Sync + use<> {
        let today = self.clock.now().date_naive();
        move |case| case_application_to_pb(case, Viewer::Applicant, today)
    }

    fn step<'a>(
        &'a self,
        p: &'a Principal,
        org: OrganisationId,
        method: &'static str,
        hash: String,
    ) -> Step<'a> {
        Step {
            store: &self.store,
            settings: self.settings.clone(),
            now: self.clock.now(),
            principal: p,
            scope: Some(org),
            method,
            request_sha256: hash,
            pinned_products: Vec::new(),
            pinned_documents: Vec::new(),
            screening_gate: false,
        }
    }
}

/// Prefixes violations of a nested message with its field name.
fn nested(prefix: &str) -> impl Fn(Violations) -> DomainError + Clone + use<> {
    let prefix = prefix.to_owned();
    move |inner| {
        let mut v = Violations::new();
        v.absorb(&prefix, inner);
        DomainError::Invalid(v)
    }
}

impl ApplicationApi {
    async fn create_product(
        &self,
        p: Principal,
        req: pb::CreateProductRequest,
    ) -> ApiResult<pb::Product> {
        let org = p.exporter_organisation()?.clone();
        let (request_id, spec) = validate_create(&req.request_id, "product", &req.product, |b| {
            ProductSpec::parse(product_input(b))
        })?;
        let m = mutation(
            &p,
            Some(org),
            request_id,
            concat!("/clearance.v1.ApplicationService/", "CreateProduct"),
            request_sha256(&req),
            self.clock.now(),
        );
        let outcome = self
            .store
            .create_product(&m, &spec, &|x| product_to_pb(x).encode_to_vec())
            .await
            .map_err(|e| ApiError::from_store("product", e))?;
        respond(outcome, product_to_pb)
    }

    async fn report_us_shipments(
        &self,
        p: Principal,
        req: pb::ReportUsShipmentsRequest,
    ) -> ApiResult<pb::UsShipmentReport> {
        let org = p.exporter_organisation()?.clone();
        let mut v = Violations::new();
        let product = v.check("", Collection::Products.parse_name("product", &req.product));
        let request_id = v.check("", clearance_grpc::validate_request_id(&req.request_id));
        let units = v.check(
            "",
            clearance_domain::ledger::parse_us_units("units_shipped", req.units_shipped),
        );
        let (Some(product), Some(request_id), Some(units), true) =
            (product, request_id, units, v.is_empty())
        else {
            return Err(v.into());
        };
        let m = mutation(
            &p,
            Some(org),
            request_id,
            concat!("/clearance.v1.ApplicationService/", "ReportUsShipments"),
            request_sha256(&req),
            self.clock.now(),
        );
        let outcome = self
            .store
            .report_us_shipments(&m, product, units, &|x| {
                us_shipment_report_to_pb(x).encode_to_vec()
            })
            .await
            .map_err(|e| ApiError::from_store(&req.product, e))?;
        respond(outcome, us_shipment_report_to_pb)
    }

    async fn list_us_shipment_reports(
        &self,
        p: Principal,
        req: pb::ListUsShipmentReportsRequest,
    ) -> ApiResult<pb::ListUsShipmentReportsResponse> {
        let org = p.exporter_organisation()?;
        let product = Collection::Products.parse_name("product", &req.product)?;
        let (reports, position) = self
            .store
            .us_shipment_reports(org, product)
            .await
            .map_err(|e| ApiError::from_store(&req.product, e))?;
        Ok(pb::ListUsShipmentReportsResponse {
            reports: reports.iter().map(us_shipment_report_to_pb).collect(),
            capped_units_shipped: position.capped_units,
        })
    }

    async fn get_product(
        &self,
        p: Principal,
        req: pb::GetProductRequest,
    ) -> ApiResult<pb::Product> {
        let org = p.exporter_organisation()?;
        let id = Collection::Products.parse_name("name", &req.name)?;
        let product = self
            .store
            .get_product(org, id)
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        Ok(product_to_pb(&product))
    }

    async fn list_products(
        &self,
        p: Principal,
        req: pb::ListProductsRequest,
    ) -> ApiResult<pb::ListProductsResponse> {
        let org = p.exporter_organisation()?;
        let (filter, page) = validate_list(
            req.page_size,
            &req.page_token,
            &req.filter,
            &format!("products|{org}"),
            ProductFilter::parse,
        )?;
        let rows = self
            .store
            .list_products(org, &filter, &page)
            .await
            .map_err(|e| ApiError::from_store("products", e))?;
        let (rows, next_page_token) = page.finish_page(rows, |r| r.id);
        Ok(pb::ListProductsResponse {
            products: rows.iter().map(product_to_pb).collect(),
            next_page_token,
        })
    }

    async fn update_product(
        &self,
        p: Principal,
        req: pb::UpdateProductRequest,
    ) -> ApiResult<pb::Product> {
        let org = p.exporter_organisation()?.clone();
        let hash = request_sha256(&req);
        let mask = update_mask_paths(req.update_mask);
        // A missing body shows as missing name and etag.
        let product = req.product.unwrap_or_default();
        let name = product.name.clone();
        let UpdateTarget {
            request_id,
            id,
            version,
        } = validate_update(
            &req.request_id,
            &mask,
            &ProductSpec::UPDATABLE_FIELDS,
            "product",
            Collection::Products,
            &product.name,
            &product.etag,
        )?;
        let input = product_input(product);
        let invalid = nested("product");
        let update = move |current: &clearance_domain::product::Product| {
            current
                .spec
                .apply_update(input.clone(), &mask)
                .map_err(invalid.clone())
        };
        let m = mutation(
            &p,
            Some(org),
            request_id,
            concat!("/clearance.v1.ApplicationService/", "UpdateProduct"),
            hash,
            self.clock.now(),
        );
        let outcome = self
            .store
            .update_product(&m, id, version, update, &|x| {
                product_to_pb(x).encode_to_vec()
            })
            .await
            .map_err(|e| ApiError::from_store(&name, e))?;
        respond(outcome, product_to_pb)
    }

    async fn create_application(
        &self,
        p: Principal,
        req: pb::CreateApplicationRequest,
    ) -> ApiResult<pb::Application> {
        let org = p.exporter_organisation()?.clone();
        let (request_id, content) =
            validate_create(&req.request_id, "application", &req.application, |b| {
                ApplicationContent::parse(application_input(b))
            })?;
        let named = content.documents.iter().map(DocumentInput::from).collect();
        self.require_uploaded(&org, "application.documents", named)
            .await?;
        let m = mutation(
            &p,
            Some(org),
            request_id,
            concat!("/clearance.v1.ApplicationService/", "CreateApplication"),
            request_sha256(&req),
            self.clock.now(),
        );
        let outcome = self
            .store
            .create_application(&m, &content, &|x| application_to_pb(x).encode_to_vec())
            .await
            .map_err(|e| {
                ApiError::from_store("application", prefix_store_violations(e, "application"))
            })?;
        respond(outcome, application_to_pb)
    }

    async fn request_amendment(
        &self,
        p: Principal,
        req: pb::RequestAmendmentRequest,
    ) -> ApiResult<pb::Application> {
        let org = p.exporter_organisation()?.clone();
        let hash = request_sha256(&req);
        let mut v = Violations::new();
        let licence_id = v.check("", Collection::Licences.parse_name("licence", &req.licence));
        let request_id = v.check("", validate_request_id(&req.request_id));
        let valid_until = req
            .valid_until_time
            .as_ref()
            .and_then(|t| v.check("", from_timestamp("valid_until_time", t)));
        let (Some(licence_id), Some(request_id)) = (licence_id, request_id) else {
            return Err(v.into());
        };
        if !v.is_empty() {
            return Err(v.into());
        }
        let input = AmendmentInput {
            lines: req
                .lines
                .into_iter()
                .map(|l| AmendedLineInput {
                    line_number: i64::from(l.line_number),
                    quantity: l.quantity,
                    unit_value: l.unit_value.map(money_input),
                })
                .collect(),
            consignee: req.consignee.map(party_input),
            valid_until,
            reasons: req.reasons,
        };
        let now = self.clock.now();
        let m = mutation(
            &p,
            Some(org),
            request_id,
            "/clearance.v1.ApplicationService/RequestAmendment",
            hash,
            now,
        );
        let outcome = self
            .store
            .request_amendment(
                &m,
                licence_id,
                move |licence, original| request_amendment(licence, original, input.clone(), now),
                &|x| application_to_pb(x).encode_to_vec(),
            )
            .await
            .map_err(|e| ApiError::from_store(&req.licence, e))?;
        respond(outcome, application_to_pb)
    }

    async fn get_application(
        &self,
        p: Principal,
        req: pb::GetApplicationRequest,
    ) -> ApiResult<pb::Application> {
        let org = p.exporter_organisation()?;
        let id = Collection::Applications.parse_name("name", &req.name)?;
        let case = self
            .store
            .get_case(Some(org), id)
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        Ok(self.view()(&case))
    }

    async fn list_applications(
        &self,
        p: Principal,
        req: pb::ListApplicationsRequest,
    ) -> ApiResult<pb::ListApplicationsResponse> {
        let org = p.exporter_organisation()?;
        let (filter, page) = validate_list(
            req.page_size,
            &req.page_token,
            &req.filter,
            &format!("applications|{org}"),
            ApplicationFilter::parse,
        )?;
        let rows = self
            .store
            .list_applications(org, &filter, &page)
            .await
            .map_err(|e| ApiError::from_store("applications", e))?;
        let (rows, next_page_token) = page.finish_page(rows, |r| r.application.id);
        Ok(pb::ListApplicationsResponse {
            applications: rows.iter().map(self.view()).collect(),
            next_page_token,
        })
    }

    async fn update_application(
        &self,
        p: Principal,
        req: pb::UpdateApplicationRequest,
    ) -> ApiResult<pb::Application> {
        let org = p.exporter_organisation()?.clone();
        let hash = request_sha256(&req);
        let mask = update_mask_paths(req.update_mask);
        // A missing body shows as missing name and etag.
        let application = req.application.unwrap_or_default();
        let name = application.name.clone();
        let UpdateTarget {
            request_id,
            id,
            version,
        } = validate_update(
            &req.request_id,
            &mask,
            &ApplicationContent::UPDATABLE_FIELDS,
            "application",
            Collection::Applications,
            &application.name,
            &application.etag,
        )?;
        let input = application_input(application);
        if mask.is_empty() || mask.iter().any(|p| p == "documents") {
            let named = input.documents.clone();
            self.require_uploaded(&org, "application.documents", named)
                .await?;
        }
        let invalid = nested("application");
        let update = move |current: &clearance_domain::application::Application| {
            current.ensure_editable()?;
            current
                .content
                .apply_update(input.clone(), &mask)
                .map_err(invalid.clone())
        };
        let m = mutation(
            &p,
            Some(org),
            request_id,
            concat!("/clearance.v1.ApplicationService/", "UpdateApplication"),
            hash,
            self.clock.now(),
        );
        let outcome = self
            .store
            .update_application(&m, id, version, update, &|x| {
                application_to_pb(x).encode_to_vec()
            })
            .await
            .map_err(|e| ApiError::from_store(&name, prefix_store_violations(e, "application")))?;
        respond(outcome, application_to_pb)
    }
}

impl ApplicationApi {
    async fn determine_requirement(
        &self,
        p: Principal,
        req: pb::DetermineRequirementRequest,
    ) -> ApiResult<pb::Determination> {
        let org = p.exporter_organisation()?;
        let mut v = Violations::new();
        // A stored product of the caller's, or the item described inline.
        let stored = match (req.product.is_empty(), req.item) {
            (false, None) => v
                .check("", Collection::Products.parse_name("product", &req.product))
                .map(Ok),
            (true, Some(item)) => v
                .check(
                    "item",
                    clearance_domain::product::parse_controlled_item(&product_input(item)),
                )
                .map(Err),
            (false, Some(_)) => {
                v.add("item", "give either product or item, not both");
                None
            }
            (true, None) => {
                v.add(
                    "product",
                    "is required (or describe the item inline in item)",
                );
                None
            }
        };
        let query = export_query(
            &mut v,
            &req.destination_country_code,
            &req.end_user_headquarters_country_code,
            req.export_time.as_ref(),
            req.transaction_kind,
            self.clock.now(),
        );
        let certifications =
            clearance_grpc::convert_policy::stated_certifications(&mut v, req.certifications);
        let (Some(stored), Some(query), true) = (stored, query, v.is_empty()) else {
            return Err(v.into());
        };
        let (classification, item) = match stored {
            Ok(id) => {
                let product = self
                    .store
                    .get_product(org, id)
                    .await
                    .map_err(|e| ApiError::from_store(&req.product, e))?;
                (
                    product.spec.classification.clone(),
                    product.controlled_item(),
                )
            }
            Err(inline) => inline,
        };
        let export = Export {
            item,
            classification: &classification,
            destination: &query.destination,
            end_user_headquarters: query.end_user_headquarters.as_ref(),
            transaction: query.transaction,
            certifications: certifications.as_deref(),
        };
        Ok(determination_to_pb(
            &self.rules.determine(&export, query.at).await?,
        ))
    }
}

impl ApplicationApi {
    async fn submit_application(
        &self,
        p: Principal,
        req: pb::SubmitApplicationRequest,
    ) -> ApiResult<pb::Application> {
        let org = p.exporter_organisation()?.clone();
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        // Determinations are computed from the case as read; the step refuses if it changed.
        let case = self
            .store
            .get_case(Some(&org), target.id)
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        // A draft may name a document deleted since; the regulator must be able to read it.
        let named = case
            .application
            .content
            .documents
            .iter()
            .map(DocumentInput::from)
            .collect();
        let pinned_documents = self.require_uploaded(&org, "documents", named).await?;
        let (determinations, pinned_products) = self
            .rules
            .determine_lines(&org, &case.application.content, self.clock.now())
            .await?;
        let (screened, screened_through) = self.screen_parties(&case).await?;
        let declared = req.declaration_confirmed;
        let step = Step {
            pinned_products,
            pinned_documents,
            ..self.step(
                &p,
                org,
                "/clearance.v1.ApplicationService/SubmitApplication",
                hash,
            )
        };
        step.run(
            target,
            move |case, ctx| {
                case.submit(
                    ctx,
                    declared,
                    determinations.clone(),
                    screened.clone(),
                    screened_through,
                )
            },
            self.view(),
        )
        .await
    }

    /// Every party of the application against the lists in force: the parties with hits, and
    /// how many list versions had been imported when they were screened.
    async fn screen_parties(&self, case: &Case) -> ApiResult<(Vec<PartyScreening>, i64)> {
        let (index, through) = self.screener.index_with_count().await?;
        let screened = screen_parties(
            &index,
            &case.application.content.parties,
            self.screener.threshold(),
        );
        Ok((screened, through))
    }

    async fn withdraw_application(
        &self,
        p: Principal,
        req: pb::WithdrawApplicationRequest,
    ) -> ApiResult<pb::Application> {
        let org = p.exporter_organisation()?.clone();
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let reason = req.reason;
        let step = self.step(
            &p,
            org,
            "/clearance.v1.ApplicationService/WithdrawApplication",
            hash,
        );
        step.run(
            target,
            move |case, ctx| case.withdraw(ctx, &reason),
            self.view(),
        )
        .await
    }

    async fn answer_information_request(
        &self,
        p: Principal,
        req: pb::AnswerInformationRequestRequest,
    ) -> ApiResult<pb::Application> {
        let org = p.exporter_organisation()?.clone();
        let hash = request_sha256(&req);
        let (application, request_part) =
            req.name
                .split_once("/informationRequests/")
                .ok_or_else(|| {
                    Violations::single(
                        "name",
                        "must be 'applications/{id}/informationRequests/{id}'",
                    )
                })?;
        let target = StepTarget::parse(application, &req.etag, &req.request_id)?;
        let request_id = Uuid::try_parse(request_part).map_err(|_| {
            Violations::single(
                "name",
                "must be 'applications/{id}/informationRequests/{id}'",
            )
        })?;
        let answer = req.answer;
        let documents: Vec<DocumentInput> = req.documents.into_iter().map(document_input).collect();
        let pinned_documents = self
            .require_uploaded(&org, "documents", documents.clone())
            .await?;
        let step = Step {
            pinned_documents,
            ..self.step(
                &p,
                org,
                "/clearance.v1.ApplicationService/AnswerInformationRequest",
                hash,
            )
        };
        step.run(
            target,
            move |case, ctx| case.answer_information(ctx, request_id, &answer, documents.clone()),
            self.view(),
        )
        .await
    }

    async fn appeal_denial(
        &self,
        p: Principal,
        req: pb::AppealDenialRequest,
    ) -> ApiResult<pb::Application> {
        let org = p.exporter_organisation()?.clone();
        let hash = request_sha256(&req);
        let target = StepTarget::parse(&req.name, &req.etag, &req.request_id)?;
        let grounds = req.grounds;
        let documents: Vec<DocumentInput> = req.documents.into_iter().map(document_input).collect();
        let pinned_documents = self
            .require_uploaded(&org, "documents", documents.clone())
            .await?;
        Step {
            pinned_documents,
            ..self.step(
                &p,
                org,
                "/clearance.v1.ApplicationService/AppealDenial",
                hash,
            )
        }
        .run(
            target,
            move |case, ctx| case.appeal(ctx, &grounds, documents.clone()),
            self.view(),
        )
        .await
    }
}

impl ApplicationApi {
    async fn get_licence(
        &self,
        p: Principal,
        req: pb::GetLicenceRequest,
    ) -> ApiResult<pb::Licence> {
        let org = p.exporter_organisation()?;
        let id = Collection::Licences.parse_name("name", &req.name)?;
        let licence = self
            .store
            .get_licence(Some(org), id)
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        Ok(licence_to_pb_at(&licence, self.clock.now()))
    }

    async fn list_history(
        &self,
        p: Principal,
        req: pb::ListHistoryRequest,
    ) -> ApiResult<pb::ListHistoryResponse> {
        let org = p.exporter_organisation()?;
        let (entries, next_page_token) = clearance_grpc::convert::history_page(
            &self.store,
            Some(org),
            &req.resource,
            req.page_size,
            &req.page_token,
        )
        .await?;
        Ok(pb::ListHistoryResponse {
            entries,
            next_page_token,
        })
    }

    async fn list_licences(
        &self,
        p: Principal,
        req: pb::ListLicencesRequest,
    ) -> ApiResult<pb::ListLicencesResponse> {
        let org = p.exporter_organisation()?;
        let listing = LicenceListing {
            page_size: req.page_size,
            page_token: &req.page_token,
            filter: &req.filter,
        };
        let (licences, next_page_token) =
            licence_page(&self.store, Some(org), listing, self.clock.now()).await?;
        Ok(pb::ListLicencesResponse {
            licences,
            next_page_token,
        })
    }
}

/// The store names unknown products relative to the application (`lines[0].product`);
/// clients see them under the request field (`application.lines[0].product`).
fn prefix_store_violations(
    e: clearance_store::StoreError,
    prefix: &str,
) -> clearance_store::StoreError {
    match e {
        clearance_store::StoreError::Domain(DomainError::Invalid(inner))
            if inner.iter().all(|f| f.field.starts_with("lines[")) =>
        {
            nested(prefix)(inner).into()
        }
        other => other,
    }
}

#[tonic::async_trait]
impl ApplicationService for ApplicationApi {
    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        clearance_grpc::handle!(self, request, create_product, first_answer)
    }

    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        clearance_grpc::handle!(self, request, get_product)
    }

    async fn report_us_shipments(
        &self,
        request: Request<pb::ReportUsShipmentsRequest>,
    ) -> Result<Response<pb::UsShipmentReport>, Status> {
        clearance_grpc::handle!(self, request, report_us_shipments, first_answer)
    }

    async fn list_us_shipment_reports(
        &self,
        request: Request<pb::ListUsShipmentReportsRequest>,
    ) -> Result<Response<pb::ListUsShipmentReportsResponse>, Status> {
        clearance_grpc::handle!(self, request, list_us_shipment_reports)
    }

    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        clearance_grpc::handle!(self, request, list_products)
    }

    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        clearance_grpc::handle!(self, request, update_product, first_answer)
    }

    async fn create_application(
        &self,
        request: Request<pb::CreateApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        clearance_grpc::handle!(self, request, create_application, first_answer)
    }

    async fn get_application(
        &self,
        request: Request<pb::GetApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        clearance_grpc::handle!(self, request, get_application)
    }

    async fn list_applications(
        &self,
        request: Request<pb::ListApplicationsRequest>,
    ) -> Result<Response<pb::ListApplicationsResponse>, Status> {
        clearance_grpc::handle!(self, request, list_applications)
    }

    async fn update_application(
        &self,
        request: Request<pb::UpdateApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        clearance_grpc::handle!(self, request, update_application, first_answer)
    }

    async fn submit_application(
        &self,
        request: Request<pb::SubmitApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        clearance_grpc::handle!(self, request, submit_application, first_answer)
    }

    async fn withdraw_application(
        &self,
        request: Request<pb::WithdrawApplicationRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        clearance_grpc::handle!(self, request, withdraw_application, first_answer)
    }

    async fn appeal_denial(
        &self,
        request: Request<pb::AppealDenialRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        clearance_grpc::handle!(self, request, appeal_denial, first_answer)
    }

    async fn upload_document(
        &self,
        request: Request<tonic::Streaming<pb::UploadDocumentRequest>>,
    ) -> Result<Response<pb::SupportingDocument>, Status> {
        let p = clearance_grpc::principal(&request)?;
        ApplicationApi::upload_document(self, &p, request.into_inner())
            .await
            .map(Response::new)
    }

    type DownloadDocumentStream = clearance_grpc::documents::DocumentStream;

    async fn download_document(
        &self,
        request: Request<pb::DownloadDocumentRequest>,
    ) -> Result<Response<Self::DownloadDocumentStream>, Status> {
        let p = clearance_grpc::principal(&request)?;
        ApplicationApi::download_document(self, &p, request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn delete_document(
        &self,
        request: Request<pb::DeleteDocumentRequest>,
    ) -> Result<Response<pb::DeleteDocumentResponse>, Status> {
        let p = clearance_grpc::principal(&request)?;
        ApplicationApi::delete_document(self, &p, request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn answer_information_request(
        &self,
        request: Request<pb::AnswerInformationRequestRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        clearance_grpc::handle!(self, request, answer_information_request, first_answer)
    }

    async fn get_licence(
        &self,
        request: Request<pb::GetLicenceRequest>,
    ) -> Result<Response<pb::Licence>, Status> {
        clearance_grpc::handle!(self, request, get_licence)
    }

    async fn list_licences(
        &self,
        request: Request<pb::ListLicencesRequest>,
    ) -> Result<Response<pb::ListLicencesResponse>, Status> {
        clearance_grpc::handle!(self, request, list_licences)
    }

    async fn list_history(
        &self,
        request: Request<pb::ListHistoryRequest>,
    ) -> Result<Response<pb::ListHistoryResponse>, Status> {
        clearance_grpc::handle!(self, request, list_history)
    }

    async fn request_amendment(
        &self,
        request: Request<pb::RequestAmendmentRequest>,
    ) -> Result<Response<pb::Application>, Status> {
        clearance_grpc::handle!(self, request, request_amendment, first_answer)
    }

    async fn surrender_licence(
        &self,
        request: Request<pb::SurrenderLicenceRequest>,
    ) -> Result<Response<pb::Licence>, Status> {
        let p = clearance_grpc::principal(&request)?;
        let r = request.into_inner();
        let hash = request_sha256(&r);
        let action = LicenceActionRequest {
            name: r.name,
            request_id: r.request_id,
            etag: r.etag,
            reason: r.reason,
        };
        act_on_licence(
            &self.store,
            self.clock.now(),
            p,
            LicenceAction::Surrender,
            action,
            hash,
        )
        .await
        .map(Response::new)
        .map_err(Status::from)
    }

    async fn determine_requirement(
        &self,
        request: Request<pb::DetermineRequirementRequest>,
    ) -> Result<Response<pb::Determination>, Status> {
        clearance_grpc::handle!(self, request, determine_requirement)
    }
}

fn us_shipment_report_to_pb(
    r: &clearance_domain::ledger::UsShipmentReport,
) -> pb::UsShipmentReport {
    pb::UsShipmentReport {
        product: Collection::Products.name_of(r.product_id),
        units_shipped: r.units,
        reported_by: r.reported_by.clone(),
        report_time: Some(clearance_grpc::convert::timestamp(&r.report_time)),
    }
}
