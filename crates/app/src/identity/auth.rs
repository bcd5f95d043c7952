//! Sign-in (the password, then the second factor if one is set up), full sessions, sign-out and
//! lockout. Sessions staged at a step, such as the second factor's, are made in `staged`.
//!
//! Failed sign-ins answer the same way whether or not the address has an account, and an address
//! is paused after repeated failures whether or not it exists, so neither reveals who has one.

use rollcall_domain::{Email, UserStatus};
use rollcall_store::orgs::Organization;
use rollcall_store::sessions::{self, Session};
use rollcall_store::users::{self, User};
use rollcall_store::{Conn, audit, rate_counters};
use uuid::Uuid;

use crate::access::OrgScope;
use crate::audit::Meta;
use crate::clock::{HOUR, MINUTE};
use crate::identity::mfa::{self, Method};
use crate::identity::password;
use crate::identity::staged::{STAGE_2FA, STAGE_EULA, STAGE_MFA, at_stage, new_session};
use crate::org::find_org;
use crate::{App, AppError, Principal, secret};

const WRONG: &str = "The email address or password is not right. Check both and try again.";

/// Attempt counters per source address, per (organization, email), per code and per inviter,
/// kept in the database so every process of an installation counts the same attempts. Keys are
/// stored as SHA-256 digests, so no address is kept in clear.
#[derive(Clone)]
pub struct Limiter {
    db: rollcall_store::Db,
}

impl Limiter {
    pub fn new(db: rollcall_store::Db) -> Limiter {
        Limiter { db }
    }

    /// Counts one attempt under `key`; refuses once `max` attempts fall in `window`.
    /// Returns the minutes to wait when refused.
    pub async fn hit(
        &self,
        key: &str,
        now: i64,
        max: u32,
        window: i64,
    ) -> Result<Result<(), i64>, AppError> {
        self.take(key, now, 1, max, window).await
    }

    /// Counts `n` units at once (e.g. the invitations of one batch); refuses the whole batch if
    /// it would go over `max` in `window`.
    pub async fn take(
        &self,
        key: &str,
        now: i64,
        n: u32,
        max: u32,
        window: i64,
    ) -> Result<Result<(), i64>, AppError> {
        self.take_in(&mut *self.db.write_conn().await?, key, now, n, max, window)
            .await
    }

    /// [`Limiter::take`] in the caller's transaction: counted only if it commits.
    pub async fn take_in(
        &self,
        conn: &mut Conn,
        key: &str,
        now: i64,
        n: u32,
        max: u32,
        window: i64,
    ) -> Result<Result<(), i64>, AppError> {
        if n > max {
            return Ok(Err((window / MINUTE).max(1)));
        }
        let refused_until =
            rate_counters::take(conn, &digest(key), n.into(), max.into(), now, window).await?;
        Ok(match refused_until {
            None => Ok(()),
            Some(until) => Err(((until - now) / MINUTE).max(1)),
        })
    }

    pub async fn clear(&self, key: &str) -> Result<(), AppError> {
        rate_counters::clear(&mut *self.db.write_conn().await?, &digest(key)).await?;
        Ok(())
    }

    /// Counts one failure under `key`; returns how many there have been (failures are forgotten
    /// [`FORGET_FAILURES_AFTER`] after the last one).
    pub async fn fail(&self, key: &str, now: i64) -> Result<i64, AppError> {
        let mut conn = self.db.write_conn().await?;
        let forget_before = now - FORGET_FAILURES_AFTER;
        Ok(rate_counters::note(&mut conn, &digest(key), now, forget_before).await?)
    }

    /// Failures counted under `key` and the time of the last one, if it is still remembered.
    pub async fn failures(&self, key: &str, now: i64) -> Result<Option<(i64, i64)>, AppError> {
        let mut conn = self.db.write_conn().await?;
        let counted = rate_counters::get(&mut conn, &digest(key)).await?;
        Ok(counted.filter(|(_, last)| *last >= now - FORGET_FAILURES_AFTER))
    }

    /// Drops counters no window needs any more (the longest is an hour).
    pub async fn forget_old(&self, now: i64) -> Result<u64, AppError> {
        let before = now - FORGET_FAILURES_AFTER.max(2 * HOUR);
        Ok(rate_counters::prune(&mut *self.db.write_conn().await?, before).await?)
    }
}

/// Failed sign-ins of an address are forgotten this long after the last one (the longest pause,
/// after 11 failures, is 64 minutes).
const FORGET_FAILURES_AFTER: i64 = 2 * HOUR;

