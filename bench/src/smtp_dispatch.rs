//! P6's dispatch, shared with the benchmarks that take it as their baseline: an SMTP server in
//! this process (mailin-embedded, over TCP on 127.0.0.1) counting what it accepts; invitation
//! messages queued in the outbox with their users and invitations, as an invite batch writes
//! them; and the dispatcher's drain of them through Rollcall's SMTP sender.

#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use mailin_embedded::response::OK;
use mailin_embedded::{Handler, Response, Server};
use rollcall_app::App;
use rollcall_app::clock::DAY;
use rollcall_app::config::{SmtpConfig, SmtpSecurity};
use rollcall_app::delivery::{Dispatcher, DrainReport, MailboxSender, SmtpSender, SmtpStrategy};
use rollcall_app::domain::UserStatus;
use rollcall_app::testing::store::invitations::{self, Invitation};
use rollcall_app::testing::store::orgs::Organization;
use rollcall_app::testing::store::outbox::{self, OutboxMessage};
use rollcall_app::testing::store::users::{self, User};
use rollcall_app::testing::store::{new_id, token_hash};

pub const FROM: &str = "no-reply@p6.example";

/// The SMTP server: mailin-embedded's thread-per-session server, counting accepted messages.
#[derive(Clone)]
pub struct Sink {
    accepted: Arc<AtomicU64>,
}

impl Handler for Sink {
    fn data_end(&mut self) -> Response {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        OK
    }
}

pub fn start_smtp_server(threads: u32) -> Result<(u16, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let accepted = Arc::new(AtomicU64::new(0));
    let mut server = Server::new(Sink {
        accepted: accepted.clone(),
    });
    server
        .with_name("p6.example")
        .with_num_threads(threads)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        if let Err(e) = server.serve() {
            eprintln!("P6 SMTP server stopped: {e}");
        }
    });
    Ok((port, accepted))
}

/// Rollcall's SMTP settings for the local server: no TLS, `connections` in the pool.
pub fn smtp_config(port: u16, connections: u32) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: format!("P6 Therapy <{FROM}>"),
        pool_size: connections,
    }
}

/// One P6 dispatch run: staff members `from..from + messages` queued (users, invitations,
/// outbox messages; `label` prefixes the line saying how long that took), then drained through
/// Rollcall's SMTP pool (TCP_NODELAY). Answers how long the queueing and the drain took.
pub async fn dispatch_run(
    app: &App,
    org: &Organization,
    smtp: &SmtpConfig,
    accepted: &AtomicU64,
    from: usize,
    messages: usize,
    label: &str,
) -> Result<(Duration, Duration)> {
    let queued = Instant::now();
    queue_invitations(app, org, from, messages, label).await?;
    let queue_took = queued.elapsed();
    let took = drain_through(app, smtp, SmtpStrategy::NoDelayPool, accepted, messages).await?;
    Ok((queue_took, took))
}

/// Drains the queued `messages` through Rollcall's SMTP sender with `strategy`, checks that the
/// server accepted each of them, and answers how long the drain took.
pub async fn drain_through(
    app: &App,
    smtp: &SmtpConfig,
    strategy: SmtpStrategy,
    accepted: &AtomicU64,
    messages: usize,
) -> Result<Duration> {
    let sender = Arc::new(SmtpSender::with_strategy(smtp, strategy).map_err(anyhow::Error::msg)?);
    let dispatcher = Dispatcher::with_senders(
        app.clone(),
        sender.clone(),
        Arc::new(MailboxSender::new(app.db().clone(), app.clock.clone())),
    );
    let before = accepted.load(Ordering::Relaxed);
    let (took, report) = drain(&dispatcher).await?;
    sender.close().await;
    let got = accepted.load(Ordering::Relaxed) - before;
    check_drained(app, &report, got, messages).await?;
    Ok(took)
}

/// Drains the outbox the way the running dispatcher does (`Dispatcher::drain`).
pub async fn drain(dispatcher: &Dispatcher) -> Result<(Duration, DrainReport)> {
    let started = Instant::now();
    let report = dispatcher.drain().await?;
    Ok((started.elapsed(), report))
}

pub async fn check_drained(
    app: &App,
    report: &DrainReport,
    accepted: u64,
    expected: usize,
) -> Result<()> {
    ensure!(
        report.sent == expected && accepted == expected as u64,
        "expected {expected} messages sent; the dispatcher reports {report:?}, the server accepted {accepted}"
    );
    let mut conn = app.db().read_conn().await?;
    let pending = outbox::pending(&mut conn).await?;
    ensure!(pending == 0, "{pending} messages still queued");
    Ok(())
}

