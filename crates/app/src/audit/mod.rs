//! The audit trail: who did something, from where (attached to every event a use case records),
//! and reading it back: the organization's log with filters, one user's history, exports.

pub mod archive;
pub mod words;

use futures::StreamExt;
use rollcall_domain::{Capability, ValueError};
use rollcall_store::audit::{self, ActionMatch, AuditQuery, NewEvent, Verification};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::sheet::Sheet;
use crate::{App, AppError, Principal};

#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

impl Meta {
    /// An action taken by an operator at the command line or by Rollcall itself.
    pub fn system(label: &str) -> Meta {
        Meta {
            actor_label: label.to_string(),
            ..Default::default()
        }
    }

    pub fn of(p: &Principal, request_id: Option<String>, source_ip: Option<String>) -> Meta {
        Meta {
            actor_id: Some(p.actor_id()),
            actor_label: p.label.clone(),
            request_id,
            source_ip,
        }
    }

    pub fn event(&self, action: &str, target_type: &str, target_id: Option<Uuid>) -> NewEvent {
        NewEvent {
            actor_id: self.actor_id,
            actor_label: self.actor_label.clone(),
            action: action.to_string(),
            target_type: target_type.to_string(),
            target_id,
            request_id: self.request_id.clone(),
            source_ip: self.source_ip.clone(),
            ..Default::default()
        }
    }

    pub fn change<B: Serialize, A: Serialize>(
        &self,
        action: &str,
        target_type: &str,
        target_id: Option<Uuid>,
        before: Option<&B>,
        after: Option<&A>,
    ) -> NewEvent {
        NewEvent {
            before: before.map(|b| serde_json::to_string(b).expect("audit value serializes")),
            after: after.map(|a| serde_json::to_string(a).expect("audit value serializes")),
            ..self.event(action, target_type, target_id)
        }
    }
}

/// Checks the hash chain of every organization (or one).
pub async fn verify(
    app: &App,
    org_slug: Option<&str>,
) -> Result<Vec<(String, Verification)>, AppError> {
    let mut conn = app.db.read_conn().await?;
    verify_on(&mut conn, org_slug).await
}

/// [`verify`] on an open connection: the live database or a backup's copy.
pub(crate) async fn verify_on(
    conn: &mut rollcall_store::Conn,
    org_slug: Option<&str>,
) -> Result<Vec<(String, Verification)>, AppError> {
    let mut out = Vec::new();
    for org in rollcall_store::orgs::list(&mut *conn).await? {
        if org_slug.is_some_and(|s| s != org.slug) {
            continue;
        }
        out.push((org.slug.clone(), audit::verify(&mut *conn, org.id).await?));
    }
    if out.is_empty()
        && let Some(s) = org_slug
    {
        return Err(AppError::NotFound(format!(
            "No organization “{s}”. `rollcall org list` shows them."
        )));
    }
    Ok(out)
}

/// Filters of the audit log as people and clients send them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// A user id, or text found in the actor's name or email (case-insensitive).
    pub actor: Option<String>,
    /// An exact action such as `user.invited`, or a prefix ending in `.` or `*` such as `user.`.
    pub action: Option<String>,
    /// The id of the user, location, role or token an event is about (blank: any).
    #[param(schema_with = crate::schema::id_or_blank)]
    pub target: Option<String>,
    /// First day included, `YYYY-MM-DD` in the organization's time zone, or an RFC 3339 time.
    #[param(schema_with = crate::schema::day_or_time)]
    pub from: Option<String>,
    /// Last day included, `YYYY-MM-DD` in the organization's time zone, or an RFC 3339 time
    /// (excluded).
    #[param(schema_with = crate::schema::day_or_time)]
    pub to: Option<String>,
    /// Events older than this sequence number, newest first.
    pub before_seq: Option<i64>,
    /// Events newer than this sequence number, oldest first: a feed that follows changes (pass
    /// the `seq` of the last event seen; 0 starts at the beginning).
    pub after_seq: Option<i64>,
    /// The `next` of the previous page: it carries on in the same direction (and takes the
    /// place of `before_seq` and `after_seq`).
    pub after: Option<String>,
    /// Events a page, 1 to 500 (50 when absent; other values are refused).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// One event, for the console, the API and exports.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the organization's hash chain.
    pub seq: i64,
    pub id: Uuid,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub at: String,
    #[serde(skip)]
    pub at_micros: i64,
    pub actor_id: Option<Uuid>,
    /// The actor's name and email as recorded, or the operator.
    pub actor: String,
    /// e.g. `user.invited`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    /// The recorded value before the change, if any.
    pub before: Option<serde_json::Value>,
    /// The recorded value after the change, if any.
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub hash: String,
}

