//! Access review campaigns: the campaign, one item per person in scope, and each item's
//! reviewers. Items and reviewers are written set-based (`INSERT … SELECT`), so a campaign over
//! a hundred thousand people is a handful of statements; the app decides who reviews whom.

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

/// One pending item per person of the organization in `scope` who is not deactivated (nor a
/// legacy record): one statement, whatever their number. Returns how many.
pub async fn fill_items(
    conn: &mut Conn,
    org_id: Uuid,
    campaign: Uuid,
    scope: &Scope,
) -> Result<u64> {
    let mut q = Sql::new("INSERT INTO review_items (campaign_id, user_id, state) SELECT ");
    q.bind(campaign.to_string())
        .push(", u.id, 'pending' FROM users u WHERE u.org_id = ")
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

/// Makes `reviewer` a reviewer of every item whose person works at one of `locations` (the
/// reviewer's reach), never of themself. Returns how many items.
pub async fn assign_reaching(
    conn: &mut Conn,
    campaign: Uuid,
    reviewer: Uuid,
    locations: &[Uuid],
) -> Result<u64> {
    if locations.is_empty() {
        return Ok(0);
    }
    let mut q = Sql::new(
        "INSERT INTO review_reviewers (campaign_id, reviewer_id, user_id) SELECT i.campaign_id, ",
    );
    q.bind(reviewer.to_string())
        .push(", i.user_id FROM review_items i WHERE i.campaign_id = ")
        .bind(campaign.to_string())
        .push(" AND i.user_id <> ")
        .bind(reviewer.to_string())
        .push(" AND EXISTS (SELECT 1 FROM user_locations ul WHERE ul.user_id = i.user_id AND ul.location_id IN (")
        .bind_list(locations.iter().map(Uuid::to_string))
        .push(")) ON CONFLICT DO NOTHING");
    Ok(q.execute(&mut *conn).await?)
}

/// Which items [`assign_to`] gives to the reviewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreviewed {
    /// Items nobody reviews yet, except the reviewer's own (at creation).
    WithoutReviewer,
    /// Items nobody reviews yet, the reviewer's own included (a sole company admin).
    WithoutReviewerEvenOwn,
    /// Items still pending (at the due date), which also become `escalated`.
    Pending,
}

/// Gives the chosen items to each of `reviewers` (the company admins), in one statement.
pub async fn assign_to(
    conn: &mut Conn,
    campaign: Uuid,
    reviewers: &[Uuid],
    which: Unreviewed,
) -> Result<u64> {
    if reviewers.is_empty() {
        return Ok(0);
    }
    let mut q = Sql::new(
        "INSERT INTO review_reviewers (campaign_id, reviewer_id, user_id) SELECT i.campaign_id, a.id, i.user_id FROM review_items i, (",
    );
    for (n, r) in reviewers.iter().enumerate() {
        if n > 0 {
            q.push(" UNION ALL ");
        }
        q.push("SELECT ").bind(r.to_string()).push(" AS id");
    }
    q.push(") a WHERE i.campaign_id = ")
        .bind(campaign.to_string());
    let none_yet = " AND NOT EXISTS (SELECT 1 FROM review_reviewers r WHERE r.campaign_id = i.campaign_id AND r.user_id = i.user_id)";
    match which {
        Unreviewed::WithoutReviewer => q.push(none_yet).push(" AND a.id <> i.user_id"),
        Unreviewed::WithoutReviewerEvenOwn => q.push(none_yet),
        Unreviewed::Pending => q.push(" AND i.state = 'pending'"),
    };
    q.push(" ON CONFLICT DO NOTHING");
    let added = q.execute(&mut *conn).await?;
    if which == Unreviewed::Pending {
        let mut q = Sql::new(
            "UPDATE review_items SET state = 'escalated' WHERE state = 'pending' AND campaign_id = ",
        );
        q.bind(campaign.to_string());
        q.execute(&mut *conn).await?;
    }
    Ok(added)
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
    /// The reviewers' addresses, comma-separated.
    pub reviewers: Option<String>,
}

fn item_select(conn: &Conn) -> String {
    format!(
        "SELECT i.campaign_id, i.user_id, u.display_name, u.email, i.state, i.decision, i.target, i.note, \
         i.decided_by, d.display_name AS decided_by_name, i.decided_at, i.outcome, i.refusal, i.reviewed, \
         (SELECT {} FROM review_reviewers r JOIN users ru ON ru.id = r.reviewer_id \
          WHERE r.campaign_id = i.campaign_id AND r.user_id = i.user_id) AS reviewers \
         FROM review_items i JOIN users u ON u.id = i.user_id LEFT JOIN users d ON d.id = i.decided_by ",
        crate::sql::comma_list(conn, "ru.email")
    )
}

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
        reviewers: r.try_get("reviewers")?,
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
    let mut q = Sql::new(&item_select(conn));
    q.push("WHERE i.campaign_id = ").bind(campaign.to_string());
    if let Some(r) = reviewer {
        q.push(" AND EXISTS (SELECT 1 FROM review_reviewers rr WHERE rr.campaign_id = i.campaign_id AND rr.user_id = i.user_id AND rr.reviewer_id = ")
            .bind(r.to_string())
            .push(")");
    }
    if let Some(a) = after {
        q.push(" AND i.user_id > ").bind(a.to_string());
    }
    q.push(" ORDER BY i.user_id LIMIT ").bind(limit);
    q.fetch_all_as(&mut *conn, item_from_row).await
}

pub async fn item(conn: &mut Conn, campaign: Uuid, user: Uuid) -> Result<Option<Item>> {
    let mut q = Sql::new(&item_select(conn));
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
    let mut q = Sql::new("SELECT user_id FROM review_reviewers WHERE campaign_id = ");
    q.bind(campaign.to_string())
        .push(" AND reviewer_id = ")
        .bind(reviewer.to_string())
        .push(" AND user_id IN (")
        .bind_list(users.iter().map(Uuid::to_string))
        .push(")");
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

/// Active reviewers with items in `state` in the campaign: (id, email, name, how many).
pub async fn waiting_reviewers(
    conn: &mut Conn,
    campaign: Uuid,
    state: &str,
) -> Result<Vec<(Uuid, String, String, i64)>> {
    let mut q = Sql::new(
        "SELECT u.id, u.email, u.display_name, COUNT(*) FROM review_reviewers r \
         JOIN review_items i ON i.campaign_id = r.campaign_id AND i.user_id = r.user_id \
         JOIN users u ON u.id = r.reviewer_id \
         WHERE u.status = 'active' AND i.state = ",
    );
    q.bind(state.to_string())
        .push(" AND r.campaign_id = ")
        .bind(campaign.to_string())
        .push(" GROUP BY u.id, u.email, u.display_name ORDER BY u.id");
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok((
                parse_id(&r.try_get::<String, _>(0)?)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
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
