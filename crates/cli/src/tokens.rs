//! `rollcall tokens`: service accounts made, listed, rotated and revoked by the operator on the
//! server (the command line acts as no person, so its tokens belong to the organization).

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use rollcall_app::App;
use rollcall_app::audit::Meta;
use rollcall_app::identity::api_tokens::{self, NewToken};
use serde_json::Value;
use uuid::Uuid;

use crate::lookup;
use crate::output::{self, Output};
use crate::remote::Client;

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Make a service account and print its secret (shown this once).
    Create {
        /// The organization's short code (remote commands use the token's).
        #[arg(long)]
        org: Option<String>,
        /// What the token is for, e.g. "HR sync".
        #[arg(long)]
        name: String,
        /// Space- or comma-separated: users:read, users:write, tokens:write, scim.
        #[arg(long)]
        scopes: String,
        /// Days until the token stops working [default: it does not expire].
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Print the token as JSON (with its secret): the same as `--output json`.
        #[arg(long)]
        json: bool,
    },
    /// The organization's tokens (never their secrets).
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Give a token a new secret; the old one stops working at once.
    Rotate {
        #[arg(long)]
        org: Option<String>,
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Stop a token at once.
    Revoke {
        #[arg(long)]
        org: Option<String>,
        id: Uuid,
    },
}

impl TokensCommand {
    fn org(&self) -> Option<&str> {
        match self {
            TokensCommand::Create { org, .. }
            | TokensCommand::List { org, .. }
            | TokensCommand::Rotate { org, .. }
            | TokensCommand::Revoke { org, .. } => org.as_deref(),
        }
    }

    /// `--json` of the command, kept as an alias of `--output json`.
    fn output(&self, out: Output) -> Output {
        match self {
            TokensCommand::Create { json, .. }
            | TokensCommand::List { json, .. }
            | TokensCommand::Rotate { json, .. } => out.or_json(*json),
            TokensCommand::Revoke { .. } => out,
        }
    }
}

pub async fn direct(
    app: &App,
    command: TokensCommand,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    let out = command.output(out);
    let org = command
        .org()
        .context("give the organization: --org CODE (see `rollcall org list`)")?;
    let who = lookup::operator(app, org, operator).await?;
    match command {
        TokensCommand::Create {
            name,
            scopes,
            expires_in_days,
            ..
        } => {
            let req = NewToken {
                name,
                scopes,
                owner: "organization".into(),
                expires_in_days,
            };
            let issued = api_tokens::create(app, &who, &req, operator).await?;
            output::issued(&serde_json::to_value(&issued)?, out)
        }
        TokensCommand::List { .. } => print_list(
            &serde_json::to_value(&api_tokens::list(app, &who).await?)?,
            out,
        ),
        TokensCommand::Rotate { id, .. } => {
            let issued = api_tokens::rotate(app, &who, id, operator).await?;
            output::issued(&serde_json::to_value(&issued)?, out)
        }
        TokensCommand::Revoke { id, .. } => {
            let token = api_tokens::revoke(app, &who, id, operator).await?;
            revoked(&serde_json::to_value(&token)?, out)
        }
    }
}

pub async fn remote(client: &Client, command: TokensCommand, out: Output) -> anyhow::Result<()> {
    let out = command.output(out);
    client.check_org(command.org()).await?;
    match command {
        TokensCommand::Create {
            name,
            scopes,
            expires_in_days,
            ..
        } => {
            let req = serde_json::json!({
                "name": name,
                "scopes": scopes,
                "owner": "organization",
                "expires_in_days": expires_in_days,
            });
            output::issued(&client.post("/tokens", &req).await?, out)
        }
        TokensCommand::List { .. } => print_list(&client.get("/tokens").await?, out),
        TokensCommand::Rotate { id, .. } => {
            let path = format!("/tokens/{id}/rotate");
            output::issued(
                &client.send(client.request(Method::POST, &path)).await?,
                out,
            )
        }
        TokensCommand::Revoke { id, .. } => {
            let path = format!("/tokens/{id}");
            revoked(
                &client.send(client.request(Method::DELETE, &path)).await?,
                out,
            )
        }
    }
}

fn print_list(tokens: &Value, out: Output) -> anyhow::Result<()> {
    if out.json() {
        return output::print_json(tokens);
    }
    tokens
        .as_array()
        .into_iter()
        .flatten()
        .for_each(output::token_line);
    Ok(())
}

fn revoked(token: &Value, out: Output) -> anyhow::Result<()> {
    if out.json() {
        return output::print_json(token);
    }
    println!(
        "Revoked “{}”; it no longer works.",
        output::s(token, "name")
    );
    Ok(())
}