impl AuditEntry {
    fn of(e: audit::Event) -> AuditEntry {
        let value = |s: Option<String>| {
            s.map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
        };
        AuditEntry {
            seq: e.seq,
            id: e.id,
            at: rfc3339(e.at),
            at_micros: e.at,
            actor_id: e.event.actor_id,
            actor: e.event.actor_label,
            action: e.event.action,
            target_type: e.event.target_type,
            target_id: e.event.target_id,
            before: value(e.event.before),
            after: value(e.event.after),
            request_id: e.event.request_id,
            source_ip: e.event.source_ip,
            hash: e.hash,
        }
    }
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    /// Pass as `after` for the next page (opaque); `null` on the last page.
    pub next: Option<String>,
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

fn blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An RFC 3339 instant as it is, or the start of `date` (or of the day after it, for an
/// inclusive end) in `zone`, in microseconds.
fn day_start(
    field: &'static str,
    text: &str,
    zone: &str,
    next_day: bool,
) -> Result<i64, ValueError> {
    if let Some(instant) = crate::clock::instant(text) {
        return Ok(instant);
    }
    let bad = || {
        ValueError::new(
            field,
            "date_invalid",
            format!(
                "“{text}” is not a date or a time: use 2026-03-31 (a whole day in the organization's zone) or 2026-03-31T14:00:00Z."
            ),
        )
    };
    let date: jiff::civil::Date = text.parse().map_err(|_| bad())?;
    let day = if next_day {
        date.tomorrow().ok()
    } else {
        Some(date)
    };
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    day.and_then(|d| d.to_zoned(tz).ok())
        .map(|start| start.timestamp().as_microsecond())
        .or_else(|| crate::clock::edge_of(date))
        .ok_or_else(bad)
}

impl AuditParams {
    /// The store query for these filters; dates are read in `zone`.
    pub fn to_query(&self, zone: &str) -> Result<AuditQuery, ValueError> {
        let (actor_id, actor_text) = match blank(&self.actor) {
            None => (None, None),
            Some(a) => match Uuid::parse_str(a) {
                Ok(id) => (Some(id), None),
                Err(_) => (None, Some(a.chars().take(100).collect())),
            },
        };
        let action = blank(&self.action).map(|a| {
            if let Some(p) = a.strip_suffix('*') {
                ActionMatch::Prefix(p.to_string())
            } else if a.ends_with('.') {
                ActionMatch::Prefix(a.to_string())
            } else {
                ActionMatch::Exact(a.to_string())
            }
        });
        let target_id = blank(&self.target)
            .map(|t| {
                Uuid::parse_str(t).map_err(|_| {
                    ValueError::new(
                        "target",
                        "id_invalid",
                        format!(
                            "“{}” is not an id: paste the id of a user, location, role or token, e.g. from the Target column.",
                            t.chars().take(60).collect::<String>()
                        ),
                    )
                })
            })
            .transpose()?;
        let from = blank(&self.from)
            .map(|d| day_start("from", d, zone, false))
            .transpose()?;
        let to = blank(&self.to)
            .map(|d| day_start("to", d, zone, true))
            .transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            return Err(ValueError::new(
                "to",
                "date_range_invalid",
                "The “to” date is before the “from” date: swap them.",
            ));
        }
        if self.before_seq.is_some() && self.after_seq.is_some() {
            return Err(ValueError::new(
                "after_seq",
                "paging_ambiguous",
                "Page backwards with before_seq or forwards with after_seq, not both.",
            ));
        }
        let (before_seq, after_seq) = match blank(&self.after) {
            Some(c) => Direction::of_cursor(c)?,
            None => (self.before_seq, self.after_seq),
        };
        Ok(AuditQuery {
            actor_id,
            actor_text,
            action,
            target_id,
            from,
            to,
            before_seq,
            after_seq,
            limit: crate::paging::page_size(self.limit, DEFAULT_PAGE, MAX_PAGE, "events")?,
        })
    }

    /// The filters as a query string, without paging, for links that keep them.
    pub fn query_string(&self) -> String {
        [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .iter()
        .filter_map(|(k, v)| blank(v).map(|v| format!("{k}={}", urlencode(v))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// `s` as a query-string value: every byte but letters, digits and `-_.~` is percent-encoded.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Which way a page of the log reads: older events from the newest down, or a feed of newer
/// events from a known point up.
#[derive(Clone, Copy)]
enum Direction {
    Older,
    Newer,
}

impl Direction {
    const TAGS: [(Direction, &str); 2] = [
        (Direction::Older, "audit-older"),
        (Direction::Newer, "audit-newer"),
    ];

    fn tag(self) -> &'static str {
        Self::TAGS[self as usize].1
    }

    fn cursor(self, seq: i64) -> String {
        crate::paging::cursor(self.tag(), seq)
    }

    /// `(before_seq, after_seq)` from a cursor this list gave.
    fn of_cursor(cursor: &str) -> Result<(Option<i64>, Option<i64>), ValueError> {
        match crate::paging::position::<i64>(Direction::Older.tag(), cursor) {
            Ok(seq) => Ok((Some(seq), None)),
            Err(_) => crate::paging::position::<i64>(Direction::Newer.tag(), cursor)
                .map(|seq| (None, Some(seq))),
        }
    }
}

/// Reads one page of `query`, newest first, and says where the next one starts.
async fn page_of(app: &App, org_id: Uuid, query: &AuditQuery) -> Result<AuditPage, AppError> {
    let mut conn = app.db.read_conn().await?;
    // One more than asked tells whether an older page exists.
    let mut events = audit::list(
        &mut conn,
        org_id,
        &AuditQuery {
            limit: query.limit + 1,
            ..query.clone()
        },
    )
    .await?;
    let more = events.len() > query.limit as usize;
    events.truncate(query.limit as usize);
    let direction = match query.after_seq {
        Some(_) => Direction::Newer,
        None => Direction::Older,
    };
    let next = if more {
        events.last().map(|e| direction.cursor(e.seq))
    } else {
        None
    };
    Ok(AuditPage {
        events: events.into_iter().map(AuditEntry::of).collect(),
        next,
    })
}

/// One page of the organization's audit log, newest first.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn list(app: &App, who: &Principal, params: &AuditParams) -> Result<AuditPage, AppError> {
    who.require(Capability::ViewUsers)?;
    let query = params.to_query(&who.time_zone)?;
    page_of(app, who.org_id, &query).await
}

/// The actions present in the organization's log, for the console's filter.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn actions(app: &App, who: &Principal) -> Result<Vec<String>, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    Ok(audit::actions(&mut conn, who.org_id).await?)
}

/// One user's history: who they are and a page of events about them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserHistory {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub page: AuditPage,
}

/// What happened to one user (the events with the user as target), newest first; page with
/// `after` = the previous page's `next`.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn history_of(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    after: Option<&str>,
    limit: u32,
) -> Result<UserHistory, AppError> {
    who.require(Capability::ViewUsers)?;
    let before_seq = after
        .map(|c| crate::paging::position::<i64>(Direction::Older.tag(), c))
        .transpose()?;
    let mut conn = app.db.read_conn().await?;
    let user = crate::access::user_in(&mut conn, who.org_id, user_id).await?;
    drop(conn);
    let page = page_of(
        app,
        who.org_id,
        &AuditQuery {
            target_id: Some(user_id),
            before_seq,
            limit: limit.clamp(1, MAX_PAGE),
            ..Default::default()
        },
    )
    .await?;
    Ok(UserHistory {
        user_id,
        name: user.display_name,
        email: user.email,
        page,
    })
}

/// Export formats of the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

const EXPORT_PAGE: u32 = 1_000;

/// Every event matching the filters, as CSV or a JSON array, in chunks read page by page so that
/// memory stays bounded however long the trail is. Filters and access are checked before the
/// first chunk, so a refusal is an error rather than a broken download.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn export(
    app: &App,
    who: &Principal,
    params: &AuditParams,
    format: ExportFormat,
) -> Result<impl futures::Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static, AppError> {
    who.require(Capability::ViewUsers)?;
    let query = AuditQuery {
        before_seq: None,
        limit: EXPORT_PAGE,
        ..params.to_query(&who.time_zone)?
    };
    let (app, org_id) = (app.clone(), who.org_id);
    let head = match format {
        ExportFormat::Csv => csv_chunk(None)?,
        ExportFormat::Json => b"[".to_vec(),
    };
    struct State {
        query: AuditQuery,
        started: bool,
        done: bool,
    }
    let state = State {
        query,
        started: false,
        done: false,
    };
    let body = futures::stream::try_unfold(state, move |mut s| {
        let app = app.clone();
        async move {
            if s.done {
                return Ok(None);
            }
            let page = page_of(&app, org_id, &s.query).await?;
            let chunk = match format {
                ExportFormat::Csv => csv_chunk(Some(&page.events))?,
                ExportFormat::Json => {
                    let mut out = Vec::new();
                    for e in &page.events {
                        out.extend_from_slice(if s.started { b",\n" } else { b"\n" });
                        s.started = true;
                        serde_json::to_writer(&mut out, e)
                            .map_err(|e| AppError::Internal(e.to_string()))?;
                    }
                    if page.next.is_none() {
                        out.extend_from_slice(b"\n]\n");
                    }
                    out
                }
            };
            match (&page.next, page.events.last()) {
                (Some(_), Some(last)) => s.query.before_seq = Some(last.seq),
                _ => s.done = true,
            }
            Ok(Some((chunk, s)))
        }
    });
    Ok(futures::stream::once(async move { Ok(head) }).chain(body))
}

const CSV_HEADER: [&str; 12] = [
    "seq",
    "time_utc",
    "actor_id",
    "actor",
    "action",
    "target_type",
    "target_id",
    "before",
    "after",
    "request_id",
    "source_ip",
    "hash",
];

/// The header (`None`) or rows as CSV.
fn csv_chunk(events: Option<&[AuditEntry]>) -> Result<Vec<u8>, AppError> {
    let Some(events) = events else {
        return Sheet::with_header(&CSV_HEADER)?.into_bytes();
    };
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let id = |v: Option<Uuid>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut sheet = Sheet::without_header();
    for e in events {
        sheet.row([
            e.seq.to_string(),
            e.at.clone(),
            id(e.actor_id),
            e.actor.clone(),
            e.action.clone(),
            e.target_type.clone(),
            id(e.target_id),
            json(&e.before),
            json(&e.after),
            e.request_id.clone().unwrap_or_default(),
            e.source_ip.clone().unwrap_or_default(),
            e.hash.clone(),
        ])?;
    }
    sheet.into_bytes()
}
