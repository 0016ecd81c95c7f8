//! `clearance demo`: the H20 story of 2025, end to end, narrated, against a fresh embedded
//! database in a temporary directory. Everything goes through the real gRPC services.

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
        ..Default::default()
    }
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
        regulator,
        cast.bearer("audrey@regulator", "auditor", None)?,
    );

    writeln!(
        out,
        "Clearance demo: the H20 story of 2025 (illustrative rules; see policies/)\n"
    )?;

    writeln!(
        out,
        "1. The policy administrator publishes the October 2023 rules and the April 2025 H20 rules."
    )?;
    for n in [1, 2] {
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
    }

    writeln!(
        out,
        "\n2. Acme's compliance officer records three parts in the catalogue."
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
    for p in [&h800, &h20, &small] {
        writeln!(out, "   {}, part {}", p.display_name, p.part_number)?;
    }
    // People name parts by part number; messages name them by resource.
    let parts: Vec<(String, String)> = [&h800, &h20, &small]
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
            etag: application.etag,
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
        "\n6. Carol, a senior reviewer, proposes approval of 800 units with a condition. A decision\n   takes two people: someone else senior must countersign it."
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
            conditions: vec!["No re-export or transfer without prior written authorisation".into()],
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
    bob.countersign_decision(countersign(&case.etag)).await?;
    writeln!(out, "   Bob, another senior reviewer, countersigns.")?;
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

    writeln!(out, "\n7. Acme's ERP system ships under the licence.")?;
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
        "\n8. July 2025: before publishing the new version, the administrator asks what it changes."
    )?;
    clock.set(day(2025, 7, 20));
    let impact = policy_admin
        .analyze_impact(pb::AnalyzeImpactRequest {
            rule_set: Some(catalogue_version(3)?),
            page_size: 1000,
            page_token: String::new(),
        })
        .await?
        .into_inner();
    let mut impacted = impact.impacted;
    let mut token = impact.next_page_token;
    while !token.is_empty() {
        let page = policy_admin
            .analyze_impact(pb::AnalyzeImpactRequest {
                rule_set: Some(catalogue_version(3)?),
                page_size: 1000,
                page_token: token,
            })
            .await?
            .into_inner();
        impacted.extend(page.impacted);
        token = page.next_page_token;
    }
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
    let july = policy_admin
        .publish_rule_set(pb::PublishRuleSetRequest {
            request_id: rid(),
            rule_set: Some(catalogue_version(3)?),
        })
        .await?
        .into_inner();
    writeln!(out, "   published {} v{}", july.key, july.version)?;

    writeln!(
        out,
        "\n9. Bob suspends the licence pending an investigation; the next shipment is blocked."
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
        "\n10. An auditor verifies the case's tamper-evident history."
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
