//! Deactivation and reactivation. Deactivating keeps every record, revokes sessions, API tokens
//! and any pending invitation, and frees the seat; reactivating restores access (Pending again,
//! with a new invitation, if the person never registered).

use rollcall_domain::status::{self, Transition};
use rollcall_domain::{Change, Path, UserStatus};
use rollcall_store::{api_tokens, audit, invitations, outbox, sessions, users};
use uuid::Uuid;

use crate::access::{admin_census, location_names, parse_policy, subject_of};
use crate::audit::Meta;
use crate::{App, AppError, Principal};

pub async fn deactivate(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    meta: &Meta,
) -> Result<(), AppError> {
    if !who.can_manage_users() {
        return Err(AppError::Forbidden(
            "Your access profile cannot deactivate users.".into(),
        ));
    }
    if who.user_id == user_id {
        return Err(AppError::Conflict(
            "You cannot deactivate your own account; ask another admin.".into(),
        ));
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let user = users::get(&mut tx, who.org_id, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let from = UserStatus::parse(&user.status)?;
    let to = status::apply(from, Transition::Deactivate)?;
    let org = rollcall_store::orgs::get(&mut tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let policy = parse_policy(&org.policy)?;
    let subject = subject_of(&mut tx, &user).await?;
    let census = admin_census(&mut tx, org.id, &policy).await?;
    let names = location_names(&mut tx, org.id).await?;
    // Rules 3 (never the last active admin), 4 (only users within the actor's locations), 6.
    policy
        .check(
            &who.actor(),
            &subject,
            &Change::Deactivate,
            Path::Console,
            Some(&census),
            &names,
        )
        .map_err(AppError::Refused)?;
    users::set_status(
        &mut tx,
        org.id,
        &[user.id],
        to.as_str(),
        who.user_ref(),
        now,
    )
    .await?;
    let ended = sessions::delete_for_user(&mut tx, user.id).await?;
    let tokens = api_tokens::revoke_for_user(&mut tx, user.id, now).await?;
    let live: Vec<Uuid> = invitations::live_for_user(&mut tx, user.id)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    for id in &live {
        outbox::revoke_for_invitation(&mut tx, *id).await?;
    }
    invitations::revoke_for_user(&mut tx, user.id, now).await?;
    users::set_invite_expiry(&mut tx, user.id, None).await?;
    audit::append(
        &mut tx,
        org.id,
        now,
        &[meta.change(
            "user.deactivated",
            "user",
            Some(user.id),
            Some(&from.as_str()),
            Some(&serde_json::json!({ "status": to.as_str(), "sessions_ended": ended, "api_tokens_revoked": tokens, "invitations_revoked": live.len() })),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Active again if the person had registered; otherwise Pending with a new invitation.
pub async fn reactivate(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    meta: &Meta,
) -> Result<UserStatus, AppError> {
    if !who.can_manage_users() {
        return Err(AppError::Forbidden(
            "Your access profile cannot reactivate users.".into(),
        ));
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let user = users::get(&mut tx, who.org_id, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    let from = UserStatus::parse(&user.status)?;
    let ever_registered = user.password_hash.is_some() && user.activated_at.is_some();
    let to = status::apply(from, Transition::Reactivate { ever_registered })?;
    let org = rollcall_store::orgs::get(&mut tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let policy = parse_policy(&org.policy)?;
    let subject = subject_of(&mut tx, &user).await?;
    let names = location_names(&mut tx, org.id).await?;
    policy
        .may_change_users(&who.actor())
        .map_err(AppError::Refused)?;
    // Only users within the actor's locations (rule 4): checked as re-granting their default location.
    if let Some(home) = subject.default_location {
        policy
            .check(
                &who.actor(),
                &subject,
                &Change::GrantLocation(home),
                Path::Console,
                None,
                &names,
            )
            .map_err(AppError::Refused)?;
    }
    users::set_status(
        &mut tx,
        org.id,
        &[user.id],
        to.as_str(),
        who.user_ref(),
        now,
    )
    .await?;
    audit::append(
        &mut tx,
        org.id,
        now,
        &[meta.change(
            "user.reactivated",
            "user",
            Some(user.id),
            Some(&from.as_str()),
            Some(&to.as_str()),
        )],
    )
    .await?;
    if to == UserStatus::Pending {
        crate::invite::reissue(app, &mut tx, who, &user, meta).await?;
    }
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(to)
}
