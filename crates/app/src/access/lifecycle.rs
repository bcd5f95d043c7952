//! Deactivation and reactivation. Deactivating keeps every record, revokes sessions, API tokens
//! and any pending invitation, and frees the seat; reactivating restores access (Pending again,
//! with a new invitation, if the person never registered).

use rollcall_domain::status::{self, Transition};
use rollcall_domain::{Capability, Change, Path, UserStatus};
use rollcall_store::{api_tokens, audit, sessions, users};
use uuid::Uuid;

use crate::access::{Batch, OrgScope, subject_of};
use crate::audit::Meta;
use crate::{App, AppError, Principal};

/// Whose word a deactivation or reactivation is: a person's own decision in the console or API,
/// or an upstream source's (SCIM, the directory roster). Recorded on the audit event, so that an
/// upstream source undoes only what it did itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Manager,
    Scim,
    Directory,
    /// The person's leaving date came.
    LeavingDate,
    /// The person had not signed in for the organization's set number of days.
    Inactivity,
}

impl Origin {
    /// As the audit event's `upstream` records it; `None` for a manager's own decision.
    fn upstream(self) -> Option<&'static str> {
        match self {
            Origin::Manager => None,
            Origin::Scim => Some("scim"),
            Origin::Directory => Some("directory"),
            Origin::LeavingDate => Some("leaving_date"),
            Origin::Inactivity => Some("inactivity"),
        }
    }

    fn of_upstream(name: Option<&str>) -> Origin {
        match name {
            Some("scim") => Origin::Scim,
            Some("directory") => Origin::Directory,
            _ => Origin::Manager,
        }
    }
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn deactivate(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    meta: &Meta,
) -> Result<(), AppError> {
    deactivate_from(app, who, user_id, Origin::Manager, meta).await
}

/// [`deactivate`] on the word of `origin`.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn deactivate_from(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    origin: Origin,
    meta: &Meta,
) -> Result<(), AppError> {
    who.require(Capability::ManageUsers)?;
    let mut tx = app.db.begin().await?;
    let mut batch = Batch::open(&mut tx, who, app.clock.now()).await?;
    deactivate_in(&mut tx, &mut batch, user_id, origin, meta).await?;
    tx.commit().await?;
    Ok(())
}

/// [`deactivate_from`] within a batch's transaction: a refusal returns its reason having
/// written nothing.
pub(crate) async fn deactivate_in(
    tx: &mut rollcall_store::Conn,
    batch: &mut Batch<'_>,
    user_id: Uuid,
    origin: Origin,
    meta: &Meta,
) -> Result<(), AppError> {
    let (who, now) = (batch.who, batch.now);
    who.require(Capability::ManageUsers)?;
    if who.user_id == user_id {
        return Err(AppError::Conflict(
            "You cannot deactivate your own account; ask another admin.".into(),
        ));
    }
    let user = crate::access::user_in(tx, who.org_id, user_id).await?;
    let from = user.status;
    let to = status::apply(from, Transition::Deactivate)?;
    let subject = subject_of(tx, &user).await?;
    let (policy, census, names) = batch.rules(tx).await?;
    // Rules 3 (never the last active admin), 4 (only users within the actor's locations), 6.
    policy
        .check(
            &who.actor(),
            &subject,
            &Change::Deactivate,
            Path::Console,
            Some(census),
            names,
        )
        .map_err(AppError::Refused)?;
    users::set_status(tx, who.org_id, &[user.id], to, who.user_ref(), now).await?;
    let ended = sessions::delete_for_user(tx, user.id).await?;
    let tokens = api_tokens::revoke_for_user(tx, user.id, now).await?;
    let sign_ins = crate::oidc::tokens::revoke_for_user(tx, user.id, now).await?;
    let revoked = crate::onboarding::invite::revoke_live_invitations(tx, user.id, now).await?;
    users::set_invite_expiry(tx, user.id, None).await?;
    audit::append(
        tx,
        who.org_id,
        now,
        &[meta.change(
            "user.deactivated",
            "user",
            Some(user.id),
            Some(&from.as_str()),
            Some(&with_upstream(serde_json::json!({ "status": to.as_str(), "sessions_ended": ended, "api_tokens_revoked": tokens, "app_sign_ins_ended": sign_ins, "invitations_revoked": revoked }), origin)),
        )],
    )
    .await?;
    let mut after = subject.clone();
    after.active = false;
    batch.applied(&subject, &after);
    Ok(())
}

/// The audit value with the upstream source named, when there is one.
fn with_upstream(mut value: serde_json::Value, origin: Origin) -> serde_json::Value {
    if let (Some(upstream), Some(map)) = (origin.upstream(), value.as_object_mut()) {
        map.insert("upstream".into(), upstream.into());
    }
    value
}

