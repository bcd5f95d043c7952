//! What a serving process does on its own: a new OpenID Connect signing key published an hour
//! before it signs, the old one kept until its tokens expired; scheduled backups, each checked,
//! the oldest removed beyond the number kept.

use rollcall_app::clock::{Clock, DAY, MINUTE};
use rollcall_app::config::{BackupSchedule, Config};
use rollcall_app::oidc::keys;
use rollcall_app::{App, upkeep};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;

fn app_with(t: &TestDb, configure: impl FnOnce(&mut Config)) -> App {
    let mut config = Config::for_tests(t.url());
    configure(&mut config);
    App::with_db(t.db.clone(), config, Clock::system())
}

async fn published(app: &App) -> Vec<String> {
    let mut kids: Vec<String> = keys::jwks(app)
        .await
        .unwrap()
        .keys
        .into_iter()
        .map(|k| k.kid)
        .collect();
    kids.sort();
    kids
}

async fn signing_kid(app: &App) -> String {
    let claims =
        serde_json::json!({ "iss": "http://127.0.0.1", "exp": app.clock.now() / 1_000_000 + 60 });
    let token = keys::signer(app)
        .await
        .unwrap()
        .sign(app.clock.now(), "JWT", &claims)
        .unwrap();
    jsonwebtoken::decode_header(&token).unwrap().kid.unwrap()
}

async fn signing_keys_rotate_when_due_and_overlap(t: TestDb) {
    let app = app_with(&t, |c| c.upkeep.key_rotation_micros = 30 * DAY);
    let first = signing_kid(&app).await;
    assert_eq!(published(&app).await, vec![first.clone()]);
    assert!(
        upkeep::run_once(&app).await.new_key.is_none(),
        "a fresh key is not rotated"
    );

    app.clock.advance_minutes(30 * 24 * 60);
    let second = upkeep::run_once(&app)
        .await
        .new_key
        .expect("due after 30 days");
    assert!(
        upkeep::run_once(&app).await.new_key.is_none(),
        "one rotation, not one a round"
    );
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    assert_eq!(
        published(&app).await,
        both,
        "the new key is published before it signs"
    );
    assert_eq!(
        signing_kid(&app).await,
        first,
        "the old key signs for an hour yet"
    );

    app.clock.advance_minutes(61);
    assert_eq!(signing_kid(&app).await, second);
    assert_eq!(
        published(&app).await,
        both,
        "the old key stays while its tokens live"
    );

    app.clock
        .advance_minutes(rollcall_app::oidc::access_token_micros() / MINUTE);
    assert_eq!(published(&app).await, vec![second]);
}

async fn no_rotation_when_turned_off(t: TestDb) {
    let app = app_with(&t, |c| c.upkeep.key_rotation_micros = 0);
    let first = signing_kid(&app).await;
    app.clock.advance_minutes(400 * 24 * 60);
    assert!(upkeep::run_once(&app).await.new_key.is_none());
    assert_eq!(published(&app).await, vec![first]);
}

engine_tests!(
    signing_keys_rotate_when_due_and_overlap,
    no_rotation_when_turned_off
);

#[tokio::test]
async fn scheduled_backups_are_taken_checked_and_pruned() {
    let t = TestDb::sqlite().await;
    let dir = std::env::temp_dir().join(format!("rollcall-backups-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    // A file of the operator's own in the directory is never touched.
    std::fs::write(dir.join("notes.txt"), "keep me").unwrap();
    let app = app_with(&t, |c| {
        c.upkeep.backups = Some(BackupSchedule {
            dir: dir.clone(),
            every_micros: DAY,
            keep: 2,
        })
    });
    let meta = rollcall_app::audit::Meta::system("test");
    let org =
        rollcall_app::org::create_org(&app, "alpha", "Alpha Therapy", "America/Chicago", &meta)
            .await
            .unwrap();
    rollcall_app::org::create_admin(&app, &org, "ana@alpha.example", "Ana", "Silva", &meta)
        .await
        .unwrap();

    let first = upkeep::run_once(&app)
        .await
        .backup
        .expect("the first backup is due at once");
    assert!(first.counts.users >= 1, "{:?}", first.counts);
    assert!(
        upkeep::run_once(&app).await.backup.is_none(),
        "not due again within a day"
    );
    for _ in 0..3 {
        app.clock.advance_minutes(24 * 60);
        upkeep::run_once(&app)
            .await
            .backup
            .expect("due after a day");
    }
    let kept = upkeep::scheduled_backups(&dir).unwrap();
    assert_eq!(kept.len(), 2, "the newest two are kept: {kept:?}");
    assert!(
        kept.iter().all(|(_, p)| p != &first.path),
        "the oldest went"
    );
    for (_, path) in &kept {
        rollcall_app::ops::check_file(path)
            .await
            .expect("each backup passes the restore check");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "keep me"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
