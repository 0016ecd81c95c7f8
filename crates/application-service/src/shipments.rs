//! ShipmentService: ERP systems check, start and cancel shipments under licences.

use std::collections::HashMap;
use std::sync::Arc;

use clearance_domain::Violations;
use clearance_domain::access::Principal;
use clearance_domain::ids::{Collection, OrganisationId};
use clearance_domain::ledger::{ShipmentSpec, ShipmentWindow, choose_cover, parse_shipment};
use clearance_domain::policy::Determination;
use clearance_domain::policy::determine::{Export, determine_shipment};
use clearance_domain::product::Product;
use clearance_domain::screening::{PartyQuery, shipment_refusal};
use clearance_grpc::convert_ledger::{problem_to_pb, shipment_input, shipment_to_pb};
use clearance_grpc::convert_policy::determination_to_pb;
use clearance_grpc::{
    ApiError, ApiResult, Clock, RuleBook, Screener, mutation, request_sha256, respond,
    validate_request_id,
};
use clearance_proto::v1 as pb;
use clearance_proto::v1::shipment_service_server::ShipmentService;
use clearance_store::Store;
use prost::Message;
use tonic::{Request, Response, Status};

/// Serves ShipmentService to ERP systems.
#[derive(Clone)]
pub struct ShipmentApi {
    store: Store,
    rules: RuleBook,
    screener: Screener,
    clock: Arc<dyn Clock>,
    window: ShipmentWindow,
    metrics: clearance_grpc::ShipmentMetrics,
}

/// What the rules say about a shipment, line by line.
struct Assessment {
    spec: ShipmentSpec,
    determinations: Vec<Determination>,
    licence_required: bool,
}

impl ShipmentApi {
    pub fn new(
        store: Store,
        rules: RuleBook,
        screener: Screener,
        clock: Arc<dyn Clock>,
        window: ShipmentWindow,
    ) -> Self {
        ShipmentApi {
            store,
            rules,
            screener,
            clock,
            window,
            metrics: clearance_grpc::ShipmentMetrics::default(),
        }
    }

