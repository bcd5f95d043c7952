//! Two real `rollcall serve` processes (A and B) on one fresh PostgreSQL database, with a local
//! SMTP server that counts deliveries per recipient: both start together on the empty database
//! and serve; a session made on A works on B; invitations are delivered exactly once while A is
//! stopped with SIGTERM mid-delivery and started again, and nothing waits for a lease; sign-in
//! pauses answer the same for a known and an unknown address across the two processes; an
//! import whose process is stopped (SIGTERM) or killed (`kill -9`) is finished by the other,
//! every row once.
//!
//! PostgreSQL only (several processes on one SQLite file is not a supported set-up): skipped
//! with a printed reason when `ROLLCALL_TEST_POSTGRES_URL` is unset.

mod support;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::response::OK;
use mailin_embedded::{Handler, Response, Server};
use rollcall_store::testing::with_database;
use rollcall_store::{Db, Sql};
use sqlx::Row;

/// Invitations delivered while A is stopped and started again.
const INVITATIONS: usize = 1_500;
/// Far longer than the test may take: a claim left behind by the stopped process would hold
/// its messages past the test's bound instead of being taken over quietly.
const LEASE_SECS: &str = "300";
/// How long the test waits for anything before it fails.
const BOUND: Duration = Duration::from_secs(120);
/// The README's bound on the emails a `kill -9` may send again: twice `--smtp-pool` (4).
const REPEATED_AFTER_KILL: u32 = 2 * 4;
/// A lease short enough for a killed process's claims to be taken over within the test.
const SHORT_LEASE_SECS: &str = "5";

/// Deliveries per recipient, as the SMTP server accepted them.
#[derive(Clone, Default)]
struct Deliveries(Arc<Mutex<BTreeMap<String, u32>>>);

impl Deliveries {
    fn total(&self) -> u32 {
        self.0.lock().unwrap().values().sum()
    }

    fn per_recipient(&self) -> BTreeMap<String, u32> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct Count {
    deliveries: Deliveries,
    to: Vec<String>,
}

impl Handler for Count {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        OK
    }

    fn data_end(&mut self) -> Response {
        let mut all = self.deliveries.0.lock().unwrap();
        for to in self.to.drain(..) {
            *all.entry(to).or_default() += 1;
        }
        OK
    }
}

fn start_smtp() -> (u16, Deliveries) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let deliveries = Deliveries::default();
    let mut server = Server::new(Count {
        deliveries: deliveries.clone(),
        to: Vec::new(),
    });
    server
        .with_name("smtp.test")
        .with_num_threads(16)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, deliveries)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rollcall(dir: &Path, url: &str) -> Command {
    rollcall_leased(dir, url, LEASE_SECS)
}