/// Whose word the person's latest deactivation was, read from the audit trail (the one record
/// of it); `None` if they were never deactivated.
pub async fn last_deactivation(
    conn: &mut rollcall_store::Conn,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Origin>, AppError> {
    let query = audit::AuditQuery {
        action: Some(audit::ActionMatch::Exact("user.deactivated".into())),
        target_id: Some(user_id),
        limit: 1,
        ..Default::default()
    };
    let latest = audit::list(conn, org_id, &query).await?.into_iter().next();
    Ok(latest.map(|e| {
        let after: Option<serde_json::Value> =
            e.event.after.and_then(|a| serde_json::from_str(&a).ok());
        Origin::of_upstream(after.as_ref().and_then(|a| a["upstream"].as_str()))
    }))
}

/// Active again if the person had registered; otherwise Pending with a new invitation.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn reactivate(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    meta: &Meta,
) -> Result<UserStatus, AppError> {
    reactivate_from(app, who, user_id, Origin::Manager, meta).await
}

/// [`reactivate`] on the word of `origin`.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn reactivate_from(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    origin: Origin,
    meta: &Meta,
) -> Result<UserStatus, AppError> {
    who.require(Capability::ManageUsers)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let user = crate::access::user_in(&mut tx, who.org_id, user_id).await?;
    let from = user.status;
    let ever_registered = user.password_hash.is_some() && user.activated_at.is_some();
    let to = status::apply(from, Transition::Reactivate { ever_registered })?;
    let OrgScope { org, policy } = OrgScope::load(&mut tx, who.org_id).await?;
    let subject = subject_of(&mut tx, &user).await?;
    // Rule 4: only users within the actor's locations.
    policy
        .check_reach(&who.actor(), &subject)
        .map_err(AppError::Refused)?;
    users::set_status(&mut tx, org.id, &[user.id], to, who.user_ref(), now).await?;
    audit::append(
        &mut tx,
        org.id,
        now,
        &[meta.change(
            "user.reactivated",
            "user",
            Some(user.id),
            Some(&from.as_str()),
            Some(&reactivated_value(to, origin)),
        )],
    )
    .await?;
    if to == UserStatus::Pending {
        crate::onboarding::invite::reissue(app, &mut tx, who, &user, meta).await?;
    }
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(to)
}

/// A reactivation's audit value: the new status, with the upstream source when there is one.
fn reactivated_value(to: UserStatus, origin: Origin) -> serde_json::Value {
    match origin.upstream() {
        None => to.as_str().into(),
        Some(_) => with_upstream(serde_json::json!({ "status": to.as_str() }), origin),
    }
}

/// The most users one bulk deactivation takes; each is its own transaction.
pub const MAX_BULK_DEACTIVATE: usize = 1_000;

/// One user's outcome in a bulk deactivation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Deactivated {
    pub user_id: Uuid,
    pub name: String,
    /// `None` when deactivated; otherwise why not, as a sentence.
    pub refused: Option<String>,
}

/// Deactivates each selected user in turn in one transaction, each judged with the admins the
/// previous left (so of two last admins, the second stays); the answer lists who was
/// deactivated and why the others were not.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn deactivate_many(
    app: &App,
    who: &Principal,
    ids: &[Uuid],
    meta: &Meta,
) -> Result<Vec<Deactivated>, AppError> {
    if ids.len() > MAX_BULK_DEACTIVATE {
        return Err(rollcall_domain::ValueError::new(
            "user_ids",
            "selection_too_large",
            format!(
                "{} users are selected; deactivate at most {MAX_BULK_DEACTIVATE} at once.",
                ids.len()
            ),
        )
        .into());
    }
    who.require(Capability::ManageUsers)?;
    let mut tx = app.db.begin().await?;
    let names: std::collections::BTreeMap<Uuid, String> =
        rollcall_store::access::load(&mut tx, who.org_id, ids)
            .await?
            .into_iter()
            .map(|r| (r.user_id, r.display_name))
            .collect();
    let mut batch = Batch::open(&mut tx, who, app.clock.now()).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let done = deactivate_in(&mut tx, &mut batch, *id, Origin::Manager, meta).await;
        out.push(Deactivated {
            user_id: *id,
            name: names.get(id).cloned().unwrap_or_default(),
            refused: refusal_of(done)?,
        });
    }
    tx.commit().await?;
    Ok(out)
}

/// What a refused change says, for a batch's answer; a fault stops the batch.
pub(crate) fn refusal_of<T>(done: Result<T, AppError>) -> Result<Option<String>, AppError> {
    match done {
        Ok(_) => Ok(None),
        Err(
            e @ (AppError::Refused(_)
            | AppError::Conflict(_)
            | AppError::Invalid(_)
            | AppError::InvalidFields(_)
            | AppError::Forbidden(_)
            | AppError::NotFound(_)),
        ) => Ok(Some(e.to_string())),
        Err(e) => Err(e),
    }
}
