//! Invitations: one person, or many pasted at once; resend and revoke.
//!
//! Each path writes the pending users, their access, the invitations, the outgoing messages
//! (transactional outbox) and the audit events in one transaction, then wakes the dispatcher.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rollcall_domain::paste::{self, Outcome};
use rollcall_domain::{Change, Email, Path, Permission, Subject, Username, ValueError};
use rollcall_store::invitations::{self, Invitation};
use rollcall_store::locations::{self, Location};
use rollcall_store::orgs::Organization;
use rollcall_store::outbox::{self, OutboxMessage};
use rollcall_store::roles::{self, Role};
use rollcall_store::users::{self, User};
use rollcall_store::{Conn, audit, new_id};
use serde::Serialize;
use uuid::Uuid;

use crate::access::{parse_permissions, parse_policy};
use crate::audit::Meta;
use crate::clock::{DAY, MINUTE, local};
use crate::{App, AppError, Principal, messages, secret};

/// Where the batch goes and what it may do: checked once for the whole batch.
struct Batch {
    org: Organization,
    location: Location,
    role: Role,
    user_type: Option<String>,
}

/// Invitations sent by one person per hour, whatever the path: a stolen session or token cannot
/// turn the service into a mail cannon.
const INVITES_PER_HOUR: u32 = 20_000;

async fn prepare(
    conn: &mut Conn,
    who: &Principal,
    location_id: Option<Uuid>,
    role_id: Uuid,
    user_type: Option<&str>,
    path: Path,
) -> Result<Batch, AppError> {
    let may_invite = [
        Permission::UsersInvite,
        Permission::UsersManage,
        Permission::AdminClinic,
        Permission::AdminCompany,
    ]
    .iter()
    .any(|p| who.permissions.contains(p));
    if !who.can_manage_users() || !may_invite {
        return Err(AppError::Forbidden(
            "Your access profile cannot invite people. Ask a company admin for the User Manager or Clinic Admin role.".into(),
        ));
    }
    let org = rollcall_store::orgs::get(conn, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let all = locations::list(conn, org.id).await?;
    if all.is_empty() {
        return Err(ValueError::new(
            "location",
            "location_missing",
            "Your organization has no location yet, and everyone invited must belong to one. Add a location under Settings → Locations (or run `rollcall location create`), then invite again.",
        )
        .into());
    }
    let Some(location_id) = location_id else {
        return Err(ValueError::new(
            "location",
            "location_required",
            "Choose the primary location the invited people will work at.",
        )
        .into());
    };
    let location = all
        .into_iter()
        .find(|l| l.id == location_id)
        .ok_or_else(|| AppError::not_found("location"))?;
    if !location.active {
        return Err(ValueError::new(
            "location",
            "location_inactive",
            format!(
                "{} is deactivated; choose an active location.",
                location.name
            ),
        )
        .into());
    }
    let role = roles::get(conn, org.id, role_id)
        .await?
        .ok_or_else(|| AppError::not_found("role"))?;
    let policy = parse_policy(&org.policy)?;
    let user_type = match user_type.map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            rollcall_domain::user_type::resolve(&policy.user_types, t)
                .map(|d| d.code.clone())
                .ok_or_else(|| ValueError::new("user_type", "user_type_unknown", format!("“{t}” is not a user type of this organization; choose one from the list.")))?,
        ),
    };
    // The rule engine decides on a stand-in for every person of the batch: same type, same access.
    let subject = Subject {
        user_type: user_type.clone(),
        display_name: "The invited person".into(),
        ..Subject::default()
    };
    let names: BTreeMap<Uuid, String> = [(location.id, location.name.clone())].into();
    let actor = who.actor();
    policy
        .check(
            &actor,
            &subject,
            &Change::GrantLocation(location.id),
            path,
            None,
            &names,
        )
        .map_err(AppError::Refused)?;
    let mut with_location = subject.clone();
    with_location.locations.insert(location.id);
    crate::access::check_role_grants(
        &policy,
        who,
        &with_location,
        parse_permissions(&role.permissions),
        &names,
    )?;
    Ok(Batch {
        org,
        location,
        role,
        user_type,
    })
}

