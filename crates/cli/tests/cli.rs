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
    q.execute(&mut *db.write_conn().await.unwrap())
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
