//! P1, P2, P3 — CSV import (SPEC §10, C5): parse + validate every row, then write users, access,
//! invitations, outbox and audit, through the product's own path:
//! `import::upload` (stream the file from disk, check and stage every row) → `import::commit`
//! (seats, rules, queue the job) → the job runs (chunks of 1,000 rows, one transaction each).
//!
//! - P1 (default): SQLite, 100k rows, against the `sqlite3` shell's `.import --csv` of the same
//!   file into a staging table plus one `INSERT … SELECT` into the same users table (≤ 2×).
//! - P2 (`--p2`): SQLite, 1M rows: total time (≤ 20 s), the process's peak RSS (≤ 256 MB) and
//!   the rate of the last 10 % of rows against the first 10 % (≥ 0.8×), for staging and for the
//!   job. Run it as its own invocation: the peak RSS is the whole process's.
//! - P3 (`--database-url postgres://…`): PostgreSQL, 100k rows, against `psql` `\copy` of the
//!   same file into a staging table plus `INSERT … SELECT` into the same users table (≤ 1.5×).
//!
//! Every run gets fresh databases: one for the product, one for the baseline, both migrated and
//! set up by the app the same way (organization, three locations, an admin), so both start from
//! the same tables and indexes. Medians of `--runs` (default 3; 1 for P2).
//!   bench/run.sh p1 [--rows 100000] [--runs 3] [--access customize|roles]
//!   bench/run.sh p2 [--rows 1000000]
//!   bench/run.sh p3 [--database-url postgres://postgres@127.0.0.1:5432/postgres]
//!                   [--pg-analyze-every 60]   (emulates autovacuum on a server where it is off)
//! RUST_LOG=rollcall_app=debug prints one line per committed import chunk.

