//! `clearancectl events`: following the event stream.

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{Ctx, Outcome, connect};
use crate::output::{self, Format};

#[derive(Subcommand)]
pub(crate) enum Events {
    /// Follow every change you may see, in commit order, until interrupted.
    #[command(
        after_help = "Examples:\n  clearancectl events watch\n  clearancectl --output json events watch --after <cursor> --reviewer"
    )]
    Watch {
        /// Resume after this cursor (printed with every event).
        #[arg(long, default_value = "")]
        after: String,
        /// Watch through the reviewer service (regulator tokens).
        #[arg(long)]
        reviewer: bool,
    },
}

pub(crate) async fn run(ctx: &Ctx, cmd: Events) -> Outcome {
    let f = ctx.format;
    let Events::Watch { after, reviewer } = cmd;
    let endpoint = if reviewer {
        &ctx.settings.reviewer_endpoint
    } else {
        &ctx.settings.application_endpoint
    };
    // A stream has no deadline: connect without the per-call timeout.
    let which = if reviewer { "reviewer" } else { "application" };
    let channel = connect(
        endpoint,
        which,
        ctx.settings.timeout,
        false,
        ctx.settings.ca_file.as_deref(),
    )
    .await?;
    let mut client =
        clearance_proto::v1::event_service_client::EventServiceClient::with_interceptor(
            channel,
            ctx.bearer.clone(),
        );
    let mut stream = client
        .watch_events(pb::WatchEventsRequest {
            after_cursor: after,
            ..Default::default()
        })
        .await?
        .into_inner();
    while let Some(event) = stream.message().await? {
        match f {
            Format::Json => println!(
                "{}",
                serde_json::to_string(&output::to_json(&event, "clearance.v1.Event")?)
                    .map_err(anyhow::Error::from)?
            ),
            Format::Text => {
                println!("{}  {:<32} {}", event.cursor, event.r#type, event.resource)
            }
        }
    }
    Ok(())
}
