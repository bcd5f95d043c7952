//! What the operator names on the command line, found in the organization: each miss says what
//! the valid names are.

use anyhow::Context;
use rollcall_app::audit::Meta;
use rollcall_app::store::locations::Location;
use rollcall_app::store::orgs::Organization;
use rollcall_app::store::roles::Role;
use rollcall_app::{App, Principal};

pub async fn org(app: &App, slug: &str) -> anyhow::Result<Organization> {
    let mut conn = app.db.read_conn().await?;
    Ok(rollcall_app::orgs::find_org(&mut conn, slug).await?)
}

/// Who acts: the user named by `--inviter` (messages name them, the rules judge their access),
/// or the operator with every permission.
pub async fn actor(
    app: &App,
    org: &Organization,
    inviter: Option<&str>,
    operator: &Meta,
) -> anyhow::Result<(Principal, Meta)> {
    match inviter {
        None => Ok((
            Principal::operator(app, org.id, &operator.actor_label).await?,
            operator.clone(),
        )),
        Some(email) => {
            let who = Principal::acting_as(app, org.id, email)
                .await
                .context("--inviter")?;
            let meta = Meta {
                actor_id: Some(who.user_id),
                actor_label: format!(
                    "{} at the command line ({})",
                    who.label, operator.actor_label
                ),
                ..Meta::default()
            };
            Ok((who, meta))
        }
    }
}

/// A location by code or name (letter case ignored).
pub async fn location(app: &App, org: &Organization, text: &str) -> anyhow::Result<Location> {
    let mut conn = app.db.read_conn().await?;
    let all = rollcall_app::store::locations::list(&mut conn, org.id).await?;
    let found = all.iter().find(|l| {
        l.code.eq_ignore_ascii_case(text.trim()) || l.name.eq_ignore_ascii_case(text.trim())
    });
    match found {
        Some(l) => Ok(l.clone()),
        None if all.is_empty() => anyhow::bail!(
            "{} has no location yet: add one with rollcall location create --org {} --name … --code …",
            org.name,
            org.slug
        ),
        None => anyhow::bail!(
            "no location “{text}” in {}: the locations are {}",
            org.name,
            all.iter()
                .map(|l| format!("{} ({})", l.code, l.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A role by name (letter case ignored).
pub async fn role(app: &App, org: &Organization, name: &str) -> anyhow::Result<Role> {
    let mut conn = app.db.read_conn().await?;
    let all = rollcall_app::store::roles::list(&mut conn, org.id).await?;
    all.iter()
        .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
        .cloned()
        .with_context(|| {
            format!(
                "no role “{name}” in {}: the roles are {}",
                org.name,
                all.iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}