mod bench_store;
mod harness;

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use bench_store::{Store, cores, engine_name, machine_note, thousands};
use clap::{Parser, ValueEnum};
use harness::median;
use rollcall_app::audit::Meta;
use rollcall_app::domain::{JobKind, JobState};
use rollcall_app::model::Job;
use rollcall_app::onboarding::import::{self, Access, Commit, Summary};
use rollcall_app::testing::store::{Db, Engine, jobs, now_micros, seats};
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    about = "P1/P2/P3: CSV import through the product, against sqlite3 .import / psql \\copy"
)]
struct Args {
    /// PostgreSQL server (P3), e.g. postgres://postgres@127.0.0.1:5432/postgres. The benchmark
    /// creates (and afterwards drops) databases of its own there, named after --pg-database.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value = "rollcall_bench_p1")]
    pg_database: String,
    /// P2: 1M rows by default, one run; reports peak RSS and first/last 10 % rates.
    #[arg(long)]
    p2: bool,
    /// Accepted for symmetry with run.sh; P3 is chosen by --database-url.
    #[arg(long)]
    p3: bool,
    /// Rows in the file (default 100,000; 1,000,000 with --p2).
    #[arg(long)]
    rows: Option<usize>,
    /// Measured runs (default 3; 1 with --p2); the figures are medians.
    #[arg(long)]
    runs: Option<usize>,
    /// How the imported people get their access: the file's own columns, or one role for all.
    #[arg(long, value_enum, default_value_t = AccessMode::Customize)]
    access: AccessMode,
    /// Skip the baseline (sqlite3 / psql).
    #[arg(long)]
    no_baseline: bool,
    /// Keep the databases and the CSV file.
    #[arg(long)]
    keep: bool,
    /// PostgreSQL: run ANALYZE on the product's database every this many seconds while the
    /// import runs (timed with it), as autovacuum does on a default server (naptime 60 s). A
    /// server with autovacuum off otherwise plans the import's queries with no statistics.
    #[arg(long)]
    pg_analyze_every: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AccessMode {
    Customize,
    Roles,
}

const FIRST: [&str; 24] = [
    "Dana", "Kim", "Sam", "Alex", "Maria", "José", "Priya", "Wei", "Fatima", "Liam", "Olivia",
    "Noah", "Emma", "Ava", "Lucas", "Mia", "Ethan", "Zoe", "Omar", "Chloé", "Hiro", "Amara",
    "Mateo", "Sofia",
];
const LAST: [&str; 24] = [
    "Lee", "Park", "Ortiz", "Nguyen", "Smith", "García", "Patel", "Chen", "O'Neil", "Johnson",
    "Brown", "Khan", "Müller", "Rossi", "Kowalski", "Silva", "Kim", "Haddad", "Okafor", "Dubois",
    "Lee, Jr.", "Novak", "Santos", "Cohen",
];
/// User type (as people write it) and the roles a clinic would give that type.
const TYPES: [(&str, &str); 12] = [
    ("PT", "Provider"),
    ("OT", "Provider"),
    ("SLP", "Provider"),
    ("PTA", "Provider"),
    ("COTA", "Provider"),
    ("RTT", "Provider"),
    ("NP", "Provider;Front Desk"),
    ("Nurse", "Provider"),
    ("ATC", "Provider"),
    ("Billing", "Billing Manager"),
    ("Clerical", "Front Desk"),
    ("Physician", "Provider"),
];
/// Location codes the benchmark's organization has: MC (made by the harness), DT and NS.
const LOCATIONS: [&str; 3] = ["MC", "DT", "NS"];

/// A realistic staff file: names with accents, apostrophes and a quoted comma; unique
/// addresses; user types, default locations and roles that exist in the organization.
fn write_csv(path: &Path, rows: usize) -> Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        w,
        "first_name,last_name,email,user_type,default_location,roles"
    )?;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..rows {
        // xorshift64*: deterministic, no dependency.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let first = FIRST[(r % 24) as usize];
        let last = LAST[((r >> 8) % 24) as usize];
        let (ty, roles) = TYPES[((r >> 16) % 12) as usize];
        let loc = LOCATIONS[((r >> 24) % 3) as usize];
        let local: String = format!("{first}.{last}")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect::<String>()
            .trim_end_matches('.')
            .to_string();
        let domain =
            ["riverside-therapy.example", "Northside-Rehab.example"][(r >> 32) as usize % 2];
        let last_cell = if last.contains(',') {
            format!("\"{last}\"")
        } else {
            last.to_string()
        };
        writeln!(
            w,
            "{first},{last_cell},{local}.{i}@{domain},{ty},{loc},{roles}"
        )?;
    }
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// A background task stopped when its handle goes.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One measured run of the product.
#[derive(Debug, Clone)]
struct ProductRun {
    stage: Duration,
    commit: Duration,
    run: Duration,
    created: i64,
    /// (rows, users, invitations, outbox messages, audit events) in the database afterwards.
    counts: (i64, i64, i64, i64, i64),
    /// Staging rate of the first and the last 10 % of rows (rows/s), when instrumented.
    stage_rates: Option<(f64, f64)>,
    /// Peak RSS of the process when staging ended (MB).
    rss_after_stage: Option<f64>,
    /// Job rate of the first and the last 10 % of rows (rows/s).
    run_rates: Option<(f64, f64)>,
}

impl ProductRun {
    fn total(&self) -> Duration {
        self.stage + self.commit + self.run
    }
}

#[derive(Debug, Clone)]
struct BaselineRun {
    /// `.import` / `\copy` into the staging table.
    load: Duration,
    /// `INSERT … SELECT` into users.
    insert: Duration,
}

impl BaselineRun {
    fn total(&self) -> Duration {
        self.load + self.insert
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    harness::trace_from_env();
    let args = Args::parse();
    let plan = Plan::of(&args)?;
    let Plan {
        id,
        engine,
        rows,
        runs,
    } = plan;
    let engine_name = engine_name(engine);
    println!("{id} machine: {}", machine_note(cores()));

    let dir = std::env::temp_dir().join(format!(
        "rollcall-bench-{}-csv-{}-{}",
        id.to_lowercase(),
        std::process::id(),
        now_micros()
    ));
    std::fs::create_dir_all(&dir)?;
    let csv = dir.join("staff.csv");
    let started = Instant::now();
    let bytes = write_csv(&csv, rows)?;
    println!(
        "{id} CSV import of {} rows ({:.1} MB, written in {:.1} s) into {engine_name}, access by {:?}, {runs} run{}",
        thousands(rows as u64),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        args.access,
        if runs == 1 { "" } else { "s" }
    );
    if let Some(url) = args.database_url.as_deref() {
        print_server(id, url, args.pg_analyze_every).await?;
    }
    let tool = if args.no_baseline {
        None
    } else {
        baseline_tool(engine)
    };
    let result = measure(&args, &plan, &csv, tool.as_deref()).await;
    if args.keep {
        println!("CSV file kept: {}", csv.display());
    } else {
        std::fs::remove_dir_all(&dir)?;
    }
    result
}

/// Which benchmark the arguments ask for, and how large.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// P1, P2 or P3.
    id: &'static str,
    engine: Engine,
    rows: usize,
    runs: usize,
}

