//! Message delivery against a real SMTP server over TCP, on SQLite and on PostgreSQL.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Harness, SmtpServer, free_port, harness, smtp_config};
use rollcall_app::config::{SmsConfig, SmtpSecurity};
use rollcall_app::delivery::{self, Dispatcher, MAX_ATTEMPTS, SmtpSender};
use rollcall_app::domain::DeliveryState;
use rollcall_app::{App, Clock, Config};
use rollcall_store::testing::TestDb;
use rollcall_store::{Db, mailbox, outbox};

rollcall_store::engine_tests!(
    an_invitation_arrives_with_its_subject_both_parts_and_the_link,
    a_wake_delivers_at_once,
    the_dispatcher_survives_the_smtp_server_being_down,
    a_message_that_keeps_failing_ends_failed_with_its_reason,
    refused_recipients_fail_at_once_each_with_its_reason,
    two_dispatchers_never_send_one_row_twice,
    a_crashed_dispatchers_claim_is_taken_again_after_its_lease,
    a_live_claim_keeps_its_rows_past_the_first_lease,
    a_draining_dispatcher_claims_nothing,
    a_drain_mid_batch_records_what_was_sent_and_gives_the_rest_back_at_once,
    a_scheduled_message_waits_for_its_time,
    messages_of_a_revoked_invitation_are_not_sent,
    with_no_smtp_or_sms_configured_messages_land_in_the_local_mailbox,
    sms_go_to_the_http_provider_with_its_token,
    starttls_to_a_server_whose_certificate_is_not_trusted_sends_nothing,
);

async fn an_invitation_arrives_with_its_subject_both_parts_and_the_link(t: TestDb) {
    let smtp = SmtpServer::start();
    let h = harness(t, Some(smtp.port)).await;
    let msg = h.message("ana@alpha.example", Some(h.invitation_id));
    h.enqueue(std::slice::from_ref(&msg)).await;

    let report = delivery::drain_once(&h.app).await.unwrap();

    assert_eq!((report.claimed, report.sent), (1, 1));
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    let mail = &got[0];
    assert_eq!(mail.from, "no-reply@rollcall.test");
    assert_eq!(mail.to, vec!["ana@alpha.example".to_string()]);
    assert!(
        mail.data
            .contains("Subject: You are invited to Alpha Therapy"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("multipart/alternative"), "{}", mail.data);
    assert!(
        mail.data.contains("Content-Type: text/plain"),
        "{}",
        mail.data
    );
    assert!(
        mail.data.contains("Content-Type: text/html"),
        "{}",
        mail.data
    );
    assert!(
        mail.data
            .contains("Register here: http://rollcall.test/register/abc123")
    );
    assert!(
        mail.data
            .contains("<a href=\"http://rollcall.test/register/abc123\">")
    );
    assert!(
        mail.data
            .contains(&format!("Message-ID: <{}@rollcall.test>", msg.id))
    );

    let mut conn = h.app.db().read_conn().await.unwrap();
    let rows = outbox::for_invitation(&mut conn, h.invitation_id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].state, rows[0].attempts), (DeliveryState::Sent, 1));
    assert!(rows[0].sent_at.is_some() && rows[0].claimed_until.is_none());
    let (state, attempts, error, sent_at) = h.invitation_delivery().await;
    assert_eq!((state.as_str(), attempts, error), ("sent", 1, None));
    assert!(sent_at.is_some());

    // Nothing is left to send: a second cycle sends nothing again.
    assert_eq!(delivery::drain_once(&h.app).await.unwrap().claimed, 0);
    assert_eq!(smtp.received().len(), 1);
}

