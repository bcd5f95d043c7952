//! ES256 signing keys: made with ring, sealed at rest under the server's key (see
//! [`crate::vault`]), published as a JWKS before they sign, retired once their tokens expired.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rollcall_store::oidc::{self, SigningKey};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::vault::Purpose;
use crate::{App, AppError};

/// How long a process keeps the published keys before reading them again.
const CACHE_MICROS: i64 = 30_000_000;
/// A new key is published this long before it signs, so relying parties that cache the JWKS
/// (typically for minutes) know it before they meet a token it signed.
pub const PUBLISH_AHEAD_MICROS: i64 = 60 * 60 * 1_000_000;

/// The published keys as this process last read them.
#[derive(Clone)]
pub struct KeyRing {
    read_at: i64,
    keys: Arc<Vec<LoadedKey>>,
}

struct LoadedKey {
    stored: SigningKey,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

#[derive(Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub kid: String,
    pub x: String,
    pub y: String,
}

#[derive(Serialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// The JWKS document: every published key, the next one included.
pub async fn jwks(app: &App) -> Result<Jwks, AppError> {
    let ring = current(app).await?;
    Ok(Jwks {
        keys: ring
            .keys
            .iter()
            .map(|k| Jwk {
                kty: "EC",
                crv: "P-256",
                alg: "ES256",
                use_: "sig",
                kid: k.stored.kid.clone(),
                x: k.stored.x.clone(),
                y: k.stored.y.clone(),
            })
            .collect(),
    })
}

/// The keys to sign with, read before a use case opens its transaction (reading them may
/// write the first key or the sealing secret).
pub async fn signer(app: &App) -> Result<KeyRing, AppError> {
    current(app).await
}

impl KeyRing {
    /// Signs `claims` with the newest key already allowed to sign at `now`.
    pub fn sign<C: Serialize>(&self, now: i64, typ: &str, claims: &C) -> Result<String, AppError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.stored.signs_from <= now)
            .ok_or_else(|| AppError::Internal("no signing key is ready".into()))?;
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.stored.kid.clone());
        header.typ = Some(typ.to_string());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| AppError::Internal(format!("signing failed: {e}")))
    }
}

/// The claims of a token one of the published keys signed with ES256; `None` for anything else
/// (another algorithm, `none`, an unknown key, a bad signature, expired unless `allow_expired`).
pub async fn verify<C: DeserializeOwned>(
    app: &App,
    token: &str,
    allow_expired: bool,
) -> Result<Option<C>, AppError> {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return Ok(None);
    };
    if header.alg != Algorithm::ES256 {
        return Ok(None);
    }
    let ring = current(app).await?;
    let Some(key) = ring
        .keys
        .iter()
        .find(|k| header.kid.as_deref() == Some(k.stored.kid.as_str()))
    else {
        return Ok(None);
    };
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&[super::issuer(app)]);
    v.validate_aud = false;
    // Expiry is judged by the application's clock below, the one that issued the token.
    v.validate_exp = false;
    v.set_required_spec_claims(&["iss"]);
    let Ok(data) = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
        token,
        &key.decoding,
        &v,
    ) else {
        return Ok(None);
    };
    let exp = data.claims.get("exp").and_then(serde_json::Value::as_i64);
    let now_secs = app.clock.now() / 1_000_000;
    if !allow_expired && exp.is_none_or(|e| e <= now_secs) {
        return Ok(None);
    }
    Ok(serde_json::from_value(serde_json::Value::Object(data.claims)).ok())
}

/// Publishes a new key once the newest is `every` old or older (a serving process calls this
/// periodically): it signs from `PUBLISH_AHEAD_MICROS` on, and the older keys retire once the
/// last token they may sign has expired. Of several processes sharing the database, one
/// rotates. Returns the new key's id, if it made one. No key yet: the first is made on first
/// use, not here.
pub async fn rotate_if_due(app: &App, every: i64) -> Result<Option<String>, AppError> {
    let now = app.clock.now();
    let due = |newest: Option<i64>| newest.is_some_and(|made| now - made >= every);
    let newest = {
        let mut conn = app.db.read_conn().await?;
        oidc::newest_key_made(&mut conn).await?
    };
    if !due(newest) {
        return Ok(None);
    }
    let key = new_key(app, now, now + PUBLISH_AHEAD_MICROS)?;
    let mut tx = app.db.begin().await?;
    oidc::lock_key_rotation(&mut tx).await?;
    // Read again under the lock: another process may have rotated meanwhile.
    if !due(oidc::newest_key_made(&mut tx).await?) {
        return Ok(None);
    }
    oidc::insert_key(&mut tx, &key).await?;
    let retire_at = key.signs_from + super::id_token_micros().max(super::access_token_micros());
    oidc::retire_keys_except(&mut tx, &key.kid, retire_at).await?;
    tx.commit().await?;
    forget(app).await;
    tracing::info!(kid = %key.kid, "published a new OpenID Connect signing key");
    Ok(Some(key.kid))
}

async fn forget(app: &App) {
    *app.oidc_keys.lock().await = None;
}

/// The published keys, read at most every `CACHE_MICROS`; the first key is made on first use.
async fn current(app: &App) -> Result<KeyRing, AppError> {
    let now = app.clock.now();
    let mut cached = app.oidc_keys.lock().await;
    if let Some(ring) = cached.as_ref().filter(|r| now - r.read_at < CACHE_MICROS) {
        return Ok(ring.clone());
    }
    let mut stored = {
        let mut conn = app.db.read_conn().await?;
        oidc::published_keys(&mut conn, now).await?
    };
    if !stored.iter().any(|k| k.signs_from <= now) {
        let first = new_key(app, now, now)?;
        let mut tx = app.db.begin().await?;
        oidc::insert_key(&mut tx, &first).await?;
        tx.commit().await?;
        stored.push(first);
    }
    let keys = stored
        .into_iter()
        .map(|k| load(app, k))
        .collect::<Result<Vec<_>, _>>()?;
    let ring = KeyRing {
        read_at: now,
        keys: Arc::new(keys),
    };
    *cached = Some(ring.clone());
    Ok(ring)
}

fn load(app: &App, stored: SigningKey) -> Result<LoadedKey, AppError> {
    let pkcs8 = app
        .vault
        .unseal(Purpose::OidcSigningKey, &stored.sealed_key)?;
    let decoding = DecodingKey::from_ec_components(&stored.x, &stored.y)
        .map_err(|e| AppError::Internal(format!("stored public key: {e}")))?;
    Ok(LoadedKey {
        encoding: EncodingKey::from_ec_der(&pkcs8),
        decoding,
        stored,
    })
}

fn new_key(app: &App, now: i64, signs_from: i64) -> Result<SigningKey, AppError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| AppError::Internal("could not make a signing key".into()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| AppError::Internal("could not read the new signing key".into()))?;
    // An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
    let point = pair.public_key().as_ref();
    Ok(SigningKey {
        kid: crate::secret::new_token()[..16].to_string(),
        sealed_key: app.vault.seal(Purpose::OidcSigningKey, pkcs8.as_ref())?,
        x: B64.encode(&point[1..33]),
        y: B64.encode(&point[33..65]),
        created_at: now,
        signs_from,
        retire_at: None,
    })
}