impl Plan {
    fn of(args: &Args) -> Result<Plan> {
        ensure!(
            args.pg_database
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "--pg-database: lower-case letters, digits and underscores only"
        );
        let engine = match args.database_url.as_deref() {
            None => Engine::Sqlite,
            Some(u) if u.starts_with("postgres") => Engine::Postgres,
            Some(other) => bail!("--database-url must be postgres://…, not {other}"),
        };
        if args.p3 && engine != Engine::Postgres {
            bail!("P3 needs --database-url postgres://USER@HOST:PORT/DB");
        }
        let id = match (args.p2, engine) {
            (true, _) => "P2",
            (false, Engine::Postgres) => "P3",
            (false, Engine::Sqlite) => "P1",
        };
        let rows = args
            .rows
            .unwrap_or(if args.p2 { 1_000_000 } else { 100_000 });
        let runs = args.runs.unwrap_or(if args.p2 { 1 } else { 3 }).max(1);
        ensure!(rows > 0, "--rows must be positive");
        Ok(Plan {
            id,
            engine,
            rows,
            runs,
        })
    }
}

/// The PostgreSQL server's version and whether autovacuum runs: without it the import's
/// queries are planned with no statistics unless the benchmark runs ANALYZE itself.
async fn print_server(id: &str, url: &str, analyze_every: Option<u64>) -> Result<()> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to the PostgreSQL server")?;
    let (av, version): (String, String) =
        sqlx::query_as("SELECT current_setting('autovacuum'), current_setting('server_version')")
            .fetch_one(&mut c)
            .await?;
    c.close().await?;
    println!(
        "{id} server: PostgreSQL {version}, autovacuum = {av}{}",
        match analyze_every {
            Some(s) => format!(
                "; the benchmark runs ANALYZE every {s} s during each import, as autovacuum would (--pg-analyze-every)"
            ),
            None =>
                "; no ANALYZE by the benchmark (--pg-analyze-every SECS emulates autovacuum)".into(),
        }
    );
    Ok(())
}

/// The baseline's command-line tool, or why it cannot run.
fn baseline_tool(engine: Engine) -> Option<String> {
    let (tool, package) = match engine {
        Engine::Sqlite => ("sqlite3", "sqlite3"),
        Engine::Postgres => ("psql", "postgresql-client"),
    };
    match Command::new(tool).arg("--version").output() {
        Ok(o) if o.status.success() => Some(tool.to_string()),
        _ => {
            println!(
                "BASELINE NOT MEASURED: the `{tool}` command-line tool was not found. Install it \
                 (Debian/Ubuntu: `apt-get install -y {package}`) and run the benchmark again; \
                 the product is measured alone."
            );
            None
        }
    }
}

async fn measure(args: &Args, plan: &Plan, csv: &Path, tool: Option<&str>) -> Result<()> {
    let mut product = Vec::new();
    let mut baseline = Vec::new();
    for run in 0..plan.runs {
        let (p, b) = measure_run(args, plan, csv, tool, run).await?;
        print_run(plan, run, &p, b.as_ref());
        product.push(p);
        baseline.extend(b);
    }
    let med = Medians::of(&product);
    let base = (!baseline.is_empty()).then(|| {
        (
            median(&baseline.iter().map(BaselineRun::total).collect::<Vec<_>>()),
            median(&baseline.iter().map(|b| b.load).collect::<Vec<_>>()),
            median(&baseline.iter().map(|b| b.insert).collect::<Vec<_>>()),
        )
    });
    let (id, rows, total) = (plan.id, plan.rows, med.total);
    let split = med.split();
    println!();
    println!(
        "{id} product: median {:.2} s for {} rows ({}/s): {split}",
        total.as_secs_f64(),
        thousands(rows as u64),
        thousands((rows as f64 / total.as_secs_f64()) as u64),
    );
    let (base_cell, ratio_cell, ratio) = match base {
        Some(base) => compare(plan, total, base),
        None => ("not measured".to_string(), "–".to_string(), None),
    };
    let row = TableRow {
        what: format!(
            "CSV import, {}, {}",
            rows_label(rows),
            engine_name(plan.engine)
        ),
        total,
        split,
        base_cell,
        ratio_cell,
    };
    println!();
    println!("| id | what | product (median) | baseline (median) | ratio | target | |");
    println!("|---|---|---|---|---|---|---|");
    match id {
        "P2" => row.print_p2(&product[product.len() / 2]),
        _ => row.print(plan, ratio),
    }
    Ok(())
}