async fn a_wake_delivers_at_once(t: TestDb) {
    let smtp = SmtpServer::start();
    let h = harness(t, Some(smtp.port)).await;
    let dispatcher = delivery::spawn_dispatcher(h.app.clone());

    h.enqueue(&[h.message("ana@alpha.example", None)]).await;
    let woken = Instant::now();
    delivery::wake(&h.app);
    while smtp.received().is_empty() && woken.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    dispatcher.abort();
    assert_eq!(smtp.received().len(), 1);
    // Well before the one-second poll would have found it.
    assert!(
        woken.elapsed() < Duration::from_millis(800),
        "{:?}",
        woken.elapsed()
    );
}

async fn the_dispatcher_survives_the_smtp_server_being_down(t: TestDb) {
    let port = free_port();
    let h = harness(t, Some(port)).await;
    h.enqueue(&[h.message("ana@alpha.example", Some(h.invitation_id))])
        .await;

    let down = delivery::drain_once(&h.app).await.unwrap();
    assert_eq!(
        (down.claimed, down.sent, down.retrying, down.failed),
        (1, 0, 1, 0)
    );
    let mut conn = h.app.db().read_conn().await.unwrap();
    let row = outbox::for_invitation(&mut conn, h.invitation_id)
        .await
        .unwrap()
        .remove(0);
    drop(conn);
    assert_eq!((row.state, row.attempts), (DeliveryState::Queued, 1));
    let reason = row.last_error.unwrap();
    assert!(
        reason.starts_with(&format!(
            "could not connect to the mail server 127.0.0.1:{port}"
        )),
        "{reason}"
    );
    let (state, attempts, error, _) = h.invitation_delivery().await;
    assert_eq!((state.as_str(), attempts), ("retrying", 1));
    assert_eq!(error.as_deref(), Some(reason.as_str()));

    // Backing off: not retried at once.
    assert_eq!(delivery::drain_once(&h.app).await.unwrap().claimed, 0);

    let smtp = SmtpServer::start_on(port);
    h.app.clock.advance_minutes(1);
    let up = delivery::drain_once(&h.app).await.unwrap();
    assert_eq!((up.claimed, up.sent), (1, 1));
    assert_eq!(smtp.received().len(), 1);
    let (state, attempts, error, sent_at) = h.invitation_delivery().await;
    assert_eq!((state.as_str(), attempts, error), ("sent", 2, None));
    assert!(sent_at.is_some());
}

async fn starttls_to_a_server_whose_certificate_is_not_trusted_sends_nothing(t: TestDb) {
    let smtp = SmtpServer::with_untrusted_tls();
    let mut h = harness(t, Some(smtp.port)).await;
    let mut config = (*h.app.config).clone();
    config.smtp.as_mut().unwrap().security = SmtpSecurity::StartTls;
    h.app = App::with_db(h.app.db().clone(), config, h.app.clock.clone());
    h.enqueue(&[h.message("ana@alpha.example", Some(h.invitation_id))])
        .await;

    let r = delivery::drain_once(&h.app).await.unwrap();

    assert_eq!((r.sent, r.retrying), (0, 1));
    assert!(smtp.received().is_empty());
    let (state, _, error, _) = h.invitation_delivery().await;
    assert_eq!(state, "retrying");
    let error = error.unwrap();
    assert!(
        error.contains("could not connect") && error.contains("certificate"),
        "{error}"
    );
}

async fn a_message_that_keeps_failing_ends_failed_with_its_reason(t: TestDb) {
    let port = free_port();
    let h = harness(t, Some(port)).await;
    h.enqueue(&[h.message("ana@alpha.example", Some(h.invitation_id))])
        .await;

    for attempt in 1..=MAX_ATTEMPTS {
        let r = delivery::drain_once(&h.app).await.unwrap();
        assert_eq!(r.claimed, 1, "attempt {attempt}");
        assert_eq!(
            r.failed,
            usize::from(attempt == MAX_ATTEMPTS),
            "attempt {attempt}"
        );
        h.app.clock.advance_minutes(90);
    }

    let mut conn = h.app.db().read_conn().await.unwrap();
    let row = outbox::for_invitation(&mut conn, h.invitation_id)
        .await
        .unwrap()
        .remove(0);
    drop(conn);
    assert_eq!(
        (row.state, row.attempts),
        (DeliveryState::Failed, MAX_ATTEMPTS)
    );
    let (state, attempts, error, _) = h.invitation_delivery().await;
    assert_eq!((state.as_str(), attempts), ("failed", MAX_ATTEMPTS));
    let error = error.unwrap();
    assert!(
        error.contains("could not connect to the mail server") && error.contains("refused"),
        "{error}"
    );

    h.app.clock.advance_minutes(24 * 60);
    assert_eq!(delivery::drain_once(&h.app).await.unwrap().claimed, 0);
}

