//! PolicyService: versioned control rules, impact analysis and determination.

use std::sync::Arc;

use clearance_domain::Violations;
use clearance_domain::access::Principal;
use clearance_domain::filter::parse_filter;
use clearance_domain::history::canonical_json;
use clearance_domain::ids::{Collection, OrganisationId};
use clearance_domain::paging::PageRequest;
use clearance_domain::policy::determine::{DraftComparison, Export};
use clearance_domain::policy::rules::{PublishedRuleSet, next_version};
use clearance_domain::product::parse_controlled_item;
use clearance_domain::screening::{check_source, parse_list};
use clearance_grpc::convert::product_input;
use clearance_grpc::convert_policy::{
    determination_to_pb, export_query, impact_to_pb, rule_set_definition, rule_set_to_pb,
    screening_format_from_pb, screening_list_to_pb, stated_certifications,
};
use clearance_grpc::{
    ApiError, ApiResult, Clock, RuleBook, Screener, mutation, request_sha256, respond,
    validate_list, validate_request_id,
};
use clearance_proto::v1 as pb;
use clearance_proto::v1::policy_service_server::PolicyService;
use clearance_store::Store;
use prost::Message;
use tonic::{Request, Response, Status};

/// Impact analysis re-examines shipments this recent.
const RECENT_SHIPMENT_DAYS: i64 = 90;

/// Serves PolicyService to the regulator's staff.
#[derive(Clone)]
pub struct PolicyApi {
    store: Store,
    rules: RuleBook,
    screener: Screener,
    clock: Arc<dyn Clock>,
}

impl PolicyApi {
    pub fn new(store: Store, rules: RuleBook, screener: Screener, clock: Arc<dyn Clock>) -> Self {
        PolicyApi {
            store,
            rules,
            screener,
            clock,
        }
    }
}

impl PolicyApi {
    async fn list_rule_sets(
        &self,
        _principal: Principal,
        req: pb::ListRuleSetsRequest,
    ) -> ApiResult<pb::ListRuleSetsResponse> {
        let (key, page) = validate_list(
            req.page_size,
            &req.page_token,
            &req.filter,
            "ruleSets",
            |f| {
                Ok(parse_filter(f, &["key"])?
                    .into_iter()
                    .next()
                    .map(|c| c.value))
            },
        )?;
        let rows = self
            .store
            .list_rule_sets(key.as_deref(), &page, self.rules.groups())
            .await
            .map_err(|e| ApiError::from_store("rule sets", e))?;
        let (rows, next_page_token) = page.finish_page(rows, |r| r.id);
        Ok(pb::ListRuleSetsResponse {
            rule_sets: rows.iter().map(rule_set_to_pb).collect(),
            next_page_token,
        })
    }

    async fn get_rule_set(
        &self,
        _principal: Principal,
        req: pb::GetRuleSetRequest,
    ) -> ApiResult<pb::RuleSet> {
        let id = Collection::RuleSets.parse_name("name", &req.name)?;
        let rule_set = self
            .store
            .get_rule_set(id, self.rules.groups())
            .await
            .map_err(|e| ApiError::from_store(&req.name, e))?;
        Ok(rule_set_to_pb(&rule_set))
    }

    async fn publish_rule_set(
        &self,
        p: Principal,
        req: pb::PublishRuleSetRequest,
    ) -> ApiResult<pb::RuleSet> {
        let hash = request_sha256(&req);
        let mut v = Violations::new();
        let request_id = v.check("", validate_request_id(&req.request_id));
        let compiled = match req.rule_set {
            None => {
                v.add("rule_set", "is required");
                None
            }
            Some(r) => v
                .check("rule_set", rule_set_definition(r))
                .and_then(|d| v.check("rule_set", d.compile(self.rules.groups()))),
        };
        let (Some(request_id), Some(compiled)) = (request_id, compiled) else {
            return Err(v.into());
        };
        let m = mutation(
            &p,
            None,
            request_id,
            "/clearance.v1.PolicyService/PublishRuleSet",
            hash,
            self.clock.now(),
        );
        let outcome = self
            .store
            .publish_rule_set(&m, &compiled, self.rules.groups(), &|x| {
                rule_set_to_pb(x).encode_to_vec()
            })
            .await
            .map_err(|e| ApiError::from_store("rule set", prefix_overlap(e)))?;
        respond(outcome, rule_set_to_pb)
    }

