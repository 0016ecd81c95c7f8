//! The project's own Jepsen: a randomized multi-actor run against the real services, seeded and
//! reproducible from its seed (the order of what the actors try; races decide the rest), on
//! both databases, with two server replicas on PostgreSQL, a clock the test moves and faults
//! (every database session terminated, a replica stopped and started again).
//!
//! Actors: exporters filing, amending (several amendment requests for one licence released
//! together), appealing denials and uploading, deleting and naming documents two organisations
//! share; ERP systems shipping, cancelling and resending lost answers; reviewers and senior
//! reviewers assigning, proposing, resolving screening hits, countersigning, deciding appeals,
//! suspending and reinstating; administrators importing screening lists; the clock passing
//! validity ends and appeal periods; the checkpoint signer and the sweeper of orphaned bytes. After every step the checker asserts what that step may break, and
//! every so often and at the end every invariant:
//!
//! - no licence issued or amended while a list version in force names its end user without a
//!   cleared hit;
//! - at most one pending amendment per licence;
//! - granted − shipped = remaining on every line, never negative;
//! - no shipment started under an expired, suspended or revoked licence;
//! - every acknowledged application and shipment present exactly once;
//! - every document a submitted application rests on reads back byte for byte;
//! - an H200-class part is reviewed case by case only when exported from the United States,
//!   and only with the January 2026 certifications (submission names each missing one);
//! - no shipment under a licence with the test-report condition leaves without a report;
//! - per holder and H200-class product, units shipped under capped licences are what the
//!   server counts against the cap, and at most 50 % of the latest US figure reported;
//! - every retry of an acknowledged write answers the same bytes;
//! - exporters' streams hold no internal facts;
//! - the audit log verifies against every checkpoint signed, and no signer found a fork.
//!
//! `CLEARANCE_MULTI_ACTOR_STEPS` (default 2,000) and `CLEARANCE_MULTI_ACTOR_SEED` choose the
//! run; a failure names the seed and the step.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use clearance_grpc::Clock;
use clearance_proto::v1 as pb;
use clearance_server::audit::Signer;
use clearance_tests::{Backend, TestApp, TestDb};
use prost::Message;
use tonic::Code;

use crate::fixtures::{create_product, draft, line, request_id};

/// The end users exporters file for; the administrator lists some of them as the run goes.
const END_USERS: [&str; 6] = [
    "Example Cloud Ltd",
    "Aurora Compute Partners",
    "Kestrel Data Systems",
    "Meridian Dual Use Components",
    "Northern Star Electronics",
    "Quasar Inference Labs",
];
const ORGS: [&str; 2] = ["acme", "globex"];

/// The run's choices, from the suite's seeded generator.
struct Choices(clearance_tests::raw::Rng);

impl Choices {
    fn next(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.next(100) < percent
    }
}

/// A licence as the run knows it.
#[derive(Clone)]
struct KnownLicence {
    name: String,
    org: String,
    end_user: String,
    product: String,
}

/// A shipment the service acknowledged, with its request and the answer's bytes.
struct Acknowledged {
    org: String,
    request: pb::StartShipmentRequest,
    answer: Vec<u8>,
    cancelled: bool,
}

struct World {
    seed: u64,
    step: usize,
    rng: Choices,
    backend: Backend,
    db_url: String,
    replicas: Vec<TestApp>,
    signers: Vec<(Signer, tempfile::TempDir)>,
    products: HashMap<String, String>,
    cases: Vec<(String, String, String)>,
    /// Every application whose creation was acknowledged: (organisation, name).
    filed: Vec<(String, String)>,
    licences: Vec<KnownLicence>,
    /// The end user each source's latest list version names (the versions in force), from
    /// the step its import returned.
    listed: HashMap<String, String>,
    imports: usize,
    shipments: Vec<Acknowledged>,
    /// Licences a senior reviewer suspended (and has not reinstated).
    suspended: HashSet<String>,
    /// Documents submitted applications rest on: (organisation, resource name, bytes).
    documents: Vec<(String, String, Vec<u8>)>,
    /// Licences carrying the aggregate cap, and those needing a test report per shipment.
    capped: HashSet<String>,
    tested: HashSet<String>,
    /// The latest US figure each H200-class product's holder reported (only ever raised).
    us_reported: HashMap<String, i64>,
}

/// Whether a call failed for a reason that says nothing against the request (sent again as
/// it was).
fn transient(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
    ) || (status.code() == Code::Aborted && crate::fixtures::reason(status) == "CONCURRENT_CHANGE")
}

/// Sends `call` until it answers something other than a transient failure (a few times).
macro_rules! settled {
    ($call:expr) => {{
        let mut attempts = 0;
        loop {
            match $call {
                Err(status) if transient(&status) && attempts < 8 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempts)).await;
                }
                other => break other,
            }
        }
    }};
}

