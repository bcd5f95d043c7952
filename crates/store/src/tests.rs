//! Store tests: each runs on SQLite and on PostgreSQL.

use rollcall_domain::{DeliveryState, JobKind, JobState, Permission, UserStatus};
use uuid::Uuid;

use crate::audit::{self, ActionMatch, AuditQuery, NewEvent};
use crate::locations::{self, Location};
use crate::orgs::{self, OrgSettings, Organization};
use crate::testing::TestDb;
use crate::users::{self, Cursor, ListQuery, SortKey, StatusFilter, User};
use crate::{
    Sql, StoreError, access, engine_tests, jobs, migrate, new_id, outbox, roles, taxonomy,
};

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

fn user(org_id: Uuid, i: usize, first: &str, last: &str, status: UserStatus) -> User {
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
        user_type: Some(
            if i.is_multiple_of(2) {
                "pt"
            } else {
                "clerical"
            }
            .into(),
        ),
        status,
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
    let ua = user(a, 1, "Ann", "Lee", UserStatus::Active);
    let mut c = t.db.write_conn().await.unwrap();
    users::insert_many(
        &mut c,
        &[ua.clone(), user(b, 1, "Ann", "Lee", UserStatus::Active)],
    )
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
    let dup = users::insert_many(&mut c, &[user(a, 1, "Ann", "Lee", UserStatus::Active)])
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
            if i % 4 == 0 {
                UserStatus::Pending
            } else {
                UserStatus::Active
            },
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
    q.execute(&mut c).await.unwrap();
    let v = audit::verify(&mut c, o).await.unwrap();
    assert_eq!(
        v.breaks.iter().map(|b| b.seq).collect::<Vec<_>>(),
        vec![2],
        "{v:?}"
    );

    let mut q = Sql::new("DELETE FROM audit_events WHERE seq = 5 AND org_id = ");
    q.bind(o.to_string());
    q.execute(&mut c).await.unwrap();
    let v = audit::verify(&mut c, o).await.unwrap();
    assert!(
        v.breaks
            .iter()
            .any(|b| b.problem.contains("newest events were deleted")),
        "{v:?}"
    );
}

/// Archived events leave the live table with an anchor: the live chain verifies from it, a
/// second removal must start where the first ended, and a forged anchor is caught.
async fn audit_chain_continues_from_the_archived_prefix(t: TestDb) {
    let o = org(&t, "archive").await;
    let mut c = t.db.write_conn().await.unwrap();
    let events: Vec<NewEvent> = (0..6)
        .map(|i| NewEvent {
            actor_label: "system".into(),
            action: format!("test.{i}"),
            target_type: "user".into(),
            ..Default::default()
        })
        .collect();
    audit::append(&mut c, o, 10, &events).await.unwrap();
    let third = audit::range(&mut c, o, 2, 3, 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        audit::last_older_than(&mut c, o, 0, 11)
            .await
            .unwrap()
            .map(|e| e.seq),
        Some(6)
    );
    assert!(
        audit::last_older_than(&mut c, o, 0, 10)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !audit::remove_archived(&mut c, o, 2, &third, 20)
            .await
            .unwrap(),
        "a removal that does not start after the anchor is refused"
    );
    assert!(
        audit::remove_archived(&mut c, o, 1, &third, 20)
            .await
            .unwrap()
    );
    let v = audit::verify(&mut c, o).await.unwrap();
    assert_eq!((v.checked, v.archived, v.breaks.len()), (3, 3, 0), "{v:?}");
    assert_eq!(
        audit::anchor(&mut c, o).await.unwrap().map(|a| a.seq),
        Some(3)
    );
    let fifth = audit::range(&mut c, o, 4, 5, 1)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(
        !audit::remove_archived(&mut c, o, 1, &fifth, 21)
            .await
            .unwrap()
    );
    assert!(
        audit::remove_archived(&mut c, o, 4, &fifth, 21)
            .await
            .unwrap()
    );
    let v = audit::verify(&mut c, o).await.unwrap();
    assert_eq!((v.checked, v.archived, v.breaks.len()), (1, 5, 0), "{v:?}");

    // Dropping archived events: from the last drop on, and never past the archived ones.
    assert!(
        !audit::record_dropped(&mut c, o, 0, 6, "h", 22)
            .await
            .unwrap(),
        "event 6 is still live"
    );
    assert!(
        audit::record_dropped(&mut c, o, 0, 3, &third.hash, 22)
            .await
            .unwrap()
    );
    assert!(
        !audit::record_dropped(&mut c, o, 0, 5, &fifth.hash, 22)
            .await
            .unwrap(),
        "must continue from the last drop"
    );
    let a = audit::anchor(&mut c, o).await.unwrap().unwrap();
    assert_eq!(
        (a.seq, a.dropped_seq, a.dropped_hash),
        (5, 3, third.hash.clone())
    );
    let v = audit::verify(&mut c, o).await.unwrap();
    assert!(v.breaks.is_empty(), "{v:?}");

    let mut q = Sql::new("UPDATE audit_anchors SET hash = 'forged' WHERE org_id = ");
    q.bind(o.to_string());
    q.execute(&mut c).await.unwrap();
    let v = audit::verify(&mut c, o).await.unwrap();
    assert!(
        v.breaks
            .iter()
            .any(|b| b.seq == 6 && b.problem.contains("the last archived one")),
        "{v:?}"
    );
}

