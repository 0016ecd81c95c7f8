//! `clearancectl applications`: filing, submitting, withdrawing and answering questions.

use std::path::PathBuf;

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{
    Change, Ctx, Failure, LocalProblem, Outcome, Page, Retry, read_json, request_id,
};
use crate::output::{self, Format, print};
use crate::text;

#[derive(Subcommand)]
pub(crate) enum Applications {
    /// Every application, following pages.
    #[command(
        after_help = "Example:\n  clearancectl applications list --filter 'state = APPLICATION_STATE_DRAFT'"
    )]
    List(Page),
    /// One application with its determinations, questions and visible notes.
    #[command(after_help = "Example:\n  clearancectl applications get applications/0192...")]
    Get {
        /// The application: its reference (CL-2026-000002) or applications/{id}.
        name: String,
    },
    /// Create a draft from a JSON file (clearance.v1.Application).
    #[command(after_help = "Example:\n  clearancectl applications create --file application.json")]
    Create {
        /// The application as JSON (clearance.v1.Application).
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        change: Retry,
    },
    /// Submit a draft, confirming the declaration that it is true and complete.
    #[command(
        after_help = "Example:\n  clearancectl applications submit applications/0192... --confirm-declaration"
    )]
    Submit {
        /// The application: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Confirm the declaration that the application is true and complete.
        #[arg(long)]
        confirm_declaration: bool,
        #[command(flatten)]
        change: Change,
    },
    /// Withdraw an application.
    #[command(
        after_help = "Example:\n  clearancectl applications withdraw applications/0192... --reason 'order cancelled'"
    )]
    Withdraw {
        /// The application: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        change: Change,
    },
    /// Appeal a denial within the appeal period, with your grounds.
    #[command(
        after_help = "Example:\n  clearancectl applications appeal CL-2026-000002 --grounds 'the end user was delisted on 3 March'"
    )]
    Appeal {
        /// The denied application: its reference (CL-2026-000002) or applications/{id}.
        name: String,
        /// Why the denial should be set aside.
        #[arg(long)]
        grounds: String,
        #[command(flatten)]
        change: Change,
    },
    /// Answer the regulator's question: RFI 1 is the first asked on the application.
    #[command(
        after_help = "Examples:\n  clearancectl applications answer CL-2026-000002 --rfi 1 --text 'DC-3, Shenzhen'\n  clearancectl applications answer applications/0192.../informationRequests/0192... --text 'DC-3, Shenzhen'"
    )]
    Answer {
        /// The application (reference or name) with --rfi, or the information request's name.
        name: String,
        /// Which question, counting from 1 in the order they were asked (`applications get`
        /// and `cases show` number them RFI 1, RFI 2…).
        #[arg(long)]
        rfi: Option<usize>,
        /// Your answer.
        #[arg(long)]
        text: String,
        #[command(flatten)]
        change: Change,
    },
}

pub(crate) async fn run(ctx: &Ctx, cmd: Applications) -> Outcome {
    let f = ctx.format;
    let mut client = ctx.applications().await?;
    let etag_of = |name: String, etag: Option<String>| {
        let mut client = client.clone();
        async move {
            match etag {
                Some(e) => Ok::<_, Failure>(e),
                None => Ok(client
                    .get_application(pb::GetApplicationRequest { name })
                    .await?
                    .into_inner()
                    .etag),
            }
        }
    };
    let r = match cmd {
        Applications::List(p) => {
            return list_all!(
                ctx,
                client,
                list_applications,
                ListApplicationsRequest {
                    filter: p.filter.clone()
                },
                applications,
                "clearance.v1.Application",
                text::applications_table
            );
        }
        Applications::Get { name } => {
            client
                .get_application(pb::GetApplicationRequest { name })
                .await?
        }
        Applications::Create { file, change } => {
            let application: pb::Application = read_json(&file, "clearance.v1.Application")?;
            let application = crate::references::application_file(ctx, application).await?;
            client
                .create_application(pb::CreateApplicationRequest {
                    request_id: request_id(&change.request_id),
                    application: Some(application),
                })
                .await?
        }
        Applications::Submit {
            name,
            confirm_declaration,
            change,
        } => {
            let etag = etag_of(name.clone(), change.etag.clone()).await?;
            client
                .submit_application(pb::SubmitApplicationRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    declaration_confirmed: confirm_declaration,
                })
                .await?
        }
        Applications::Withdraw {
            name,
            reason,
            change,
        } => {
            let etag = etag_of(name.clone(), change.etag.clone()).await?;
            client
                .withdraw_application(pb::WithdrawApplicationRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    reason,
                })
                .await?
        }
        Applications::Appeal {
            name,
            grounds,
            change,
        } => {
            let etag = etag_of(name.clone(), change.etag.clone()).await?;
            client
                .appeal_denial(pb::AppealDenialRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    grounds,
                    documents: Vec::new(),
                })
                .await?
        }
        Applications::Answer {
            name,
            rfi,
            text,
            change,
        } => {
            let application = name
                .split("/informationRequests/")
                .next()
                .unwrap_or_default()
                .to_owned();
            let name = match rfi {
                None => name,
                Some(number) => {
                    let asked = ctx
                        .applications()
                        .await?
                        .get_application(pb::GetApplicationRequest {
                            name: application.clone(),
                        })
                        .await?
                        .into_inner()
                        .information_requests;
                    number
                        .checked_sub(1)
                        .and_then(|i| asked.get(i))
                        .map(|r| r.name.clone())
                        .ok_or_else(|| {
                            Failure::Local(
                                LocalProblem::NotFound(format!(
                                    "{application} has {} question(s); there is no RFI {number}",
                                    asked.len()
                                ))
                                .into(),
                            )
                        })?
                }
            };
            let etag = etag_of(application, change.etag.clone()).await?;
            client
                .answer_information_request(pb::AnswerInformationRequestRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    answer: text,
                    documents: vec![],
                })
                .await?
        }
    };
    // Parts by part number and licences by number, where the reader can know them.
    let known = if f == Format::Text && ctx.speaks_for_exporter() {
        crate::references::known_names(ctx).await?
    } else {
        Vec::new()
    };
    Ok(print(
        f,
        &r.into_inner(),
        "clearance.v1.Application",
        |m| crate::references::humanise(text::application(m), &known),
    )?)
}
