//! The webhook dispatcher: claims due deliveries under a lease (the claiming the email outbox
//! uses, `rollcall_store::lease`), renews the lease while it works, signs and POSTs each event,
//! and records every attempt fenced on its claim. A 2xx is delivered; anything else is retried
//! on the Standard Webhooks schedule and then given up; 410 Gone disables the endpoint at once,
//! and an endpoint failing without a success for `disable_after_days` is disabled too. Either
//! way the company admins get a notice email through the outbox.
//!
//! Receivers get each event at least once: a process that dies between the receiver's answer
//! and the record sends it again after the lease. The `webhook-id` is the same every time, so a
//! receiver that deduplicates on it sees each event exactly once.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::Either;
use rollcall_domain::Permission;
use rollcall_domain::webhook::retry_after_secs;
use rollcall_store::outbox::{self, OutboxMessage};
use rollcall_store::webhooks::{self, Attempt, Delivery, Endpoint};
use rollcall_store::{audit, users};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{seal, target};
use crate::audit::Meta;
use crate::config::lease_micros;
use crate::{App, AppError};

/// Deliveries per claim.
const BATCH: usize = 128;
/// Requests in flight at once.
const CONCURRENCY: usize = 32;
const POLL: Duration = Duration::from_secs(1);
/// How often endpoints failing for days are looked for.
const HEALTH_CHECK: Duration = Duration::from_secs(60);
/// Characters of a receiver's error answer kept in the log.
const ERROR_CHARS: usize = 300;

fn notify() -> &'static Notify {
    static WAKE: OnceLock<Notify> = OnceLock::new();
    WAKE.get_or_init(Notify::new)
}

/// Tells the dispatcher of this process that deliveries were queued.
pub(crate) fn wake() {
    notify().notify_one();
}