/// One measured run: the product on a fresh database, then the baseline (when its tool is
/// there) on another.
async fn measure_run(
    args: &Args,
    plan: &Plan,
    csv: &Path,
    tool: Option<&str>,
    run: usize,
) -> Result<(ProductRun, Option<BaselineRun>)> {
    let id = plan.id.to_lowercase();
    let label = format!("{id}-run{run}");
    let store = Store::create(
        &label,
        args.database_url.as_deref(),
        &format!("{}_{id}_run{run}", args.pg_database),
    )
    .await?;
    let p = product_run(&store.url, csv, plan.rows, args).await;
    store.dispose(args.keep).await?;
    let p = p?;
    let Some(tool) = tool else {
        return Ok((p, None));
    };
    let store = Store::create(
        &format!("{label}-base"),
        args.database_url.as_deref(),
        &format!("{}_{id}_base{run}", args.pg_database),
    )
    .await?;
    let b = baseline_run(&store, csv, plan.rows, tool).await;
    store.dispose(args.keep).await?;
    Ok((p, Some(b?)))
}

/// The run's line: the product's times and what it wrote, then the baseline's times; with
/// P2's instrumentation, the rates of the first and the last 10 % of rows.
fn print_run(plan: &Plan, run: usize, p: &ProductRun, b: Option<&BaselineRun>) {
    let chunks = plan.rows.div_ceil(1_000);
    println!(
        "  run {}: product {:.2} s = stage {:.2} s + commit {:.0} ms + run {:.2} s ({}/s; {} chunks of 1,000 rows, {:.1} ms per chunk; created {}; wrote {} users, {} invitations, {} outbox messages, {} audit events){}",
        run + 1,
        p.total().as_secs_f64(),
        p.stage.as_secs_f64(),
        p.commit.as_secs_f64() * 1e3,
        p.run.as_secs_f64(),
        thousands((plan.rows as f64 / p.total().as_secs_f64()) as u64),
        chunks,
        p.run.as_secs_f64() * 1e3 / chunks as f64,
        thousands(p.created as u64),
        thousands(p.counts.1 as u64),
        thousands(p.counts.2 as u64),
        thousands(p.counts.3 as u64),
        thousands(p.counts.4 as u64),
        match b {
            Some(b) => format!(
                " · baseline {:.2} s = {} {:.2} s + INSERT … SELECT {:.2} s",
                b.total().as_secs_f64(),
                load_name(plan.engine),
                b.load.as_secs_f64(),
                b.insert.as_secs_f64()
            ),
            None => String::new(),
        }
    );
    for (what, rates) in [("staging:", p.stage_rates), ("job:    ", p.run_rates)] {
        if let Some((first, last)) = rates {
            println!(
                "    {what} first 10 % {}/s, last 10 % {}/s ({:.2}×)",
                thousands(first as u64),
                thousands(last as u64),
                last / first
            );
        }
    }
}

/// Medians of the product's runs.
struct Medians {
    total: Duration,
    stage: Duration,
    commit: Duration,
    run: Duration,
}

impl Medians {
    fn of(product: &[ProductRun]) -> Medians {
        let med = |f: &dyn Fn(&ProductRun) -> Duration| {
            median(&product.iter().map(f).collect::<Vec<_>>())
        };
        Medians {
            total: med(&|p| p.total()),
            stage: med(&|p| p.stage),
            commit: med(&|p| p.commit),
            run: med(&|p| p.run),
        }
    }

    /// Where the time went.
    fn split(&self) -> String {
        let total = self.total.as_secs_f64();
        format!(
            "stage {:.2} s ({:.0} %) · commit {:.0} ms · run {:.2} s ({:.0} %)",
            self.stage.as_secs_f64(),
            100.0 * self.stage.as_secs_f64() / total,
            self.commit.as_secs_f64() * 1e3,
            self.run.as_secs_f64(),
            100.0 * self.run.as_secs_f64() / total
        )
    }
}

