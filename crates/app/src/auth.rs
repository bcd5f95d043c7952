//! Sign-in, sessions, lockout and the one-time set-up link.
//!
//! Failed sign-ins answer the same way whether or not the address has an account, and an address
//! is paused after repeated failures whether or not it exists, so neither reveals who has one.

use std::collections::HashMap;
use std::sync::Mutex;

use rollcall_domain::Email;
use rollcall_store::audit;
use rollcall_store::sessions::{self, Session};
use rollcall_store::users;
use uuid::Uuid;

use crate::access::policy_of;
use crate::audit::Meta;
use crate::clock::{HOUR, MINUTE};
use crate::orgs::find_org;
use crate::{App, AppError, Principal, password, secret};

const WRONG: &str = "The email address or password is not right. Check both and try again.";

/// In-memory attempt counters: per source address and per (organization, email).
#[derive(Default)]
pub struct Limiter {
    hits: Mutex<HashMap<String, (u32, i64)>>,
}

impl Limiter {
    /// Counts one attempt under `key`; refuses once `max` attempts fall in `window`.
    /// Returns the minutes to wait when refused.
    pub fn hit(&self, key: &str, now: i64, max: u32, window: i64) -> Result<(), i64> {
        self.take(key, now, 1, max, window)
    }

    /// Counts `n` units at once (e.g. the invitations of one batch); refuses the whole batch if
    /// it would go over `max` in `window`.
    pub fn take(&self, key: &str, now: i64, n: u32, max: u32, window: i64) -> Result<(), i64> {
        let mut hits = self.hits.lock().expect("limiter lock");
        if hits.len() > 100_000 {
            hits.retain(|_, (_, start)| now - *start < window);
        }
        let entry = hits.entry(key.to_string()).or_insert((0, now));
        if now - entry.1 >= window {
            *entry = (0, now);
        }
        if entry.0.saturating_add(n) > max {
            return Err(((entry.1 + window - now) / MINUTE).max(1));
        }
        entry.0 += n;
        Ok(())
    }

    pub fn clear(&self, key: &str) {
        self.hits.lock().expect("limiter lock").remove(key);
    }
}

/// After the password: either signed in, or a second factor is still to come.
pub enum SignInStep {
    Done(Box<SignedIn>),
    SecondFactor { token: String, method: String },
}