/// `v1,<base64>` for each secret, space-separated (several during a rotation).
pub fn sign(secrets: &[Vec<u8>], msg_id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|s| {
            standardwebhooks::Webhook::from_bytes(s.clone())
                .ok()?
                .sign(msg_id, timestamp, body.as_bytes())
                .ok()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An endpoint ready to send to: where, and the secrets to sign with.
struct Target {
    endpoint: Endpoint,
    secrets: Vec<Vec<u8>>,
}

pub struct WebhookDispatcher {
    app: App,
    client: reqwest::Client,
    lease: i64,
}

impl WebhookDispatcher {
    pub fn new(app: App) -> WebhookDispatcher {
        WebhookDispatcher {
            client: target::client(app.config.webhooks.allow_private),
            app,
            lease: lease_micros(),
        }
    }

    /// Claims due deliveries once, sends them, records every attempt. Returns how many it
    /// claimed; claims nothing once the process drains.
    pub async fn drain_once(&self) -> Result<usize, AppError> {
        if self.app.shutdown.is_draining() {
            return Ok(0);
        }
        let now = self.app.clock.now();
        let claim = Uuid::now_v7();
        let claimed =
            webhooks::claim_due(&self.app.db, claim, now, now + self.lease, BATCH).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let delivering = std::pin::pin!(self.deliver(claim, &claimed));
        let heartbeat = std::pin::pin!(self.keep_alive(claim));
        match futures::future::select(delivering, heartbeat).await {
            Either::Left((done, _)) => done.map(|()| claimed.len()),
            Either::Right((never, _)) => match never {},
        }
    }

    /// Delivers everything due, claim after claim.
    pub async fn drain(&self) -> Result<usize, AppError> {
        let mut total = 0;
        loop {
            match self.drain_once().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    async fn keep_alive(&self, claim: Uuid) -> std::convert::Infallible {
        let every = Duration::from_micros((self.lease / 3).max(1) as u64);
        loop {
            tokio::time::sleep(every).await;
            let until = self.app.clock.now() + self.lease;
            if let Err(e) = webhooks::renew(&self.app.db, claim, until).await {
                tracing::warn!(error = %e, "could not renew the lease of claimed webhook deliveries");
            }
        }
    }

    async fn targets(&self, claimed: &[Delivery]) -> Result<HashMap<Uuid, Target>, AppError> {
        let mut out = HashMap::new();
        let mut conn = self.app.db.read_conn().await?;
        for d in claimed {
            if out.contains_key(&d.endpoint_id) {
                continue;
            }
            let Some(endpoint) = webhooks::get(&mut conn, d.org_id, d.endpoint_id).await? else {
                continue;
            };
            let mut secrets = vec![seal::unseal(&self.app, &endpoint.secret_sealed)?];
            if let (Some(old), Some(until)) = (&endpoint.previous_sealed, endpoint.previous_until)
                && until > self.app.clock.now()
            {
                secrets.push(seal::unseal(&self.app, old)?);
            }
            out.insert(endpoint.id, Target { endpoint, secrets });
        }
        Ok(out)
    }

    async fn deliver(&self, claim: Uuid, claimed: &[Delivery]) -> Result<(), AppError> {
        let targets = self.targets(claimed).await?;
        let targets = &targets;
        let released = std::sync::Mutex::new(Vec::new());
        let failure = std::sync::Mutex::new(None);
        let (released_ref, failure_ref) = (&released, &failure);
        futures::stream::iter(requests(claimed, targets))
            .for_each_concurrent(CONCURRENCY, |sent| async move {
                if self.app.shutdown.is_draining() {
                    let ids = sent.iter().map(|d| d.id);
                    released_ref.lock().expect("not poisoned").extend(ids);
                    return;
                }
                let answer = self.attempt(&sent, targets.get(&sent[0].endpoint_id)).await;
                if let Err(e) = self.record(claim, &sent, &answer).await {
                    // Left claimed: retaken once the lease runs out.
                    *failure_ref.lock().expect("not poisoned") = Some(e);
                }
            })
            .await;
        let released = released.into_inner().expect("not poisoned");
        if !released.is_empty() {
            let mut conn = self.app.db.write_conn().await?;
            webhooks::release(&mut conn, claim, &released).await?;
        }
        match failure.into_inner().expect("not poisoned") {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One signed POST of one event or a batch, and what came of it (for the first delivery;
    /// [`attempt_of`] gives each delivery's own).
    async fn attempt(&self, sent: &[&Delivery], target: Option<&Target>) -> Attempt {
        let started = Instant::now();
        let mut a = Attempt {
            delivery_id: sent[0].id,
            endpoint_id: sent[0].endpoint_id,
            at: self.app.clock.now(),
            status_code: None,
            response_ms: 0,
            error: None,
            delivered: false,
            retry_at: None,
        };
        let Some(t) = target.filter(|t| t.endpoint.enabled) else {
            a.error = Some("The endpoint was disabled or deleted.".into());
            return a;
        };
        let posted = self.post(t, sent).await;
        a.response_ms = started.elapsed().as_millis() as i64;
        match posted {
            Ok((status, body)) => {
                a.status_code = Some(i64::from(status));
                a.delivered = (200..300).contains(&status);
                if !a.delivered {
                    a.error = Some(format!("The endpoint answered {status}: {body}"));
                }
            }
            Err(why) => a.error = Some(why),
        }
        a
    }

    async fn post(&self, t: &Target, sent: &[&Delivery]) -> Result<(u16, String), String> {
        let url = reqwest::Url::parse(&t.endpoint.url).map_err(|e| e.to_string())?;
        if let Some(why) = target::literal_refusal(&url, self.app.config.webhooks.allow_private) {
            return Err(why);
        }
        let timestamp = self.app.clock.now() / 1_000_000;
        // An endpoint that takes batches always gets them, even of one: one shape to read.
        let (id, body) = match sent {
            [one] if t.endpoint.batch_max <= 1 => (one.event_id.clone(), one.payload.clone()),
            several => batch(several, self.app.clock.now()),
        };
        let signature = sign(&t.secrets, &id, timestamp, &body);
        let r = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = r.status().as_u16();
        let body: String = r
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(ERROR_CHARS)
            .collect();
        Ok((status, body))
    }

    /// Records the answer for every delivery the request carried; a 410 Gone also disables
    /// the endpoint.
    async fn record(&self, claim: Uuid, sent: &[&Delivery], a: &Attempt) -> Result<(), AppError> {
        let mut tx = self.app.db.begin().await?;
        let mut recorded = false;
        for d in sent {
            recorded |= webhooks::record_attempt(&mut tx, claim, &attempt_of(a, d)).await?;
        }
        if recorded && a.status_code == Some(410) {
            let reason = "The endpoint answered 410 Gone: it no longer takes webhooks.";
            disable(
                &self.app,
                &mut tx,
                sent[0].org_id,
                sent[0].endpoint_id,
                reason,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Disables endpoints failing without a success for the configured number of days.
    pub async fn disable_failing(&self) -> Result<usize, AppError> {
        let days = i64::from(self.app.config.webhooks.disable_after_days);
        let before = self.app.clock.now() - days * 24 * crate::clock::HOUR;
        let failing = {
            let mut conn = self.app.db.read_conn().await?;
            webhooks::failing_since_before(&mut conn, before).await?
        };
        for e in &failing {
            let reason = format!(
                "Every delivery failed for {days} days without a success, so Rollcall stopped sending."
            );
            let mut tx = self.app.db.begin().await?;
            disable(&self.app, &mut tx, e.org_id, e.id, &reason).await?;
            tx.commit().await?;
        }
        Ok(failing.len())
    }

    /// Delivers until the process drains.
    pub async fn run(self) {
        let shutdown = self.app.shutdown.clone();
        let mut checked = Instant::now() - HEALTH_CHECK;
        while !shutdown.is_draining() {
            if let Err(e) = self.drain().await {
                tracing::warn!(error = %e, "webhook dispatch failed");
            }
            if checked.elapsed() >= HEALTH_CHECK {
                checked = Instant::now();
                if let Err(e) = self.disable_failing().await {
                    tracing::warn!(error = %e, "could not check failing webhook endpoints");
                }
            }
            tokio::select! {
                _ = notify().notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.draining() => {}
            }
        }
        tracing::info!("webhook dispatcher stopped");
    }
}

/// The requests a claim makes, in claim order: each delivery alone, except that deliveries to
/// an endpoint taking batches go together, up to its `batch_max`.
fn requests<'a>(
    claimed: &'a [Delivery],
    targets: &HashMap<Uuid, Target>,
) -> Vec<Vec<&'a Delivery>> {
    let mut out: Vec<Vec<&Delivery>> = Vec::new();
    let mut filling: HashMap<Uuid, usize> = HashMap::new();
    for d in claimed {
        let max = targets
            .get(&d.endpoint_id)
            .map_or(1, |t| t.endpoint.batch_max.max(1) as usize);
        match filling.get(&d.endpoint_id) {
            Some(&i) if out[i].len() < max => out[i].push(d),
            _ => {
                filling.insert(d.endpoint_id, out.len());
                out.push(vec![d]);
            }
        }
    }
    out
}

/// A `webhook.batch` event listing several events, each with the `id` it would have had alone
/// (what a receiver deduplicates on), and the batch's own `webhook-id`: the same for the same
/// events, so a retry of the same batch is recognised too.
fn batch(sent: &[&Delivery], now: i64) -> (String, String) {
    use sha2::{Digest, Sha256};
    let events: Vec<serde_json::Value> = sent
        .iter()
        .map(|d| {
            let mut e: serde_json::Value =
                serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null);
            if let Some(fields) = e.as_object_mut() {
                fields.insert("id".into(), d.event_id.clone().into());
            }
            e
        })
        .collect();
    let ids: Vec<&str> = sent.iter().map(|d| d.event_id.as_str()).collect();
    let digest = Sha256::digest(ids.join(",").as_bytes());
    let id = format!("msg_batch_{}", hex::encode(&digest[..12]));
    let body = serde_json::json!({
        "type": "webhook.batch",
        "timestamp": crate::clock::rfc3339(now),
        "data": { "events": events },
    });
    (id, body.to_string())
}

/// The attempt as one delivery of a request records it: its own retry schedule (deliveries
/// sent together may have been tried before a different number of times).
fn attempt_of(answer: &Attempt, d: &Delivery) -> Attempt {
    let mut a = answer.clone();
    a.delivery_id = d.id;
    if !a.delivered && a.status_code != Some(410) {
        a.retry_at = retry_after_secs(d.attempts + 1).map(|s| a.at + s * 1_000_000);
    }
    a
}

/// Why a request failed, for the delivery log (the URL is the endpoint's own; no secret).
fn describe(e: &reqwest::Error) -> String {
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why = format!("{why}: {s}");
        source = s.source();
    }
    if e.is_timeout() {
        "The endpoint did not answer within 10 seconds.".into()
    } else {
        why
    }
}

/// Turns an endpoint off with the reason, cancels what it had queued, audits it and tells the
/// organization's company admins by email.
async fn disable(
    app: &App,
    tx: &mut rollcall_store::Conn,
    org_id: Uuid,
    endpoint_id: Uuid,
    reason: &str,
) -> Result<(), AppError> {
    let Some(mut e) = webhooks::get(tx, org_id, endpoint_id).await? else {
        return Ok(());
    };
    if !e.enabled {
        return Ok(());
    }
    let now = app.clock.now();
    e.enabled = false;
    e.disabled_reason = Some(reason.to_string());
    e.updated_at = now;
    webhooks::update(tx, &e).await?;
    webhooks::cancel_queued(tx, endpoint_id).await?;
    let event = Meta::system("Rollcall").change(
        "webhook_endpoint.disabled",
        "webhook_endpoint",
        Some(endpoint_id),
        None::<&()>,
        Some(&serde_json::json!({ "url": e.url, "reason": reason })),
    );
    audit::append(tx, org_id, now, &[event]).await?;
    let admins = users::active_holding(tx, org_id, &[Permission::AdminCompany]).await?;
    let notices: Vec<OutboxMessage> = admins
        .iter()
        .map(|admin| {
            OutboxMessage::notice(
                org_id,
                &admin.email,
                "A webhook endpoint was disabled".into(),
                format!(
                "Rollcall stopped sending webhooks to {url} ({description}).\n\n{reason}\n\nFix the receiver, then enable the endpoint again under Settings → Webhooks ({public}/settings/webhooks). Events that happened meanwhile can be sent again from its delivery log.\n",
                url = e.url,
                description = if e.description.is_empty() { "no description" } else { &e.description },
                public = crate::delivery::messages::PUBLIC_URL,
            ),
                now,
            )
        })
        .collect();
    outbox::enqueue(tx, &notices).await?;
    tracing::warn!(endpoint = %endpoint_id, reason, "webhook endpoint disabled");
    Ok(())
}

/// Starts the webhook dispatcher; it runs until the process drains.
pub fn spawn_dispatcher(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(WebhookDispatcher::new(app).run())
}
