//! Webhooks (Standard Webhooks): a company admin registers endpoints that hear at once when
//! access changes. Events come from the audit trail where it is written (see
//! `rollcall_store::webhooks::events`); the [`dispatcher`] signs and POSTs them.

mod dispatcher;
pub mod seal;
pub mod target;

use rollcall_domain::webhook::parse_event_types;
use rollcall_domain::{Capability, ValueError};
use rollcall_store::webhooks::{self, Delivery, Endpoint, NewDelivery};
use rollcall_store::{audit, new_id};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub(crate) use dispatcher::wake;
pub use dispatcher::{WebhookDispatcher, sign, spawn_dispatcher};

use crate::audit::Meta;
use crate::clock::{HOUR, rfc3339};
use crate::error::FieldErrors;
use crate::{App, AppError, Principal};

/// How long the secret before a rotation stays valid (signed with too).
pub const ROTATION_GRACE: i64 = 24 * HOUR;
const MAX_DESCRIPTION: usize = 200;
const MAX_ENDPOINTS: usize = 50;
/// Most events one batched request carries.
pub const MAX_BATCH: i64 = 100;

/// An endpoint as it is asked for.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// `https://…` on a public host.
    #[schema(schema_with = crate::schema::webhook_url)]
    pub url: String,
    /// What the endpoint is for, e.g. "Scheduling app" (at most 200 characters).
    #[serde(default)]
    pub description: String,
    /// The event types to receive, e.g. `["user.deactivated", "user.access_changed"]`.
    #[schema(schema_with = crate::schema::event_types)]
    pub event_types: Vec<String>,
    /// Whether deliveries are made (true when absent).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Events sent in one request at most, 1–100 (1 when absent: each event alone). Above 1,
    /// events due together arrive as one `batch` event listing them.
    #[serde(default, deserialize_with = "crate::schema::whole")]
    #[schema(minimum = 1, maximum = 100)]
    pub batch_max: Option<i64>,
}

/// Changes to an endpoint: what is absent stays as it is.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    #[schema(schema_with = crate::schema::webhook_url_or_null)]
    pub url: Option<String>,
    pub description: Option<String>,
    #[schema(schema_with = crate::schema::event_types_or_null)]
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "crate::schema::whole")]
    #[schema(minimum = 1, maximum = 100)]
    pub batch_max: Option<i64>,
}