async fn audit_filters_by_actor_action_target_and_time(t: TestDb) {
    let (o, other) = (org(&t, "filters").await, org(&t, "other").await);
    let (dana, target) = (new_id(), new_id());
    let ev = |actor: Option<Uuid>, label: &str, action: &str, target_id: Option<Uuid>| NewEvent {
        actor_id: actor,
        actor_label: label.into(),
        action: action.into(),
        target_type: "user".into(),
        target_id,
        ..Default::default()
    };
    let mut c = t.db.write_conn().await.unwrap();
    audit::append(
        &mut c,
        o,
        100,
        &[
            ev(
                Some(dana),
                "Dana Lee <dana@x.org>",
                "user.invited",
                Some(target),
            ),
            ev(None, "operator (100%_real)", "location.created", None),
        ],
    )
    .await
    .unwrap();
    audit::append(
        &mut c,
        o,
        200,
        &[
            ev(
                Some(dana),
                "Dana Lee <dana@x.org>",
                "user.deactivated",
                Some(target),
            ),
            ev(None, "Sam Roe <sam@x.org>", "users.exported", None),
        ],
    )
    .await
    .unwrap();
    audit::append(
        &mut c,
        other,
        150,
        &[ev(
            Some(dana),
            "Dana Lee <dana@x.org>",
            "user.invited",
            Some(target),
        )],
    )
    .await
    .unwrap();
    let actions_of = |events: Vec<audit::Event>| -> Vec<String> {
        events.into_iter().map(|e| e.event.action).collect()
    };
    let all = AuditQuery {
        limit: 50,
        ..Default::default()
    };
    let run = |q: AuditQuery| {
        let db = t.db.clone();
        async move {
            let mut c = db.read_conn().await.unwrap();
            audit::list(&mut c, o, &q).await.unwrap()
        }
    };
    assert_eq!(
        actions_of(run(all.clone()).await),
        [
            "users.exported",
            "user.deactivated",
            "location.created",
            "user.invited"
        ],
        "newest first, this organization only"
    );
    assert_eq!(
        actions_of(
            run(AuditQuery {
                action: Some(ActionMatch::Prefix("user.".into())),
                ..all.clone()
            })
            .await
        ),
        ["user.deactivated", "user.invited"],
        "a prefix stops at the dot: users.exported is not a user. action"
    );
    assert_eq!(
        actions_of(
            run(AuditQuery {
                actor_text: Some("DANA@X".into()),
                to: Some(200),
                ..all.clone()
            })
            .await
        ),
        ["user.invited"]
    );
    assert_eq!(
        actions_of(
            run(AuditQuery {
                actor_text: Some("100%_".into()),
                ..all.clone()
            })
            .await
        ),
        ["location.created"],
        "typed wildcards match themselves"
    );
    assert!(
        run(AuditQuery {
            actor_text: Some("0_r".into()),
            ..all.clone()
        })
        .await
        .is_empty()
    );
    let page = run(AuditQuery {
        actor_id: Some(dana),
        target_id: Some(target),
        from: Some(100),
        limit: 1,
        ..all.clone()
    })
    .await;
    assert_eq!(actions_of(page.clone()), ["user.deactivated"]);
    assert_eq!(
        actions_of(
            run(AuditQuery {
                actor_id: Some(dana),
                before_seq: Some(page[0].seq),
                ..all.clone()
            })
            .await
        ),
        ["user.invited"],
        "the next page continues below the last sequence number"
    );
    let mut c = t.db.read_conn().await.unwrap();
    assert_eq!(
        audit::actions(&mut c, o).await.unwrap(),
        [
            "location.created",
            "user.deactivated",
            "user.invited",
            "users.exported"
        ]
    );
}

