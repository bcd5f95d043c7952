//! What a newcomer meets first, run as the real binary: the messages of a wrong database, a
//! taken port, the template on a redirected stdout, ignored columns, and links made by the
//! process that sends the message.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::mailbox_message;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    c.env("ROLLCALL_LOG", "warn")
        .env_remove("ROLLCALL_PUBLIC_URL")
        .env_remove("ROLLCALL_LISTEN")
        .env_remove("ROLLCALL_DATABASE_URL");
    c
}

fn rollcall(dir: &Path, args: &[&str]) -> Output {
    bin()
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run rollcall")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn fresh_dir() -> PathBuf {
    std::env::temp_dir().join(format!("rollcall-first-{}", rollcall_store::new_id()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A serving process, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the server answers HTTP: the port is taken before the database is ready, so an
/// open port alone does not mean it serves.
fn wait_until_serving(port: u16) {
    use std::io::Read;
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
            start.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_unreachable_database_is_named_within_seconds() {
    let dir = fresh_dir();
    let start = Instant::now();
    let o = rollcall(
        &dir,
        &[
            "--database-url",
            "postgres://postgres@127.0.0.1:5999/rollcall",
            "migrate",
        ],
    );
    assert!(!o.status.success());
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "gave up after {:?}",
        start.elapsed()
    );
    let t = text(&o);
    assert!(
        t.contains("cannot connect to PostgreSQL at 127.0.0.1:5999 (database rollcall)"),
        "{t}"
    );
    assert!(t.contains("refused"), "says why: {t}");
    assert_eq!(t.lines().count(), 1, "one line: {t}");
    assert!(!dir.exists(), "no data directory is made for PostgreSQL");

    let o = rollcall(
        &dir,
        &[
            "--database-url",
            "sqlite:///no/such/dir/rollcall.db",
            "migrate",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("the directory /no/such/dir does not exist"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_taken_port_is_said_first_with_how_to_choose_another() {
    let dir = fresh_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = rollcall(&dir, &["demo", "--listen", &addr]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains(&format!(
            "cannot listen on {addr}: another program already uses this port"
        )),
        "{t}"
    );
    assert!(t.contains("--listen"), "says how to choose another: {t}");
    assert!(
        !t.contains("sign in"),
        "announces nothing it cannot serve: {t}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_template_alone_reaches_a_redirected_stdout_and_needs_no_database() {
    let dir = fresh_dir();
    let o = bin()
        .arg("--data-dir")
        .arg(&dir)
        .args(["import", "--template"])
        .env("ROLLCALL_LOG", "info")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        rollcall_app::domain::import::template()
    );
    assert!(!dir.exists(), "printing the template creates no database");
}

#[test]
fn subcommand_help_lists_only_its_own_options() {
    let o = bin().args(["invite", "--help"]).output().unwrap();
    let t = text(&o);
    assert!(!t.contains("--smtp"), "{t}");
    assert!(
        t.contains("--org <ORG>\n          The organization's short code"),
        "{t}"
    );
    let o = bin().args(["serve", "--help"]).output().unwrap();
    assert!(text(&o).contains("--smtp-host"), "{}", text(&o));
    let o = bin().args(["seats", "set", "--help"]).output().unwrap();
    assert!(
        text(&o).contains("How many accounts may hold a seat"),
        "{}",
        text(&o)
    );
}

fn setup_org(dir: &Path) {
    for args in [
        &["org", "create", "harbour", "--name", "Harbour Physio"][..],
        &[
            "location",
            "create",
            "--org",
            "harbour",
            "--name",
            "Quay Clinic",
            "--code",
            "QC",
        ],
    ] {
        let o = rollcall(dir, args);
        assert!(o.status.success(), "{}", text(&o));
    }
}

#[test]
fn import_warns_that_access_columns_are_ignored_and_a_dry_run_with_errors_fails() {
    let dir = fresh_dir();
    setup_org(&dir);
    let file = dir.join("staff.csv");
    std::fs::write(
        &file,
        "first_name,last_name,email,default_location,roles,permissions\n\
         Ada,Ng,ada@harbour.example,QC,Provider,calendar.view\n\
         Bo,Li,bo@harbour.example,QC,,\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let o = rollcall(&dir, &["import", path, "--org", "harbour", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = rollcall(
        &dir,
        &["import", path, "--org", "harbour", "--roles", "Front Desk"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(
            "warning: 1 rows fill the roles, permissions or locations column; they get the roles chosen for everyone instead and those columns are ignored"
        ),
        "{}",
        text(&o)
    );

    std::fs::write(&file, "first_name,last_name,email\nCy,Oh,not-an-address\n").unwrap();
    let o = rollcall(&dir, &["import", path, "--org", "harbour", "--dry-run"]);
    assert!(!o.status.success(), "a dry run with rows in error fails");
    assert!(text(&o).contains("1 rows are in error"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn messages_queued_by_the_cli_carry_the_sending_servers_address_and_name_the_inviter() {
    let dir = fresh_dir();
    let port = free_port();
    // The server (and the demo organization) first, on the address people use.
    let server = Server(
        bin()
            .arg("--data-dir")
            .arg(&dir)
            .args(["--public-url", "https://staff.riverside.example/"])
            .args(["--listen", &format!("127.0.0.1:{port}"), "demo"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_serving(port);

    // Another process queues the invitations, knowing no public address.
    let invite = |inviter: Option<&str>, address: &str| {
        let mut c = bin();
        c.arg("--data-dir").arg(&dir).args([
            "invite",
            "--org",
            "riverside",
            "--file",
            "-",
            "--location",
            "DT",
            "--role",
            "Front Desk",
        ]);
        if let Some(i) = inviter {
            c.args(["--inviter", i]);
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(address.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    invite(
        Some("admin@riverside.example"),
        "new.hire@riverside.example",
    );
    invite(None, "second.hire@riverside.example");

    let named = mailbox_message(&dir, "new.hire@riverside.example").await;
    assert_eq!(
        named.subject,
        "Morgan Reed invited you to Riverside Therapy Group"
    );
    assert!(
        named
            .body_text
            .contains("https://staff.riverside.example/register/"),
        "{}",
        named.body_text
    );
    assert!(
        named
            .body_html
            .as_deref()
            .unwrap()
            .contains("href=\"https://staff.riverside.example/register/"),
        "the HTML link too"
    );
    assert!(
        !named.body_text.contains("127.0.0.1"),
        "{}",
        named.body_text
    );

    let unnamed = mailbox_message(&dir, "second.hire@riverside.example").await;
    assert_eq!(
        unnamed.subject,
        "You are invited to join Riverside Therapy Group"
    );
    assert!(
        !unnamed.body_text.contains("operator"),
        "{}",
        unnamed.body_text
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_codes_tell_partial_success_from_success_and_failure_and_tokens_are_made_for_scripts() {
    let dir = fresh_dir();
    setup_org(&dir);
    let file = dir.join("staff.csv");
    std::fs::write(
        &file,
        "first_name,last_name,email\nAda,Ng,ada@harbour.example\nCy,Oh,not-an-address\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let o = rollcall(
        &dir,
        &[
            "import",
            path,
            "--org",
            "harbour",
            "--roles",
            "Front Desk",
            "--location",
            "QC",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "a partial import: {}", text(&o));
    assert!(text(&o).contains("partly done"), "{}", text(&o));

    let list = dir.join("addresses.txt");
    let invite = |addresses: &str| {
        std::fs::write(&list, addresses).unwrap();
        let args = [
            "invite",
            "--org",
            "harbour",
            "--file",
            list.to_str().unwrap(),
            "--location",
            "QC",
            "--role",
            "Front Desk",
        ];
        rollcall(&dir, &args)
    };
    let o = invite("bo@harbour.example ada@harbour.example");
    assert_eq!(o.status.code(), Some(3), "one of two invited: {}", text(&o));
    let o = invite("ada@harbour.example");
    assert_eq!(o.status.code(), Some(1), "nobody invited: {}", text(&o));

    let o = rollcall(
        &dir,
        &[
            "tokens",
            "create",
            "--org",
            "harbour",
            "--name",
            "HR sync",
            "--scopes",
            "users:read",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let issued: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        issued["secret"]
            .as_str()
            .unwrap()
            .starts_with("rollcall_sa_")
    );
    assert_eq!(issued["token"]["owner"], "organization");
    let id = issued["token"]["id"].as_str().unwrap();
    let o = rollcall(&dir, &["tokens", "revoke", "--org", "harbour", id]);
    assert!(o.status.success(), "{}", text(&o));
    let o = rollcall(&dir, &["tokens", "list", "--org", "harbour", "--json"]);
    let tokens: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(tokens[0]["state"], "revoked", "{tokens}");
    let _ = std::fs::remove_dir_all(&dir);
}