/// Prints the baseline's medians and the ratio; answers the table's baseline and ratio cells,
/// and the ratio.
fn compare(
    plan: &Plan,
    total: Duration,
    (b, load, insert): (Duration, Duration, Duration),
) -> (String, String, Option<f64>) {
    let (id, rows, engine) = (plan.id, plan.rows, plan.engine);
    println!(
        "{id} baseline: median {:.2} s ({}/s) = {} {:.2} s + INSERT … SELECT into users {:.2} s",
        b.as_secs_f64(),
        thousands((rows as f64 / b.as_secs_f64()) as u64),
        load_name(engine),
        load.as_secs_f64(),
        insert.as_secs_f64()
    );
    let ratio = total.as_secs_f64() / b.as_secs_f64();
    if engine == Engine::Postgres {
        println!(
            "{id} ratio {ratio:.1}× against \\copy + INSERT … SELECT (the one the target uses: \"\\copy of the same file into the same users table\"); {:.1}× against the \\copy into staging alone",
            total.as_secs_f64() / load.as_secs_f64()
        );
    } else {
        println!("{id} ratio {ratio:.1}× against .import + INSERT … SELECT");
    }
    (
        format!(
            "{} + INSERT…SELECT {:.2} s ({} {:.2} s)",
            load_name(engine),
            b.as_secs_f64(),
            load_name(engine),
            load.as_secs_f64()
        ),
        format!("{ratio:.1}×"),
        Some(ratio),
    )
}

/// `100k`, `1M`, or the count itself.
fn rows_label(rows: usize) -> String {
    let rows_k = if rows.is_multiple_of(1_000_000) {
        format!("{}M", rows / 1_000_000)
    } else if rows.is_multiple_of(1_000) {
        format!("{}k", rows / 1_000)
    } else {
        thousands(rows as u64)
    };
    format!("{rows_k} rows")
}

/// The Markdown table's row, as far as every benchmark shares it.
struct TableRow {
    what: String,
    total: Duration,
    split: String,
    base_cell: String,
    ratio_cell: String,
}

impl TableRow {
    /// P2's row: time, peak RSS and the rates of the last against the first 10 % of rows of
    /// the median run `p`.
    fn print_p2(&self, p: &ProductRun) {
        let rss = peak_rss_mb();
        let worst = |r: Option<(f64, f64)>| r.map(|(f, l)| l / f);
        let (sr, rr) = (worst(p.stage_rates), worst(p.run_rates));
        let time_ok = self.total <= Duration::from_secs(20);
        let rss_ok = rss.is_some_and(|r| r <= 256.0);
        let rate_ok = sr.unwrap_or(0.0) >= 0.8 && rr.unwrap_or(0.0) >= 0.8;
        println!(
            "P2 peak RSS (VmHWM of this process): {} at the end; {} when staging ended",
            rss.map(|r| format!("{r:.0} MB"))
                .unwrap_or_else(|| "unknown".into()),
            p.rss_after_stage
                .map(|r| format!("{r:.0} MB"))
                .unwrap_or_else(|| "unknown".into())
        );
        println!(
            "| P2 | {} | {:.1} s ({}) · peak RSS {} · last/first 10 %: staging {} job {} | {} | {} | ≤ 20 s · ≤ 256 MB · ≥ 0.8× | time {} · RSS {} · rate {} |",
            self.what,
            self.total.as_secs_f64(),
            self.split,
            rss.map(|r| format!("{r:.0} MB"))
                .unwrap_or_else(|| "?".into()),
            sr.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "?".into()),
            rr.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "?".into()),
            self.base_cell,
            self.ratio_cell,
            met(time_ok),
            met(rss_ok),
            met(rate_ok)
        );
    }

    /// P1's or P3's row: the ratio against the baseline is the target.
    fn print(&self, plan: &Plan, ratio: Option<f64>) {
        let target = if plan.engine == Engine::Postgres {
            1.5
        } else {
            2.0
        };
        println!(
            "| {} | {} | {:.2} s ({}) | {} | {} | ≤ {target}× | {} |",
            plan.id,
            self.what,
            self.total.as_secs_f64(),
            self.split,
            self.base_cell,
            self.ratio_cell,
            ratio.map(|r| met(r <= target)).unwrap_or("not measured")
        );
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "not met" }
}