impl World {
    fn app(&mut self) -> &TestApp {
        let i = self.rng.next(self.replicas.len());
        &self.replicas[i]
    }

    fn fail(&self, what: impl std::fmt::Display) -> ! {
        panic!(
            "multi-actor run on {:?}, seed {}, step {}: {what}\n  (run again with CLEARANCE_MULTI_ACTOR_SEED={})",
            self.backend, self.seed, self.step, self.seed
        )
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.replicas[0].clock.now()
    }

    /// Files an application for a random end user and submits it.
    async fn file(&mut self) {
        let org = ORGS[self.rng.next(ORGS.len())].to_owned();
        let end_user = END_USERS[self.rng.next(END_USERS.len())].to_owned();
        let quantity = 10 + self.rng.next(90) as i64;
        let mut officer = self.app().applicant(&org);
        // Now and then an H200-class part, exported from the United States or reexported.
        let h200 = self.rng.chance(20);
        let kind = if h200 && self.rng.chance(50) {
            pb::TransactionKind::Reexport
        } else {
            pb::TransactionKind::Export
        };
        let key = format!("{org}{}", if h200 { "/h200" } else { "" });
        let product = match self.products.get(&key) {
            Some(p) => p.clone(),
            None => {
                let p = if h200 {
                    let mut part = crate::fixtures::h20();
                    part.part_number = "H200-SXM-141G".into();
                    part.parameters = Some(pb::TechnicalParameters {
                        total_processing_performance: Some(15_832),
                        die_area_mm2: Some(814),
                        memory_bandwidth_gbps: Some(4_800),
                        io_bandwidth_gbps: Some(900),
                        performance_density: 0.0,
                    });
                    let Ok(created) = settled!(
                        officer
                            .create_product(pb::CreateProductRequest {
                                request_id: request_id(),
                                product: Some(part.clone()),
                            })
                            .await
                    ) else {
                        return;
                    };
                    created.into_inner().name
                } else {
                    create_product(&mut officer).await.name
                };
                self.products.insert(key, p.clone());
                p
            }
        };
        let mut application = draft(&product);
        application.parties[0].display_name = end_user.clone();
        application.lines = vec![line(&product, quantity)];
        application.transaction_kind = kind as i32;
        // Exports of H200-class parts mostly carry the January 2026 certifications.
        let certified = !h200 || kind == pb::TransactionKind::Reexport || self.rng.chance(85);
        if h200 && certified {
            application.certifications = crate::fixtures::january_2026_certifications(1_000);
        }
        let request = pb::CreateApplicationRequest {
            request_id: request_id(),
            application: Some(application),
        };
        let Ok(created) = settled!(officer.create_application(request.clone()).await) else {
            return;
        };
        let created = created.into_inner();
        self.filed.push((org.clone(), created.name.clone()));
        let submit = pb::SubmitApplicationRequest {
            name: created.name.clone(),
            request_id: request_id(),
            etag: created.etag.clone(),
            declaration_confirmed: true,
        };
        let mut officer = self.app().applicant(&org);
        let submitted = settled!(officer.submit_application(submit.clone()).await);
        if !certified {
            match submitted {
                Err(status) if status.code() == Code::InvalidArgument => {
                    let fields = crate::fixtures::violated_fields(&status);
                    if fields.len() != 7 || !fields.iter().all(|f| f.starts_with("certifications["))
                    {
                        self.fail(format!("{}: refused for {fields:?}", created.name));
                    }
                }
                Err(_) => {}
                Ok(_) => self.fail(format!(
                    "{} claimed the case-by-case review without certifications",
                    created.name
                )),
            }
            return;
        }
        let Ok(submitted) = submitted else {
            return;
        };
        // The January 2026 case-by-case review is for exports from the United States only.
        let policy = submitted
            .get_ref()
            .lines
            .first()
            .and_then(|l| l.determination.as_ref())
            .map(|d| d.review_policy);
        let denial = Some(pb::ReviewPolicy::PresumptionOfDenial as i32);
        if h200 && (kind == pb::TransactionKind::Reexport) != (policy == denial) {
            self.fail(format!(
                "{} ({kind:?} of an H200-class part) was determined {policy:?}",
                created.name
            ));
        }
        self.cases.push((created.name, org, end_user));
    }

