//! Audit retention at the command line: older events moved into signed archive files, the chain
//! verified across the archives and the live table, an edited or missing archive caught and
//! named, bad input refused without changing anything, and the retention period. On SQLite, and
//! on PostgreSQL when `ROLLCALL_TEST_POSTGRES_URL` is set.

mod support;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rollcall_app::audit::AuditParams;
use rollcall_store::testing::TestDb;

fn rollcall(dir: &Path, url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    c.arg("--data-dir")
        .arg(dir)
        .arg("--database-url")
        .arg(url)
        .env("ROLLCALL_LOG", "warn")
        .env_remove("ROLLCALL_SECRET_KEY_FILE")
        .env("ROLLCALL_SECRET_KEY", support::SECRET_KEY);
    c
}

/// The configuration of an application opened beside the commands: their secret key.
fn config(url: &str) -> rollcall_app::Config {
    let mut c = rollcall_app::Config::for_tests(url.to_string());
    c.secret_keys = rollcall_app::vault::KeySource::Given(vec![support::SECRET_KEY.into()]);
    c
}

/// Exit status and everything the command printed.
fn run(c: &mut Command) -> (Option<i32>, String) {
    let o = c.output().expect("run rollcall");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), text)
}

fn ok(c: &mut Command) -> String {
    let (code, text) = run(c);
    assert_eq!(code, Some(0), "{text}");
    text
}

fn fails(c: &mut Command) -> String {
    let (code, text) = run(c);
    assert_eq!(code, Some(1), "should fail: {text}");
    text
}