fn load_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => ".import",
        Engine::Postgres => "\\copy",
    }
}

/// The app on a fresh database: migrated, an organization with three locations (MC, DT, NS),
/// its admin, and seats for every row.
async fn set_up(url: &str, rows: usize) -> Result<harness::Setup> {
    let db = Db::connect(url).await?;
    let mut s = harness::setup(db, None, "p1-import").await?;
    let meta = Meta::system("bench");
    let operator = rollcall_app::Principal::operator(&s.app, s.org_id, "bench").await?;
    let dt = rollcall_app::org::create_location(&s.app, &operator, "Downtown", "DT", &meta).await?;
    let ns =
        rollcall_app::org::create_location(&s.app, &operator, "North Side", "NS", &meta).await?;
    let mut conn = s.app.db().write_conn().await?;
    // The admin works at every location (as the first admin of an organization does).
    rollcall_app::testing::store::locations::grant(&mut conn, s.admin.user_id, &[dt.id, ns.id])
        .await?;
    rollcall_app::testing::store::orgs::set_seats(
        &mut conn,
        s.org_id,
        seats::PORTAL,
        rows as i64 + 1_000,
    )
    .await?;
    drop(conn);
    s.admin = rollcall_app::Principal::of_user(&s.app, s.org_id, s.admin.user_id)
        .await?
        .context("the admin can act")?;
    Ok(s)
}

async fn product_run(url: &str, csv: &Path, rows: usize, args: &Args) -> Result<ProductRun> {
    let s = set_up(url, rows).await?;
    let app = s.app.clone();
    let who = &s.admin;
    let meta = Meta::system("bench");
    let analyzer = analyzer(&app, args.pg_analyze_every);

    let started = Instant::now();
    let (job, stage_rates) = if args.p2 {
        stage_counted(&app, who, csv, rows, &meta).await?
    } else {
        let file = BufReader::new(std::fs::File::open(csv)?);
        (
            import::upload(&app, who, file, "staff.csv", None, &meta).await?,
            None,
        )
    };
    let stage = started.elapsed();
    let rss_after_stage = peak_rss_mb();
    let summary = Summary::of(&job);
    ensure!(
        job.state == JobState::Validated && summary.rows == rows as i64,
        "staging: {job:?}"
    );
    if summary.in_error > 0 {
        print_errors(&app, who, &job, summary.in_error).await?;
    }

    let commit = Commit {
        access: match args.access {
            AccessMode::Customize => Access::Customize,
            AccessMode::Roles => Access::Roles {
                role_ids: vec![s.role_id],
            },
        },
        location_id: Some(s.location_id),
        send_at: None,
        notifications: vec![],
    };
    let started = Instant::now();
    let job = import::commit(&app, who, job.id, &commit, &meta).await?;
    let commit_time = started.elapsed();
    let committed_at = now_micros();
    let committed = Instant::now();
    let (job, samples) = follow(&app, &job, committed, args.p2).await?;
    drop(analyzer);
    // The job records when it finished (the app's clock: system time, µs).
    let polled = committed.elapsed();
    let run = match job.updated_at - committed_at {
        d if d > 0 && (d as u128) <= polled.as_micros() => Duration::from_micros(d as u64),
        _ => polled,
    };
    let summary = Summary::of(&job);
    ensure!(
        job.state == JobState::Succeeded && summary.created == rows as i64,
        "the import did not create every row: {} {:?}",
        job.state,
        summary
    );
    let run_rates = job_rates(&samples, job.total as f64, run);
    let counts = counts(app.db(), rows).await?;
    app.db().close().await;
    Ok(ProductRun {
        stage,
        commit: commit_time,
        run,
        created: summary.created,
        counts,
        stage_rates,
        rss_after_stage,
        run_rates,
    })
}

/// Autovacuum's ANALYZE, emulated on PostgreSQL when asked (the server's own is off); it
/// stops when the handle goes.
fn analyzer(app: &rollcall_app::App, every: Option<u64>) -> Option<AbortOnDrop> {
    match every {
        Some(every) if app.db().engine() == Engine::Postgres => {
            let db = app.db().clone();
            Some(AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(every.max(1))).await;
                    if let Err(e) = sqlx::query("ANALYZE").execute(db.reader()).await {
                        eprintln!("ANALYZE failed: {e}");
                    }
                }
            })))
        }
        _ => None,
    }
}

