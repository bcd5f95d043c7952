//! Remote mode, run as the real binary against the real server (`rollcall demo` on a free
//! port): the token made on the server's database drives users, invitations, imports and tokens
//! through the API, scripts read `--output json`, and refusals are single clear lines.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    c.env("ROLLCALL_LOG", "warn")
        .env_remove("ROLLCALL_PUBLIC_URL")
        .env_remove("ROLLCALL_LISTEN")
        .env_remove("ROLLCALL_DATABASE_URL")
        .env_remove("ROLLCALL_URL")
        .env_remove("ROLLCALL_TOKEN");
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(o)))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The demo organization served on a free port from a fresh data directory; stopped and
/// removed when dropped.
struct Demo {
    dir: PathBuf,
    url: String,
    server: Child,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Demo {
    fn start() -> Demo {
        Demo::start_with(&[])
    }

    /// With options of `demo` (e.g. its rate limit).
    fn start_with(options: &[&str]) -> Demo {
        let dir = std::env::temp_dir().join(format!("rollcall-remote-{}", uuid::Uuid::now_v7()));
        let port = free_port();
        let server = bin()
            .arg("--data-dir")
            .arg(&dir)
            .args(["--listen", &format!("127.0.0.1:{port}"), "demo"])
            .args(options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let demo = Demo { dir, url, server };
        demo.wait_until_serving(port);
        demo
    }

    /// The port is taken before the database is ready: wait for an HTTP answer.
    fn wait_until_serving(&self, port: u16) {
        use std::io::{Read, Write};
        let start = Instant::now();
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                let mut answer = [0u8; 12];
                if s.write_all(b"GET /sign-in HTTP/1.0\r\n\r\n").is_ok()
                    && s.read_exact(&mut answer).is_ok()
                    && answer.starts_with(b"HTTP/1.")
                {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A command on the server's database (direct mode).
    fn direct(&self, args: &[&str]) -> Output {
        bin()
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// A service account's secret, made on the server's database.
    fn token(&self, name: &str, scopes: &str) -> String {
        let o = self.direct(&[
            "tokens",
            "create",
            "--org",
            "riverside",
            "--name",
            name,
            "--scopes",
            scopes,
            "--json",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        json(&o)["secret"].as_str().unwrap().to_string()
    }

    /// A command through the server's API with a token, from a directory with no database.
    fn remote(&self, token: &str, args: &[&str]) -> Output {
        let o = bin()
            .current_dir(std::env::temp_dir())
            .args(["--data-dir", "/nonexistent/rollcall-remote"])
            .args(["--url", &self.url, "--token", token])
            .args(args)
            .output()
            .unwrap();
        assert!(!text(&o).contains(token), "the token is never printed");
        o
    }

    fn file(&self, name: &str, content: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_string()
    }
}

const CI_SCOPES: &str = "users:read users:write tokens:write";

#[tokio::test]
async fn users_are_listed_shown_deactivated_and_reactivated_through_the_api_and_audited_as_the_token()
 {
    let demo = Demo::start();
    let token = demo.token("ci", CI_SCOPES);
    let count = every_page_is_listed(&demo, &token);
    let viewer_id = the_viewer_is_deactivated_and_reactivated(&demo, &token);

    // The server audited both changes to the token's name.
    let audit: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/audit?target={viewer_id}", demo.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actors: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().contains("activat"))
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors.len(), 2, "deactivated and reactivated: {audit}");
    assert!(actors.iter().all(|a| a.contains("“ci”")), "{actors:?}");

    // The same commands on the server's database, as the operator.
    let o = demo.direct(&["users", "list", "--org", "riverside", "--output", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&o).as_array().unwrap().len(), count);
    let viewer = "viewer@riverside.example";
    let o = demo.direct(&["users", "deactivate", "--org", "riverside", viewer]);
    assert!(o.status.success(), "{}", text(&o));
    let o = demo.direct(&["users", "show", "--org", "riverside", viewer]);
    assert!(text(&o).contains("status:     inactive"), "{}", text(&o));
    let args = ["users", "reactivate", "--org", "riverside", viewer];
    let o = demo.direct(&[&args[..], &["--output", "json"]].concat());
    assert_eq!(json(&o)["status"], "active", "{}", text(&o));
}

/// Lists every user as JSON across pages, and a few as text; answers how many there are.
fn every_page_is_listed(demo: &Demo, token: &str) -> usize {
    // Two more than the demo's 200, so the list takes two pages of the API's largest (200).
    let list = demo.file(
        "two.txt",
        "one.more@riverside.example two.more@riverside.example",
    );
    let args = ["invite", "--org", "riverside", "--file", &list];
    let o = demo.direct(&[&args[..], &["--location", "DT", "--role", "Front Desk"]].concat());
    assert!(o.status.success(), "{}", text(&o));

    let o = demo.remote(token, &["users", "list", "--output", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let users = json(&o);
    let users = users.as_array().expect("a JSON array of users");
    assert_eq!(users.len(), 202, "every page is followed");
    let ids: std::collections::HashSet<&str> =
        users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), users.len(), "no user twice across pages");

    let o = demo.remote(
        token,
        &["users", "list", "--status", "active", "--limit", "3"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let lines = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    assert!(lines.lines().all(|l| l.contains(" active ")), "{lines}");
    users.len()
}

/// Shows, deactivates and reactivates the demo's viewer by address; answers their id.
fn the_viewer_is_deactivated_and_reactivated(demo: &Demo, token: &str) -> String {
    let viewer = "Viewer@Riverside.example";
    let o = demo.remote(token, &["users", "show", viewer]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("<viewer@riverside.example>"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("status:     active"), "{}", text(&o));

    let o = demo.remote(token, &["users", "deactivate", viewer]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Deactivated"), "{}", text(&o));
    let o = demo.remote(token, &["users", "show", viewer, "--output", "json"]);
    let profile = json(&o);
    assert_eq!(profile["status"], "inactive", "{profile}");
    let viewer_id = profile["id"].as_str().unwrap().to_string();
    let o = demo.remote(token, &["users", "deactivate", &viewer_id]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stderr(&o).contains("already inactive"), "{}", text(&o));

    let o = demo.remote(token, &["users", "reactivate", &viewer_id]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Reactivated"), "{}", text(&o));
    let o = demo.remote(token, &["users", "show", viewer, "--output", "json"]);
    assert_eq!(json(&o)["status"], "active");

    let o = demo.remote(token, &["users", "show", "nobody@riverside.example"]);
    assert_eq!(o.status.code(), Some(1));
    let nobody = "no user with the address “nobody@riverside.example”";
    assert!(stderr(&o).contains(nobody), "{}", stderr(&o));
    viewer_id
}

#[test]
fn invitations_through_the_api_tell_success_partial_success_and_failure_apart() {
    let demo = Demo::start();
    let token = demo.token("ci", CI_SCOPES);
    let invite = |addresses: &str| {
        let file = demo.file("addresses.txt", addresses);
        let args = [
            "invite",
            "--file",
            &file,
            "--location",
            "DT",
            "--role",
            "Front Desk",
        ];
        demo.remote(&token, &args)
    };
    let o = invite("new.hire@riverside.example");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let invited = "Invited 1 to Downtown Clinic as Front Desk";
    assert!(text(&o).contains(invited), "{}", text(&o));
    let o = invite("not-an-address");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let named = "Not invited (1):\n  not-an-address: “not-an-address” is not an email address";
    assert!(text(&o).contains(named), "{}", text(&o));
    assert!(
        stderr(&o).contains("error: nobody was invited"),
        "{}",
        text(&o)
    );
    let o = invite("second.hire@riverside.example not-an-address");
    assert_eq!(o.status.code(), Some(3), "one of two: {}", text(&o));
    assert!(stderr(&o).contains("partly done"), "{}", text(&o));

    let file = demo.file("more.txt", "third.hire@riverside.example");
    let args = [
        "invite",
        "--file",
        &file,
        "--location",
        "DT",
        "--role",
        "Chef",
    ];
    let o = demo.remote(&token, &args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("no role “Chef”; the organization has"),
        "{}",
        text(&o)
    );
}

#[test]
fn imports_and_tokens_through_the_api_tell_success_partial_success_and_failure_apart() {
    let demo = Demo::start();
    let token = demo.token("ci", CI_SCOPES);
    let good = demo.file(
        "good.csv",
        "first_name,last_name,email\nAda,Ng,ada.ng@riverside.example\nBo,Li,bo.li@riverside.example\n",
    );
    let import = |file: &str, extra: &[&str]| {
        let args = ["import", file, "--roles", "Front Desk", "--location", "DT"];
        demo.remote(&token, &[&args[..], extra].concat())
    };
    let o = import(&good, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("2 rows read: 2 can be imported"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("Dry run: nothing was created."),
        "{}",
        text(&o)
    );
    let o = import(&good, &["--output", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let answer = json(&o);
    assert_eq!(answer["result"]["outcome"], "succeeded", "{answer}");
    assert_eq!(answer["review"]["summary"]["rows"], 2, "{answer}");
    let o = demo.remote(&token, &["users", "show", "ada.ng@riverside.example"]);
    assert!(text(&o).contains("status:     pending"), "{}", text(&o));

    // A row in error: the others are imported and the command ends partly done (3).
    let bad = demo.file(
        "bad.csv",
        "first_name,last_name,email\nCy,Oh,cy.oh@riverside.example\nDee,Ma,not-an-address\n",
    );
    let o = import(&bad, &["--dry-run"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a dry run with errors fails: {}",
        text(&o)
    );
    assert!(stderr(&o).contains("1 rows are in error"), "{}", text(&o));
    let o = import(&bad, &[]);
    assert_eq!(o.status.code(), Some(3), "a row in error: {}", text(&o));
    assert!(text(&o).contains("1 in error"), "{}", text(&o));
    assert!(
        text(&o).contains("line 3 email:"),
        "names the line: {}",
        text(&o)
    );
    assert!(stderr(&o).contains("partly done"), "{}", text(&o));

    let o = demo.remote(&token, &["tokens", "list", "--output", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let tokens = json(&o);
    let names: Vec<&str> = tokens
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ci"], "{tokens}");
    let args = [
        "tokens",
        "create",
        "--name",
        "nightly",
        "--scopes",
        "users:read",
        "--json",
    ];
    let o = demo.remote(&token, &args);
    assert!(o.status.success(), "{}", text(&o));
    let id = json(&o)["token"]["id"].as_str().unwrap().to_string();
    let o = demo.remote(&token, &["tokens", "revoke", &id]);
    assert!(text(&o).contains("Revoked “nightly”"), "{}", text(&o));
}

#[test]
fn refusals_are_clear_lines_on_stderr_and_exit_1() {
    let demo = Demo::start();
    let reader = demo.token("reader", "users:read");
    let o = demo.remote(
        &reader,
        &["users", "deactivate", "viewer@riverside.example"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    let refusal = stderr(&o);
    assert!(refusal.starts_with("error: "), "{refusal}");
    assert!(
        refusal.contains("needs the users:write scope"),
        "the server's: {refusal}"
    );

    let o = demo.remote("rollcall_sa_wrong", &["users", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the token was refused ("),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    // Field errors: one line each, naming the field.
    let o = demo.remote(&reader, &["users", "list", "--status", "sleeping"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: status: "), "{}", stderr(&o));

    let o = demo.remote(&reader, &["users", "list", "--org", "harbour"]);
    assert_eq!(o.status.code(), Some(1));
    let other = "the token belongs to “Riverside Therapy Group”";
    assert!(stderr(&o).contains(other), "{}", stderr(&o));
    let o = demo.remote(
        &reader,
        &["users", "list", "--org", "riverside", "--limit", "1"],
    );
    assert!(o.status.success(), "{}", text(&o));

    let o = demo.remote(&reader, &["seats", "show", "--org", "riverside"]);
    assert_eq!(o.status.code(), Some(1));
    let only = "works on the server's database only";
    assert!(stderr(&o).contains(only), "{}", stderr(&o));

    let o = bin()
        .args(["--token", &reader, "users", "list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let needs_url = "error: --token works with --url (or ROLLCALL_URL)";
    assert!(stderr(&o).contains(needs_url), "{}", stderr(&o));

    // An address nobody answers at, from the environment.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let o = bin()
        .env("ROLLCALL_URL", &closed)
        .env("ROLLCALL_TOKEN", &reader)
        .args(["users", "list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let t = stderr(&o);
    assert!(
        t.contains(&format!("cannot reach the server at {closed}")),
        "{t}"
    );
    assert!(t.contains("check --url"), "{t}");
    assert_eq!(t.lines().count(), 1, "{t}");
    assert!(!t.contains(&reader));
}

#[tokio::test]
async fn a_script_over_the_rate_limit_waits_as_the_server_says_and_goes_on() {
    let demo = Demo::start_with(&["--api-rate-limit", "60"]);
    let token = demo.token("ci", CI_SCOPES);
    // Another client spends the token's whole allowance.
    let http = reqwest::Client::new();
    let mut sent = 0;
    loop {
        let res = http
            .get(format!("{}/api/v1/me", demo.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if res.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        sent += 1;
        assert!(sent < 1_000, "the limit never answered 429");
    }
    let o = demo.remote(&token, &["users", "show", "viewer@riverside.example"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("<viewer@riverside.example>"),
        "{}",
        text(&o)
    );
    let waited = "The server's rate limit is reached: waiting";
    assert!(stderr(&o).contains(waited), "{}", stderr(&o));
}
