//! Webhooks page: a company admin registers the endpoints that hear of access changes, sees a
//! new signing secret once, changes, rotates, tests and deletes an endpoint (rotation and
//! deletion asked about first), and reads an endpoint's delivery log and redelivers from it.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rollcall_app::clock::{instant, local};
use rollcall_app::domain::webhook::EventType;
use rollcall_app::webhooks::{
    self, AttemptView, DeliveryView, EndpointChange, EndpointView, NewEndpoint,
};
use rollcall_app::{App, AppError};
use serde::Deserialize;
use uuid::Uuid;

use super::confirm::{self, Question};
use super::form::FormState;
use super::{Nav, first_value, values};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/settings/webhooks", get(page).post(create))
        .route("/settings/webhooks/{id}", get(edit).post(save))
        .route("/settings/webhooks/{id}/rotate", post(rotate))
        .route("/settings/webhooks/{id}/delete", post(delete))
        .route("/settings/webhooks/{id}/test", post(test))
        .route("/settings/webhooks/{id}/deliveries", get(log))
        .route(
            "/settings/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(redeliver),
        )
}

/// A time people read: in the organization's zone.
fn when(rfc: &str, zone: &str) -> String {
    instant(rfc).map(|t| local(t, zone)).unwrap_or_default()
}

/// What an event type is called on the page.
fn label(key: &str) -> String {
    match key {
        "webhook.test" => "Test event".into(),
        _ => EventType::parse(key)
            .map(|t| t.label().to_string())
            .unwrap_or_else(|_| key.to_string()),
    }
}

/// An endpoint as the pages show it.
struct Row {
    id: Uuid,
    url: String,
    description: String,
    /// The event types it receives, as sentences.
    labels: Vec<String>,
    keys: Vec<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    failing_since: Option<String>,
    previous_until: Option<String>,
    batch_max: i64,
    created: String,
}

impl Row {
    fn of(e: EndpointView, zone: &str) -> Row {
        Row {
            id: e.id,
            labels: e.event_types.iter().map(|k| label(k)).collect(),
            keys: e.event_types,
            url: e.url,
            description: e.description,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since.map(|t| when(&t, zone)),
            previous_until: e.previous_secret_valid_until.map(|t| when(&t, zone)),
            batch_max: e.batch_max,
            created: when(&e.created_at, zone),
        }
    }

    fn name(&self) -> &str {
        name_of(&self.description, &self.url)
    }
}

/// The name the pages give an endpoint: its description, else its address.
fn name_of<'a>(description: &'a str, url: &'a str) -> &'a str {
    if description.is_empty() {
        url
    } else {
        description
    }
}

/// The event types to choose from: key and sentence.
fn choices() -> Vec<(&'static str, &'static str)> {
    EventType::ALL
        .iter()
        .map(|t| (t.key(), t.label()))
        .collect()
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    nav: Nav,
    types: Vec<(&'static str, &'static str)>,
    endpoints: Vec<Row>,
    /// The endpoint just registered and its secret, shown this once.
    created: Option<(Row, String)>,
    notice: Option<String>,
    form: FormState,
}

async fn show(
    app: &App,
    user: &ConsoleUser,
    created: Option<(EndpointView, String)>,
    notice: Option<String>,
    form: FormState,
) -> Result<Response, PageError> {
    let zone = &user.principal.time_zone;
    let endpoints = webhooks::list(app, &user.principal)
        .await?
        .into_iter()
        .map(|e| Row::of(e, zone))
        .collect();
    Ok(render(&WebhooksPage {
        nav: Nav::of(user),
        types: choices(),
        endpoints,
        created: created.map(|(e, secret)| (Row::of(e, zone), secret)),
        notice,
        form,
    }))
}

/// What the list says after a change it was sent back to (fixed sentences, never request text).
#[derive(Deserialize)]
pub struct ListNotice {
    #[serde(default)]
    saved: Option<Uuid>,
    #[serde(default)]
    deleted: Option<u8>,
}

pub async fn page(
    State(app): State<App>,
    user: ConsoleUser,
    Query(q): Query<ListNotice>,
) -> Result<Response, PageError> {
    let notice = match (q.saved, q.deleted) {
        (Some(id), _) => webhooks::get(&app, &user.principal, id)
            .await
            .ok()
            .map(|e| format!("“{}” is saved.", name_of(&e.description, &e.url))),
        (None, Some(_)) => Some("The webhook endpoint is deleted.".to_string()),
        _ => None,
    };
    show(&app, &user, None, notice, FormState::stored()).await
}