/// One new person of a batch, before writing.
struct Newcomer {
    email: Email,
    name: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Invited {
    pub user_id: Uuid,
    pub email: String,
}

/// A new invitation for a pending user, and its message in the outbox: a fresh 256-bit token
/// (only its hash is kept) and a link valid until `expires_at`.
fn invitation_for(
    app: &App,
    who: &Principal,
    org: &Organization,
    user: &User,
    name: Option<&str>,
    now: i64,
    expires_at: i64,
) -> (Invitation, OutboxMessage) {
    let token = secret::new_token();
    let invitation = Invitation {
        id: new_id(),
        org_id: org.id,
        user_id: user.id,
        token_hash: secret::hash(&token),
        send_at: now,
        sent_at: None,
        expires_at,
        accepted_at: None,
        revoked_at: None,
        delivery_state: "queued".into(),
        created_at: now,
        created_by: who.user_ref(),
    };
    let link = format!("{}/register/{token}", app.config.public_url);
    let m = messages::invitation(
        name,
        &who.display_name,
        &org.name,
        &link,
        &local(expires_at, &org.time_zone),
    );
    let message = OutboxMessage {
        id: new_id(),
        org_id: org.id,
        kind: "invitation".into(),
        medium: "email".into(),
        recipient: user.email.clone(),
        subject: m.subject,
        body_text: m.text,
        body_html: Some(m.html),
        invitation_id: Some(invitation.id),
        send_at: now,
        created_at: now,
    };
    (invitation, message)
}

/// Writes users, access, invitations, messages and audit events for a checked batch.
async fn write_batch(
    app: &App,
    conn: &mut Conn,
    who: &Principal,
    batch: &Batch,
    people: Vec<Newcomer>,
    source: &str,
    meta: &Meta,
) -> Result<Vec<Invited>, AppError> {
    let now = app.clock.now();
    app.limits.take(&format!("invites:{}", who.label), now, people.len() as u32, INVITES_PER_HOUR, 60 * MINUTE).map_err(|m| {
        AppError::RateLimited(format!("You have sent {INVITES_PER_HOUR} invitations in the last hour, the most allowed. Try again in {m} minutes."))
    })?;
    let expires_at = now + batch.org.settings.invitation_days as i64 * DAY;
    let usernames = unique_usernames(conn, batch.org.id, &people).await?;
    let mut users_rows = Vec::with_capacity(people.len());
    let mut invites = Vec::with_capacity(people.len());
    let mut messages_out = Vec::with_capacity(people.len());
    let mut events = Vec::with_capacity(people.len());
    for (person, username) in people.into_iter().zip(usernames) {
        let (first, last) = split_name(person.name.as_deref());
        let user = User {
            id: new_id(),
            org_id: batch.org.id,
            email: person.email.as_str().to_string(),
            email_key: person.email.match_key().to_string(),
            username,
            display_name: person
                .name
                .clone()
                .unwrap_or_else(|| person.email.as_str().to_string()),
            first_name: first,
            last_name: last,
            mobile: None,
            user_type: batch.user_type.clone(),
            status: "pending".into(),
            default_location_id: Some(batch.location.id),
            source: source.into(),
            password_hash: None,
            invite_expires_at: Some(expires_at),
            failed_sign_ins: 0,
            locked_until: None,
            created_at: now,
            created_by: who.user_ref(),
            activated_at: None,
            deactivated_at: None,
            last_sign_in_at: None,
        };
        let (invitation, message) = invitation_for(
            app,
            who,
            &batch.org,
            &user,
            person.name.as_deref(),
            now,
            expires_at,
        );
        messages_out.push(message);
        events.push(meta.change(
            "user.invited",
            "user",
            Some(user.id),
            None::<&()>,
            Some(&serde_json::json!({
                "email": user.email, "location": batch.location.name, "role": batch.role.name,
                "user_type": user.user_type, "source": source, "expires_at": expires_at,
            })),
        ));
        users_rows.push(user);
        invites.push(invitation);
    }
    users::insert_many(conn, &users_rows).await?;
    let pairs: Vec<(Uuid, Uuid)> = users_rows
        .iter()
        .map(|u| (u.id, batch.location.id))
        .collect();
    locations::grant_many(conn, &pairs).await?;
    let pairs: Vec<(Uuid, Uuid)> = users_rows.iter().map(|u| (u.id, batch.role.id)).collect();
    roles::assign_many(conn, &pairs).await?;
    invitations::insert_many(conn, &invites).await?;
    outbox::enqueue(conn, &messages_out).await?;
    audit::append(conn, batch.org.id, now, &events).await?;
    Ok(users_rows
        .into_iter()
        .map(|u| Invited {
            user_id: u.id,
            email: u.email,
        })
        .collect())
}

fn split_name(name: Option<&str>) -> (String, String) {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => (String::new(), String::new()),
        Some(n) => match n.rsplit_once(' ') {
            Some((first, last)) => (first.trim().to_string(), last.trim().to_string()),
            None => (n.to_string(), String::new()),
        },
    }
}

