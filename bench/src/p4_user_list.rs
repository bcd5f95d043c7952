//! P4 — the user list over a large organization (SPEC §10).
//!
//! In one run: seeds N users into a fresh database (SQLite in a temporary directory by default,
//! or a database of its own on the PostgreSQL server named by `--database-url`), serves the
//! application's router and, as the baseline, a bare axum handler returning a pre-serialized
//! body of the same size as a 50-row page, both in-process on 127.0.0.1; then measures each
//! scenario's saturation throughput (closed loop) and its latency at half that rate (open loop,
//! latencies from each request's scheduled start). Prints one line per figure and a Markdown
//! table for the README.

mod bench_store;
mod harness;
mod loadgen;
mod seed_users;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use clap::Parser;
use rollcall_app::testing::store::{Db, Engine, migrate};
use rollcall_app::{App, Clock, Config};
use serde_json::Value;
use sqlx::{Executor, Row};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use bench_store::{Store, cores, engine_name, load_average, machine_note, thousands};
use loadgen::{Closed, Conn, Open, Target};
use seed_users::Seeded;

const TARGET_P99: Duration = Duration::from_millis(25);
const TARGET_RATIO: f64 = 0.1;

#[derive(Parser, Debug)]
#[command(about = "P4: user list over a large organization, against a bare axum handler")]
struct Args {
    /// PostgreSQL server to use instead of a temporary SQLite file, e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres. The benchmark creates (and afterwards drops)
    /// a database of its own there, named by --pg-database; the named one is only used to do so.
    #[arg(long)]
    database_url: Option<String>,
    /// Database the benchmark creates and drops on the PostgreSQL server.
    #[arg(long, default_value = "rollcall_bench_p4")]
    pg_database: String,
    /// Users to seed (underscores and commas allowed: 1_000_000).
    #[arg(long, default_value = "1000000", value_parser = parse_count)]
    users: usize,
    /// Seconds per measurement (each closed-loop and each open-loop run).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Seconds of warm-up before each closed-loop measurement.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The deep page reached through the cursor chain.
    #[arg(long, default_value_t = 200)]
    page: usize,
    /// Measure each scenario this many times and report the median.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Keep the database afterwards (prints where it is) for EXPLAIN and the like.
    #[arg(long)]
    keep: bool,
}