pub const STAGE_MFA: &str = "mfa";

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
            .map_err(|m| {
                AppError::RateLimited(format!(
                    "Too many sign-in attempts from this address. Try again in {m} minutes."
                ))
            })?;
    }
    let mut conn = app.db.read_conn().await?;
    let org = find_org(&mut conn, org_slug.trim())
        .await
        .map_err(|_| AppError::Unauthenticated(WRONG.into()))?;
    let key = Email::parse(email)
        .map(|e| e.match_key().to_string())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    let attempt_key = format!("email:{}:{key}", org.id);
    let threshold = org.settings.lockout_threshold.max(1);
    let paused = |m: i64| {
        AppError::RateLimited(format!(
            "Sign-in for this address is paused after repeated failures. Try again in {m} minutes."
        ))
    };
    app.limits
        .hit(&attempt_key, now, threshold, 15 * MINUTE)
        .map_err(paused)?;
    let user = users::get_by_email_key(&mut conn, org.id, &key).await?;
    drop(conn);
    if let Some(until) = user
        .as_ref()
        .and_then(|u| u.locked_until)
        .filter(|t| *t > now)
    {
        return Err(paused(((until - now) / MINUTE).max(1)));
    }
    let ok = password::verify(
        password_text.to_string(),
        user.as_ref().and_then(|u| u.password_hash.clone()),
    )
    .await;
    let user = match user {
        Some(u) if ok && u.status == "active" => u,
        other => {
            if let Some(u) = other {
                let failures = u.failed_sign_ins + 1;
                let lock = lock_minutes(failures, threshold as i64).map(|m| now + m * MINUTE);
                let mut tx = app.db.begin().await?;
                users::record_failed_sign_in(&mut tx, u.id, lock).await?;
                let meta = Meta {
                    source_ip: source_ip.clone(),
                    ..Meta::system(&u.email)
                };
                audit::append(
                    &mut tx,
                    org.id,
                    now,
                    &[meta.event("auth.sign_in_failed", "user", Some(u.id))],
                )
                .await?;
                tx.commit().await?;
            }
            return Err(AppError::Unauthenticated(WRONG.into()));
        }
    };
    app.limits.clear(&attempt_key);
    let (mfa_method, _) = users::mfa_of(&mut *app.db.read_conn().await?, user.id).await?;
    if let Some(method) = mfa_method {
        let (token, session) = new_session(org.id, user.id, now, 10 * MINUTE, Some(STAGE_MFA));
        let mut tx = app.db.begin().await?;
        sessions::insert(&mut tx, &session, source_ip).await?;
        if let Ok(m @ (crate::mfa::Method::Email | crate::mfa::Method::Sms)) =
            crate::mfa::Method::parse(&method)
        {
            crate::mfa::send_code(app, &mut tx, &org, &user, m, STAGE_MFA).await?;
        }
        tx.commit().await?;
        crate::delivery::wake(app);
        return Ok(SignInStep::SecondFactor { token, method });
    }
    let (token, session) = new_session(
        org.id,
        user.id,
        now,
        org.settings.absolute_timeout_hours as i64 * HOUR,
        None,
    );
    let mut tx = app.db.begin().await?;
    let policy = policy_of(&mut tx, org.id).await?;
    let principal = Principal::load(&mut tx, &policy, org.id, user.id)
        .await?
        .ok_or_else(|| AppError::Unauthenticated(WRONG.into()))?;
    sessions::insert(&mut tx, &session, source_ip.clone()).await?;
    users::record_sign_in(&mut tx, user.id, now).await?;
    let meta = Meta::of(&principal, None, source_ip);
    audit::append(
        &mut tx,
        org.id,
        now,
        &[meta.event("auth.signed_in", "user", Some(user.id))],
    )
    .await?;
    tx.commit().await?;
    Ok(SignInStep::Done(Box::new(SignedIn {
        token,
        session,
        principal,
    })))
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
    let org = rollcall_store::orgs::get(&mut conn, s.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let idle_limit = s.last_seen_at + org.settings.idle_timeout_minutes as i64 * MINUTE;
    if now >= s.expires_at || now >= idle_limit {
        drop(conn);
        let mut tx = app.db.begin().await?;
        sessions::delete(&mut tx, &hash).await?;
        tx.commit().await?;
        return Ok(None);
    }
    let policy = crate::access::parse_policy(&org.policy)?;
    let Some(principal) = Principal::load(&mut conn, &policy, s.org_id, s.user_id).await? else {
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
) -> Result<SignedIn, AppError> {
    let p = crate::register::at_stage(app, token, STAGE_MFA).await?;
    let now = app.clock.now();
    app.limits
        .hit(&format!("mfa:{}", p.user.id), now, 10, 15 * MINUTE)
        .map_err(|m| {
            AppError::RateLimited(format!("Too many codes tried. Try again in {m} minutes."))
        })?;
    let mut tx = app.db.begin().await?;
    let (method, secret_b32) = users::mfa_of(&mut tx, p.user.id).await?;
    let code = code.trim();
    let ok = match method.as_deref() {
        Some("totp") => secret_b32.is_some_and(|s| crate::mfa::check_totp(&s, code, now)),
        Some(_) => crate::mfa::check_sent_code(app, &mut tx, p.user.id, STAGE_MFA, code).await?,
        None => false,
    } || (code.contains('-')
        && crate::mfa::use_recovery_code(app, &mut tx, p.user.id, code).await?);
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
        tx.commit().await?;
        return Err(AppError::Unauthenticated(
            "That code is not right or has expired. Try again, or use a recovery code.".into(),
        ));
    }
    let policy = policy_of(&mut tx, p.org.id).await?;
    let principal = Principal::load(&mut tx, &policy, p.org.id, p.user.id)
        .await?
        .ok_or_else(|| AppError::Unauthenticated(WRONG.into()))?;
    // A fresh token for the full session: the one that carried the half-done step is dropped.
    sessions::delete(&mut tx, &p.session.id_hash).await?;
    let (token, session) = new_session(
        p.org.id,
        p.user.id,
        now,
        p.org.settings.absolute_timeout_hours as i64 * HOUR,
        None,
    );
    sessions::insert(&mut tx, &session, meta.source_ip.clone()).await?;
    users::record_sign_in(&mut tx, p.user.id, now).await?;
    audit::append(
        &mut tx,
        p.org.id,
        now,
        &[meta.event("auth.signed_in", "user", Some(p.user.id))],
    )
    .await?;
    tx.commit().await?;
    app.limits.clear(&format!("mfa:{}", p.user.id));
    Ok(SignedIn {
        token,
        session,
        principal,
    })
}
