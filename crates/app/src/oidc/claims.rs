//! What Rollcall tells an app about the person signed in: the account and what is in effect
//! after the rules, evaluated as the profile page evaluates it (`subject_of`, then
//! `Policy::effective` over the organization's locations), reading only what the claims need:
//! a token request runs this on every refresh.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::{Permission, UserStatus};
use rollcall_store::users::User;
use rollcall_store::{Conn, locations, profiles, users};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::AppError;
use crate::access::{policy_of, subject_of};

/// The person as apps see them.
pub(crate) struct Person {
    user: User,
    user_type_label: Option<String>,
    /// In effect after the rules.
    permissions: BTreeSet<Permission>,
    /// The locations the person has, in the organization's order: (id, name).
    locations: Vec<(Uuid, String)>,
    default_location: Option<(Uuid, String)>,
    npi: Option<String>,
}

/// The person, if they may still sign in (active, in that organization).
pub(crate) async fn active_person(
    conn: &mut Conn,
    org_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Person>, AppError> {
    let Some(user) = users::get(conn, org_id, user_id).await? else {
        return Ok(None);
    };
    if user.status != UserStatus::Active {
        return Ok(None);
    }
    let policy = policy_of(conn, org_id).await?;
    let subject = subject_of(conn, &user).await?;
    let all: Vec<(Uuid, String)> = locations::list(conn, org_id)
        .await?
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect();
    let names: BTreeMap<Uuid, String> = all.iter().cloned().collect();
    let (permissions, _) = policy.effective(&subject, &names);
    let npi = profiles::provider_of(conn, user.id)
        .await?
        .and_then(|p| p.npi);
    Ok(Some(Person {
        user_type_label: user
            .user_type
            .as_deref()
            .and_then(|t| policy.user_type(t))
            .map(|t| t.label.clone()),
        permissions,
        default_location: user
            .default_location_id
            .and_then(|d| all.iter().find(|(id, _)| *id == d).cloned()),
        locations: all
            .into_iter()
            .filter(|(id, _)| subject.locations.contains(id))
            .collect(),
        npi,
        user,
    }))
}

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split(' ').any(|s| s == wanted)
}

/// `sub` and the claims the granted `scope` asks for.
pub(crate) fn of(person: &Person, scope: &str) -> Map<String, Value> {
    let u = &person.user;
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(u.id));
    if has_scope(scope, "email") {
        claims.insert("email".into(), json!(u.email));
        // Rollcall sent the invitation to this address and the person registered through it.
        claims.insert("email_verified".into(), json!(true));
    }
    if has_scope(scope, "profile") {
        claims.insert("name".into(), json!(u.display_name));
        claims.insert("given_name".into(), json!(u.first_name));
        claims.insert("family_name".into(), json!(u.last_name));
        claims.insert("preferred_username".into(), json!(u.username));
    }
    if has_scope(scope, "rollcall") {
        claims.insert("rollcall".into(), rollcall_claim(person));
    }
    claims
}

/// User type, effective permissions after the rules, locations and default location, NPI.
fn rollcall_claim(p: &Person) -> Value {
    let place = |(id, name): &(Uuid, String)| json!({ "id": id, "name": name });
    json!({
        "user_type": p.user.user_type,
        "user_type_label": p.user_type_label,
        "permissions": p.permissions.iter().map(|e| e.key()).collect::<Vec<_>>(),
        "locations": p.locations.iter().map(place).collect::<Vec<_>>(),
        "default_location": p.default_location.as_ref().map(place),
        "npi": p.npi,
    })
}
