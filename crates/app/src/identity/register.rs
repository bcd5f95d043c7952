//! Registration from an invitation link: details, then (if required) a second factor, then the
//! EULA; only then is the account Active and signed in.
//!
//! Opening the link (GET) never uses it: mail scanners open links. The details form's POST does,
//! once: of two concurrent submissions exactly one wins. The steps after it run in a session that
//! is marked with the step it may do (see `staged`).

use rollcall_domain::{Mobile, UserStatus, ValueError};
use rollcall_store::audit::NewEvent;
use rollcall_store::orgs::Organization;
use rollcall_store::sessions;
use rollcall_store::users::{self, User};
use rollcall_store::{Conn, audit, invitations};
use serde::Serialize;

use crate::audit::Meta;
use crate::clock::HOUR;
use crate::identity::mfa::{self, Method};
use crate::identity::password;
use crate::identity::staged::{InProgress, STAGE_2FA, STAGE_EULA, new_session};
use crate::{App, AppError, Principal, secret};

/// What an invitation link leads to, without using it.
pub enum LinkState {
    Usable {
        org: Box<Organization>,
        user: Box<User>,
    },
    Expired,
    Used,
    Revoked,
    Unknown,
}

pub async fn inspect(app: &App, token: &str) -> Result<LinkState, AppError> {
    let mut conn = app.db.read_conn().await?;
    let Some(inv) = invitations::by_token_hash(&mut conn, &secret::hash(token)).await? else {
        return Ok(LinkState::Unknown);
    };
    if inv.accepted_at.is_some() {
        return Ok(LinkState::Used);
    }
    if inv.revoked_at.is_some() {
        return Ok(LinkState::Revoked);
    }
    if inv.expires_at <= app.clock.now() {
        return Ok(LinkState::Expired);
    }
    let org = rollcall_store::orgs::get(&mut conn, inv.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let user = crate::access::user_in(&mut conn, inv.org_id, inv.user_id).await?;
    Ok(LinkState::Usable {
        org: Box::new(org),
        user: Box::new(user),
    })
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Details {
    pub first_name: String,
    pub last_name: String,
    pub mobile: String,
    pub password: String,
}

/// The session cookie of a registration in progress, and the step it is at.
pub struct Staged {
    pub token: String,
    pub stage: &'static str,
}

fn name(field: &'static str, label: &str, value: &str) -> Result<String, ValueError> {
    rollcall_domain::name::person_name(field, label, value)
}

/// Details that passed the checks.
struct Checked {
    first: String,
    last: String,
    mobile: Mobile,
}

/// Checks the details against the organization's rules; every field that fails is named at
/// once, in form order.
fn check_details(d: &Details, org: &Organization) -> Result<Checked, AppError> {
    let first = name("first_name", "first name", &d.first_name);
    let last = name("last_name", "last name", &d.last_name);
    let mobile = Mobile::parse(&d.mobile, Some("US"));
    let password = password::check_policy(&d.password, org.settings.password_min_length as usize);
    match (first, last, mobile, password) {
        (Ok(first), Ok(last), Ok(mobile), Ok(())) => Ok(Checked {
            first,
            last,
            mobile,
        }),
        (first, last, mobile, password) => {
            let errors = [first.err(), last.err(), mobile.err(), password.err()]
                .into_iter()
                .flatten()
                .collect();
            Err(AppError::of_fields(errors).expect("a field failed"))
        }
    }
}

/// Step 1: details and password. Uses the link.
pub async fn submit(
    app: &App,
    token: &str,
    d: &Details,
    source_ip: Option<String>,
) -> Result<Staged, AppError> {
    let LinkState::Usable { org, user } = inspect(app, token).await? else {
        return Err(AppError::Conflict(
            "This invitation link can no longer be used.".into(),
        ));
    };
    let Checked {
        first,
        last,
        mobile,
    } = check_details(d, &org)?;
    // Hashing is slow: done before the transaction so it holds no locks meanwhile.
    let hash = password::hash(d.password.clone()).await?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    use_link(&mut tx, token, now).await?;
    users::set_registration(
        &mut tx,
        org.id,
        user.id,
        &first,
        &last,
        mobile.as_str(),
        &hash,
    )
    .await?;
    let stage = if org.settings.require_2fa {
        STAGE_2FA
    } else {
        STAGE_EULA
    };
    let (session_token, session) = new_session(org.id, user.id, now, HOUR, Some(stage));
    sessions::insert(&mut tx, &session, source_ip.clone()).await?;
    let entered =
        serde_json::json!({ "first_name": first, "last_name": last, "mobile": mobile.as_str() });
    let event = step_event(
        &user,
        source_ip,
        "registration.details",
        None::<&()>,
        &entered,
    );
    audit::append(&mut tx, org.id, now, &[event]).await?;
    tx.commit().await?;
    Ok(Staged {
        token: session_token,
        stage,
    })
}

/// The audit event of a registration step. The person registering is its actor: nobody else
/// is signed in.
fn step_event<B: Serialize, A: Serialize>(
    user: &User,
    source_ip: Option<String>,
    action: &str,
    before: Option<&B>,
    after: &A,
) -> NewEvent {
    let meta = Meta {
        actor_id: Some(user.id),
        source_ip,
        ..Meta::system(&user.email)
    };
    meta.change(action, "user", Some(user.id), before, Some(after))
}

/// Marks the link's invitation accepted. Of two submissions racing on one link only the first
/// gets past this; the other is told the link has just been used.
async fn use_link(conn: &mut Conn, token: &str, now: i64) -> Result<(), AppError> {
    let inv = invitations::by_token_hash(conn, &secret::hash(token))
        .await?
        .ok_or_else(|| AppError::not_found("invitation"))?;
    if !invitations::accept(conn, inv.id, now).await? {
        return Err(AppError::Conflict(
            "This invitation link has just been used.".into(),
        ));
    }
    Ok(())
}

/// Step 2a: starts enrolment of a method. TOTP: returns (secret, otpauth URL, QR SVG) to show.
/// Email/SMS: sends a code.
pub async fn start_second_factor(
    app: &App,
    p: &InProgress,
    method: Method,
) -> Result<Option<(String, String, String)>, AppError> {
    if !mfa::allowed(&p.org).contains(&method) {
        return Err(ValueError::new(
            "method",
            "mfa_method_not_allowed",
            format!("{} does not allow this method; choose another.", p.org.name),
        )
        .into());
    }
    let mut tx = app.db.begin().await?;
    let shown = match method {
        Method::Totp => {
            let secret = mfa::new_totp_secret();
            let sealed = mfa::sealed_totp(app, &secret)?;
            users::set_mfa(&mut tx, p.user.id, None, Some(&sealed)).await?;
            let (url, svg) = mfa::totp_enrolment(&secret, &p.org.name, &p.user.email)?;
            Some((secret, url, svg))
        }
        m => {
            mfa::send_code(app, &mut tx, &p.org, &p.user, m, "enrol").await?;
            None
        }
    };
    tx.commit().await?;
    if shown.is_none() {
        crate::delivery::wake(app);
    }
    Ok(shown)
}

/// Step 2b: confirms the method with a code; returns the recovery codes to show once.
pub async fn confirm_second_factor(
    app: &App,
    p: &InProgress,
    method: Method,
    code: &str,
) -> Result<Vec<String>, AppError> {
    let wrong = || {
        ValueError::new(
            "code",
            "code_wrong",
            "That code is not right or has expired. Check it and try again, or ask for a new one.",
        )
    };
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let ok = match method {
        Method::Totp => {
            let (_, secret) = mfa::stored(app, &mut tx, p.user.id).await?;
            secret.is_some_and(|s| mfa::check_totp(&s, code, now))
        }
        _ => mfa::check_sent_code(app, &mut tx, p.user.id, "enrol", code).await?,
    };
    if !ok {
        tx.commit().await?; // keep the attempt count
        return Err(wrong().into());
    }
    // Kept as stored (sealed).
    let (_, secret) = users::mfa_of(&mut tx, p.user.id).await?;
    let secret = if method == Method::Totp { secret } else { None };
    users::set_mfa(&mut tx, p.user.id, Some(method.as_str()), secret.as_deref()).await?;
    let recovery = mfa::new_recovery_codes(&mut tx, p.user.id).await?;
    sessions::set_stage(&mut tx, &p.session.id_hash, Some(STAGE_EULA), now).await?;
    let event = step_event(
        &p.user,
        None,
        "registration.second_factor",
        None::<&()>,
        &method.as_str(),
    );
    audit::append(&mut tx, p.org.id, now, &[event]).await?;
    tx.commit().await?;
    Ok(recovery)
}

/// Step 3: accepts the organization's current EULA. The account becomes Active and the session full.
pub async fn accept_eula(
    app: &App,
    p: &InProgress,
    version_shown: u32,
) -> Result<Principal, AppError> {
    if version_shown != p.org.settings.eula_version {
        return Err(AppError::Conflict("The terms changed while you were reading them. Read the current version and accept it.".into()));
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    users::accept_eula_and_activate(&mut tx, p.user.id, version_shown as i64, now).await?;
    sessions::set_stage(&mut tx, &p.session.id_hash, None, now).await?;
    users::record_sign_in(&mut tx, p.user.id, now).await?;
    let event = step_event(
        &p.user,
        None,
        "registration.completed",
        Some(&UserStatus::Pending),
        &serde_json::json!({ "status": UserStatus::Active, "eula_version": version_shown }),
    );
    audit::append(&mut tx, p.org.id, now, &[event]).await?;
    let scope = crate::access::OrgScope {
        policy: crate::access::parse_policy(&p.org.policy)?,
        org: p.org.clone(),
    };
    let principal = Principal::load(&mut tx, &scope, p.user.id)
        .await?
        .ok_or_else(|| AppError::Internal("account did not activate".into()))?;
    tx.commit().await?;
    Ok(principal)
}

/// The EULA text shown at registration (the organization's, or a default).
pub fn eula_text(org: &Organization) -> String {
    if org.settings.eula_text.trim().is_empty() {
        format!(
            "By using {}'s staff accounts you agree to use them only for your work at {}, to keep your password and second factor to yourself, \
             to access patient information only as your role requires, and to tell an administrator at once if you think your account is misused. \
             Your sign-ins and changes are recorded in an audit trail.",
            org.name, org.name
        )
    } else {
        org.settings.eula_text.clone()
    }
}
