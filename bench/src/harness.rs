//! Shared set-up of the invitation benchmarks: a fresh SQLite database (or PostgreSQL), an
//! organization with a location, a registered company admin, an API token, and the server.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rollcall_app::audit::Meta;
use rollcall_app::testing::store::Db;
use rollcall_app::{App, Clock, Config, Principal};
use uuid::Uuid;

pub const PASSWORD: &str = "a long and quiet river";

pub struct Setup {
    pub app: App,
    pub org_id: Uuid,
    pub location_id: Uuid,
    pub role_id: Uuid,
    pub admin: Principal,
    pub _dir: Option<std::path::PathBuf>,
}

/// With `RUST_LOG` set, the use cases' traces are printed as they run.
pub fn trace_from_env() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
}

/// Counts the SQL statements the database driver runs (its `sqlx::query` events), to say what
/// one call costs in statements rather than only in time.
#[derive(Clone, Default)]
pub struct Statements(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Statements {
    /// Installs the counter as the process's subscriber (instead of `trace_from_env`).
    pub fn install() -> Statements {
        use tracing_subscriber::prelude::*;
        let counter = Statements::default();
        let only_statements = tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::DEBUG);
        tracing_subscriber::registry()
            .with(counter.clone().with_filter(only_statements))
            .init();
        counter
    }

    pub fn count(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Statements {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A fresh database: SQLite in a temp directory unless a URL is given.
pub async fn database(url: Option<&str>) -> Result<(Db, Option<std::path::PathBuf>)> {
    match url {
        Some(u) => Ok((Db::connect(u).await?, None)),
        None => {
            let dir = std::env::temp_dir().join(format!("rollcall-bench-{}", Uuid::now_v7()));
            std::fs::create_dir_all(&dir)?;
            let db = Db::connect(&format!("sqlite://{}", dir.join("bench.db").display())).await?;
            Ok((db, Some(dir)))
        }
    }
}

pub async fn setup(db: Db, dir: Option<std::path::PathBuf>, slug: &str) -> Result<Setup> {
    rollcall_app::testing::store::migrate(&db).await?;
    let app = App::with_db(
        db.clone(),
        Config::for_tests(db.url().to_string()),
        Clock::system(),
    );
    let s = org(&app, slug).await?;
    Ok(Setup { _dir: dir, ..s })
}

/// Another organization in the same database (a fresh one per measured run).
pub async fn org(app: &App, slug: &str) -> Result<Setup> {
    let meta = Meta::system("bench");
    let org =
        rollcall_app::org::create_org(app, slug, "Bench Therapy", "America/Chicago", &meta).await?;
    let operator = rollcall_app::Principal::operator(app, org.id, "bench").await?;
    let loc =
        rollcall_app::org::create_location(app, &operator, "Main Clinic", "MC", &meta).await?;
    // Benchmarks measure onboarding, not the licence limit.
    rollcall_app::org::set_seats(app, &operator, "portal", 100_000_000, &meta).await?;
    let (_, token) = rollcall_app::org::create_admin(
        app,
        &org,
        &format!("admin@{slug}.example"),
        "Ben",
        "Ch",
        &meta,
    )
    .await?;
    let details = rollcall_app::identity::register::Details {
        first_name: "Ben".into(),
        last_name: "Ch".into(),
        mobile: "+14155552671".into(),
        password: PASSWORD.into(),
    };
    let staged = rollcall_app::identity::register::submit(app, &token, &details, None).await?;
    let p = rollcall_app::identity::staged::at_stage(app, &staged.token, staged.stage).await?;
    let admin = rollcall_app::identity::register::accept_eula(app, &p, 1).await?;
    let mut conn = app.db().read_conn().await?;
    let role_id = rollcall_app::testing::store::roles::list(&mut conn, org.id)
        .await?
        .into_iter()
        .find(|r| r.name == "Front Desk")
        .context("Front Desk role")?
        .id;
    Ok(Setup {
        app: app.clone(),
        org_id: org.id,
        location_id: loc.id,
        role_id,
        admin,
        _dir: None,
    })
}

/// The server as it runs in production, rate limits included, set above any benchmark's load so
/// that their cost is measured and not their refusals.
pub fn router(app: App) -> axum::Router {
    let high = std::num::NonZeroU32::new(100_000_000).expect("non-zero");
    rollcall_web::router_with(
        app,
        rollcall_web::Edge {
            per_token_per_minute: high,
            per_address_per_minute: high,
            ..rollcall_web::Edge::default()
        },
    )
}

pub async fn serve(app: App) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router(app).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok(addr)
}

/// Median of a sample (sorted copy).
pub fn median(xs: &[Duration]) -> Duration {
    let mut v = xs.to_vec();
    v.sort();
    v[v.len() / 2]
}

pub fn percentile(xs: &[Duration], p: f64) -> Duration {
    let mut v = xs.to_vec();
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub async fn time<F, T>(f: F) -> (Duration, T)
where
    F: std::future::Future<Output = T>,
{
    let start = Instant::now();
    let out = f.await;
    (start.elapsed(), out)
}
