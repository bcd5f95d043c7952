//! Who acts at the command line.

use anyhow::Context;
use rollcall_app::audit::Meta;
use rollcall_app::model::Organization;
use rollcall_app::{App, Principal};

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

/// The operator of one organization, with every permission.
pub async fn operator(app: &App, org: &str, operator: &Meta) -> anyhow::Result<Principal> {
    let org = rollcall_app::org::find(app, org).await?;
    Ok(Principal::operator(app, org.id, &operator.actor_label).await?)
}