async fn taxonomy_lists_are_replaced_whole_and_per_organization(t: TestDb) {
    let (o, other) = (org(&t, "tax").await, org(&t, "tax-other").await);
    let list = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(c, n)| (c.to_string(), n.to_string()))
            .collect()
    };
    let mut tx = t.db.begin().await.unwrap();
    taxonomy::replace_for_org(
        &mut tx,
        o,
        &list(&[
            ("225100000X", "Physical Therapist"),
            ("225X00000X", "Occupational Therapist"),
        ]),
    )
    .await
    .unwrap();
    taxonomy::replace_for_org(
        &mut tx,
        other,
        &list(&[("235Z00000X", "Speech-Language Pathologist")]),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let codes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut c = t.db.read_conn().await.unwrap();
    let names = taxonomy::names(
        &mut c,
        o,
        &codes(&["225100000X", "235Z00000X", "999999999X"]),
    )
    .await
    .unwrap();
    assert_eq!(
        names.len(),
        1,
        "{names:?}: another organization's codes stay its own"
    );
    assert_eq!(names["225100000X"], "Physical Therapist");
    assert_eq!(taxonomy::count(&mut c, o).await.unwrap(), 2);
    drop(c);

    // A reload replaces the list; a failed one leaves the old list in place.
    let many: Vec<(String, String)> = (0..1500)
        .map(|i| (format!("{i:09}X"), format!("Code {i}")))
        .collect();
    let mut tx = t.db.begin().await.unwrap();
    taxonomy::replace_for_org(&mut tx, o, &many).await.unwrap();
    tx.commit().await.unwrap();
    let mut c = t.db.read_conn().await.unwrap();
    assert_eq!(taxonomy::count(&mut c, o).await.unwrap(), 1500);
    assert!(
        taxonomy::names(&mut c, o, &codes(&["225100000X"]))
            .await
            .unwrap()
            .is_empty(),
        "codes of the previous list are gone"
    );
    let looked_up: Vec<String> = many.iter().map(|(c, _)| c.clone()).collect();
    assert_eq!(
        taxonomy::names(&mut c, o, &looked_up).await.unwrap().len(),
        1500
    );
    drop(c);
    let mut tx = t.db.begin().await.unwrap();
    taxonomy::replace_for_org(&mut tx, o, &list(&[("225100000X", "PT")]))
        .await
        .unwrap();
    drop(tx);
    let mut c = t.db.read_conn().await.unwrap();
    assert_eq!(
        taxonomy::count(&mut c, o).await.unwrap(),
        1500,
        "rolled back"
    );
    assert_eq!(taxonomy::count(&mut c, other).await.unwrap(), 1);
}

