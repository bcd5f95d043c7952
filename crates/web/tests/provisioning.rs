//! The console's Provisioning page, on SQLite and PostgreSQL: the SCIM base URL, a SCIM token
//! made and shown once, what a provider group gives its members, and the provider's last
//! requests with how each ended.

mod common;

use common::{PASSWORD, TestApp, add_user, marked, post_form, spawn_app};
use reqwest::Method;
use rollcall_app::Principal;
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::{Value, json};
use uuid::Uuid;

/// A SCIM call as a provider makes it: the status and the JSON answer.
async fn scim(app: &TestApp, token: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method.clone(), app.url(&format!("/scim/v2{path}")))
        .bearer_auth(token);
    if method != Method::GET {
        req = req
            .header("content-type", "application/scim+json")
            .body(body.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The section of a page with this id, up to its end.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// The id of a role or location named `name`, as the page's checkboxes carry it.
fn value_of(html: &str, name: &str) -> String {
    let label = html
        .split("<label class=\"check\">")
        .find(|l| l.contains(&format!("> {name}</label>")))
        .unwrap_or_else(|| panic!("no box for {name}"));
    let start = label.find("value=\"").unwrap() + "value=\"".len();
    label[start..].split('"').next().unwrap().to_string()
}

/// What the person's profile holds: role names and location names granted.
async fn access_of(app: &TestApp, id: &str) -> (Vec<String>, Vec<String>) {
    let operator = Principal::operator(&app.app, app.org.id, "test")
        .await
        .unwrap();
    let p = rollcall_app::access::profile::get(&app.app, &operator, id.parse().unwrap())
        .await
        .unwrap();
    (
        p.roles
            .into_iter()
            .filter(|r| r.member)
            .map(|r| r.name)
            .collect(),
        p.locations
            .into_iter()
            .filter(|l| l.granted)
            .map(|l| l.name)
            .collect(),
    )
}

async fn a_company_admin_connects_a_provider_from_the_provisioning_page(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let settings = app.page(&admin, "/settings").await;
    assert!(settings.contains("href=\"/settings/provisioning\""));

    let page = app.page(&admin, "/settings/provisioning").await;
    assert!(
        page.contains("<code id=\"scim-base-url\">http://127.0.0.1/scim/v2</code>"),
        "{page}"
    );
    assert!(section(&page, "scim-requests").contains("No request yet."));

    // A token without a name is refused beside its field, and nothing is made.
    let (status, refused) = post_form(
        &app,
        &admin,
        "/settings/provisioning",
        "/settings/provisioning/token",
        &[("name", " "), ("expires_in_days", "365")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(refused.contains("id=\"error-summary\""), "{refused}");
    assert!(refused.contains(&marked("t-f-name")), "{refused}");
    assert!(section(&refused, "scim-token").contains("No token can reach SCIM yet."));

    let (_, made) = post_form(
        &app,
        &admin,
        "/settings/provisioning",
        "/settings/provisioning/token",
        &[("name", "Entra ID"), ("expires_in_days", "365")],
    )
    .await;
    let shown = common::shown(&made, "new-scim-token");
    assert!(shown.starts_with("rollcall_sa_"), "{made}");
    assert!(section(&made, "scim-tokens").contains("Entra ID"));
    let token = shown;

    // The provider pushes a group and a person; one request of its own is refused.
    let (status, group) = scim(
        &app,
        &token,
        Method::POST,
        "/Groups",
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Therapists" }),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let person = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "tess.hale@alpha.example",
        "name": { "givenName": "Tess", "familyName": "Hale" },
    });
    let (status, tess) = scim(&app, &token, Method::POST, "/Users", person.clone()).await;
    assert_eq!(status, 201, "{tess}");
    let (status, _) = scim(&app, &token, Method::POST, "/Users", person).await;
    assert_eq!(status, 409);
    let tess_id = tess["id"].as_str().unwrap().to_string();
    let group_id: Uuid = group["id"].as_str().unwrap().parse().unwrap();
    let (status, _) = scim(
        &app,
        &token,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "add", "path": "members", "value": [{ "value": tess_id }] }] }),
    )
    .await;
    assert_eq!(status, 200);

    // The page lists the requests, newest first, and why the refused one was refused.
    let page = app.page(&admin, "/settings/provisioning").await;
    let log = section(&page, "scim-requests");
    assert!(log.contains("PATCH /Groups/…"), "{log}");
    assert!(
        !log.contains(&group_id.to_string()),
        "the group by name, not id: {log}"
    );
    assert!(log.contains("Therapists"), "{log}");
    assert!(log.contains("POST /Users"), "{log}");
    assert!(
        log.contains("Refused: uniqueness: The userName “tess.hale@alpha.example” already belongs"),
        "{log}"
    );
    assert!(log.contains("Entra ID"), "the token is named: {log}");
    assert!(
        log.find("PATCH /Groups/").unwrap() < log.find("POST /Groups").unwrap(),
        "newest first: {log}"
    );

    // Mapping the group: Tess gets the role and the location at once.
    let mapping = section(&page, "group-mapping");
    assert!(mapping.contains("Therapists"), "{mapping}");
    let provider = value_of(mapping, "Provider");
    let northside = value_of(mapping, "alpha Northside");
    let path = format!("/settings/provisioning/groups/{group_id}");
    let (status, saved) = post_form(
        &app,
        &admin,
        "/settings/provisioning",
        &path,
        &[("role", &provider), ("location", &northside)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        common::shown(&saved, "provisioning-notice").contains("“Therapists” is saved"),
        "{saved}"
    );
    let (roles, locations) = access_of(&app, &tess_id).await;
    assert!(roles.contains(&"Provider".to_string()), "{roles:?}");
    assert!(
        locations.contains(&"alpha Northside".to_string()),
        "{locations:?}"
    );
    assert!(
        saved.contains(&format!("value=\"{provider}\" checked")),
        "the page shows what the group gives"
    );

    // An unknown location is refused beside its boxes; nothing changes.
    let (_, refused) = post_form(
        &app,
        &admin,
        "/settings/provisioning",
        &path,
        &[("role", &provider), ("location", "Nowhere")],
    )
    .await;
    let control = format!("g-{group_id}-locations");
    assert!(
        refused.contains(&format!(
            "id=\"{control}\" tabindex=\"-1\" aria-invalid=\"true\" aria-describedby=\"{control}-error\""
        )),
        "{refused}"
    );
    assert!(refused.contains("id=\"error-summary\""), "{refused}");
    assert!(
        refused.contains("Nowhere"),
        "the refusal names it: {refused}"
    );
    let (_, locations) = access_of(&app, &tess_id).await;
    assert!(locations.contains(&"alpha Northside".to_string()));
}

