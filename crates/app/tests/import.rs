//! CSV import below HTTP, on SQLite and PostgreSQL: upload and review, fixing a row, committing
//! with shared roles, licence seats, and files refused whole.

mod common;

use std::collections::BTreeMap;

use common::fixtures::{Clinic, clinic};
use rollcall_app::AppError;
use rollcall_app::domain::import::Column;
use rollcall_app::domain::{JobState, Outcome, UserStatus};
use rollcall_app::onboarding::import::run::outcome_of;
use rollcall_app::onboarding::import::{self, Access, Commit, Review};
use rollcall_store::imports::Filter;
use rollcall_store::testing::TestDb;
use rollcall_store::{invitations, locations, roles};
use uuid::Uuid;

rollcall_store::engine_tests!(
    clearing_a_rows_access_columns_updates_the_count,
    the_review_counts_rows_and_marks_each_problem,
    a_row_fixed_in_the_review_is_imported,
    committing_with_a_role_creates_pending_people_with_one_invitation_each,
    too_few_seats_create_nobody_and_say_both_numbers,
    a_file_with_an_unknown_column_is_refused_whole,
    a_file_that_outgrows_the_limit_while_read_keeps_none_of_its_rows,
);

async fn upload(c: &Clinic, csv: &str) -> Uuid {
    import::upload(
        &c.app,
        &c.admin,
        csv.as_bytes(),
        "staff.csv",
        None,
        &c.meta(),
    )
    .await
    .unwrap()
    .id
}

async fn review(c: &Clinic, id: Uuid, filter: Filter) -> Review {
    import::review(&c.app, &c.admin, id, filter, -1, None)
        .await
        .unwrap()
}

fn codes(review: &Review, line: i64) -> Vec<(Option<Column>, String)> {
    review
        .rows
        .iter()
        .find(|r| r.line == line)
        .unwrap_or_else(|| panic!("no line {line}"))
        .issues
        .iter()
        .map(|i| (i.column, i.code.clone()))
        .collect()
}

fn commit_as(role: Uuid, location: Option<Uuid>) -> Commit {
    Commit {
        access: Access::Roles {
            role_ids: vec![role],
        },
        location_id: location,
        send_at: None,
        notifications: vec![],
    }
}

async fn the_review_counts_rows_and_marks_each_problem(t: TestDb) {
    let c = clinic(t).await;
    let id = upload(
        &c,
        "first_name,last_name,email,user_type,default_location\n\
         Dana,Lee,dana@alpha.example,PT,DT\n\
         Kim,Park,kim-at-alpha.example,PTA,NS\n\
         Dana,Again,DANA@alpha.example,PT,DT\n\
         Ana,Silva,ana@alpha.example,,DT\n\
         Sam,Ortiz,sam@alpha.example,Front desk,\n\
         Lee,Moss,lee@alpha.example,Wizard,DT\n",
    )
    .await;

    let all = review(&c, id, Filter::All).await;
    assert_eq!(all.job.state, JobState::Validated);
    let s = &all.summary;
    assert_eq!(
        (s.rows, s.in_error, s.importable(), s.without_location),
        (6, 4, 2, 1),
        "{s:?}"
    );
    assert_eq!(all.rows.len(), 6);
    assert!(codes(&all, 2).is_empty() && codes(&all, 6).is_empty());
    assert_eq!(
        codes(&all, 3),
        vec![(Some(Column::Email), "email_invalid".into())]
    );
    assert_eq!(
        codes(&all, 4),
        vec![(Some(Column::Email), "duplicate_in_file".into())]
    );
    assert_eq!(
        codes(&all, 5),
        vec![(Some(Column::Email), "already_in_organization".into())]
    );
    assert_eq!(
        codes(&all, 7),
        vec![(Some(Column::UserType), "user_type_unknown".into())]
    );
    let dup = &all.rows.iter().find(|r| r.line == 4).unwrap().issues[0];
    assert!(
        dup.message
            .contains("is already on line 2 of this file (addresses differing only in letter case are the same address)"),
        "{}",
        dup.message
    );
    let taken = &all.rows.iter().find(|r| r.line == 5).unwrap().issues[0];
    assert!(
        taken
            .message
            .contains("already belongs to a user of Alpha Therapy"),
        "{}",
        taken.message
    );

    // The errors filter shows exactly the rows that will not be imported.
    let errors = review(&c, id, Filter::Errors).await;
    assert_eq!(errors.matching, 4);
    let lines: Vec<i64> = errors.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 7]);
    assert!(errors.rows.iter().all(|r| r.in_error));

    // Reviewing writes nobody: only the admin exists.
    assert_eq!(c.user_count().await, 1);
    assert_eq!(c.events("import.staged").await.len(), 1);
}

