//! P12: webhook fan-out of a bulk update. An endpoint subscribed to `user.access_changed`
//! points at a receiver in this process (axum on 127.0.0.1, answering 204 and counting what
//! arrives); a bulk update over every one of 10,000 seeded staff queues one event per changed
//! user; then the webhook dispatcher (`spawn_dispatcher`, as the server runs it) drains them:
//! events/s and time to drain, and whether every event arrived exactly once (each `webhook-id`
//! and each changed user counted at the receiver).
//!
//! Baseline in the same run: P6's dispatch of as many invitation emails to a local SMTP server
//! (the same code, `smtp_dispatch`).
//!   bench/run.sh p12 [--users 10000] [--runs 3] [--smtp-connections 8] [--database-url URL]

mod bench_store;
mod harness;
#[allow(dead_code)]
mod seed_users;
mod smtp_dispatch;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bench_store::{Store, cores, engine_name, machine_note, thousands};
use clap::Parser;
use rollcall_app::access::bulk_update::{self, BulkUpdateRequest};
use rollcall_app::audit::Meta;
use rollcall_app::domain::{BulkChanges, Permission};
use rollcall_app::testing::store::{Db, migrate, users};
use rollcall_app::webhooks::{self, NewEndpoint};
use rollcall_app::{App, Clock, Config, Principal};
use sqlx::Row;
use uuid::Uuid;

/// Longest a drain may take before the run fails.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);
/// How long the receiver keeps listening after the drain for events arriving twice.
const LINGER: Duration = Duration::from_secs(2);

#[derive(Parser, Debug)]
#[command(about = "P12: webhook fan-out of a bulk update, against P6's SMTP dispatch")]
struct Args {
    /// PostgreSQL server to use instead of a temporary SQLite file, e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres. The benchmark creates (and afterwards drops)
    /// a database of its own there, named by --pg-database.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value = "rollcall_bench_p12")]
    pg_database: String,
    /// Staff seeded (and updated, hence events per run).
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Measured runs; the figures are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// SMTP connections of the baseline (P6's default).
    #[arg(long, default_value_t = 8)]
    smtp_connections: u32,
    /// Events per request the endpoint takes (1: each alone; up to 100 in `webhook.batch`es).
    #[arg(long, default_value_t = 1)]
    batch_max: i64,
}

/// The permissions each run adds and removes: different per run so every run changes everyone.
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

/// What the receiver saw: requests, and per `webhook-id` and per user how many times.
#[derive(Default)]
struct Received {
    requests: AtomicU64,
    last: Mutex<Option<Instant>>,
    ids: Mutex<HashMap<String, u32>>,
    users: Mutex<HashMap<String, u32>>,
    /// Requests without a webhook-id, a signature, or a user in the payload.
    malformed: AtomicU64,
}

impl Received {
    fn clear(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.malformed.store(0, Ordering::SeqCst);
        *self.last.lock().expect("not poisoned") = None;
        self.ids.lock().expect("not poisoned").clear();
        self.users.lock().expect("not poisoned").clear();
    }
}

/// The events a request carries as (event id, user id): the one event, or each event of a
/// `webhook.batch` with its own id.
fn events_of(header_id: Option<String>, body: &serde_json::Value) -> Option<Vec<(String, String)>> {
    let user = |e: &serde_json::Value| e["data"]["user"]["id"].as_str().map(str::to_string);
    if body["type"] == "webhook.batch" {
        let listed = body["data"]["events"].as_array()?;
        return listed
            .iter()
            .map(|e| Some((e["id"].as_str()?.to_string(), user(e)?)))
            .collect();
    }
    Some(vec![(header_id?, user(body)?)])
}

async fn receive(seen: Arc<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let signed = headers.contains_key("webhook-signature");
    let events = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| events_of(id, &v));
    match events {
        Some(events) if signed => {
            let mut ids = seen.ids.lock().expect("not poisoned");
            let mut users = seen.users.lock().expect("not poisoned");
            for (id, user) in events {
                *ids.entry(id).or_default() += 1;
                *users.entry(user).or_default() += 1;
            }
        }
        _ => {
            seen.malformed.fetch_add(1, Ordering::SeqCst);
        }
    }
    *seen.last.lock().expect("not poisoned") = Some(Instant::now());
    StatusCode::NO_CONTENT
}

