//! What the CLI suites share.

use std::path::Path;
use std::time::{Duration, Instant};

/// The message to `to` in the mailbox of the SQLite installation in `dir`, waited for (a
/// server's dispatcher delivers it on its own time).
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
