//! Random tokens (256 bits) and their stored form (SHA-256), compared in constant time.

use rand::RngCore;
use subtle::ConstantTimeEq;

/// A new 256-bit token, hex-encoded: safe in URLs, cookies and headers.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub use rollcall_store::token_hash as hash;

/// Constant-time equality for secrets held in memory (e.g. CSRF tokens).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A pre-session form's pair (sign-in, registration): a nonce for a cookie and, for the form,
/// the nonce signed with the server's key. A cookie another site planted cannot come with a
/// matching form token: only the server can sign.
pub async fn form_pair(app: &crate::App) -> Result<(String, String), crate::AppError> {
    let nonce = new_token();
    let signed = sign(app, &nonce).await?;
    Ok((nonce, signed))
}

/// Whether `token` is the form token of the cookie's `nonce`.
pub async fn form_pair_valid(
    app: &crate::App,
    nonce: &str,
    token: &str,
) -> Result<bool, crate::AppError> {
    Ok(!nonce.is_empty() && same(&sign(app, nonce).await?, token))
}

async fn sign(app: &crate::App, nonce: &str) -> Result<String, crate::AppError> {
    use hmac::{Hmac, Mac};
    let key = app
        .form_key
        .get_or_try_init(|| async {
            let mut conn = app.db.write_conn().await?;
            let now = app.clock.now();
            rollcall_store::server_keys::get_or_create(
                &mut conn,
                "pre_session_forms",
                &new_token(),
                now,
            )
            .await
            .map_err(crate::AppError::from)
        })
        .await?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(b"pre-session form:");
    mac.update(nonce.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}
