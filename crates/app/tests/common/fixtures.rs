//! An organization set up the way people set one up: two clinics, a company admin who registered
//! from their set-up link, and staff invited through the console's use case (active once they
//! register from the link in their invitation email).

use std::time::Duration;

use rollcall_app::audit::Meta;
use rollcall_app::identity::register;
use rollcall_app::onboarding::invite::{self, InviteOne};
use rollcall_app::org as orgs;
use rollcall_app::{App, Clock, Config, Principal, delivery};
use rollcall_store::audit::{self, ActionMatch, AuditQuery, Event};
use rollcall_store::jobs::Job;
use rollcall_store::locations::Location;
use rollcall_store::orgs::Organization;
use rollcall_store::testing::TestDb;
use rollcall_store::{mailbox, users};
use uuid::Uuid;

pub const PASSWORD: &str = "a long and quiet river";

pub struct Clinic {
    pub app: App,
    pub org: Organization,
    pub downtown: Location,
    pub northside: Location,
    /// Ana Silva, the company admin: every permission, every location.
    pub admin: Principal,
    pub db: TestDb,
}

/// Alpha Therapy with Downtown and Northside, and its company admin registered and active.
pub async fn clinic(t: TestDb) -> Clinic {
    let app = App::with_db(t.db.clone(), Config::for_tests(t.url()), Clock::system());
    let meta = Meta::system("test");
    let org = orgs::create_org(&app, "alpha", "Alpha Therapy", "America/Chicago", &meta)
        .await
        .unwrap();
    let operator = Principal::operator(&app, org.id, "test").await.unwrap();
    let downtown = orgs::create_location(&app, &operator, "Downtown", "DT", &meta)
        .await
        .unwrap();
    let northside = orgs::create_location(&app, &operator, "Northside", "NS", &meta)
        .await
        .unwrap();
    let (_, token) = orgs::create_admin(&app, &org, "ana@alpha.example", "Ana", "Silva", &meta)
        .await
        .unwrap();
    let admin = register_from_link(&app, &token, "Ana", "Silva").await;
    Clinic {
        app,
        org,
        downtown,
        northside,
        admin,
        db: t,
    }
}

/// Completes registration from an invitation link as the pages do (no second factor).
pub async fn register_from_link(app: &App, token: &str, first: &str, last: &str) -> Principal {
    let details = register::Details {
        first_name: first.into(),
        last_name: last.into(),
        mobile: "+1 415 555 2671".into(),
        password: PASSWORD.into(),
    };
    let staged = register::submit(app, token, &details, None).await.unwrap();
    let p = rollcall_app::identity::staged::at_stage(app, &staged.token, staged.stage)
        .await
        .unwrap();
    let version = p.org.settings.eula_version;
    register::accept_eula(app, &p, version).await.unwrap()
}

impl Clinic {
    pub fn meta(&self) -> Meta {
        Meta::of(&self.admin, None, None)
    }

    pub async fn role(&self, name: &str) -> Uuid {
        rollcall_app::access::roles::list(&self.app, &self.admin)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no role {name}"))
            .id
    }

    /// Invites someone to Downtown with one role and a user type: Pending until they register.
    pub async fn invite(&self, email: &str, full_name: &str, role: &str, user_type: &str) -> Uuid {
        let req = InviteOne {
            email: email.into(),
            full_name: full_name.into(),
            location: Some(self.downtown.code.clone()),
            role: role.into(),
            user_type: Some(user_type.into()),
        };
        invite::invite_one(&self.app, &self.admin, &req, &self.meta())
            .await
            .unwrap()
            .user_id
    }

    /// Invites someone, then registers them from the link in the email they received: an
    /// active user who can act.
    pub async fn active_staff(
        &self,
        email: &str,
        (first, last): (&str, &str),
        role: &str,
        user_type: &str,
    ) -> Principal {
        self.invite(email, &format!("{first} {last}"), role, user_type)
            .await;
        let token = self.link_in_mail_to(email).await;
        register_from_link(&self.app, &token, first, last).await
    }

    /// The registration token in the newest invitation email to `email` (delivered to the local
    /// mailbox, as no mail server is configured).
    async fn link_in_mail_to(&self, email: &str) -> String {
        delivery::drain_once(&self.app).await.unwrap();
        let mut conn = self.app.db().read_conn().await.unwrap();
        let mail = mailbox::list(&mut conn, None, Some(email), 1)
            .await
            .unwrap()
            .pop()
            .unwrap_or_else(|| panic!("no mail to {email}"));
        let after = mail
            .body_text
            .split("/register/")
            .nth(1)
            .unwrap_or_else(|| panic!("no link in {}", mail.body_text));
        after.chars().take_while(char::is_ascii_hexdigit).collect()
    }

    pub async fn user(&self, id: Uuid) -> users::User {
        let mut conn = self.app.db().read_conn().await.unwrap();
        users::get(&mut conn, self.org.id, id)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn user_by_email(&self, email: &str) -> Option<users::User> {
        let key = rollcall_app::domain::Email::parse(email).unwrap();
        let mut conn = self.app.db().read_conn().await.unwrap();
        users::get_by_email_key(&mut conn, self.org.id, key.match_key())
            .await
            .unwrap()
    }

    pub async fn user_count(&self) -> i64 {
        let mut conn = self.app.db().read_conn().await.unwrap();
        users::count(&mut conn, self.org.id).await.unwrap()
    }

    /// The audit events of one action, newest first.
    pub async fn events(&self, action: &str) -> Vec<Event> {
        let mut conn = self.app.db().read_conn().await.unwrap();
        audit::list(
            &mut conn,
            self.org.id,
            &AuditQuery {
                action: Some(ActionMatch::Exact(action.into())),
                limit: 1_000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    /// Waits for a job running in the background to finish, as the Jobs page does.
    pub async fn finished(&self, id: Uuid) -> Job {
        for _ in 0..400 {
            let job = rollcall_app::jobs::get(&self.app, &self.admin, id)
                .await
                .unwrap();
            if job.is_finished() {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("job {id} did not finish");
    }
}

/// An event's before or after value, parsed.
pub fn json(value: &Option<String>) -> serde_json::Value {
    serde_json::from_str(value.as_deref().expect("the event records the value")).unwrap()
}
