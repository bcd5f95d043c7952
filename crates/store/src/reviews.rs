//! Access review campaigns: the campaign, one item per person in scope, and each reviewer's
//! reach as it was at the start (a clinic admin's locations; '' for a company admin). Items are
//! written by one `INSERT … SELECT`, and who reviews whom is read through the reach, so a
//! campaign over a hundred thousand people is a handful of statements whatever the number of
//! admins; the app decides whose reach counts.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, parse_id, parse_opt_id};

/// Whom a campaign covers: everyone not deactivated, narrowed by each key present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub scope: Scope,
    pub due_at: i64,
    pub recurrence_months: Option<i64>,
    pub created_by: Option<Uuid>,
    pub created_at: i64,
    pub reminded_at: Option<i64>,
    pub escalated_at: Option<i64>,
    pub overdue_action: Option<String>,
    pub next_campaign_id: Option<Uuid>,
}

const CAMPAIGN_COLUMNS: &str = "id, org_id, name, scope, due_at, recurrence_months, created_by, \
    created_at, reminded_at, escalated_at, overdue_action, next_campaign_id";

fn campaign_from_row(r: &sqlx::any::AnyRow) -> Result<Campaign> {
    let scope: String = r.try_get("scope")?;
    Ok(Campaign {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
        name: r.try_get("name")?,
        scope: serde_json::from_str(&scope).map_err(|_| {
            crate::StoreError::Corrupt(format!("review_campaigns.scope holds “{scope}”"))
        })?,
        due_at: r.try_get("due_at")?,
        recurrence_months: r.try_get("recurrence_months")?,
        created_by: parse_opt_id(r.try_get("created_by")?)?,
        created_at: r.try_get("created_at")?,
        reminded_at: r.try_get("reminded_at")?,
        escalated_at: r.try_get("escalated_at")?,
        overdue_action: r.try_get("overdue_action")?,
        next_campaign_id: parse_opt_id(r.try_get("next_campaign_id")?)?,
    })
}

