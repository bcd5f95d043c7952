//! Creating pending users and their invitations: the one writer behind every onboarding path
//! (one invite, a paste, a CSV import, a directory batch).
//!
//! It writes users, their access, provider details, notification preferences, invitations, the
//! outgoing messages (transactional outbox) and one audit event per user in the caller's
//! transaction. Checks (rules, seats, duplicates) happen before: this module only writes.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rollcall_domain::{Email, Permission, UserStatus, Username};
use rollcall_store::audit::NewEvent;
use rollcall_store::invitations::{self, Invitation};
use rollcall_store::orgs::Organization;
use rollcall_store::outbox::{self, OutboxMessage};
use rollcall_store::profiles::{self, Provider};
use rollcall_store::users::{self, User};
use rollcall_store::{Conn, audit, locations, new_id, roles};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::Meta;
use crate::clock::{DAY, local};
use crate::delivery::messages;
use crate::{App, AppError, secret};

/// One person to create, with everything decided.
#[derive(Debug, Clone)]
pub struct Newcomer {
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    /// As it appears on notes and signatures; `None` uses the full name, else the address.
    pub display_name: Option<String>,
    /// `None` derives one from the address, unique in the organization.
    pub username: Option<String>,
    pub mobile: Option<String>,
    pub user_type: Option<String>,
    pub default_location: Uuid,
    /// Every location the person may access (the default one included).
    pub locations: BTreeSet<Uuid>,
    pub roles: BTreeSet<Uuid>,
    pub permissions: BTreeSet<Permission>,
    pub npi: Option<String>,
    pub taxonomy: Vec<String>,
    /// When access ends by itself, if a leaving date was given.
    pub leaves_at: Option<i64>,
}

impl Newcomer {
    fn full_name(&self) -> Option<String> {
        let n = format!("{} {}", self.first_name.trim(), self.last_name.trim());
        let n = n.trim();
        (!n.is_empty()).then(|| n.to_string())
    }
}

/// Who sends the invitations, as the message names them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inviter {
    pub user_id: Option<Uuid>,
    pub name: String,
}

/// When the invitations go out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// UTC instant (microseconds); `None` means now.
    pub send_at: Option<i64>,
    /// The time as the admin typed it and its zone, kept for people reading it back.
    pub local: Option<String>,
    pub zone: Option<String>,
}

/// A person invited: their new account and the address the invitation went to.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invited {
    pub user_id: Uuid,
    pub email: String,
}

/// What a batch writes beyond the people themselves.
pub struct Batch<'a> {
    pub org: &'a Organization,
    pub inviter: &'a Inviter,
    /// `console`, `paste`, `csv_import`, `directory`…
    pub source: &'a str,
    pub schedule: &'a Schedule,
    /// Notification preferences every person starts with: (category, medium).
    pub notifications: &'a [(String, String)],
    /// Location and role names for the audit trail.
    pub names: &'a BTreeMap<Uuid, String>,
    /// Added to each `user.invited` event (e.g. the import and its line).
    pub context: Option<serde_json::Value>,
}

/// When a batch's invitations go out, and until when their links work.
#[derive(Debug, Clone, Copy)]
struct Times {
    now: i64,
    send_at: i64,
    expires_at: i64,
}

impl Times {
    /// A time already past sends now; the link's validity counts from the sending.
    fn of(batch: &Batch<'_>, now: i64) -> Times {
        let send_at = batch.schedule.send_at.unwrap_or(now).max(now);
        let expires_at = send_at + batch.org.settings.invitation_days as i64 * DAY;
        Times {
            now,
            send_at,
            expires_at,
        }
    }
}

/// Writes the people of a checked batch, each audited with the request that asked for them
/// (one request for a paste or an import; several for single invitations written together).
pub(crate) async fn write(
    app: &App,
    conn: &mut Conn,
    batch: &Batch<'_>,
    people: Vec<(Newcomer, &Meta)>,
) -> Result<Vec<Invited>, AppError> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let times = Times::of(batch, app.clock.now());
    let persons: Vec<&Newcomer> = people.iter().map(|(p, _)| p).collect();
    let usernames = unique_usernames(conn, batch.org.id, &persons).await?;
    let mut rows = Rows::with_capacity(people.len());
    for ((person, meta), username) in people.into_iter().zip(usernames) {
        rows.add(batch, meta, &person, username, times);
    }
    rows.insert(conn, batch, times.now).await?;
    Ok(rows
        .users
        .into_iter()
        .map(|u| Invited {
            user_id: u.id,
            email: u.email,
        })
        .collect())
}

