//! `rollcall reviews list|start|show|evidence|overdue|decide`: access review campaigns, on the server's
//! database as the operator or against a running server with a token. Deciding is a
//! reviewer's act, so it works against a server with the reviewer's personal token only.

use anyhow::{Context, bail};
use clap::Subcommand;
use reqwest::Method;
use rollcall_app::App;
use rollcall_app::audit::Meta;
use rollcall_app::reviews::{self, decide::DecisionRequest, evidence, start::NewCampaign};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::exit::Partly;
use crate::lookup;
use crate::output::{self, Output};
use crate::remote::Client;

#[derive(Subcommand)]
pub enum ReviewsCommand {
    /// The organization's campaigns, newest first, with their counts.
    List(Org),
    /// Start a campaign over everyone, or a location, role or user type.
    Start {
        #[command(flatten)]
        org: Org,
        /// What to call it, e.g. "Q1 access review".
        #[arg(long)]
        name: String,
        /// YYYY-MM-DD (due when that day ends) or "YYYY-MM-DD HH:MM", in the organization's zone.
        #[arg(long)]
        due: String,
        /// Only people with access to this location (code, name or id).
        #[arg(long)]
        location: Option<String>,
        /// Only holders of this role (name or id).
        #[arg(long)]
        role: Option<String>,
        /// Only people of this user type (code).
        #[arg(long)]
        user_type: Option<String>,
        /// once, monthly, quarterly, half-yearly or yearly.
        #[arg(long)]
        recurrence: Option<String>,
    },
    /// One campaign and its counts.
    Show {
        #[command(flatten)]
        org: Org,
        campaign: Uuid,
    },
    /// The campaign's evidence: who reviewed whom, when, what they decided and what was applied.
    Evidence {
        #[command(flatten)]
        org: Org,
        campaign: Uuid,
        /// CSV instead of JSON.
        #[arg(long)]
        csv: bool,
    },
    /// What a due date does to the people nobody reviewed: `escalate` them to the company admins
    /// (the default) or `revoke` their elevated permissions. On the server only.
    Overdue {
        #[command(flatten)]
        org: Org,
        /// escalate or revoke
        action: String,
    },
    /// Decide on people you review (with --url and your personal token).
    Decide {
        campaign: Uuid,
        /// keep, remove_permission, remove_location or deactivate.
        #[arg(long)]
        decision: String,
        /// A person's id; repeat for a selection.
        #[arg(long = "user", required = true)]
        users: Vec<Uuid>,
        /// The permission to remove (its key).
        #[arg(long)]
        permission: Option<String>,
        /// The location to remove (code, name or id).
        #[arg(long)]
        location: Option<String>,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct Org {
    /// The organization's short code (on the server; remote commands use the token's).
    #[arg(long)]
    org: Option<String>,
}

impl ReviewsCommand {
    fn org(&self) -> Option<&str> {
        match self {
            ReviewsCommand::List(o)
            | ReviewsCommand::Start { org: o, .. }
            | ReviewsCommand::Show { org: o, .. }
            | ReviewsCommand::Evidence { org: o, .. }
            | ReviewsCommand::Overdue { org: o, .. } => o.org.as_deref(),
            ReviewsCommand::Decide { .. } => None,
        }
    }
}

fn new_campaign(command: &ReviewsCommand) -> Option<NewCampaign> {
    let ReviewsCommand::Start {
        name,
        due,
        location,
        role,
        user_type,
        recurrence,
        ..
    } = command
    else {
        return None;
    };
    Some(NewCampaign {
        name: name.clone(),
        due_date: due.clone(),
        location: location.clone(),
        role: role.clone(),
        user_type: user_type.clone(),
        recurrence: recurrence.clone(),
    })
}

/// On the server's database, as the operator of `--org`.
pub async fn direct(
    app: &App,
    command: ReviewsCommand,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    if let ReviewsCommand::Decide { .. } = command {
        bail!(
            "deciding is a reviewer's act: run `rollcall reviews decide` with --url and the reviewer's personal token"
        );
    }
    let org = command
        .org()
        .context("give the organization: --org CODE (see `rollcall org list`)")?;
    let who = lookup::operator(app, org, operator).await?;
    let started = new_campaign(&command);
    match command {
        ReviewsCommand::List(_) => {
            print_campaigns(serde_json::to_value(reviews::list(app, &who).await?)?, out)
        }
        ReviewsCommand::Start { .. } => {
            let req = started.expect("a start command");
            let view = reviews::start::start(app, &who, &req, operator).await?;
            print_campaign(&serde_json::to_value(view)?, out)
        }
        ReviewsCommand::Show { campaign, .. } => print_campaign(
            &serde_json::to_value(reviews::get(app, &who, campaign).await?)?,
            out,
        ),
        ReviewsCommand::Evidence { campaign, csv, .. } if csv => {
            print!("{}", evidence::csv(app, &who, campaign).await?);
            Ok(())
        }
        ReviewsCommand::Evidence { campaign, .. } => output::print_json(&serde_json::to_value(
            evidence::json(app, &who, campaign).await?,
        )?),
        ReviewsCommand::Overdue { action, .. } => {
            let revokes = match action.trim() {
                "escalate" => false,
                "revoke" => true,
                other => bail!("“{other}” is not what a due date does: use escalate or revoke"),
            };
            let was = reviews::set_overdue_revokes(app, &who, revokes, operator).await?;
            let word = |r: bool| if r { "revoke" } else { "escalate" };
            if out.json() {
                return output::print_json(
                    &json!({ "overdue": word(revokes), "previous": word(was) }),
                );
            }
            println!(
                "Past their due date, access reviews now {} (before: {}).",
                word(revokes),
                word(was)
            );
            Ok(())
        }
        ReviewsCommand::Decide { .. } => unreachable!("refused above"),
    }
}

/// Against a running server, as the token.
pub async fn remote(client: &Client, command: ReviewsCommand, out: Output) -> anyhow::Result<()> {
    client.check_org(command.org()).await?;
    let started = new_campaign(&command);
    match command {
        ReviewsCommand::List(_) => print_campaigns(client.get("/access-reviews").await?, out),
        ReviewsCommand::Start { .. } => {
            let body = serde_json::to_value(started.expect("a start command"))?;
            print_campaign(&client.post("/access-reviews", &body).await?, out)
        }
        ReviewsCommand::Show { campaign, .. } => print_campaign(
            &client.get(&format!("/access-reviews/{campaign}")).await?,
            out,
        ),
        ReviewsCommand::Evidence { campaign, csv, .. } if csv => {
            print!(
                "{}",
                client
                    .get_text(&format!("/access-reviews/{campaign}/evidence.csv"))
                    .await?
            );
            Ok(())
        }
        ReviewsCommand::Evidence { campaign, .. } => output::print_json(
            &client
                .get(&format!("/access-reviews/{campaign}/evidence"))
                .await?,
        ),
        ReviewsCommand::Overdue { .. } => bail!(
            "`rollcall reviews overdue` works on the server's database only: run it on the server without --url"
        ),
        ReviewsCommand::Decide {
            campaign,
            decision,
            users,
            permission,
            location,
            note,
        } => {
            let body = serde_json::to_value(DecisionRequest {
                users,
                decision,
                permission,
                location,
                note,
            })?;
            let path = format!("/access-reviews/{campaign}/decisions");
            let answer = client
                .send(client.request(Method::POST, &path).json(&body))
                .await?;
            print_outcomes(answer, out)
        }
    }
}

fn print_campaigns(list: Value, out: Output) -> anyhow::Result<()> {
    if out.json() {
        return output::print_json(&list);
    }
    let all = list.as_array().cloned().unwrap_or_default();
    all.iter().for_each(campaign_line);
    eprintln!("{} campaigns", all.len());
    Ok(())
}

fn print_campaign(c: &Value, out: Output) -> anyhow::Result<()> {
    if out.json() {
        return output::print_json(c);
    }
    campaign_line(c);
    Ok(())
}

fn campaign_line(c: &Value) {
    let n = |k: &str| c["counts"][k].as_i64().unwrap_or(0);
    output::emit(format_args!(
        "{}  {}  ({}) due {}: {} people, {} pending, {} decided, {} escalated, {} revoked",
        output::s(c, "id"),
        output::s(c, "name"),
        output::s(c, "scope"),
        output::s(c, "due_local"),
        n("total"),
        n("pending"),
        n("decided"),
        n("escalated"),
        n("revoked"),
    ));
}

/// Each person's outcome; a refusal or a skip makes the command partly done (exit 3).
fn print_outcomes(answer: Value, out: Output) -> anyhow::Result<()> {
    let all = answer.as_array().cloned().unwrap_or_default();
    if out.json() {
        output::print_json(&answer)?;
    } else {
        for o in &all {
            output::emit(format_args!(
                "{}  {}: {}{}",
                output::s(o, "user_id"),
                output::s(o, "name"),
                output::s(o, "outcome"),
                o["message"]
                    .as_str()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            ));
        }
    }
    let missed = all
        .iter()
        .filter(|o| o["outcome"] != json!("applied"))
        .count();
    if missed > 0 {
        return Err(Partly(format!(
            "{missed} of {} decisions were not applied",
            all.len()
        ))
        .into());
    }
    Ok(())
}
