//! Operating an installation, with the real binary on SQLite: a backup taken while an import
//! writes holds a consistent prefix and restores into a server one signs in to; restore
//! refuses a live database and a damaged file; a failed upgrade leaves the database as it was
//! and says where the copy is; `/metrics` parses as Prometheus text and moves as it should; the
//! JSON log parses line by line and holds no password or token; webhook receivers get each
//! event exactly once across their own outage and a restart of the server.
//!
//! SQLite only: PostgreSQL is backed up with pg_dump, which the README shows.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rollcall_store::{Db, Sql};

mod support;
use sqlx::Row;

/// Rows imported while backups are taken: large enough that the import is mid-way for several
/// seconds in a debug build (the size an operator would back up beside).
const ROWS: usize = 50_000;
const PASSWORD: &str = "correct horse battery staple 42";
const BOUND: Duration = Duration::from_secs(120);

fn rollcall(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    c.arg("--data-dir")
        .arg(dir)
        .env("ROLLCALL_LOG", "warn")
        .env_remove("ROLLCALL_DATABASE_URL")
        .env_remove("ROLLCALL_PUBLIC_URL")
        .env_remove("ROLLCALL_LISTEN")
        .env_remove("ROLLCALL_URL")
        .env_remove("ROLLCALL_TOKEN")
        .env_remove("ROLLCALL_LOG_FORMAT")
        .env_remove("ROLLCALL_METRICS_TOKEN")
        .env_remove("ROLLCALL_SECRET_KEY_FILE")
        .env("ROLLCALL_SECRET_KEY", support::SECRET_KEY);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(c: &mut Command) -> String {
    let o = c.output().expect("run rollcall");
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(c: &mut Command) -> String {
    let o = c.output().expect("run rollcall");
    assert!(!o.status.success(), "expected a failure: {}", text(&o));
    text(&o)
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rollcall-ops-{name}-{}", rollcall_store::new_id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An organization with a location, seats and an active company admin who signs in with
/// `PASSWORD`.
async fn practice(dir: &Path) {
    ok(rollcall(dir).args(["org", "create", "acme", "--name", "Acme Rehab"]));
    ok(rollcall(dir).args([
        "location", "create", "--org", "acme", "--name", "Main", "--code", "MAIN",
    ]));
    ok(rollcall(dir).args(["seats", "set", "--org", "acme", "200000"]));
    ok(rollcall(dir).args([
        "admin",
        "create",
        "--org",
        "acme",
        "--email",
        "lee@acme.example",
        "--first-name",
        "Lee",
        "--last-name",
        "Ward",
    ]));
    let db = Db::connect(&format!("sqlite://{}", dir.join("rollcall.db").display()))
        .await
        .unwrap();
    let hash = rollcall_app::identity::password::hash(PASSWORD.to_string())
        .await
        .unwrap();
    let mut conn = db.write_conn().await.unwrap();
    let mut q = Sql::new("UPDATE users SET status = 'active', password_hash = ");
    q.bind(hash)
        .push(" WHERE email = ")
        .bind("lee@acme.example".to_string());
    assert_eq!(q.execute(&mut conn).await.unwrap(), 1);
    drop(conn);
    db.close().await;
}

/// A serving process with its log in a file; killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let log = dir.join(format!("serve-{}.log", rollcall_store::new_id()));
        let child = rollcall(dir)
            .env("ROLLCALL_LOG", "debug,sqlx=info")
            .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Server {
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

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(r) = http.get(self.url("/health/ready")).send().await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("exited ({status}) before serving:\n{}", self.log());
            }
            assert!(start.elapsed() < BOUND, "never ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_in(server: &Server, email: &str, password: &str) -> u16 {
    let client = browser();
    let html = client
        .get(server.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
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

/// Registers from the invitation `link` with a second factor by authenticator app (the
/// organization starts requiring one); returns the secret the page showed.
async fn register_with_authenticator(dir: &Path, server: &Server, link: &str) -> String {
    let db = Db::connect(&format!("sqlite://{}", dir.join("rollcall.db").display()))
        .await
        .unwrap();
    let mut conn = db.write_conn().await.unwrap();
    let mut org = rollcall_store::orgs::get_by_slug(&mut conn, "acme")
        .await
        .unwrap()
        .unwrap();
    org.settings.require_2fa = true;
    rollcall_store::orgs::update_settings(&mut conn, org.id, &org.settings)
        .await
        .unwrap();
    drop(conn);
    db.close().await;

    let c = browser();
    let csrf_of = |html: &str| {
        let start = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
        html[start..].split('"').next().unwrap().to_string()
    };
    let page = |path: String| {
        let c = c.clone();
        async move { c.get(path).send().await.unwrap().text().await.unwrap() }
    };
    let path = format!(
        "/register/{}",
        link.rsplit('/').next().unwrap().trim_end_matches('.')
    );
    let csrf = csrf_of(&page(server.url(&path)).await);
    let r = c
        .post(server.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("first_name", "Nia"),
            ("last_name", "Hale"),
            ("mobile", "+1 415 555 2671"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let location = r.headers().get("location").cloned();
    assert_eq!(
        location.as_ref().map(|l| l.to_str().unwrap()),
        Some("/register/2fa"),
        "{status}: {}",
        r.text().await.unwrap()
    );
    let csrf = csrf_of(&page(server.url("/register/2fa")).await);
    let form = [("csrf", csrf.as_str()), ("method", "totp")];
    let html = c
        .post(server.url("/register/2fa/start"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = html
        .split("id=\"totp-secret\">")
        .nth(1)
        .expect("the secret is shown")
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let code = rollcall_app::identity::mfa::totp_now(&secret, now);
    let html = c
        .post(server.url("/register/2fa/confirm"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "totp"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<li><code>"),
        "recovery codes are shown: {html}"
    );
    assert!(secret.len() >= 16, "{secret}");
    secret
}

fn backup_json(dir: &Path, file: &Path) -> serde_json::Value {
    let out = ok(rollcall(dir).args(["--output", "json", "backup"]).arg(file));
    serde_json::from_str(&out).unwrap()
}

fn count(report: &serde_json::Value, what: &str) -> i64 {
    report["counts"][what].as_i64().unwrap()
}

fn staff_csv(dir: &Path) -> PathBuf {
    let file = dir.join("staff.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    writeln!(w, "first_name,last_name,email,user_type").unwrap();
    for i in 0..ROWS {
        writeln!(w, "Person{i},Staff,person{i}@acme.example,PT").unwrap();
    }
    w.flush().unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_an_import_is_a_consistent_prefix_that_restores_and_serves() {
    let dir = fresh_dir("live");
    practice(&dir).await;
    let mut server = Server::start(&dir, &[]);
    server.wait_ready().await;
    let before = backup_json(&dir, &dir.join("before.db"));

    // Through the server's API, so the import's job runs in the serving process, SQLite's one
    // writer, as a clinic's integration would run it.
    let token_out = ok(rollcall(&dir).args([
        "tokens",
        "create",
        "--org",
        "acme",
        "--name",
        "Import",
        "--scopes",
        "users:read users:write",
        "--json",
    ]));
    let token: serde_json::Value = serde_json::from_str(&token_out).unwrap();
    let file = staff_csv(&dir);
    let said = dir.join("import.log");
    let mut import = rollcall(&dir)
        .args([
            "--url",
            &server.base,
            "--token",
            token["secret"].as_str().unwrap(),
        ])
        .args(["import"])
        .arg(&file)
        .args(["--roles", "Provider", "--location", "MAIN"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&said).unwrap())
        .spawn()
        .unwrap();
    // Backups every second while the import runs.
    let mut taken = Vec::new();
    let started = Instant::now();
    while import.try_wait().unwrap().is_none() && taken.len() < 8 {
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let copy = dir.join(format!("during-{}.db", taken.len()));
        taken.push((backup_json(&dir, &copy), copy));
        assert!(started.elapsed() < BOUND, "the import took too long");
    }
    let status = import.wait().unwrap();
    let said = std::fs::read_to_string(&said).unwrap();
    assert!(status.success(), "the import finished: {said}");
    let imported = |r: &serde_json::Value| count(r, "users") - count(&before, "users");
    let during: Vec<_> = taken
        .into_iter()
        .filter(|(r, _)| (1..ROWS as i64).contains(&imported(r)))
        .collect();
    assert!(
        !during.is_empty(),
        "a backup was taken while the import wrote: {said}"
    );

    for (report, _) in &during {
        let users = count(report, "users") - count(&before, "users");
        let invitations = count(report, "invitations") - count(&before, "invitations");
        let outbox = count(report, "outbox") - count(&before, "outbox");
        let audit = count(report, "audit_events") - count(&before, "audit_events");
        assert!(
            0 < users && users < ROWS as i64,
            "mid-import: {users} users"
        );
        assert_eq!(users % 1_000, 0, "whole chunks only: {users}");
        assert_eq!(invitations, users, "each imported person has an invitation");
        assert!(
            outbox <= users,
            "messages are sent meanwhile, never more than people"
        );
        assert!(audit >= users, "each imported person is audited");
        assert_eq!(report["integrity"], "ok");
    }

    // Restore the mid-import copy into a new directory: its audit trail verifies and a server
    // on it is ready and lets the admin sign in.
    let restored = fresh_dir("restored");
    let (report, copy) = &during[0];
    let said = ok(rollcall(&restored).arg("restore").arg(copy));
    assert!(said.contains("Restored"), "{said}");
    let verified = ok(rollcall(&restored).args(["audit", "verify"]));
    assert!(verified.contains("chain intact"), "{verified}");
    let listed = ok(rollcall(&restored).args([
        "--output", "json", "users", "list", "--org", "acme", "--status", "pending",
    ]));
    let pending: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        pending.len() as i64,
        count(report, "users") - count(&before, "users")
    );
    drop(server);
    let mut again = Server::start(&restored, &[]);
    again.wait_ready().await;
    assert_eq!(sign_in(&again, "lee@acme.example", PASSWORD).await, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_live_database_an_existing_one_and_a_damaged_file() {
    let dir = fresh_dir("refuse");
    practice(&dir).await;
    let copy = dir.join("copy.db");
    ok(rollcall(&dir).arg("backup").arg(&copy));
    let said = fails(rollcall(&dir).arg("backup").arg(&copy));
    assert!(said.contains("already exists"), "{said}");

    let mut server = Server::start(&dir, &[]);
    server.wait_ready().await;
    let said = fails(rollcall(&dir).args(["restore", "--force"]).arg(&copy));
    assert!(said.contains("is live"), "{said}");
    assert!(
        said.contains(&format!("process {}", server.child.id())),
        "{said}"
    );
    drop(server);

    let said = fails(rollcall(&dir).arg("restore").arg(&copy));
    assert!(
        said.contains("already exists") && said.contains("--force"),
        "{said}"
    );
    ok(rollcall(&dir).args(["restore", "--force"]).arg(&copy));
    let kept = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains(".replaced-"));
    assert!(kept, "the replaced database is kept beside it");

    // Not a database at all, and a real backup cut in half.
    let empty = fresh_dir("empty");
    let junk = dir.join("junk.db");
    std::fs::write(&junk, "this is not a database\n").unwrap();
    let said = fails(rollcall(&empty).arg("restore").arg(&junk));
    assert!(said.contains("not a SQLite database"), "{said}");
    let bytes = std::fs::read(&copy).unwrap();
    let half = dir.join("half.db");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let said = fails(rollcall(&empty).arg("restore").arg(&half));
    assert!(
        said.contains("damaged") || said.contains("not a usable"),
        "{said}"
    );
    assert!(
        !empty.join("rollcall.db").exists(),
        "a refused restore writes no database"
    );
}

/// Migration 13 is made pending again on a database that already has its column, so applying
/// it fails as a real upgrade would: the database is left as it was, the copy taken before it
/// is there, and the error names both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upgrade_leaves_the_database_as_it_was_and_names_the_migration_and_the_copy() {
    let dir = fresh_dir("upgrade");
    practice(&dir).await;
    let db_file = dir.join("rollcall.db");
    let db = Db::connect(&format!("sqlite://{}", db_file.display()))
        .await
        .unwrap();
    let mut conn = db.write_conn().await.unwrap();
    Sql::new("DELETE FROM schema_migrations WHERE version = 13")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    db.close().await;

    let said = fails(rollcall(&dir).arg("migrate"));
    assert!(
        said.contains("migration 0013 (shared_limits_and_claims) failed"),
        "{said}"
    );
    let copy = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("rollcall.db.pre-0013."))
        .expect("a copy was taken before the upgrade");
    assert!(said.contains(&copy.display().to_string()), "{said}");

    let db = Db::connect(&format!("sqlite://{}", db_file.display()))
        .await
        .unwrap();
    let mut conn = db.read_conn().await.unwrap();
    let recorded: i64 = Sql::new("SELECT COUNT(*) FROM schema_migrations WHERE version = 13")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 0, "the failed step is not recorded");
    drop(conn);
    db.close().await;

    // The copy opens and checks like any backup.
    let restored = fresh_dir("upgrade-copy");
    let said = ok(rollcall(&restored).arg("restore").arg(&copy));
    // The copy is the database as it stood: every later step recorded, the re-run one not.
    let newest = rollcall_store::latest_version();
    assert!(said.contains(&format!("schema {newest}")), "{said}");

    // Without a copy, the error says so.
    let said = fails(rollcall(&dir).args(["--no-backup-before-migrate", "migrate"]));
    assert!(said.contains("No copy was taken"), "{said}");
}

fn samples(text: &str) -> HashMap<String, f64> {
    let doc = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text format");
    let mut out = HashMap::new();
    for s in doc.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        out.insert(format!("{}{{{}}}", s.metric, labels.join(",")), value);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_and_the_json_log_holds_no_secret() {
    let dir = fresh_dir("metrics");
    practice(&dir).await;
    let token_out = ok(rollcall(&dir).args([
        "tokens",
        "create",
        "--org",
        "acme",
        "--name",
        "HR sync",
        "--scopes",
        "users:read users:write",
        "--json",
    ]));
    let api_token = serde_json::from_str::<serde_json::Value>(&token_out).unwrap()["secret"]
        .as_str()
        .expect("the token is printed once")
        .to_string();
    let metrics_token = "metrics-secret-7f3a";
    let metrics_port = free_port();
    let mut server = Server::start(
        &dir,
        &[
            "--log-format",
            "json",
            "--metrics-token",
            metrics_token,
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ],
    );
    server.wait_ready().await;
    let http = reqwest::Client::new();

    // Refused without the token, answered on the metrics address.
    let r = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let scrape = |url: String| {
        let http = http.clone();
        async move { samples(&http.get(url).send().await.unwrap().text().await.unwrap()) }
    };
    let first = scrape(format!("http://127.0.0.1:{metrics_port}/metrics")).await;

    for _ in 0..3 {
        assert_eq!(
            sign_in(&server, "lee@acme.example", "not the password").await,
            401
        );
    }
    assert_eq!(sign_in(&server, "lee@acme.example", PASSWORD).await, 303);
    let users = http
        .get(server.url("/api/v1/users/7f000000-0000-7000-8000-000000000000"))
        .bearer_auth(&api_token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 404);
    assert!(users.headers().contains_key("x-request-id"));
    // An invitation: its registration link is a secret the log must not hold either.
    let invited = http
        .post(server.url("/api/v1/invitations/batch"))
        .bearer_auth(&api_token)
        .header("Idempotency-Key", "log-1")
        .json(&serde_json::json!({
            "addresses": "new.hire@acme.example", "location": "MAIN", "role": "Front Desk",
        }))
        .send()
        .await
        .unwrap();
    assert!(
        invited.status().is_success(),
        "{}",
        invited.text().await.unwrap()
    );
    let message = support::mailbox_message(&dir, "new.hire@acme.example").await;
    let link = message
        .body_text
        .split_whitespace()
        .find(|w| w.contains("/register/"))
        .expect("the invitation carries its link")
        .to_string();
    let link_token = link
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches('.')
        .to_string();
    assert!(link_token.len() >= 20, "{link}");
    // The new hire registers with an authenticator app: its secret must reach neither the log
    // nor the database file in clear.
    let totp_secret = register_with_authenticator(&dir, &server, &link).await;
    let database = [
        std::fs::read(dir.join("rollcall.db")).unwrap(),
        std::fs::read(dir.join("rollcall.db-wal")).unwrap_or_default(),
    ]
    .concat();
    assert!(
        !database
            .windows(totp_secret.len())
            .any(|w| w == totp_secret.as_bytes()),
        "the database holds the TOTP secret in clear"
    );

    let text = http
        .get(server.url("/metrics"))
        .bearer_auth(metrics_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let after = samples(&text);
    let moved =
        |key: &str| after.get(key).copied().unwrap_or(0.0) - first.get(key).copied().unwrap_or(0.0);
    assert_eq!(moved("rollcall_sign_in_failures_total{reason=wrong}"), 3.0);
    assert_eq!(
        moved("rollcall_http_requests_total{method=POST,route=/sign-in,status=303}"),
        1.0
    );
    // Counted by route template, never by the raw path (the parser skips label values with
    // braces, so this one is read from the text).
    assert!(
        text.contains(
            "rollcall_http_requests_total{method=\"GET\",route=\"/api/v1/users/{id}\",status=\"404\"} 1"
        ),
        "{text}"
    );
    assert!(!text.contains("7f000000-0000"), "no raw path: {text}");
    assert!(after.contains_key("rollcall_outbox_queued{}"), "{after:?}");
    assert!(
        after.contains_key("rollcall_db_connections{pool=write,state=idle}"),
        "{after:?}"
    );

    // Every line of the log is one JSON object; answered requests carry their id, route and
    // status, the signed-in ones their organization and actor; no secret appears anywhere.
    drop(server);
    let log = std::fs::read_to_string(
        dir.join(
            std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .find(|e| e.file_name().to_string_lossy().starts_with("serve-"))
                .unwrap()
                .path(),
        ),
    )
    .unwrap();
    let mut answered = 0;
    let mut identified = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["message"] == "answered" {
            answered += 1;
            assert!(v["span"]["request_id"].is_string(), "{line}");
            assert!(v["span"]["route"].is_string(), "{line}");
            assert!(
                v["status"].is_number() && v["duration_ms"].is_number(),
                "{line}"
            );
            if v["span"]["actor"].is_string() && v["span"]["org"].is_string() {
                identified += 1;
            }
        }
    }
    assert!(answered >= 6, "{log}");
    assert!(
        identified >= 1,
        "the API call names its organization and actor: {log}"
    );
    for secret in [
        PASSWORD,
        "not the password",
        &api_token,
        &api_token[..20],
        metrics_token,
        &link_token,
        &totp_secret,
    ] {
        assert!(!log.contains(secret), "the log holds a secret: {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_needs_the_key_the_secrets_are_sealed_under_and_a_rotation_changes_it() {
    let dir = fresh_dir("secret-keys");
    let keyless = || {
        let mut c = rollcall(&dir);
        c.env_remove("ROLLCALL_SECRET_KEY");
        c
    };
    let with_file = |lines: &[&str]| {
        let file = dir.join(format!("keys-{}", rollcall_store::new_id()));
        std::fs::write(&file, lines.join("\n")).unwrap();
        let mut c = keyless();
        c.arg("--secret-key-file").arg(file);
        c
    };
    let new_key = || {
        ok(keyless().args(["secrets", "new-key"]))
            .trim()
            .to_string()
    };
    let (old, new) = (new_key(), new_key());
    assert_eq!(old.len(), 64, "{old}");
    assert!(old.chars().all(|c| c.is_ascii_hexdigit()) && old != new);

    // No key: refused before serving, saying how to make and give one.
    let refused = fails(keyless().args(["--listen", "127.0.0.1:0", "serve"]));
    assert!(
        refused.contains("no secret key") && refused.contains("rollcall secrets new-key"),
        "{refused}"
    );
    let refused = fails(with_file(&["not-a-key"]).args(["secrets", "rotate"]));
    assert!(refused.contains("64 hexadecimal characters"), "{refused}");

    // The database's secrets are sealed under the old key.
    let sealed = ok(with_file(&[&old]).args(["--output", "json", "secrets", "rotate"]));
    let old_id = serde_json::from_str::<serde_json::Value>(&sealed).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    // A server given only the new key is refused, naming the key it lacks.
    let refused = fails(with_file(&[&new]).args(["--listen", "127.0.0.1:0", "serve"]));
    assert!(
        refused.contains(&format!("sealed under key {old_id}")),
        "{refused}"
    );
    // The new key first, the old below: the rotation moves every secret to the new key …
    let rotated = ok(with_file(&[&new, &old]).args(["secrets", "rotate"]));
    assert!(rotated.contains("Keys below the first"), "{rotated}");
    // … after which the new key alone serves.
    let port = free_port();
    let mut server = Server {
        child: with_file(&[&new])
            .args(["--listen", &format!("127.0.0.1:{port}"), "serve"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve-new-key.log")).unwrap())
            .spawn()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
        log: dir.join("serve-new-key.log"),
    };
    server.wait_ready().await;
}

/// What a webhook receiver acknowledged (2xx), by `webhook-id`, each verified with the
/// Standard Webhooks library; the first `refuse` requests are answered 503 (an outage).
#[derive(Clone)]
struct Receiver {
    acknowledged: std::sync::Arc<std::sync::Mutex<HashMap<String, u32>>>,
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    secret: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Receiver {
    async fn start(refuse: usize) -> (Receiver, u16) {
        use axum::http::{HeaderMap, StatusCode};
        let rx = Receiver {
            acknowledged: Default::default(),
            refused: Default::default(),
            secret: Default::default(),
        };
        let state = rx.clone();
        let router = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let rx = state.clone();
                async move {
                    // A slow receiver, so a restart finds deliveries in flight.
                    tokio::time::sleep(Duration::from_millis(60)).await;
                    if rx.refused.load(std::sync::atomic::Ordering::SeqCst) < refuse {
                        rx.refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let secret = rx
                        .secret
                        .lock()
                        .unwrap()
                        .clone()
                        .expect("the secret is known");
                    standardwebhooks::Webhook::new(&secret)
                        .unwrap()
                        .verify(body.as_bytes(), &headers)
                        .expect("the signature verifies");
                    let id = headers["webhook-id"].to_str().unwrap().to_string();
                    *rx.acknowledged.lock().unwrap().entry(id).or_default() += 1;
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (rx, port)
    }

    fn distinct(&self) -> usize {
        self.acknowledged.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize, server: &Server) {
        let start = Instant::now();
        while self.distinct() < n {
            assert!(
                start.elapsed() < BOUND,
                "{} of {n} events arrived:\n{}",
                self.distinct(),
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_events_arrive_once_across_a_receiver_outage_and_a_server_restart() {
    const PEOPLE: usize = 600;
    let dir = fresh_dir("webhooks");
    practice(&dir).await;
    let token_out = ok(rollcall(&dir).args([
        "tokens",
        "create",
        "--org",
        "acme",
        "--name",
        "Hooks",
        "--scopes",
        "users:read users:write",
        "--json",
    ]));
    let token = serde_json::from_str::<serde_json::Value>(&token_out).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (receiver, port) = Receiver::start(5).await;
    let serving = ["--webhooks-allow-private", "--drain-secs", "20"];
    let mut server = Server::start(&dir, &serving);
    server.wait_ready().await;
    let http = reqwest::Client::new();
    let made: serde_json::Value = http
        .post(server.url("/api/v1/webhooks"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "url": format!("http://127.0.0.1:{port}/hook"), "event_types": ["user.invited"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    *receiver.secret.lock().unwrap() = Some(made["secret"].as_str().expect("{made}").to_string());
    let roles: serde_json::Value = http
        .get(server.url("/api/v1/roles"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let addresses: Vec<String> = (0..PEOPLE)
        .map(|i| format!("hook{i}@acme.example"))
        .collect();
    let r = http
        .post(server.url("/api/v1/invitations/batch"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "hooks-1")
        .json(&serde_json::json!({
            "addresses": addresses.join("\n"), "location": "MAIN", "role": roles[0]["id"],
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    // Stopped while it delivers, started again: the rest arrive, nothing twice.
    receiver.wait_for(PEOPLE / 5, &server).await;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit {status}:\n{}", server.log());
    let at_stop = receiver.distinct();
    assert!(
        at_stop < PEOPLE,
        "the restart came after every event: nothing was proved"
    );
    let mut server = Server::start(&dir, &serving);
    server.wait_ready().await;
    receiver.wait_for(PEOPLE, &server).await;
    // A late duplicate would come within a poll or two.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acknowledged = receiver.acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), PEOPLE);
    let twice: Vec<_> = acknowledged.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(
        receiver.refused.load(std::sync::atomic::Ordering::SeqCst),
        5
    );
    drop(server);
}