/// The events-per-request field: empty means `default`; anything but a number is sent on as 0,
/// which the check refuses with its own message.
fn batch_field(pairs: &[(String, String)], default: i64) -> i64 {
    match first_value(pairs, "batch_max").trim() {
        "" => default,
        n => n.parse().unwrap_or(0),
    }
}

pub async fn create(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let req = NewEndpoint {
        url: first_value(&pairs, "url").trim().to_string(),
        description: first_value(&pairs, "description").to_string(),
        event_types: values(&pairs, "event_type"),
        enabled: Some(true),
        batch_max: Some(batch_field(&pairs, 1)),
    };
    match webhooks::create(&app, &user.principal, &req, &user.meta()).await {
        Ok(made) => {
            let created = Some((made.endpoint, made.secret));
            show(&app, &user, created, None, FormState::stored()).await
        }
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_) | AppError::Conflict(_))) => {
            show(&app, &user, None, None, FormState::refused(pairs, &e)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    nav: Nav,
    types: Vec<(&'static str, &'static str)>,
    e: Row,
    /// The new secret after a rotation, shown this once.
    secret: Option<String>,
    notice: Option<String>,
    form: FormState,
}

impl WebhookPage {
    fn receives(&self, key: &str) -> bool {
        let stored = self.e.keys.iter().any(|k| k == key);
        self.form.chosen("event_type", key, stored)
    }

    fn on(&self) -> bool {
        self.form.chosen("enabled", "on", self.e.enabled)
    }
}

async fn show_one(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    secret: Option<String>,
    notice: Option<String>,
    form: FormState,
) -> Result<Response, PageError> {
    let e = webhooks::get(app, &user.principal, id).await?;
    Ok(render(&WebhookPage {
        nav: Nav::of(user),
        types: choices(),
        e: Row::of(e, &user.principal.time_zone),
        secret,
        notice,
        form,
    }))
}

/// One endpoint's page: its settings to change, its secret to rotate, a test, deletion.
pub async fn edit(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    show_one(&app, &user, id, None, None, FormState::stored()).await
}

pub async fn save(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let change = EndpointChange {
        url: Some(first_value(&pairs, "url").trim().to_string()),
        description: Some(first_value(&pairs, "description").to_string()),
        event_types: Some(values(&pairs, "event_type")),
        enabled: Some(first_value(&pairs, "enabled") == "on"),
        batch_max: Some(batch_field(&pairs, 1)),
    };
    match webhooks::update(&app, &user.principal, id, &change, &user.meta()).await {
        Ok(_) => Ok(Redirect::to(&format!("/settings/webhooks?saved={id}")).into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            show_one(&app, &user, id, None, None, FormState::refused(pairs, &e)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Gives the endpoint a new signing secret, after asking.
pub async fn rotate(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    if !confirm::confirmed(&pairs) {
        let e = Row::of(
            webhooks::get(&app, &user.principal, id).await?,
            &user.principal.time_zone,
        );
        let q = Question {
            heading: format!("Rotate the signing secret of “{}”?", e.name()),
            consequences: vec![
                "A new signing secret is made and shown once; copy it into the receiver's settings."
                    .into(),
                "For one day, every delivery is signed with both the old and the new secret, so the receiver keeps accepting events while it switches.".into(),
                "After that day, the old secret no longer signs anything.".into(),
            ],
            button: "Rotate the secret".into(),
            action: format!("/settings/webhooks/{id}/rotate"),
            cancel: format!("/settings/webhooks/{id}"),
        };
        return Ok(confirm::ask(&user, q, &pairs));
    }
    let rotated = webhooks::rotate(&app, &user.principal, id, &user.meta()).await?;
    show_one(
        &app,
        &user,
        id,
        Some(rotated.secret),
        None,
        FormState::stored(),
    )
    .await
}

/// Deletes the endpoint and its delivery log, after asking.
pub async fn delete(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let e = Row::of(
        webhooks::get(&app, &user.principal, id).await?,
        &user.principal.time_zone,
    );
    if !confirm::confirmed(&pairs) {
        let q = Question {
            heading: format!("Delete the webhook endpoint “{}”?", e.name()),
            consequences: vec![
                format!("{} hears of no further changes from Rollcall.", e.url),
                "Deliveries still waiting are not sent, and its delivery log is deleted with it."
                    .into(),
                "This cannot be undone.".into(),
            ],
            button: "Delete the endpoint".into(),
            action: format!("/settings/webhooks/{id}/delete"),
            cancel: format!("/settings/webhooks/{id}"),
        };
        return Ok(confirm::ask(&user, q, &pairs));
    }
    webhooks::delete(&app, &user.principal, id, &user.meta()).await?;
    Ok(Redirect::to("/settings/webhooks?deleted=1").into_response())
}

#[derive(Template)]
#[template(path = "webhook_deliveries.html")]
struct DeliveriesPage {
    nav: Nav,
    e: Row,
    deliveries: Vec<DeliveryRow>,
    /// The link to the next (older) page, if any.
    older: Option<String>,
    notice: Option<(&'static str, String)>,
}

struct DeliveryRow {
    id: Uuid,
    event: String,
    state: &'static str,
    /// Whether it may be sent again now (not while it waits for its next attempt).
    redeliverable: bool,
    created: String,
    delivered: Option<String>,
    next_attempt: Option<String>,
    attempts: Vec<AttemptRow>,
}

struct AttemptRow {
    number: i64,
    at: String,
    status: String,
    response_ms: i64,
    error: Option<String>,
}

fn state_text(state: &str) -> &'static str {
    match state {
        "queued" => "Waiting to be sent",
        "delivered" => "Delivered",
        "failed" => "Failed",
        "cancelled" => "Cancelled",
        _ => "Unknown",
    }
}

impl DeliveryRow {
    fn of(d: DeliveryView, zone: &str) -> DeliveryRow {
        DeliveryRow {
            id: d.id,
            event: label(&d.event_type),
            state: state_text(&d.state),
            redeliverable: d.state != "queued",
            created: when(&d.created_at, zone),
            delivered: d.delivered_at.map(|t| when(&t, zone)),
            next_attempt: d.next_attempt_at.map(|t| when(&t, zone)),
            attempts: d
                .attempt_log
                .into_iter()
                .map(|a: AttemptView| AttemptRow {
                    number: a.attempt,
                    at: when(&a.at, zone),
                    status: a
                        .status_code
                        .map(|s| format!("HTTP {s}"))
                        .unwrap_or_else(|| "no answer".into()),
                    response_ms: a.response_ms,
                    error: a.error,
                })
                .collect(),
        }
    }
}

#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    after: Option<String>,
    /// What was just queued: `test` or `again` (a redelivery).
    #[serde(default)]
    queued: Option<String>,
}

async fn show_log(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    after: Option<&str>,
    notice: Option<(&'static str, String)>,
) -> Result<Response, PageError> {
    let zone = &user.principal.time_zone;
    let e = Row::of(webhooks::get(app, &user.principal, id).await?, zone);
    let page = webhooks::deliveries(app, &user.principal, id, after, Some(50)).await?;
    Ok(render(&DeliveriesPage {
        nav: Nav::of(user),
        e,
        deliveries: page
            .deliveries
            .into_iter()
            .map(|d| DeliveryRow::of(d, zone))
            .collect(),
        older: page
            .next
            .map(|n| format!("/settings/webhooks/{id}/deliveries?after={n}")),
        notice,
    }))
}

/// An endpoint's delivery log, newest first.
pub async fn log(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    Query(q): Query<LogQuery>,
) -> Result<Response, PageError> {
    let notice = match q.queued.as_deref() {
        Some("test") => {
            Some("A test event is on its way; it shows here with its answer once sent.".to_string())
        }
        Some("again") => Some("The event is queued to be sent again.".to_string()),
        _ => None,
    };
    show_log(
        &app,
        &user,
        id,
        q.after.as_deref(),
        notice.map(|n| ("ok", n)),
    )
    .await
}

/// Queues a test event for the endpoint and goes to its delivery log.
pub async fn test(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(_): ConsoleForm,
) -> Result<Response, PageError> {
    match webhooks::send_test(&app, &user.principal, id, &user.meta()).await {
        Ok(_) => Ok(queued(id, "test")),
        Err(AppError::Conflict(why)) => show_log(&app, &user, id, None, Some(("error", why))).await,
        Err(e) => Err(e.into()),
    }
}

/// Back to the delivery log after queuing something (a reload sends nothing again).
fn queued(endpoint: Uuid, what: &str) -> Response {
    Redirect::to(&format!(
        "/settings/webhooks/{endpoint}/deliveries?queued={what}"
    ))
    .into_response()
}

/// Sends a delivery again (with the same webhook-id) and goes back to the log.
pub async fn redeliver(
    State(app): State<App>,
    user: ConsoleUser,
    Path((id, delivery)): Path<(Uuid, Uuid)>,
    ConsoleForm(_): ConsoleForm,
) -> Result<Response, PageError> {
    match webhooks::redeliver(&app, &user.principal, delivery, &user.meta()).await {
        Ok(d) => Ok(queued(d.endpoint_id, "again")),
        Err(AppError::Conflict(why)) => show_log(&app, &user, id, None, Some(("error", why))).await,
        Err(e) => Err(e.into()),
    }
}