fn rollcall_leased(dir: &Path, url: &str, lease_secs: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    c.arg("--data-dir")
        .arg(dir)
        .arg("--database-url")
        .arg(url)
        .env("ROLLCALL_LOG", "info,sqlx=warn")
        .env("ROLLCALL_LEASE_SECS", lease_secs)
        .env("ROLLCALL_SECRET_KEY", support::SECRET_KEY)
        .env_remove("ROLLCALL_PUBLIC_URL")
        .env_remove("ROLLCALL_LISTEN")
        .env_remove("ROLLCALL_URL")
        .env_remove("ROLLCALL_TOKEN");
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

/// One `rollcall serve` process, its log in a file; killed when dropped.
struct Process {
    name: &'static str,
    child: Child,
    base: String,
    log: PathBuf,
}

impl Process {
    fn start(name: &'static str, dir: &Path, url: &str, smtp_port: u16) -> Process {
        Process::start_leased(name, dir, url, smtp_port, LEASE_SECS)
    }

    fn start_leased(
        name: &'static str,
        dir: &Path,
        url: &str,
        smtp_port: u16,
        lease_secs: &str,
    ) -> Process {
        let port = free_port();
        let log = dir.join(format!("{name}-{}.log", uuid::Uuid::now_v7()));
        let child = rollcall_leased(dir, url, lease_secs)
            .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
            .args(["--smtp-host", "127.0.0.1", "--smtp-security", "none"])
            .args(["--smtp-port", &smtp_port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Process {
            name,
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the readiness check says "ready" (the port is bound before migrating).
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let start = Instant::now();
        loop {
            if let Ok(r) = http.get(self.url("/health/ready")).send().await
                && r.status() == 200
            {
                assert_eq!(r.text().await.unwrap(), "ready");
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited ({status}) before serving:\n{}",
                    self.name,
                    self.log()
                );
            }
            assert!(
                start.elapsed() < BOUND,
                "{} never got ready:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits for the process to exit.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh database with nothing in it (not even migrations).
async fn empty_database(admin_url: &str) -> (String, String) {
    let name = format!("rollcall_multi_{}", uuid::Uuid::now_v7().simple());
    let admin = Db::connect(admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(admin.reader())
        .await
        .unwrap();
    admin.close().await;
    (with_database(admin_url, &name), name)
}

async fn drop_database(admin_url: &str, name: &str) {
    let admin = Db::connect(admin_url).await.unwrap();
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(admin.reader())
        .await;
    admin.close().await;
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

/// The organization "acme" with the location MAIN and room for everyone the tests add.
fn organization(dir: &Path, url: &str) {
    ok(rollcall(dir, url).args(["org", "create", "acme", "--name", "Acme Rehab"]));
    ok(rollcall(dir, url).args([
        "location", "create", "--org", "acme", "--name", "Main", "--code", "MAIN",
    ]));
    ok(rollcall(dir, url).args(["seats", "set", "--org", "acme", "100000"]));
}

/// Invitations to every address of the organization, queued in the outbox.
fn invite(dir: &Path, url: &str) {
    organization(dir, url);
    let file = dir.join("staff.txt");
    let addresses: Vec<String> = (0..INVITATIONS)
        .map(|i| format!("person{i}@acme.example"))
        .collect();
    std::fs::write(&file, addresses.join("\n")).unwrap();
    ok(rollcall(dir, url)
        .args(["invite", "--org", "acme", "--file"])
        .arg(&file)
        .args(["--location", "MAIN", "--role", "Front Desk"]));
}

/// Waits until a tenth of the invitations have arrived.
async fn under_way(deliveries: &Deliveries) {
    let start = Instant::now();
    while deliveries.total() < (INVITATIONS / 10) as u32 {
        assert!(start.elapsed() < BOUND, "delivery never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until no message is left queued.
async fn all_sent(db: &Db, context: &str) {
    let start = Instant::now();
    loop {
        let queued = count(db, "SELECT COUNT(*) FROM outbox WHERE state = 'queued'").await;
        if queued == 0 {
            return;
        }
        assert!(
            start.elapsed() < BOUND,
            "{queued} messages still queued ({context})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Submits the sign-in form of `server`; returns the answer's status.
async fn sign_in(client: &reqwest::Client, server: &Process, email: &str, password: &str) -> u16 {
    let html = client
        .get(server.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("form has a csrf field")
        + "name=\"csrf\" value=\"".len();
    let csrf = html[start..].split('"').next().unwrap();
    client
        .post(server.url("/sign-in"))
        .form(&[
            ("csrf", csrf),
            ("organization", "acme"),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Gives an invited person a password and makes them active (arrangement only: registration
/// has its own tests).
async fn activate(db: &Db, email: &str, password: &str) {
    let hash = rollcall_app::identity::password::hash(password.to_string())
        .await
        .unwrap();
    let mut conn = db.write_conn().await.unwrap();
    let mut q = Sql::new("UPDATE users SET status = 'active', password_hash = ");
    q.bind(hash).push(" WHERE email = ").bind(email.to_string());
    assert_eq!(q.execute(&mut conn).await.unwrap(), 1);
}

/// The PostgreSQL server to make databases on; `None` (the test is skipped) without one.
fn postgres() -> Option<String> {
    let Ok(admin_url) = std::env::var("ROLLCALL_TEST_POSTGRES_URL") else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but ROLLCALL_TEST_POSTGRES_URL is not set: this test must run in CI");
        }
        eprintln!("skipped: ROLLCALL_TEST_POSTGRES_URL is not set (two processes need PostgreSQL)");
        return None;
    };
    Some(admin_url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_postgres_database() {
    let Some(admin_url) = postgres() else {
        return;
    };
    let (url, name) = empty_database(&admin_url).await;
    let dir = std::env::temp_dir().join(format!("rollcall-multi-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let (smtp_port, deliveries) = start_smtp();
    let http = reqwest::Client::new();

    // Started together on an empty database: they migrate in turn, and both serve.
    let mut a = Process::start("A", &dir, &url, smtp_port);
    let mut b = Process::start("B", &dir, &url, smtp_port);
    a.wait_ready(&http).await;
    b.wait_ready(&http).await;
    assert_eq!(
        http.get(b.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    invite(&dir, &url);

    // A stops with SIGTERM while the two deliver, and starts again.
    under_way(&deliveries).await;
    let status = a.terminate();
    assert!(status.success(), "A's exit: {status}\n{}", a.log());
    assert!(a.log().contains("drained; stopping"), "{}", a.log());
    let stopped_at = deliveries.total();
    drop(a);
    let mut a = Process::start("A", &dir, &url, smtp_port);
    a.wait_ready(&http).await;

    // With leases of five minutes, a message the stopped process left claimed would still be
    // waiting when the bound runs out.
    let db = Db::connect(&url).await.unwrap();
    all_sent(&db, &format!("SIGTERM came after {stopped_at} deliveries")).await;
    let per_recipient = deliveries.per_recipient();
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(per_recipient.len(), INVITATIONS, "every invitation arrived");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'").await,
        INVITATIONS as i64
    );
    assert!(
        stopped_at < INVITATIONS as u32,
        "A was stopped mid-delivery"
    );

    // A session made on A works on B.
    activate(&db, "person0@acme.example", "a long enough password").await;
    let client = browser();
    assert_eq!(
        sign_in(
            &client,
            &a,
            "person0@acme.example",
            "a long enough password"
        )
        .await,
        303
    );
    assert_eq!(
        client.get(b.url("/home")).send().await.unwrap().status(),
        200
    );

    // Failed sign-ins spread over both processes pause a known and an unknown address alike.
    let mut answers = BTreeMap::new();
    for email in ["person1@acme.example", "nobody@acme.example"] {
        let client = browser();
        let mut seen = Vec::new();
        for server in [&a, &a, &a, &b, &b, &a, &b] {
            seen.push(sign_in(&client, server, email, "not the password at all").await);
        }
        answers.insert(email, seen);
    }
    assert_eq!(
        answers["person1@acme.example"], answers["nobody@acme.example"],
        "{answers:?}"
    );
    assert_eq!(
        answers["nobody@acme.example"][5..],
        [429, 429],
        "{answers:?}"
    );

    db.close().await;
    drop((a, b));
    drop_database(&admin_url, &name).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kill -9` of A mid-delivery: B takes A's claims once their (short) lease runs out, every
/// invitation arrives, and at most twice A's SMTP connections (4 by default) arrive twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_repeats_at_most_its_messages_in_flight() {
    let Some(admin_url) = postgres() else {
        return;
    };
    let (url, name) = empty_database(&admin_url).await;
    let dir = std::env::temp_dir().join(format!("rollcall-multi-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let (smtp_port, deliveries) = start_smtp();
    let http = reqwest::Client::new();
    let lease = SHORT_LEASE_SECS;
    let mut a = Process::start_leased("A", &dir, &url, smtp_port, lease);
    a.wait_ready(&http).await;
    let mut b = Process::start_leased("B", &dir, &url, smtp_port, lease);
    b.wait_ready(&http).await;
    invite(&dir, &url);

    under_way(&deliveries).await;
    a.child.kill().unwrap();
    let _ = a.child.wait();
    let killed_at = deliveries.total();

    let db = Db::connect(&url).await.unwrap();
    all_sent(&db, &format!("A was killed after {killed_at} deliveries")).await;
    let per_recipient = deliveries.per_recipient();
    assert_eq!(per_recipient.len(), INVITATIONS, "every invitation arrived");
    let repeated: u32 = per_recipient.values().map(|n| n - 1).sum();
    assert!(
        repeated <= REPEATED_AFTER_KILL,
        "{repeated} messages arrived twice (A was killed after {killed_at} deliveries)"
    );
    db.close().await;
    drop((a, b));
    drop_database(&admin_url, &name).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// How the process running an import is stopped.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Stop {
    /// SIGTERM: it drains and gives the job back at once.
    Term,
    /// `kill -9`: its job and claims are taken over once their (short) lease runs out.
    Kill,
}

/// SIGTERM to the process running an import: it stops after the chunk being written and gives
/// the job back, the other process finishes it (within its sweep, not after the lease), every
/// row is imported once with one invitation, and the audit chain is intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_whose_process_is_stopped_is_finished_once_by_the_other() {
    import_interrupted(Stop::Term).await;
}

/// `kill -9` of the process running an import: the other process takes the job over after its
/// lease and finishes it, every row once, the audit chain intact, and at most the README's bound
/// of invitations arrives twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_whose_process_is_killed_is_finished_once_by_the_other() {
    import_interrupted(Stop::Kill).await;
}

/// An import sent to A's API, A stopped by `stop` once 1,000 rows are in, and B finishing it.
async fn import_interrupted(stop: Stop) {
    const ROWS: usize = 6_000;
    let Some(admin_url) = postgres() else {
        return;
    };
    let (url, name) = empty_database(&admin_url).await;
    let dir = std::env::temp_dir().join(format!("rollcall-multi-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let (smtp_port, deliveries) = start_smtp();
    let http = reqwest::Client::new();
    // With leases of five minutes, a job a SIGTERM left behind would still be unfinished at the
    // bound; after a kill the lease is what hands the job over.
    let lease = match stop {
        Stop::Term => LEASE_SECS,
        Stop::Kill => SHORT_LEASE_SECS,
    };
    let mut a = Process::start_leased("A", &dir, &url, smtp_port, lease);
    a.wait_ready(&http).await;
    let mut b = Process::start_leased("B", &dir, &url, smtp_port, lease);
    b.wait_ready(&http).await;
    organization(&dir, &url);
    let created = ok(rollcall(&dir, &url).args([
        "tokens",
        "create",
        "--org",
        "acme",
        "--name",
        "sync",
        "--scopes",
        "users:read users:write",
        "--json",
    ]));
    let token: serde_json::Value = serde_json::from_str(&created).unwrap();
    let token = token["secret"].as_str().unwrap().to_string();
    let file = dir.join("staff.csv");
    let mut csv = String::from("first_name,last_name,email,user_type\n");
    for i in 0..ROWS {
        csv.push_str(&format!("Person{i},Staff,imported{i}@acme.example,PT\n"));
    }
    std::fs::write(&file, csv).unwrap();

    // The import goes to A through its API; A runs the job.
    let mut importer = rollcall(&dir, &url)
        .args(["--url", &a.base, "--token", &token, "import"])
        .arg(&file)
        .args(["--roles", "Provider", "--location", "MAIN"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = Db::connect(&url).await.unwrap();
    let imported = "SELECT COUNT(*) FROM users WHERE source = 'csv_import'";
    let start = Instant::now();
    while count(&db, imported).await < 1_000 {
        assert!(start.elapsed() < BOUND, "the import never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match stop {
        Stop::Term => {
            let status = a.terminate();
            assert!(status.success(), "A's exit: {status}\n{}", a.log());
            assert!(a.log().contains("drained; stopping"), "{}", a.log());
            assert!(
                a.log().contains("job given back while draining"),
                "{}",
                a.log()
            );
        }
        Stop::Kill => {
            a.child.kill().unwrap();
            let _ = a.child.wait();
        }
    }
    let at_stop = count(&db, imported).await;
    let _ = importer.kill();
    let _ = importer.wait();

    let start = Instant::now();
    loop {
        let unfinished = count(
            &db,
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
        )
        .await;
        if unfinished == 0 {
            break;
        }
        assert!(
            start.elapsed() < BOUND,
            "the job is still unfinished ({at_stop} rows imported when A stopped: {stop:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(at_stop < ROWS as i64, "A was stopped mid-import");
    for (what, sql) in [
        ("users", imported),
        (
            "distinct addresses",
            "SELECT COUNT(DISTINCT email_key) FROM users WHERE source = 'csv_import'",
        ),
        ("invitations", "SELECT COUNT(*) FROM invitations"),
        (
            "audit events",
            "SELECT COUNT(*) FROM audit_events WHERE action = 'user.invited'",
        ),
    ] {
        assert_eq!(count(&db, sql).await, ROWS as i64, "{what} ({stop:?})");
    }
    all_sent(&db, "after the import").await;
    let per_recipient = deliveries.per_recipient();
    assert_eq!(per_recipient.len(), ROWS, "every invitation arrived");
    let repeated: u32 = per_recipient.values().map(|n| n - 1).sum();
    let allowed = match stop {
        Stop::Term => 0,
        Stop::Kill => REPEATED_AFTER_KILL,
    };
    assert!(
        repeated <= allowed,
        "{repeated} invitations arrived twice ({stop:?} after {at_stop} rows)"
    );
    let verify = ok(rollcall(&dir, &url).args(["audit", "verify", "--org", "acme"]));
    assert!(verify.contains("chain intact"), "{verify}");
    db.close().await;
    drop((a, b));
    drop_database(&admin_url, &name).await;
    let _ = std::fs::remove_dir_all(&dir);
}