async fn a_row_fixed_in_the_review_is_imported(t: TestDb) {
    let c = clinic(t).await;
    let id = upload(
        &c,
        "first_name,last_name,email,default_location\n\
         Dana,Lee,dana@alpha.example,DT\n\
         Kim,Park,kim-at-alpha.example,NS\n",
    )
    .await;
    let before = review(&c, id, Filter::Errors).await;
    assert_eq!(before.summary.in_error, 1);
    let kim = &before.rows[0];
    assert_eq!(kim.cell(Column::Email), "kim-at-alpha.example");

    let mut cells: BTreeMap<Column, String> = kim.cells.clone();
    cells.insert(Column::Email, "kim@alpha.example".into());
    let fixed = import::edit_row(&c.app, &c.admin, id, kim.seq, cells, &c.meta())
        .await
        .unwrap();
    assert!(!fixed.in_error && fixed.issues.is_empty(), "{fixed:?}");
    assert_eq!(fixed.line, 3, "the row keeps its line in the file");

    let after = review(&c, id, Filter::All).await;
    assert_eq!(
        (after.summary.rows, after.summary.in_error),
        (2, 0),
        "{:?}",
        after.summary
    );
    assert_eq!(review(&c, id, Filter::Errors).await.matching, 0);
    let edited = c.events("import.row_edited").await;
    assert_eq!(edited.len(), 1);
    assert!(
        edited[0]
            .event
            .after
            .as_deref()
            .unwrap()
            .contains("kim@alpha.example")
    );

    let job = import::commit(
        &c.app,
        &c.admin,
        id,
        &commit_as(c.role("Front Desk").await, None),
        &c.meta(),
    )
    .await
    .unwrap();
    let job = c.finished(job.id).await;
    assert_eq!(job.state, JobState::Succeeded);
    let kim = c.user_by_email("kim@alpha.example").await.unwrap();
    assert_eq!(kim.status, UserStatus::Pending);
    assert_eq!(kim.default_location_id, Some(c.northside.id));
}

/// The warning that roles-for-everyone ignores the access columns counts the rows as they
/// stand after edits in the review.
async fn clearing_a_rows_access_columns_updates_the_count(t: TestDb) {
    let c = clinic(t).await;
    let id = upload(
        &c,
        "first_name,last_name,email,default_location,roles\n\
         Dana,Lee,dana@alpha.example,DT,Provider\n\
         Kim,Park,kim@alpha.example,NS,\n",
    )
    .await;
    let before = review(&c, id, Filter::All).await;
    assert_eq!(before.summary.with_access_columns, 1);
    let dana = &before.rows[0];
    // An edit names the cells it changes; an empty value clears one.
    let cells: BTreeMap<Column, String> = [(Column::Roles, String::new())].into();
    import::edit_row(&c.app, &c.admin, id, dana.seq, cells, &c.meta())
        .await
        .unwrap();
    let after = review(&c, id, Filter::All).await;
    assert_eq!(after.summary.with_access_columns, 0, "{:?}", after.summary);
    assert_eq!(
        after
            .summary
            .ignored_access_columns(&import::Access::Roles { role_ids: vec![] }),
        None,
        "nothing is left to warn about"
    );
}

async fn committing_with_a_role_creates_pending_people_with_one_invitation_each(t: TestDb) {
    let c = clinic(t).await;
    let id = upload(
        &c,
        "first_name,last_name,email,user_type,default_location\n\
         Dana,Lee,dana@alpha.example,PT,DT\n\
         Rey,Cole,rey@alpha.example,Front desk,\n\
         Lee,Moss,lee@alpha.example,Wizard,\n\
         Sam,Ortiz,sam@alpha.example,PTA,\n",
    )
    .await;
    let provider = c.role("Provider").await;
    let meta = c.meta();
    let commit = commit_as(provider, Some(c.northside.id));
    let queued = import::commit(&c.app, &c.admin, id, &commit, &meta)
        .await
        .unwrap();
    assert_ne!(queued.state, JobState::Validated);
    let job = c.finished(id).await;

    let (outcome, sentence) = outcome_of(&job);
    assert_eq!(outcome, Outcome::PartiallySucceeded);
    assert_eq!(
        sentence,
        "3 people created as Pending, with invitations queued; 1 of 4 rows not imported (1 in error at review, 0 refused when the import ran)."
    );
    assert_eq!(c.user_count().await, 4, "the admin and three imported");

    let mut conn = c.app.db().read_conn().await.unwrap();
    for (email, user_type, home) in [
        ("dana@alpha.example", "pt", c.downtown.id),
        ("rey@alpha.example", "front_desk", c.northside.id),
        ("sam@alpha.example", "pta", c.northside.id),
    ] {
        let u = c.user_by_email(email).await.unwrap();
        assert_eq!(
            (u.status.as_str(), u.source.as_str()),
            ("pending", "csv_import")
        );
        assert_eq!(u.user_type.as_deref(), Some(user_type));
        // The row's own location first, then the one chosen for the batch.
        assert_eq!(u.default_location_id, Some(home), "{email}");
        let at: Vec<Uuid> = locations::of_user(&mut conn, u.id)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.id)
            .collect();
        assert!(
            at.contains(&home) && at.contains(&c.northside.id),
            "{email}: {at:?}"
        );
        let grants = roles::grants_of(&mut conn, u.id).await.unwrap();
        assert_eq!(
            grants.roles.keys().copied().collect::<Vec<_>>(),
            vec![provider],
            "{email}"
        );
        let invites = invitations::live_for_user(&mut conn, u.id).await.unwrap();
        assert_eq!(invites.len(), 1, "{email}");
    }
    drop(conn);
    assert_eq!(c.events("user.invited").await.len(), 3);

    // The row in error was never imported, and the report says why.
    assert!(c.user_by_email("lee@alpha.example").await.is_none());
    let skipped = rollcall_app::onboarding::import::run::not_imported(&c.app, &c.admin, id, 10)
        .await
        .unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        (skipped[0].line, skipped[0].code.as_str()),
        (4, "user_type_unknown")
    );

    // The same commit again answers the same job and creates nobody twice.
    let again = import::commit(&c.app, &c.admin, id, &commit, &meta)
        .await
        .unwrap();
    assert_eq!(again.id, id);
    assert_eq!(c.user_count().await, 4);
}

