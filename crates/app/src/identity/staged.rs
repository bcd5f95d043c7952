//! Sessions and the steps they may be staged at.
//!
//! A staged session is marked with the one step it may do: the second factor at sign-in, or a
//! registration step. It is not signed in: `auth::session` refuses it, and only `at_stage`, asked
//! for that step, opens it. Sign-in and registration both stage sessions here, so neither needs
//! the other.

use rollcall_store::orgs::Organization;
use rollcall_store::sessions::{self, Session};
use rollcall_store::users::{self, User};
use uuid::Uuid;

use crate::clock::MINUTE;
use crate::{App, AppError, secret};

/// Signing in: the second factor is still to come.
pub const STAGE_MFA: &str = "mfa";
/// Registering: a second factor is to be set up.
pub const STAGE_2FA: &str = "register_2fa";
/// Registering: the EULA is to be accepted.
pub const STAGE_EULA: &str = "register_eula";

/// A new session: the raw token for the cookie, and the row holding only its hash. A `stage`
/// marks a session part-way through a step; `None` is a full session.
pub fn new_session(
    org_id: Uuid,
    user_id: Uuid,
    now: i64,
    lifetime: i64,
    stage: Option<&str>,
) -> (String, Session) {
    let token = secret::new_token();
    let session = Session {
        id_hash: secret::hash(&token),
        org_id,
        user_id,
        csrf_token: secret::new_token(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + lifetime,
        stage: stage.map(str::to_string),
    };
    (token, session)
}

/// A registration (or second-factor sign-in) in progress.
pub struct InProgress {
    pub session: Session,
    pub org: Organization,
    pub user: User,
}

/// Loads a session that is at `stage`; anything else (expired, other step) is refused.
pub async fn at_stage(app: &App, token: &str, stage: &str) -> Result<InProgress, AppError> {
    let gone = || {
        AppError::Unauthenticated("This step has timed out or was already completed. Start again from your invitation or the sign-in page.".into())
    };
    let mut conn = app.db.read_conn().await?;
    let s = sessions::get(&mut conn, &secret::hash(token))
        .await?
        .ok_or_else(gone)?;
    let now = app.clock.now();
    // Each step restarts the clock; a step left for half an hour ends, whatever the lifetime.
    if s.stage.as_deref() != Some(stage)
        || now >= s.expires_at
        || now >= s.last_seen_at + 30 * MINUTE
    {
        return Err(gone());
    }
    let org = rollcall_store::orgs::get(&mut conn, s.org_id)
        .await?
        .ok_or_else(gone)?;
    let user = users::get(&mut conn, s.org_id, s.user_id)
        .await?
        .ok_or_else(gone)?;
    Ok(InProgress {
        session: s,
        org,
        user,
    })
}
