//! `rollcall invite`: a file of addresses invited to one location with one role, on the server's
//! database or through `POST /api/v1/invitations/batch`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use reqwest::Method;
use rollcall_app::App;
use rollcall_app::audit::Meta;
use rollcall_app::onboarding::invite::PasteResult;
use serde_json::{Value, json};

use crate::output::{self, Output, s};
use crate::remote::Client;
use crate::{exit, lookup};

#[derive(clap::Args)]
pub struct InviteArgs {
    /// The organization's short code (see `rollcall org list`; remote commands use the token's).
    #[arg(long)]
    org: Option<String>,
    /// The file of addresses; `-` reads standard input.
    #[arg(long)]
    file: PathBuf,
    /// Location code (e.g. DT) or name.
    #[arg(long)]
    location: String,
    /// Role name (e.g. "Front Desk").
    #[arg(long)]
    role: String,
    /// The address of the user who invites: the messages name them, and they may grant only
    /// what they hold [default: the operator, and the messages name the organization only].
    /// On the server only: remote invitations are the token's.
    #[arg(long)]
    inviter: Option<String>,
    /// Makes a retried run invite nobody twice (default: derived from the file's content on the
    /// server, a new one for each remote run).
    #[arg(long)]
    idempotency_key: Option<String>,
}

fn read(args: &InviteArgs) -> anyhow::Result<String> {
    if args.file.as_os_str() == "-" {
        return Ok(std::io::read_to_string(std::io::stdin())?);
    }
    std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))
}

pub async fn direct(
    app: &App,
    args: InviteArgs,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    let Some(org) = &args.org else {
        bail!("give the organization: --org CODE (see `rollcall org list`)");
    };
    let text = read(&args)?;
    let org = rollcall_app::org::find(app, org).await?;
    let (who, meta) = lookup::actor(app, &org, args.inviter.as_deref(), operator).await?;
    let loc = rollcall_app::org::find_location(app, &who, &args.location).await?;
    let role = rollcall_app::access::roles::find_by_name(app, &who, &args.role).await?;
    let key_text = args
        .idempotency_key
        .unwrap_or_else(|| rollcall_app::secret::hash(&format!("{}|{}|{}", text, loc.id, role.id)));
    let request = json!({ "addresses": text, "location": loc.id, "role": role.id });
    let key = rollcall_app::idempotency::Key::new(&who, "cli.invite", &key_text, &request)?;
    let result = rollcall_app::onboarding::invite::paste_invite(
        app,
        &who,
        &text,
        Some(loc.id),
        role.id,
        Some(&key),
        &meta,
    )
    .await?;
    report(
        &result,
        "Invitations go out while `rollcall serve` runs.",
        out,
    )
}

pub async fn remote(client: &Client, args: InviteArgs, out: Output) -> anyhow::Result<()> {
    if args.inviter.is_some() {
        bail!("--inviter works on the server only: remote invitations are made by the token");
    }
    client.check_org(args.org.as_deref()).await?;
    let text = read(&args)?;
    let location = find(&client.get("/locations").await?, &args.location, "location")?;
    let role = find(&client.get("/roles").await?, &args.role, "role")?;
    let key = args
        .idempotency_key
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let body = json!({ "addresses": text, "location_id": location, "role_id": role });
    let req = client
        .request(Method::POST, "/invitations/batch")
        .header("Idempotency-Key", key)
        .json(&body);
    let result: PasteResult = serde_json::from_value(client.send(req).await?)
        .context("the server's answer to the invitations is not what this version reads")?;
    report(&result, "The server sends the invitations.", out)
}

/// The id of a location (by code or name) or a role (by name) in the API's reference list.
pub fn find(list: &Value, wanted: &str, what: &str) -> anyhow::Result<String> {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    let matches = |item: &&Value| {
        [s(item, "id"), s(item, "code"), s(item, "name")]
            .iter()
            .any(|v| !v.is_empty() && v.eq_ignore_ascii_case(wanted.trim()))
    };
    match items.iter().find(matches) {
        Some(item) => Ok(s(item, "id").to_string()),
        None => {
            let known: Vec<&str> = items.iter().map(|i| s(i, "name")).collect();
            bail!(
                "no {what} “{wanted}”; the organization has {}",
                known.join(", ")
            )
        }
    }
}

/// Who was invited and why the others were not; partly done when some were not.
fn report(result: &PasteResult, delivery: &str, out: Output) -> anyhow::Result<()> {
    if out.json() {
        output::print_json(&serde_json::to_value(result)?)?;
    } else {
        println!(
            "Invited {} to {} as {}.",
            result.invited.len(),
            result.location,
            result.role
        );
        if !result.not_invited.is_empty() {
            println!("Not invited ({}):", result.not_invited.len());
            for n in &result.not_invited {
                println!("  {}: {}", n.entry, n.reason);
            }
        }
        println!("{delivery}");
    }
    match (result.invited.len(), result.not_invited.len()) {
        (_, 0) => Ok(()),
        (0, n) => bail!("nobody was invited: the {n} entries above were not taken"),
        (_, n) => Err(exit::Partly(format!("{n} entries were not invited")).into()),
    }
}
