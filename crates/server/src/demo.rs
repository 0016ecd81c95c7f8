//! `clearance demo`: the H20 story of 2025 and the H200 rules of 2026, end to end, narrated,
//! against a fresh embedded database in a temporary directory. Everything goes through the real
//! gRPC services.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use clearance_auth::{DevKey, TokenRequest};
use clearance_domain::policy::catalogue;
use clearance_domain::policy::rules::PublishedRuleSet;
use clearance_grpc::SettableClock;
use clearance_grpc::convert_policy::rule_set_to_pb;
use clearance_proto::v1 as pb;
use clearance_proto::v1::application_service_client::ApplicationServiceClient;
use clearance_proto::v1::policy_service_client::PolicyServiceClient;
use clearance_proto::v1::review_service_client::ReviewServiceClient;
use clearance_proto::v1::shipment_service_client::ShipmentServiceClient;
use clearance_store::Store;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::config::Config;
use crate::serve::{build_verifier, prepare, start};

#[derive(Clone)]
struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

struct Cast {
    key: DevKey,
    issuer: String,
    audience: String,
}

impl Cast {
    fn bearer(&self, subject: &str, role: &str, org: Option<&str>) -> anyhow::Result<Bearer> {
        let token = self.key.mint(&TokenRequest {
            subject: subject.into(),
            roles: vec![role.into()],
            organisation: org.map(String::from),
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            now: Utc::now(),
            lifetime_seconds: 3600,
        })?;
        Ok(Bearer(format!("Bearer {token}").parse()?))
    }
}

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