fn digest(key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// After the password: either signed in, or a second factor is still to come.
pub enum SignInStep {
    Done(Box<SignedIn>),
    SecondFactor {
        token: String,
        method: String,
    },
    /// The password was right but registration was left unfinished (a second factor or the
    /// terms still to come): the session is staged at that registration step.
    Registering {
        token: String,
        stage: &'static str,
    },
}

pub struct SignedIn {
    /// The raw session token, for the cookie; only its hash is stored.
    pub token: String,
    pub session: Session,
    pub principal: Principal,
}

/// Minutes an account stays paused after `failures` failed attempts (`threshold` allowed).
pub fn lock_minutes(failures: i64, threshold: i64) -> Option<i64> {
    (failures >= threshold).then(|| 1i64 << (failures - threshold).min(6))
}

/// Checks the password; with a second factor set up, stages a session for it instead of signing in.
pub async fn sign_in(
    app: &App,
    org_slug: &str,
    email: &str,
    password_text: &str,
    source_ip: Option<String>,
) -> Result<SignInStep, AppError> {
    let now = app.clock.now();
    if let Some(ip) = &source_ip {
        app.limits
            .hit(&format!("ip:{ip}"), now, 30, 5 * MINUTE)
            .await?
            .map_err(|m| {
                AppError::RateLimited(format!(
                    "Too many sign-in attempts from this address. Try again in {m} minutes."
                ))
            })?;
    }
    let (org, user) = check_password(app, org_slug, email, password_text, &source_ip, now).await?;
    let (mfa_method, _) = users::mfa_of(&mut *app.db.read_conn().await?, user.id).await?;
    if let Some(method) = mfa_method {
        let token = stage_second_factor(app, &org, &user, &method, source_ip, now).await?;
        return Ok(SignInStep::SecondFactor { token, method });
    }
    let mut tx = app.db.begin().await?;
    if user.status == UserStatus::Pending {
        let stage = if org.settings.require_2fa {
            STAGE_2FA
        } else {
            STAGE_EULA
        };
        let meta = Meta {
            actor_id: Some(user.id),
            source_ip,
            ..Meta::system(&user.email)
        };
        let token = resume_registration(&mut tx, &org, &user, stage, &meta, now).await?;
        tx.commit().await?;
        return Ok(SignInStep::Registering { token, stage });
    }
    let principal = load_principal(&mut tx, org.id, user.id).await?;
    let meta = Meta::of(&principal, None, source_ip);
    let (token, session) = open_session(&mut tx, &org, user.id, now, &meta).await?;
    tx.commit().await?;
    Ok(SignInStep::Done(Box::new(SignedIn {
        token,
        session,
        principal,
    })))
}

fn paused(minutes: i64) -> AppError {
    AppError::RateLimited(format!(
        "Sign-in for this address is paused after repeated failures. Try again in {minutes} minutes."
    ))
}

/// The organization and the active account whose password this is. Every way of failing (no
/// such organization or account, wrong password, account not active) answers the same.
async fn check_password(
    app: &App,
    org_slug: &str,
    email: &str,
    password_text: &str,
    source_ip: &Option<String>,
    now: i64,
) -> Result<(Organization, User), AppError> {
    let mut conn = app.db.read_conn().await?;
    let org = find_org(&mut conn, org_slug.trim())
        .await
        .map_err(|_| AppError::Unauthenticated(WRONG.into()))?;
    // Failures are counted by what was typed, in the database every process shares, so unknown
    // addresses pause exactly like known ones; only failures count, so one person signing in
    // from several tabs at once is never paused.
    let key = Email::parse(email)
        .map(|e| e.match_key().to_string())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    let attempt_key = format!("email:{}:{key}", org.id);
    let threshold = org.settings.lockout_threshold.max(1);
    if let Some((failures, last)) = app.limits.failures(&attempt_key, now).await?
        && let Some(minutes) = lock_minutes(failures, threshold.into())
        && last + minutes * MINUTE > now
    {
        crate::ops::metrics::sign_in_failed(true);
        return Err(paused(((last + minutes * MINUTE - now) / MINUTE).max(1)));
    }
    let user = users::get_by_email_key(&mut conn, org.id, &key).await?;
    drop(conn);
    // Verified even without an account, so the answer takes as long either way.
    let ok = password::verify(
        password_text.to_string(),
        user.as_ref().and_then(|u| u.password_hash.clone()),
    )
    .await;
    let usable = match &user {
        Some(u) if ok => {
            u.status == UserStatus::Active
                || registering(&mut *app.db.read_conn().await?, u).await?
        }
        _ => false,
    };
    match user {
        Some(u) if usable => {
            app.limits.clear(&attempt_key).await?;
            Ok((org, u))
        }
        other => {
            let failures = app.limits.fail(&attempt_key, now).await?;
            crate::ops::metrics::sign_in_failed(false);
            if lock_minutes(failures, threshold.into()).is_some() {
                crate::ops::metrics::sign_in_pause_started();
            }
            if let Some(u) = other {
                record_failure(app, org.id, &u, threshold, source_ip.clone(), now).await?;
            }
            Err(AppError::Unauthenticated(WRONG.into()))
        }
    }
}

/// Whether a Pending account is part-way through registering: the details of its latest
/// invitation were sent (that set the password) but the second factor or the terms were not.
async fn registering(conn: &mut Conn, user: &User) -> Result<bool, AppError> {
    if user.status != UserStatus::Pending || user.password_hash.is_none() {
        return Ok(false);
    }
    let latest = rollcall_store::invitations::latest_for_user(conn, user.id).await?;
    Ok(latest.is_some_and(|inv| inv.accepted_at.is_some()))
}

/// Stages a session at the registration step still to do, for someone who left registration
/// unfinished and came back through sign-in.
async fn resume_registration(
    conn: &mut Conn,
    org: &Organization,
    user: &User,
    stage: &'static str,
    meta: &Meta,
    now: i64,
) -> Result<String, AppError> {
    let (token, session) = new_session(org.id, user.id, now, HOUR, Some(stage));
    sessions::insert(conn, &session, meta.source_ip.clone()).await?;
    let event = meta.change(
        "registration.resumed",
        "user",
        Some(user.id),
        None::<&()>,
        Some(&stage),
    );
    audit::append(conn, org.id, now, &[event]).await?;
    Ok(token)
}

/// Counts a failed sign-in on the account's record and audits it. Whether sign-in is paused is
/// decided by the count per typed address (`check_password`), the same with or without an
/// account.
async fn record_failure(
    app: &App,
    org_id: Uuid,
    user: &User,
    threshold: u32,
    source_ip: Option<String>,
    now: i64,
) -> Result<(), AppError> {
    let failures = user.failed_sign_ins + 1;
    let lock = lock_minutes(failures, threshold as i64).map(|m| now + m * MINUTE);
    let mut tx = app.db.begin().await?;
    users::record_failed_sign_in(&mut tx, user.id, lock).await?;
    let meta = Meta {
        source_ip,
        ..Meta::system(&user.email)
    };
    audit::append(
        &mut tx,
        org_id,
        now,
        &[meta.event("auth.sign_in_failed", "user", Some(user.id))],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Stages a short session for the second factor and sends the code if the method is a sent one.
/// Returns the staged session's token.
async fn stage_second_factor(
    app: &App,
    org: &Organization,
    user: &User,
    method: &str,
    source_ip: Option<String>,
    now: i64,
) -> Result<String, AppError> {
    let (token, session) = new_session(org.id, user.id, now, 10 * MINUTE, Some(STAGE_MFA));
    let mut tx = app.db.begin().await?;
    sessions::insert(&mut tx, &session, source_ip).await?;
    if let Ok(m @ (Method::Email | Method::Sms)) = Method::parse(method) {
        mfa::send_code(app, &mut tx, org, user, m, STAGE_MFA).await?;
    }
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(token)
}

/// The signed-in principal; an account that cannot be one answers like a wrong password.
async fn load_principal(
    conn: &mut Conn,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<Principal, AppError> {
    let scope = OrgScope::load(conn, org_id).await?;
    Principal::load(conn, &scope, user_id)
        .await?
        .ok_or_else(|| AppError::Unauthenticated(WRONG.into()))
}

/// Opens a full session for the account and records the sign-in.
async fn open_session(
    conn: &mut Conn,
    org: &Organization,
    user_id: Uuid,
    now: i64,
    meta: &Meta,
) -> Result<(String, Session), AppError> {
    let (token, session) = new_session(
        org.id,
        user_id,
        now,
        org.settings.absolute_timeout_hours as i64 * HOUR,
        None,
    );
    sessions::insert(conn, &session, meta.source_ip.clone()).await?;
    users::record_sign_in(conn, user_id, now).await?;
    audit::append(
        conn,
        org.id,
        now,
        &[meta.event("auth.signed_in", "user", Some(user_id))],
    )
    .await?;
    Ok((token, session))
}

/// Resolves a session cookie; expired sessions (idle or absolute) are removed.
pub async fn session(app: &App, token: &str) -> Result<Option<(Session, Principal)>, AppError> {
    let now = app.clock.now();
    let hash = secret::hash(token);
    let mut conn = app.db.read_conn().await?;
    // A session part-way through a step (second factor, registration) is not signed in.
    let Some(s) = sessions::get(&mut conn, &hash)
        .await?
        .filter(|s| s.stage.is_none())
    else {
        return Ok(None);
    };
    let scope = OrgScope::load(&mut conn, s.org_id).await?;
    let idle_limit = s.last_seen_at + scope.org.settings.idle_timeout_minutes as i64 * MINUTE;
    if now >= s.expires_at || now >= idle_limit {
        drop(conn);
        let mut tx = app.db.begin().await?;
        sessions::delete(&mut tx, &hash).await?;
        tx.commit().await?;
        return Ok(None);
    }
    let Some(principal) = Principal::load(&mut conn, &scope, s.user_id).await? else {
        return Ok(None);
    };
    drop(conn);
    // Refresh the idle clock at most every 30 s: one write per request would serialize reads.
    if now - s.last_seen_at > 30_000_000 {
        let mut tx = app.db.begin().await?;
        sessions::touch(&mut tx, &hash, now).await?;
        tx.commit().await?;
    }
    Ok(Some((s, principal)))
}

pub async fn sign_out(
    app: &App,
    token: &str,
    principal: &Principal,
    everywhere: bool,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    if everywhere {
        sessions::delete_for_user(&mut tx, principal.user_id).await?;
    } else {
        sessions::delete(&mut tx, &secret::hash(token)).await?;
    }
    let action = if everywhere {
        "auth.signed_out_everywhere"
    } else {
        "auth.signed_out"
    };
    audit::append(
        &mut tx,
        principal.org_id,
        now,
        &[Meta::of(principal, None, None).event(action, "user", Some(principal.user_id))],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Completes a sign-in with the second factor: a TOTP code, the code that was sent, or a
/// recovery code (each recovery code works once).
pub async fn verify_second_factor(
    app: &App,
    token: &str,
    code: &str,
    source_ip: Option<String>,
) -> Result<SignInStep, AppError> {
    let p = at_stage(app, token, STAGE_MFA).await?;
    let now = app.clock.now();
    let limit_key = format!("mfa:{}", p.user.id);
    app.limits
        .hit(&limit_key, now, 10, 15 * MINUTE)
        .await?
        .map_err(|m| {
            AppError::RateLimited(format!("Too many codes tried. Try again in {m} minutes."))
        })?;
    let mut tx = app.db.begin().await?;
    let ok = second_factor_ok(app, &mut tx, p.user.id, code.trim(), now).await?;
    let meta = Meta {
        actor_id: Some(p.user.id),
        source_ip,
        ..Meta::system(&p.user.email)
    };
    if !ok {
        audit::append(
            &mut tx,
            p.org.id,
            now,
            &[meta.event("auth.second_factor_failed", "user", Some(p.user.id))],
        )
        .await?;
        // Committed even though the code failed: the failure is audited, and a sent code's
        // attempts stay counted.
        tx.commit().await?;
        return Err(AppError::Unauthenticated(
            "That code is not right or has expired. Try again, or use a recovery code.".into(),
        ));
    }
    // A fresh token for what comes next: the one that carried the half-done step is dropped.
    sessions::delete(&mut tx, &p.session.id_hash).await?;
    if p.user.status == UserStatus::Pending {
        // Registration left at the terms, after the second factor was set up.
        let token = resume_registration(&mut tx, &p.org, &p.user, STAGE_EULA, &meta, now).await?;
        tx.commit().await?;
        app.limits.clear(&limit_key).await?;
        return Ok(SignInStep::Registering {
            token,
            stage: STAGE_EULA,
        });
    }
    let principal = load_principal(&mut tx, p.org.id, p.user.id).await?;
    let (token, session) = open_session(&mut tx, &p.org, p.user.id, now, &meta).await?;
    tx.commit().await?;
    app.limits.clear(&limit_key).await?;
    Ok(SignInStep::Done(Box::new(SignedIn {
        token,
        session,
        principal,
    })))
}

/// Whether `code` is the account's second factor now: from its method, or a recovery code
/// (recovery codes have a dash; using one spends it).
async fn second_factor_ok(
    app: &App,
    conn: &mut Conn,
    user_id: Uuid,
    code: &str,
    now: i64,
) -> Result<bool, AppError> {
    let (method, secret_b32) = mfa::stored(app, conn, user_id).await?;
    let by_method = match method.as_deref() {
        Some("totp") => secret_b32.is_some_and(|s| mfa::check_totp(&s, code, now)),
        Some(_) => mfa::check_sent_code(app, conn, user_id, STAGE_MFA, code).await?,
        None => false,
    };
    Ok(by_method
        || (code.contains('-') && mfa::use_recovery_code(app, conn, user_id, code).await?))
}
