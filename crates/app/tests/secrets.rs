//! Secrets at rest, below HTTP on SQLite and PostgreSQL: second-factor secrets, sign-in signing
//! keys and webhook secrets are stored sealed under the operator's key; a rotation moves them to
//! a new key while both are held; a server holding only a key the database was not sealed under
//! refuses to start; values an earlier version stored (a TOTP secret in clear, a webhook secret
//! sealed with a key kept in the database) are sealed at the first start.

mod common;

use base64::Engine as _;
use common::fixtures::{Clinic, clinic};
use rollcall_app::clock::Clock;
use rollcall_app::identity::mfa;
use rollcall_app::vault::reseal::{self, Resealed};
use rollcall_app::vault::{KeySource, Purpose};
use rollcall_app::webhooks::{self, NewEndpoint};
use rollcall_app::{App, Config, oidc};
use rollcall_store::Sql;
use rollcall_store::testing::TestDb;
use sqlx::Row;

rollcall_store::engine_tests!(
    secrets_are_stored_sealed_and_a_rotation_moves_them_to_the_new_key,
    a_totp_secret_and_a_webhook_secret_an_earlier_version_stored_are_sealed_at_start,
);

const KEY_A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const KEY_B: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
/// A TOTP secret as an authenticator app is given it (base32).
const TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn app_with(c: &Clinic, keys: &[&str]) -> App {
    let mut config = Config::for_tests(c.db.url());
    config.webhooks.allow_private = true;
    config.secret_keys = KeySource::Given(keys.iter().map(|k| k.to_string()).collect());
    App::with_db(c.db.db.clone(), config, Clock::system())
}

