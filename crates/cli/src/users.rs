//! `rollcall users list|show|deactivate|reactivate`: on the server's database as the operator,
//! or against a running server with a token. Both print the API's shapes.

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use rollcall_app::audit::Meta;
use rollcall_app::users::list::{self as user_list, ListParams};
use rollcall_app::{App, Principal};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::lookup;
use crate::output::{self, Output};
use crate::remote::Client;

/// The most users one page of the API answers.
const PAGE: u32 = 200;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// List users, every page of them.
    List {
        /// The organization's short code (on the server; remote commands use the token's).
        #[arg(long)]
        org: Option<String>,
        /// pending, expired, active, inactive, blocked or disabled.
        #[arg(long)]
        status: Option<String>,
        /// A role by name or id.
        #[arg(long)]
        role: Option<String>,
        /// A location by code, name or id.
        #[arg(long)]
        location: Option<String>,
        /// Text found in the name, email or username.
        #[arg(long)]
        q: Option<String>,
        /// At most this many users [default: all].
        #[arg(long)]
        limit: Option<u32>,
    },
    /// A user's profile: status, locations, roles.
    Show(Target),
    /// Deactivate a user: sessions, tokens and any invitation end; history is kept.
    Deactivate(Target),
    /// Reactivate a user (pending with a new invitation if they never registered).
    Reactivate(Target),
}

#[derive(clap::Args)]
pub struct Target {
    /// The organization's short code (on the server; remote commands use the token's).
    #[arg(long)]
    org: Option<String>,
    /// The user's id or email address.
    user: String,
}

impl UsersCommand {
    pub fn org(&self) -> Option<&str> {
        match self {
            UsersCommand::List { org, .. } => org.as_deref(),
            UsersCommand::Show(t) | UsersCommand::Deactivate(t) | UsersCommand::Reactivate(t) => {
                t.org.as_deref()
            }
        }
    }

    fn params(&self) -> (ListParams, Option<u32>) {
        let UsersCommand::List {
            status,
            role,
            location,
            q,
            limit,
            ..
        } = self
        else {
            return (ListParams::default(), None);
        };
        let params = ListParams {
            q: q.clone(),
            status: status.clone(),
            location: location.clone(),
            role: role.clone(),
            limit: Some(limit.unwrap_or(PAGE).clamp(1, PAGE)),
            ..ListParams::default()
        };
        (params, *limit)
    }
}

/// On the server's database, as the operator of `--org`.
pub async fn direct(
    app: &App,
    command: UsersCommand,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    let org = command
        .org()
        .context("give the organization: --org CODE (see `rollcall org list`)")?;
    let who = lookup::operator(app, org, operator).await?;
    let (mut params, limit) = command.params();
    match command {
        UsersCommand::List { .. } => {
            let mut users = Vec::new();
            loop {
                let page = user_list::list(app, &who, &params).await?;
                users.extend(page.users.iter().map(serde_json::to_value));
                if page.next.is_none() || limit.is_some_and(|l| users.len() >= l as usize) {
                    break;
                }
                params.after = page.next;
            }
            let users = users.into_iter().collect::<Result<Vec<_>, _>>()?;
            print_list(users, limit, out)
        }
        UsersCommand::Show(t) => {
            let id = direct_id(app, &who, &t.user).await?;
            let profile = rollcall_app::access::profile::get(app, &who, id).await?;
            print_profile(&serde_json::to_value(&profile)?, out)
        }
        UsersCommand::Deactivate(t) => {
            let id = direct_id(app, &who, &t.user).await?;
            rollcall_app::access::lifecycle::deactivate(app, &who, id, operator).await?;
            changed(&t.user, id, "inactive", out)
        }
        UsersCommand::Reactivate(t) => {
            let id = direct_id(app, &who, &t.user).await?;
            let status =
                rollcall_app::access::lifecycle::reactivate(app, &who, id, operator).await?;
            changed(&t.user, id, status.as_str(), out)
        }
    }
}

async fn direct_id(app: &App, who: &Principal, user: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(user) {
        return Ok(id);
    }
    user_list::find_by_email(app, who, user)
        .await?
        .with_context(|| format!("no user with the address “{user}” in the organization"))
}

/// Against a running server, as the token.
pub async fn remote(client: &Client, command: UsersCommand, out: Output) -> anyhow::Result<()> {
    client.check_org(command.org()).await?;
    let (mut params, limit) = command.params();
    match command {
        UsersCommand::List { .. } => {
            let mut users = Vec::new();
            loop {
                let req = client.request(Method::GET, "/users").query(&params);
                let mut page = client.send(req).await?;
                users.extend(
                    page["users"]
                        .as_array_mut()
                        .map(std::mem::take)
                        .unwrap_or_default(),
                );
                let next = page["next"].as_str().map(str::to_string);
                if next.is_none() || limit.is_some_and(|l| users.len() >= l as usize) {
                    break;
                }
                params.after = next;
            }
            print_list(users, limit, out)
        }
        UsersCommand::Show(t) => {
            let id = client.user_id(&t.user).await?;
            print_profile(&client.get(&format!("/users/{id}")).await?, out)
        }
        UsersCommand::Deactivate(t) => {
            let id = client.user_id(&t.user).await?;
            let path = format!("/users/{id}/deactivate");
            client.send(client.request(Method::POST, &path)).await?;
            changed(&t.user, id, "inactive", out)
        }
        UsersCommand::Reactivate(t) => {
            let id = client.user_id(&t.user).await?;
            let path = format!("/users/{id}/reactivate");
            let answer = client.send(client.request(Method::POST, &path)).await?;
            changed(&t.user, id, output::s(&answer, "status"), out)
        }
    }
}

fn print_list(mut users: Vec<Value>, limit: Option<u32>, out: Output) -> anyhow::Result<()> {
    if let Some(l) = limit {
        users.truncate(l as usize);
    }
    if out.json() {
        return output::print_json(&Value::Array(users));
    }
    users.iter().for_each(output::user_line);
    eprintln!("{} users", users.len());
    Ok(())
}

fn print_profile(profile: &Value, out: Output) -> anyhow::Result<()> {
    if out.json() {
        return output::print_json(profile);
    }
    output::profile(profile);
    Ok(())
}

/// What a deactivation or reactivation left the user in.
fn changed(user: &str, id: Uuid, status: &str, out: Output) -> anyhow::Result<()> {
    if out.json() {
        return output::print_json(&json!({ "id": id, "status": status }));
    }
    match status {
        "inactive" => println!("Deactivated {user}."),
        "pending" => println!("Reactivated {user}: pending, with a new invitation."),
        _ => println!("Reactivated {user}: {status}."),
    }
    Ok(())
}
