//! `clearancectl referrals`: cases referred to advising agencies, and their advice. An
//! adviser sees only the referrals to its own agency.

use clap::Subcommand;
use clearance_proto::v1 as pb;

use crate::context::{Change, Ctx, Failure, Outcome, Page, request_id};
use crate::output::{self, Format, print};
use crate::text;

#[derive(Subcommand)]
pub(crate) enum Referrals {
    /// Referrals, earliest due first (filter on outstanding, overdue, agency, case).
    #[command(
        after_help = "Examples:\n  clearancectl referrals list --filter 'outstanding = true'\n  clearancectl referrals list --filter 'overdue = true'"
    )]
    List(Page),
    /// One referral with the case as referred and any advice.
    #[command(after_help = "Example:\n  clearancectl referrals show referrals/0192...")]
    Show {
        /// The referral, referrals/{id} (as `referrals list` prints it).
        name: String,
    },
    /// Give your agency's advice on every referred line, once (advisers).
    #[command(
        after_help = "Example:\n  clearancectl referrals advise referrals/0192... --advice 1:approve --advice '2:refuse:end user of concern' --advice '3:provisos:end-use check within 90 days'"
    )]
    Advise {
        /// The referral, referrals/{id}.
        name: String,
        /// `LINE:KIND[:TEXT]` for each referred line, lines counted from 1; KIND is approve,
        /// provisos (with the provisos as TEXT), refuse (with the reasons as TEXT) or nlr (no
        /// licence required).
        #[arg(long = "advice", required = true, value_parser = parse_advice)]
        advice: Vec<pb::LineAdvice>,
        #[command(flatten)]
        change: Change,
    },
}

/// `LINE:KIND[:TEXT]`, e.g. `2:refuse:end user of concern`.
fn parse_advice(raw: &str) -> Result<pb::LineAdvice, String> {
    let mut parts = raw.splitn(3, ':');
    let line = parts.next().unwrap_or_default().trim();
    let line_number = line
        .parse()
        .map_err(|_| format!("'{line}' is not a line number (LINE:KIND[:TEXT])"))?;
    let kind = match parts.next().unwrap_or_default().trim() {
        "approve" => pb::AdviceKind::Approve,
        "provisos" => pb::AdviceKind::ApproveWithProvisos,
        "refuse" => pb::AdviceKind::Refuse,
        "nlr" => pb::AdviceKind::NoLicenceRequired,
        other => {
            return Err(format!(
                "'{other}' is not approve, provisos, refuse or nlr (LINE:KIND[:TEXT])"
            ));
        }
    };
    Ok(pb::LineAdvice {
        line_number,
        kind: kind as i32,
        text: parts.next().unwrap_or_default().trim().to_owned(),
    })
}

pub(crate) async fn run(ctx: &Ctx, cmd: Referrals) -> Outcome {
    let f = ctx.format;
    let mut client = ctx.reviews().await?;
    let r = match cmd {
        Referrals::List(p) => {
            return list_all!(
                ctx,
                client,
                list_referrals,
                ListReferralsRequest {
                    filter: p.filter.clone()
                },
                referrals,
                "clearance.v1.Referral",
                text::referrals_table
            );
        }
        Referrals::Show { name } => client.get_referral(pb::GetReferralRequest { name }).await?,
        Referrals::Advise {
            name,
            advice,
            change,
        } => {
            let etag = match change.etag.clone() {
                Some(etag) => etag,
                None => {
                    client
                        .get_referral(pb::GetReferralRequest { name: name.clone() })
                        .await?
                        .into_inner()
                        .etag
                }
            };
            client
                .give_advice(pb::GiveAdviceRequest {
                    name,
                    request_id: request_id(&change.request_id),
                    etag,
                    advice,
                })
                .await
                .map_err(Failure::from)?
        }
    };
    Ok(print(
        f,
        &r.into_inner(),
        "clearance.v1.Referral",
        text::referral,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_is_read_as_line_kind_and_text() {
        let refuse = parse_advice("2:refuse:end user: of concern").unwrap();
        assert_eq!(refuse.line_number, 2);
        assert_eq!(refuse.kind, pb::AdviceKind::Refuse as i32);
        assert_eq!(refuse.text, "end user: of concern");
        assert_eq!(parse_advice("1:approve").unwrap().text, "");
        assert!(parse_advice("x:approve").is_err());
        assert!(parse_advice("1:maybe").is_err());
    }
}
