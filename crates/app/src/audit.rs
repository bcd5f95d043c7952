//! Who did something, from where: attached to every audit event a use case records.

use rollcall_store::audit::{self, NewEvent, Verification};
use serde::Serialize;
use uuid::Uuid;

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
            actor_id: Some(p.user_id),
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
    let mut out = Vec::new();
    for org in rollcall_store::orgs::list(&mut conn).await? {
        if org_slug.is_some_and(|s| s != org.slug) {
            continue;
        }
        out.push((org.slug.clone(), audit::verify(&mut conn, org.id).await?));
    }
    if out.is_empty() {
        if let Some(s) = org_slug {
            return Err(AppError::NotFound(format!(
                "No organization “{s}”. `rollcall org list` shows them."
            )));
        }
    }
    Ok(out)
}