/// Stored names come back as domain values: a legacy status still reads, a permission key this
/// version does not know is skipped, and a name no version writes is reported as corrupt.
async fn stored_names_read_back_as_domain_values(t: TestDb) {
    let o = org(&t, "typed").await;
    let legacy = user(o, 1, "Lee", "Moss", UserStatus::Blocked);
    let mut c = t.db.write_conn().await.unwrap();
    users::insert_many(&mut c, std::slice::from_ref(&legacy))
        .await
        .unwrap();
    let stored = users::get(&mut c, o, legacy.id).await.unwrap().unwrap();
    assert_eq!(stored.status, UserStatus::Blocked);

    let role = roles::Role {
        id: new_id(),
        org_id: o,
        name: "Front desk".into(),
        predefined: false,
        permissions: vec![Permission::CalendarView],
    };
    roles::insert(&mut c, &role, 1).await.unwrap();
    roles::assign(&mut c, legacy.id, &[role.id]).await.unwrap();
    roles::grant_direct(&mut c, legacy.id, &[Permission::SoapStart])
        .await
        .unwrap();
    let mut q = Sql::new("INSERT INTO role_permissions (role_id, permission) VALUES ");
    q.values_row(|row| {
        row.bind(role.id.to_string())
            .bind("calendar.teleport".to_string());
    });
    q.execute(&mut c).await.unwrap();
    let mut q = Sql::new("INSERT INTO user_permissions (user_id, permission) VALUES ");
    q.values_row(|row| {
        row.bind(legacy.id.to_string())
            .bind("soap.sign".to_string());
    });
    q.execute(&mut c).await.unwrap();
    assert_eq!(
        roles::list(&mut c, o).await.unwrap()[0].permissions,
        [Permission::CalendarView]
    );
    let grants = roles::grants_of(&mut c, legacy.id).await.unwrap();
    assert_eq!(grants.role_permissions, [Permission::CalendarView].into());
    assert_eq!(grants.direct, [Permission::SoapStart].into());
    let row = access::load(&mut c, o, &[legacy.id])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(row.status, UserStatus::Blocked);
    assert_eq!(row.direct, [Permission::SoapStart].into());
    assert_eq!(row.role_permissions, [Permission::CalendarView].into());

    let mut q = Sql::new("UPDATE users SET status = 'paused' WHERE id = ");
    q.bind(legacy.id.to_string());
    q.execute(&mut c).await.unwrap();
    let corrupt = |e: StoreError| match e {
        StoreError::Corrupt(message) => message,
        other => panic!("not reported as corrupt: {other}"),
    };
    let message = corrupt(users::get(&mut c, o, legacy.id).await.unwrap_err());
    assert!(
        message.contains("users.status") && message.contains("paused"),
        "{message}"
    );
    let message = corrupt(access::load(&mut c, o, &[legacy.id]).await.unwrap_err());
    assert!(
        message.contains("users.status") && message.contains("paused"),
        "{message}"
    );

    let job = jobs::Job {
        id: new_id(),
        org_id: o,
        kind: JobKind::BulkUpdate,
        actor_id: None,
        idempotency_key: None,
        state: JobState::Queued,
        total: 0,
        done: 0,
        summary: "{}".into(),
        created_at: 1,
        updated_at: 1,
    };
    jobs::insert(&mut c, &job, "{}").await.unwrap();
    assert_eq!(
        jobs::get(&mut c, o, job.id).await.unwrap(),
        Some(job.clone())
    );
    jobs::finish(&mut c, job.id, JobState::PartiallySucceeded, "{}", 2)
        .await
        .unwrap();
    let finished = jobs::get(&mut c, o, job.id).await.unwrap().unwrap();
    assert_eq!(finished.state, JobState::PartiallySucceeded);
    assert!(finished.is_finished());
    for (column, value) in [("state", "paused"), ("kind", "nightly")] {
        let mut q = Sql::new(&format!("UPDATE jobs SET {column} = '{value}' WHERE id = "));
        q.bind(job.id.to_string());
        q.execute(&mut c).await.unwrap();
        let message = corrupt(jobs::get(&mut c, o, job.id).await.unwrap_err());
        assert!(
            message.contains(&format!("jobs.{column}")) && message.contains(value),
            "{message}"
        );
    }

    let message = outbox::OutboxMessage {
        id: new_id(),
        org_id: o,
        kind: "notice".into(),
        medium: "email".into(),
        recipient: "lee.moss@example.org".into(),
        subject: "Hello".into(),
        body_text: "Hello".into(),
        body_html: None,
        invitation_id: None,
        send_at: 1,
        created_at: 1,
    };
    outbox::enqueue(&mut c, std::slice::from_ref(&message))
        .await
        .unwrap();
    let queued = outbox::get(&mut c, message.id).await.unwrap().unwrap();
    assert_eq!(queued.state, DeliveryState::Queued);
    assert_eq!(
        outbox::count_by_state(&mut c).await.unwrap(),
        [(DeliveryState::Queued, 1)]
    );
    let mut q = Sql::new("UPDATE outbox SET state = 'paused' WHERE id = ");
    q.bind(message.id.to_string());
    q.execute(&mut c).await.unwrap();
    let message = corrupt(outbox::get(&mut c, message.id).await.unwrap_err());
    assert!(
        message.contains("outbox.state") && message.contains("paused"),
        "{message}"
    );
}

