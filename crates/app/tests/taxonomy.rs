//! Taxonomy names for profiles, and the demo organization's short list.

use rollcall_app::audit::Meta;
use rollcall_app::org::taxonomy;
use rollcall_app::{App, Clock, Config, demo};
use rollcall_store::audit::{self, ActionMatch, AuditQuery};
use rollcall_store::testing::TestDb;

fn app_over(t: &TestDb) -> App {
    App::with_db(t.db.clone(), Config::for_tests(t.url()), Clock::system())
}

rollcall_store::engine_tests!(
    the_demo_loads_its_short_list_once,
    names_follow_the_loaded_list,
);

async fn the_demo_loads_its_short_list_once(t: TestDb) {
    let app = app_over(&t);
    let first = demo::ensure(&app).await.unwrap();
    assert!(first.created);
    let again = demo::ensure(&app).await.unwrap();
    assert!(!again.created, "a restart finds the demo organization");
    let org = first.org.id;
    assert_eq!(
        taxonomy::count(&app, org).await.unwrap(),
        rollcall_app::domain::DEMO_TAXONOMY.len() as i64
    );
    let mut conn = app.db().read_conn().await.unwrap();
    let loads = audit::list(
        &mut conn,
        org,
        &AuditQuery {
            action: Some(ActionMatch::Exact("taxonomy.loaded".into())),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(loads.len(), 1, "loaded once, not on every start");
    drop(conn);
    let named = taxonomy::name_codes(&app, org, &["225100000X".into(), "207Q00000X".into()])
        .await
        .unwrap();
    assert_eq!(
        named,
        vec![
            (
                "225100000X".to_string(),
                Some("Physical Therapist".to_string())
            ),
            ("207Q00000X".to_string(), None),
        ]
    );
}

async fn names_follow_the_loaded_list(t: TestDb) {
    let app = app_over(&t);
    let meta = Meta::system("test");
    let org = rollcall_app::org::create_org(&app, "lake", "Lake PT", "UTC", &meta)
        .await
        .unwrap();
    let other = rollcall_app::org::create_org(&app, "hill", "Hill PT", "UTC", &meta)
        .await
        .unwrap();
    let codes = vec!["225xp0200x".to_string(), "not a code".to_string()];
    assert_eq!(
        taxonomy::name_codes(&app, org.id, &codes).await.unwrap(),
        vec![
            ("225XP0200X".to_string(), None),
            ("not a code".to_string(), None)
        ],
        "nothing loaded yet: codes without names"
    );
    let operator = rollcall_app::Principal::operator(&app, org.id, "test")
        .await
        .unwrap();
    let loaded = taxonomy::load(
        &app,
        &operator,
        "code,name\n225XP0200X,Pediatric Occupational Therapist\n".as_bytes(),
        &meta,
    )
    .await
    .unwrap();
    assert_eq!((loaded.count, loaded.replaced), (1, 0));
    assert_eq!(
        taxonomy::name_codes(&app, org.id, &codes).await.unwrap()[0],
        (
            "225XP0200X".to_string(),
            Some("Pediatric Occupational Therapist".to_string())
        )
    );
    assert_eq!(
        taxonomy::name_codes(&app, other.id, &codes).await.unwrap()[0].1,
        None,
        "another organization's list names nothing here"
    );
    let refused = taxonomy::load(&app, &operator, "code,name\nBAD,Nope\n".as_bytes(), &meta)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("line 2"), "{refused}");
    assert_eq!(taxonomy::count(&app, org.id).await.unwrap(), 1, "kept");
}
