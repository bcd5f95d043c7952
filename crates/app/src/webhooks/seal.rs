//! Endpoint signing secrets: made at random, shown once as `whsec_` + base64, and kept sealed
//! (ChaCha20-Poly1305) with a key the server keeps in its database, because signing needs the
//! secret itself (a hash would not do).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use ring::aead::{CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::{App, AppError};

const PREFIX: &str = "whsec_";
/// Bytes of a signing secret (Standard Webhooks asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A new signing secret's bytes.
pub fn new_secret() -> Vec<u8> {
    let mut key = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut key);
    key
}

/// The secret as a receiver's library takes it.
pub fn shown(secret: &[u8]) -> String {
    format!("{PREFIX}{}", STANDARD.encode(secret))
}

async fn key(app: &App) -> Result<LessSafeKey, AppError> {
    let hex_key = app
        .webhook_key
        .get_or_try_init(|| async {
            let mut conn = app.db.write_conn().await?;
            rollcall_store::server_keys::get_or_create(
                &mut conn,
                "webhook_secrets",
                &crate::secret::new_token(),
                app.clock.now(),
            )
            .await
            .map_err(AppError::from)
        })
        .await?;
    let bytes = hex::decode(hex_key)
        .map_err(|_| AppError::Internal("the webhook sealing key is not hex".into()))?;
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
        .map_err(|_| AppError::Internal("the webhook sealing key has the wrong length".into()))?;
    Ok(LessSafeKey::new(unbound))
}

/// `nonce:ciphertext` in hex.
pub async fn seal(app: &App, secret: &[u8]) -> Result<String, AppError> {
    let key = key(app).await?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let mut data = secret.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        ring::aead::Aad::empty(),
        &mut data,
    )
    .map_err(|_| AppError::Internal("could not seal a webhook secret".into()))?;
    Ok(format!("{}:{}", hex::encode(nonce), hex::encode(data)))
}

pub async fn unseal(app: &App, sealed: &str) -> Result<Vec<u8>, AppError> {
    let broken = || AppError::Internal("a stored webhook secret cannot be read".into());
    let (nonce, data) = sealed.split_once(':').ok_or_else(broken)?;
    let nonce: [u8; NONCE_LEN] = hex::decode(nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(broken)?;
    let mut data = hex::decode(data).map_err(|_| broken())?;
    let key = key(app).await?;
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::empty(),
            &mut data,
        )
        .map_err(|_| broken())?;
    Ok(plain.to_vec())
}