/// Usernames derived from the addresses, made unique within the organization and the batch.
async fn unique_usernames(
    conn: &mut Conn,
    org_id: Uuid,
    people: &[Newcomer],
) -> Result<Vec<String>, AppError> {
    let wanted: Vec<String> = people
        .iter()
        .map(|p| Username::from_email(&p.email).as_str().to_string())
        .collect();
    let mut taken: HashSet<String> = users::existing_usernames(conn, org_id, &wanted)
        .await?
        .into_iter()
        .collect();
    let mut out = Vec::with_capacity(wanted.len());
    for (base, person) in wanted.iter().zip(people) {
        let mut candidate = base.clone();
        let mut n = 1;
        while taken.contains(&candidate) {
            n += 1;
            candidate = Username::from_email(&person.email)
                .with_suffix(n)
                .as_str()
                .to_string();
            if n % 50 == 0 {
                // Rare: many people share a local part. Ask the store about the next suffixes too.
                let more: Vec<String> = (n..n + 50)
                    .map(|k| {
                        Username::from_email(&person.email)
                            .with_suffix(k)
                            .as_str()
                            .to_string()
                    })
                    .collect();
                taken.extend(users::existing_usernames(conn, org_id, &more).await?);
            }
        }
        taken.insert(candidate.clone());
        out.push(candidate);
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct InviteOne {
    pub email: String,
    pub full_name: String,
    pub location_id: Option<Uuid>,
    pub role_id: Uuid,
    pub user_type: Option<String>,
}

/// Invites one person (console form and `POST /api/v1/invitations`).
pub async fn invite_one(
    app: &App,
    who: &Principal,
    req: &InviteOne,
    meta: &Meta,
) -> Result<Invited, AppError> {
    let email = Email::parse(&req.email)?;
    let name = req.full_name.trim();
    if name.is_empty() {
        return Err(ValueError::new(
            "full_name",
            "name_missing",
            "Enter the person's full name as it should appear on notes and signatures.",
        )
        .into());
    }
    // Checks read on the read pool: SQLite's one writer is held only for the writes.
    let mut conn = app.db.read_conn().await?;
    let batch = prepare(
        &mut conn,
        who,
        req.location_id,
        req.role_id,
        req.user_type.as_deref(),
        Path::Console,
    )
    .await?;
    let taken = users::get_by_email_key(&mut conn, who.org_id, email.match_key()).await?;
    drop(conn);
    if let Some(existing) = taken {
        return Err(AppError::Conflict(format!(
            "{} already has an account in {} (status: {}). Find them in the user list to resend or reactivate.",
            email.as_str(),
            batch.org.name,
            existing.status
        )));
    }
    let mut tx = app.db.begin().await?;
    let mut invited = write_batch(
        app,
        &mut tx,
        who,
        &batch,
        vec![Newcomer {
            email,
            name: Some(name.to_string()),
        }],
        "console",
        meta,
    )
    .await
    .map_err(|e| match e {
        AppError::Store(s) if s.is_unique_violation() => AppError::Conflict(
            "This address was invited by someone else a moment ago. Find it in the user list."
                .into(),
        ),
        other => other,
    })?;
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(invited.remove(0))
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct NotInvited {
    /// What was typed for the entry.
    pub entry: String,
    pub code: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PasteResult {
    pub invited: Vec<Invited>,
    pub not_invited: Vec<NotInvited>,
    pub location: String,
    pub role: String,
}

/// The live count shown while typing: how many distinct valid addresses the text holds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct PasteCount {
    pub recognised: usize,
    pub invalid: usize,
    pub duplicates: usize,
}

pub fn count(text: &str) -> Result<PasteCount, AppError> {
    let p = paste::parse(text)?;
    Ok(PasteCount {
        recognised: p.recognised(),
        invalid: p.invalid(),
        duplicates: p.duplicates(),
    })
}

/// Invites every valid new address of a paste to one location with one role.
pub async fn paste_invite(
    app: &App,
    who: &Principal,
    text: &str,
    location_id: Option<Uuid>,
    role_id: Uuid,
    idempotency: Option<&crate::idempotency::Key>,
    meta: &Meta,
) -> Result<PasteResult, AppError> {
    match paste_invite_once(app, who, text, location_id, role_id, idempotency, meta).await {
        // A concurrent call with the same key won the race: answer as it did.
        Err(AppError::Store(e)) if e.is_unique_violation() && idempotency.is_some() => {
            let key = idempotency.expect("checked above");
            let mut conn = app.db.read_conn().await?;
            crate::idempotency::replay(&mut conn, who.org_id, key)
                .await?
                .ok_or(AppError::Store(e))
        }
        other => other,
    }
}

async fn paste_invite_once(
    app: &App,
    who: &Principal,
    text: &str,
    location_id: Option<Uuid>,
    role_id: Uuid,
    idempotency: Option<&crate::idempotency::Key>,
    meta: &Meta,
) -> Result<PasteResult, AppError> {
    let pasted = paste::parse(text)?;
    if pasted.entries.is_empty() {
        return Err(ValueError::new(
            "addresses",
            "paste_empty",
            "Paste or type at least one email address.",
        )
        .into());
    }
    let mut tx = app.db.begin().await?;
    if let Some(key) = idempotency
        && let Some(earlier) = crate::idempotency::replay(&mut tx, who.org_id, key).await?
    {
        return Ok(earlier);
    }
    let batch = prepare(&mut tx, who, location_id, role_id, None, Path::PasteInvite).await?;
    let keys: Vec<String> = pasted
        .valid()
        .map(|(e, _)| e.match_key().to_string())
        .collect();
    let existing: BTreeSet<String> = users::existing_email_keys(&mut tx, who.org_id, &keys)
        .await?
        .into_iter()
        .collect();
    let mut people = Vec::new();
    let mut not_invited = Vec::new();
    for entry in pasted.entries {
        match entry.outcome {
            Outcome::Valid(email) if existing.contains(email.match_key()) => {
                not_invited.push(NotInvited {
                    reason: format!(
                        "{} is already in {} (whatever its location or status).",
                        email.as_str(),
                        batch.org.name
                    ),
                    entry: entry.raw,
                    code: "already_in_organization".into(),
                })
            }
            Outcome::Valid(email) => people.push(Newcomer {
                email,
                name: entry.name,
            }),
            Outcome::Duplicate(email) => not_invited.push(NotInvited {
                reason: format!(
                    "{} appears more than once in this batch; it was invited once.",
                    email.as_str()
                ),
                entry: entry.raw,
                code: "duplicate_in_batch".into(),
            }),
            Outcome::Invalid(e) => not_invited.push(NotInvited {
                entry: entry.raw,
                code: e.code.into(),
                reason: e.message,
            }),
        }
    }
    let invited = if people.is_empty() {
        Vec::new()
    } else {
        write_batch(app, &mut tx, who, &batch, people, "paste", meta).await?
    };
    audit::append(
        &mut tx,
        who.org_id,
        app.clock.now(),
        &[meta.change(
            "invitations.pasted",
            "organization",
            Some(who.org_id),
            None::<&()>,
            Some(&serde_json::json!({ "invited": invited.len(), "not_invited": not_invited.len(), "location": batch.location.name, "role": batch.role.name })),
        )],
    )
    .await?;
    let result = PasteResult {
        invited,
        not_invited,
        location: batch.location.name,
        role: batch.role.name,
    };
    if let Some(key) = idempotency {
        crate::idempotency::record(&mut tx, who.org_id, key, &result, app.clock.now()).await?;
    }
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(result)
}

async fn pending_user(conn: &mut Conn, who: &Principal, user_id: Uuid) -> Result<User, AppError> {
    if !who.can_manage_users() {
        return Err(AppError::Forbidden(
            "Your access profile cannot change invitations.".into(),
        ));
    }
    let user = users::get(conn, who.org_id, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))?;
    if user.status != "pending" {
        return Err(AppError::Conflict(format!(
            "{} is {}, not pending: there is no invitation to change.",
            user.email, user.status
        )));
    }
    Ok(user)
}

/// Resend: the old link stops working; a new one with a fresh validity goes out.
pub async fn resend(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    meta: &Meta,
) -> Result<(), AppError> {
    let mut tx = app.db.begin().await?;
    let user = pending_user(&mut tx, who, user_id).await?;
    reissue(app, &mut tx, who, &user, meta).await?;
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(())
}

/// Revokes a pending user's live links and queues a new invitation with a fresh validity, in
/// the caller's transaction (resend, and reactivation of someone who never registered).
pub(crate) async fn reissue(
    app: &App,
    tx: &mut Conn,
    who: &Principal,
    user: &User,
    meta: &Meta,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let org = rollcall_store::orgs::get(tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    for old in invitations::live_for_user(tx, user.id).await? {
        outbox::revoke_for_invitation(tx, old.id).await?;
    }
    invitations::revoke_for_user(tx, user.id, now).await?;
    let expires_at = now + org.settings.invitation_days as i64 * DAY;
    let name = (!user.first_name.is_empty()).then_some(user.display_name.clone());
    let (invitation, message) =
        invitation_for(app, who, &org, user, name.as_deref(), now, expires_at);
    invitations::insert_many(tx, std::slice::from_ref(&invitation)).await?;
    users::set_invite_expiry(tx, user.id, Some(expires_at)).await?;
    outbox::enqueue(tx, &[message]).await?;
    audit::append(
        tx,
        org.id,
        now,
        &[meta.change(
            "invitation.resent",
            "user",
            Some(user.id),
            None::<&()>,
            Some(&serde_json::json!({ "expires_at": expires_at })),
        )],
    )
    .await?;
    Ok(())
}

/// Revoke: the link stops working and the pending account is deactivated (it keeps its history
/// and frees its seat; reactivating sends a new invitation).
pub async fn revoke(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    meta: &Meta,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let user = pending_user(&mut tx, who, user_id).await?;
    for old in invitations::live_for_user(&mut tx, user.id).await? {
        outbox::revoke_for_invitation(&mut tx, old.id).await?;
    }
    invitations::revoke_for_user(&mut tx, user.id, now).await?;
    users::set_status(
        &mut tx,
        who.org_id,
        &[user.id],
        "inactive",
        Some(who.user_id),
        now,
    )
    .await?;
    users::set_invite_expiry(&mut tx, user.id, None).await?;
    audit::append(
        &mut tx,
        who.org_id,
        now,
        &[meta.change(
            "invitation.revoked",
            "user",
            Some(user.id),
            Some(&"pending"),
            Some(&"inactive"),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