fn ts(t: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn part(name: &str, number: &str, tpp: i64, die: i64, memory: i64, io: i64) -> pb::Product {
    pb::Product {
        display_name: name.into(),
        part_number: number.into(),
        classification: "3A090.a".into(),
        datacenter: true,
        parameters: Some(pb::TechnicalParameters {
            total_processing_performance: Some(tpp),
            die_area_mm2: Some(die),
            memory_bandwidth_gbps: Some(memory),
            io_bandwidth_gbps: Some(io),
            performance_density: 0.0,
        }),
        // Every part in the story is sold in the United States (a fact the January 2026
        // rule's case-by-case review rests on).
        us_commercially_available_since: "2024-01-01".into(),
        ..Default::default()
    }
}

/// Every certification the January 2026 version's H200-class rule asks for, as the catalogue
/// defines them, stating `us_units` shipped to US customers where a figure is asked.
fn h200_certifications(us_units: i64) -> anyhow::Result<Vec<pb::Certification>> {
    let groups = catalogue::country_groups().map_err(anyhow::Error::msg)?;
    let versions = catalogue::rule_sets(&groups).map_err(anyhow::Error::msg)?;
    let rule = versions
        .iter()
        .flat_map(|v| v.definition.rules.iter())
        .find(|r| !r.conditions.certifications.is_empty())
        .context("a rule that asks for certifications")?;
    Ok(rule
        .conditions
        .certifications
        .iter()
        .map(|c| pb::Certification {
            key: c.key.clone(),
            figure: (!c.figure.is_empty()).then_some(us_units),
        })
        .collect())
}

fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn catalogue_version(n: usize) -> anyhow::Result<pb::RuleSet> {
    let groups = catalogue::country_groups().map_err(anyhow::Error::msg)?;
    let mut versions = catalogue::rule_sets(&groups).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(n >= 1 && n <= versions.len(), "no catalogue version {n}");
    let mut draft = rule_set_to_pb(&PublishedRuleSet {
        id: uuid::Uuid::nil(),
        version: 0,
        publish_time: Utc::now(),
        published_by: String::new(),
        rule_set: versions.remove(n - 1),
    });
    draft.name.clear();
    draft.publish_time = None;
    Ok(draft)
}

fn verdict(d: &pb::Determination) -> String {
    if !d.licence_required {
        return "no licence required".into();
    }
    let policy = pb::ReviewPolicy::try_from(d.review_policy)
        .map(|p| {
            p.as_str_name()
                .trim_start_matches("REVIEW_POLICY_")
                .to_lowercase()
                .replace('_', " ")
        })
        .unwrap_or_default();
    let rules: Vec<&str> = d.fired_rules.iter().map(|f| f.rule_id.as_str()).collect();
    format!("LICENCE REQUIRED ({policy}; {})", rules.join(", "))
}

/// Publishes catalogue version `n` as the policy administrator, and says so.
async fn publish(
    policy_admin: &mut PolicyServiceClient<Authed>,
    n: usize,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let published = policy_admin
        .publish_rule_set(pb::PublishRuleSetRequest {
            request_id: rid(),
            rule_set: Some(catalogue_version(n)?),
        })
        .await?
        .into_inner();
    writeln!(
        out,
        "   published {} v{}: {}",
        published.key, published.version, published.display_name
    )?;
    Ok(())
}

/// What publishing catalogue version `n` would change, every page of it.
async fn impact_of(
    policy_admin: &mut PolicyServiceClient<Authed>,
    n: usize,
) -> anyhow::Result<Vec<pb::ImpactedResource>> {
    let mut impacted = Vec::new();
    let mut token = String::new();
    loop {
        let page = policy_admin
            .analyze_impact(pb::AnalyzeImpactRequest {
                rule_set: Some(catalogue_version(n)?),
                page_size: 1000,
                page_token: token,
            })
            .await?
            .into_inner();
        impacted.extend(page.impacted);
        if page.next_page_token.is_empty() {
            return Ok(impacted);
        }
        token = page.next_page_token;
    }
}

/// Runs the story, writing the narration to `out`.
pub async fn run(out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let mut config = Config {
        database_url: format!("sqlite://{}", dir.path().join("demo.db").display()),
        application_listen: "127.0.0.1:0".parse()?,
        reviewer_listen: "127.0.0.1:0".parse()?,
        shutdown_grace_seconds: 0,
        // The story publishes the rules itself, as a policy administrator would.
        builtin_catalogue: false,
        ..Config::default()
    };
    config.auth.dev_key_dir = dir.path().join("keys");
    config.documents.dir = dir.path().join("documents");
    config.audit.checkpoint_dir = dir.path().join("checkpoints");
    // The story needs no console (and must not take port 8080 from a running server).
    config.console.listen = None;
    let verifier = build_verifier(&config).await?;
    let cast = Cast {
        key: DevKey::load(&config.auth.dev_key_dir)?,
        issuer: config.auth.issuer.clone(),
        audience: config.auth.audience.clone(),
    };
    let store = Store::connect(&config.database_url, 4).await?;
    let clock = Arc::new(SettableClock::new(day(2025, 5, 20)));
    prepare(&config, &store, Utc::now()).await?;
    let running = start(&config, store, verifier, clock.clone()).await?;
    let connect = |addr: Option<std::net::SocketAddr>| async move {
        let addr = addr.context("service address")?;
        anyhow::Ok(
            Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        )
    };
    let exporter = connect(running.application_addr).await?;
    let regulator = connect(running.reviewer_addr).await?;

    let mut officer: ApplicationServiceClient<Authed> = ApplicationServiceClient::with_interceptor(
        exporter.clone(),
        cast.bearer("olivia@acme", "applicant", Some("acme"))?,
    );
    let mut erp: ShipmentServiceClient<Authed> = ShipmentServiceClient::with_interceptor(
        exporter,
        cast.bearer("sap@acme", "erp", Some("acme"))?,
    );
    let mut policy_admin: PolicyServiceClient<Authed> = PolicyServiceClient::with_interceptor(
        regulator.clone(),
        cast.bearer("paula@regulator", "policy_admin", None)?,
    );
    let mut alice: ReviewServiceClient<Authed> = ReviewServiceClient::with_interceptor(
        regulator.clone(),
        cast.bearer("alice@regulator", "reviewer", None)?,
    );
    let mut bob: ReviewServiceClient<Authed> = ReviewServiceClient::with_interceptor(
        regulator.clone(),
        cast.bearer("bob@regulator", "senior_reviewer", None)?,
    );
    let mut carol: ReviewServiceClient<Authed> = ReviewServiceClient::with_interceptor(
        regulator.clone(),
        cast.bearer("carol@regulator", "senior_reviewer", None)?,
    );
    let mut auditor: ReviewServiceClient<Authed> = ReviewServiceClient::with_interceptor(
        regulator.clone(),
        cast.bearer("audrey@regulator", "auditor", None)?,
    );
    // Advisers of two of the agencies the regulator consults.
    let mut dora: ReviewServiceClient<Authed> = ReviewServiceClient::with_interceptor(
        regulator.clone(),
        cast.bearer("dora@defense", "adviser", Some("defense"))?,
    );
    let mut erin: ReviewServiceClient<Authed> = ReviewServiceClient::with_interceptor(
        regulator,
        cast.bearer("erin@energy", "adviser", Some("energy"))?,
    );

    writeln!(
        out,
        "Clearance demo: the H20 story of 2025 and the H200 rules of 2026 (illustrative rules; see\npolicies/)\n"
    )?;

    writeln!(
        out,
        "1. The policy administrator publishes the October 2023 rules and the April 2025 H20 rules."
    )?;
    for n in [1, 2] {
        publish(&mut policy_admin, n, out).await?;
    }

    writeln!(
        out,
        "\n2. Acme's compliance officer records four parts in the catalogue."
    )?;
    let h800 = officer
        .create_product(pb::CreateProductRequest {
            request_id: rid(),
            product: Some(part(
                "H800-class accelerator",
                "H800-SXM",
                15_800,
                814,
                3_350,
                400,
            )),
        })
        .await?
        .into_inner();
    let h20 = officer
        .create_product(pb::CreateProductRequest {
            request_id: rid(),
            product: Some(part(
                "H20-class accelerator",
                "H20-SXM",
                2_368,
                814,
                4_000,
                900,
            )),
        })
        .await?
        .into_inner();
    let small = officer
        .create_product(pb::CreateProductRequest {
            request_id: rid(),
            product: Some(part("Edge inference card", "EDGE-8", 400, 300, 300, 64)),
        })
        .await?
        .into_inner();
    let h200 = officer
        .create_product(pb::CreateProductRequest {
            request_id: rid(),
            product: Some(part(
                "H200-class accelerator",
                "H200-SXM",
                15_832,
                814,
                4_800,
                900,
            )),
        })
        .await?
        .into_inner();
    for p in [&h800, &h20, &small, &h200] {
        writeln!(out, "   {}, part {}", p.display_name, p.part_number)?;
    }
    // People name parts by part number; messages name them by resource.
    let parts: Vec<(String, String)> = [&h800, &h20, &small, &h200]
        .iter()
        .map(|p| (p.name.clone(), format!("part {}", p.part_number)))
        .collect();
    let by_part = |text: &str| {
        parts
            .iter()
            .fold(text.to_owned(), |t, (name, part)| t.replace(name, part))
    };

    writeln!(
        out,
        "\n3. Does shipping them to China need a licence, before and after the April 2025 rules?"
    )?;
    for p in [&h800, &h20, &small] {
        for (label, when) in [
            ("1 March 2025", day(2025, 3, 1)),
            ("1 May 2025", day(2025, 5, 1)),
        ] {
            let d = officer
                .determine_requirement(pb::DetermineRequirementRequest {
                    product: p.name.clone(),
                    destination_country_code: "CN".into(),
                    end_user_headquarters_country_code: "CN".into(),
                    export_time: ts(when),
                    item: None,
                    transaction_kind: pb::TransactionKind::Export as i32,
                    certifications: None,
                })
                .await?
                .into_inner();
            writeln!(
                out,
                "   {:<24} on {label:<13}: {}",
                p.display_name,
                verdict(&d)
            )?;
        }
    }

    writeln!(
        out,
        "\n4. On 20 May 2025 the officer applies to ship 1,000 H20-class parts to a Chinese cloud provider."
    )?;
    let application = officer
        .create_application(pb::CreateApplicationRequest {
            request_id: rid(),
            application: Some(pb::Application {
                destination_country_code: "CN".into(),
                end_use_statement: "Inference serving in a commercial cloud".into(),
                parties: vec![pb::Party {
                    role: pb::PartyRole::EndUser as i32,
                    display_name: "Example Cloud Ltd".into(),
                    address: "1 Example Road, Shenzhen".into(),
                    country_code: "CN".into(),
                    headquarters_country_code: "CN".into(),
                }],
                lines: vec![pb::ApplicationLine {
                    product: h20.name.clone(),
                    quantity: 1000,
                    unit_value: Some(pb::Money {
                        currency_code: "USD".into(),
                        minor_units: 1_200_000,
                    }),
                    determination: None,
                }],
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let submitted = officer
        .submit_application(pb::SubmitApplicationRequest {
            name: application.name.clone(),
            request_id: rid(),
            etag: application.etag.clone(),
            declaration_confirmed: true,
        })
        .await?
        .into_inner();
    let stored = submitted
        .lines
        .first()
        .and_then(|l| l.determination.clone())
        .unwrap_or_default();
    writeln!(
        out,
        "   {} submitted; determination stored with it: {}",
        submitted.reference,
        verdict(&stored)
    )?;

    writeln!(
        out,
        "\n5. Alice, a caseworker, takes the case and asks a question; the clock stops until the answer."
    )?;
    let case = alice
        .get_case(pb::GetCaseRequest {
            name: submitted.name.clone(),
        })
        .await?
        .into_inner();
    let case = alice
        .assign_case(pb::AssignCaseRequest {
            name: case.name,
            request_id: rid(),
            etag: case.etag,
            assignee: String::new(),
        })
        .await?
        .into_inner();
    alice
        .request_information(pb::RequestInformationRequest {
            name: case.name,
            request_id: rid(),
            etag: case.etag,
            question: "Which data centre will host the parts, and who operates it?".into(),
            response_due_time: None,
        })
        .await?;
    clock.set(day(2025, 5, 27));
    let asked = officer
        .get_application(pb::GetApplicationRequest {
            name: submitted.name.clone(),
        })
        .await?
        .into_inner();
    let question = asked.information_requests.first().context("the question")?;
    writeln!(out, "   asked: {}", question.question)?;
    officer
        .answer_information_request(pb::AnswerInformationRequestRequest {
            name: question.name.clone(),
            request_id: rid(),
            etag: asked.etag,
            answer: "Example Cloud's Shenzhen DC-3, operated by Example Cloud Ltd itself.".into(),
            documents: vec![],
        })
        .await?;
    writeln!(
        out,
        "   answered a week later; paused days do not count against the 30-day target"
    )?;

    writeln!(
        out,
        "\n6. Alice refers the case to the Departments of Defense and Energy for advice. No decision\n   can be proposed until both have advised, and Acme is never told who was consulted."
    )?;
    let case = alice
        .get_case(pb::GetCaseRequest {
            name: submitted.name.clone(),
        })
        .await?
        .into_inner();
    let case = alice
        .refer_case(pb::ReferCaseRequest {
            name: case.name,
            request_id: rid(),
            etag: case.etag,
            agencies: vec!["defense".into(), "energy".into()],
            line_numbers: Vec::new(),
        })
        .await?
        .into_inner();
    match carol
        .propose_decision(pb::ProposeDecisionRequest {
            name: case.name.clone(),
            request_id: rid(),
            etag: case.etag.clone(),
            approve: true,
            reason: "End user verified".into(),
            ..Default::default()
        })
        .await
    {
        Err(status) => writeln!(out, "   a proposal now is refused: {}", status.message())?,
        Ok(_) => anyhow::bail!("a decision was proposed while advice was due"),
    }
    for (adviser, kind, text, words) in [
        (&mut dora, pb::AdviceKind::Approve, "", "approve"),
        (
            &mut erin,
            pb::AdviceKind::ApproveWithProvisos,
            "An end-use check at the data centre within 90 days of delivery",
            "approve with a proviso (an end-use check within 90 days)",
        ),
    ] {
        let referral = adviser
            .list_referrals(pb::ListReferralsRequest::default())
            .await?
            .into_inner()
            .referrals
            .into_iter()
            .next()
            .context("the referral to the agency")?;
        adviser
            .give_advice(pb::GiveAdviceRequest {
                name: referral.name,
                request_id: rid(),
                etag: referral.etag,
                advice: vec![pb::LineAdvice {
                    line_number: 1,
                    kind: kind as i32,
                    text: text.into(),
                }],
            })
            .await?;
        writeln!(out, "   {} advises: {words}", referral.agency)?;
    }

    writeln!(
        out,
        "\n7. Carol, a senior reviewer, proposes approval of 800 units with a condition. A decision\n   takes two people: someone else senior must countersign it."
    )?;
    let case = carol
        .get_case(pb::GetCaseRequest {
            name: submitted.name.clone(),
        })
        .await?
        .into_inner();
    let case = carol
        .propose_decision(pb::ProposeDecisionRequest {
            name: case.name,
            request_id: rid(),
            etag: case.etag,
            approve: true,
            reason: "End user verified; quantity reduced to the stated need".into(),
            granted_quantities: vec![800],
            conditions: vec![
                "No re-export or transfer without prior written authorisation".into(),
                "An end-use check at the data centre within 90 days of delivery".into(),
            ],
            validity_months: 0,
            value_tolerance_percent: None,
            justification: String::new(),
        })
        .await?
        .into_inner();
    let countersign = |etag: &str| pb::CountersignDecisionRequest {
        name: case.name.clone(),
        request_id: rid(),
        etag: etag.to_owned(),
    };
    match carol.countersign_decision(countersign(&case.etag)).await {
        Err(status) => writeln!(
            out,
            "   Carol tries to countersign her own proposal and is refused (the two-person rule):\n     {}",
            status.message()
        )?,
        Ok(_) => anyhow::bail!("the proposer countersigned her own proposal"),
    }
    match alice.countersign_decision(countersign(&case.etag)).await {
        Err(status) => writeln!(
            out,
            "   Alice, a caseworker, may not countersign at all: {}",
            status.message()
        )?,
        Ok(_) => anyhow::bail!("a caseworker countersigned"),
    }
    let advised = bob
        .get_case(pb::GetCaseRequest {
            name: case.name.clone(),
        })
        .await?
        .into_inner()
        .referrals
        .iter()
        .filter(|r| !r.advice.is_empty())
        .count();
    bob.countersign_decision(countersign(&case.etag)).await?;
    writeln!(
        out,
        "   Bob, another senior reviewer, reads the advice of {advised} agencies and countersigns."
    )?;
    let licence = officer
        .list_licences(pb::ListLicencesRequest::default())
        .await?
        .into_inner()
        .licences
        .into_iter()
        .next()
        .context("the issued licence")?;
    writeln!(
        out,
        "   approved; licence {} issued for 800 units, valid until {}",
        licence.number,
        licence
            .valid_until_time
            .map(|t| t.seconds)
            .and_then(|s| Utc.timestamp_opt(s, 0).single())
            .map(|t| t.date_naive().to_string())
            .unwrap_or_default()
    )?;

    writeln!(out, "\n8. Acme's ERP system ships under the licence.")?;
    let to_china = |quantity: i64| pb::Shipment {
        destination_country_code: "CN".into(),
        erp_reference: format!("SO-{quantity}"),
        end_user: Some(pb::Party {
            display_name: "Example Cloud Ltd".into(),
            country_code: "CN".into(),
            headquarters_country_code: "CN".into(),
            ..Default::default()
        }),
        lines: vec![pb::ShipmentLine {
            product: h20.name.clone(),
            quantity,
            value: Some(pb::Money {
                currency_code: "USD".into(),
                minor_units: quantity * 1_200_000,
            }),
        }],
        ..Default::default()
    };
    let shipped = erp
        .start_shipment(pb::StartShipmentRequest {
            request_id: rid(),
            shipment: Some(to_china(500)),
        })
        .await?
        .into_inner();
    writeln!(
        out,
        "   500 units shipped (ERP order {}) under licence {}",
        shipped.erp_reference, licence.number
    )?;
    match erp
        .start_shipment(pb::StartShipmentRequest {
            request_id: rid(),
            shipment: Some(to_china(400)),
        })
        .await
    {
        Err(status) => writeln!(
            out,
            "   400 more refused, the licence has 300 left: {}",
            by_part(status.message())
        )?,
        Ok(_) => anyhow::bail!("an over-shipment was accepted"),
    }
    let mut to_germany = to_china(50);
    to_germany.destination_country_code = "DE".into();
    to_germany.end_user = Some(pb::Party {
        display_name: "Beispiel Rechenzentrum GmbH".into(),
        country_code: "DE".into(),
        headquarters_country_code: "DE".into(),
        ..Default::default()
    });
    let nlr = erp
        .start_shipment(pb::StartShipmentRequest {
            request_id: rid(),
            shipment: Some(to_germany),
        })
        .await?
        .into_inner();
    writeln!(
        out,
        "   50 units to Germany recorded as NLR (no licence required): {}",
        nlr.no_licence_required
    )?;

    writeln!(
        out,
        "\n9. June 2025: Acme asks to amend the licence to 1,200 units for a second data hall. The\n   amendment is a case like any other, decided by two people; what has shipped stays counted."
    )?;
    clock.set(day(2025, 6, 10));
    let amendment = officer
        .request_amendment(pb::RequestAmendmentRequest {
            licence: licence.name.clone(),
            request_id: rid(),
            lines: vec![pb::AmendedLine {
                line_number: 1,
                quantity: 1_200,
                unit_value: None,
            }],
            reasons: "A second data hall at the same site doubles the inference fleet".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let amendment = officer
        .submit_application(pb::SubmitApplicationRequest {
            name: amendment.name.clone(),
            request_id: rid(),
            etag: amendment.etag,
            declaration_confirmed: true,
        })
        .await?
        .into_inner();
    let case = alice
        .assign_case(pb::AssignCaseRequest {
            name: amendment.name.clone(),
            request_id: rid(),
            etag: amendment.etag.clone(),
            assignee: String::new(),
        })
        .await?
        .into_inner();
    let case = alice
        .propose_decision(pb::ProposeDecisionRequest {
            name: case.name,
            request_id: rid(),
            etag: case.etag,
            approve: true,
            reason: "Same end user and site; the need is documented".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    bob.countersign_decision(pb::CountersignDecisionRequest {
        name: case.name,
        request_id: rid(),
        etag: case.etag,
    })
    .await?;
    let amended = officer
        .get_licence(pb::GetLicenceRequest {
            name: licence.name.clone(),
        })
        .await?
        .into_inner();
    let line = amended.lines.first().context("the licence line")?;
    writeln!(
        out,
        "   amendment {} approved; licence {} revision {}: {} granted, {} used, {} remaining",
        amendment.reference,
        amended.number,
        amended.revision,
        line.granted_quantity,
        line.granted_quantity - line.remaining_quantity,
        line.remaining_quantity
    )?;
    erp.start_shipment(pb::StartShipmentRequest {
        request_id: rid(),
        shipment: Some(to_china(400)),
    })
    .await?;
    writeln!(out, "   the 400 units refused in May now ship")?;

    writeln!(
        out,
        "\n10. July 2025: before publishing the new version, the administrator asks what it changes."
    )?;
    clock.set(day(2025, 7, 20));
    let impacted = impact_of(&mut policy_admin, 3).await?;
    writeln!(
        out,
        "   The July 2025 version keeps the H20-class rule but reviews it case by case\n   instead of with a presumption of denial. What that changes:"
    )?;
    for i in &impacted {
        let named = if i.resource == licence.name {
            format!("licence {}", licence.number)
        } else if i.resource == submitted.name {
            format!("application {}", submitted.reference)
        } else {
            i.resource.clone()
        };
        writeln!(out, "   {named} {}: {}", i.line, i.summary)?;
    }
    publish(&mut policy_admin, 3, out).await?;

    writeln!(
        out,
        "\n11. Bob suspends the licence pending an investigation; the next shipment is blocked."
    )?;
    let current = officer
        .get_licence(pb::GetLicenceRequest {
            name: licence.name.clone(),
        })
        .await?
        .into_inner();
    bob.suspend_licence(pb::SuspendLicenceRequest {
        name: licence.name.clone(),
        request_id: rid(),
        etag: current.etag,
        reason: "Reports of diversion under investigation".into(),
    })
    .await?;
    let mut under_licence = to_china(100);
    under_licence.licence = licence.name.clone();
    match erp
        .start_shipment(pb::StartShipmentRequest {
            request_id: rid(),
            shipment: Some(under_licence),
        })
        .await
    {
        Err(status) => writeln!(out, "   refused: {}", status.message())?,
        Ok(_) => anyhow::bail!("a shipment under a suspended licence was accepted"),
    }

    writeln!(
        out,
        "\n12. Autumn 2025: Acme applies to ship 200 H200-class parts to the same cloud provider. Under\n    the July rules they are reviewed with a presumption of denial, and the case is denied."
    )?;
    clock.set(day(2025, 11, 24));
    let h200_application = officer
        .create_application(pb::CreateApplicationRequest {
            request_id: rid(),
            application: Some(pb::Application {
                lines: vec![pb::ApplicationLine {
                    product: h200.name.clone(),
                    quantity: 200,
                    unit_value: Some(pb::Money {
                        currency_code: "USD".into(),
                        minor_units: 3_000_000,
                    }),
                    determination: None,
                }],
                destination_country_code: application.destination_country_code.clone(),
                end_use_statement: application.end_use_statement.clone(),
                parties: application.parties.clone(),
                // Acme certifies what the revised rules are expected to ask.
                certifications: h200_certifications(1_000)?,
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let h200_submitted = officer
        .submit_application(pb::SubmitApplicationRequest {
            name: h200_application.name.clone(),
            request_id: rid(),
            etag: h200_application.etag,
            declaration_confirmed: true,
        })
        .await?
        .into_inner();
    let stored = h200_submitted
        .lines
        .first()
        .and_then(|l| l.determination.clone())
        .unwrap_or_default();
    writeln!(
        out,
        "   {} submitted: {}",
        h200_submitted.reference,
        verdict(&stored)
    )?;
    let case = alice
        .assign_case(pb::AssignCaseRequest {
            name: h200_submitted.name.clone(),
            request_id: rid(),
            etag: h200_submitted.etag.clone(),
            assignee: String::new(),
        })
        .await?
        .into_inner();
    let case = alice
        .propose_decision(pb::ProposeDecisionRequest {
            name: case.name,
            request_id: rid(),
            etag: case.etag,
            approve: false,
            reason: "Presumption of denial for H200-class parts to China; no grounds to depart"
                .into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    clock.set(day(2025, 12, 1));
    bob.countersign_decision(pb::CountersignDecisionRequest {
        name: case.name,
        request_id: rid(),
        etag: case.etag,
    })
    .await?;
    writeln!(
        out,
        "   denied on 1 December 2025 (proposed by Alice, countersigned by Bob)"
    )?;
    clock.set(day(2026, 1, 5));
    let denied = officer
        .get_application(pb::GetApplicationRequest {
            name: h200_submitted.name.clone(),
        })
        .await?
        .into_inner();
    let appealed = officer
        .appeal_denial(pb::AppealDenialRequest {
            name: denied.name,
            request_id: rid(),
            etag: denied.etag,
            grounds: "The rules for H200-class parts are being revised, and the end user is the \
                      provider already verified for licence CLL-2025-000001"
                .into(),
            documents: Vec::new(),
        })
        .await?
        .into_inner();
    let due = appealed
        .appeals
        .first()
        .and_then(|a| a.due_time)
        .and_then(|t| Utc.timestamp_opt(t.seconds, 0).single())
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default();
    writeln!(
        out,
        "   5 January 2026: Acme appeals; the appeal runs on its own clock, due {due}"
    )?;
    let case = bob
        .get_case(pb::GetCaseRequest {
            name: appealed.name.clone(),
        })
        .await?
        .into_inner();
    match bob
        .decide_appeal(pb::DecideAppealRequest {
            name: case.name.clone(),
            request_id: rid(),
            etag: case.etag.clone(),
            outcome: pb::AppealOutcome::Overturned as i32,
            reason: "On reflection".into(),
        })
        .await
    {
        Err(status) => writeln!(
            out,
            "   Bob countersigned the denial, so he may not decide the appeal: {}",
            status.message()
        )?,
        Ok(_) => anyhow::bail!("a participant in the denial decided its appeal"),
    }

    writeln!(
        out,
        "\n13. January 2026: new rules review H200-class parts to China case by case. Before publishing\n    them, the administrator asks what they change for the records so far."
    )?;
    clock.set(day(2026, 1, 16));
    for i in impact_of(&mut policy_admin, 4).await? {
        let named = if i.resource == h200_submitted.name {
            format!("application {} (under appeal)", h200_submitted.reference)
        } else {
            i.resource.clone()
        };
        writeln!(out, "   {named} {}: {}", i.line, i.summary)?;
    }
    publish(&mut policy_admin, 4, out).await?;

    writeln!(
        out,
        "\n14. Carol, who took no part in the denial, overturns it on appeal; the case goes back through\n    proposal and countersignature and ends in a licence."
    )?;
    let case = carol
        .decide_appeal(pb::DecideAppealRequest {
            name: case.name,
            request_id: rid(),
            etag: case.etag,
            outcome: pb::AppealOutcome::Overturned as i32,
            reason:
                "The January 2026 rules review these parts case by case; the end user is verified"
                    .into(),
        })
        .await?
        .into_inner();
    let case = alice
        .propose_decision(pb::ProposeDecisionRequest {
            name: case.name,
            request_id: rid(),
            etag: case.etag,
            approve: true,
            reason: "Approved on appeal under the January 2026 rules".into(),
            conditions: vec!["No re-export or transfer without prior written authorisation".into()],
            ..Default::default()
        })
        .await?
        .into_inner();
    bob.countersign_decision(pb::CountersignDecisionRequest {
        name: case.name,
        request_id: rid(),
        etag: case.etag,
    })
    .await?;
    let h200_licence = officer
        .list_licences(pb::ListLicencesRequest::default())
        .await?
        .into_inner()
        .licences
        .into_iter()
        .find(|l| l.application == h200_submitted.name)
        .context("the licence issued on appeal")?;
    writeln!(
        out,
        "   overturned; licence {} issued for 200 H200-class parts",
        h200_licence.number
    )?;
    // Decided under the January 2026 rules, the licence carries their terms.
    writeln!(
        out,
        "   every shipment needs a US third-party test report, and units to China and Macau stay\n   within {}% of the US units Acme reports ({})",
        h200_licence.aggregate_cap_percent, h200_licence.terms_citation
    )?;

    writeln!(
        out,
        "\n15. An auditor verifies the first case's tamper-evident history."
    )?;
    let verdict = auditor
        .verify_history(pb::VerifyHistoryRequest {
            resource: submitted.name.clone(),
        })
        .await?
        .into_inner();
    writeln!(
        out,
        "   {} entries checked, chain intact: {}",
        verdict.entries_checked, verdict.intact
    )?;
    anyhow::ensure!(verdict.intact, "the history does not verify");

    writeln!(out, "\nDone. Run `clearance serve` to explore on your own.")?;
    running.shutdown().await?;
    Ok(())
}
