//! Second factors: a TOTP app, or a code sent by email or SMS; and recovery codes.
//!
//! Codes are short-lived, stored hashed, limited in attempts and in how often they are sent.

use rand::Rng;
use rollcall_domain::ValueError;
use rollcall_store::codes;
use rollcall_store::orgs::Organization;
use rollcall_store::outbox::{self, OutboxMessage};
use rollcall_store::users::User;
use rollcall_store::{Conn, new_id};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::clock::MINUTE;
use crate::delivery::messages;
use crate::{App, AppError, secret};

pub const CODE_MINUTES: i64 = 10;
const MAX_ATTEMPTS: i64 = 5;
const MAX_SENDS_PER_HOUR: i64 = 6;
pub const RECOVERY_CODES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Email,
    Sms,
    Totp,
}

impl Method {
    pub fn parse(s: &str) -> Result<Method, ValueError> {
        match s {
            "email" => Ok(Method::Email),
            "sms" => Ok(Method::Sms),
            "totp" => Ok(Method::Totp),
            other => Err(ValueError::new(
                "method",
                "mfa_method_unknown",
                format!("“{other}” is not a sign-in method: choose email, sms or totp."),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Email => "email",
            Method::Sms => "sms",
            Method::Totp => "totp",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Method::Email => "A code sent to my email",
            Method::Sms => "A code sent to my mobile by SMS",
            Method::Totp => "An authenticator app (TOTP)",
        }
    }
}

/// The methods an organization allows, in its order.
pub fn allowed(org: &Organization) -> Vec<Method> {
    org.settings
        .allowed_2fa
        .iter()
        .filter_map(|m| Method::parse(m).ok())
        .collect()
}

/// The second factor a user chose, and their TOTP secret while they enrol.
pub async fn chosen(
    app: &crate::App,
    user_id: uuid::Uuid,
) -> Result<(Option<Method>, Option<String>), crate::AppError> {
    let (method, secret) = stored(app, &mut *app.db.read_conn().await?, user_id).await?;
    Ok((method.and_then(|m| Method::parse(&m).ok()), secret))
}

/// The user's second-factor method and TOTP secret, opened from its sealed form.
pub async fn stored(
    app: &crate::App,
    conn: &mut rollcall_store::Conn,
    user_id: uuid::Uuid,
) -> Result<(Option<String>, Option<String>), AppError> {
    let (method, sealed) = rollcall_store::users::mfa_of(conn, user_id).await?;
    let secret = sealed
        .map(|s| app.vault.unseal_text(crate::vault::Purpose::TotpSecret, &s))
        .transpose()?;
    Ok((method, secret))
}

/// A TOTP secret as it is stored: sealed under the server's key.
pub fn sealed_totp(app: &crate::App, secret_b32: &str) -> Result<String, AppError> {
    app.vault
        .seal(crate::vault::Purpose::TotpSecret, secret_b32.as_bytes())
}

pub fn new_totp_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill(&mut bytes);
    Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

fn totp(secret_b32: &str, org_name: &str, email: &str) -> Result<TOTP, AppError> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|e| AppError::Internal(format!("stored TOTP secret: {e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some(org_name.replace(':', " ")),
        email.to_string(),
    )
    .map_err(|e| AppError::Internal(format!("TOTP: {e:?}")))
}

/// The otpauth:// address an authenticator app scans, and its QR code as SVG.
pub fn totp_enrolment(
    secret_b32: &str,
    org_name: &str,
    email: &str,
) -> Result<(String, String), AppError> {
    let url = totp(secret_b32, org_name, email)?.get_url();
    let code =
        qrcode::QrCode::new(url.as_bytes()).map_err(|e| AppError::Internal(e.to_string()))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok((url, svg))
}

/// The current TOTP code (for tests, which play the authenticator app).
pub fn totp_now(secret_b32: &str, now_micros: i64) -> String {
    totp(secret_b32, "x", "x@x.x")
        .map(|t| t.generate((now_micros / 1_000_000) as u64))
        .unwrap_or_default()
}

pub fn check_totp(secret_b32: &str, code: &str, now_micros: i64) -> bool {
    totp(secret_b32, "x", "x@x.x")
        .is_ok_and(|t| t.check(code.trim(), (now_micros / 1_000_000) as u64))
}

/// Sends a fresh code by email or SMS through the outbox (rate-limited per user).
pub(crate) async fn send_code(
    app: &App,
    conn: &mut Conn,
    org: &Organization,
    user: &User,
    method: Method,
    purpose: &str,
) -> Result<(), AppError> {
    let now = app.clock.now();
    if codes::count_since(conn, user.id, now - 60 * MINUTE).await? >= MAX_SENDS_PER_HOUR {
        return Err(AppError::RateLimited("Several codes were sent in the last hour. Wait a while, or use an authenticator app or a recovery code.".into()));
    }
    let (medium, recipient) = match method {
        Method::Email => ("email", user.email.clone()),
        Method::Sms => (
            "sms",
            user.mobile.clone().ok_or_else(|| {
                ValueError::new(
                    "mobile",
                    "mobile_missing",
                    "No mobile number is on this account: choose email or an authenticator app.",
                )
            })?,
        ),
        Method::Totp => return Err(AppError::Internal("TOTP codes are not sent".into())),
    };
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    codes::insert(
        conn,
        user.id,
        purpose,
        &secret::hash(&code),
        now + CODE_MINUTES * MINUTE,
        now,
    )
    .await?;
    let m = messages::code(&org.name, &code, CODE_MINUTES);
    outbox::enqueue(
        conn,
        &[OutboxMessage {
            id: new_id(),
            org_id: org.id,
            kind: "otp".into(),
            medium: medium.into(),
            recipient,
            subject: m.subject,
            body_text: if medium == "sms" {
                format!(
                    "{}: your code is {code}. It expires in {CODE_MINUTES} minutes.",
                    org.name
                )
            } else {
                m.text
            },
            body_html: (medium == "email").then_some(m.html),
            invitation_id: None,
            send_at: now,
            created_at: now,
        }],
    )
    .await?;
    Ok(())
}

/// Checks a sent code: right, unexpired, unused, within the attempt limit.
pub(crate) async fn check_sent_code(
    app: &App,
    conn: &mut Conn,
    user_id: uuid::Uuid,
    purpose: &str,
    code: &str,
) -> Result<bool, AppError> {
    let now = app.clock.now();
    let Some(stored) = codes::latest(conn, user_id, purpose, now).await? else {
        return Ok(false);
    };
    if stored.attempts >= MAX_ATTEMPTS {
        return Err(AppError::RateLimited(
            "Too many wrong codes. Ask for a new code.".into(),
        ));
    }
    if secret::same(&stored.code_hash, &secret::hash(code.trim())) {
        return Ok(codes::use_code(conn, stored.id, now).await?);
    }
    codes::record_attempt(conn, stored.id).await?;
    Ok(false)
}

/// New recovery codes (shown once); only their hashes are stored.
pub(crate) async fn new_recovery_codes(
    conn: &mut Conn,
    user_id: uuid::Uuid,
) -> Result<Vec<String>, AppError> {
    let plain: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let t = secret::new_token();
            format!("{}-{}", &t[..5], &t[5..10])
        })
        .collect();
    let hashes: Vec<String> = plain.iter().map(|c| secret::hash(c)).collect();
    codes::set_recovery(conn, user_id, &hashes).await?;
    Ok(plain)
}

pub(crate) async fn use_recovery_code(
    app: &App,
    conn: &mut Conn,
    user_id: uuid::Uuid,
    code: &str,
) -> Result<bool, AppError> {
    Ok(codes::use_recovery(
        conn,
        user_id,
        &secret::hash(&code.trim().to_lowercase()),
        app.clock.now(),
    )
    .await?)
}