async fn refused_recipients_fail_at_once_each_with_its_reason(t: TestDb) {
    let smtp = SmtpServer::refusing(&["gone@alpha.example", "left@alpha.example"]);
    let h = harness(t, Some(smtp.port)).await;
    let msgs = [
        h.message("gone@alpha.example", Some(h.invitation_id)),
        h.message("left@alpha.example", None),
        h.message("here@alpha.example", None),
    ];
    h.enqueue(&msgs).await;

    let r = delivery::drain_once(&h.app).await.unwrap();

    assert_eq!((r.claimed, r.sent, r.retrying, r.failed), (3, 1, 0, 2));
    let mut conn = h.app.db().read_conn().await.unwrap();
    for m in &msgs[..2] {
        let row = outbox::get(&mut conn, m.id).await.unwrap().unwrap();
        assert_eq!((row.state, row.attempts), (DeliveryState::Failed, 1));
        assert!(
            row.last_error.as_deref().unwrap().contains("550"),
            "{:?}",
            row.last_error
        );
    }
    let ok = outbox::get(&mut conn, msgs[2].id).await.unwrap().unwrap();
    assert_eq!(ok.state, DeliveryState::Sent);
    drop(conn);
    let (state, _, error, _) = h.invitation_delivery().await;
    assert_eq!(state, "failed");
    assert!(error.unwrap().contains("Mailbox unavailable"));
    assert_eq!(smtp.received().len(), 1);
}

