//! `rollcall tokens`: service accounts made, listed, rotated and revoked by the operator on the
//! server (the command line acts as no person, so its tokens belong to the organization).

use clap::Subcommand;
use rollcall_app::App;
use rollcall_app::audit::Meta;
use rollcall_app::identity::api_tokens::{self, Issued, NewToken, TokenView};
use uuid::Uuid;

use crate::lookup;

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Make a service account and print its secret (shown this once).
    Create {
        /// The organization's short code.
        #[arg(long)]
        org: String,
        /// What the token is for, e.g. "HR sync".
        #[arg(long)]
        name: String,
        /// Space- or comma-separated: users:read, users:write, tokens:write.
        #[arg(long)]
        scopes: String,
        /// Days until the token stops working [default: it does not expire].
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Print the token as JSON (with its secret) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The organization's tokens (never their secrets).
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        json: bool,
    },
    /// Give a token a new secret; the old one stops working at once.
    Rotate {
        #[arg(long)]
        org: String,
        id: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Stop a token at once.
    Revoke {
        #[arg(long)]
        org: String,
        id: Uuid,
    },
}

pub async fn run(app: &App, command: TokensCommand, operator: &Meta) -> anyhow::Result<()> {
    match command {
        TokensCommand::Create {
            org,
            name,
            scopes,
            expires_in_days,
            json,
        } => {
            let who = lookup::operator(app, &org, operator).await?;
            let req = NewToken {
                name,
                scopes,
                owner: "organization".into(),
                expires_in_days,
            };
            let issued = api_tokens::create(app, &who, &req, operator).await?;
            print_issued(&issued, json)
        }
        TokensCommand::List { org, json } => {
            let who = lookup::operator(app, &org, operator).await?;
            let tokens = api_tokens::list(app, &who).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                tokens.iter().for_each(print_line);
            }
            Ok(())
        }
        TokensCommand::Rotate { org, id, json } => {
            let who = lookup::operator(app, &org, operator).await?;
            print_issued(&api_tokens::rotate(app, &who, id, operator).await?, json)
        }
        TokensCommand::Revoke { org, id } => {
            let who = lookup::operator(app, &org, operator).await?;
            let token = api_tokens::revoke(app, &who, id, operator).await?;
            println!("Revoked “{}”; it no longer works.", token.name);
            Ok(())
        }
    }
}

fn print_issued(issued: &Issued, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(issued)?);
    } else {
        print_line(&issued.token);
        println!("{}", issued.secret);
        eprintln!("Copy the secret now: it is not shown again.");
    }
    Ok(())
}

fn print_line(t: &TokenView) {
    println!(
        "{}  {:<8} {:<24} {:<30} expires {}  last used {}",
        t.id,
        t.state,
        t.name,
        t.scopes.join(" "),
        t.expires_at.as_deref().unwrap_or("never"),
        t.last_used_at.as_deref().unwrap_or("never"),
    );
}
