//! What the CLI suites share.

use std::path::Path;
use std::time::{Duration, Instant};

/// The key the suites' servers seal secrets with (`rollcall secrets new-key` makes real ones).
#[allow(dead_code)]
pub const SECRET_KEY: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";

/// The message to `to` in the mailbox of the SQLite installation in `dir`, waited for (a
/// server's dispatcher delivers it on its own time).
#[allow(dead_code)]
pub async fn mailbox_message(dir: &Path, to: &str) -> rollcall_store::mailbox::MailboxMessage {
    let db =
        rollcall_store::Db::connect(&format!("sqlite://{}", dir.join("rollcall.db").display()))
            .await
            .unwrap();
    let start = Instant::now();
    loop {
        let mut conn = db.read_conn().await.unwrap();
        if let Some(m) = rollcall_store::mailbox::list(&mut conn, None, Some(to), 1)
            .await
            .unwrap()
            .pop()
        {
            return m;
        }
        drop(conn);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no message to {to} was delivered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