/// Every row a batch writes: gathered person by person, then written table by table in
/// multi-row statements.
struct Rows {
    users: Vec<User>,
    invites: Vec<Invitation>,
    messages: Vec<OutboxMessage>,
    events: Vec<NewEvent>,
    locations: Vec<(Uuid, Uuid)>,
    roles: Vec<(Uuid, Uuid)>,
    direct: Vec<(Uuid, Permission)>,
    providers: Vec<(Uuid, Provider)>,
    leaving: Vec<(Uuid, i64)>,
}

impl Rows {
    fn with_capacity(n: usize) -> Rows {
        Rows {
            users: Vec::with_capacity(n),
            invites: Vec::with_capacity(n),
            messages: Vec::with_capacity(n),
            events: Vec::with_capacity(n),
            locations: Vec::with_capacity(n),
            roles: Vec::with_capacity(n),
            direct: Vec::new(),
            providers: Vec::new(),
            leaving: Vec::new(),
        }
    }

    /// One person: the pending user, the invitation and its message, the audit event and the
    /// access.
    fn add(
        &mut self,
        batch: &Batch<'_>,
        meta: &Meta,
        person: &Newcomer,
        username: String,
        times: Times,
    ) {
        let full_name = person.full_name();
        let user = pending_user(batch, person, username, full_name.clone(), times);
        let (invitation, message) = invitation_for(
            batch.inviter,
            batch.org,
            &user,
            full_name.as_deref(),
            (times.now, times.send_at),
            times.expires_at,
            batch.schedule,
        );
        self.events
            .push(invited_event(batch, meta, person, &user, times.expires_at));
        self.add_access(user.id, person);
        self.messages.push(message);
        self.users.push(user);
        self.invites.push(invitation);
    }

    /// Locations (the default one always among them), roles, direct grants and provider details.
    fn add_access(&mut self, user_id: Uuid, person: &Newcomer) {
        self.locations
            .extend(person.locations.iter().map(|l| (user_id, *l)));
        if !person.locations.contains(&person.default_location) {
            self.locations.push((user_id, person.default_location));
        }
        self.roles
            .extend(person.roles.iter().map(|r| (user_id, *r)));
        self.direct
            .extend(person.permissions.iter().map(|p| (user_id, *p)));
        self.leaving
            .extend(person.leaves_at.map(|at| (user_id, at)));
        if person.npi.is_some() || !person.taxonomy.is_empty() {
            self.providers.push((
                user_id,
                Provider {
                    npi: person.npi.clone(),
                    taxonomies: person.taxonomy.clone(),
                    ..Provider::default()
                },
            ));
        }
    }

    async fn insert(&self, conn: &mut Conn, batch: &Batch<'_>, now: i64) -> Result<(), AppError> {
        users::insert_many(conn, &self.users).await?;
        locations::grant_many(conn, &self.locations).await?;
        roles::assign_many(conn, &self.roles).await?;
        if !self.direct.is_empty() {
            roles::grant_direct_many(conn, &self.direct).await?;
        }
        for (user_id, provider) in &self.providers {
            profiles::save_provider(conn, *user_id, provider).await?;
        }
        users::set_leaving_many(conn, &self.leaving).await?;
        if !batch.notifications.is_empty() {
            let ids: Vec<Uuid> = self.users.iter().map(|u| u.id).collect();
            profiles::add_notifications(conn, &ids, batch.notifications).await?;
        }
        invitations::insert_many(conn, &self.invites).await?;
        outbox::enqueue(conn, &self.messages).await?;
        audit::append(conn, batch.org.id, now, &self.events).await?;
        Ok(())
    }
}

/// The pending account of a newcomer. Its display name is the one given, else the full name,
/// else the address.
fn pending_user(
    batch: &Batch<'_>,
    person: &Newcomer,
    username: String,
    full_name: Option<String>,
    times: Times,
) -> User {
    User {
        id: new_id(),
        org_id: batch.org.id,
        email: person.email.as_str().to_string(),
        email_key: person.email.match_key().to_string(),
        username,
        display_name: person
            .display_name
            .clone()
            .or(full_name)
            .unwrap_or_else(|| person.email.as_str().to_string()),
        first_name: person.first_name.clone(),
        last_name: person.last_name.clone(),
        mobile: person.mobile.clone(),
        user_type: person.user_type.clone(),
        status: UserStatus::Pending,
        default_location_id: Some(person.default_location),
        source: batch.source.into(),
        password_hash: None,
        invite_expires_at: Some(times.expires_at),
        failed_sign_ins: 0,
        locked_until: None,
        created_at: times.now,
        created_by: batch.inviter.user_id,
        activated_at: None,
        deactivated_at: None,
        last_sign_in_at: None,
    }
}