/// An endpoint as lists show it (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Rollcall disabled it (410 Gone, failing for days), if it did.
    pub disabled_reason: Option<String>,
    /// Since when deliveries fail without a success (RFC 3339), if they do.
    pub failing_since: Option<String>,
    /// Until when the secret before the last rotation is still signed with.
    pub previous_secret_valid_until: Option<String>,
    /// Events sent in one request at most (1: each event alone).
    pub batch_max: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl EndpointView {
    pub fn of(e: &Endpoint, now: i64) -> EndpointView {
        EndpointView {
            id: e.id,
            url: e.url.clone(),
            description: e.description.clone(),
            event_types: e.event_types.split(' ').map(str::to_string).collect(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since.map(rfc3339),
            previous_secret_valid_until: e.previous_until.filter(|u| *u > now).map(rfc3339),
            batch_max: e.batch_max,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// An endpoint with its signing secret, shown this once (`whsec_…`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WithSecret {
    pub endpoint: EndpointView,
    pub secret: String,
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AttemptView {
    /// 1 for the first attempt.
    pub attempt: i64,
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i64>,
    pub response_ms: i64,
    pub error: Option<String>,
}

/// A delivery of one event to one endpoint, with its attempts.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// The `webhook-id` header: the same for every attempt and redelivery of the event.
    pub event_id: String,
    pub event_type: String,
    /// queued, delivered, failed or cancelled.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub attempt_log: Vec<AttemptView>,
    /// The signed body.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl DeliveryView {
    fn of(d: &Delivery, log: Vec<AttemptView>) -> DeliveryView {
        DeliveryView {
            id: d.id,
            endpoint_id: d.endpoint_id,
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            state: d.state.clone(),
            attempts: d.attempts,
            next_attempt_at: (d.state == "queued").then(|| rfc3339(d.next_attempt_at)),
            created_at: rfc3339(d.created_at),
            delivered_at: d.delivered_at.map(rfc3339),
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            attempt_log: log,
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// The checked URL, description, event types and batch size of a request.
struct Checked {
    url: String,
    description: String,
    event_types: String,
    batch_max: i64,
}

async fn check(
    app: &App,
    url: &str,
    description: &str,
    event_types: &[String],
    batch_max: i64,
) -> Result<Checked, AppError> {
    let allow = app.config.webhooks.allow_private;
    let mut errors = FieldErrors::default();
    let parsed = errors.take(target::parse(url, allow));
    if let Some(u) = &parsed {
        errors.take(target::check_reachable(u, allow).await);
    }
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION || description.contains('\n') {
        errors.take::<()>(Err(ValueError::new(
            "description",
            "description_too_long",
            "Keep the description to one line of at most 200 characters.",
        )));
    }
    let types = errors.take(parse_event_types(event_types));
    if !(1..=MAX_BATCH).contains(&batch_max) {
        errors.take::<()>(Err(ValueError::new(
            "batch_max",
            "batch_max_out_of_range",
            "Events per request must be a whole number from 1 (each event alone) to 100.",
        )));
    }
    errors.into_result()?;
    Ok(Checked {
        url: parsed.map(|u| u.to_string()).unwrap_or_default(),
        description: description.to_string(),
        event_types: types
            .unwrap_or_default()
            .iter()
            .map(|t| t.key())
            .collect::<Vec<_>>()
            .join(" "),
        batch_max,
    })
}

async fn endpoint_in(
    conn: &mut rollcall_store::Conn,
    org_id: Uuid,
    id: Uuid,
) -> Result<Endpoint, AppError> {
    webhooks::get(conn, org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook endpoint"))
}

/// The organization's endpoints. Company admins only.
pub async fn list(app: &App, who: &Principal) -> Result<Vec<EndpointView>, AppError> {
    who.require(Capability::ManageSettings)?;
    let mut conn = app.db.read_conn().await?;
    let now = app.clock.now();
    Ok(webhooks::list(&mut conn, who.org_id)
        .await?
        .iter()
        .map(|e| EndpointView::of(e, now))
        .collect())
}

pub async fn get(app: &App, who: &Principal, id: Uuid) -> Result<EndpointView, AppError> {
    who.require(Capability::ManageSettings)?;
    let mut conn = app.db.read_conn().await?;
    let e = endpoint_in(&mut conn, who.org_id, id).await?;
    Ok(EndpointView::of(&e, app.clock.now()))
}

/// Registers an endpoint; its signing secret is in the answer only.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn create(
    app: &App,
    who: &Principal,
    req: &NewEndpoint,
    meta: &Meta,
) -> Result<WithSecret, AppError> {
    who.require(Capability::ManageSettings)?;
    let batch_max = req.batch_max.unwrap_or(1);
    let c = check(app, &req.url, &req.description, &req.event_types, batch_max).await?;
    let secret = seal::new_secret();
    let sealed = seal::seal(app, &secret)?;
    let now = app.clock.now();
    let e = Endpoint {
        id: new_id(),
        org_id: who.org_id,
        url: c.url,
        description: c.description,
        event_types: c.event_types,
        enabled: req.enabled.unwrap_or(true),
        disabled_reason: None,
        secret_sealed: sealed,
        previous_sealed: None,
        previous_until: None,
        failing_since: None,
        batch_max: c.batch_max,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.db.begin().await?;
    if webhooks::list(&mut tx, who.org_id).await?.len() >= MAX_ENDPOINTS {
        return Err(AppError::Conflict(format!(
            "An organization has at most {MAX_ENDPOINTS} webhook endpoints. Delete one you no longer use first."
        )));
    }
    webhooks::insert(&mut tx, &e).await?;
    let view = EndpointView::of(&e, now);
    let event = meta.change(
        "webhook_endpoint.created",
        "webhook_endpoint",
        Some(e.id),
        None::<&()>,
        Some(&view),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(WithSecret {
        endpoint: view,
        secret: seal::shown(&secret),
    })
}

/// Changes an endpoint's URL, description, event types or whether it is enabled.
#[tracing::instrument(skip_all, fields(org = %who.org_id, endpoint = %id))]
pub async fn update(
    app: &App,
    who: &Principal,
    id: Uuid,
    req: &EndpointChange,
    meta: &Meta,
) -> Result<EndpointView, AppError> {
    who.require(Capability::ManageSettings)?;
    let now = app.clock.now();
    let current = {
        let mut conn = app.db.read_conn().await?;
        endpoint_in(&mut conn, who.org_id, id).await?
    };
    let types: Vec<String> = match &req.event_types {
        Some(t) => t.clone(),
        None => current.event_types.split(' ').map(str::to_string).collect(),
    };
    let c = check(
        app,
        req.url.as_deref().unwrap_or(&current.url),
        req.description.as_deref().unwrap_or(&current.description),
        &types,
        req.batch_max.unwrap_or(current.batch_max),
    )
    .await?;
    let mut tx = app.db.begin().await?;
    let before = endpoint_in(&mut tx, who.org_id, id).await?;
    let mut after = before.clone();
    after.url = c.url;
    after.description = c.description;
    after.event_types = c.event_types;
    after.batch_max = c.batch_max;
    if let Some(on) = req.enabled {
        after.enabled = on;
        if on {
            after.disabled_reason = None;
            after.failing_since = None;
        }
    }
    after.updated_at = now;
    webhooks::update(&mut tx, &after).await?;
    if before.enabled && !after.enabled {
        webhooks::cancel_queued(&mut tx, id).await?;
    }
    let (was, is) = (
        EndpointView::of(&before, now),
        EndpointView::of(&after, now),
    );
    let action = if before.enabled && !after.enabled {
        "webhook_endpoint.disabled"
    } else {
        "webhook_endpoint.changed"
    };
    let event = meta.change(action, "webhook_endpoint", Some(id), Some(&was), Some(&is));
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(is)
}

/// Deletes an endpoint with its delivery log.
pub async fn delete(app: &App, who: &Principal, id: Uuid, meta: &Meta) -> Result<(), AppError> {
    who.require(Capability::ManageSettings)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let e = endpoint_in(&mut tx, who.org_id, id).await?;
    webhooks::delete(&mut tx, who.org_id, id).await?;
    let view = EndpointView::of(&e, now);
    let event = meta.change(
        "webhook_endpoint.deleted",
        "webhook_endpoint",
        Some(id),
        Some(&view),
        None::<&()>,
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(())
}

/// Gives an endpoint a new secret, shown this once. Deliveries are signed with both the new
/// and the old secret for a day, so the receiver can switch without losing an event.
pub async fn rotate(
    app: &App,
    who: &Principal,
    id: Uuid,
    meta: &Meta,
) -> Result<WithSecret, AppError> {
    who.require(Capability::ManageSettings)?;
    let secret = seal::new_secret();
    let sealed = seal::seal(app, &secret)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let mut e = endpoint_in(&mut tx, who.org_id, id).await?;
    e.previous_sealed = Some(std::mem::replace(&mut e.secret_sealed, sealed));
    e.previous_until = Some(now + ROTATION_GRACE);
    e.updated_at = now;
    webhooks::update(&mut tx, &e).await?;
    let view = EndpointView::of(&e, now);
    let event = meta.change(
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint",
        Some(id),
        None::<&()>,
        Some(&serde_json::json!({ "previous_valid_until": view.previous_secret_valid_until })),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(WithSecret {
        endpoint: view,
        secret: seal::shown(&secret),
    })
}

/// Queues a `webhook.test` event for one endpoint (whatever the types it asked for).
pub async fn send_test(
    app: &App,
    who: &Principal,
    id: Uuid,
    meta: &Meta,
) -> Result<DeliveryView, AppError> {
    who.require(Capability::ManageSettings)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let e = endpoint_in(&mut tx, who.org_id, id).await?;
    if !e.enabled {
        return Err(AppError::Conflict(
            "The endpoint is disabled: enable it first, then send a test event.".into(),
        ));
    }
    let delivery_id = new_id();
    let payload = serde_json::json!({
        "type": "webhook.test",
        "timestamp": rfc3339(now),
        "data": { "endpoint_id": id, "organization_id": who.org_id, "sent_by": who.label },
    });
    let d = NewDelivery {
        id: delivery_id,
        org_id: who.org_id,
        endpoint_id: id,
        event_id: format!("msg_{}", delivery_id.simple()),
        event_type: "webhook.test".into(),
        payload: payload.to_string(),
        created_at: now,
    };
    webhooks::enqueue(&mut tx, std::slice::from_ref(&d)).await?;
    let event = meta.event("webhook_endpoint.tested", "webhook_endpoint", Some(id));
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    let stored = webhooks::delivery(&mut tx, who.org_id, delivery_id)
        .await?
        .ok_or_else(|| AppError::Internal("the test delivery was not stored".into()))?;
    tx.commit().await?;
    dispatcher::wake();
    Ok(DeliveryView::of(&stored, Vec::new()))
}

/// A page of an endpoint's delivery log.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `after` for the next (older) page; `null` on the last page.
    pub next: Option<String>,
}

/// An endpoint's deliveries, newest first, each with its attempts. `after` is the previous
/// page's `next`; `limit` 1 to 200 (50 when absent).
pub async fn deliveries(
    app: &App,
    who: &Principal,
    id: Uuid,
    after: Option<&str>,
    limit: Option<u32>,
) -> Result<DeliveryPage, AppError> {
    who.require(Capability::ManageSettings)?;
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ValueError::new(
            "limit",
            "limit_out_of_range",
            format!("limit {limit} is out of range: ask for 1 to 200 deliveries a page."),
        )
        .into());
    }
    let before = after
        .filter(|a| !a.is_empty())
        .map(|a| {
            Uuid::parse_str(a).map_err(|_| {
                ValueError::new(
                    "after",
                    "cursor_invalid",
                    "after is not a cursor this list gave: pass the previous page's next as it is.",
                )
            })
        })
        .transpose()?;
    let mut conn = app.db.read_conn().await?;
    endpoint_in(&mut conn, who.org_id, id).await?;
    let list = webhooks::deliveries(&mut conn, id, before, limit + 1).await?;
    let more = list.len() > limit as usize;
    let list = &list[..list.len().min(limit as usize)];
    let ids: Vec<Uuid> = list.iter().map(|d| d.id).collect();
    let log = webhooks::attempts(&mut conn, &ids).await?;
    let deliveries = list
        .iter()
        .map(|d| {
            let mine = log
                .iter()
                .filter(|(of, _)| *of == d.id)
                .map(|(_, a)| AttemptView {
                    attempt: a.attempt,
                    at: rfc3339(a.at),
                    status_code: a.status_code,
                    response_ms: a.response_ms,
                    error: a.error.clone(),
                })
                .collect();
            DeliveryView::of(d, mine)
        })
        .collect();
    Ok(DeliveryPage {
        deliveries,
        next: more
            .then(|| list.last().map(|d| d.id.to_string()))
            .flatten(),
    })
}

/// Sends a delivery again now, with the same `webhook-id` (a receiver that has it ignores it).
pub async fn redeliver(
    app: &App,
    who: &Principal,
    delivery_id: Uuid,
    meta: &Meta,
) -> Result<DeliveryView, AppError> {
    who.require(Capability::ManageSettings)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let d = webhooks::delivery(&mut tx, who.org_id, delivery_id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook delivery"))?;
    let e = endpoint_in(&mut tx, who.org_id, d.endpoint_id).await?;
    if !e.enabled {
        return Err(AppError::Conflict(
            "The endpoint is disabled: enable it first, then redeliver.".into(),
        ));
    }
    if !webhooks::requeue(&mut tx, who.org_id, delivery_id, now).await? {
        return Err(AppError::Conflict(
            "This delivery is still queued: it will be sent at its next attempt.".into(),
        ));
    }
    let event = meta.change(
        "webhook_delivery.redelivered",
        "webhook_endpoint",
        Some(d.endpoint_id),
        None::<&()>,
        Some(&serde_json::json!({ "delivery": delivery_id, "event_id": d.event_id })),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    let again = webhooks::delivery(&mut tx, who.org_id, delivery_id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook delivery"))?;
    tx.commit().await?;
    dispatcher::wake();
    Ok(DeliveryView::of(&again, Vec::new()))
}

/// Deliveries still to make, of every organization (for benchmarks and the CLI).
pub async fn pending(app: &App) -> Result<i64, AppError> {
    let mut conn = app.db.read_conn().await?;
    Ok(webhooks::pending(&mut conn).await?)
}
