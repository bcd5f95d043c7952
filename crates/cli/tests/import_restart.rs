//! A 100,000-row import whose process is killed mid-job: after a restart the job finishes and
//! every row is imported exactly once (one user, one invitation, one message and one audit
//! event per row). On SQLite, and on PostgreSQL (20,000 rows, to keep the suite's time in
//! bounds on a debug build) when `ROLLCALL_TEST_POSTGRES_URL` is set.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rollcall_store::{Db, Sql};
use sqlx::Row;

/// The killed runner's lease: how long the restarted process waits before taking over.
const LEASE_SECS: &str = "2";

fn rollcall(data_dir: &Path, url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    c.arg("--data-dir")
        .arg(data_dir)
        .arg("--database-url")
        .arg(url)
        .env("ROLLCALL_LOG", "warn")
        .env("ROLLCALL_JOB_LEASE_SECS", LEASE_SECS);
    c
}

fn ok(c: &mut Command) -> String {
    let o = c.output().expect("run rollcall");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    text
}

async fn count(db: &Db, sql: &str) -> i64 {
    let mut conn = db.read_conn().await.unwrap();
    Sql::new(sql)
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

async fn killed_mid_job_then_resumed(url: &str, rows: usize) {
    let dir = std::env::temp_dir().join(format!("rollcall-restart-{}", rollcall_store::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    ok(rollcall(&dir, url).args(["org", "create", "acme", "--name", "Acme Rehab"]));
    ok(rollcall(&dir, url).args([
        "location", "create", "--org", "acme", "--name", "Main", "--code", "MAIN",
    ]));
    ok(rollcall(&dir, url).args(["seats", "set", "--org", "acme", "200000"]));
    let file = dir.join("staff.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    writeln!(w, "first_name,last_name,email,user_type").unwrap();
    for i in 0..rows {
        writeln!(w, "Person{i},Staff,person{i}@acme.example,PT").unwrap();
    }
    w.flush().unwrap();
    drop(w);

    // Run the import and kill it once its job is under way (past 20 %, before the end).
    let mut child = rollcall(&dir, url)
        .args(["import"])
        .arg(&file)
        .args(["--org", "acme", "--roles", "Provider", "--location", "MAIN"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let started = Instant::now();
    let mut killed_at = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        let percent = line
            .split('%')
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|p| p.trim().parse::<u32>().ok());
        if let Some(p) = percent
            && (20..100).contains(&p)
        {
            child.kill().unwrap();
            killed_at = Some(p);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the import never got going"
        );
    }
    let _ = child.wait();
    let killed_at = killed_at.expect("the import was killed mid-job");

    let db = Db::connect(url).await.unwrap();
    let before = count(
        &db,
        "SELECT COUNT(*) FROM users WHERE source = 'csv_import'",
    )
    .await;
    assert!(
        before > 0 && (before as usize) < rows,
        "killed at {killed_at} %: {before} users so far"
    );

    // The restarted process waits out the dead runner's lease, then finishes the job.
    std::thread::sleep(Duration::from_millis(2_500));
    let out = ok(rollcall(&dir, url).args(["jobs", "resume"]));
    assert!(
        out.contains(&format!("Succeeded: {rows} people created")),
        "{out}"
    );

    let one_each = |sql: &'static str| count(&db, sql);
    assert_eq!(
        one_each("SELECT COUNT(*) FROM users WHERE source = 'csv_import'").await,
        rows as i64
    );
    assert_eq!(
        one_each("SELECT COUNT(DISTINCT email_key) FROM users WHERE source = 'csv_import'").await,
        rows as i64
    );
    assert_eq!(
        one_each("SELECT COUNT(*) FROM invitations").await,
        rows as i64
    );
    assert_eq!(
        one_each("SELECT COUNT(*) FROM outbox WHERE kind = 'invitation'").await,
        rows as i64
    );
    assert_eq!(
        one_each("SELECT COUNT(*) FROM user_roles").await,
        rows as i64
    );
    assert_eq!(
        one_each("SELECT COUNT(*) FROM audit_events WHERE action = 'user.invited'").await,
        rows as i64
    );
    assert_eq!(
        one_each("SELECT COUNT(*) FROM jobs WHERE seats_held <> 0").await,
        0,
        "seats released"
    );
    let verify = ok(rollcall(&dir, url).args(["audit", "verify", "--org", "acme"]));
    assert!(verify.contains("chain intact"), "{verify}");
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_import_killed_mid_job_finishes_once() {
    let dir =
        std::env::temp_dir().join(format!("rollcall-restart-db-{}", rollcall_store::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("rollcall.db").display());
    killed_mid_job_then_resumed(&url, 100_000).await;
    // Half a gigabyte: a run must not leave it behind.
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_import_killed_mid_job_finishes_once() {
    let Some(db) = rollcall_store::testing::TestDb::postgres().await else {
        return;
    };
    killed_mid_job_then_resumed(&db.url(), 20_000).await;
}
