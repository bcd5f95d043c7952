//! `spawn_app`: a real server on a random port over a fresh database, and a client with a
//! cookie jar that signs in the way a browser does.

#![allow(dead_code)]

use std::net::SocketAddr;

use rollcall_app::audit::Meta;
use rollcall_app::domain::UserStatus;
use rollcall_app::{App, Clock, Config};
use rollcall_store::orgs::Organization;
use rollcall_store::testing::TestDb;

pub const PASSWORD: &str = "a long and quiet river";

pub struct TestApp {
    pub app: App,
    pub addr: SocketAddr,
    pub org: Organization,
    pub admin_email: String,
    _db: TestDb,
}

pub async fn spawn_app(t: TestDb) -> TestApp {
    spawn_app_with(t, rollcall_web::Edge::default()).await
}

/// The application served with the given rate limits and trusted proxies.
pub async fn spawn_app_with(t: TestDb, edge: rollcall_web::Edge) -> TestApp {
    let config = Config::for_tests(t.url());
    spawn_configured(t, edge, config).await
}

/// The application as deployed behind HTTPS (secure cookies).
pub async fn spawn_app_https(t: TestDb) -> TestApp {
    let config = Config {
        secure_cookies: true,
        ..Config::for_tests(t.url())
    };
    spawn_configured(t, rollcall_web::Edge::default(), config).await
}

/// The application with webhooks allowed to reach this machine (the tests' receivers).
pub async fn spawn_app_local_webhooks(t: TestDb) -> TestApp {
    let mut config = Config::for_tests(t.url());
    config.webhooks.allow_private = true;
    spawn_configured(t, rollcall_web::Edge::default(), config).await
}

async fn spawn_configured(t: TestDb, edge: rollcall_web::Edge, config: Config) -> TestApp {
    let app = App::with_db(t.db.clone(), config, Clock::system());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = app.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            rollcall_web::router_with(served, edge)
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let (org, admin_email) = org_with_admin(&app, "alpha").await;
    TestApp {
        app,
        addr,
        org,
        admin_email,
        _db: t,
    }
}

/// An organization with two locations and an active company admin whose password is PASSWORD.
pub async fn org_with_admin(app: &App, slug: &str) -> (Organization, String) {
    let meta = Meta::system("test");
    let org = rollcall_app::org::create_org(
        app,
        slug,
        &format!("{slug} Therapy"),
        "America/Chicago",
        &meta,
    )
    .await
    .unwrap();
    let operator = rollcall_app::Principal::operator(app, org.id, "test")
        .await
        .unwrap();
    rollcall_app::org::create_location(app, &operator, &format!("{slug} Downtown"), "DT", &meta)
        .await
        .unwrap();
    rollcall_app::org::create_location(app, &operator, &format!("{slug} Northside"), "NS", &meta)
        .await
        .unwrap();
    let email = format!("admin@{slug}.example");
    let (_, token) = rollcall_app::org::create_admin(app, &org, &email, "Ada", slug, &meta)
        .await
        .unwrap();
    register(app, &token).await;
    (org, email)
}