async fn column(c: &Clinic, sql: &str) -> Vec<String> {
    let mut conn = c.db.db.write_conn().await.unwrap();
    Sql::new(sql)
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

async fn set_totp(c: &Clinic, stored: &str) {
    let mut conn = c.db.db.write_conn().await.unwrap();
    let mut q = Sql::new("UPDATE users SET mfa_method = 'totp', totp_secret = ");
    q.bind(stored.to_string())
        .push(" WHERE id = ")
        .bind(c.admin.user_id.to_string());
    assert_eq!(q.execute(&mut conn).await.unwrap(), 1);
}

async fn totp_of(app: &App, c: &Clinic) -> Option<String> {
    let mut conn = c.db.db.write_conn().await.unwrap();
    mfa::stored(app, &mut conn, c.admin.user_id)
        .await
        .unwrap()
        .1
}

async fn endpoint(app: &App, c: &Clinic) -> Vec<u8> {
    let req = NewEndpoint {
        url: "http://127.0.0.1:9/hook".into(),
        description: "Scheduling".into(),
        event_types: vec!["user.deactivated".into()],
        enabled: Some(false),
        batch_max: None,
    };
    let made = webhooks::create(app, &c.admin, &req, &c.meta())
        .await
        .unwrap();
    let shown = made.secret.strip_prefix("whsec_").unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(shown)
        .unwrap()
}

async fn secrets_are_stored_sealed_and_a_rotation_moves_them_to_the_new_key(t: TestDb) {
    let c = clinic(t).await;
    let a = app_with(&c, &[KEY_A]);
    reseal::on_start(&a).await.unwrap();
    set_totp(&c, &mfa::sealed_totp(&a, TOTP).unwrap()).await;
    let webhook_secret = endpoint(&a, &c).await;
    let published = oidc::keys::jwks(&a).await.unwrap().keys.len();
    assert!(published >= 1);

    // What a copy of the database holds: no secret in clear, each naming its key.
    let stored = column(
        &c,
        "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL \
         UNION ALL SELECT secret_sealed FROM webhook_endpoints \
         UNION ALL SELECT sealed_key FROM oidc_signing_keys",
    )
    .await;
    let key_a = a.vault.current_key_id().unwrap();
    assert_eq!(stored.len(), 2 + published);
    for value in &stored {
        assert!(value.starts_with(&format!("rc1.{key_a}.")), "{value}");
        assert!(!value.contains(TOTP), "{value}");
    }
    assert_eq!(totp_of(&a, &c).await.as_deref(), Some(TOTP));

    // The operator puts key B first and keeps A below it; the rotation seals everything under B.
    let both = app_with(&c, &[KEY_B, KEY_A]);
    let moved = reseal::reseal(&both).await.unwrap();
    assert_eq!(
        moved,
        Resealed {
            totp_secrets: 1,
            signing_keys: published as u64,
            webhook_secrets: 1,
            archive_keys: 0,
        }
    );
    assert_eq!(
        reseal::reseal(&both).await.unwrap().total(),
        0,
        "nothing left"
    );

    // A server holding B alone starts and reads every secret.
    let b = app_with(&c, &[KEY_B]);
    reseal::on_start(&b).await.unwrap();
    assert_eq!(totp_of(&b, &c).await.as_deref(), Some(TOTP));
    let sealed = column(&c, "SELECT secret_sealed FROM webhook_endpoints").await;
    assert_eq!(
        b.vault.unseal(Purpose::WebhookSecret, &sealed[0]).unwrap(),
        webhook_secret
    );
    assert_eq!(oidc::keys::jwks(&b).await.unwrap().keys.len(), published);
    // A value cannot be passed off as another kind of secret.
    assert!(b.vault.unseal(Purpose::TotpSecret, &sealed[0]).is_err());

    // One holding only the old key is refused at start, naming the key it lacks.
    let old = app_with(&c, &[KEY_A]);
    let refused = reseal::on_start(&old).await.unwrap_err().to_string();
    let key_b = b.vault.current_key_id().unwrap();
    assert!(
        refused.contains(&format!("sealed under key {key_b}")) && refused.contains(&key_a),
        "{refused}"
    );
    // And one holding none says how to make and give one.
    let none = {
        let mut config = Config::for_tests(c.db.url());
        config.secret_keys = KeySource::Missing;
        App::with_db(c.db.db.clone(), config, Clock::system())
    };
    let refused = reseal::on_start(&none).await.unwrap_err().to_string();
    assert!(refused.contains("rollcall secrets new-key"), "{refused}");
}

async fn a_totp_secret_and_a_webhook_secret_an_earlier_version_stored_are_sealed_at_start(
    t: TestDb,
) {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    let c = clinic(t).await;
    let a = app_with(&c, &[KEY_A]);
    let webhook_secret = endpoint(&a, &c).await;
    // As an earlier version kept them: the TOTP secret in clear, the webhook secret sealed
    // with a key of its own in the database, and no check value yet.
    set_totp(&c, TOTP).await;
    let old_key = [7u8; 32];
    let nonce = [9u8; 12];
    let mut data = webhook_secret.clone();
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &old_key).unwrap())
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .unwrap();
    {
        let mut conn = c.db.db.write_conn().await.unwrap();
        let mut q = Sql::new("UPDATE webhook_endpoints SET secret_sealed = ");
        q.bind(format!("{}:{}", hex::encode(nonce), hex::encode(data)));
        q.execute(&mut conn).await.unwrap();
        let mut q = Sql::new(
            "INSERT INTO server_keys (name, secret, created_at) VALUES ('webhook_secrets', ",
        );
        q.bind(hex::encode(old_key)).push(", 0)");
        q.execute(&mut conn).await.unwrap();
        Sql::new("DELETE FROM server_keys WHERE name = 'secret_key_check'")
            .execute(&mut conn)
            .await
            .unwrap();
    }

    reseal::on_start(&a).await.unwrap();

    let key_a = a.vault.current_key_id().unwrap();
    let totp = column(
        &c,
        "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL",
    )
    .await;
    assert!(totp[0].starts_with(&format!("rc1.{key_a}.")), "{}", totp[0]);
    assert_eq!(totp_of(&a, &c).await.as_deref(), Some(TOTP));
    let sealed = column(&c, "SELECT secret_sealed FROM webhook_endpoints").await;
    assert_eq!(
        a.vault.unseal(Purpose::WebhookSecret, &sealed[0]).unwrap(),
        webhook_secret
    );
    let kept = column(
        &c,
        "SELECT name FROM server_keys WHERE name = 'webhook_secrets'",
    )
    .await;
    assert!(kept.is_empty(), "the database-kept key is forgotten");
}