fn parse_count(s: &str) -> Result<usize, String> {
    s.chars()
        .filter(|c| *c != '_' && *c != ',')
        .collect::<String>()
        .parse()
        .map_err(|e| format!("{e}"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.users >= 50 * (args.page + 1),
        "--users must fill at least --page + 1 pages of 50"
    );
    ensure!(
        args.pg_database
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--pg-database: lower-case letters, digits and underscores only"
    );
    let run_started = Instant::now();
    let cores = cores();
    // The server and the load generator run on runtimes of their own in this process; both
    // share the machine's cores, as any loopback benchmark does.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("server")
        .enable_all()
        .build()?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("client")
        .enable_all()
        .build()?;

    println!("P4 machine: {}", machine_note(cores));
    let store = server_rt.block_on(Store::create(
        "p4",
        args.database_url.as_deref(),
        &args.pg_database,
    ))?;
    let result = run(&args, &server_rt, &client_rt, &store);
    server_rt.block_on(store.dispose(args.keep))?;
    let report = result?;
    println!();
    println!("{report}");
    println!(
        "P4 whole run: {:.0} s (load average now {})",
        run_started.elapsed().as_secs_f64(),
        load_average()
    );
    Ok(())
}

fn run(
    args: &Args,
    server_rt: &tokio::runtime::Runtime,
    client_rt: &tokio::runtime::Runtime,
    store: &Store,
) -> Result<String> {
    let (app, seeded) = server_rt.block_on(seed_store(args, store))?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let app_addr = server_rt.block_on(serve_app(app.clone(), stop_rx))?;
    let outcome = client_rt.block_on(measure_scenarios(args, server_rt, app_addr, &seeded));
    let _ = stop_tx.send(());
    let window = Duration::from_secs_f64(args.seconds.min(3.0));
    let floor = Floors {
        select_1: server_rt.block_on(query_floor(&app, args.connections, window)),
        store_page: server_rt.block_on(store_floor(&app, seeded.org_id, args.connections, window)),
    };
    server_rt.block_on(app.db().close());
    let (scenarios, measured) = outcome?;
    Ok(report(args, store, &seeded, &scenarios, &measured, floor))
}

/// The application on the migrated store, with the users seeded, settled and checked.
async fn seed_store(args: &Args, store: &Store) -> Result<(App, Seeded)> {
    let db = Db::connect(&store.url).await?;
    migrate(&db).await?;
    let app = App::with_db(db, Config::for_tests(store.url.clone()), Clock::system());
    println!(
        "P4 seeding {} users into {} …",
        fmt_int(args.users as f64),
        engine_name(store.engine)
    );
    let seeded = seed_users::seed(&app, args.users).await?;
    let settle = Instant::now();
    let size = settle_store(&app, store).await?;
    verify_seed(&app, &seeded).await?;
    println!(
        "P4 seeding: {} users with {} location grants, {} role grants and {} invitations in {:.1} s \
         ({} users/s; generating {:.1} s, overlapped with writing {:.1} s; then {} {:.1} s); database {:.0} MB",
        fmt_int(seeded.users as f64),
        fmt_int(seeded.expected.user_locations as f64),
        fmt_int(seeded.expected.user_roles as f64),
        fmt_int(seeded.expected.invitations as f64),
        seeded.timings.total.as_secs_f64(),
        fmt_int(seeded.users as f64 / seeded.timings.total.as_secs_f64()),
        seeded.timings.generate.as_secs_f64(),
        seeded.timings.write.as_secs_f64(),
        match store.engine {
            Engine::Sqlite => "WAL checkpoint",
            Engine::Postgres => "ANALYZE",
        },
        settle.elapsed().as_secs_f64(),
        size as f64 / 1e6,
    );
    Ok((app, seeded))
}

/// Serves the application's router on 127.0.0.1 until `stop`.
async fn serve_app(app: App, stop: oneshot::Receiver<()>) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = harness::router(app);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stop.await;
        })
        .await;
    });
    Ok(addr)
}

/// Prepares the scenarios (the checks and the pages they need come before any load), puts the
/// bare handler serving the first page's body in front of them, and measures each.
async fn measure_scenarios(
    args: &Args,
    server_rt: &tokio::runtime::Runtime,
    app_addr: SocketAddr,
    seeded: &Seeded,
) -> Result<(Scenarios, Vec<Measured>)> {
    let mut scenarios = prepare(args, app_addr, seeded).await?;
    let page_body = scenarios.first_page_body.clone();
    let (bare_stop_tx, bare_stop_rx) = oneshot::channel::<()>();
    let bare_addr = server_rt
        .spawn(serve_bare(page_body, bare_stop_rx))
        .await??;
    let mut bare = Target::new(bare_addr, "/bare", None)?;
    bare.expected_len = Some(scenarios.first_page_body.len());
    scenarios.list.insert(
        0,
        Scenario {
            key: "bare-axum",
            what: format!(
                "baseline: axum handler returning a pre-serialized {}-byte JSON body",
                fmt_int(scenarios.first_page_body.len() as f64)
            ),
            query: "GET /bare".into(),
            rows: 50,
            kind: Kind::Baseline,
            target: bare,
        },
    );
    let measured = measure_all(args, &scenarios.list).await;
    let _ = bare_stop_tx.send(());
    Ok((scenarios, measured))
}