    /// A reviewer or senior reviewer takes the next step a random case allows.
    async fn review(&mut self) {
        if self.cases.is_empty() {
            return;
        }
        let (name, org, end_user) = self.cases[self.rng.next(self.cases.len())].clone();
        let mut alice = self.app().regulator("alice@regulator", &["reviewer"]);
        let Ok(case) = settled!(
            alice
                .get_case(pb::GetCaseRequest { name: name.clone() })
                .await
        ) else {
            return;
        };
        let case = case.into_inner();
        let state = case.application.as_ref().map(|a| a.state).unwrap_or(0);
        use pb::ApplicationState as S;
        if state == S::Denied as i32 && self.rng.chance(50) {
            // The exporter appeals (once; late appeals are refused).
            let mut officer = self.app().applicant(&org);
            let _ = settled!(
                officer
                    .appeal_denial(pb::AppealDenialRequest {
                        name: name.clone(),
                        request_id: request_id(),
                        etag: case.etag.clone(),
                        grounds: "a new end-user certificate".into(),
                        documents: vec![],
                    })
                    .await
            );
            return;
        }
        if [S::Approved, S::Denied, S::Returned, S::Withdrawn]
            .map(|s| s as i32)
            .contains(&state)
        {
            // Decided: reviewers work the open cases.
            self.cases.retain(|(n, _, _)| *n != name);
            return;
        }
        if state == S::UnderAppeal as i32 {
            // A senior reviewer outside the denial decides.
            let mut carol = self
                .app()
                .regulator("carol@regulator", &["senior_reviewer"]);
            let outcome = if self.rng.chance(50) {
                pb::AppealOutcome::Overturned
            } else {
                pb::AppealOutcome::Upheld
            };
            let _ = settled!(
                carol
                    .decide_appeal(pb::DecideAppealRequest {
                        name: name.clone(),
                        request_id: request_id(),
                        etag: case.etag.clone(),
                        outcome: outcome as i32,
                        reason: "weighed the grounds".into(),
                    })
                    .await
            );
            return;
        }
        if state == S::Submitted as i32 {
            let _ = settled!(
                alice
                    .assign_case(pb::AssignCaseRequest {
                        name: name.clone(),
                        request_id: request_id(),
                        etag: case.etag.clone(),
                        assignee: String::new(),
                    })
                    .await
            );
        } else if state == S::UnderReview as i32 {
            let open = case
                .screening_hits
                .iter()
                .find(|h| h.status == pb::ScreeningHitStatus::Open as i32);
            if let Some(hit) = open {
                // Mostly confirmed (the list is right); now and then cleared with reasons.
                let confirm = self.rng.chance(70);
                let _ = settled!(
                    alice
                        .resolve_screening_hit(pb::ResolveScreeningHitRequest {
                            name: hit.name.clone(),
                            request_id: request_id(),
                            etag: case.etag.clone(),
                            confirm,
                            reason: "checked against the registry".into(),
                        })
                        .await
                );
            } else {
                let approve = self.rng.chance(85);
                let _ = settled!(
                    alice
                        .propose_decision(pb::ProposeDecisionRequest {
                            name: name.clone(),
                            request_id: request_id(),
                            etag: case.etag.clone(),
                            approve,
                            reason: "assessed".into(),
                            ..Default::default()
                        })
                        .await
                );
            }
        } else if state == S::PendingCountersign as i32 {
            let listed_before = self.listed.values().any(|l| *l == end_user);
            let mut bob = self.app().regulator("bob@regulator", &["senior_reviewer"]);
            let signed = settled!(
                bob.countersign_decision(pb::CountersignDecisionRequest {
                    name: name.clone(),
                    request_id: request_id(),
                    etag: case.etag.clone(),
                })
                .await
            );
            if let Ok(signed) = signed {
                let signed = signed.into_inner();
                let approved =
                    signed.application.as_ref().map(|a| a.state) == Some(S::Approved as i32);
                if approved && listed_before {
                    let cleared = signed
                        .screening_hits
                        .iter()
                        .any(|h| h.status == pb::ScreeningHitStatus::Cleared as i32);
                    if !cleared {
                        self.fail(format!(
                            "{name} was approved for {end_user}, whom a list in force names, without a cleared hit"
                        ));
                    }
                }
                if approved {
                    self.learn_licence(&org, &name, &end_user).await;
                }
            }
        }
    }

    /// Finds the licence an approval issued (or revised) and remembers it.
    async fn learn_licence(&mut self, org: &str, application: &str, end_user: &str) {
        let mut officer = self.replicas[0].applicant(org);
        let Ok(listed) = settled!(
            officer
                .list_licences(pb::ListLicencesRequest {
                    page_size: 1000,
                    ..Default::default()
                })
                .await
        ) else {
            return;
        };
        for l in listed.into_inner().licences {
            if l.application == application && l.aggregate_cap_percent > 0 {
                self.capped.insert(l.name.clone());
            }
            if l.application == application && !l.shipment_conditions.is_empty() {
                self.tested.insert(l.name.clone());
            }
            if l.application == application && !self.licences.iter().any(|k| k.name == l.name) {
                let product = l
                    .lines
                    .first()
                    .map(|x| x.product.clone())
                    .unwrap_or_default();
                self.licences.push(KnownLicence {
                    name: l.name,
                    org: org.to_owned(),
                    end_user: end_user.to_owned(),
                    product,
                });
            }
        }
    }

