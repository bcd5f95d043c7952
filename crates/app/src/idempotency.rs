//! Idempotency keys on bulk API calls: a retried call with the same key and body gets the first
//! call's answer and changes nothing; the same key with another body is refused. A key belongs
//! to the credential that sent it: another token's call with the same key is a new call.

use rollcall_store::Conn;
use rollcall_store::idempotency::{self, Stored};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{AppError, Principal};

#[derive(Debug, Clone)]
pub struct Key {
    pub endpoint: &'static str,
    /// The key as the caller sent it, for messages.
    pub key: String,
    /// The key as it is stored: the caller's, under its credential.
    pub scoped: String,
    pub request_hash: String,
}

impl Key {
    pub fn new(
        who: &Principal,
        endpoint: &'static str,
        key: &str,
        request: &impl Serialize,
    ) -> Result<Key, AppError> {
        let key = key.trim();
        if key.is_empty() || key.len() > 200 {
            return Err(rollcall_domain::ValueError::new(
                "Idempotency-Key",
                "idempotency_key_invalid",
                "An Idempotency-Key must be 1–200 characters, e.g. a UUID.",
            )
            .into());
        }
        let body = serde_json::to_vec(request).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Key {
            endpoint,
            scoped: format!("{}/{key}", who.credential()),
            key: key.to_string(),
            request_hash: hex::encode(Sha256::digest(body)),
        })
    }
}

/// The stored answer of an earlier call with this key, if any.
pub(crate) async fn replay<T: DeserializeOwned>(
    conn: &mut Conn,
    org_id: Uuid,
    key: &Key,
) -> Result<Option<T>, AppError> {
    let Some(stored) = idempotency::get(conn, org_id, key.endpoint, &key.scoped).await? else {
        return Ok(None);
    };
    if stored.request_hash != key.request_hash {
        return Err(AppError::Conflict(format!(
            "The Idempotency-Key “{}” was already used with a different request. Use a new key for a new request.",
            key.key
        )));
    }
    serde_json::from_str(&stored.response)
        .map(Some)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// Keeps the answer, in the transaction of the change it answers.
pub(crate) async fn record<T: Serialize>(
    conn: &mut Conn,
    org_id: Uuid,
    key: &Key,
    answer: &T,
    now: i64,
) -> Result<(), AppError> {
    let response = serde_json::to_string(answer).map_err(|e| AppError::Internal(e.to_string()))?;
    idempotency::put(
        conn,
        org_id,
        key.endpoint,
        &key.scoped,
        &Stored {
            request_hash: key.request_hash.clone(),
            status: 200,
            response,
        },
        now,
    )
    .await?;
    Ok(())
}