/// Stages the file streamed from disk through a counting wrapper, to time the first and the
/// last 10 % of rows (`upload` is exactly `Reader` + `stage`). Answers the job and those two
/// rates (rows/s).
async fn stage_counted(
    app: &rollcall_app::App,
    who: &rollcall_app::Principal,
    csv: &Path,
    rows: usize,
    meta: &Meta,
) -> Result<(Job, Option<(f64, f64)>)> {
    let marks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let every = (rows / 100).max(1);
    let mut reader =
        rollcall_app::domain::import::Reader::new(BufReader::new(std::fs::File::open(csv)?))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let seen = marks.clone();
    let mut n = 0usize;
    let iter = std::iter::from_fn(move || {
        let row = reader.next_row();
        if row.is_some() {
            if n.is_multiple_of(every) {
                seen.lock().expect("marks").push(Instant::now());
            }
            n += 1;
        }
        row
    });
    let job = import::stage(app, who, JobKind::CsvImport, "staff.csv", iter, meta).await?;
    let end = Instant::now();
    let marks = marks.lock().expect("marks").clone();
    let rates = (marks.len() > 90).then(|| {
        let tenth = (every * 10) as f64;
        (
            tenth / (marks[10] - marks[0]).as_secs_f64(),
            (rows - every * 90) as f64 / (end - marks[90]).as_secs_f64(),
        )
    });
    Ok((job, rates))
}

/// The benchmark's file should have no row in error: shows a few of them when it does.
async fn print_errors(
    app: &rollcall_app::App,
    who: &rollcall_app::Principal,
    job: &Job,
    in_error: i64,
) -> Result<()> {
    println!(
        "    note: {in_error} rows in error at review (the benchmark's file should have none), e.g.:"
    );
    let review = import::review(
        app,
        who,
        job.id,
        rollcall_app::testing::store::imports::Filter::Errors,
        -1,
        Some(3),
    )
    .await?;
    for r in review.rows {
        let why: Vec<String> = r
            .issues
            .iter()
            .map(|i| format!("{}: {}", i.code, i.message))
            .collect();
        println!("      line {}: {}", r.line, why.join(" / "));
    }
    Ok(())
}

/// Waits for the committed job to finish, sampling its progress: (seconds since `committed`,
/// rows done). Answers the finished job and the samples.
async fn follow(
    app: &rollcall_app::App,
    job: &Job,
    committed: Instant,
    p2: bool,
) -> Result<(Job, Vec<(f64, i64)>)> {
    let poll = if p2 {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(20)
    };
    let mut samples: Vec<(f64, i64)> = vec![(0.0, 0)];
    loop {
        let now = {
            let mut conn = app.db().read_conn().await?;
            jobs::get(&mut conn, job.org_id, job.id)
                .await?
                .context("the job")?
        };
        samples.push((committed.elapsed().as_secs_f64(), now.done));
        if now.is_finished() {
            return Ok((now, samples));
        }
        tokio::time::sleep(poll).await;
    }
}

/// The job's rate over its first and its last 10 % of `total` rows (rows/s), interpolated
/// between the progress samples; `run` is how long the whole job took.
fn job_rates(samples: &[(f64, i64)], total: f64, run: Duration) -> Option<(f64, f64)> {
    let at = |x: f64| -> f64 {
        let i = samples
            .iter()
            .position(|(_, d)| *d as f64 >= x)
            .unwrap_or(samples.len() - 1);
        if i == 0 {
            return samples[0].0;
        }
        let ((t0, d0), (t1, d1)) = (samples[i - 1], samples[i]);
        t0 + (t1 - t0) * (x - d0 as f64) / ((d1 - d0).max(1) as f64)
    };
    (samples.len() > 4).then(|| {
        let (t10, t90) = (at(0.1 * total), at(0.9 * total));
        (
            0.1 * total / t10.max(1e-6),
            0.1 * total / (run.as_secs_f64() - t90).max(1e-6),
        )
    })
}

/// (rows, users, invitations, outbox messages, audit events) in the database.
async fn counts(db: &Db, rows: usize) -> Result<(i64, i64, i64, i64, i64)> {
    Ok((
        rows as i64,
        count(db, "SELECT COUNT(*) FROM users").await?,
        count(db, "SELECT COUNT(*) FROM invitations").await?,
        count(db, "SELECT COUNT(*) FROM outbox").await?,
        count(db, "SELECT COUNT(*) FROM audit_events").await?,
    ))
}