async fn only_the_last_hundred_requests_are_kept_and_only_company_admins_see_them(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let (_, made) = post_form(
        &app,
        &admin,
        "/settings/provisioning",
        "/settings/provisioning/token",
        &[("name", "Okta"), ("expires_in_days", "never")],
    )
    .await;
    let token = common::shown(&made, "new-scim-token");
    for i in 0..105 {
        let (status, _) = scim(
            &app,
            &token,
            Method::GET,
            &format!("/Users?count=1&startIndex={}", i + 1),
            Value::Null,
        )
        .await;
        assert_eq!(status, 200);
    }
    let page = app.page(&admin, "/settings/provisioning").await;
    let log = section(&page, "scim-requests");
    assert!(log.contains("The last 100 requests"), "{log}");
    assert!(log.contains("startIndex=105"), "the newest is kept");
    assert!(!log.contains("startIndex=5&"), "the oldest are gone");
    assert!(!log.contains("startIndex=5<"), "the oldest are gone");

    // A clinic admin manages users but not the organization's connections.
    add_user(
        &app.app,
        &app.org,
        "morgan@alpha.example",
        ("Morgan", "Diaz"),
        "Clinic Admin",
        Some(PASSWORD),
    )
    .await;
    let clinic_admin = app.browser();
    app.sign_in(&clinic_admin, "alpha", "morgan@alpha.example", PASSWORD)
        .await;
    let r = clinic_admin
        .get(app.url("/settings/provisioning"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

engine_tests!(
    a_company_admin_connects_a_provider_from_the_provisioning_page,
    only_the_last_hundred_requests_are_kept_and_only_company_admins_see_them,
    an_integrator_maps_groups_and_reads_the_request_log_over_the_api,
);

/// The same mapping and request log through the JSON API: a group mapped by role and location
/// name gives its member both; a name the organization does not have is refused and changes
/// nothing; the log lists the provider's requests, refusals with their outcome.
async fn an_integrator_maps_groups_and_reads_the_request_log_over_the_api(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let provider = app.api_token(&admin, &["scim"]).await;
    let api = app.api_token(&admin, &["users:read", "users:write"]).await;
    let (_, group) = scim(&app, &provider, Method::POST, "/Groups",
        json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Front office" })).await;
    let group_id = group["id"].as_str().unwrap().to_string();
    let (status, ana) = scim(
        &app,
        &provider,
        Method::POST,
        "/Users",
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ana.ruiz@alpha.example",
            "name": { "givenName": "Ana", "familyName": "Ruiz" },
        }),
    )
    .await;
    assert_eq!(status, 201, "{ana}");
    let ana_id = ana["id"].as_str().unwrap().to_string();
    scim(&app, &provider, Method::PATCH, &format!("/Groups/{group_id}"),
        json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "add", "path": "members", "value": [{ "value": ana_id }] }] })).await;
    let (status, _) = scim(
        &app,
        &provider,
        Method::GET,
        "/Users?filter=nonsense",
        Value::Null,
    )
    .await;
    assert_eq!(status, 400);

    let (status, groups) = app
        .api(&api, Method::GET, "/api/v1/provisioning/groups", None)
        .await;
    assert_eq!(status, 200, "{groups}");
    assert_eq!(groups[0]["display_name"], "Front office");
    assert_eq!(groups[0]["members"], 1);
    assert_eq!(groups[0]["roles"], json!([]));

    let path = format!("/api/v1/provisioning/groups/{group_id}/mapping");
    let wrong = json!({ "roles": ["Front Desk"], "locations": ["Atlantis"] });
    let (status, problem) = app.api(&api, Method::PUT, &path, Some(&wrong)).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem.to_string().contains("location_unknown"),
        "{problem}"
    );
    assert_eq!(
        access_of(&app, &ana_id).await.0,
        Vec::<String>::new(),
        "nothing changed"
    );

    let mapping = json!({ "roles": ["Front Desk"], "locations": ["NS"] });
    let (status, mapped) = app.api(&api, Method::PUT, &path, Some(&mapping)).await;
    assert_eq!(status, 200, "{mapped}");
    assert_eq!(mapped["roles"][0]["name"], "Front Desk");
    assert_eq!(mapped["locations"][0]["code"], "NS");
    let (roles, locations) = access_of(&app, &ana_id).await;
    assert_eq!(roles, ["Front Desk"]);
    assert!(
        locations.contains(&"alpha Northside".to_string()),
        "{locations:?}"
    );

    let (status, log) = app
        .api(&api, Method::GET, "/api/v1/provisioning/requests", None)
        .await;
    assert_eq!(status, 200, "{log}");
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(log[0]["status"], 400);
    assert_eq!(log[0]["ok"], false);
    assert!(
        log[0]["outcome"]
            .as_str()
            .unwrap()
            .contains("invalidFilter"),
        "{:?}",
        log[0]
    );
    assert!(log[0]["at_utc"].as_str().unwrap().ends_with('Z'));

    // Reading the log and mapping need a company admin's write scope.
    let reader = app.api_token(&admin, &["users:read"]).await;
    let (status, _) = app
        .api(&reader, Method::GET, "/api/v1/provisioning/requests", None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = app.api(&reader, Method::PUT, &path, Some(&mapping)).await;
    assert_eq!(status, 403);
}
