//! `clearancectl rules`: rule-set versions, determinations, impact and publishing.

use std::path::PathBuf;

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{Ctx, Outcome, Page, Retry, read_json, request_id};
use crate::output::{self, Format, print};
use crate::text;

#[derive(Subcommand)]
pub(crate) enum Rules {
    /// Published rule-set versions.
    #[command(after_help = "Example:\n  clearancectl rules list")]
    List(Page),
    /// One version with its rules.
    #[command(after_help = "Example:\n  clearancectl --output json rules show ruleSets/0192...")]
    Show {
        /// The rule set, ruleSets/{id}.
        name: String,
    },
    /// Whether one of your products needs a licence (exporters).
    #[command(
        after_help = "Example:\n  clearancectl rules determine products/0192... --destination CN --headquarters CN"
    )]
    Determine {
        /// The product: its part number or products/{id}.
        product: String,
        /// Destination country, ISO 3166 alpha-2 (e.g. CN).
        #[arg(long)]
        destination: String,
        /// The end user's headquarters country, when it matters to the rules.
        #[arg(long, default_value = "")]
        headquarters: String,
        /// How the item would move: an export from the United States, a reexport, an export
        /// from abroad or an in-country transfer.
        #[arg(long, default_value = "export", value_parser = ["export", "reexport", "export-from-abroad", "in-country-transfer"])]
        transaction: String,
        /// A certification the exporter would give, by key, with its figure when the rule asks
        /// one (e.g. `us-supply-sufficient`, `china-within-half-of-us-shipments=1000`);
        /// repeat for each. Without any, the rule's certifications are listed as to certify.
        #[arg(long = "certify", value_name = "KEY[=FIGURE]")]
        certify: Vec<String>,
    },
    /// What a draft (JSON file, clearance.v1.RuleSet) would change, without publishing it.
    #[command(after_help = "Example:\n  clearancectl rules impact --file july-2025.json")]
    Impact {
        /// The rule set as JSON (clearance.v1.RuleSet).
        #[arg(long)]
        file: PathBuf,
    },
    /// Publish a new version (policy administrator).
    #[command(after_help = "Example:\n  clearancectl rules publish --file july-2025.json")]
    Publish {
        /// The rule set as JSON (clearance.v1.RuleSet).
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        change: Retry,
    },
}

/// How many impacted applications are looked up by reference for the text view.
const MAX_LOOKUPS: usize = 200;

pub(crate) async fn run(ctx: &Ctx, cmd: Rules) -> Outcome {
    let f = ctx.format;
    match cmd {
        Rules::List(p) => list_all!(
            ctx,
            ctx.policies().await?,
            list_rule_sets,
            ListRuleSetsRequest {
                filter: p.filter.clone()
            },
            rule_sets,
            "clearance.v1.RuleSet",
            text::rule_sets_table
        ),
        Rules::Show { name } => {
            let r = ctx
                .policies()
                .await?
                .get_rule_set(pb::GetRuleSetRequest { name })
                .await?
                .into_inner();
            Ok(print(f, &r, "clearance.v1.RuleSet", text::rule_set)?)
        }
        Rules::Determine {
            product,
            destination,
            headquarters,
            transaction,
            certify,
        } => {
            let transaction_kind = match transaction.as_str() {
                "reexport" => pb::TransactionKind::Reexport,
                "export-from-abroad" => pb::TransactionKind::ExportFromAbroad,
                "in-country-transfer" => pb::TransactionKind::InCountryTransfer,
                _ => pb::TransactionKind::Export,
            };
            let r = ctx
                .applications()
                .await?
                .determine_requirement(pb::DetermineRequirementRequest {
                    product,
                    destination_country_code: destination,
                    end_user_headquarters_country_code: headquarters,
                    export_time: None,
                    item: None,
                    transaction_kind: transaction_kind as i32,
                    certifications: (!certify.is_empty()).then(|| pb::CertificationSet {
                        certifications: certify.iter().map(|c| certification(c)).collect(),
                    }),
                })
                .await?
                .into_inner();
            Ok(print(
                f,
                &r,
                "clearance.v1.Determination",
                text::determination,
            )?)
        }
        Rules::Impact { file } => {
            let draft: pb::RuleSet = read_json(&file, "clearance.v1.RuleSet")?;
            let mut client = ctx.policies().await?;
            let mut impacted = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .analyze_impact(pb::AnalyzeImpactRequest {
                        rule_set: Some(draft.clone()),
                        page_size: 500,
                        page_token,
                    })
                    .await?
                    .into_inner();
                impacted.extend(page.impacted);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            // Licences by number and applications by reference, as people know them.
            let mut known: Vec<(String, String)> = Vec::new();
            if f == Format::Text && !impacted.is_empty() {
                known = crate::references::known_names(ctx).await?;
                let mut reviews = ctx.reviews().await?;
                let mut applications: Vec<&str> = impacted
                    .iter()
                    .map(|i| i.resource.as_str())
                    .filter(|r| r.starts_with("applications/"))
                    .collect();
                applications.dedup();
                for name in applications.into_iter().take(MAX_LOOKUPS) {
                    let case = reviews
                        .get_case(pb::GetCaseRequest {
                            name: name.to_owned(),
                        })
                        .await?
                        .into_inner();
                    if let Some(a) = case.application {
                        known.push((a.name, format!("application {}", a.reference)));
                    }
                }
            }
            let response = pb::AnalyzeImpactResponse {
                impacted,
                next_page_token: String::new(),
                lines_examined: 0,
            };
            Ok(print(
                f,
                &response,
                "clearance.v1.AnalyzeImpactResponse",
                |r| {
                    if r.impacted.is_empty() {
                        return "the draft changes no determination".into();
                    }
                    r.impacted
                        .iter()
                        .map(|i| {
                            let named = known
                                .iter()
                                .find(|(name, _)| *name == i.resource)
                                .map_or(i.resource.as_str(), |(_, human)| human.as_str());
                            let owner = i.owner.strip_prefix("organisations/").unwrap_or(&i.owner);
                            format!("{named} {} ({owner}): {}", i.line, i.summary)
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            )?)
        }
        Rules::Publish { file, change } => {
            let draft: pb::RuleSet = read_json(&file, "clearance.v1.RuleSet")?;
            let r = ctx
                .policies()
                .await?
                .publish_rule_set(pb::PublishRuleSetRequest {
                    request_id: request_id(&change.request_id),
                    rule_set: Some(draft),
                })
                .await?
                .into_inner();
            Ok(print(f, &r, "clearance.v1.RuleSet", text::rule_set)?)
        }
    }
}

/// `KEY` or `KEY=FIGURE` as given on the command line; a figure that is not a number is sent
/// as none, and the server names the certification that lacks it.
fn certification(raw: &str) -> pb::Certification {
    match raw.split_once('=') {
        Some((key, figure)) => pb::Certification {
            key: key.trim().to_owned(),
            figure: figure.trim().parse().ok(),
        },
        None => pb::Certification {
            key: raw.trim().to_owned(),
            figure: None,
        },
    }
}
