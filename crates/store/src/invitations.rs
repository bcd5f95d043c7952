//! Invitations: one live registration link per pending user, stored as the token's hash.

use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::{Conn, Result, Sql, parse_id};

#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub id: Uuid,
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub token_hash: String,
    pub send_at: i64,
    /// A scheduled time as the admin typed it, and its zone.
    pub send_at_local: Option<String>,
    pub send_zone: Option<String>,
    pub sent_at: Option<i64>,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub delivery_state: String,
    pub created_at: i64,
    pub created_by: Option<Uuid>,
}

impl Invitation {
    /// An invitation that went out a week before it expires and is still open (the demo's and
    /// the benchmarks' seeded staff).
    pub fn sent_a_week_before(
        org_id: Uuid,
        user_id: Uuid,
        token_hash: String,
        expires_at: i64,
    ) -> Invitation {
        const WEEK: i64 = 7 * 86_400 * 1_000_000;
        Invitation {
            id: crate::new_id(),
            org_id,
            user_id,
            token_hash,
            send_at: expires_at - WEEK,
            send_at_local: None,
            send_zone: None,
            sent_at: Some(expires_at - WEEK),
            expires_at,
            accepted_at: None,
            revoked_at: None,
            delivery_state: "sent".into(),
            created_at: expires_at - WEEK,
            created_by: None,
        }
    }
}

const COLUMNS: &str = "id, org_id, user_id, token_hash, send_at, send_at_local, send_zone, sent_at, expires_at, accepted_at, revoked_at, \
    delivery_state, created_at, created_by";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Invitation> {
    Ok(Invitation {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
        user_id: parse_id(&r.try_get::<String, _>("user_id")?)?,
        token_hash: r.try_get("token_hash")?,
        send_at: r.try_get("send_at")?,
        send_at_local: r.try_get("send_at_local")?,
        send_zone: r.try_get("send_zone")?,
        sent_at: r.try_get("sent_at")?,
        expires_at: r.try_get("expires_at")?,
        accepted_at: r.try_get("accepted_at")?,
        revoked_at: r.try_get("revoked_at")?,
        delivery_state: r.try_get("delivery_state")?,
        created_at: r.try_get("created_at")?,
        created_by: crate::parse_opt_id(r.try_get("created_by")?)?,
    })
}

pub async fn insert_many(conn: &mut Conn, invitations: &[Invitation]) -> Result<()> {
    Ok(insert_rows(
        conn,
        "invitations",
        COLUMNS,
        invitations,
        rows_per_statement(14),
        |v, row| {
            row.bind(v.id.to_string())
                .bind(v.org_id.to_string())
                .bind(v.user_id.to_string())
                .bind(v.token_hash.clone())
                .bind(v.send_at)
                .bind(v.send_at_local.clone())
                .bind(v.send_zone.clone())
                .bind(v.sent_at)
                .bind(v.expires_at)
                .bind(v.accepted_at)
                .bind(v.revoked_at)
                .bind(v.delivery_state.clone())
                .bind(v.created_at)
                .bind(v.created_by.map(|x| x.to_string()));
        },
    )
    .await?)
}

pub async fn by_token_hash(conn: &mut Conn, token_hash: &str) -> Result<Option<Invitation>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE token_hash = "
    ));
    q.bind(token_hash.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// Marks the invitation accepted unless it already is (or was revoked): exactly one of two
/// concurrent registrations on one token sees `true`.
pub async fn accept(conn: &mut Conn, id: Uuid, now: i64) -> Result<bool> {
    let mut q = Sql::new("UPDATE invitations SET accepted_at = ");
    q.bind(now)
        .push(" WHERE accepted_at IS NULL AND revoked_at IS NULL AND id = ")
        .bind(id.to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}

pub async fn revoke_for_user(conn: &mut Conn, user_id: Uuid, now: i64) -> Result<u64> {
    let mut q = Sql::new("UPDATE invitations SET revoked_at = ");
    q.bind(now)
        .push(" WHERE accepted_at IS NULL AND revoked_at IS NULL AND user_id = ")
        .bind(user_id.to_string());
    Ok(q.execute(&mut *conn).await?)
}

/// Invitations of a user that can still be used (not accepted, not revoked).
pub async fn live_for_user(conn: &mut Conn, user_id: Uuid) -> Result<Vec<Invitation>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE accepted_at IS NULL AND revoked_at IS NULL AND user_id = "
    ));
    q.bind(user_id.to_string());
    q.fetch_all_as(&mut *conn, from_row).await
}

/// The newest invitation of a user, with its delivery state.
pub async fn latest_for_user(conn: &mut Conn, user_id: Uuid) -> Result<Option<Invitation>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE user_id = "
    ));
    q.bind(user_id.to_string())
        .push(" ORDER BY created_at DESC LIMIT 1");
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// Delivery state and last error of each user's newest live invitation.
pub async fn delivery_of(
    conn: &mut Conn,
    user_ids: &[Uuid],
) -> Result<std::collections::BTreeMap<Uuid, Delivery>> {
    let mut out = std::collections::BTreeMap::new();
    if user_ids.is_empty() {
        return Ok(out);
    }
    let mut q = Sql::new(
        "SELECT user_id, delivery_state, last_error, send_at FROM invitations WHERE accepted_at IS NULL AND revoked_at IS NULL AND user_id IN (",
    );
    q.bind_list(user_ids.iter().map(|u| u.to_string()))
        .push(") ORDER BY created_at");
    for r in q.fetch_all(&mut *conn).await? {
        out.insert(
            parse_id(&r.try_get::<String, _>(0)?)?,
            Delivery {
                state: r.try_get(1)?,
                error: r.try_get(2)?,
                send_at: r.try_get(3)?,
            },
        );
    }
    Ok(out)
}

/// How an open invitation's delivery stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `queued`, `sent`, `retrying` or `failed`.
    pub state: String,
    pub error: Option<String>,
    /// When it goes (or went) out, in microseconds.
    pub send_at: i64,
}