    async fn import_screening_list(
        &self,
        p: Principal,
        req: pb::ImportScreeningListRequest,
    ) -> ApiResult<pb::ScreeningList> {
        let hash = request_sha256(&req);
        let mut v = Violations::new();
        let request_id = v.check("", validate_request_id(&req.request_id));
        let source = v.check("", check_source(&req.source));
        let format = screening_format_from_pb(req.format);
        if format.is_none() {
            v.add(
                "format",
                "must be SCREENING_LIST_FORMAT_CSL_CSV, _CSL_JSON or _FOLLOW_THE_MONEY",
            );
        }
        let text = std::str::from_utf8(&req.content).ok();
        if text.is_none() {
            v.add("content", "is not UTF-8 text");
        }
        let (Some(request_id), Some(source), Some(format), Some(text)) =
            (request_id, source, format, text)
        else {
            return Err(v.into());
        };
        // The file's problems are the content's, line by line.
        let parties = parse_list(format, text).map_err(|problems| {
            let mut v = Violations::new();
            for p in problems.into_vec() {
                v.add("content", p.description);
            }
            v
        })?;
        let m = mutation(
            &p,
            None,
            request_id,
            "/clearance.v1.PolicyService/ImportScreeningList",
            hash,
            self.clock.now(),
        );
        let sha256 = clearance_domain::history::sha256_hex(&req.content);
        let outcome = self
            .store
            .import_screening_list(&m, &source, format, &sha256, &parties, &|x| {
                screening_list_to_pb(x).encode_to_vec()
            })
            .await
            .map_err(|e| ApiError::from_store("screening list", e))?;
        // The index is read again at once, and the screening sweep woken: open cases and the
        // cases behind licences are screened against the new version in the background, and
        // no decision passes a case it has not reached yet.
        self.screener.invalidate().await;
        respond(outcome, screening_list_to_pb)
    }

    async fn analyze_impact(
        &self,
        p: Principal,
        req: pb::AnalyzeImpactRequest,
    ) -> ApiResult<pb::AnalyzeImpactResponse> {
        let now = self.clock.now();
        let Some(draft) = req.rule_set else {
            return Err(Violations::single("rule_set", "is required").into());
        };
        let definition = rule_set_definition(draft).map_err(|v| prefixed("rule_set", v))?;
        let compiled = definition
            .compile(self.rules.groups())
            .map_err(|v| prefixed("rule_set", v))?;
        let published = self.rules.published().await?;
        let version = next_version(&published, &definition).map_err(|v| prefixed("rule_set", v))?;
        let fingerprint = canonical_json(&serde_json::to_value(&definition).unwrap_or_default());
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            &format!("impact|{fingerprint}"),
        )?;

        let draft = PublishedRuleSet {
            id: uuid::Uuid::nil(),
            version,
            publish_time: now,
            published_by: p.subject.clone(),
            rule_set: compiled,
        };
        let comparison = DraftComparison::new(&published, draft, now, self.rules.groups());