async fn count(db: &Db, sql: &str) -> Result<i64> {
    Ok(sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db.reader())
        .await?)
}

/// The baseline on its own fresh database set up exactly like the product's: the CSV loaded
/// into a staging table by the engine's own shell, then one `INSERT … SELECT` filling the same
/// users table (same indexes, same search triggers) with the columns the product fills.
async fn baseline_run(store: &Store, csv: &Path, rows: usize, tool: &str) -> Result<BaselineRun> {
    let s = set_up(&store.url, 0).await?;
    let org = s.org_id;
    s.app.db().close().await;
    drop(s);
    let now = now_micros();
    let expires = now + 14 * 86_400_000_000;
    let csv_path = csv.display().to_string();
    ensure!(
        !csv_path.contains('\''),
        "the temp path must not contain a quote"
    );
    let insert = |id_expr: &str| {
        format!(
            "INSERT INTO users (id, org_id, email, email_key, username, first_name, last_name, \
             display_name, sort_name, search, user_type, status, default_location_id, source, \
             invite_expires_at, created_at) \
             SELECT {id_expr}, '{org}', s.email, lower(s.email), lower(s.email), s.first_name, \
             s.last_name, s.first_name || ' ' || s.last_name, lower(s.last_name || ' ' || s.first_name), \
             lower(s.first_name || ' ' || s.last_name || ' ' || s.first_name || ' ' || s.last_name || ' ' || s.email || ' ' || s.email), \
             lower(s.user_type), 'pending', l.id, 'csv_import', {expires}, {now} \
             FROM staging s LEFT JOIN locations l ON l.org_id = '{org}' AND l.code = s.default_location;"
        )
    };
    match store.engine {
        Engine::Sqlite => {
            let file = store
                .url
                .strip_prefix("sqlite://")
                .context("a sqlite:// URL")?
                .to_string();
            // The product's connection settings (crates/store/src/db.rs).
            let pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; \
                           PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;\n";
            let load = run_tool(
                tool,
                &["-bail", &file],
                &format!("{pragmas}.import --csv {csv_path} staging\n"),
            )?;
            let insert = run_tool(
                tool,
                &["-bail", &file],
                &format!("{pragmas}{}\n", insert("lower(hex(randomblob(16)))")),
            )?;
            check_baseline(&store.url, org, rows).await?;
            Ok(BaselineRun { load, insert })
        }
        Engine::Postgres => {
            let url = &store.url;
            psql(
                tool,
                url,
                "CREATE TABLE staging (first_name text, last_name text, email text, user_type text, default_location text, roles text)",
            )?;
            let load = psql(
                tool,
                url,
                &format!("\\copy staging FROM '{csv_path}' WITH (FORMAT csv, HEADER true)"),
            )?;
            let insert = psql(tool, url, &insert("gen_random_uuid()::text"))?;
            check_baseline(&store.url, org, rows).await?;
            Ok(BaselineRun { load, insert })
        }
    }
}

/// One psql command against `url`, timed; any error stops it.
fn psql(tool: &str, url: &str, command: &str) -> Result<Duration> {
    run_tool(
        tool,
        &["-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", command],
        "",
    )
}

/// Runs the shell with `stdin`, timed; fails with its error output.
fn run_tool(tool: &str, args: &[&str], stdin: &str) -> Result<Duration> {
    use std::process::Stdio;
    let started = Instant::now();
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {tool}"))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    let took = started.elapsed();
    if !out.status.success() || !out.stderr.is_empty() {
        bail!(
            "{tool} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

/// The baseline wrote every row (checked after timing).
async fn check_baseline(url: &str, org: Uuid, rows: usize) -> Result<()> {
    let db = Db::connect(url).await?;
    let n = count(
        &db,
        &format!("SELECT COUNT(*) FROM users WHERE org_id = '{org}' AND source = 'csv_import'"),
    )
    .await;
    db.close().await;
    let n = n?;
    ensure!(
        n == rows as i64,
        "the baseline wrote {n} users of {rows} rows"
    );
    Ok(())
}

/// VmHWM of this process (its peak resident set so far), MB (10⁶ bytes).
fn peak_rss_mb() -> Option<f64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|kib| kib * 1024.0 / 1e6)
}