    /// An ERP system ships under a random licence, or resends a lost answer's request, or
    /// cancels a shipment.
    async fn ship(&mut self) {
        if self.licences.is_empty() {
            return;
        }
        let choice = self.rng.next(10);
        if choice < 2 && !self.shipments.is_empty() {
            return self.resend().await;
        }
        if choice < 3 && !self.shipments.is_empty() {
            return self.cancel().await;
        }
        let licence = self.licences[self.rng.next(self.licences.len())].clone();
        let quantity = 1 + self.rng.next(8) as i64;
        let mut shipment = crate::ledger::shipment(&licence.product, quantity, quantity * 10_000);
        if let Some(end_user) = shipment.end_user.as_mut() {
            end_user.display_name = licence.end_user.clone();
        }
        shipment.licence = licence.name.clone();
        let needs_report = self.tested.contains(&licence.name);
        let reported = !needs_report || self.rng.chance(90);
        if needs_report && reported {
            shipment.test_report = Some(pb::TestReport {
                reference: format!("LAB-{}", self.step),
                laboratory: "Example Test Laboratory".into(),
                laboratory_country_code: "US".into(),
                tested_on: self.now().date_naive().to_string(),
            });
        }
        let request = pb::StartShipmentRequest {
            request_id: request_id(),
            shipment: Some(shipment),
        };
        let before = self.now();
        let mut erp = crate::ledger::erp(self.app(), &licence.org);
        let answer = settled!(erp.start_shipment(request.clone()).await);
        if !reported && answer.is_ok() {
            self.fail(format!(
                "a shipment under {} left without its test report",
                licence.name
            ));
        }
        let Ok(answer) = answer else { return };
        let answer = answer.into_inner();
        // The model's view of the licence at the time: never expired or suspended.
        let mut regulator = self.replicas[0].regulator("audrey@regulator", &["auditor"]);
        if let Ok(l) = settled!(
            regulator
                .get_any_licence(pb::GetAnyLicenceRequest {
                    name: licence.name.clone(),
                })
                .await
        ) {
            let l = l.into_inner();
            let until = l.valid_until_time.map_or(0, |t| t.seconds);
            if before.timestamp() >= until {
                self.fail(format!(
                    "{} shipped under expired {}",
                    answer.name, licence.name
                ));
            }
        }
        if self.suspended.contains(&licence.name) {
            self.fail(format!(
                "{} shipped under suspended {}",
                answer.name, licence.name
            ));
        }
        self.shipments.push(Acknowledged {
            org: licence.org,
            request,
            answer: answer.encode_to_vec(),
            cancelled: false,
        });
    }

    /// A holder reports more units of its H200-class part shipped to US customers.
    async fn report_us_units(&mut self) {
        let org = ORGS[self.rng.next(ORGS.len())];
        let Some(product) = self.products.get(&format!("{org}/h200")).cloned() else {
            return;
        };
        let units =
            self.us_reported.get(&product).copied().unwrap_or(0) + 1 + self.rng.next(12) as i64;
        let mut officer = self.app().applicant(org);
        let reported = settled!(
            officer
                .report_us_shipments(pb::ReportUsShipmentsRequest {
                    product: product.clone(),
                    request_id: request_id(),
                    units_shipped: units,
                })
                .await
        );
        if reported.is_ok() {
            self.us_reported.insert(product, units);
        }
    }

    /// Resends an acknowledged StartShipment byte for byte: the first answer comes back.
    async fn resend(&mut self) {
        let i = self.rng.next(self.shipments.len());
        let (org, request, answer) = {
            let s = &self.shipments[i];
            (s.org.clone(), s.request.clone(), s.answer.clone())
        };
        let mut erp = crate::ledger::erp(self.app(), &org);
        match settled!(erp.start_shipment(request.clone()).await) {
            Ok(again) if again.get_ref().encode_to_vec() == answer => {}
            Ok(_) => self.fail("a resent StartShipment answered differently"),
            Err(status) => self.fail(format!("a resent StartShipment was refused: {status:?}")),
        }
    }

    async fn cancel(&mut self) {
        let i = self.rng.next(self.shipments.len());
        if self.shipments[i].cancelled {
            return;
        }
        let name = pb::Shipment::decode(self.shipments[i].answer.as_slice())
            .map(|s| s.name)
            .unwrap_or_default();
        let org = self.shipments[i].org.clone();
        let mut erp = crate::ledger::erp(self.app(), &org);
        if settled!(
            erp.cancel_shipment(pb::CancelShipmentRequest {
                name: name.clone(),
                request_id: request_id(),
                reason: "order changed".into(),
            })
            .await
        )
        .is_ok()
        {
            self.shipments[i].cancelled = true;
        }
    }

