//! P13: an access review campaign over every user of an organization of 100k staff (items and
//! the reviewers' reach written set-based), then 10,000 decisions applied by a clinic admin
//! through the profile edit (every rule, one audit event per person and one per decision), in
//! selections of 500. Baseline in the same run: P7's bulk update over the same organization.
//!   bench/run.sh p13 [--users 100000] [--decisions 10000] [--database-url URL]

mod harness;
#[allow(dead_code)]
mod seed_users;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rollcall_app::access::bulk_update::{self, BulkUpdateRequest};
use rollcall_app::audit::Meta;
use rollcall_app::domain::{BulkChanges, Path, Permission};
use rollcall_app::reviews::decide::{self, DecisionRequest, MAX_SELECTION};
use rollcall_app::reviews::start::{self, NewCampaign};
use rollcall_app::testing::store::{Db, migrate, reviews, users};
use rollcall_app::{App, Clock, Config, Principal};
use uuid::Uuid;

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

#[tokio::main]
async fn main() -> Result<()> {
    harness::trace_from_env();
    let n: usize = arg("--users")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let decisions: usize = arg("--decisions")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let url = arg("--database-url");
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
    let seeded = seed_users::seed(&app, n).await?;
    let owner = principal_of(&app, seeded.org_id, "owner@riverside-therapy.example").await?;
    println!(
        "P13 access review over {n} users ({:?}); baseline P7's bulk update over the same users",
        app.db().engine()
    );

    let p7 = bulk_update_everyone(&app, &owner, &seeded).await?;
    println!("  P7 bulk update: {:.2} s", p7.as_secs_f64());

    let started = Instant::now();
    let campaign = start::start(
        &app,
        &owner,
        &NewCampaign {
            name: "P13".into(),
            due_date: "2099-12-31".into(),
            ..Default::default()
        },
        &Meta::system("bench"),
    )
    .await?;
    let created = started.elapsed();
    println!(
        "  campaign created: {:.2} s ({} people)",
        created.as_secs_f64(),
        campaign.counts.total
    );

    let (reviewer, people) = busiest_reviewer(&app, seeded.org_id, campaign.id, decisions).await?;
    let started = Instant::now();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for chunk in people.chunks(MAX_SELECTION) {
        let req = DecisionRequest {
            users: chunk.to_vec(),
            decision: "remove_permission".into(),
            permission: Some(Permission::CalendarCreate.key().into()),
            note: Some("bench".into()),
            ..Default::default()
        };
        let meta = Meta::of(&reviewer, None, None);
        for o in decide::decide(&app, &reviewer, campaign.id, &req, Path::Api, &meta).await? {
            *outcomes.entry(o.outcome).or_default() += 1;
        }
    }
    let decided = started.elapsed();
    println!(
        "  {} decisions: {:.2} s ({:.2} ms each) {outcomes:?}",
        people.len(),
        decided.as_secs_f64(),
        decided.as_secs_f64() * 1e3 / people.len().max(1) as f64
    );
    println!(
        "| P13 | access review, {n} users: campaign created; {} decisions applied | {:.2} s; {:.2} s | P7 bulk update {:.2} s | {:.2}×; {:.2}× | — |",
        people.len(),
        created.as_secs_f64(),
        decided.as_secs_f64(),
        p7.as_secs_f64(),
        created.as_secs_f64() / p7.as_secs_f64(),
        decided.as_secs_f64() / p7.as_secs_f64()
    );
    Ok(())
}

async fn principal_of(app: &App, org: Uuid, email: &str) -> Result<Principal> {
    let mut conn = app.db().read_conn().await?;
    let user = users::get_by_email_key(&mut conn, org, email)
        .await?
        .context("the seeded admin")?;
    drop(conn);
    Principal::of_user(app, org, user.id)
        .await?
        .context("the admin can act")
}

/// P7's first run: add 2 permissions (one of them what the decisions then remove), remove 1,
/// add 1 location, for everyone.
async fn bulk_update_everyone(
    app: &App,
    owner: &Principal,
    seeded: &seed_users::Seeded,
) -> Result<Duration> {
    let req = BulkUpdateRequest {
        filter: Some(rollcall_app::users::list::UserFilter {
            all: true,
            ..Default::default()
        }),
        changes: BulkChanges {
            grant_permissions: [Permission::CalendarCreate, Permission::ClinicalCharts].into(),
            revoke_permissions: [Permission::BillingRefunds].into(),
            grant_locations: [seeded.locations[1].1].into(),
            ..Default::default()
        }
        .into(),
        ..Default::default()
    };
    let start = Instant::now();
    let job = bulk_update::run(
        app,
        owner,
        &req,
        Some("p13-p7"),
        &Meta::system("bench"),
        Duration::from_secs(600),
    )
    .await?;
    anyhow::ensure!(job.done == job.total, "the bulk update finished: {job:?}");
    Ok(start.elapsed())
}

/// The active clinic admin (not a company admin) with the most people to review, and up to
/// `limit` of them.
async fn busiest_reviewer(
    app: &App,
    org: Uuid,
    campaign: Uuid,
    limit: usize,
) -> Result<(Principal, Vec<Uuid>)> {
    let mut conn = app.db().read_conn().await?;
    let admins = users::active_holding(&mut conn, org, &[Permission::AdminClinic]).await?;
    drop(conn);
    let mut best: Option<(Principal, Vec<Uuid>)> = None;
    for admin in admins.iter().take(20) {
        let Some(p) = Principal::of_user(app, org, admin.id).await? else {
            continue;
        };
        if p.permissions.contains(&Permission::AdminCompany) {
            continue;
        }
        let mut conn = app.db().read_conn().await?;
        let items =
            reviews::items(&mut conn, campaign, Some(p.user_id), None, limit as i64).await?;
        let ids: Vec<Uuid> = items.into_iter().map(|i| i.user_id).collect();
        if best.as_ref().is_none_or(|(_, b)| ids.len() > b.len()) {
            best = Some((p, ids));
        }
        if best.as_ref().is_some_and(|(_, b)| b.len() >= limit) {
            break;
        }
    }
    best.context("a clinic admin to review")
}
