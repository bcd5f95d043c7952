//! Store tests: each runs on SQLite and on PostgreSQL.

use uuid::Uuid;

use crate::audit::{self, NewEvent};
use crate::locations::{self, Location};
use crate::orgs::{self, OrgSettings, Organization};
use crate::testing::TestDb;
use crate::users::{self, Cursor, ListQuery, SortKey, StatusFilter, User};
use crate::{Sql, engine_tests, migrate, new_id};

async fn org(t: &TestDb, slug: &str) -> Uuid {
    let o = Organization {
        id: new_id(),
        slug: slug.into(),
        name: format!("{slug} practice"),
        time_zone: "America/Chicago".into(),
        settings: OrgSettings::default(),
        policy: "{}".into(),
        created_at: 1,
    };
    let mut c = t.db.write_conn().await.unwrap();
    orgs::insert(&mut c, &o).await.unwrap();
    o.id
}

fn user(org_id: Uuid, i: usize, first: &str, last: &str, status: &str) -> User {
    User {
        id: new_id(),
        org_id,
        email: format!("{first}.{last}{i}@Example.org"),
        email_key: format!("{first}.{last}{i}@example.org").to_lowercase(),
        username: format!("{first}.{last}{i}").to_lowercase(),
        first_name: first.into(),
        last_name: last.into(),
        display_name: format!("{first} {last}"),
        mobile: None,
        user_type: Some(if i % 2 == 0 { "pt" } else { "clerical" }.into()),
        status: status.into(),
        default_location_id: None,
        source: "console".into(),
        password_hash: None,
        invite_expires_at: None,
        failed_sign_ins: 0,
        locked_until: None,
        created_at: 1_000 + i as i64,
        created_by: None,
        activated_at: None,
        deactivated_at: None,
        last_sign_in_at: None,
    }
}

async fn migrations_are_idempotent(t: TestDb) {
    assert!(
        migrate(&t.db).await.unwrap().is_empty(),
        "a second run applies nothing"
    );
}

async fn users_are_scoped_to_their_organization(t: TestDb) {
    let (a, b) = (org(&t, "a").await, org(&t, "b").await);
    let ua = user(a, 1, "Ann", "Lee", "active");
    let mut c = t.db.write_conn().await.unwrap();
    users::insert_many(&mut c, &[ua.clone(), user(b, 1, "Ann", "Lee", "active")])
        .await
        .unwrap();
    assert_eq!(
        users::get(&mut c, a, ua.id).await.unwrap().unwrap().email,
        ua.email
    );
    assert!(
        users::get(&mut c, b, ua.id).await.unwrap().is_none(),
        "org b cannot read org a's user"
    );
    let dup = users::insert_many(&mut c, &[user(a, 1, "Ann", "Lee", "active")])
        .await
        .unwrap_err();
    assert!(
        dup.is_unique_violation(),
        "same match key twice in one org is refused: {dup}"
    );
}

async fn list_searches_filters_sorts_and_pages(t: TestDb) {
    let o = org(&t, "list").await;
    let mut c = t.db.write_conn().await.unwrap();
    let loc = Location {
        id: new_id(),
        org_id: o,
        name: "Downtown".into(),
        code: "DT".into(),
        time_zone: None,
        active: true,
    };
    locations::insert(&mut c, &loc, 1).await.unwrap();
    let mut all = Vec::new();
    for i in 0..120 {
        let (first, last) = if i % 3 == 0 {
            ("Maria", "Gonzalez")
        } else {
            ("Tom", "Baker")
        };
        let mut u = user(
            o,
            i,
            first,
            last,
            if i % 4 == 0 { "pending" } else { "active" },
        );
        if i % 8 == 0 {
            u.invite_expires_at = Some(500); // already past
        } else if i % 4 == 0 {
            u.invite_expires_at = Some(10_000);
        }
        all.push(u);
    }
    users::insert_many(&mut c, &all).await.unwrap();
    locations::grant(&mut c, all[5].id, &[loc.id])
        .await
        .unwrap();
    let base = ListQuery {
        org_id: o,
        limit: 50,
        now: 5_000,
        ..Default::default()
    };

    let page = users::list(
        &mut c,
        t.db.engine(),
        &ListQuery {
            search: Some("GONZ".into()),
            ..base.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        page.rows.len(),
        40,
        "case-insensitive substring on the name"
    );
    assert!(page.rows.iter().all(|r| r.user.last_name == "Gonzalez"));
    let page = users::list(
        &mut c,
        t.db.engine(),
        &ListQuery {
            search: Some("baker7@".into()),
            ..base.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(page.rows.len(), 1, "substring of the email");

    let expired = users::list(
        &mut c,
        t.db.engine(),
        &ListQuery {
            status: Some(StatusFilter::Expired),
            ..base.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(expired.rows.len(), 15);
    let pending = users::list(
        &mut c,
        t.db.engine(),
        &ListQuery {
            status: Some(StatusFilter::PendingUnexpired),
            ..base.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(pending.rows.len(), 15);
    let at_loc = users::list(
        &mut c,
        t.db.engine(),
        &ListQuery {
            location: Some(loc.id),
            ..base.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(at_loc.rows.len(), 1);
    assert_eq!(at_loc.rows[0].locations, vec!["Downtown".to_string()]);

    // Keyset pages cover everything once, in order.
    for (sort, descending) in [
        (SortKey::Created, false),
        (SortKey::Name, true),
        (SortKey::Email, false),
    ] {
        let mut seen = Vec::new();
        let mut after: Option<Cursor> = None;
        loop {
            let page = users::list(
                &mut c,
                t.db.engine(),
                &ListQuery {
                    sort,
                    descending,
                    after: after.clone(),
                    ..base.clone()
                },
            )
            .await
            .unwrap();
            seen.extend(page.rows.iter().map(|r| r.user.id));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen.len(), 120, "{sort:?}");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 120, "no row twice with {sort:?}");
    }
}

async fn audit_chain_detects_edits_and_deletions(t: TestDb) {
    let o = org(&t, "audit").await;
    let mut c = t.db.write_conn().await.unwrap();
    let events: Vec<NewEvent> = (0..5)
        .map(|i| NewEvent {
            actor_label: "system".into(),
            action: format!("test.{i}"),
            target_type: "user".into(),
            ..Default::default()
        })
        .collect();
    audit::append(&mut c, o, 10, &events[..3]).await.unwrap();
    audit::append(&mut c, o, 11, &events[3..]).await.unwrap();
    let v = audit::verify(&mut c, o).await.unwrap();
    assert_eq!((v.checked, v.breaks.len()), (5, 0), "{v:?}");

    let mut q =
        Sql::new("UPDATE audit_events SET action = 'test.forged' WHERE seq = 2 AND org_id = ");
    q.bind(o.to_string());
    q.execute(&mut *c).await.unwrap();
    let v = audit::verify(&mut c, o).await.unwrap();
    assert_eq!(
        v.breaks.iter().map(|b| b.seq).collect::<Vec<_>>(),
        vec![2],
        "{v:?}"
    );

    let mut q = Sql::new("DELETE FROM audit_events WHERE seq = 5 AND org_id = ");
    q.bind(o.to_string());
    q.execute(&mut *c).await.unwrap();
    let v = audit::verify(&mut c, o).await.unwrap();
    assert!(
        v.breaks
            .iter()
            .any(|b| b.problem.contains("newest events were deleted")),
        "{v:?}"
    );
}

engine_tests!(
    migrations_are_idempotent,
    users_are_scoped_to_their_organization,
    list_searches_filters_sorts_and_pages,
    audit_chain_detects_edits_and_deletions,
);