pub async fn insert_campaign(conn: &mut Conn, c: &Campaign) -> Result<()> {
    let mut q = Sql::insert_into(
        "review_campaigns",
        "id, org_id, name, scope, due_at, recurrence_months, created_by, created_at",
    );
    q.values_row(|row| {
        row.bind(c.id.to_string())
            .bind(c.org_id.to_string())
            .bind(c.name.clone())
            .bind(serde_json::to_string(&c.scope).expect("a scope serializes"))
            .bind(c.due_at)
            .bind(c.recurrence_months)
            .bind(c.created_by.map(|u| u.to_string()))
            .bind(c.created_at);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The reach of the campaign's reviewers: (reviewer, a location they reach), or `None` for a
/// company admin. Rows already there are left as they are.
pub async fn insert_reach(
    conn: &mut Conn,
    campaign: Uuid,
    reach: &[(Uuid, Option<Uuid>)],
) -> Result<()> {
    let rows: Vec<(String, String)> = reach
        .iter()
        .map(|(r, l)| (r.to_string(), l.map(|l| l.to_string()).unwrap_or_default()))
        .collect();
    let mut chunks = rows.chunks(crate::sql::rows_per_statement(3));
    for chunk in chunks.by_ref() {
        let mut q = Sql::insert_into("review_reach", "campaign_id, reviewer_id, location_id");
        q.values_rows(chunk, |(r, l), row| {
            row.bind(campaign.to_string())
                .bind(r.clone())
                .bind(l.clone());
        })
        .push(" ON CONFLICT DO NOTHING");
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// One pending item per person of the organization in `scope` who is not deactivated (nor a
/// legacy record), marked for the company admins when no clinic admin of the campaign's reach
/// but the person themself reaches them: one statement, whatever their number. Returns how
/// many. The reach is written first.
pub async fn fill_items(
    conn: &mut Conn,
    org_id: Uuid,
    campaign: Uuid,
    scope: &Scope,
) -> Result<u64> {
    let mut q =
        Sql::new("INSERT INTO review_items (campaign_id, user_id, state, by_company) SELECT ");
    q.bind(campaign.to_string())
        .push(", u.id, 'pending', CASE WHEN EXISTS (SELECT 1 FROM user_locations ul JOIN review_reach r ON r.location_id = ul.location_id WHERE r.campaign_id = ")
        .bind(campaign.to_string())
        .push(" AND ul.user_id = u.id AND r.reviewer_id <> u.id) THEN 0 ELSE 1 END FROM users u WHERE u.org_id = ")
        .bind(org_id.to_string())
        .push(" AND u.status IN ('active', 'pending')");
    if let Some(l) = scope.location {
        q.push(" AND EXISTS (SELECT 1 FROM user_locations ul WHERE ul.user_id = u.id AND ul.location_id = ")
            .bind(l.to_string())
            .push(")");
    }
    if let Some(r) = scope.role {
        q.push(
            " AND EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = u.id AND ur.role_id = ",
        )
        .bind(r.to_string())
        .push(")");
    }
    if let Some(t) = &scope.user_type {
        q.push(" AND u.user_type = ").bind(t.clone());
    }
    Ok(q.execute(&mut *conn).await?)
}

/// Past the due date: the items still pending become `escalated`, and `company` (the company
/// admins now) join the reach, so they review them. Returns how many items.
pub async fn escalate_pending(conn: &mut Conn, campaign: Uuid, company: &[Uuid]) -> Result<u64> {
    let reach: Vec<(Uuid, Option<Uuid>)> = company.iter().map(|c| (*c, None)).collect();
    insert_reach(conn, campaign, &reach).await?;
    let mut q = Sql::new(
        "UPDATE review_items SET state = 'escalated' WHERE state = 'pending' AND campaign_id = ",
    );
    q.bind(campaign.to_string());
    Ok(q.execute(&mut *conn).await?)
}

/// `AND` whether `reviewer` reviews item `i`: someone else, who works at a location the
/// reviewer reached at the start, or whom the company admins review (nobody else reaches them,
/// or past the due date) when the reviewer is one of them.
fn push_reviews(q: &mut Sql, reviewer: Uuid) {
    q.push(" AND i.user_id <> ")
        .bind(reviewer.to_string())
        .push(" AND (EXISTS (SELECT 1 FROM review_reach r JOIN user_locations ul ON ul.location_id = r.location_id WHERE r.campaign_id = i.campaign_id AND ul.user_id = i.user_id AND r.reviewer_id = ")
        .bind(reviewer.to_string())
        .push(") OR ((i.by_company = 1 OR i.state = 'escalated') AND EXISTS (SELECT 1 FROM review_reach r WHERE r.campaign_id = i.campaign_id AND r.location_id = '' AND r.reviewer_id = ")
        .bind(reviewer.to_string())
        .push(")))");
}

pub async fn get_campaign(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<Campaign>> {
    let mut q = Sql::new(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns WHERE id = "
    ));
    q.bind(id.to_string())
        .push(" AND org_id = ")
        .bind(org_id.to_string());
    q.fetch_optional_as(&mut *conn, campaign_from_row).await
}

/// The organization's campaigns, newest first.
pub async fn list_campaigns(conn: &mut Conn, org_id: Uuid, limit: i64) -> Result<Vec<Campaign>> {
    let mut q = Sql::new(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns WHERE org_id = "
    ));
    q.bind(org_id.to_string())
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .bind(limit);
    q.fetch_all_as(&mut *conn, campaign_from_row).await
}

/// How many items of a campaign are in each state.
pub async fn counts(conn: &mut Conn, campaign: Uuid) -> Result<Vec<(String, i64)>> {
    let mut q = Sql::new("SELECT state, COUNT(*) FROM review_items WHERE campaign_id = ");
    q.bind(campaign.to_string()).push(" GROUP BY state");
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// One person's item in a campaign, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub campaign_id: Uuid,
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub state: String,
    pub decision: Option<String>,
    pub target: Option<String>,
    pub note: Option<String>,
    pub decided_by: Option<Uuid>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<i64>,
    pub outcome: Option<String>,
    pub refusal: Option<String>,
    pub reviewed: Option<String>,
    /// Reviewed by the company admins from the start (no clinic admin reaches the person).
    pub by_company: bool,
}

const ITEM_SELECT: &str = "SELECT i.campaign_id, i.user_id, u.display_name, u.email, i.state, i.by_company, \
    i.decision, i.target, i.note, i.decided_by, d.display_name AS decided_by_name, i.decided_at, i.outcome, \
    i.refusal, i.reviewed FROM review_items i JOIN users u ON u.id = i.user_id \
    LEFT JOIN users d ON d.id = i.decided_by ";

fn item_from_row(r: &sqlx::any::AnyRow) -> Result<Item> {
    Ok(Item {
        campaign_id: parse_id(&r.try_get::<String, _>("campaign_id")?)?,
        user_id: parse_id(&r.try_get::<String, _>("user_id")?)?,
        display_name: r.try_get("display_name")?,
        email: r.try_get("email")?,
        state: r.try_get("state")?,
        decision: r.try_get("decision")?,
        target: r.try_get("target")?,
        note: r.try_get("note")?,
        decided_by: parse_opt_id(r.try_get("decided_by")?)?,
        decided_by_name: r.try_get("decided_by_name")?,
        decided_at: r.try_get("decided_at")?,
        outcome: r.try_get("outcome")?,
        refusal: r.try_get("refusal")?,
        reviewed: r.try_get("reviewed")?,
        by_company: r.try_get::<i64, _>("by_company")? == 1,
    })
}

/// A page of a campaign's items, by person id after `after`: all of them, or those `reviewer`
/// reviews.
pub async fn items(
    conn: &mut Conn,
    campaign: Uuid,
    reviewer: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Item>> {
    let mut q = Sql::new(ITEM_SELECT);
    q.push("WHERE i.campaign_id = ").bind(campaign.to_string());
    if let Some(r) = reviewer {
        push_reviews(&mut q, r);
    }
    if let Some(a) = after {
        q.push(" AND i.user_id > ").bind(a.to_string());
    }
    q.push(" ORDER BY i.user_id LIMIT ").bind(limit);
    q.fetch_all_as(&mut *conn, item_from_row).await
}

pub async fn item(conn: &mut Conn, campaign: Uuid, user: Uuid) -> Result<Option<Item>> {
    let mut q = Sql::new(ITEM_SELECT);
    q.push("WHERE i.campaign_id = ")
        .bind(campaign.to_string())
        .push(" AND i.user_id = ")
        .bind(user.to_string());
    q.fetch_optional_as(&mut *conn, item_from_row).await
}

/// Of `users`, those whose items in the campaign `reviewer` reviews.
pub async fn reviewed_by(
    conn: &mut Conn,
    campaign: Uuid,
    reviewer: Uuid,
    users: &[Uuid],
) -> Result<Vec<Uuid>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new("SELECT i.user_id FROM review_items i WHERE i.campaign_id = ");
    q.bind(campaign.to_string())
        .push(" AND i.user_id IN (")
        .bind_list(users.iter().map(Uuid::to_string))
        .push(")");
    push_reviews(&mut q, reviewer);
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| parse_id(&r.try_get::<String, _>(0)?))
        .collect()
}

/// A decision as a reviewer made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub decision: String,
    pub target: Option<String>,
    pub note: Option<String>,
    pub decided_by: Option<Uuid>,
    pub decided_at: i64,
    pub reviewed: String,
}

/// Records a decision on an item still open (pending or escalated); `false` if it was decided
/// meanwhile, so of two reviewers deciding at once exactly one does.
pub async fn claim_decision(
    conn: &mut Conn,
    campaign: Uuid,
    user: Uuid,
    state: &str,
    d: &Decision,
) -> Result<bool> {
    let mut q = Sql::update("review_items", |set| {
        set.set("state", state.to_string())
            .set("decision", d.decision.clone())
            .set("target", d.target.clone())
            .set("note", d.note.clone())
            .set("decided_by", d.decided_by.map(|u| u.to_string()))
            .set("decided_at", d.decided_at)
            .set("reviewed", d.reviewed.clone());
    });
    q.push(" WHERE campaign_id = ")
        .bind(campaign.to_string())
        .push(" AND user_id = ")
        .bind(user.to_string())
        .push(" AND state IN ('pending', 'escalated')");
    Ok(q.execute(&mut *conn).await? == 1)
}

/// What applying a decision did: `applied`, or `refused` with the rule's sentence.
pub async fn set_outcome(
    conn: &mut Conn,
    campaign: Uuid,
    user: Uuid,
    outcome: &str,
    refusal: Option<String>,
) -> Result<()> {
    let mut q = Sql::update("review_items", |set| {
        set.set("outcome", outcome.to_string())
            .set("refusal", refusal);
    });
    q.push(" WHERE campaign_id = ")
        .bind(campaign.to_string())
        .push(" AND user_id = ")
        .bind(user.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Open campaigns whose reminder is due (due before `until`) and not yet sent.
pub async fn due_reminders(conn: &mut Conn, until: i64, limit: i64) -> Result<Vec<Campaign>> {
    let mut q = Sql::new(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns WHERE escalated_at IS NULL AND reminded_at IS NULL AND due_at <= "
    ));
    q.bind(until).push(" ORDER BY due_at LIMIT ").bind(limit);
    q.fetch_all_as(&mut *conn, campaign_from_row).await
}

/// Marks the campaign's reminders sent; `false` if another process did first.
pub async fn claim_reminders(conn: &mut Conn, campaign: Uuid, now: i64) -> Result<bool> {
    let mut q = Sql::update("review_campaigns", |set| {
        set.set("reminded_at", now);
    });
    q.push(" WHERE reminded_at IS NULL AND id = ")
        .bind(campaign.to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Active reviewers with items in `state` they review in the campaign: (id, email, name).
pub async fn waiting_reviewers(
    conn: &mut Conn,
    campaign: Uuid,
    state: &str,
) -> Result<Vec<(Uuid, String, String)>> {
    let mut q = Sql::new(
        "SELECT DISTINCT u.id, u.email, u.display_name FROM review_reach r JOIN users u ON u.id = r.reviewer_id \
         WHERE u.status = 'active' AND r.campaign_id = ",
    );
    q.bind(campaign.to_string())
        .push(" AND EXISTS (SELECT 1 FROM review_items i WHERE i.campaign_id = r.campaign_id AND i.user_id <> r.reviewer_id AND i.state = ")
        .bind(state.to_string())
        .push(" AND ((r.location_id = '' AND (i.by_company = 1 OR i.state = 'escalated')) \
               OR EXISTS (SELECT 1 FROM user_locations ul WHERE ul.user_id = i.user_id AND ul.location_id = r.location_id))) \
               ORDER BY u.id");
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok((
                parse_id(&r.try_get::<String, _>(0)?)?,
                r.try_get(1)?,
                r.try_get(2)?,
            ))
        })
        .collect()
}

/// Open campaigns whose due date has passed.
pub async fn overdue(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<Campaign>> {
    let mut q = Sql::new(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns WHERE escalated_at IS NULL AND due_at <= "
    ));
    q.bind(now).push(" ORDER BY due_at LIMIT ").bind(limit);
    q.fetch_all_as(&mut *conn, campaign_from_row).await
}

/// Marks the campaign past its due date with what the due date does; `false` if another
/// process did first.
pub async fn claim_escalation(
    conn: &mut Conn,
    campaign: Uuid,
    now: i64,
    action: &str,
) -> Result<bool> {
    let mut q = Sql::update("review_campaigns", |set| {
        set.set("escalated_at", now)
            .set("overdue_action", action.to_string());
    });
    q.push(" WHERE escalated_at IS NULL AND id = ")
        .bind(campaign.to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Brings an open campaign's due date forward to `now`; `false` if it is past its due date.
pub async fn close_now(conn: &mut Conn, campaign: Uuid, now: i64) -> Result<bool> {
    let mut q = Sql::update("review_campaigns", |set| {
        set.set("due_at", now);
    });
    q.push(" WHERE escalated_at IS NULL AND id = ")
        .bind(campaign.to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}

pub async fn set_next(conn: &mut Conn, campaign: Uuid, next: Uuid) -> Result<()> {
    let mut q = Sql::update("review_campaigns", |set| {
        set.set("next_campaign_id", next.to_string());
    });
    q.push(" WHERE id = ").bind(campaign.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Items still pending in campaigns whose due date revoked rather than escalated, as
/// (organization, campaign, person).
pub async fn overdue_to_revoke(conn: &mut Conn, limit: i64) -> Result<Vec<(Uuid, Uuid, Uuid)>> {
    let mut q = Sql::new(
        "SELECT c.org_id, i.campaign_id, i.user_id FROM review_items i \
         JOIN review_campaigns c ON c.id = i.campaign_id \
         WHERE c.overdue_action = 'revoke' AND i.state = 'pending' ORDER BY i.campaign_id, i.user_id LIMIT ",
    );
    q.bind(limit);
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok((
                parse_id(&r.try_get::<String, _>(0)?)?,
                parse_id(&r.try_get::<String, _>(1)?)?,
                parse_id(&r.try_get::<String, _>(2)?)?,
            ))
        })
        .collect()
}