engine_tests!(
    migrations_are_idempotent,
    stored_names_read_back_as_domain_values,
    audit_filters_by_actor_action_target_and_time,
    taxonomy_lists_are_replaced_whole_and_per_organization,
    users_are_scoped_to_their_organization,
    list_searches_filters_sorts_and_pages,
    audit_chain_detects_edits_and_deletions,
    audit_chain_continues_from_the_archived_prefix,
);

/// Two processes migrating one empty database at once: both succeed and each step is applied
/// once, by one of them.
async fn migrating_twice_at_once_applies_each_step_once(url: &str) {
    let (a, b) = (
        crate::Db::connect(url).await.unwrap(),
        crate::Db::connect(url).await.unwrap(),
    );
    let (by_a, by_b) = tokio::join!(migrate(&a), migrate(&b));
    let mut applied = [by_a.unwrap(), by_b.unwrap()].concat();
    applied.sort();
    let mut once = applied.clone();
    once.dedup();
    assert_eq!(applied, once, "a step applied twice");
    let mut conn = a.read_conn().await.unwrap();
    let recorded: i64 = sqlx::Row::try_get(
        &Sql::new("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&mut conn)
            .await
            .unwrap(),
        0,
    )
    .unwrap();
    assert_eq!(recorded as usize, applied.len());
    drop(conn);
    assert!(migrate(&b).await.unwrap().is_empty());
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_from_two_pools_at_once_apply_each_step_once() {
    let path = std::env::temp_dir().join(format!("rollcall-migrate-{}.db", Uuid::now_v7()));
    migrating_twice_at_once_applies_each_step_once(&format!("sqlite://{}", path.display())).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_from_two_pools_at_once_apply_each_step_once() {
    let Ok(admin_url) = std::env::var("ROLLCALL_TEST_POSTGRES_URL") else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true but ROLLCALL_TEST_POSTGRES_URL is not set: the PostgreSQL suite must run in CI"
        );
        eprintln!("skipped: ROLLCALL_TEST_POSTGRES_URL is not set");
        return;
    };
    let name = format!("rollcall_migrate_{}", Uuid::now_v7().simple());
    let admin = crate::Db::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(admin.reader())
        .await
        .unwrap();
    migrating_twice_at_once_applies_each_step_once(&crate::testing::with_database(
        &admin_url, &name,
    ))
    .await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(admin.reader())
        .await;
    admin.close().await;
}

/// A step that fails half-way leaves nothing of itself: neither its first statement's table nor
/// its version row, and the error names it.
async fn a_failing_migration_is_rolled_back_whole_and_named(t: TestDb) {
    let failing = (
        9001,
        "probe",
        "CREATE TABLE upgrade_probe (id BIGINT); INSERT INTO no_such_table VALUES (1);",
    );
    let err = crate::migrate_with(&t.db, &[failing]).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("migration 9001 (probe) failed"), "{text}");
    let mut c = t.db.read_conn().await.unwrap();
    let probe = sqlx::query("SELECT COUNT(*) FROM upgrade_probe")
        .fetch_one(&mut *c)
        .await;
    assert!(probe.is_err(), "the failed step's table must not exist");
    let recorded: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations WHERE version = 9001")
            .fetch_one(&mut *c)
            .await
            .unwrap();
    assert_eq!(recorded, 0);
    assert!(crate::pending(&t.db).await.unwrap().is_empty());
}

/// The figures `/metrics` and `rollcall backup` show, read on both engines.
async fn operator_counts_and_gauges_read_on_both_engines(t: TestDb) {
    let o = org(&t, "gauges").await;
    let mut c = t.db.read_conn().await.unwrap();
    let counts = crate::ops::counts(&mut c).await.unwrap();
    assert_eq!((counts.orgs, counts.users, counts.outbox), (1, 0, 0));
    assert_eq!(crate::ops::outbox_backlog(&mut c).await.unwrap(), (0, None));
    assert!(
        crate::ops::jobs_by_kind_and_state(&mut c)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!crate::ops::pool_use(&t.db).is_empty());
    let _ = o;
}

engine_tests!(
    a_failing_migration_is_rolled_back_whole_and_named,
    operator_counts_and_gauges_read_on_both_engines,
);
