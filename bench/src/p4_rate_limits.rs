//! What the API's rate limits cost per request (part of P4's budget): the limits shared through
//! the database (`rollcall_app::rate_limit`, a local copy per process and one upsert per key
//! every 1 % of its limit) against the in-memory limiter they replaced (governor, keyed, in
//! each process alone), in one run:
//! - one credential under a high limit (the P4 benchmark's set-up: nothing is ever shared but
//!   the first request);
//! - many credentials each using its whole default allowance (1,200 a minute): the most
//!   sharing a limit does, one upsert per 12 requests;
//! - one credential far over its limit (refusals, decided locally).
//!
//! SQLite in a temporary directory by default, or a database of its own on the PostgreSQL
//! server named by `--database-url`. Prints the median cost per request of each.

mod bench_store;

use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bench_store::{Store, cores, engine_name, machine_note, thousands};
use clap::Parser;
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};
use rollcall_app::testing::store::{Db, migrate};
use rollcall_app::{App, Clock, Config};

#[derive(Parser, Debug)]
#[command(
    about = "The API rate limits' cost per request: shared through the database against in memory"
)]
struct Args {
    /// PostgreSQL server to use instead of a temporary SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value = "rollcall_bench_limits")]
    pg_database: String,
    /// Credentials in the "whole allowance" scenario (each makes 1,200 requests).
    #[arg(long, default_value_t = 200)]
    credentials: usize,
    /// Requests in the single-credential scenarios.
    #[arg(long, default_value_t = 1_000_000)]
    requests: usize,
    /// Runs of each measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// One scenario: requests per credential, credentials, and the limit a minute.
#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    credentials: usize,
    requests_each: usize,
    per_minute: u32,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let cores = cores();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    println!("Rate limits machine: {}", machine_note(cores));
    let store = rt.block_on(Store::create(
        "limits",
        args.database_url.as_deref(),
        &args.pg_database,
    ))?;
    let result = rt.block_on(run(&args, &store, cores));
    rt.block_on(store.dispose(false))?;
    result
}

async fn run(args: &Args, store: &Store, cores: usize) -> Result<()> {
    let db = Db::connect(&store.url).await?;
    migrate(&db).await?;
    let app = App::with_db(db, Config::for_tests(store.url.clone()), Clock::system());
    println!(
        "Rate limits setup: {}; {cores} tasks checking at once",
        engine_name(store.engine)
    );
    let scenarios = [
        Scenario {
            name: "one credential under a high limit (100,000,000 a minute)",
            credentials: 1,
            requests_each: args.requests,
            per_minute: 100_000_000,
        },
        Scenario {
            name: "credentials each using its whole default allowance (1,200 a minute)",
            credentials: args.credentials,
            requests_each: 1_200,
            per_minute: 1_200,
        },
        Scenario {
            name: "one credential far over its limit (1,200 a minute)",
            credentials: 1,
            requests_each: args.requests,
            per_minute: 1_200,
        },
    ];
    for (i, s) in scenarios.iter().enumerate() {
        let (mut memory, mut shared) = (Vec::new(), Vec::new());
        for run in 0..args.repeat {
            memory.push(in_memory(s, cores).await?);
            // A limit of its own per run, so each starts with whole allowances.
            let name: &'static str = Box::leak(format!("bench-{i}-{run}").into_boxed_str());
            let limit = Arc::new(app.shared_limit(name, s.per_minute));
            shared.push(through_database(s, limit, cores).await?);
        }
        let (memory, shared) = (median(&mut memory), median(&mut shared));
        let total = match s.credentials {
            1 => s.requests_each / cores * cores,
            n => n * s.requests_each,
        };
        println!(
            "Rate limits, {} ({} requests): in memory {:.0} ns/request; shared {:.0} ns/request ({:+.0} ns; medians of {})",
            s.name,
            thousands(total as u64),
            per_request(memory, total),
            per_request(shared, total),
            per_request(shared, total) - per_request(memory, total),
            args.repeat
        );
    }
    Ok(())
}

/// The credentials' requests, split over `tasks` tasks, each checked by `check`.
async fn checked<F, Fut>(s: &Scenario, tasks: usize, check: F) -> Result<Duration>
where
    F: Fn(Vec<u8>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (check, s) = (check.clone(), *s);
        handles.push(tokio::spawn(async move {
            // One credential: every task sends its share of its requests; several: each task
            // sends all the requests of its share of the credentials.
            let (mine, each) = match s.credentials {
                1 => (vec![0], s.requests_each / tasks),
                n => ((0..n).filter(|c| c % tasks == t).collect(), s.requests_each),
            };
            for c in mine {
                let key = format!("Bearer rollcall_sa_{c:040}").into_bytes();
                for _ in 0..each {
                    check(key.clone()).await;
                }
            }
        }));
    }
    for h in handles {
        h.await?;
    }
    Ok(started.elapsed())
}

/// The limiter the API had before: governor's keyed limiter in this process alone.
async fn in_memory(s: &Scenario, tasks: usize) -> Result<Duration> {
    let quota = Quota::per_minute(NonZeroU32::new(s.per_minute).expect("non-zero"));
    let limiter: Arc<DefaultKeyedRateLimiter<u64, StateInformationMiddleware>> =
        Arc::new(DefaultKeyedRateLimiter::keyed(quota).with_middleware());
    let hasher = RandomState::new();
    checked(s, tasks, move |key| {
        let limiter = limiter.clone();
        let hasher = hasher.clone();
        async move {
            let _ = std::hint::black_box(limiter.check_key(&hasher.hash_one(&key)));
        }
    })
    .await
}

async fn through_database(
    s: &Scenario,
    limit: Arc<rollcall_app::rate_limit::Limit>,
    tasks: usize,
) -> Result<Duration> {
    checked(s, tasks, move |key| {
        let limit = limit.clone();
        async move {
            std::hint::black_box(limit.check(&key).await);
        }
    })
    .await
}

fn per_request(took: Duration, requests: usize) -> f64 {
    took.as_nanos() as f64 / requests as f64
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}
