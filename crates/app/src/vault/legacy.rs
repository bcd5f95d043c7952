//! Values stored before secrets were sealed with the operator's key: TOTP secrets in clear,
//! webhook secrets and signing keys sealed with keys kept in the database itself. They are
//! read once, to be sealed properly (see [`super::reseal`]), and their keys then forgotten.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rollcall_store::Conn;
use rollcall_store::sealed::Column;
use rollcall_store::server_keys;
use sha2::{Digest, Sha256};

use crate::AppError;

/// The database-kept keys of earlier versions.
pub const WEBHOOK_KEY: &str = "webhook_secrets";
pub const OIDC_KEY: &str = "oidc_key_sealing";

/// What `stored`, written by an earlier version into `column`, holds.
pub async fn open(conn: &mut Conn, column: Column, stored: &str) -> Result<Vec<u8>, AppError> {
    let broken = || AppError::Internal(format!("a stored value of {column:?} cannot be read"));
    match column {
        // Kept in clear before sealing.
        Column::TotpSecret | Column::AuditArchiveKey => Ok(stored.as_bytes().to_vec()),
        Column::WebhookSecret | Column::WebhookPreviousSecret => {
            let key = server_keys::get(conn, WEBHOOK_KEY)
                .await?
                .ok_or_else(broken)?;
            let key = hex::decode(key).map_err(|_| broken())?;
            let (nonce, data) = stored.split_once(':').ok_or_else(broken)?;
            let nonce = hex::decode(nonce).map_err(|_| broken())?;
            let data = hex::decode(data).map_err(|_| broken())?;
            open_with(&CHACHA20_POLY1305, &key, &nonce, data).ok_or_else(broken)
        }
        Column::OidcSigningKey => {
            let secret = server_keys::get(conn, OIDC_KEY).await?.ok_or_else(broken)?;
            let key = Sha256::digest(format!("rollcall oidc signing keys:{secret}").as_bytes());
            let (nonce, data) = stored.split_once('.').ok_or_else(broken)?;
            let nonce = B64.decode(nonce).map_err(|_| broken())?;
            let data = B64.decode(data).map_err(|_| broken())?;
            open_with(&AES_256_GCM, &key, &nonce, data).ok_or_else(broken)
        }
    }
}

fn open_with(
    algorithm: &'static ring::aead::Algorithm,
    key: &[u8],
    nonce: &[u8],
    mut data: Vec<u8>,
) -> Option<Vec<u8>> {
    let key = LessSafeKey::new(UnboundKey::new(algorithm, key).ok()?);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .ok()?;
    Some(plain.to_vec())
}
