//! What Rollcall tells an app about the person signed in: the same values the profile shows as
//! in effect (read through the profile's own loader, never recomputed here).

use rollcall_store::Conn;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::access::policy_of;
use crate::access::profile::{self, Profile};
use crate::{AppError, Principal};

/// The person's profile, if they may still sign in (active, in that organization).
pub(crate) async fn active_profile(
    conn: &mut Conn,
    org_id: Uuid,
    user_id: Uuid,
    now: i64,
) -> Result<Option<Profile>, AppError> {
    let policy = policy_of(conn, org_id).await?;
    let Some(me) = Principal::load(conn, &policy, org_id, user_id).await? else {
        return Ok(None);
    };
    Ok(Some(profile::load(conn, now, &me, user_id).await?))
}

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

/// `sub` and the claims the granted `scope` asks for.
pub fn of(profile: &Profile, scope: &str) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(profile.id));
    if has_scope(scope, "email") {
        claims.insert("email".into(), json!(profile.email));
        // Rollcall sent the invitation to this address and the person registered through it.
        claims.insert("email_verified".into(), json!(true));
    }
    if has_scope(scope, "profile") {
        claims.insert("name".into(), json!(profile.display_name));
        claims.insert("given_name".into(), json!(profile.first_name));
        claims.insert("family_name".into(), json!(profile.last_name));
        claims.insert("preferred_username".into(), json!(profile.username));
    }
    if has_scope(scope, "rollcall") {
        claims.insert("rollcall".into(), rollcall_claim(profile));
    }
    claims
}

/// User type, effective permissions after the rules, locations and default location, NPI.
fn rollcall_claim(p: &Profile) -> Value {
    let locations: Vec<Value> = p
        .locations
        .iter()
        .filter(|l| l.granted)
        .map(|l| json!({ "id": l.id, "name": l.name }))
        .collect();
    let default_location = p.default_location.and_then(|id| {
        p.locations
            .iter()
            .find(|l| l.id == id)
            .map(|l| json!({ "id": l.id, "name": l.name }))
    });
    json!({
        "user_type": p.user_type,
        "user_type_label": p.user_type_label,
        "permissions": p.effective.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        "locations": locations,
        "default_location": default_location,
        "npi": p.provider.npi,
    })
}