/// `user.invited`, with the access by name and whatever the batch adds.
fn invited_event(
    batch: &Batch<'_>,
    meta: &Meta,
    person: &Newcomer,
    user: &User,
    expires_at: i64,
) -> NewEvent {
    // An id the batch has no name for is shown as it is rather than dropped.
    let name_of = |id: &Uuid| {
        batch
            .names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    let mut after = serde_json::json!({
        "email": user.email,
        "location": name_of(&person.default_location),
        "locations": person.locations.iter().map(name_of).collect::<Vec<_>>(),
        "roles": person.roles.iter().map(name_of).collect::<Vec<_>>(),
        "user_type": user.user_type, "source": batch.source, "expires_at": expires_at,
    });
    if !person.permissions.is_empty() {
        after["permissions"] = person.permissions.iter().map(|p| p.key()).collect();
    }
    if let Some(at) = batch.schedule.send_at {
        after["send_at"] = at.into();
    }
    if let Some(extra) = &batch.context {
        after["context"] = extra.clone();
    }
    meta.change(
        "user.invited",
        "user",
        Some(user.id),
        None::<&()>,
        Some(&after),
    )
}

/// A new invitation for a pending user, and its message in the outbox: a fresh 256-bit token
/// (only its hash is kept) and a link valid until `expires_at`. `times` is (now, send at).
#[allow(clippy::too_many_arguments)]
pub(crate) fn invitation_for(
    inviter: &Inviter,
    org: &Organization,
    user: &User,
    name: Option<&str>,
    times: (i64, i64),
    expires_at: i64,
    schedule: &Schedule,
) -> (Invitation, OutboxMessage) {
    let (now, send_at) = times;
    let token = secret::new_token();
    let invitation = Invitation {
        id: new_id(),
        org_id: org.id,
        user_id: user.id,
        token_hash: secret::hash(&token),
        send_at,
        send_at_local: schedule.local.clone(),
        send_zone: schedule.zone.clone(),
        sent_at: None,
        expires_at,
        accepted_at: None,
        revoked_at: None,
        delivery_state: "queued".into(),
        created_at: now,
        created_by: inviter.user_id,
    };
    let link = format!("{}/register/{token}", messages::PUBLIC_URL);
    let m = messages::invitation(
        name,
        inviter.user_id.map(|_| inviter.name.as_str()),
        (&org.name, &org.slug),
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
        send_at,
        created_at: now,
    };
    (invitation, message)
}

/// Usernames for a batch: the one a person was given, else one derived from the address; made
/// unique within the organization and the batch.
async fn unique_usernames(
    conn: &mut Conn,
    org_id: Uuid,
    people: &[&Newcomer],
) -> Result<Vec<String>, AppError> {
    let wanted: Vec<String> = people
        .iter()
        .map(|p| {
            p.username
                .clone()
                .unwrap_or_else(|| Username::from_email(&p.email).as_str().to_string())
        })
        .collect();
    let mut taken: HashSet<String> = users::existing_usernames(conn, org_id, &wanted)
        .await?
        .into_iter()
        .collect();
    let mut out = Vec::with_capacity(wanted.len());
    for (base, person) in wanted.iter().zip(people) {
        if person.username.is_some() {
            // Checked free by the caller: a given username is kept as given.
            taken.insert(base.clone());
            out.push(base.clone());
            continue;
        }
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

/// Refuses a batch that needs more licence seats than are free, under the seats lock held until
/// the caller's transaction ends.
pub(crate) async fn check_seats(
    conn: &mut Conn,
    org: &Organization,
    needed: i64,
) -> Result<(), AppError> {
    let Some(seats) =
        rollcall_store::seats::lock(conn, org.id, rollcall_store::seats::PORTAL).await?
    else {
        // No seat count configured for the product: the installation is not seat-limited.
        return Ok(());
    };
    if needed > seats.free() {
        return Err(AppError::SeatsExhausted(format!(
            "This needs {needed} licence seat{} but only {} {} free ({} of {} in use). Nothing was created. Deactivate accounts that are no longer needed, invite fewer people, or add seats, then try again.",
            if needed == 1 { "" } else { "s" },
            seats.free(),
            if seats.free() == 1 { "is" } else { "are" },
            seats.used,
            seats.total
        )));
    }
    Ok(())
}
