//! P7: a bulk update (add 2 permissions, remove 1, add 1 location) over every user of an
//! organization of 10k and of 100k staff, with every rule checked per user and one audit event
//! per changed user. Baseline in the same run: the bare SQL statements that make the same kind
//! of change to the same rows, with no rules and no audit.
//!   bench/run.sh p7 [--sizes 10000,100000] [--runs 3] [--database-url URL]

mod harness;
#[allow(dead_code)]
mod seed_users;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use harness::median;
use rollcall_app::access::bulk_update::{self, BulkUpdateRequest};
use rollcall_app::audit::Meta;
use rollcall_app::domain::{BulkChanges, Permission};
use rollcall_app::testing::store::{Db, Sql, migrate, users};
use rollcall_app::{App, Clock, Config, Principal};
use sqlx::AnyConnection;
use uuid::Uuid;

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

/// The permissions each run adds and removes: different per run so every run writes.
const RUNS_CHANGES: [([Permission; 2], Permission); 3] = [
    (
        [Permission::CalendarCreate, Permission::ClinicalCharts],
        Permission::BillingRefunds,
    ),
    (
        [Permission::CalendarDelete, Permission::ClinicalNotes],
        Permission::CalendarCreate,
    ),
    (
        [Permission::BillingRevenueReports, Permission::CalendarView],
        Permission::ClinicalCharts,
    ),
];

/// The same kind of change in bare SQL: two INSERT … SELECT, one DELETE, one INSERT … SELECT.
async fn bare(
    app: &App,
    org: Uuid,
    add: [&str; 2],
    remove: &str,
    location: Uuid,
) -> Result<Duration> {
    let start = Instant::now();
    let mut tx = app.db().begin().await?;
    for p in add {
        insert_for_everyone(
            &mut tx,
            org,
            "user_permissions",
            "permission",
            format!("bare.{p}"),
        )
        .await?;
    }
    let mut q = Sql::new("DELETE FROM user_permissions WHERE permission = ");
    q.bind(remove.to_string())
        .push(" AND user_id IN (SELECT id FROM users WHERE org_id = ")
        .bind(org.to_string())
        .push(")");
    q.execute(&mut tx).await?;
    insert_for_everyone(
        &mut tx,
        org,
        "user_locations",
        "location_id",
        location.to_string(),
    )
    .await?;
    tx.commit().await?;
    Ok(start.elapsed())
}

/// One `INSERT … SELECT` giving every user of `org` a row (`user_id`, `column` = `value`) in
/// `table`, where they have none yet.
async fn insert_for_everyone(
    conn: &mut AnyConnection,
    org: Uuid,
    table: &str,
    column: &str,
    value: String,
) -> Result<()> {
    let mut q = Sql::new(&format!(
        "INSERT INTO {table} (user_id, {column}) SELECT id, "
    ));
    q.bind(value)
        .push(" FROM users WHERE org_id = ")
        .bind(org.to_string())
        .push(" ON CONFLICT DO NOTHING");
    q.execute(conn).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    // RUST_LOG=rollcall_app=debug shows where each chunk's time goes.
    harness::trace_from_env();
    let sizes: Vec<usize> = arg("--sizes")
        .unwrap_or_else(|| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let runs: usize = arg("--runs")
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(3)
        .min(3);
    let url = arg("--database-url");
    let mut table = Vec::new();
    for n in sizes {
        let (db, _dir) = match &url {
            Some(u) => (Db::connect(u).await?, None),
            None => harness::database(None).await?,
        };
        migrate(&db).await?;
        let app = App::with_db(
            db.clone(),
            Config::for_tests(db.url().to_string()),
            Clock::system(),
        );
        table.push(measure_size(&app, n, runs).await?);
        if url.is_some() {
            // One organization per database: start the next size on a clean one.
            app.db().close().await;
            break;
        }
    }
    for row in table {
        println!("{row}");
    }
    Ok(())
}

/// `runs` bulk updates over an organization of `n` staff, each against the bare SQL; prints
/// the medians and answers the table's row.
async fn measure_size(app: &App, n: usize, runs: usize) -> Result<String> {
    let seeded = seed_users::seed(app, n).await?;
    let mut conn = app.db().read_conn().await?;
    let admin =
        users::get_by_email_key(&mut conn, seeded.org_id, "owner@riverside-therapy.example")
            .await?
            .context("the seeded admin")?;
    drop(conn);
    let principal = Principal::of_user(app, seeded.org_id, admin.id)
        .await?
        .context("the admin can act")?;
    println!(
        "P7 bulk update over {n} users ({:?}): add 2 permissions, remove 1, add 1 location; every rule, one audit event per changed user",
        app.db().engine()
    );
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for run in 0..runs.min(RUNS_CHANGES.len()) {
        let (took, b) = measure_run(app, &principal, &seeded, n, run).await?;
        ours.push(took);
        base.push(b);
    }
    let (o, b) = (median(&ours), median(&base));
    let target = if n <= 10_000 { "≤ 0.5 s" } else { "≤ 5 s" };
    println!(
        "P7 {n} users: median {:.2} s; bare SQL {:.3} s; ratio {:.1}× (target {target})",
        o.as_secs_f64(),
        b.as_secs_f64(),
        o.as_secs_f64() / b.as_secs_f64()
    );
    Ok(format!(
        "| P7 | bulk update, {n} users | {:.2} s | bare SQL {:.3} s | {:.1}× | {target} |",
        o.as_secs_f64(),
        b.as_secs_f64(),
        o.as_secs_f64() / b.as_secs_f64()
    ))
}

/// Run `run`: the bare SQL, then the bulk update with that run's changes. Answers the bulk
/// update's time and the bare SQL's.
async fn measure_run(
    app: &App,
    principal: &Principal,
    seeded: &seed_users::Seeded,
    n: usize,
    run: usize,
) -> Result<(Duration, Duration)> {
    let (add, remove) = &RUNS_CHANGES[run];
    let location = seeded.locations[run % seeded.locations.len()].1;
    let b = bare(
        app,
        seeded.org_id,
        [add[0].key(), add[1].key()],
        &format!("bare.{}", remove.key()),
        location,
    )
    .await?;
    let req = BulkUpdateRequest {
        // Everyone: an empty filter selects nobody unless it says so.
        filter: Some(rollcall_app::users::list::UserFilter {
            all: true,
            ..Default::default()
        }),
        changes: BulkChanges {
            grant_permissions: add.iter().copied().collect(),
            revoke_permissions: [*remove].into_iter().collect(),
            grant_locations: [seeded.locations[(run + 1) % seeded.locations.len()].1]
                .into_iter()
                .collect(),
            ..Default::default()
        }
        .into(),
        ..Default::default()
    };
    let start = Instant::now();
    let job = bulk_update::run(
        app,
        principal,
        &req,
        Some(&format!("p7-{n}-{run}")),
        &Meta::system("bench"),
        Duration::from_secs(600),
    )
    .await?;
    let took = start.elapsed();
    let (tally, outcome, sentence) = bulk_update::outcome_of(&job);
    anyhow::ensure!(job.done == job.total, "the job finished: {job:?}");
    println!(
        "  run {}: {:.0} ms ({} users, {} changed, {} changes applied, {} refused: {}; {}) · bare SQL {:.0} ms",
        run + 1,
        took.as_secs_f64() * 1e3,
        tally.users,
        tally.users_changed,
        tally.applied(),
        tally.refused(),
        outcome.as_str(),
        sentence,
        b.as_secs_f64() * 1e3
    );
    Ok((took, b))
}