/// Users, their invitations and one outbox message each, as an invite batch writes them.
pub async fn queue_invitations(
    app: &App,
    org: &Organization,
    from: usize,
    n: usize,
    label: &str,
) -> Result<()> {
    let now = app.clock.now();
    let mut users_rows = Vec::with_capacity(n);
    let mut invites = Vec::with_capacity(n);
    let mut msgs = Vec::with_capacity(n);
    for i in from..from + n {
        let (user, invitation, msg) = invited(org, i, now);
        users_rows.push(user);
        invites.push(invitation);
        msgs.push(msg);
    }
    let mut tx = app.db().begin().await?;
    let started = Instant::now();
    users::insert_many(&mut tx, &users_rows).await?;
    let users_took = started.elapsed();
    invitations::insert_many(&mut tx, &invites).await?;
    let invitations_took = started.elapsed() - users_took;
    outbox::enqueue(&mut tx, &msgs).await?;
    let outbox_took = started.elapsed() - users_took - invitations_took;
    tx.commit().await?;
    println!(
        "{label} queued {n} invitations: users {:.2} s, invitations {:.2} s, outbox {:.2} s, commit {:.2} s",
        users_took.as_secs_f64(),
        invitations_took.as_secs_f64(),
        outbox_took.as_secs_f64(),
        (started.elapsed() - users_took - invitations_took - outbox_took).as_secs_f64()
    );
    Ok(())
}

/// Staff member `i`: the pending user, their queued invitation and its outbox message.
pub fn invited(org: &Organization, i: usize, now: i64) -> (User, Invitation, OutboxMessage) {
    let email = format!("staff{i}@p6.example");
    let user = User {
        id: new_id(),
        org_id: org.id,
        email: email.clone(),
        email_key: email.clone(),
        username: format!("staff{i}"),
        first_name: "Staff".into(),
        last_name: format!("Member {i}"),
        display_name: format!("Staff Member {i}"),
        mobile: None,
        user_type: Some("staff".into()),
        status: UserStatus::Pending,
        default_location_id: None,
        source: "bench".into(),
        password_hash: None,
        invite_expires_at: Some(now + 7 * DAY),
        failed_sign_ins: 0,
        locked_until: None,
        created_at: now,
        created_by: None,
        activated_at: None,
        deactivated_at: None,
        last_sign_in_at: None,
    };
    let token = format!("{:064x}", i as u128 * 7919 + 1);
    let invitation = Invitation {
        id: new_id(),
        org_id: org.id,
        user_id: user.id,
        token_hash: token_hash(&token),
        send_at: now,
        send_at_local: None,
        send_zone: None,
        sent_at: None,
        expires_at: now + 7 * DAY,
        accepted_at: None,
        revoked_at: None,
        delivery_state: "queued".into(),
        created_at: now,
        created_by: None,
    };
    let (subject, text, html) = compose(i, &token);
    let msg = OutboxMessage {
        id: new_id(),
        org_id: org.id,
        kind: "invitation".into(),
        medium: "email".into(),
        recipient: email,
        subject,
        body_text: text,
        body_html: Some(html),
        invitation_id: Some(invitation.id),
        send_at: now,
        created_at: now,
    };
    (user, invitation, msg)
}

/// An invitation of realistic size: about 0.5 KB of text and 1.5 KB of HTML.
pub fn compose(i: usize, token: &str) -> (String, String, String) {
    let link = format!("https://rollcall.p6.example/register/{token}");
    let subject = "Ada Admin invited you to P6 Therapy".to_string();
    let text = format!(
        "Hello Staff Member {i},\r\n\r\nAda Admin invited you to join P6 Therapy on Rollcall, where the \
         practice manages\r\nstaff accounts, schedules and clinic access.\r\n\r\nRegister here (the link \
         works once and expires in 7 days):\r\n{link}\r\n\r\nIf you did not expect this invitation, you \
         can ignore this message:\r\nno account is created until you register.\r\n\r\nP6 Therapy\r\n"
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family: system-ui, sans-serif; color: #1f2933\">\r\n\
         <p>Hello Staff Member {i},</p>\r\n\
         <p>Ada Admin invited you to join <strong>P6 Therapy</strong> on Rollcall, where the practice \
         manages staff accounts, schedules and clinic access.</p>\r\n\
         <p><a href=\"{link}\" style=\"display: inline-block; padding: 10px 18px; background: #2563eb; \
         color: #fff; border-radius: 6px; text-decoration: none\">Register</a></p>\r\n\
         <p style=\"color: #52606d; font-size: 13px\">The link works once and expires in 7 days. If the \
         button does not work, copy this address into your browser:<br>{link}</p>\r\n\
         <p style=\"color: #52606d; font-size: 13px\">If you did not expect this invitation, you can \
         ignore this message: no account is created until you register.</p>\r\n\
         <p>P6 Therapy</p>\r\n</body></html>\r\n"
    );
    (subject, text, html)
}