async fn two_dispatchers_never_send_one_row_twice(t: TestDb) {
    let smtp = SmtpServer::start();
    let h = harness(t, Some(smtp.port)).await;
    let msgs: Vec<_> = (0..400)
        .map(|i| h.message(&format!("person{i}@alpha.example"), None))
        .collect();
    h.enqueue(&msgs).await;
    // A second process: its own pool on the same database, its own SMTP connections.
    let other_db = Db::connect(&h.db.url()).await.unwrap();
    let other = App::with_db(other_db, Config::for_tests(h.db.url()), h.app.clock.clone());
    let cfg = smtp_config(smtp.port);
    let first = Dispatcher::with_senders(
        h.app.clone(),
        Arc::new(SmtpSender::new(&cfg).unwrap()),
        Arc::new(SmtpSender::new(&cfg).unwrap()),
    )
    .batch_size(20);
    let second = Dispatcher::with_senders(
        other.clone(),
        Arc::new(SmtpSender::new(&cfg).unwrap()),
        Arc::new(SmtpSender::new(&cfg).unwrap()),
    )
    .batch_size(20);

    // One drains batch after batch, overlapping sending and recording (as the running
    // dispatcher does); the other runs single cycles.
    let cycles = |d: Dispatcher| async move {
        let mut sent = 0;
        loop {
            let r = d.drain_once().await.unwrap();
            if r.claimed == 0 {
                return sent;
            }
            sent += r.sent;
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(async move { first.drain().await.unwrap().sent }),
        tokio::spawn(cycles(second))
    );
    let (a, b) = (a.unwrap(), b.unwrap());

    assert_eq!(a + b, 400, "first sent {a}, second {b}");
    let got = smtp.received();
    let recipients: BTreeSet<_> = got.iter().map(|m| m.to[0].clone()).collect();
    assert_eq!((got.len(), recipients.len()), (400, 400));
    let mut conn = h.app.db().read_conn().await.unwrap();
    assert_eq!(
        outbox::count_by_state(&mut conn).await.unwrap(),
        vec![(DeliveryState::Sent, 400)]
    );
    drop(conn);
    other.db().close().await;
}

async fn a_crashed_dispatchers_claim_is_taken_again_after_its_lease(t: TestDb) {
    let smtp = SmtpServer::start();
    let h = harness(t, Some(smtp.port)).await;
    h.enqueue(&[h.message("ana@alpha.example", Some(h.invitation_id))])
        .await;
    // A dispatcher claims the row and dies before sending.
    let now = h.app.clock.now();
    let lease = rollcall_app::config::lease_micros();
    let dead = uuid::Uuid::now_v7();
    let claimed = outbox::claim_due(h.app.db(), dead, now, now + lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    assert_eq!(
        delivery::drain_once(&h.app).await.unwrap().claimed,
        0,
        "still leased"
    );
    h.app.clock.advance_minutes(lease / 60_000_000 + 1);
    let r = delivery::drain_once(&h.app).await.unwrap();

    assert_eq!((r.claimed, r.sent), (1, 1));
    assert_eq!(smtp.received().len(), 1);
    // The dead claim can no longer record anything over the new outcome.
    let mut tx = h.app.db().begin().await.unwrap();
    let late = outbox::mark_failed(
        &mut tx,
        dead,
        &[outbox::Failure {
            id: claimed[0].message.id,
            error: "late".into(),
            retry_at: None,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(late, 0);
    assert_eq!(h.invitation_delivery().await.0, "sent");
}

async fn a_live_claim_keeps_its_rows_past_the_first_lease(t: TestDb) {
    let smtp = SmtpServer::start();
    let h = harness(t, Some(smtp.port)).await;
    h.enqueue(&[h.message("ana@alpha.example", None)]).await;
    let now = h.app.clock.now();
    let lease = rollcall_app::config::lease_micros();
    let holder = uuid::Uuid::now_v7();
    outbox::claim_due(h.app.db(), holder, now, now + lease, 10)
        .await
        .unwrap();
    // The holder's heartbeat moves its lease on; past the first lease the row is still its own.
    h.app.clock.advance_minutes(lease / 60_000_000 + 1);
    let renewed = outbox::renew(h.app.db(), holder, h.app.clock.now() + lease)
        .await
        .unwrap();
    assert_eq!(renewed, 1);
    assert_eq!(delivery::drain_once(&h.app).await.unwrap().claimed, 0);
    assert!(smtp.received().is_empty());
}

async fn a_draining_dispatcher_claims_nothing(t: TestDb) {
    let smtp = SmtpServer::start();
    let h = harness(t, Some(smtp.port)).await;
    h.enqueue(&[h.message("ana@alpha.example", None)]).await;
    h.app.shutdown.begin();
    assert_eq!(delivery::drain_once(&h.app).await.unwrap().claimed, 0);
    assert!(smtp.received().is_empty());
    let mut conn = h.app.db().read_conn().await.unwrap();
    assert_eq!(outbox::pending(&mut conn).await.unwrap(), 1);
}

/// Accepts every message, and tells its process to drain after the `stop_after`th.
struct StoppingSender {
    shutdown: rollcall_app::shutdown::Shutdown,
    stop_after: usize,
    sent: Mutex<Vec<String>>,
}

impl delivery::Sender for StoppingSender {
    fn send<'a>(
        &'a self,
        msg: &'a outbox::OutboxMessage,
    ) -> futures::future::BoxFuture<'a, Result<(), delivery::SendError>> {
        Box::pin(async move {
            let mut sent = self.sent.lock().unwrap();
            sent.push(msg.recipient.clone());
            if sent.len() == self.stop_after {
                self.shutdown.begin();
            }
            Ok(())
        })
    }
}

async fn a_drain_mid_batch_records_what_was_sent_and_gives_the_rest_back_at_once(t: TestDb) {
    let smtp = SmtpServer::start();
    let h = harness(t, Some(smtp.port)).await;
    let msgs: Vec<_> = (0..30)
        .map(|i| h.message(&format!("person{i}@alpha.example"), None))
        .collect();
    h.enqueue(&msgs).await;
    let stopping = Arc::new(StoppingSender {
        shutdown: h.app.shutdown.clone(),
        stop_after: 10,
        sent: Mutex::default(),
    });
    let first = Dispatcher::with_senders(h.app.clone(), stopping.clone(), stopping.clone());

    let r = first.drain().await.unwrap();

    assert_eq!((r.claimed, r.sent, r.released), (30, 10, 20));
    // Another process takes the rest at once: no lease to wait for, nothing sent twice.
    let other_db = Db::connect(&h.db.url()).await.unwrap();
    let other = App::with_db(other_db, Config::for_tests(h.db.url()), h.app.clock.clone());
    let cfg = smtp_config(smtp.port);
    let second = Dispatcher::with_senders(
        other.clone(),
        Arc::new(SmtpSender::new(&cfg).unwrap()),
        Arc::new(SmtpSender::new(&cfg).unwrap()),
    );
    let r = second.drain_once().await.unwrap();
    assert_eq!((r.claimed, r.sent), (20, 20));
    let mut all = stopping.sent.lock().unwrap().clone();
    all.extend(smtp.received().iter().map(|m| m.to[0].clone()));
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!((all.len(), distinct.len()), (30, 30));
    let mut conn = h.app.db().read_conn().await.unwrap();
    assert_eq!(
        outbox::count_by_state(&mut conn).await.unwrap(),
        vec![(DeliveryState::Sent, 30)]
    );
    drop(conn);
    other.db().close().await;
}

async fn a_scheduled_message_waits_for_its_time(t: TestDb) {
    let smtp = SmtpServer::start();
    let h = harness(t, Some(smtp.port)).await;
    let mut msg = h.message("ana@alpha.example", Some(h.invitation_id));
    msg.send_at = h.app.clock.now() + 30 * 60_000_000;
    h.enqueue(&[msg]).await;

    assert_eq!(delivery::drain_once(&h.app).await.unwrap().claimed, 0);
    h.app.clock.advance_minutes(31);
    assert_eq!(delivery::drain_once(&h.app).await.unwrap().sent, 1);
    assert_eq!(smtp.received().len(), 1);
}

async fn messages_of_a_revoked_invitation_are_not_sent(t: TestDb) {
    let smtp = SmtpServer::start();
    let h = harness(t, Some(smtp.port)).await;
    h.enqueue(&[
        h.message("ana@alpha.example", Some(h.invitation_id)),
        h.message("ana@alpha.example", Some(h.invitation_id)),
    ])
    .await;

    let mut tx = h.app.db().begin().await.unwrap();
    assert_eq!(
        outbox::revoke_for_invitation(&mut tx, h.invitation_id)
            .await
            .unwrap(),
        2
    );
    tx.commit().await.unwrap();

    assert_eq!(delivery::drain_once(&h.app).await.unwrap().claimed, 0);
    assert!(smtp.received().is_empty());
    let mut conn = h.app.db().read_conn().await.unwrap();
    let rows = outbox::for_invitation(&mut conn, h.invitation_id)
        .await
        .unwrap();
    assert!(rows.iter().all(|r| r.state == DeliveryState::Revoked));
}

async fn with_no_smtp_or_sms_configured_messages_land_in_the_local_mailbox(t: TestDb) {
    let h = harness(t, None).await;
    let email = h.message("Ana@Alpha.example", Some(h.invitation_id));
    let mut sms = h.message("+15555550123", None);
    sms.medium = "sms".into();
    sms.subject = String::new();
    sms.body_text = "Your Alpha Therapy code is 123456".into();
    sms.body_html = None;
    h.enqueue(std::slice::from_ref(&email)).await;
    delivery::drain_once(&h.app).await.unwrap();
    h.app.clock.advance_minutes(1);
    h.enqueue(&[sms.clone()]).await;
    assert_eq!(delivery::drain_once(&h.app).await.unwrap().sent, 1);

    let mut conn = h.app.db().read_conn().await.unwrap();
    let all = mailbox::list(&mut conn, None, None, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        (all[0].medium.as_str(), all[0].recipient.as_str()),
        ("sms", "+15555550123")
    );
    assert_eq!(all[0].body_text, sms.body_text);
    let ana = mailbox::list(&mut conn, None, Some("ana@alpha.example"), 10)
        .await
        .unwrap();
    assert_eq!(ana.len(), 1);
    assert_eq!(ana[0].org_id, Some(h.org.id));
    assert_eq!(
        (ana[0].subject.as_str(), ana[0].body_html.as_deref()),
        (email.subject.as_str(), email.body_html.as_deref())
    );
    assert_eq!(
        mailbox::get(&mut conn, h.org.id, ana[0].id)
            .await
            .unwrap()
            .as_ref(),
        Some(&ana[0])
    );
    assert_eq!(
        mailbox::list(&mut conn, None, None, 1).await.unwrap().len(),
        1
    );
    drop(conn);
    assert_eq!(h.invitation_delivery().await.0, "sent");
}

/// What the SMS provider was sent: the Authorization header and the JSON body.
type Seen = Vec<(Option<String>, serde_json::Value)>;

#[derive(Clone, Default)]
struct Provider {
    seen: Arc<Mutex<Seen>>,
}

async fn sms_go_to_the_http_provider_with_its_token(t: TestDb) {
    use axum::http::{HeaderMap, StatusCode};
    use axum::{Json, Router, extract::State, routing::post};

    async fn receive(
        State(p): State<Provider>,
        headers: HeaderMap,
        Json(body): Json<serde_json::Value>,
    ) -> (StatusCode, &'static str) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let invalid = body["to"] == "+1000";
        p.seen.lock().unwrap().push((auth, body));
        if invalid {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid number")
        } else {
            (StatusCode::OK, "{\"id\":\"m1\"}")
        }
    }
    let provider = Provider::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route("/messages", post(receive))
        .with_state(provider.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let mut config = Config::for_tests(t.url());
    config.sms = Some(SmsConfig {
        url: format!("http://{addr}/messages"),
        token: Some("provider-token".into()),
        from: "AlphaClinic".into(),
    });
    let app = App::with_db(t.db.clone(), config, Clock::system());
    let h = Harness {
        app,
        ..harness(t, None).await
    };
    let mut good = h.message("+15555550123", None);
    good.medium = "sms".into();
    good.body_text = "Your code is 123456".into();
    let mut bad = good.clone();
    bad.id = rollcall_store::new_id();
    bad.recipient = "+1000".into();
    h.enqueue(&[good.clone(), bad.clone()]).await;

    let r = delivery::drain_once(&h.app).await.unwrap();

    assert_eq!((r.sent, r.failed), (1, 1));
    let seen = provider.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let ok = seen
        .iter()
        .find(|(_, b)| b["to"] == "+15555550123")
        .unwrap();
    assert_eq!(ok.0.as_deref(), Some("Bearer provider-token"));
    assert_eq!(
        ok.1,
        serde_json::json!({"to": "+15555550123", "from": "AlphaClinic", "body": "Your code is 123456"})
    );
    let mut conn = h.app.db().read_conn().await.unwrap();
    let failed = outbox::get(&mut conn, bad.id).await.unwrap().unwrap();
    assert_eq!(failed.state, DeliveryState::Failed);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("the SMS provider answered HTTP 422: invalid number")
    );
    server.abort();
}