/// A moment strictly between the events written before and after it.
async fn boundary() -> String {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let at = rollcall_app::clock::rfc3339(rollcall_store::now_micros());
    tokio::time::sleep(Duration::from_millis(20)).await;
    at
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// The range after `label` in `text`: `Archived events 1–9` → (1, 9).
fn range_in(text: &str, label: &str) -> (i64, i64) {
    let rest = &text[text
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {text}"))
        + label.len()..];
    let (a, rest) = rest.split_once('–').unwrap();
    let b: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    (a.trim().parse().unwrap(), b.parse().unwrap())
}

/// Edits event `seq` and recomputes its hash and every later one's, and the header's last hash,
/// as someone who knows the chain's rule (but not the signing key) would.
fn forge_event(file: &Path, seq: i64, label: &str) {
    use rollcall_store::audit::{Event, NewEvent};
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().map(String::from);
    let id = |v: &serde_json::Value, k: &str| s(v, k).map(|x| x.parse().unwrap());
    let mut prev: Option<String> = None;
    let mut last = String::new();
    for v in lines.iter_mut().filter(|v| v.get("hash").is_some()) {
        let this = v["seq"].as_i64().unwrap();
        if this == seq {
            v["actor_label"] = label.into();
        }
        if let Some(p) = &prev {
            v["prev_hash"] = p.clone().into();
        }
        let e = Event {
            seq: this,
            id: id(v, "id").unwrap(),
            at: v["at"].as_i64().unwrap(),
            event: NewEvent {
                actor_id: id(v, "actor_id"),
                actor_label: s(v, "actor_label").unwrap(),
                action: s(v, "action").unwrap(),
                target_type: s(v, "target_type").unwrap(),
                target_id: id(v, "target_id"),
                before: s(v, "before"),
                after: s(v, "after"),
                request_id: s(v, "request_id"),
                source_ip: s(v, "source_ip"),
            },
            prev_hash: s(v, "prev_hash").unwrap(),
            hash: String::new(),
        };
        if this >= seq {
            v["hash"] = e.computed_hash().into();
            prev = s(v, "hash");
        }
        last = s(v, "hash").unwrap();
    }
    lines[0]["last_hash"] = last.into();
    let out: String = lines
        .iter()
        .map(|v| serde_json::to_string(v).unwrap() + "\n")
        .collect();
    std::fs::write(file, out).unwrap();
}

/// Rewrites the line of event `seq` in an archive with `edit`.
fn edit_event(file: &Path, seq: i64, edit: impl Fn(&mut serde_json::Value)) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = String::new();
    let mut found = false;
    for line in text.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v.get("seq").and_then(|s| s.as_i64()) == Some(seq) && v.get("hash").is_some() {
            edit(&mut v);
            found = true;
            out.push_str(&serde_json::to_string(&v).unwrap());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert!(found, "event {seq} is in {}", file.display());
    std::fs::write(file, out).unwrap();
}

async fn archive_verify_and_catch_damage(url: &str) {
    let dir = std::env::temp_dir().join(format!("rollcall-archive-{}", rollcall_store::new_id()));
    let archives = dir.join("archives");
    std::fs::create_dir_all(&archives).unwrap();
    let cli = || rollcall(&dir, url);
    ok(cli().args(["org", "create", "lakeside", "--name", "Lakeside Physio"]));
    ok(cli().args(["org", "create", "other", "--name", "Other Clinic"]));
    ok(cli().args([
        "location", "create", "--org", "lakeside", "--name", "Harbour", "--code", "HB",
    ]));
    ok(cli().args([
        "admin",
        "create",
        "--org",
        "lakeside",
        "--email",
        "lead@lakeside.example",
        "--first-name",
        "Lee",
        "--last-name",
        "Ward",
    ]));
    let first_cut = boundary().await;
    ok(cli().args([
        "location", "create", "--org", "lakeside", "--name", "North", "--code", "NO",
    ]));

    // Bad input says what is wrong and changes nothing.
    let a = archives.join("2020-a.jsonl");
    let a_arg = a.to_str().unwrap();
    let out = fails(cli().args(["audit", "archive", "--before", &first_cut, a_arg]));
    assert!(
        out.contains("2 organizations: say which with --org"),
        "{out}"
    );
    let out = fails(cli().args([
        "audit",
        "archive",
        "--org",
        "lakeside",
        "--before",
        "31/01/2020",
        a_arg,
    ]));
    assert!(
        out.contains("“31/01/2020” is not a date: give --before as 2020-01-31"),
        "{out}"
    );
    let out = fails(cli().args([
        "audit",
        "archive",
        "--org",
        "lakeside",
        "--before",
        "2999-01-01",
        a_arg,
    ]));
    assert!(out.contains("is in the future"), "{out}");
    let out = fails(cli().args([
        "audit", "archive", "--org", "nowhere", "--before", &first_cut, a_arg,
    ]));
    assert!(out.contains("No organization “nowhere”"), "{out}");
    let out = fails(cli().args([
        "audit",
        "archive",
        "--org",
        "lakeside",
        "--before",
        "2001-01-01",
        a_arg,
    ]));
    assert!(out.contains("nothing to archive"), "{out}");
    let not_a_dir = dir.join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let out = fails(cli().args([
        "audit",
        "archive",
        "--org",
        "lakeside",
        "--before",
        &first_cut,
        not_a_dir.join("a.jsonl").to_str().unwrap(),
    ]));
    assert!(out.contains("is not an existing directory"), "{out}");
    let locked = dir.join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    // A privileged user writes anyway: the refusal is only observable without privileges.
    if std::fs::write(locked.join("probe"), "x").is_err() {
        let out = fails(cli().args([
            "audit",
            "archive",
            "--org",
            "lakeside",
            "--before",
            &first_cut,
            locked.join("a.jsonl").to_str().unwrap(),
        ]));
        assert!(
            out.contains(
                "permission denied. Give a directory the user running rollcall can write to"
            ),
            "{out}"
        );
        assert!(files_in(&locked).is_empty(), "no partial file is left");
    }
    let existing = archives.join("notes.txt");
    std::fs::write(&existing, "operator notes\n").unwrap();
    let out = fails(cli().args([
        "audit",
        "archive",
        "--org",
        "lakeside",
        "--before",
        &first_cut,
        existing.to_str().unwrap(),
    ]));
    assert!(
        out.contains("notes.txt already exists: give a new file name"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&existing).unwrap(),
        "operator notes\n",
        "never overwritten"
    );
    assert_eq!(files_in(&archives), vec!["notes.txt"], "nothing written");
    let out = ok(cli().args(["audit", "verify", "--org", "lakeside"]));
    assert!(
        out.contains("chain intact") && !out.contains("archived"),
        "{out}"
    );

    // The first archive.
    let out = ok(cli().args([
        "audit", "archive", "--org", "lakeside", "--before", &first_cut, a_arg,
    ]));
    let (first, last_a) = range_in(&out, "Archived events ");
    assert_eq!(first, 1, "{out}");
    assert!(last_a >= 3, "{out}");
    let out = ok(cli().args(["audit", "verify", "--org", "lakeside"]));
    assert!(out.contains("chain intact"), "{out}");
    assert!(
        out.contains(&format!("({last_a} older events are archived")),
        "{out}"
    );
    let out = ok(cli().args(["audit", "verify", "--archives", archives.to_str().unwrap()]));
    assert!(
        out.contains("lakeside: chain intact across 1 archive"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "archive 2020-a.jsonl: events 1–{last_a}, signature valid"
        )),
        "{out}"
    );
    assert!(
        out.contains("other: chain intact across 0 archives"),
        "{out}"
    );
    assert!(
        out.contains("(skipped notes.txt: not an audit archive)"),
        "{out}"
    );
    // Archiving the same range again is refused, the file untouched.
    let before_bytes = std::fs::read(&a).unwrap();
    let out = fails(cli().args([
        "audit", "archive", "--org", "lakeside", "--before", &first_cut, a_arg,
    ]));
    assert!(out.contains("which are already archived"), "{out}");
    assert_eq!(std::fs::read(&a).unwrap(), before_bytes);

    // A second archive continues the chain.
    ok(cli().args([
        "location", "create", "--org", "lakeside", "--name", "South", "--code", "SO",
    ]));
    let second_cut = boundary().await;
    ok(cli().args([
        "location", "create", "--org", "lakeside", "--name", "East", "--code", "EA",
    ]));
    let b = archives.join("2020-b.jsonl");
    let out = ok(cli().args([
        "audit",
        "archive",
        "--org",
        "lakeside",
        "--before",
        &second_cut,
        b.to_str().unwrap(),
    ]));
    let (first_b, last_b) = range_in(&out, "Archived events ");
    assert_eq!(first_b, last_a + 1, "{out}");
    let out = ok(cli().args([
        "audit",
        "verify",
        "--org",
        "lakeside",
        "--archives",
        archives.to_str().unwrap(),
    ]));
    assert!(
        out.contains(&format!("chain intact across 2 archives ({last_b} events)")),
        "{out}"
    );

    // The audit log (console page and API) lists the live events only, newest first.
    let app = rollcall_app::App::start(config(url)).await.unwrap();
    let org = rollcall_app::org::find(&app, "lakeside").await.unwrap();
    let who = rollcall_app::Principal::operator(&app, org.id, "test")
        .await
        .unwrap();
    let page = rollcall_app::audit::list(&app, &who, &AuditParams::default())
        .await
        .unwrap();
    assert!(!page.events.is_empty());
    assert!(
        page.events.iter().all(|e| e.seq > last_b),
        "only live events: {:?}",
        page.events.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    assert!(page.events.iter().any(|e| e.action == "audit.archived"));
    assert!(
        page.events
            .iter()
            .any(|e| e.action == "location.created" && e.seq == last_b + 1),
        "the event after the cut is live"
    );
    drop(app);

    // An archived event edited in the file: the archive and the event are named.
    let kept = std::fs::read(&a).unwrap();
    edit_event(&a, 2, |v| v["actor_label"] = "someone else".into());
    let (code, out) = run(cli().args([
        "audit",
        "verify",
        "--org",
        "lakeside",
        "--archives",
        archives.to_str().unwrap(),
    ]));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("archive 2020-a.jsonl: event 2: content was changed after it was written"),
        "{out}"
    );
    assert!(
        out.contains("archive 2020-a.jsonl: the signature does not match"),
        "{out}"
    );
    assert!(out.contains("the audit trail does not verify"), "{out}");
    std::fs::write(&a, &kept).unwrap();

    // Forged with the chain recomputed after the edit, so the archive's own chain holds: the
    // signature and the join with the next archive still catch it.
    forge_event(&a, 2, "someone else");
    let (code, out) = run(cli().args([
        "audit",
        "verify",
        "--org",
        "lakeside",
        "--archives",
        archives.to_str().unwrap(),
    ]));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        !out.contains("event 2: content was changed"),
        "the forged chain is consistent in itself: {out}"
    );
    assert!(
        out.contains("archive 2020-a.jsonl: the signature does not match"),
        "{out}"
    );
    assert!(
        out.contains("2020-b.jsonl does not continue the chain from event"),
        "{out}"
    );
    std::fs::write(&a, &kept).unwrap();

    // An archive deleted: the gap is reported.
    let away = dir.join("2020-a.jsonl");
    std::fs::rename(&a, &away).unwrap();
    let (code, out) = run(cli().args([
        "audit",
        "verify",
        "--org",
        "lakeside",
        "--archives",
        archives.to_str().unwrap(),
    ]));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "events 1–{last_a} are in no archive in this directory: an archive was deleted or moved"
        )),
        "{out}"
    );
    // The live table alone still verifies: it continues from the anchor.
    ok(cli().args(["audit", "verify", "--org", "lakeside"]));
    std::fs::rename(&away, &a).unwrap();
    ok(cli().args([
        "audit",
        "verify",
        "--org",
        "lakeside",
        "--archives",
        archives.to_str().unwrap(),
    ]));

    // The retention period: six years unless changed, never less.
    let out = ok(cli().args(["audit", "retention", "--org", "lakeside"]));
    assert!(
        out.contains("Lakeside Physio keeps audit events 6 years."),
        "{out}"
    );
    let out = fails(cli().args(["audit", "retention", "--org", "lakeside", "--years", "5"]));
    assert!(out.contains("give --years between 6 and 100"), "{out}");
    let out = ok(cli().args(["audit", "retention", "--org", "lakeside", "--years", "8"]));
    assert!(
        out.contains("now keeps audit events 8 years (was 6)"),
        "{out}"
    );
    let out = ok(cli().args([
        "audit",
        "verify",
        "--org",
        "lakeside",
        "--archives",
        archives.to_str().unwrap(),
    ]));
    assert!(out.contains("(8 years)"), "{out}");

    // Archives are dropped only once kept the retention period, oldest first, and only from a
    // chain that verifies.
    let dir_arg = archives.to_str().unwrap();
    let out = ok(cli().args([
        "audit",
        "expire",
        "--org",
        "lakeside",
        "--archives",
        dir_arg,
    ]));
    assert!(
        out.contains(
            "Nothing was dropped: no archive of Lakeside Physio has been kept 8 years yet."
        ),
        "{out}"
    );
    assert!(out.contains("2020-a.jsonl is kept until"), "{out}");
    assert!(a.exists() && b.exists());
    std::fs::rename(&a, &away).unwrap();
    let out = fails(cli().args([
        "audit",
        "expire",
        "--org",
        "lakeside",
        "--archives",
        dir_arg,
    ]));
    assert!(
        out.contains("does not verify, so nothing was dropped"),
        "{out}"
    );
    assert!(b.exists());
    std::fs::rename(&away, &a).unwrap();
    let app = rollcall_app::App::start(config(url)).await.unwrap();
    app.clock.advance_minutes(9 * 366 * 24 * 60);
    let done = rollcall_app::audit::archive::expire(
        &app,
        "lakeside",
        &archives,
        &rollcall_app::audit::Meta::system("test"),
    )
    .await
    .unwrap();
    assert_eq!(done.dropped.len(), 2, "{done:?}");
    assert!(!a.exists() && !b.exists());
    drop(app);
    let out = ok(cli().args([
        "audit",
        "verify",
        "--org",
        "lakeside",
        "--archives",
        dir_arg,
    ]));
    assert!(out.contains("chain intact across 0 archives"), "{out}");
    assert!(
        out.contains(&format!(
            "events 1–{last_b} were dropped after the retention period"
        )),
        "{out}"
    );
    let out = ok(cli().args(["audit", "verify", "--org", "lakeside"]));
    assert!(out.contains("chain intact"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_archive_then_verify_catches_an_edited_or_missing_archive() {
    let db = TestDb::sqlite().await;
    archive_verify_and_catch_damage(&db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_archive_then_verify_catches_an_edited_or_missing_archive() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    archive_verify_and_catch_damage(&db.url()).await;
}

fn copy_database(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let (src, dst) = (
            PathBuf::from(format!("{}{suffix}", from.display())),
            PathBuf::from(format!("{}{suffix}", to.display())),
        );
        let _ = std::fs::remove_file(&dst);
        if src.exists() {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A run stopped after the archive was written and before the events left the live table
/// (here: the database put back as it was before the run) loses nothing: verify says what
/// happened, and running again with the same file finishes the move.
#[tokio::test]
async fn a_run_stopped_before_removing_the_events_is_finished_by_running_it_again() {
    let dir = std::env::temp_dir().join(format!("rollcall-archive-{}", rollcall_store::new_id()));
    std::fs::create_dir_all(dir.join("archives")).unwrap();
    let db_file = dir.join("rollcall.db");
    let url = format!("sqlite://{}", db_file.display());
    let cli = || rollcall(&dir, &url);
    ok(cli().args(["org", "create", "lakeside", "--name", "Lakeside Physio"]));
    let cut = boundary().await;
    ok(cli().args([
        "location", "create", "--org", "lakeside", "--name", "Harbour", "--code", "HB",
    ]));
    let a = dir.join("archives/a.jsonl");
    ok(cli().args(["audit", "archive", "--before", &cut, a.to_str().unwrap()]));
    ok(cli().args([
        "location", "create", "--org", "lakeside", "--name", "North", "--code", "NO",
    ]));
    let cut = boundary().await;
    let snapshot = dir.join("snapshot.db");
    copy_database(&db_file, &snapshot);
    let b = dir.join("archives/b.jsonl");
    let out = ok(cli().args(["audit", "archive", "--before", &cut, b.to_str().unwrap()]));
    let (first_b, last_b) = range_in(&out, "Archived events ");
    copy_database(&snapshot, &db_file);

    let archives = dir.join("archives");
    let (code, out) =
        run(cli().args(["audit", "verify", "--archives", archives.to_str().unwrap()]));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "events {first_b}–{last_b} are in an archive and still in the live table: an archive run did not finish; run `rollcall audit archive` again with the same file"
        )),
        "{out}"
    );
    let out = ok(cli().args(["audit", "archive", "--before", &cut, b.to_str().unwrap()]));
    assert!(
        out.contains("was already written by an earlier run"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Archived events {first_b}–{last_b}")),
        "{out}"
    );
    let out = ok(cli().args(["audit", "verify", "--archives", archives.to_str().unwrap()]));
    assert!(out.contains("chain intact across 2 archives"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