/// Completes registration from an invitation link the way the pages do (no second factor).
pub async fn register(app: &App, link_token: &str) {
    use rollcall_app::identity::register;
    let details = register::Details {
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        mobile: "+1 415 555 2671".into(),
        password: PASSWORD.into(),
    };
    let staged = register::submit(app, link_token, &details, None)
        .await
        .unwrap();
    let p = rollcall_app::identity::staged::at_stage(app, &staged.token, staged.stage)
        .await
        .unwrap();
    let version = p.org.settings.eula_version;
    register::accept_eula(app, &p, version).await.unwrap();
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A browser-like client: cookies kept, redirects not followed (tests look at them).
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// A page's HTML as `client` sees it.
    pub async fn page(&self, client: &reqwest::Client, path: &str) -> String {
        client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A JSON API call with a bearer token: the status and the JSON answer.
    pub async fn api(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut r = reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The CSRF token of the form on a page.
    pub async fn csrf_of(&self, client: &reqwest::Client, path: &str) -> String {
        let html = client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        csrf_in(&html)
    }

    pub async fn sign_in(
        &self,
        client: &reqwest::Client,
        org: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        let csrf = self.csrf_of(client, "/sign-in").await;
        client
            .post(self.url("/sign-in"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("organization", org),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn signed_in_admin(&self) -> reqwest::Client {
        let c = self.browser();
        let r = self
            .sign_in(&c, &self.org.slug, &self.admin_email, PASSWORD)
            .await;
        assert_eq!(r.status(), 303, "admin signs in");
        assert_eq!(r.headers()["location"], "/home");
        c
    }

    /// Creates a personal API token through the console and returns it.
    pub async fn api_token(&self, client: &reqwest::Client, scopes: &[&str]) -> String {
        let mut form = vec![("name", "integration")];
        form.extend(scopes.iter().map(|s| ("scope", *s)));
        self.console_token(client, &form).await
    }

    /// Submits the console's token form with these fields and returns the secret it shows once.
    pub async fn console_token(&self, client: &reqwest::Client, form: &[(&str, &str)]) -> String {
        let csrf = self.csrf_of(client, "/settings/api-tokens").await;
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        let html = client
            .post(self.url("/settings/api-tokens"))
            .form(&fields)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let start =
            html.find("id=\"new-token\">").expect("token shown once") + "id=\"new-token\">".len();
        html[start..].split('<').next().unwrap().to_string()
    }
}

pub fn csrf_in(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("form has a csrf field")
        + "name=\"csrf\" value=\"".len();
    html[start..].split('"').next().unwrap().to_string()
}

/// Writes an active clerical user with one predefined role at the first location (arrangement
/// only; the invite flow has its own tests).
pub async fn add_user(
    app: &App,
    org: &Organization,
    email: &str,
    name: (&str, &str),
    role: &str,
    password: Option<&str>,
) -> uuid::Uuid {
    add_staff(app, org, email, name, role, "clerical", password).await
}

/// Writes an active user of a given type with one predefined role at the first location.
pub async fn add_staff(
    app: &App,
    org: &Organization,
    email: &str,
    name: (&str, &str),
    role: &str,
    user_type: &str,
    password: Option<&str>,
) -> uuid::Uuid {
    use rollcall_store::{locations, roles, users};
    let email = rollcall_domain::Email::parse(email).unwrap();
    let hash = match password {
        Some(p) => Some(
            rollcall_app::identity::password::hash(p.to_string())
                .await
                .unwrap(),
        ),
        None => None,
    };
    let now = app.clock.now();
    let user = users::User {
        id: rollcall_store::new_id(),
        org_id: org.id,
        email: email.as_str().into(),
        email_key: email.match_key().into(),
        username: rollcall_domain::Username::from_email(&email)
            .as_str()
            .into(),
        first_name: name.0.into(),
        last_name: name.1.into(),
        display_name: format!("{} {}", name.0, name.1),
        mobile: None,
        user_type: Some(user_type.into()),
        status: UserStatus::Active,
        default_location_id: None,
        source: "test".into(),
        password_hash: hash,
        invite_expires_at: None,
        failed_sign_ins: 0,
        locked_until: None,
        created_at: now,
        created_by: None,
        activated_at: Some(now),
        deactivated_at: None,
        last_sign_in_at: None,
    };
    let mut tx = app.db().begin().await.unwrap();
    users::insert_many(&mut tx, std::slice::from_ref(&user))
        .await
        .unwrap();
    let role_id = roles::list(&mut tx, org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == role)
        .unwrap()
        .id;
    roles::assign(&mut tx, user.id, &[role_id]).await.unwrap();
    let locs: Vec<_> = locations::list(&mut tx, org.id)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.id)
        .collect();
    locations::grant(&mut tx, user.id, &locs[..1])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    user.id
}

/// The staff the access tests share: a PT, a PTA and a clerk with their usual roles, and Morgan,
/// a clinic admin who can sign in; all at Downtown.
pub struct Staff {
    pub pt: uuid::Uuid,
    pub pta: uuid::Uuid,
    pub clerk: uuid::Uuid,
    pub clinic_admin: uuid::Uuid,
    pub downtown: uuid::Uuid,
    pub northside: uuid::Uuid,
}

pub async fn staff(app: &TestApp) -> Staff {
    let (a, o) = (&app.app, &app.org);
    let person =
        |email, name, role, kind, password| add_staff(a, o, email, name, role, kind, password);
    let pt = person("pat@alpha.example", ("Pat", "Chen"), "Provider", "pt", None).await;
    let pta = person(
        "avery@alpha.example",
        ("Avery", "Stone"),
        "Provider",
        "pta",
        None,
    )
    .await;
    let clerk = person(
        "casey@alpha.example",
        ("Casey", "Ruiz"),
        "Front Desk",
        "clerical",
        None,
    )
    .await;
    let clinic_admin = person(
        "morgan@alpha.example",
        ("Morgan", "Diaz"),
        "Clinic Admin",
        "administrator",
        Some(PASSWORD),
    )
    .await;
    let mut conn = a.db().read_conn().await.unwrap();
    let locs = rollcall_store::locations::list(&mut conn, o.id)
        .await
        .unwrap();
    let at = |suffix: &str| locs.iter().find(|l| l.name.ends_with(suffix)).unwrap().id;
    Staff {
        pt,
        pta,
        clerk,
        clinic_admin,
        downtown: at("Downtown"),
        northside: at("Northside"),
    }
}

/// The attributes a refused control carries, for its id.
pub fn marked(id: &str) -> String {
    format!("id=\"{id}\" aria-invalid=\"true\" aria-describedby=\"{id}-error\"")
}

/// The text of the element with `id` on a page, as the browser shows it.
pub fn shown(html: &str, id: &str) -> String {
    let tag = format!("id=\"{id}\">");
    let start = html
        .find(&tag)
        .unwrap_or_else(|| panic!("{id} shown: {html}"))
        + tag.len();
    html[start..]
        .split('<')
        .next()
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&#43;", "+")
        .replace("&#61;", "=")
}

/// A console form `fields` posted to `path` by `client`, with the CSRF token of `page`.
pub async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let csrf = app.csrf_of(client, page).await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = client.post(app.url(path)).form(&form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}
