//! The end of emergency grants: a serving process's upkeep round removes the access of every
//! grant whose time is up, and the person or a company admin may end one sooner. Marking a grant ended is a conditional update (`… AND ended_at IS
//! NULL`) in the same transaction as the removal and its audit event, so whichever process or
//! round gets there first ends it, once, and a restart picks up whatever was due meanwhile.

use rollcall_store::emergency::{self, Grant};
use rollcall_store::{Conn, access, audit, orgs, users};
use uuid::Uuid;

use super::{EmergencyGrant, views};
use crate::audit::Meta;
use crate::{App, AppError, Principal};

/// Grants ended per round at most (the rest wait for the next round, a minute later).
const PER_ROUND: i64 = 200;

/// Ends every grant whose expiry has come; answers how many this call ended.
pub async fn end_expired(app: &App) -> Result<usize, AppError> {
    let due = {
        let mut conn = app.db.read_conn().await?;
        emergency::due(&mut conn, app.clock.now(), PER_ROUND).await?
    };
    let meta = Meta::system("emergency access expiry");
    let mut ended = 0;
    for (org_id, id) in due {
        if end_one(app, org_id, id, &meta).await?.is_some() {
            ended += 1;
        }
    }
    Ok(ended)
}

/// Ends a grant before its expiry, once the emergency is over: the person who took it, or a
/// company admin. A grant already ended is refused with when it ended.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn end_now(
    app: &App,
    who: &Principal,
    id: Uuid,
    meta: &Meta,
) -> Result<EmergencyGrant, AppError> {
    let grant = super::review::get(app, who, id).await?;
    if who.user_ref() != Some(grant.user_id) && !super::review::company_admin(who) {
        return Err(AppError::Forbidden(
            "Only the person who took emergency access, or a company admin, may end it.".into(),
        ));
    }
    match end_one(app, who.org_id, id, meta).await? {
        Some(ended) => Ok(ended),
        None => Err(AppError::Conflict(format!(
            "This emergency access already ended ({}).",
            grant.ended_local.unwrap_or(grant.expires_local)
        ))),
    }
}

/// Ends one grant, unless it has ended already: the grant as it ended, or `None`.
async fn end_one(
    app: &App,
    org_id: Uuid,
    id: Uuid,
    meta: &Meta,
) -> Result<Option<EmergencyGrant>, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    if !emergency::end(&mut tx, id, now).await? {
        return Ok(None);
    }
    let Some(grant) = emergency::get(&mut tx, org_id, id).await? else {
        return Ok(None);
    };
    let kept = remove_access(&mut tx, &grant).await?;
    let zone = orgs::get(&mut tx, org_id)
        .await?
        .map(|o| o.time_zone)
        .unwrap_or_else(|| "UTC".into());
    let view = views(&mut tx, org_id, &zone, vec![grant.clone()])
        .await?
        .remove(0);
    let event = meta.change(
        "emergency_access.ended",
        "user",
        Some(grant.user_id),
        None::<&()>,
        Some(&serde_json::json!({
            "emergency_grant": grant.id,
            "permission": view.permission,
            "location": view.location_name,
            "location_id": view.location_id,
            "expires_at": view.expires_at,
            "early": now < grant.expires_at,
            "kept": kept,
        })),
    );
    audit::append(&mut tx, org_id, now, &[event]).await?;
    tx.commit().await?;
    tracing::info!(grant = %id, user = %grant.user_id, "emergency access ended");
    Ok(Some(view))
}

/// Takes back what the grant gave. A location that has meanwhile become the person's default
/// location stays (rule 5): the audit event says so, for the review.
async fn remove_access(conn: &mut Conn, grant: &Grant) -> Result<Option<String>, AppError> {
    if let Some(p) = grant.permission {
        access::revoke_permission(conn, p, &[grant.user_id]).await?;
    }
    let Some(location) = grant.location_id else {
        return Ok(None);
    };
    let user = users::get(conn, grant.org_id, grant.user_id).await?;
    if user.is_some_and(|u| u.default_location_id == Some(location)) {
        return Ok(Some(
            "the location stays: it has become the person's default location".into(),
        ));
    }
    access::revoke_location(conn, location, &[grant.user_id]).await?;
    Ok(None)
}