async fn serve_receiver(seen: Arc<Received>) -> Result<u16> {
    let router = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| receive(seen.clone(), headers, body)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(port)
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.users > 0 && args.runs > 0 && args.smtp_connections > 0,
        "counts must be positive"
    );
    let cores = cores();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    println!("P12 machine: {}", machine_note(cores));
    let store = rt.block_on(Store::create(
        "p12",
        args.database_url.as_deref(),
        &args.pg_database,
    ))?;
    let result = rt.block_on(run(&args, &store));
    rt.block_on(store.dispose(false))?;
    let report = result?;
    println!();
    println!("{report}");
    Ok(())
}

/// One run's figures.
struct Run {
    events: u64,
    drain: Duration,
    smtp_drain: Duration,
    exactly_once: bool,
}

async fn run(args: &Args, store: &Store) -> Result<String> {
    let engine_name = engine_name(store.engine);
    let db = Db::connect(&store.url).await?;
    migrate(&db).await?;
    let mut config = Config::for_tests(store.url.clone());
    config.webhooks.allow_private = true;
    let app = App::with_db(db, config, Clock::system());

    let seen = Arc::new(Received::default());
    let hook_port = serve_receiver(seen.clone()).await?;
    let seeded = seed_users::seed(&app, args.users).await?;
    let mut conn = app.db().read_conn().await?;
    let owner =
        users::get_by_email_key(&mut conn, seeded.org_id, "owner@riverside-therapy.example")
            .await?
            .context("the seeded admin")?;
    drop(conn);
    let principal = Principal::of_user(&app, seeded.org_id, owner.id)
        .await?
        .context("the admin can act")?;
    let meta = Meta::system("bench");
    webhooks::create(
        &app,
        &principal,
        &NewEndpoint {
            url: format!("http://127.0.0.1:{hook_port}/hook"),
            description: "P12 receiver".into(),
            event_types: vec!["user.access_changed".into()],
            enabled: None,
            batch_max: Some(args.batch_max),
        },
        &meta,
    )
    .await?;

    let (smtp_port, accepted) = smtp_dispatch::start_smtp_server(args.smtp_connections * 2 + 4)?;
    let smtp = smtp_dispatch::smtp_config(smtp_port, args.smtp_connections);
    let mail_org =
        rollcall_app::org::create_org(&app, "p12-mail", "P6 Therapy", "America/Chicago", &meta)
            .await?;
    println!(
        "P12 setup: {engine_name}; {} staff seeded in {:.1} s; endpoint http://127.0.0.1:{hook_port}/hook (user.access_changed, {} events per request); baseline: P6's dispatch of {} invitations to mailin-embedded on 127.0.0.1:{smtp_port}, {} connections",
        thousands(args.users as u64),
        seeded.timings.total.as_secs_f64(),
        args.batch_max,
        thousands(args.users as u64),
        args.smtp_connections
    );

    let mut runs = Vec::new();
    for (run, (add, remove)) in RUNS_CHANGES.iter().enumerate().take(args.runs) {
        // The baseline: P6's dispatch of as many messages.
        let (queue_took, smtp_drain) = smtp_dispatch::dispatch_run(
            &app,
            &mail_org,
            &smtp,
            &accepted,
            run * args.users,
            args.users,
            "  P6 baseline",
        )
        .await?;

        // The bulk update queues the events (no dispatcher running).
        let req = BulkUpdateRequest {
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
        let started = Instant::now();
        let job = bulk_update::run(
            &app,
            &principal,
            &req,
            Some(&format!("p12-{run}")),
            &meta,
            Duration::from_secs(600),
        )
        .await?;
        let update_took = started.elapsed();
        let (tally, _, sentence) = bulk_update::outcome_of(&job);
        ensure!(job.done == job.total, "the job finished: {job:?}");
        let queued = webhooks::pending(&app).await? as u64;
        ensure!(
            queued == tally.users_changed,
            "{queued} deliveries queued for {} users changed",
            tally.users_changed
        );

        // The drain, by the dispatcher as the server runs it.
        seen.clear();
        let started = Instant::now();
        let dispatcher = webhooks::spawn_dispatcher(app.clone());
        let drained = loop {
            if webhooks::pending(&app).await? == 0 {
                break started.elapsed();
            }
            ensure!(started.elapsed() < DRAIN_LIMIT, "the drain took too long");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let last_arrival = seen
            .last
            .lock()
            .expect("not poisoned")
            .map(|l| l.saturating_duration_since(started));
        tokio::time::sleep(LINGER).await;
        dispatcher.abort();
        let _ = dispatcher.await;

        let requests = seen.requests.load(Ordering::SeqCst);
        let malformed = seen.malformed.load(Ordering::SeqCst);
        let (distinct_ids, repeated_ids) = {
            let ids = seen.ids.lock().expect("not poisoned");
            (ids.len(), ids.values().filter(|n| **n > 1).count())
        };
        let changed = changed_users(&app, seeded.org_id, &job.id.to_string()).await?;
        let (users_seen, users_twice, users_missing) = {
            let u = seen.users.lock().expect("not poisoned");
            (
                u.len(),
                u.values().filter(|n| **n > 1).count(),
                changed.iter().filter(|id| !u.contains_key(*id)).count(),
            )
        };
        // One request per event, or as many as the batches need.
        let batch = args.batch_max.max(1) as u64;
        let expected_requests = (queued / batch)..=queued;
        let exactly_once = expected_requests.contains(&requests)
            && distinct_ids as u64 == queued
            && repeated_ids == 0
            && malformed == 0
            && users_seen == changed.len()
            && users_twice == 0
            && users_missing == 0;
        println!(
            "  run {}: bulk update {:.2} s ({sentence}); {queued} events queued; drained in {:.2} s (last arrival at {:.2} s) = {:.0} events/s; P6 baseline {} messages (queued in {:.2} s) drained in {:.2} s = {:.0} messages/s",
            run + 1,
            update_took.as_secs_f64(),
            drained.as_secs_f64(),
            last_arrival.unwrap_or_default().as_secs_f64(),
            queued as f64 / drained.as_secs_f64(),
            args.users,
            queue_took.as_secs_f64(),
            smtp_drain.as_secs_f64(),
            args.users as f64 / smtp_drain.as_secs_f64(),
        );
        println!(
            "  run {}: receiver: {requests} requests, {distinct_ids} distinct webhook-ids ({repeated_ids} more than once), {malformed} malformed; {users_seen} users of {} changed ({users_twice} more than once, {users_missing} missing), {} s after the drain: {}",
            run + 1,
            changed.len(),
            LINGER.as_secs(),
            if exactly_once {
                "every event exactly once"
            } else {
                "NOT exactly once"
            }
        );
        runs.push(Run {
            events: queued,
            drain: drained,
            smtp_drain,
            exactly_once,
        });
    }

    let mut drains: Vec<Duration> = runs.iter().map(|r| r.drain).collect();
    let mut smtp_drains: Vec<Duration> = runs.iter().map(|r| r.smtp_drain).collect();
    drains.sort();
    smtp_drains.sort();
    let (drain, smtp_drain) = (drains[drains.len() / 2], smtp_drains[smtp_drains.len() / 2]);
    let events = runs[0].events;
    let rate = events as f64 / drain.as_secs_f64();
    let smtp_rate = args.users as f64 / smtp_drain.as_secs_f64();
    let once = runs.iter().filter(|r| r.exactly_once).count();
    println!(
        "P12 result: {} events drained in {:.2} s = {rate:.0} events/s (median of {}); P6 SMTP baseline {} messages in {:.2} s = {smtp_rate:.0} messages/s; ratio {:.2}; exactly once in {once} of {} runs",
        thousands(events),
        drain.as_secs_f64(),
        runs.len(),
        thousands(args.users as u64),
        smtp_drain.as_secs_f64(),
        rate / smtp_rate,
        runs.len()
    );
    Ok(format!(
        "| P12 | webhook fan-out of a {}-user bulk update to a local receiver ({engine_name}) | {rate:.0} events/s, {:.2} s to drain; exactly once in {once}/{} runs | P6 SMTP dispatch: {smtp_rate:.0} msg/s, {:.2} s | {:.2} | — |",
        thousands(args.users as u64),
        drain.as_secs_f64(),
        runs.len(),
        smtp_drain.as_secs_f64(),
        rate / smtp_rate
    ))
}

/// The users the bulk update `job` changed, from its audit events.
async fn changed_users(app: &App, org_id: Uuid, job: &str) -> Result<HashSet<String>> {
    let mut q = rollcall_app::testing::store::Sql::new(
        "SELECT target_id FROM audit_events WHERE action = 'user.access_changed' AND org_id = ",
    );
    q.bind(org_id.to_string())
        .push(" AND after LIKE ")
        .bind(format!("%{job}%"));
    let mut conn = app.db().read_conn().await?;
    let rows = q.fetch_all(&mut conn).await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .collect())
}