async fn serve_bare(body: Vec<u8>, stop: oneshot::Receiver<()>) -> Result<SocketAddr> {
    let body = Bytes::from(body);
    let router = Router::new().route(
        "/bare",
        get(move || {
            let body = body.clone();
            async move { ([(CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await;
    });
    Ok(addr)
}

/// After the bulk load: a WAL checkpoint on SQLite, statistics on PostgreSQL (what autovacuum
/// would do shortly after such a load). Returns the database's size in bytes.
async fn settle_store(app: &App, store: &Store) -> Result<u64> {
    let mut conn = app.db().write_conn().await?;
    match store.engine {
        Engine::Sqlite => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_all(&mut *conn)
                .await?;
            let dir = store.sqlite_dir.as_ref().expect("SQLite has a directory");
            let mut size = 0;
            for e in std::fs::read_dir(dir)? {
                size += e?.metadata()?.len();
            }
            Ok(size)
        }
        Engine::Postgres => {
            conn.execute("ANALYZE").await?;
            let r = sqlx::query("SELECT CAST(pg_database_size(current_database()) AS BIGINT)")
                .fetch_one(&mut *conn)
                .await?;
            Ok(r.try_get::<i64, _>(0)? as u64)
        }
    }
}

/// What was written is what was generated.
async fn verify_seed(app: &App, s: &Seeded) -> Result<()> {
    async fn count(conn: &mut sqlx::AnyConnection, sql: &str) -> Result<usize> {
        Ok(sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut *conn)
            .await? as usize)
    }
    let mut conn = app.db().read_conn().await?;
    let org = s.org_id;
    let users = count(
        &mut conn,
        &format!("SELECT COUNT(*) FROM users WHERE org_id = '{org}'"),
    )
    .await?;
    ensure!(
        users == s.users + 1,
        "users: {users} stored, {} generated (+1 admin)",
        s.users
    );
    let links = count(&mut conn, "SELECT COUNT(*) FROM user_locations").await?;
    ensure!(
        links == s.expected.user_locations + s.locations.len(),
        "user_locations: {links} stored"
    );
    let roles = count(&mut conn, "SELECT COUNT(*) FROM user_roles").await?;
    ensure!(
        roles == s.expected.user_roles + 1,
        "user_roles: {roles} stored"
    );
    let invitations = count(&mut conn, "SELECT COUNT(*) FROM invitations").await?;
    ensure!(
        invitations == s.expected.invitations,
        "invitations: {invitations} stored"
    );
    let pending = count(
        &mut conn,
        &format!("SELECT COUNT(*) FROM users WHERE org_id = '{org}' AND status = 'pending'"),
    )
    .await?;
    let generated = s.expected.by_status.get("pending").copied().unwrap_or(0)
        + s.expected.by_status.get("expired").copied().unwrap_or(0);
    ensure!(
        pending == generated,
        "pending: {pending} stored, {generated} generated"
    );
    Ok(())
}

// ---- scenarios -------------------------------------------------------------------------------

struct Scenario {
    key: &'static str,
    what: String,
    query: String,
    /// Rows in the page served.
    rows: usize,
    kind: Kind,
    target: Target,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The bare handler every ratio is taken against.
    Baseline,
    /// A user-list request: P4's targets apply.
    Judged,
    /// Shown to explain the figures, not judged.
    Diagnostic,
}

struct Scenarios {
    list: Vec<Scenario>,
    first_page_body: Vec<u8>,
    /// Time to walk the cursor chain to the deep page, one request at a time.
    walk: Duration,
}

async fn fetch(conn: &mut Conn, t: &Target) -> Result<(Value, usize)> {
    let r = conn.get(t).await?;
    ensure!(
        r.status == 200,
        "GET {} answered {}: {}",
        t.uri,
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    Ok((serde_json::from_slice(&r.body)?, r.body.len()))
}

fn rows(page: &Value) -> &[Value] {
    page["users"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn ids(page: &Value) -> Vec<String> {
    rows(page)
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn text(r: &Value, k: &str) -> String {
    r[k].as_str().unwrap_or_default().to_lowercase()
}

/// The fields a search by name looks in.
const NAME_FIELDS: [&str; 3] = ["name", "email", "username"];

/// Builds each scenario's request and checks that what it returns is right.
async fn prepare(args: &Args, addr: SocketAddr, s: &Seeded) -> Result<Scenarios> {
    let mut p = Preparing {
        conn: Conn::open(addr).await?,
        addr,
        token: Some(s.token.as_str()),
        list: Vec::new(),
    };
    let (first, first_page_body) = p.first_page().await?;
    let walk = p.deep_page(args.page, &first).await?;
    // Search by a name: a last name (about 1 % of everyone).
    p.search_scenario(
        "search-name",
        "search by name substring",
        "kowalski",
        &NAME_FIELDS,
    )
    .await?;
    // Search by part of one person's address (selective: one or a few matches).
    let term = email_term(&first)?;
    p.search_scenario(
        "search-email",
        "search by email substring",
        &term,
        &["email"],
    )
    .await?;
    p.status_filter().await?;
    p.location_and_type_filter(s).await?;
    // Beyond the brief's list: a role filter, and a short search term made of common trigrams
    // (it matches about as many people as the last name above, through other names too).
    p.role_filter(s).await?;
    p.search_scenario(
        "search-short",
        "search by a short substring",
        "park",
        &NAME_FIELDS,
    )
    .await?;
    p.authentication().await?;
    Ok(Scenarios {
        list: p.list,
        first_page_body,
        walk,
    })
}

/// The scenarios built so far, and the connection their checks go through.
struct Preparing<'a> {
    conn: Conn,
    addr: SocketAddr,
    token: Option<&'a str>,
    list: Vec<Scenario>,
}

impl Preparing<'_> {
    /// A judged scenario whose every response must be `len` bytes long.
    fn judged(
        &mut self,
        key: &'static str,
        what: String,
        query: String,
        rows: usize,
        mut target: Target,
        len: usize,
    ) {
        target.expected_len = Some(len);
        self.list.push(Scenario {
            key,
            what,
            query,
            rows,
            kind: Kind::Judged,
            target,
        });
    }

    /// One GET of `q`: its target, the page and the body's length.
    async fn page(&mut self, q: &str) -> Result<(Target, Value, usize)> {
        let t = Target::new(self.addr, q, self.token)?;
        let (p, len) = fetch(&mut self.conn, &t).await?;
        Ok((t, p, len))
    }

    /// One GET of a filter that matches more people than a page holds: a full page of 50.
    async fn full_page(&mut self, q: &str, what: &str) -> Result<(Target, Value, usize)> {
        let (t, p, len) = self.page(q).await?;
        let n = rows(&p).len();
        ensure!(n == 50, "{what} returned {n} rows");
        Ok((t, p, len))
    }

    /// First page, newest first (the list's default order). Answers it and its body.
    async fn first_page(&mut self) -> Result<(Value, Vec<u8>)> {
        let q = "/api/v1/users".to_string();
        let (t, first, len) = self.page(&q).await?;
        let n = ids(&first).len();
        ensure!(n == 50, "first page has {n} rows");
        ensure!(first["next"].is_string(), "first page has no next cursor");
        let body = self.conn.get(&t).await?.body;
        let what = "first page, newest first".into();
        self.judged("first-page", what, format!("GET {q}"), 50, t, len);
        Ok((first, body))
    }

    /// Page `last` through the cursor chain, then that page on its own. Every page must follow
    /// the one before in newest-first order and no row may come twice. Answers how long the
    /// walk took.
    async fn deep_page(&mut self, last: usize, first: &Value) -> Result<Duration> {
        let first_ids = ids(first);
        let walk_started = Instant::now();
        let mut cursor = first["next"].as_str().unwrap_or_default().to_string();
        let mut seen = first_ids.clone();
        let mut prev_last = rows(first)
            .last()
            .and_then(|r| r["created_micros"].as_i64());
        for page in 2..=last {
            let q = format!("/api/v1/users?after={cursor}");
            let (t, p, len) = self.page(&q).await?;
            prev_last = next_in_order(&p, page, prev_last)?;
            if page == last {
                ensure!(
                    ids(&p).iter().all(|i| !first_ids.contains(i)),
                    "page {page} repeats rows of the first page"
                );
                let what = format!("page {page} through its keyset cursor");
                let query = "GET /api/v1/users?after=<cursor of page 199>"
                    .replace("199", &(page - 1).to_string());
                self.judged("deep-page", what, query, 50, t, len);
            } else {
                seen.extend(ids(&p));
                cursor = p["next"].as_str().context("no next cursor")?.to_string();
            }
        }
        let walk = walk_started.elapsed();
        seen.sort();
        let before = seen.len();
        seen.dedup();
        ensure!(
            seen.len() == before,
            "the cursor chain returned a row twice"
        );
        Ok(walk)
    }

    /// Searches for `term` and checks that it found someone, and only people with the term in
    /// one of `fields`. Answers the query, its target, how many rows it found and the body's
    /// length.
    async fn search(
        &mut self,
        term: &str,
        fields: &[&str],
    ) -> Result<(String, Target, usize, usize)> {
        let q = format!("/api/v1/users?q={}", url_escape(term));
        let (t, p, len) = self.page(&q).await?;
        let rs = rows(&p);
        ensure!(!rs.is_empty(), "search “{term}” found nobody");
        for r in rs {
            ensure!(
                fields.iter().any(|f| text(r, f).contains(term)),
                "search “{term}” returned {r}"
            );
        }
        Ok((q, t, rs.len(), len))
    }

    /// A judged search for `term`, described as `what` and the term.
    async fn search_scenario(
        &mut self,
        key: &'static str,
        what: &str,
        term: &str,
        fields: &[&str],
    ) -> Result<()> {
        let (q, t, found, len) = self.search(term, fields).await?;
        let what = format!("{what} “{term}”");
        self.judged(key, what, format!("GET {q}"), found, t, len);
        Ok(())
    }

    /// Status filter: pending with an expired invitation.
    async fn status_filter(&mut self) -> Result<()> {
        let q = "/api/v1/users?status=expired".to_string();
        let (t, p, len) = self.full_page(&q, "status=expired").await?;
        ensure!(
            rows(&p).iter().all(|r| r["status"] == "expired"),
            "status=expired returned another status"
        );
        let what = "filter status = expired".into();
        self.judged("status-expired", what, format!("GET {q}"), 50, t, len);
        Ok(())
    }

    /// Location and user type.
    async fn location_and_type_filter(&mut self, s: &Seeded) -> Result<()> {
        let (loc_name, loc_id) = &s.locations[1];
        let q = format!("/api/v1/users?location={loc_id}&user_type=pta");
        let (t, p, len) = self.full_page(&q, "location + user_type").await?;
        for r in rows(&p) {
            let has_loc = r["locations"]
                .as_array()
                .is_some_and(|ls| ls.iter().any(|l| l.as_str() == Some(loc_name)));
            ensure!(
                r["user_type"] == "pta" && has_loc,
                "location + user_type returned {r}"
            );
        }
        let what = format!("filter location = {loc_name} and user type = PTA");
        let query = "GET /api/v1/users?location=<id>&user_type=pta".into();
        self.judged("location-type", what, query, 50, t, len);
        Ok(())
    }

    /// Role filter: everyone with the Billing Manager role is in billing.
    async fn role_filter(&mut self, s: &Seeded) -> Result<()> {
        let role = "Billing Manager";
        let q = format!("/api/v1/users?role={}", s.roles[role]);
        let (t, p, len) = self.full_page(&q, "role filter").await?;
        ensure!(
            rows(&p).iter().all(|r| r["user_type"] == "billing"),
            "role = Billing Manager returned someone who is not in billing"
        );
        let what = format!("filter role = {role}");
        let query = "GET /api/v1/users?role=<id>".into();
        self.judged("role", what, query, 50, t, len);
        Ok(())
    }

    /// Every request must be authenticated: a wrong token is refused. Then the diagnostic of
    /// what authenticating the bearer token alone costs (every API request pays it).
    async fn authentication(&mut self) -> Result<()> {
        let bad = Target::new(self.addr, "/api/v1/users", Some("rc_not-a-token"))?;
        let r = self.conn.get(&bad).await?;
        ensure!(r.status == 401, "a wrong token got {}", r.status);

        let mut t = Target::new(self.addr, "/api/v1/me", self.token)?;
        let r = self.conn.get(&t).await?;
        ensure!(r.status == 200, "/api/v1/me answered {}", r.status);
        t.expected_len = Some(r.body.len());
        self.list.push(Scenario {
            key: "auth-only",
            what: "diagnostic: token authentication alone, no list".into(),
            query: "GET /api/v1/me".into(),
            rows: 0,
            kind: Kind::Diagnostic,
            target: t,
        });
        Ok(())
    }
}

/// Checks that page number `page` holds 50 rows in newest-first order after the previous page
/// (whose last row was created at `prev_last`); answers when its own last row was created.
fn next_in_order(p: &Value, page: usize, prev_last: Option<i64>) -> Result<Option<i64>> {
    let rs = rows(p);
    ensure!(rs.len() == 50, "page {page} has {} rows", rs.len());
    let created: Vec<i64> = rs
        .iter()
        .filter_map(|r| r["created_micros"].as_i64())
        .collect();
    ensure!(
        created.windows(2).all(|w| w[0] >= w[1]) && prev_last.is_none_or(|l| created[0] <= l),
        "page {page} is not in newest-first order after the previous page"
    );
    Ok(created.last().copied())
}

/// A selective search term: the end of the local part and the start of the domain of the
/// first address on the first page.
fn email_term(first: &Value) -> Result<String> {
    let sample = rows(first)
        .iter()
        .map(|r| text(r, "email"))
        .find(|e| e.contains('@'))
        .context("no email on the first page")?;
    let (local, domain) = sample.split_once('@').expect("checked");
    let local_tail: String = local
        .chars()
        .skip(local.chars().count().saturating_sub(10))
        .collect();
    Ok(format!("{local_tail}@{}", &domain[..domain.len().min(6)]))
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---- measuring -------------------------------------------------------------------------------

struct Measured {
    closed: Closed,
    open: Open,
}

async fn measure_all(args: &Args, list: &[Scenario]) -> Vec<Measured> {
    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.seconds);
    let mut out = Vec::new();
    for s in list {
        let mut closed_runs = Vec::new();
        let mut open_runs = Vec::new();
        for _ in 0..args.repeat.max(1) {
            let c = loadgen::closed(&s.target, args.connections, warmup, window).await;
            let o = loadgen::open(&s.target, args.connections, c.rps / 2.0, window).await;
            closed_runs.push(c);
            open_runs.push(o);
        }
        closed_runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        open_runs.sort_by_key(|o| o.p99);
        let closed = closed_runs[closed_runs.len() / 2];
        let open = open_runs[open_runs.len() / 2].clone();
        eprintln!(
            "  {}: {} req/s (mean latency {} at saturation); at {} req/s p50 {} p99 {}",
            s.key,
            fmt_int(closed.rps),
            ms(closed.mean_latency),
            fmt_int(open.rate),
            ms(open.p50),
            ms(open.p99)
        );
        out.push(Measured { closed, open });
    }
    out
}

// ---- reporting -------------------------------------------------------------------------------

/// Diagnostics: what the store can do without HTTP and authentication in front of it.
struct Floors {
    /// `SELECT 1` per second through the read pool.
    select_1: f64,
    /// First pages per second from `store::users::list` called directly.
    store_page: f64,
}

/// First pages per second from the store's list function itself, `tasks` at a time.
async fn store_floor(app: &App, org_id: uuid::Uuid, tasks: usize, window: Duration) -> f64 {
    let until = Instant::now() + window;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let app = app.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                let query = rollcall_app::testing::store::users::ListQuery {
                    org_id,
                    descending: true,
                    limit: 50,
                    now: app.clock.now(),
                    ..Default::default()
                };
                let Ok(mut conn) = app.db().read_conn().await else {
                    continue;
                };
                if let Ok(page) =
                    rollcall_app::testing::store::users::list(&mut conn, app.db().engine(), &query)
                        .await
                    && page.rows.len() == 50
                {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap_or(0);
    }
    total as f64 / window.as_secs_f64()
}

/// Diagnostic: trivial queries per second through the application's read pool, `tasks` at a
/// time; the floor under any request that makes several queries.
async fn query_floor(app: &App, tasks: usize, window: Duration) -> f64 {
    let until = Instant::now() + window;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let pool = app.db().reader().clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                if sqlx::query("SELECT 1").fetch_one(&pool).await.is_ok() {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap_or(0);
    }
    total as f64 / window.as_secs_f64()
}

fn report(
    args: &Args,
    store: &Store,
    seeded: &Seeded,
    sc: &Scenarios,
    m: &[Measured],
    floor: Floors,
) -> String {
    let bare = m[0].closed.rps;
    let first = throughput(sc, m, "first-page", 1.0);
    let mut lines = Vec::new();
    let mut table = table_head(args, store, seeded);
    for (s, r) in sc.list.iter().zip(m) {
        let f = Figures::of(s, r, bare);
        lines.push(if s.kind == Kind::Judged {
            f.judged_line(bare, first)
        } else {
            f.line()
        });
        table.push(f.table_row());
    }
    lines.push(format!(
        "P4 store floor (diagnostic, no HTTP, no authentication, {} at a time): `SELECT 1` through the application's read pool {} queries/s; store::users::list first page called directly {} pages/s ({:.3}× bare axum). A list request through the API makes 10 queries: 8 to authenticate the token and load its principal, 2 for the page",
        args.connections,
        fmt_int(floor.select_1),
        fmt_int(floor.store_page),
        floor.store_page / bare,
    ));
    lines.push(format!(
        "P4 cursor walk: pages 1–{} one request at a time in {:.2} s ({} per page)",
        args.page,
        sc.walk.as_secs_f64(),
        ms(sc.walk / args.page as u32)
    ));
    lines.push(verdict_line(sc, m, bare, first));
    table.push(String::new());
    table.push(format!(
        "Saturation: closed loop, {} keep-alive connections, {} s after {} s of warm-up. Latency: open loop at half of that rate for {} s, from each request's scheduled start. Load generator (raw hyper client) and servers share the machine's cores in one process.",
        args.connections, args.seconds, args.warmup, args.seconds
    ));
    format!("{}\n\n{}", lines.join("\n"), table.join("\n"))
}

/// The saturation throughput of scenario `key` divided by `per`, or 0 without that scenario.
fn throughput(sc: &Scenarios, m: &[Measured], key: &str, per: f64) -> f64 {
    sc.list
        .iter()
        .position(|s| s.key == key)
        .map(|i| m[i].closed.rps / per)
        .unwrap_or(0.0)
}

/// The table's title line and header.
fn table_head(args: &Args, store: &Store, seeded: &Seeded) -> Vec<String> {
    vec![
        format!(
            "P4 user list — {} users, {}, {} connections, {} s per measurement{}; {}",
            fmt_int(seeded.users as f64),
            engine_name(store.engine),
            args.connections,
            args.seconds,
            if args.repeat > 1 { format!(", median of {}", args.repeat) } else { String::new() },
            machine_note(cores()),
        ),
        String::new(),
        "| scenario | request | rows | saturation | × bare axum | p50 at half load | p99 at half load | failed requests | target |".into(),
        "|---|---|---:|---:|---:|---:|---:|---:|---|".into(),
    ]
}

/// Whether every judged scenario meets the targets, and the deep page against the first.
fn verdict_line(sc: &Scenarios, m: &[Measured], bare: f64, first: f64) -> String {
    let all_meet = sc
        .list
        .iter()
        .zip(m)
        .filter(|(s, _)| s.kind == Kind::Judged)
        .all(|(_, r)| {
            r.open.p99 <= TARGET_P99
                && r.closed.rps / bare >= TARGET_RATIO
                && r.closed.faults.total() + r.open.faults.total() == 0
                && r.open.completed == r.open.scheduled
        });
    let deep = throughput(sc, m, "deep-page", first);
    format!(
        "P4 verdict: {} (p99 ≤ 25 ms at half of saturation and ≥ 0.1× bare axum in every scenario; deep page at {:.2}× the first page's throughput)",
        if all_meet {
            "meets the targets"
        } else {
            "MISSES a target"
        },
        deep
    )
}

/// One scenario's measurements, with what the report derives from them.
struct Figures<'a> {
    s: &'a Scenario,
    r: &'a Measured,
    /// Saturation throughput against the bare handler's.
    ratio: f64,
    /// Requests completed in both loops.
    requests: u64,
    /// Non-200 answers, wrong body sizes and transport errors, over both loops.
    faults: (u64, u64, u64),
    /// Open-loop requests scheduled but never answered.
    lost: u64,
    failed: u64,
    verdict: String,
}

impl<'a> Figures<'a> {
    fn of(s: &'a Scenario, r: &'a Measured, bare: f64) -> Figures<'a> {
        let ratio = r.closed.rps / bare;
        let (c, o) = (r.closed.faults, r.open.faults);
        let faults = (
            c.non_200 + o.non_200,
            c.wrong_size + o.wrong_size,
            c.errors + o.errors,
        );
        let lost = r.open.scheduled - r.open.completed;
        let failed = faults.0 + faults.1 + faults.2 + lost;
        Figures {
            s,
            r,
            ratio,
            requests: r.closed.completed + r.open.completed,
            faults,
            lost,
            failed,
            verdict: verdict(s.kind, r, ratio, failed),
        }
    }

    /// The line of a judged scenario: every figure, the targets and the failures by kind.
    fn judged_line(&self, bare: f64, first: f64) -> String {
        let (s, r, lost) = (self.s, self.r, self.lost);
        let verdict = &self.verdict;
        format!(
            "P4 {}: saturation {} req/s (bare axum {} req/s, ratio {:.3}){}; at half load ({} req/s) p50 {} p90 {} p99 {} ({}) (target p99 ≤ 25 ms, throughput ≥ 0.1× bare) — {verdict}; {} (non-200 {}, wrong body size {}, transport errors {}, unanswered {lost})",
            s.key,
            fmt_int(r.closed.rps),
            fmt_int(bare),
            self.ratio,
            if s.key == "deep-page" {
                format!(", {:.2}× the first page", r.closed.rps / first)
            } else {
                String::new()
            },
            fmt_int(r.open.achieved_rps),
            ms(r.open.p50),
            ms(r.open.p90),
            ms(r.open.p99),
            self.tail(),
            self.failed_of(),
            self.faults.0,
            self.faults.1,
            self.faults.2,
        )
    }

    /// The line of the baseline or a diagnostic.
    fn line(&self) -> String {
        let (s, r) = (self.s, self.r);
        format!(
            "P4 {} ({}): saturation {} req/s{}; at half load ({} req/s) p50 {} p99 {} ({}); {}",
            s.key,
            s.what,
            fmt_int(r.closed.rps),
            if s.kind == Kind::Diagnostic {
                format!(" (ratio to bare axum {:.3})", self.ratio)
            } else {
                String::new()
            },
            fmt_int(r.open.achieved_rps),
            ms(r.open.p50),
            ms(r.open.p99),
            self.tail(),
            self.failed_of(),
        )
    }

    /// The open loop's slowest requests, and how late the load generator itself was.
    fn tail(&self) -> String {
        let o = &self.r.open;
        format!(
            "p99.9 {}, max {}, load generator lag max {}",
            ms(o.p999),
            ms(o.max),
            ms(o.generator_lag)
        )
    }

    fn failed_of(&self) -> String {
        format!(
            "{} of {} requests failed",
            fmt_int(self.failed as f64),
            fmt_int(self.requests as f64)
        )
    }

    fn table_row(&self) -> String {
        let (s, r) = (self.s, self.r);
        format!(
            "| {} | {} | {} | {} req/s | {:.3} | {} | {} | {} | {} |",
            s.what,
            s.query.replace('|', "\\|"),
            s.rows,
            fmt_int(r.closed.rps),
            self.ratio,
            ms(r.open.p50),
            ms(r.open.p99),
            self.failed,
            self.verdict
        )
    }
}

/// A judged scenario meets the targets, or misses the ones it names.
fn verdict(kind: Kind, r: &Measured, ratio: f64, failed: u64) -> String {
    match kind {
        Kind::Baseline => "baseline".to_string(),
        Kind::Diagnostic => "diagnostic".to_string(),
        Kind::Judged => {
            let mut misses = Vec::new();
            if r.open.p99 > TARGET_P99 {
                misses.push("p99");
            }
            if ratio < TARGET_RATIO {
                misses.push("throughput");
            }
            if failed > 0 {
                misses.push("failed requests");
            }
            if misses.is_empty() {
                "meets".to_string()
            } else {
                format!("MISSES ({})", misses.join(", "))
            }
        }
    }
}

/// A rate or count, rounded, with thousands separators.
fn fmt_int(x: f64) -> String {
    thousands(x.round() as u64)
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v < 1.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}