        // Three phases, each in id order: pending applications, active licences, and the
        // shipments of the last 90 days. The page token carries the phase as its sort key.
        let phase = page.after_sort;
        let after = page.after.filter(|id| !id.is_nil());
        let (collection, subjects) = match phase {
            0 => (
                Collection::Applications,
                self.store
                    .pending_applications(after, page.fetch_limit())
                    .await,
            ),
            1 => (
                Collection::Licences,
                self.store
                    .licences_for_impact(after, page.fetch_limit())
                    .await,
            ),
            _ => (
                Collection::Shipments,
                self.store
                    .shipments_for_impact(
                        now - chrono::Duration::days(RECENT_SHIPMENT_DAYS),
                        after,
                        page.fetch_limit(),
                    )
                    .await,
            ),
        };
        let subjects = subjects.map_err(|e| ApiError::from_store("impact", e))?;
        let (subjects, mut next_page_token) = page.finish_sorted_page(subjects, |s| (phase, s.id));
        if next_page_token.is_empty() && phase < 2 {
            next_page_token = page.token_after(phase + 1, uuid::Uuid::nil());
        }
        let mut impacted = Vec::new();
        let mut lines_examined = 0;
        for subject in &subjects {
            let Some(destination) = &subject.destination else {
                continue;
            };
            for line in &subject.lines {
                lines_examined += 1;
                let export = Export {
                    item: line.item,
                    classification: &line.classification,
                    destination,
                    end_user_headquarters: subject.end_user_headquarters.as_ref(),
                    transaction: subject.transaction,
                    certifications: None,
                };
                if let Some((impact, before, after)) = comparison.compare(&export, subject.at) {
                    impacted.push(pb::ImpactedResource {
                        resource: collection.name_of(subject.id),
                        line: format!("lines[{}]", line.index),
                        product: Collection::Products.name_of(line.product_id),
                        owner: OrganisationId::resource_name(&subject.organisation),
                        kind: impact_to_pb(impact),
                        summary: impact.summarise(&before, &after),
                        before: Some(determination_to_pb(&before)),
                        after: Some(determination_to_pb(&after)),
                    });
                }
            }
        }
        Ok(pb::AnalyzeImpactResponse {
            impacted,
            next_page_token,
            lines_examined,
        })
    }

    async fn determine(
        &self,
        _principal: Principal,
        req: pb::DetermineRequest,
    ) -> ApiResult<pb::Determination> {
        let mut v = Violations::new();
        let item = match req.product {
            None => {
                v.add("product", "is required");
                None
            }
            Some(product) => v.check("product", parse_controlled_item(&product_input(product))),
        };
        let query = export_query(
            &mut v,
            &req.destination_country_code,
            &req.end_user_headquarters_country_code,
            req.export_time.as_ref(),
            req.transaction_kind,
            self.clock.now(),
        );
        let certifications = stated_certifications(&mut v, req.certifications);
        let (Some((classification, item)), Some(query), true) = (item, query, v.is_empty()) else {
            return Err(v.into());
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

fn prefixed(prefix: &str, inner: Violations) -> ApiError {
    let mut v = Violations::new();
    v.absorb(prefix, inner);
    ApiError::Invalid(v)
}

/// The store reports an overlapping window relative to the rule set.
fn prefix_overlap(e: clearance_store::StoreError) -> clearance_store::StoreError {
    match e {
        clearance_store::StoreError::Domain(clearance_domain::DomainError::Invalid(inner)) => {
            let mut v = Violations::new();
            v.absorb("rule_set", inner);
            clearance_store::StoreError::Domain(clearance_domain::DomainError::Invalid(v))
        }
        other => other,
    }
}

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn list_rule_sets(
        &self,
        request: Request<pb::ListRuleSetsRequest>,
    ) -> Result<Response<pb::ListRuleSetsResponse>, Status> {
        clearance_grpc::handle!(self, request, list_rule_sets)
    }

    async fn get_rule_set(
        &self,
        request: Request<pb::GetRuleSetRequest>,
    ) -> Result<Response<pb::RuleSet>, Status> {
        clearance_grpc::handle!(self, request, get_rule_set)
    }

    async fn publish_rule_set(
        &self,
        request: Request<pb::PublishRuleSetRequest>,
    ) -> Result<Response<pb::RuleSet>, Status> {
        clearance_grpc::handle!(self, request, publish_rule_set, first_answer)
    }

    async fn import_screening_list(
        &self,
        request: Request<pb::ImportScreeningListRequest>,
    ) -> Result<Response<pb::ScreeningList>, Status> {
        clearance_grpc::handle!(self, request, import_screening_list)
    }

    async fn analyze_impact(
        &self,
        request: Request<pb::AnalyzeImpactRequest>,
    ) -> Result<Response<pb::AnalyzeImpactResponse>, Status> {
        clearance_grpc::handle!(self, request, analyze_impact)
    }

    async fn determine(
        &self,
        request: Request<pb::DetermineRequest>,
    ) -> Result<Response<pb::Determination>, Status> {
        clearance_grpc::handle!(self, request, determine)
    }
}