    /// Counts StartShipment's answers in `metrics`.
    pub fn with_metrics(mut self, metrics: clearance_grpc::ShipmentMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Validates the shipment and determines every line under the rules in force at its time.
    async fn assess(
        &self,
        org: &OrganisationId,
        shipment: Option<pb::Shipment>,
    ) -> ApiResult<(Assessment, String)> {
        let Some(shipment) = shipment else {
            return Err(Violations::single("shipment", "is required").into());
        };
        let licence = shipment.licence.clone();
        let input = shipment_input(shipment).map_err(prefixed)?;
        let spec = parse_shipment(input, self.clock.now(), &self.window).map_err(prefixed)?;
        let ids: Vec<_> = spec.lines.iter().map(|l| l.product_id).collect();
        let products: HashMap<_, Product> = self
            .store
            .get_products(org, &ids)
            .await
            .map_err(|e| ApiError::from_store("products", e))?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let mut v = Violations::new();
        for (i, line) in spec.lines.iter().enumerate() {
            if !products.contains_key(&line.product_id) {
                v.add(
                    format!("shipment.lines[{i}].product"),
                    "is not a product of your organisation's catalogue",
                );
            }
        }
        if !v.is_empty() {
            return Err(v.into());
        }
        let published = self.rules.published().await?;
        let determinations: Vec<Determination> = spec
            .lines
            .iter()
            .filter_map(|line| products.get(&line.product_id))
            .map(|product| {
                let export = Export {
                    item: product.controlled_item(),
                    classification: &product.spec.classification,
                    destination: &spec.destination,
                    end_user_headquarters: spec.end_user_headquarters.as_ref(),
                    transaction: spec.transaction,
                    certifications: None,
                };
                determine_shipment(
                    &export,
                    spec.shipment_time,
                    spec.recorded_time,
                    &published,
                    self.rules.groups(),
                )
            })
            .collect();
        let licence_required = determinations.iter().any(|d| d.licence_required);
        Ok((
            Assessment {
                spec,
                determinations,
                licence_required,
            },
            licence,
        ))
    }

    /// Refuses a shipment whose end user or consignee resembles a listed party, unless a
    /// reviewer cleared that very entry for this exporter and none confirmed it
    /// (DENIED_PARTY). One in-memory lookup; the store is asked only when there is a hit.
    async fn refuse_denied_party(
        &self,
        org: &OrganisationId,
        spec: &ShipmentSpec,
    ) -> ApiResult<()> {
        let mut queries = vec![PartyQuery {
            name: spec.end_user_name.clone(),
            country: Some(spec.end_user_country.as_str().to_owned()),
            address: String::new(),
        }];
        if let Some(c) = &spec.consignee {
            queries.push(PartyQuery {
                name: c.display_name.clone(),
                country: Some(c.country.as_str().to_owned()),
                address: String::new(),
            });
        }
        let hits = self.screener.screen(&queries).await?;
        if hits.iter().all(Vec::is_empty) {
            return Ok(());
        }
        let entries: Vec<String> = hits.iter().flatten().map(|h| h.entry_id.clone()).collect();
        let decisions = self
            .store
            .screening_decisions(org, &entries)
            .await
            .map_err(|e| ApiError::from_store("screening", e))?;
        match queries
            .iter()
            .zip(&hits)
            .find_map(|(q, h)| shipment_refusal(&q.name, h, &decisions))
        {
            Some(refusal) => Err(refusal.into()),
            None => Ok(()),
        }
    }

    async fn check_shipment(
        &self,
        p: Principal,
        req: pb::CheckShipmentRequest,
    ) -> ApiResult<pb::CheckShipmentResponse> {
        let org = p.exporter_organisation()?.clone();
        let (assessment, named) = self.assess(&org, req.shipment).await?;
        self.refuse_denied_party(&org, &assessment.spec).await?;
        let candidates = if named.is_empty() {
            self.store
                .candidate_licences(&org, &assessment.spec.destination)
                .await
                .map_err(|e| ApiError::from_store("licences", e))?
        } else {
            let id = Collection::Licences.parse_name("shipment.licence", &named)?;
            vec![
                self.store
                    .get_licence(Some(&org), id)
                    .await
                    .map_err(|e| ApiError::from_store(&named, e))?,
            ]
        };
        // The aggregate cap as it stands (StartShipment checks it again under its lock).
        let demand = assessment.spec.demand();
        let positions = if candidates
            .iter()
            .any(|l| l.terms.aggregate_cap_percent.is_some())
        {
            let products: Vec<_> = demand.iter().map(|d| d.product_id).collect();
            self.store
                .aggregate_positions(&org, &products)
                .await
                .map_err(|e| ApiError::from_store("aggregate positions", e))?
        } else {
            Default::default()
        };
        let assessments: Vec<pb::LicenceAssessment> = candidates
            .iter()
            .map(|l| {
                let mut problems = l.coverage(&assessment.spec);
                problems.extend(demand.iter().filter_map(|d| {
                    l.cap_refusal(
                        d.product_id,
                        d.quantity,
                        positions.get(&d.product_id).copied().unwrap_or_default(),
                    )
                }));
                pb::LicenceAssessment {
                    licence: Collection::Licences.name_of(l.id),
                    covers: problems.is_empty(),
                    problems: problems.iter().map(problem_to_pb).collect(),
                }
            })
            .collect();
        Ok(pb::CheckShipmentResponse {
            covering_licences: assessments
                .iter()
                .filter(|a| a.covers)
                .map(|a| a.licence.clone())
                .collect(),
            assessments,
            licence_required: assessment.licence_required,
            determinations: assessment
                .determinations
                .iter()
                .map(determination_to_pb)
                .collect(),
        })
    }

    async fn start_shipment(
        &self,
        p: Principal,
        req: pb::StartShipmentRequest,
    ) -> ApiResult<pb::Shipment> {
        let org = p.exporter_organisation()?.clone();
        let hash = request_sha256(&req);
        let request_id = validate_request_id(&req.request_id)?;
        let (assessment, named) = self.assess(&org, req.shipment).await?;
        self.refuse_denied_party(&org, &assessment.spec).await?;
        let named_id = if named.is_empty() {
            None
        } else {
            Some(Collection::Licences.parse_name("shipment.licence", &named)?)
        };
        let cover = choose_cover(named_id, &assessment.determinations);
        let m = mutation(
            &p,
            Some(org),
            request_id,
            "/clearance.v1.ShipmentService/StartShipment",
            hash,
            self.clock.now(),
        );
        let outcome = self
            .store
            .start_shipment(
                &m,
                &assessment.spec,
                &cover,
                &assessment.determinations,
                &|s| shipment_to_pb(s).encode_to_vec(),
            )
            .await
            .map_err(|e| {
                ApiError::from_store(if named.is_empty() { "licence" } else { &named }, e)
            })?;
        respond(outcome, shipment_to_pb)
    }

    async fn cancel_shipment(
        &self,
        p: Principal,
        req: pb::CancelShipmentRequest,
    ) -> ApiResult<pb::Shipment> {
        let org = p.exporter_organisation()?.clone();
        let hash = request_sha256(&req);
        let mut v = Violations::new();
        let request_id = v.check("", validate_request_id(&req.request_id));
        let id = v.check("", Collection::Shipments.parse_name("name", &req.name));
        let reason = clearance_domain::validation::optional_text(
            &mut v,
            "reason",
            &req.reason,
            clearance_domain::ledger::MAX_CANCEL_REASON_CHARS,
        );
        let (Some(request_id), Some(id)) = (request_id, id) else {
            return Err(v.into());
        };
        if !v.is_empty() {
            return Err(v.into());
        }
        let m = mutation(
            &p,
            Some(org),
            request_id,
            "/clearance.v1.ShipmentService/CancelShipment",
            hash,
            self.clock.now(),
        );
        let outcome = self
            .store
            .cancel_shipment(&m, id, &reason, &|s| shipment_to_pb(s).encode_to_vec())
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        respond(outcome, shipment_to_pb)
    }

    async fn get_shipment(
        &self,
        p: Principal,
        req: pb::GetShipmentRequest,
    ) -> ApiResult<pb::Shipment> {
        let org = p.exporter_organisation()?;
        let id = Collection::Shipments.parse_name("name", &req.name)?;
        let shipment = self
            .store
            .get_shipment(org, id)
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        Ok(shipment_to_pb(&shipment))
    }

    async fn list_shipments(
        &self,
        p: Principal,
        req: pb::ListShipmentsRequest,
    ) -> ApiResult<pb::ListShipmentsResponse> {
        let org = p.exporter_organisation()?;
        let listing = clearance_grpc::convert_ledger::LicenceListing {
            page_size: req.page_size,
            page_token: &req.page_token,
            filter: &req.filter,
        };
        let (shipments, next_page_token) =
            clearance_grpc::convert_ledger::shipment_page(&self.store, Some(org), listing).await?;
        Ok(pb::ListShipmentsResponse {
            shipments,
            next_page_token,
        })
    }
}

fn prefixed(inner: Violations) -> ApiError {
    let mut v = Violations::new();
    v.absorb("shipment", inner);
    ApiError::Invalid(v)
}

#[tonic::async_trait]
impl ShipmentService for ShipmentApi {
    async fn check_shipment(
        &self,
        request: Request<pb::CheckShipmentRequest>,
    ) -> Result<Response<pb::CheckShipmentResponse>, Status> {
        clearance_grpc::handle!(self, request, check_shipment)
    }

    async fn start_shipment(
        &self,
        request: Request<pb::StartShipmentRequest>,
    ) -> Result<Response<pb::Shipment>, Status> {
        let answer = clearance_grpc::handle!(self, request, start_shipment, first_answer);
        self.metrics.record_start(&answer);
        answer
    }

    async fn cancel_shipment(
        &self,
        request: Request<pb::CancelShipmentRequest>,
    ) -> Result<Response<pb::Shipment>, Status> {
        clearance_grpc::handle!(self, request, cancel_shipment, first_answer)
    }

    async fn get_shipment(
        &self,
        request: Request<pb::GetShipmentRequest>,
    ) -> Result<Response<pb::Shipment>, Status> {
        clearance_grpc::handle!(self, request, get_shipment)
    }

    async fn list_shipments(
        &self,
        request: Request<pb::ListShipmentsRequest>,
    ) -> Result<Response<pb::ListShipmentsResponse>, Status> {
        clearance_grpc::handle!(self, request, list_shipments)
    }
}
