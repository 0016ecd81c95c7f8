//! `clearancectl screening`: denied-party lists (a policy administrator imports a new version;
//! open cases and the cases behind active licences are screened against it).

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use clearance_proto::v1 as pb;

use crate::context::{Ctx, Failure, LocalProblem, Outcome, Retry, request_id};
use crate::output::print;
use crate::text;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ListFormat {
    /// The US Consolidated Screening List as CSV (trade.gov).
    CslCsv,
    /// The US Consolidated Screening List as JSON ({"results": [...]}).
    CslJson,
    /// FollowTheMoney entities, one JSON object per line (OpenSanctions).
    FollowTheMoney,
}

impl From<ListFormat> for pb::ScreeningListFormat {
    fn from(f: ListFormat) -> Self {
        match f {
            ListFormat::CslCsv => pb::ScreeningListFormat::CslCsv,
            ListFormat::CslJson => pb::ScreeningListFormat::CslJson,
            ListFormat::FollowTheMoney => pb::ScreeningListFormat::FollowTheMoney,
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum Screening {
    /// Import a new version of a denied-party list.
    #[command(
        after_help = "Example:\n  clearancectl screening import consolidated.csv --source 'US CSL' --format csl-csv"
    )]
    Import {
        /// The list file, as its publisher distributes it.
        file: PathBuf,
        /// Who publishes the list, e.g. 'US CSL'; hits name it.
        #[arg(long)]
        source: String,
        /// The file's format.
        #[arg(long, value_enum)]
        format: ListFormat,
        #[command(flatten)]
        change: Retry,
    },
}

pub(crate) async fn run(ctx: &Ctx, cmd: Screening) -> Outcome {
    match cmd {
        Screening::Import {
            file,
            source,
            format,
            change,
        } => {
            let content = std::fs::read(&file).map_err(|e| {
                Failure::Local(LocalProblem::Invalid(format!("{}: {e}", file.display())).into())
            })?;
            let list = ctx
                .policies()
                .await?
                .import_screening_list(pb::ImportScreeningListRequest {
                    request_id: request_id(&change.request_id),
                    source,
                    format: pb::ScreeningListFormat::from(format) as i32,
                    content,
                })
                .await?
                .into_inner();
            Ok(print(
                ctx.format,
                &list,
                "clearance.v1.ScreeningList",
                text::screening_list,
            )?)
        }
    }
}