    /// The holder asks for an amendment of a licence four times at once (a double click,
    /// two colleagues): one draft at most, which is then submitted for review.
    async fn amend(&mut self) {
        if self.licences.is_empty() {
            return;
        }
        let licence = self.licences[self.rng.next(self.licences.len())].clone();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let mut officer = self.replicas[i % self.replicas.len()].applicant(&licence.org);
                let barrier = barrier.clone();
                let request = pb::RequestAmendmentRequest {
                    licence: licence.name.clone(),
                    request_id: request_id(),
                    lines: vec![pb::AmendedLine {
                        line_number: 1,
                        quantity: 500 + i as i64,
                        unit_value: None,
                    }],
                    reasons: "a second data hall".into(),
                    ..Default::default()
                };
                tokio::spawn(async move {
                    barrier.wait().await;
                    officer.request_amendment(request).await
                })
            })
            .collect();
        let mut drafts = Vec::new();
        for task in tasks {
            if let Ok(Ok(draft)) = task.await {
                let draft = draft.into_inner();
                self.filed.push((licence.org.clone(), draft.name.clone()));
                drafts.push(draft);
            }
        }
        self.check_pending_amendments(&licence).await;
        for draft in drafts {
            let mut officer = self.app().applicant(&licence.org);
            let submitted = settled!(
                officer
                    .submit_application(pb::SubmitApplicationRequest {
                        name: draft.name.clone(),
                        request_id: request_id(),
                        etag: draft.etag.clone(),
                        declaration_confirmed: true,
                    })
                    .await
            );
            if submitted.is_ok() {
                self.cases
                    .push((draft.name, licence.org.clone(), licence.end_user.clone()));
            }
        }
    }

    async fn check_pending_amendments(&self, licence: &KnownLicence) {
        let mut officer = self.replicas[0].applicant(&licence.org);
        let Ok(all) = settled!(
            officer
                .list_applications(pb::ListApplicationsRequest {
                    page_size: 1000,
                    ..Default::default()
                })
                .await
        ) else {
            return;
        };
        use pb::ApplicationState as S;
        let finals = [S::Approved, S::Denied, S::Returned, S::Withdrawn].map(|s| s as i32);
        let pending = all
            .into_inner()
            .applications
            .iter()
            .filter(|a| {
                a.amendment
                    .as_ref()
                    .is_some_and(|x| x.licence == licence.name)
            })
            .filter(|a| !finals.contains(&a.state))
            .count();
        if pending > 1 {
            self.fail(format!("{} has {pending} pending amendments", licence.name));
        }
    }

    /// The administrator imports a list version naming one more end user (or the same file
    /// again, which changes nothing).
    async fn import_list(&mut self) {
        let end_user = END_USERS[1 + self.rng.next(END_USERS.len() - 1)];
        self.imports += 1;
        let line = format!(
            r#"{{"id": "os-{}", "schema": "Company", "properties": {{"name": ["{end_user}"], "country": ["cn"]}}, "datasets": ["test"]}}"#,
            end_user.to_lowercase().replace(' ', "-")
        );
        let source = format!("List {}", self.imports % 3);
        let token = self.replicas[0].token(&["policy_admin"], None);
        let mut admin = self.app().policies_with(Some(token));
        let imported = settled!(
            admin
                .import_screening_list(pb::ImportScreeningListRequest {
                    request_id: request_id(),
                    source: source.clone(),
                    format: pb::ScreeningListFormat::FollowTheMoney as i32,
                    content: line.clone().into_bytes(),
                })
                .await
        );
        if imported.is_ok() {
            // Each source's latest version is in force: its new version no longer names the
            // end user its last one did.
            self.listed.insert(source, end_user.to_owned());
        }
    }

    /// A senior reviewer suspends an active licence or reinstates a suspended one.
    async fn act_on_licence(&mut self) {
        if self.licences.is_empty() {
            return;
        }
        let licence = self.licences[self.rng.next(self.licences.len())].clone();
        let mut bob = self.app().regulator("bob@regulator", &["senior_reviewer"]);
        let Ok(current) = settled!(
            bob.get_any_licence(pb::GetAnyLicenceRequest {
                name: licence.name.clone(),
            })
            .await
        ) else {
            return;
        };
        let current = current.into_inner();
        if current.state == pb::LicenceState::Active as i32 {
            let done = settled!(
                bob.suspend_licence(pb::SuspendLicenceRequest {
                    name: licence.name.clone(),
                    request_id: request_id(),
                    etag: current.etag.clone(),
                    reason: "end user under investigation".into(),
                })
                .await
            );
            if done.is_ok() {
                self.suspended.insert(licence.name.clone());
            }
        } else if current.state == pb::LicenceState::Suspended as i32 {
            let done = settled!(
                bob.reinstate_licence(pb::ReinstateLicenceRequest {
                    name: licence.name.clone(),
                    request_id: request_id(),
                    etag: current.etag.clone(),
                    reason: "investigation closed".into(),
                })
                .await
            );
            if done.is_ok() {
                self.suspended.remove(&licence.name);
            }
        }
    }

    /// Two organisations upload the same bytes, delete their uploads, and file applications
    /// resting on them; the sweeper of orphaned bytes runs now and then.
    async fn handle_documents(&mut self) {
        let org = ORGS[self.rng.next(ORGS.len())].to_owned();
        let mut bytes = crate::fixtures::pdf(3_000);
        bytes.push(self.rng.next(3) as u8);
        let sha256 = clearance_domain::history::sha256_hex(&bytes);
        let mut officer = self.app().applicant(&org);
        match self.rng.next(4) {
            0 => {
                let _ = settled!(
                    officer
                        .delete_document(pb::DeleteDocumentRequest {
                            sha256: sha256.clone(),
                        })
                        .await
                );
            }
            1 => {
                let files = self.replicas[0].config.documents.files().expect("files");
                let now = self.now();
                let _ = self.replicas[0]
                    .store
                    .sweep_orphaned_documents(&files, now, chrono::Duration::hours(1), 100)
                    .await;
            }
            _ => {
                let Ok(document) =
                    crate::fixtures::upload(&mut officer, "end-use.pdf", "application/pdf", &bytes)
                        .await
                else {
                    return;
                };
                let Some(product) = self.products.get(&org).cloned() else {
                    return;
                };
                let mut application = draft(&product);
                application.documents = vec![document];
                let request = pb::CreateApplicationRequest {
                    request_id: request_id(),
                    application: Some(application),
                };
                let Ok(created) = settled!(officer.create_application(request.clone()).await)
                else {
                    return;
                };
                let created = created.into_inner();
                self.filed.push((org.clone(), created.name.clone()));
                let submit = pb::SubmitApplicationRequest {
                    name: created.name.clone(),
                    request_id: request_id(),
                    etag: created.etag.clone(),
                    declaration_confirmed: true,
                };
                if settled!(officer.submit_application(submit.clone()).await).is_ok() {
                    let resource = format!("{}/documents/{sha256}", created.name);
                    self.documents.push((org, resource, bytes));
                }
            }
        }
    }

    /// Days pass; now and then years (past every licence's validity).
    fn pass_time(&mut self) {
        let days = if self.rng.chance(5) {
            5 * 366
        } else {
            1 + self.rng.next(20) as i64
        };
        let later = self.now() + chrono::Duration::days(days);
        for app in &self.replicas {
            app.clock.set(later);
        }
    }

    async fn checkpoint(&mut self) {
        let i = self.rng.next(self.signers.len());
        let store = self.replicas[i % self.replicas.len()].store.clone();
        let signed = self.signers[i]
            .0
            .checkpoint(&store, chrono::Utc::now())
            .await;
        if let Err(e) = signed
            && self.signers[i].0.halted().is_some()
        {
            self.fail(format!("the audit log forked: {e:#}"));
        }
    }

    /// Every database session of the servers is terminated (PostgreSQL).
    async fn cut_connections(&mut self) {
        let Some(name) = self.db_url.rsplit('/').next().map(str::to_owned) else {
            return;
        };
        let _ = clearance_store::execute_statement(
            &clearance_tests::postgres_admin_url(),
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ),
        )
        .await;
    }

    /// One replica stops (gracefully: a killed process is `two_replicas`' and `durability`'s)
    /// and a new one starts on the same database.
    async fn restart_replica(&mut self) {
        if self.replicas.len() < 2 {
            return;
        }
        let i = 1 + self.rng.next(self.replicas.len() - 1);
        let mut old = self.replicas.remove(i);
        if let Some(running) = old.running.take() {
            let _ = running.shutdown().await;
        }
        let documents = self.replicas[0].config.documents.dir.clone();
        let fresh = TestApp::spawn_with(&self.db_url, Some(self.replicas[0].key_dir()), |c| {
            c.documents.dir = documents
        })
        .await;
        fresh.clock.set(self.now());
        self.replicas.push(fresh);
    }

    /// Every invariant over everything acknowledged so far.
    async fn check_all(&mut self) {
        // Every acknowledged shipment exactly once; every line's ledger exact.
        let mut regulator = self.replicas[0].regulator("audrey@regulator", &["auditor"]);
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut capped_shipped: HashMap<String, i64> = HashMap::new();
        for licence in self.licences.clone() {
            let l = match settled!(
                regulator
                    .get_any_licence(pb::GetAnyLicenceRequest {
                        name: licence.name.clone(),
                    })
                    .await
            ) {
                Ok(l) => l.into_inner(),
                Err(status) => self.fail(format!("{} unreadable: {status:?}", licence.name)),
            };
            let mut shipped: HashMap<String, i64> = HashMap::new();
            let mut page_token = String::new();
            loop {
                let page = match settled!(
                    regulator
                        .list_all_shipments(pb::ListAllShipmentsRequest {
                            filter: format!(r#"licence = "{}""#, licence.name),
                            page_size: 1000,
                            page_token: page_token.clone(),
                        })
                        .await
                ) {
                    Ok(p) => p.into_inner(),
                    Err(status) => self.fail(format!("shipments unreadable: {status:?}")),
                };
                for s in &page.shipments {
                    *seen.entry(s.name.clone()).or_default() += 1;
                    if s.state == pb::ShipmentState::Started as i32 {
                        for x in &s.lines {
                            *shipped.entry(x.product.clone()).or_default() += x.quantity;
                            if self.capped.contains(&licence.name) {
                                *capped_shipped.entry(x.product.clone()).or_default() += x.quantity;
                            }
                        }
                    }
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            for x in &l.lines {
                let used = shipped.get(&x.product).copied().unwrap_or(0);
                if x.remaining_quantity < 0 || x.granted_quantity - used != x.remaining_quantity {
                    self.fail(format!(
                        "{}: granted {} − shipped {used} ≠ remaining {}",
                        licence.name, x.granted_quantity, x.remaining_quantity
                    ));
                }
            }
            self.check_pending_amendments(&licence).await;
        }
        // The aggregate cap: what the server counts is what shipped, within half the US figure.
        for org in ORGS {
            let Some(product) = self.products.get(&format!("{org}/h200")).cloned() else {
                continue;
            };
            let mut officer = self.replicas[0].applicant(org);
            let position = match settled!(
                officer
                    .list_us_shipment_reports(pb::ListUsShipmentReportsRequest {
                        product: product.clone(),
                    })
                    .await
            ) {
                Ok(p) => p.into_inner(),
                Err(status) => self.fail(format!("US reports unreadable: {status:?}")),
            };
            let shipped = capped_shipped.get(&product).copied().unwrap_or(0);
            let latest = position.reports.first().map_or(0, |r| r.units_shipped);
            if position.capped_units_shipped != shipped || shipped * 100 > latest * 50 {
                self.fail(format!(
                    "{product}: the cap counts {} units, {shipped} shipped under capped licences, against {latest} US units",
                    position.capped_units_shipped
                ));
            }
        }
        for s in &self.shipments {
            let name = pb::Shipment::decode(s.answer.as_slice())
                .map(|s| s.name)
                .unwrap_or_default();
            if seen.get(&name).copied() != Some(1) {
                self.fail(format!(
                    "acknowledged {name} is present {} times",
                    seen.get(&name).copied().unwrap_or(0)
                ));
            }
        }
        // The audit log verifies against every checkpoint each signer wrote.
        for (signer, dir) in &self.signers {
            let report = clearance_server::audit::verify(
                &self.replicas[0].store,
                dir.path(),
                &signer.verifier().expect("verifier"),
                &mut |_| {},
            )
            .await
            .expect("verify");
            if !report.problems.is_empty() {
                self.fail(format!(
                    "the audit log does not verify: {:?}",
                    report.problems
                ));
            }
        }
        // Every application whose creation was acknowledged is there, once.
        for org in ORGS {
            let mut officer = self.replicas[0].applicant(org);
            let mut present: HashMap<String, usize> = HashMap::new();
            let mut page_token = String::new();
            loop {
                let page = match settled!(
                    officer
                        .list_applications(pb::ListApplicationsRequest {
                            page_size: 1000,
                            page_token: page_token.clone(),
                            ..Default::default()
                        })
                        .await
                ) {
                    Ok(p) => p.into_inner(),
                    Err(status) => self.fail(format!("applications unreadable: {status:?}")),
                };
                for a in page.applications {
                    *present.entry(a.name).or_default() += 1;
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            for (_, name) in self.filed.iter().filter(|(o, _)| o == org) {
                if present.get(name).copied() != Some(1) {
                    self.fail(format!(
                        "acknowledged {name} is present {} times",
                        present.get(name).copied().unwrap_or(0)
                    ));
                }
            }
        }
        // Every document a submitted application rests on reads back as recorded.
        for (org, resource, bytes) in self.documents.clone() {
            let mut officer = self.replicas[0].applicant(&org);
            let read = async {
                use tokio_stream::StreamExt;
                let mut stream = officer
                    .download_document(pb::DownloadDocumentRequest {
                        name: resource.clone(),
                    })
                    .await?
                    .into_inner();
                let mut read = Vec::new();
                while let Some(chunk) = stream.next().await {
                    read.extend(chunk?.data);
                }
                Ok::<_, tonic::Status>(read)
            }
            .await;
            match read {
                Ok(read) if read == bytes => {}
                Ok(_) => self.fail(format!("{resource} reads back other bytes")),
                Err(status) => self.fail(format!("{resource} is gone: {status:?}")),
            }
        }
        let sizes: Vec<u64> = self.replicas[0]
            .store
            .checkpoints()
            .await
            .expect("checkpoints")
            .iter()
            .map(|c| c.size)
            .collect();
        let unique: HashSet<&u64> = sizes.iter().collect();
        if unique.len() != sizes.len() {
            self.fail("two checkpoints share a size");
        }
    }

    /// An exporter's event stream from the beginning: only decisions, never deliberations.
    async fn check_exporter_streams(&self) {
        use tokio_stream::StreamExt;
        const INTERNAL: [&str; 6] = [
            "case.assigned",
            "case.decision_proposed",
            "case.proposal_rejected",
            "case.rescreened",
            "case.screening_resolved",
            "case.referred",
        ];
        for org in ORGS {
            let mut events =
                clearance_proto::v1::event_service_client::EventServiceClient::with_interceptor(
                    self.replicas[0].application_channel.clone(),
                    clearance_tests::Bearer::new(Some(self.replicas[0].token(&["erp"], Some(org)))),
                );
            let Ok(stream) = events.watch_events(pb::WatchEventsRequest::default()).await else {
                continue;
            };
            let mut stream = stream.into_inner();
            while let Ok(Some(Ok(event))) =
                tokio::time::timeout(Duration::from_millis(300), stream.next()).await
            {
                if INTERNAL.contains(&event.r#type.as_str()) {
                    self.fail(format!("{org}'s stream carried {}", event.r#type));
                }
                for internal in [
                    "\"assignee\"",
                    "\"screening\"",
                    "\"proposer\"",
                    "\"advice\"",
                ] {
                    if event.payload_json.contains(internal) {
                        self.fail(format!(
                            "{org}'s stream carried {internal} in {}: {}",
                            event.r#type, event.payload_json
                        ));
                    }
                }
            }
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let steps = env_number("CLEARANCE_MULTI_ACTOR_STEPS", 2_000) as usize;
    let seed = env_number("CLEARANCE_MULTI_ACTOR_SEED", 20_261_207);
    let first = TestApp::spawn_on(&db, None).await;
    let mut replicas = vec![first];
    if backend == Backend::Postgres {
        let documents = replicas[0].config.documents.dir.clone();
        let second = TestApp::spawn_with(&db.url, Some(replicas[0].key_dir()), |c| {
            c.documents.dir = documents
        })
        .await;
        second.clock.set(replicas[0].clock.now());
        replicas.push(second);
    }
    let signers = replicas
        .iter()
        .map(|app| {
            let dir = tempfile::tempdir().expect("checkpoints");
            let mut config = app.config.clone();
            config.audit.checkpoint_dir = dir.path().to_path_buf();
            let signer = Signer::from_config(&config)
                .expect("signer")
                .expect("development key");
            (signer, dir)
        })
        .collect();
    let mut world = World {
        seed,
        step: 0,
        rng: Choices(clearance_tests::raw::Rng::new(seed)),
        backend,
        db_url: db.url.clone(),
        replicas,
        signers,
        products: HashMap::new(),
        cases: Vec::new(),
        licences: Vec::new(),
        listed: HashMap::new(),
        imports: 0,
        shipments: Vec::new(),
        suspended: HashSet::new(),
        documents: Vec::new(),
        filed: Vec::new(),
        capped: HashSet::new(),
        tested: HashSet::new(),
        us_reported: HashMap::new(),
    };
    let started = std::time::Instant::now();
    for step in 0..steps {
        world.step = step;
        match world.rng.next(100) {
            0..=14 => world.file().await,
            15..=16 => world.report_us_units().await,
            17..=19 => world.handle_documents().await,
            20..=49 => world.review().await,
            50..=74 => world.ship().await,
            75..=79 => world.amend().await,
            80..=83 => world.import_list().await,
            84..=87 => world.act_on_licence().await,
            88..=91 => world.pass_time(),
            92..=95 => world.checkpoint().await,
            96..=97 if backend == Backend::Postgres => world.cut_connections().await,
            98 if backend == Backend::Postgres => world.restart_replica().await,
            _ => world.file().await,
        }
        if step % 500 == 499 {
            world.check_all().await;
        }
    }
    world.step = steps;
    world.checkpoint().await;
    world.check_all().await;
    world.check_exporter_streams().await;
    eprintln!(
        "multi-actor run on {backend:?}, seed {seed}: {steps} steps in {:.1?}: {} cases, {} licences ({} capped), {} shipments, {} list imports, US figures {:?}",
        started.elapsed(),
        world.cases.len(),
        world.licences.len(),
        world.capped.len(),
        world.shipments.len(),
        world.imports,
        world.us_reported.values().collect::<Vec<_>>(),
    );
    for mut app in world.replicas {
        app.stop().await;
    }
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invariant_holds_among_many_actors_on_sqlite() {
    run(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invariant_holds_among_many_actors_and_two_replicas_on_postgres() {
    run(Backend::Postgres).await;
}
