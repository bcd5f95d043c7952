//! The operator's commands, run as the real binary on a fresh data directory.

use std::process::{Command, Output};

fn rollcall(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("ROLLCALL_LOG", "warn")
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

#[tokio::test]
async fn install_commands_then_audit_verify_catches_tampering() {
    let dir = std::env::temp_dir().join(format!("rollcall-cli-{}", rollcall_store::new_id()));
    let o = rollcall(
        &dir,
        &[
            "org",
            "create",
            "lakeside",
            "--name",
            "Lakeside Physio",
            "--time-zone",
            "Europe/London",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = rollcall(&dir, &["org", "create", "lakeside", "--name", "Again"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    let o = rollcall(
        &dir,
        &[
            "org",
            "create",
            "mars-base",
            "--name",
            "Bad zone",
            "--time-zone",
            "Mars/Base",
        ],
    );
    assert!(text(&o).contains("not an IANA time zone"), "{}", text(&o));

    let o = rollcall(
        &dir,
        &[
            "location",
            "create",
            "--org",
            "lakeside",
            "--name",
            "Harbour Clinic",
            "--code",
            "hb",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = rollcall(
        &dir,
        &[
            "admin",
            "create",
            "--org",
            "lakeside",
            "--email",
            "Lead@Lakeside.example",
            "--first-name",
            "Lee",
            "--last-name",
            "Ward",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("/register/"),
        "prints the one-time link: {}",
        text(&o)
    );
    let o = rollcall(
        &dir,
        &[
            "admin",
            "create",
            "--org",
            "lakeside",
            "--email",
            "not-an-address",
            "--first-name",
            "A",
            "--last-name",
            "B",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("is not an email address"), "{}", text(&o));

    let o = rollcall(&dir, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("chain intact"), "{}", text(&o));

    // Edit one recorded event behind Rollcall's back.
    let db =
        rollcall_store::Db::connect(&format!("sqlite://{}", dir.join("rollcall.db").display()))
            .await
            .unwrap();
    let mut q = rollcall_store::Sql::new(
        "UPDATE audit_events SET actor_label = 'someone else' WHERE seq = 3",
    );
    q.push("");
    q.execute(&mut db.write_conn().await.unwrap())
        .await
        .unwrap();
    db.close().await;
    let o = rollcall(&dir, &["audit", "verify", "--org", "lakeside"]);
    assert!(!o.status.success(), "tampering fails the command");
    assert!(
        text(&o).contains("event 3: content was changed"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn taxonomy_load_names_codes_and_a_bad_file_loads_nothing() {
    let dir = std::env::temp_dir().join(format!("rollcall-cli-{}", rollcall_store::new_id()));
    let o = rollcall(&dir, &["org", "create", "harbour", "--name", "Harbour PT"]);
    assert!(o.status.success(), "{}", text(&o));

    let o = rollcall(
        &dir,
        &[
            "taxonomy",
            "load",
            &fixture("nucc_sample.csv"),
            "--org",
            "harbour",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Loaded 5 taxonomy codes into Harbour PT."),
        "{}",
        text(&o)
    );

    let o = rollcall(
        &dir,
        &[
            "taxonomy",
            "load",
            &fixture("taxonomy_bad.csv"),
            "--org",
            "harbour",
        ],
    );
    assert!(!o.status.success(), "a bad file fails: {}", text(&o));
    let out = text(&o);
    assert!(out.contains("Nothing was loaded"), "{out}");
    assert!(
        out.contains("line 3: “22510000X” is not a taxonomy code"),
        "{out}"
    );
    assert!(
        out.contains("line 5: “2251S0007” is not a taxonomy code"),
        "{out}"
    );
    assert!(out.contains("line 6: code 235Z00000X has no name"), "{out}");
    assert!(
        !out.contains("line 2") && !out.contains("line 4"),
        "good lines are not blamed: {out}"
    );

    let o = rollcall(
        &dir,
        &[
            "taxonomy",
            "load",
            &fixture("nucc_sample.csv"),
            "--org",
            "nowhere",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("nowhere"), "{}", text(&o));

    // The first list is intact, with names from Display Name or Classification (Specialization).
    let db =
        rollcall_store::Db::connect(&format!("sqlite://{}", dir.join("rollcall.db").display()))
            .await
            .unwrap();
    let mut conn = db.read_conn().await.unwrap();
    let org = rollcall_store::orgs::get_by_slug(&mut conn, "harbour")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rollcall_store::taxonomy::count(&mut conn, org.id)
            .await
            .unwrap(),
        5,
        "the bad file changed nothing"
    );
    let names = rollcall_store::taxonomy::names(
        &mut conn,
        org.id,
        &[
            "2251S0007X".into(),
            "225XP0200X".into(),
            "225X00000X".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(names["2251S0007X"], "Sports Physical Therapist");
    assert_eq!(names["225XP0200X"], "Occupational Therapist (Pediatrics)");
    assert_eq!(names["225X00000X"], "Occupational Therapist");
    let loads = rollcall_store::audit::list(
        &mut conn,
        org.id,
        &rollcall_store::audit::AuditQuery {
            action: Some(rollcall_store::audit::ActionMatch::Exact(
                "taxonomy.loaded".into(),
            )),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(loads.len(), 1, "one load recorded; the refused one is not");
    assert_eq!(loads[0].event.after.as_deref(), Some(r#"{"codes":5}"#));
    drop(conn);
    db.close().await;

    // Loading again replaces the list.
    let o = rollcall(
        &dir,
        &[
            "taxonomy",
            "load",
            &fixture("nucc_sample.csv"),
            "--org",
            "harbour",
        ],
    );
    assert!(
        text(&o).contains("replacing the previous list of 5"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One JSON document on standard output, whatever else went to standard error.
fn json_of(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(o)))
}

#[test]
fn with_output_json_each_operator_command_prints_one_json_document() {
    let dir = std::env::temp_dir().join(format!("rollcall-cli-{}", rollcall_store::new_id()));
    let json = |args: &[&str]| json_of(&rollcall(&dir, &[args, &["--output", "json"]].concat()));
    let org = json(&["org", "create", "dunes", "--name", "Dunes Physio"]);
    assert_eq!(org["code"], "dunes", "{org}");
    assert_eq!(json(&["org", "list"])[0]["name"], "Dunes Physio");
    let loc = json(&[
        "location", "create", "--org", "dunes", "--name", "Beach", "--code", "BE",
    ]);
    assert_eq!(loc["code"], "BE", "{loc}");
    let admin = json(&[
        "admin",
        "create",
        "--org",
        "dunes",
        "--email",
        "ann@dunes.example",
        "--first-name",
        "Ann",
        "--last-name",
        "Lee",
    ]);
    assert!(
        admin["set_up_link"]
            .as_str()
            .unwrap()
            .contains("/register/"),
        "{admin}"
    );
    assert_eq!(json(&["seats", "set", "--org", "dunes", "10"])["total"], 10);
    assert_eq!(json(&["seats", "show", "--org", "dunes"])[0]["free"], 9);
    let users = json(&["users", "list", "--org", "dunes"]);
    assert_eq!(users[0]["email"], "ann@dunes.example", "{users}");
    assert_eq!(users[0]["status"], "pending", "{users}");
    let audit = json(&["audit", "verify"]);
    assert_eq!(audit[0]["intact"], true, "{audit}");
    assert_eq!(json(&["jobs", "resume"]), serde_json::json!([]));
    assert_eq!(json(&["migrate"])["migrated"], true);
    let _ = std::fs::remove_dir_all(&dir);
}