async fn too_few_seats_create_nobody_and_say_both_numbers(t: TestDb) {
    let c = clinic(t).await;
    // The admin holds one of three seats: two are free for three importable rows.
    rollcall_app::org::set_seats(&c.app, &c.admin, "portal", 3, &c.meta())
        .await
        .unwrap();
    let id = upload(
        &c,
        "first_name,last_name,email\n\
         A,One,a1@alpha.example\n\
         B,Two,b2@alpha.example\n\
         C,Three,c3@alpha.example\n",
    )
    .await;
    let err = import::commit(
        &c.app,
        &c.admin,
        id,
        &commit_as(c.role("Front Desk").await, Some(c.downtown.id)),
        &c.meta(),
    )
    .await
    .unwrap_err();
    let AppError::SeatsExhausted(message) = &err else {
        panic!("expected a seats refusal, got {err:?}");
    };
    assert!(
        message.starts_with(
            "This needs 3 licence seats but only 2 are free (1 of 3 in use). Nothing was created."
        ),
        "{message}"
    );
    assert_eq!(c.user_count().await, 1);
    assert!(c.events("import.committed").await.is_empty());
    // The import waits in review, to be committed once seats are added.
    assert_eq!(
        review(&c, id, Filter::All).await.job.state,
        JobState::Validated
    );
}

async fn a_file_with_an_unknown_column_is_refused_whole(t: TestDb) {
    let c = clinic(t).await;
    let err = import::upload(
        &c.app,
        &c.admin,
        "first_name,last_name,email,Phone\nDana,Lee,dana@alpha.example,555\n".as_bytes(),
        "odd.csv",
        None,
        &c.meta(),
    )
    .await
    .unwrap_err();
    let AppError::Invalid(e) = &err else {
        panic!("expected the file to be refused, got {err:?}");
    };
    assert_eq!(e.code, "column_unknown");
    assert!(
        e.message
            .starts_with("“Phone” is not a column of the template."),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("default_location"),
        "the expected columns are listed: {}",
        e.message
    );
    // Nothing staged: no import to review, nobody created.
    assert!(
        rollcall_app::jobs::recent(&c.app, &c.admin)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(c.events("import.staged").await.is_empty());
    assert_eq!(c.user_count().await, 1);
}

/// An upload arriving a few bytes at a time, as a slow network delivers it.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(64);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

async fn a_file_that_outgrows_the_limit_while_read_keeps_none_of_its_rows(t: TestDb) {
    let c = clinic(t).await;
    let mut csv = String::from("first_name,last_name,email\n");
    for i in 0..20 {
        csv.push_str(&format!("P{i},Person,p{i}@alpha.example\n"));
    }
    // The header and the first rows are read before the limit is reached.
    let err = import::upload(
        &c.app,
        &c.admin,
        Trickle(csv.as_bytes()),
        "big.csv",
        Some(300),
        &c.meta(),
    )
    .await
    .unwrap_err();
    let AppError::Invalid(e) = &err else {
        panic!("expected the file to be refused, got {err:?}");
    };
    assert_eq!(e.code, "file_too_large");
    assert!(
        e.message.starts_with("The file is larger than 1 KB")
            && e.message.ends_with("Nothing was imported."),
        "{}",
        e.message
    );

    // The Jobs page shows the import stopped, with why; none of its rows are kept for review.
    let jobs = rollcall_app::jobs::recent(&c.app, &c.admin).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Failed);
    let (outcome, sentence) = outcome_of(&jobs[0]);
    assert_eq!(outcome, Outcome::Failed);
    assert!(
        sentence.starts_with("The import stopped: The file is larger than 1 KB")
            && sentence.ends_with("0 people were created before it stopped."),
        "{sentence}"
    );
    let left = review(&c, jobs[0].id, Filter::All).await;
    assert!(left.rows.is_empty(), "{:?}", left.rows);
    assert_eq!(left.matching, 0);
    assert_eq!(c.user_count().await, 1);
}
