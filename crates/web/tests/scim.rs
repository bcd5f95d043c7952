//! SCIM 2.0 on SQLite and PostgreSQL: the request shapes Entra ID and Okta document replayed
//! as they send them, deactivation through SCIM (sessions end, the seat is freed), groups
//! giving roles, filters and paging, and tenant isolation.

mod common;

use common::{PASSWORD, TestApp, add_staff, add_user, org_with_admin, spawn_app};
use reqwest::Method;
use rollcall_app::audit::Meta;
use rollcall_app::identity::api_tokens::{self, NewToken};
use rollcall_app::{App, Principal};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::{Value, json};
use uuid::Uuid;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ROLLCALL: &str = "urn:ietf:params:scim:schemas:extension:rollcall:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// A service account of the organization with these scopes.
async fn token(app: &App, org_id: Uuid, scopes: &str) -> String {
    let operator = Principal::operator(app, org_id, "test").await.unwrap();
    let req = NewToken {
        name: "Entra provisioning".into(),
        scopes: scopes.into(),
        owner: "organization".into(),
        expires_in_days: None,
    };
    api_tokens::create(app, &operator, &req, &Meta::system("test"))
        .await
        .unwrap()
        .secret
}

/// The person's status as Rollcall keeps it (pending, active, inactive, …).
async fn status_of(app: &TestApp, id: &str) -> String {
    let operator = Principal::operator(&app.app, app.org.id, "test")
        .await
        .unwrap();
    rollcall_app::access::profile::get(&app.app, &operator, id.parse().unwrap())
        .await
        .unwrap()
        .status
        .as_str()
        .to_string()
}

struct Answer {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

async fn scim(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .request(method, app.url(&format!("/scim/v2{path}")))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        body,
        headers,
    }
}

fn filter(f: &str) -> String {
    format!("/Users?filter={}", urlencode(f))
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_string()
}

/// A user as Entra ID's provisioning service creates one.
fn entra_user(email: &str, external_id: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "externalId": external_id,
        "userName": email,
        "active": true,
        "addresses": [{"primary": true, "type": "work", "streetAddress": "1 Main St"}],
        "displayName": "Kim Lee",
        "emails": [{"primary": true, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Kim Lee", "familyName": "Lee", "givenName": "Kim"},
        "title": "Front desk lead",
        ENTERPRISE: {"employeeNumber": "E-104", "department": "Front desk"}
    })
}

async fn entra_golden_requests(t: TestDb) {
    let app = spawn_app(t).await;
    let entra = token(&app.app, app.org.id, "scim").await;

    // "Test connection": a random GUID as userName finds nobody, and that is a 200.
    let probe = format!("userName eq \"{}\"", Uuid::now_v7());
    let r = scim(&app, &entra, Method::GET, &filter(&probe), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/scim+json")
    );

    let r = scim(
        &app,
        &entra,
        Method::POST,
        "/Users",
        Some(entra_user("Kim.Lee@Clinic.example", "e-1")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["userName"], "Kim.Lee@Clinic.example");
    assert_eq!(status_of(&app, &id).await, "pending");
    assert_eq!(r.body[ROLLCALL]["defaultLocation"], "DT");
    assert_eq!(r.body[ENTERPRISE]["department"], "Front desk");
    assert!(
        r.headers["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{id}"))
    );
    assert!(r.headers.contains_key("etag"));

    // userName is compared without regard to case, quoted as Entra quotes it.
    let r = scim(
        &app,
        &entra,
        Method::GET,
        &filter("userName eq \"kim.lee@clinic.EXAMPLE\""),
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());
    let r = scim(
        &app,
        &entra,
        Method::GET,
        &filter("externalId eq \"e-1\""),
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 1);

    // The same person again, in another case: 409 uniqueness, and nothing more is created.
    let r = scim(
        &app,
        &entra,
        Method::POST,
        "/Users",
        Some(entra_user("KIM.LEE@clinic.example", "e-2")),
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.body["scimType"], "uniqueness");
    assert_eq!(
        r.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );

    // Entra's updates: capitalised ops, dotted and URN keys, a work address by filter.
    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "value": {"name.givenName": "Kimberly", (format!("{ENTERPRISE}:department")): "Billing"}},
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "Kim.Lee@Clinic.example"},
        {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "E-200"},
        {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 312 555 0142"},
    ]});
    let r = scim(
        &app,
        &entra,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"]["givenName"], "Kimberly");
    assert_eq!(r.body[ENTERPRISE]["department"], "Billing");
    assert_eq!(r.body[ENTERPRISE]["employeeNumber"], "E-200");
    assert_eq!(r.body["phoneNumbers"][0]["value"], "+13125550142");

    // A string boolean deactivates.
    let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let r = scim(
        &app,
        &entra,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(off),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["active"], false);
    assert_eq!(status_of(&app, &id).await, "inactive");

    // Every change is audited as the token.
    let reader = token(&app.app, app.org.id, "users:read").await;
    let (status, audit) = app
        .api(
            &reader,
            Method::GET,
            &format!("/api/v1/audit?target={id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let events = audit["events"].as_array().unwrap();
    assert!(events.len() >= 4, "{audit}");
    for e in events {
        assert!(
            e["actor"].as_str().unwrap().contains("Entra provisioning"),
            "{e}"
        );
    }
}

async fn okta_golden_requests(t: TestDb) {
    let app = spawn_app(t).await;
    let okta = token(&app.app, app.org.id, "scim").await;
    let r = scim(
        &app,
        &okta,
        Method::GET,
        &format!(
            "{}&startIndex=1&count=100",
            filter("userName eq \"sam.ortiz@clinic.example\"")
        ),
        None,
    )
    .await;
    assert_eq!((r.status, r.body["totalResults"].clone()), (200, json!(0)));
    let create = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "sam.ortiz@clinic.example",
        "name": {"givenName": "Sam", "familyName": "Ortiz"},
        "emails": [{"primary": true, "value": "sam.ortiz@clinic.example", "type": "work"}],
        "displayName": "Sam Ortiz",
        "locale": "en-US",
        "externalId": "00u1abcd",
        "groups": [],
        "password": "never kept",
        "active": true
    });
    let r = scim(&app, &okta, Method::POST, "/Users", Some(create.clone())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let version = r.headers["etag"].to_str().unwrap().to_string();

    // Okta updates with PUT, the whole resource.
    let mut put = r.body.clone();
    put["name"]["familyName"] = json!("Ortiz-Reyes");
    put[ROLLCALL]["userType"] = json!("clerical");
    let r = scim(
        &app,
        &okta,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(put.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"]["familyName"], "Ortiz-Reyes");
    assert_eq!(r.body[ROLLCALL]["userType"], "clerical");

    // A PUT keeps what it omits (Okta maps no user type, NPI or mobile here).
    let partial = json!({"userName": "sam.ortiz@clinic.example", "name": {"givenName": "Sam", "familyName": "Ortiz-Reyes"}});
    let r = scim(
        &app,
        &okta,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(partial),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[ROLLCALL]["userType"], "clerical");

    // A PUT on the version read before that change is refused, and changes nothing.
    let stale = reqwest::Client::new()
        .put(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&okta)
        .header("content-type", "application/json")
        .header("if-match", &version)
        .body(
            json!({"userName": "sam.ortiz@clinic.example", "name": {"givenName": "Samuel"}})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let r = scim(&app, &okta, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!(r.body["name"]["givenName"], "Sam");

    // Okta's deactivation: a path-less replace.
    let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]});
    let r = scim(
        &app,
        &okta,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(off),
    )
    .await;
    assert_eq!(
        (r.status, r.body["active"].clone()),
        (200, json!(false)),
        "{}",
        r.body
    );
    let on = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": true}}]});
    let r = scim(
        &app,
        &okta,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(on),
    )
    .await;
    assert_eq!(r.body["active"], true);
    assert_eq!(
        status_of(&app, &id).await,
        "pending",
        "never registered: invited again"
    );

    // DELETE deactivates; the person stays, inactive.
    let r = scim(&app, &okta, Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(r.status, 204);
    let r = scim(&app, &okta, Method::GET, &format!("/Users/{id}"), None).await;
    assert_eq!((r.status, r.body["active"].clone()), (200, json!(false)));
}

async fn deactivation_ends_sessions_and_frees_the_seat(t: TestDb) {
    let app = spawn_app(t).await;
    let scim_token = token(&app.app, app.org.id, "scim").await;
    let dana = add_user(
        &app.app,
        &app.org,
        "dana@alpha.example",
        ("Dana", "Lee"),
        "Front Desk",
        Some(PASSWORD),
    )
    .await;
    let browser = app.browser();
    assert_eq!(
        app.sign_in(&browser, &app.org.slug, "dana@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let home = browser.get(app.url("/home")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    // Admin and Dana use the two seats there are.
    let mut conn = app.app.db().write_conn().await.unwrap();
    rollcall_store::orgs::set_seats(&mut conn, app.org.id, "portal", 2)
        .await
        .unwrap();
    drop(conn);
    let r = scim(
        &app,
        &scim_token,
        Method::POST,
        "/Users",
        Some(entra_user("new@alpha.example", "n-1")),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("seat"),
        "{}",
        r.body
    );

    let r = scim(
        &app,
        &scim_token,
        Method::DELETE,
        &format!("/Users/{dana}"),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let home = browser.get(app.url("/home")).send().await.unwrap();
    assert_eq!(home.status(), 303, "the session ended");
    let r = scim(
        &app,
        &scim_token,
        Method::POST,
        "/Users",
        Some(entra_user("new@alpha.example", "n-1")),
    )
    .await;
    assert_eq!(r.status, 201, "the seat was freed: {}", r.body);
}

async fn rule_refusals_name_the_rule(t: TestDb) {
    let app = spawn_app(t).await;
    let scim_token = token(&app.app, app.org.id, "scim").await;
    let r = scim(
        &app,
        &scim_token,
        Method::GET,
        &filter(&format!("userName eq \"{}\"", app.admin_email)),
        None,
    )
    .await;
    let admin = r.body["Resources"][0]["id"].as_str().unwrap().to_string();
    let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let r = scim(
        &app,
        &scim_token,
        Method::PATCH,
        &format!("/Users/{admin}"),
        Some(off),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("rule 3"),
        "{}",
        r.body
    );
    let r = scim(
        &app,
        &scim_token,
        Method::GET,
        &format!("/Users/{admin}"),
        None,
    )
    .await;
    assert_eq!(r.body["active"], true);

    // Bad values change nothing and say what is wrong.
    let r = scim(
        &app,
        &scim_token,
        Method::POST,
        "/Users",
        Some(json!({"userName": "not-an-address"})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (400, json!("invalidValue")),
        "{}",
        r.body
    );
    let mut bad = entra_user("pat@alpha.example", "p-1");
    bad[ROLLCALL] = json!({"npi": "1234567890"});
    let r = scim(&app, &scim_token, Method::POST, "/Users", Some(bad)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["detail"].as_str().unwrap().contains("NPI"),
        "{}",
        r.body
    );
    let r = scim(
        &app,
        &scim_token,
        Method::GET,
        &filter("userName eq \"pat@alpha.example\""),
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 0);
    let r = scim(&app, &scim_token, Method::GET, &filter("userName eq"), None).await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (400, json!("invalidFilter"))
    );
    let r = scim(&app, &scim_token, Method::PATCH, &format!("/Users/{admin}"), Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}))).await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (400, json!("mutability"))
    );
    let remove = json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "name"}]});
    let r = scim(
        &app,
        &scim_token,
        Method::PATCH,
        &format!("/Users/{admin}"),
        Some(remove),
    )
    .await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (400, json!("mutability")),
        "{}",
        r.body
    );
}

async fn groups_give_roles_and_members_change_in_one_patch(t: TestDb) {
    let app = spawn_app(t).await;
    let scim_token = token(&app.app, app.org.id, "scim").await;
    let mut ids = Vec::new();
    for (i, who) in ["ann", "bob", "cy"].iter().enumerate() {
        let r = scim(
            &app,
            &scim_token,
            Method::POST,
            "/Users",
            Some(entra_user(
                &format!("{who}@alpha.example"),
                &format!("g-{i}"),
            )),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let r = scim(
        &app,
        &scim_token,
        Method::POST,
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Front desk staff",
            "externalId": "grp-1",
            "members": [{"value": ids[0]}]
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let group: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let r = scim(
        &app,
        &scim_token,
        Method::POST,
        "/Groups",
        Some(json!({"displayName": "FRONT DESK STAFF"})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (409, json!("uniqueness"))
    );

    // A company admin maps the group to a role; its member gets it.
    let operator = Principal::operator(&app.app, app.org.id, "test")
        .await
        .unwrap();
    let mapping = rollcall_app::provisioning::groups::Mapping {
        roles: vec!["Front Desk".into()],
        locations: vec!["NS".into()],
    };
    rollcall_app::provisioning::groups::set_mapping(
        &app.app,
        &operator,
        group,
        &mapping,
        &Meta::system("test"),
    )
    .await
    .unwrap();
    let has_role = |id: String| {
        let app = &app.app;
        let operator = operator.clone();
        async move {
            let p = rollcall_app::access::profile::get(app, &operator, id.parse().unwrap())
                .await
                .unwrap();
            let role = p.roles.iter().any(|r| r.member && r.name == "Front Desk");
            let north = p
                .locations
                .iter()
                .any(|l| l.granted && l.name.ends_with("Northside"));
            role && north
        }
    };
    assert!(has_role(ids[0].clone()).await);

    // Entra's membership update: two added in one op, one removed by value filter.
    let patch = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": ids[1]}, {"value": ids[2]}]},
        {"op": "Remove", "path": format!("members[value eq \"{}\"]", ids[0])},
    ]});
    let r = scim(
        &app,
        &scim_token,
        Method::PATCH,
        &format!("/Groups/{group}"),
        Some(patch),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let members: Vec<&str> = r.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members.len(), 2);
    assert!(members.contains(&ids[1].as_str()) && members.contains(&ids[2].as_str()));
    assert!(
        !has_role(ids[0].clone()).await,
        "the member who left lost the role"
    );
    assert!(has_role(ids[1].clone()).await && has_role(ids[2].clone()).await);
    let r = scim(
        &app,
        &scim_token,
        Method::GET,
        &format!("/Users/{}", ids[1]),
        None,
    )
    .await;
    assert_eq!(r.body["groups"][0]["display"], "Front desk staff");

    // Okta removes members by listing them as the value.
    let patch = json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": "members", "value": [{"value": ids[1]}]}]});
    let r = scim(
        &app,
        &scim_token,
        Method::PATCH,
        &format!("/Groups/{group}"),
        Some(patch),
    )
    .await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1, "{}", r.body);
    let r = scim(
        &app,
        &scim_token,
        Method::DELETE,
        &format!("/Groups/{group}"),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(!has_role(ids[2].clone()).await);
    let r = scim(
        &app,
        &scim_token,
        Method::GET,
        &format!("/Groups/{group}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
}

async fn filters_paging_sorting_and_attributes(t: TestDb) {
    let app = spawn_app(t).await;
    let scim_token = token(&app.app, app.org.id, "scim").await;
    for (who, dept) in [
        ("zoe", "Billing"),
        ("amy", "Front desk"),
        ("max", "Billing"),
    ] {
        let mut u = entra_user(&format!("{who}@alpha.example"), who);
        u[ENTERPRISE]["department"] = json!(dept);
        assert_eq!(
            scim(&app, &scim_token, Method::POST, "/Users", Some(u))
                .await
                .status,
            201
        );
    }
    let count = |f: &'static str| {
        let app = &app;
        let token = scim_token.clone();
        async move {
            let r = scim(app, &token, Method::GET, &filter(f), None).await;
            assert_eq!(r.status, 200, "{f}: {}", r.body);
            r.body["totalResults"].as_u64().unwrap()
        }
    };
    // The admin made at setup counts among the users.
    assert_eq!(
        count("userName sw \"ZOE\" or userName ew \"my@alpha.example\"").await,
        2
    );
    assert_eq!(
        count(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"billing\""
        )
        .await,
        2
    );
    assert_eq!(count("emails[type eq \"work\" and value co \"@alpha\"] and not (userName eq \"max@alpha.example\")").await, 3);
    assert_eq!(count("meta.lastModified gt \"2000-01-01T00:00:00Z\" and meta.created lt \"2999-01-01T00:00:00Z\"").await, 4);
    assert_eq!(count("externalId pr").await, 3);
    assert_eq!(count("active ne true").await, 0);

    let r = scim(
        &app,
        &scim_token,
        Method::GET,
        "/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2&attributes=userName",
        None,
    )
    .await;
    assert_eq!(r.body["totalResults"], 4);
    assert_eq!(r.body["startIndex"], 2);
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["max@alpha.example", "amy@alpha.example"]);
    assert!(r.body["Resources"][0].get("name").is_none());

    let search = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "name.givenName eq \"kim\"",
        "excludedAttributes": ["emails", "name"],
        "startIndex": 1, "count": 10
    });
    let r = scim(
        &app,
        &scim_token,
        Method::POST,
        "/Users/.search",
        Some(search),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["totalResults"], 3);
    assert!(
        r.body["Resources"][0].get("emails").is_none()
            && r.body["Resources"][0].get("userName").is_some()
    );

    let r = scim(
        &app,
        &scim_token,
        Method::GET,
        "/ServiceProviderConfig",
        None,
    )
    .await;
    assert_eq!(r.body["patch"]["supported"], true);
    assert!(
        r.body["documentationUri"]
            .as_str()
            .unwrap()
            .ends_with("/scim/v2/docs")
    );
    let docs = reqwest::get(app.url("/scim/v2/docs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(docs.contains("deactivates"));
    let r = scim(&app, &scim_token, Method::GET, "/Schemas", None).await;
    assert_eq!(r.body["totalResults"], 4);
    let r = scim(&app, &scim_token, Method::GET, "/ResourceTypes/User", None).await;
    assert_eq!(r.body["endpoint"], "/Users");
}

async fn tokens_reach_one_organization_and_need_the_scim_scope(t: TestDb) {
    let app = spawn_app(t).await;
    let a = token(&app.app, app.org.id, "scim").await;
    let (beta, _) = org_with_admin(&app.app, "beta").await;
    let b = token(&app.app, beta.id, "scim").await;
    let r = scim(
        &app,
        &a,
        Method::POST,
        "/Users",
        Some(entra_user("kim@alpha.example", "k")),
    )
    .await;
    let kim = r.body["id"].as_str().unwrap().to_string();
    let r = scim(
        &app,
        &a,
        Method::POST,
        "/Groups",
        Some(json!({"displayName": "Alpha staff", "members": [{"value": kim}]})),
    )
    .await;
    let group = r.body["id"].as_str().unwrap().to_string();

    // B sees and changes nothing of A.
    let r = scim(&app, &b, Method::GET, "/Users", None).await;
    let names: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin@beta.example"]);
    assert_eq!(
        scim(
            &app,
            &b,
            Method::GET,
            &filter("userName eq \"kim@alpha.example\""),
            None
        )
        .await
        .body["totalResults"],
        0
    );
    assert_eq!(
        scim(&app, &b, Method::GET, &format!("/Users/{kim}"), None)
            .await
            .status,
        404
    );
    let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]});
    assert_eq!(
        scim(&app, &b, Method::PATCH, &format!("/Users/{kim}"), Some(off))
            .await
            .status,
        404
    );
    assert_eq!(
        scim(&app, &b, Method::DELETE, &format!("/Users/{kim}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        scim(&app, &b, Method::GET, &format!("/Groups/{group}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        scim(&app, &b, Method::DELETE, &format!("/Groups/{group}"), None)
            .await
            .status,
        404
    );
    let r = scim(
        &app,
        &b,
        Method::POST,
        "/Groups",
        Some(json!({"displayName": "Beta", "members": [{"value": kim}]})),
    )
    .await;
    assert_eq!(r.status, 400, "A's user is no member for B: {}", r.body);
    let r = scim(&app, &a, Method::GET, &format!("/Users/{kim}"), None).await;
    assert_eq!(r.body["active"], true);

    // Without the scim scope, or without a token, nothing.
    let api = token(&app.app, app.org.id, "users:read users:write").await;
    let r = scim(&app, &api, Method::GET, "/Users", None).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    let r = reqwest::get(app.url("/scim/v2/Users")).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = reqwest::Client::new()
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&a)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // The console's token form offers the scope.
    let admin = app.signed_in_admin().await;
    let page = app.page(&admin, "/settings/api-tokens").await;
    assert!(
        page.contains("value=\"scim\""),
        "the console grants the scim scope"
    );
    let made = app
        .console_token(
            &admin,
            &[
                ("name", "Okta"),
                ("owner", "organization"),
                ("scope", "scim"),
            ],
        )
        .await;
    assert_eq!(
        scim(&app, &made, Method::GET, "/ServiceProviderConfig", None)
            .await
            .status,
        200
    );
}

engine_tests!(
    entra_golden_requests,
    okta_golden_requests,
    deactivation_ends_sessions_and_frees_the_seat,
    rule_refusals_name_the_rule,
    groups_give_roles_and_members_change_in_one_patch,
    filters_paging_sorting_and_attributes,
    tokens_reach_one_organization_and_need_the_scim_scope,
    a_leaving_date_from_upstream_ends_access_at_that_instant,
);

/// An HR-fed provider sends a leaving date: a day (access ends as it ends in the clinic's
/// zone, America/Chicago) or an instant; a PATCH moves or removes it; one that does not read
/// is refused with how to write it; and when it comes, the person is deactivated.
async fn a_leaving_date_from_upstream_ends_access_at_that_instant(t: TestDb) {
    let app = spawn_app(t).await;
    let hr = token(&app.app, app.org.id, "scim").await;
    let mut body = entra_user("lee.moss@clinic.example", "e-9");
    body["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        ENTERPRISE,
        ROLLCALL
    ]);
    body[ROLLCALL] = json!({"defaultLocation": "DT", "leavingDate": "2030-01-31"});
    let r = scim(&app, &hr, Method::POST, "/Users", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body[ROLLCALL]["leavingDate"], "2030-02-01T06:00:00Z");
    let id = r.body["id"].as_str().unwrap().to_string();

    let patch = |value: Value| json!({"schemas": [PATCH_OP], "Operations": [value]});
    let path = format!("/Users/{id}");
    let moved = patch(
        json!({"op": "Replace", "path": format!("{ROLLCALL}:leavingDate"), "value": "2029-12-20T17:30:00-06:00"}),
    );
    let r = scim(&app, &hr, Method::PATCH, &path, Some(moved)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body[ROLLCALL]["leavingDate"], "2029-12-20T23:30:00Z");

    let wrong = patch(
        json!({"op": "replace", "path": format!("{ROLLCALL}:leavingDate"), "value": "end of term"}),
    );
    let r = scim(&app, &hr, Method::PATCH, &path, Some(wrong)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["scimType"], "invalidValue");
    assert!(
        r.body["detail"].as_str().unwrap().contains("YYYY-MM-DD"),
        "{}",
        r.body
    );

    let removed = patch(json!({"op": "remove", "path": format!("{ROLLCALL}:leavingDate")}));
    let r = scim(&app, &hr, Method::PATCH, &path, Some(removed)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body[ROLLCALL].get("leavingDate").is_none(), "{}", r.body);

    // A leaving instant already past: the next round deactivates them, as SCIM then shows.
    let past = rollcall_app::clock::rfc3339(app.app.clock.now() - 60_000_000);
    let gone = patch(json!({"op": "add", "value": {format!("{ROLLCALL}:leavingDate"): past}}));
    let r = scim(&app, &hr, Method::PATCH, &path, Some(gone)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let round = rollcall_app::access::leaving::deactivate_leavers(&app.app)
        .await
        .unwrap();
    assert_eq!(round.deactivated, 1);
    let r = scim(&app, &hr, Method::GET, &path, None).await;
    assert_eq!(r.body["active"], false, "{}", r.body);
    assert_eq!(status_of(&app, &id).await, "inactive");
}

/// A bulk request with these operations (and `failOnErrors` when given).
fn bulk_request(operations: Value, fail_on_errors: Option<u64>) -> Value {
    let mut body = json!({"schemas": [BULK_REQUEST], "Operations": operations});
    if let Some(n) = fail_on_errors {
        body["failOnErrors"] = json!(n);
    }
    body
}

/// The response's operation with this bulkId.
fn bulk_result<'a>(response: &'a Value, bulk_id: &str) -> &'a Value {
    response["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["bulkId"] == bulk_id)
        .unwrap_or_else(|| panic!("no operation {bulk_id} in {response}"))
}

/// The id at the end of a resource's location.
fn id_in(location: &Value) -> String {
    location
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

async fn count_of(app: &TestApp, token: &str, path: &str) -> u64 {
    let r = scim(app, token, Method::GET, path, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["totalResults"].as_u64().unwrap()
}

async fn bulk_creates_people_and_a_group_naming_them_by_bulk_id(t: TestDb) {
    let app = spawn_app(t).await;
    let entra = token(&app.app, app.org.id, "scim").await;
    let r = scim(&app, &entra, Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(
        r.body["bulk"],
        json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1048576})
    );

    let mut circle_x = entra_user("xavi@alpha.example", "c-x");
    circle_x[ENTERPRISE]["manager"] = json!({"value": "bulkId:yann"});
    let mut circle_y = entra_user("yann@alpha.example", "c-y");
    circle_y[ENTERPRISE]["manager"] = json!({"value": "bulkId:xavi"});
    let mut alice_data = entra_user("alice@alpha.example", "b-1");
    alice_data[ROLLCALL] = json!({"npi": "1234567893", "userType": "pt"});
    let request = bulk_request(
        json!([
            // Sent first, the group waits for the people it names.
            {"method": "POST", "path": "/Groups", "bulkId": "desk", "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Front desk",
                "members": [{"value": "bulkId:alice"}, {"value": "bulkId:bob"}]
            }},
            {"method": "POST", "path": "/Users", "bulkId": "alice", "data": alice_data},
            {"method": "POST", "path": "/Users", "bulkId": "bob", "data": entra_user("bob@alpha.example", "b-2")},
            {"method": "PATCH", "path": "/Users/bulkId:alice", "data": {"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "displayName", "value": "Alice Park"}
            ]}},
            {"method": "POST", "path": "/Groups", "bulkId": "ghosts", "data": {
                "displayName": "Ghosts", "members": [{"value": "bulkId:nobody"}]
            }},
            {"method": "POST", "path": "/Users", "bulkId": "xavi", "data": circle_x},
            {"method": "POST", "path": "/Users", "bulkId": "yann", "data": circle_y},
        ]),
        None,
    );
    let r = scim(&app, &entra, Method::POST, "/Bulk", Some(request)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/scim+json")
    );
    assert_eq!(r.body["schemas"], json!([BULK_RESPONSE]));
    assert_eq!(r.body["Operations"].as_array().unwrap().len(), 7);

    let alice = bulk_result(&r.body, "alice");
    let bob = bulk_result(&r.body, "bob");
    for person in [alice, bob] {
        assert_eq!(person["method"], "POST");
        assert_eq!(person["status"], "201", "{person}");
        assert!(person["version"].as_str().unwrap().starts_with("W/\""));
    }
    let (alice_id, bob_id) = (id_in(&alice["location"]), id_in(&bob["location"]));
    assert!(
        alice["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/Users/{alice_id}"))
    );

    // The group holds the two people the request created, by the ids they were given.
    let desk = bulk_result(&r.body, "desk");
    assert_eq!(desk["status"], "201", "{desk}");
    let group = scim(
        &app,
        &entra,
        Method::GET,
        &format!("/Groups/{}", id_in(&desk["location"])),
        None,
    )
    .await;
    assert_eq!(group.body["displayName"], "Front desk");
    let mut members: Vec<&str> = group.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort();
    let mut expected = vec![alice_id.as_str(), bob_id.as_str()];
    expected.sort();
    assert_eq!(members, expected);

    // The PATCH reached the person created under bulkId alice.
    let patched = r.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["method"] == "PATCH")
        .unwrap();
    assert_eq!(patched["status"], "200", "{patched}");
    assert_eq!(patched["location"], alice["location"]);
    let u = scim(
        &app,
        &entra,
        Method::GET,
        &format!("/Users/{alice_id}"),
        None,
    )
    .await;
    assert_eq!(u.body["displayName"], "Alice Park");
    assert_eq!(u.body["groups"][0]["display"], "Front desk");
    assert_eq!(u.body[ROLLCALL]["npi"], "1234567893");
    assert_eq!(status_of(&app, &alice_id).await, "pending");
    let u = scim(&app, &entra, Method::GET, &format!("/Users/{bob_id}"), None).await;
    assert!(u.body[ROLLCALL].get("npi").is_none(), "{}", u.body);
    let npi = filter(&format!("{ROLLCALL}:npi eq \"1234567893\""));
    assert_eq!(count_of(&app, &entra, &npi).await, 1);

    // A reference to no creation, and two creations that name each other, are refused and
    // create nothing.
    let ghosts = bulk_result(&r.body, "ghosts");
    assert_eq!(ghosts["status"], "400");
    assert_eq!(ghosts["response"]["scimType"], "invalidValue");
    assert!(
        ghosts["response"]["detail"]
            .as_str()
            .unwrap()
            .contains("bulkId:nobody"),
        "{ghosts}"
    );
    for who in ["xavi", "yann"] {
        let refused = bulk_result(&r.body, who);
        assert_eq!(refused["status"], "400", "{refused}");
        assert_eq!(refused["response"]["scimType"], "invalidValue");
        assert!(
            refused["response"]["detail"]
                .as_str()
                .unwrap()
                .contains("circle"),
            "{refused}"
        );
        let f = filter(&format!("userName eq \"{who}@alpha.example\""));
        assert_eq!(count_of(&app, &entra, &f).await, 0);
    }
    assert_eq!(count_of(&app, &entra, "/Groups").await, 1);

    // Every change is audited as the token, as if sent one by one.
    let reader = token(&app.app, app.org.id, "users:read").await;
    for target in [&alice_id, &bob_id, &id_in(&desk["location"])] {
        let (status, audit) = app
            .api(
                &reader,
                Method::GET,
                &format!("/api/v1/audit?target={target}"),
                None,
            )
            .await;
        assert_eq!(status, 200);
        let events = audit["events"].as_array().unwrap();
        assert!(!events.is_empty(), "{audit}");
        for e in events {
            assert!(
                e["actor"].as_str().unwrap().contains("Entra provisioning"),
                "{e}"
            );
        }
    }
}

async fn bulk_stops_after_fail_on_errors_and_names_refusing_rules(t: TestDb) {
    let app = spawn_app(t).await;
    let entra = token(&app.app, app.org.id, "scim").await;

    // The second operation takes a userName already given (in another case): 409, and with
    // failOnErrors 1 nothing after it runs.
    let request = bulk_request(
        json!([
            {"method": "POST", "path": "/Users", "bulkId": "kim", "data": entra_user("kim@alpha.example", "k-1")},
            {"method": "POST", "path": "/Users", "bulkId": "kim-again", "data": entra_user("KIM@alpha.example", "k-2")},
            {"method": "POST", "path": "/Users", "bulkId": "lou", "data": entra_user("lou@alpha.example", "l-1")},
            {"method": "POST", "path": "/Groups", "bulkId": "team", "data": {"displayName": "Team", "members": [{"value": "bulkId:lou"}]}},
        ]),
        Some(1),
    );
    let r = scim(&app, &entra, Method::POST, "/Bulk", Some(request)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2, "operations not run are left out: {}", r.body);
    assert_eq!(bulk_result(&r.body, "kim")["status"], "201");
    let dup = bulk_result(&r.body, "kim-again");
    assert_eq!(dup["status"], "409");
    assert_eq!(dup["response"]["scimType"], "uniqueness");
    assert_eq!(
        dup["response"]["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(
        count_of(&app, &entra, &filter("userName eq \"lou@alpha.example\"")).await,
        0
    );
    assert_eq!(count_of(&app, &entra, "/Groups").await, 0);

    // Without failOnErrors the request goes on past a refusal. Deactivating the only company
    // admin is refused by rule 3, and the admin stays active.
    let r = scim(
        &app,
        &entra,
        Method::GET,
        &filter(&format!("userName eq \"{}\"", app.admin_email)),
        None,
    )
    .await;
    let admin = r.body["Resources"][0]["id"].as_str().unwrap().to_string();
    // A physical therapist granted soap.finish directly cannot become an assistant (rule 2).
    let pat = add_staff(
        &app.app,
        &app.org,
        "pat@alpha.example",
        ("Pat", "Chen"),
        "Front Desk",
        "pt",
        None,
    )
    .await;
    let operator = Principal::operator(&app.app, app.org.id, "test")
        .await
        .unwrap();
    let grant = rollcall_app::access::profile::ProfileEdit {
        permissions: Some([rollcall_app::domain::Permission::SoapFinish].into()),
        ..Default::default()
    };
    rollcall_app::access::profile::update(
        &app.app,
        &operator,
        pat,
        &grant,
        None,
        rollcall_app::domain::Path::Console,
        &Meta::system("test"),
    )
    .await
    .unwrap();
    let request = bulk_request(
        json!([
            {"method": "PATCH", "path": format!("/Users/{pat}"), "bulkId": "assistant", "data": {"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": format!("{ROLLCALL}:userType"), "value": "pta"}
            ]}},
            {"method": "PATCH", "path": format!("/Users/{admin}"), "bulkId": "off", "data": {"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": "active", "value": false}
            ]}},
            {"method": "POST", "path": "/Users", "bulkId": "lou", "data": entra_user("lou@alpha.example", "l-1")},
            {"method": "PUT", "path": format!("/Users/{admin}"), "bulkId": "stale", "version": "W/\"not-the-version\"", "data": {"userName": app.admin_email, "name": {"givenName": "Changed"}}},
            {"method": "DELETE", "path": "/Roles/1", "bulkId": "nowhere"},
        ]),
        None,
    );
    let r = scim(&app, &entra, Method::POST, "/Bulk", Some(request)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let off = bulk_result(&r.body, "off");
    assert_eq!(off["status"], "400", "{off}");
    assert!(
        off["response"]["detail"]
            .as_str()
            .unwrap()
            .contains("rule 3"),
        "{off}"
    );
    assert!(
        off["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/Users/{admin}"))
    );
    let assistant = bulk_result(&r.body, "assistant");
    assert_eq!(assistant["status"], "400", "{assistant}");
    let detail = assistant["response"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("rule 2")
            && detail.contains("Pat Chen")
            && detail.contains("Finish SOAP notes"),
        "{detail}"
    );
    assert_eq!(bulk_result(&r.body, "lou")["status"], "201");
    assert_eq!(bulk_result(&r.body, "stale")["status"], "412");
    let nowhere = bulk_result(&r.body, "nowhere");
    assert_eq!(
        (
            nowhere["status"].clone(),
            nowhere["response"]["scimType"].clone()
        ),
        (json!("400"), json!("invalidPath"))
    );
    let r = scim(&app, &entra, Method::GET, &format!("/Users/{pat}"), None).await;
    assert_eq!(r.body[ROLLCALL]["userType"], "pt");
    let r = scim(&app, &entra, Method::GET, &format!("/Users/{admin}"), None).await;
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["name"]["givenName"], "Ada");

    // The Provisioning page's request log says the bulk request had refusals.
    let admin_browser = app.signed_in_admin().await;
    let page = app.page(&admin_browser, "/settings/provisioning").await;
    assert!(page.contains("/Bulk"), "the bulk request is listed");
    assert!(page.contains("4 of 5 bulk operations failed"), "{page}");
}

async fn bulk_over_the_limits_is_refused_whole(t: TestDb) {
    let app = spawn_app(t).await;
    let entra = token(&app.app, app.org.id, "scim").await;
    let before = count_of(&app, &entra, "/Users").await;

    // More operations than maxOperations.
    let many: Vec<Value> = (0..1001)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                   "data": {"userName": format!("u{i}@alpha.example")}})
        })
        .collect();
    let r = scim(
        &app,
        &entra,
        Method::POST,
        "/Bulk",
        Some(bulk_request(Value::Array(many), None)),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(
        r.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("1001") && detail.contains("1000") && detail.contains("Split"),
        "{detail}"
    );

    // A body larger than maxPayloadSize (1 MiB), though under the server's body limit.
    let big = bulk_request(
        json!([{"method": "POST", "path": "/Users", "bulkId": "big", "data": {
            "userName": "big@alpha.example", "title": "x".repeat(1_100_000)
        }}]),
        None,
    );
    let r = scim(&app, &entra, Method::POST, "/Bulk", Some(big)).await;
    assert_eq!(r.status, 413, "{}", r.body);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("1048576") && detail.contains("Split"),
        "{detail}"
    );

    assert_eq!(count_of(&app, &entra, "/Users").await, before);

    // Not a bulk body at all.
    let r = scim(
        &app,
        &entra,
        Method::POST,
        "/Bulk",
        Some(json!({"schemas": [BULK_REQUEST]})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["scimType"].clone()),
        (400, json!("invalidSyntax"))
    );
}

/// A person created through `/Bulk` in the tests of batched creations.
fn bulk_person(user_name: &str, external_id: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ROLLCALL],
        "userName": user_name,
        "externalId": external_id,
        "name": {"givenName": "Sam", "familyName": external_id},
        "active": true,
        ROLLCALL: {"defaultLocation": "DT"},
    })
}

/// Rows of a table matching a condition, counted straight from the database.
async fn rows(app: &TestApp, table: &str, condition: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(&format!("SELECT COUNT(*) FROM {table} WHERE {condition}"))
        .fetch_one(app.app.db().reader())
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

async fn bulk_creations_are_made_together_each_with_its_own_outcome(t: TestDb) {
    let app = spawn_app(t).await;
    let entra = token(&app.app, app.org.id, "scim").await;
    let r = scim(
        &app,
        &entra,
        Method::POST,
        "/Users",
        Some(bulk_person("taken@alpha.example", "taken")),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // 45 creations: the 11th takes an existing userName (in another case), the 21st the
    // userName of the 8th, the 31st names no location of the organization.
    let operations: Vec<Value> = (0..45)
        .map(|i| {
            let mut person = bulk_person(&format!("bulk{i}@alpha.example"), &format!("x-{i}"));
            match i {
                10 => person["userName"] = json!("TAKEN@alpha.example"),
                20 => person["userName"] = json!("bulk7@alpha.example"),
                30 => person[ROLLCALL]["defaultLocation"] = json!("NOWHERE"),
                _ => {}
            }
            json!({"method": "POST", "path": "/Users", "bulkId": format!("p{i}"), "data": person})
        })
        .collect();
    let r = scim(
        &app,
        &entra,
        Method::POST,
        "/Bulk",
        Some(bulk_request(Value::Array(operations), None)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.body["Operations"].as_array().unwrap();
    assert_eq!(results.len(), 45);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["bulkId"], format!("p{i}"), "in the order sent");
        assert_eq!(result["method"], "POST");
    }
    for i in [10, 20] {
        let dup = &results[i];
        assert_eq!(dup["status"], "409", "{dup}");
        assert_eq!(dup["response"]["scimType"], "uniqueness", "{dup}");
        assert!(dup.get("location").is_none(), "{dup}");
    }
    let nowhere = &results[30];
    assert_eq!(nowhere["status"], "400", "{nowhere}");
    assert_eq!(nowhere["response"]["scimType"], "invalidValue");
    assert!(
        nowhere["response"]["detail"]
            .as_str()
            .unwrap()
            .contains("NOWHERE"),
        "{nowhere}"
    );

    // Every other one is a Pending person with an invitation queued and audited as the token.
    let created: Vec<&Value> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| ![10, 20, 30].contains(i))
        .map(|(_, r)| r)
        .collect();
    assert_eq!(created.len(), 42);
    let reader = token(&app.app, app.org.id, "users:read").await;
    for (n, result) in created.iter().enumerate() {
        assert_eq!(result["status"], "201", "{result}");
        let id = id_in(&result["location"]);
        assert_eq!(status_of(&app, &id).await, "pending");
        // The version given is the one the person is read back with.
        let u = scim(&app, &entra, Method::GET, &format!("/Users/{id}"), None).await;
        assert_eq!(u.body["meta"]["version"], result["version"], "{}", u.body);
        assert_eq!(u.body[ROLLCALL]["defaultLocation"], "DT");
        let invitations = rows(
            &app,
            "outbox",
            &format!(
                "kind = 'invitation' AND recipient = '{}'",
                u.body["userName"].as_str().unwrap()
            ),
        )
        .await;
        assert_eq!(invitations, 1, "{}", u.body);
        if n % 10 == 0 {
            let (status, audit) = app
                .api(
                    &reader,
                    Method::GET,
                    &format!("/api/v1/audit?target={id}"),
                    None,
                )
                .await;
            assert_eq!(status, 200);
            let events = audit["events"].as_array().unwrap();
            let actions: Vec<&str> = events
                .iter()
                .map(|e| e["action"].as_str().unwrap())
                .collect();
            assert!(
                actions.contains(&"user.invited") && actions.contains(&"user.provisioned"),
                "{audit}"
            );
            for e in events {
                assert!(
                    e["actor"].as_str().unwrap().contains("Entra provisioning"),
                    "{e}"
                );
            }
        }
    }
    let audited = rows(
        &app,
        "audit_events",
        &format!("org_id = '{}' AND action = 'user.provisioned'", app.org.id),
    )
    .await;
    assert_eq!(
        audited, 43,
        "one event each, the single creation's included"
    );
    let f = filter("userName eq \"bulk7@alpha.example\"");
    assert_eq!(count_of(&app, &entra, &f).await, 1);
    let f = filter("userName eq \"bulk30@alpha.example\"");
    assert_eq!(count_of(&app, &entra, &f).await, 0);

    // With failOnErrors 1 the request stops at the first refusal: what comes after is neither
    // made nor reported.
    let operations: Vec<Value> = (0..10)
        .map(|i| {
            let name = if i == 3 {
                "bulk0@alpha.example".to_string()
            } else {
                format!("late{i}@alpha.example")
            };
            json!({"method": "POST", "path": "/Users", "bulkId": format!("l{i}"), "data": bulk_person(&name, &format!("l-{i}"))})
        })
        .collect();
    let r = scim(
        &app,
        &entra,
        Method::POST,
        "/Bulk",
        Some(bulk_request(Value::Array(operations), Some(1))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.body["Operations"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{}", r.body);
    for made in &results[..3] {
        assert_eq!(made["status"], "201", "{made}");
    }
    assert_eq!(results[3]["status"], "409");
    for i in 3..10 {
        let f = filter(&format!("userName eq \"late{i}@alpha.example\""));
        assert_eq!(count_of(&app, &entra, &f).await, 0, "late{i} was not made");
    }
    let late = rows(&app, "outbox", "recipient LIKE 'late%'").await;
    assert_eq!(late, 3);

    // The organization has 50 seats and 47 are taken: of five more, the first three are made
    // and the last two refused, each in its own entry.
    let operations: Vec<Value> = (0..5)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("s{i}"), "data": bulk_person(&format!("seat{i}@alpha.example"), &format!("s-{i}"))}))
        .collect();
    let r = scim(
        &app,
        &entra,
        Method::POST,
        "/Bulk",
        Some(bulk_request(Value::Array(operations), None)),
    )
    .await;
    let statuses: Vec<&str> = r.body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201", "201", "201", "403", "403"], "{}", r.body);
}

/// A provider sending several creations at a time (Entra ID does) gets each one's own answer:
/// those sent together are written together, and a userName two of them share is made once.
async fn creations_sent_at_once_each_get_their_own_answer(t: TestDb) {
    let app = spawn_app(t).await;
    let entra = token(&app.app, app.org.id, "scim").await;
    let mut people: Vec<Value> = (0..12)
        .map(|i| bulk_person(&format!("once{i}@alpha.example"), &format!("once-{i}")))
        .collect();
    people.push(bulk_person("ONCE3@alpha.example", "once-dup"));
    let sent = people
        .iter()
        .map(|p| scim(&app, &entra, Method::POST, "/Users", Some(p.clone())));
    let answers = futures::future::join_all(sent).await;
    let mut made = std::collections::BTreeSet::new();
    let mut refused = 0;
    for (person, r) in people.iter().zip(&answers) {
        match r.status {
            201 => {
                assert_eq!(
                    r.body["userName"].as_str().unwrap().to_lowercase(),
                    person["userName"].as_str().unwrap().to_lowercase()
                );
                assert!(made.insert(r.body["id"].as_str().unwrap().to_string()));
            }
            409 => {
                assert_eq!(r.body["scimType"], "uniqueness", "{}", r.body);
                refused += 1;
            }
            other => panic!("{other}: {}", r.body),
        }
    }
    assert_eq!((made.len(), refused), (12, 1), "once3 is made once");
    assert_eq!(
        rows(&app, "scim_users", "external_id LIKE 'once-%'").await,
        12,
        "each made one keeps the provider's record"
    );
    assert_eq!(
        rows(&app, "audit_events", "action = 'user.provisioned'").await,
        12
    );
    assert_eq!(
        rows(&app, "scim_requests", "method = 'POST' AND path = '/Users'").await,
        13,
        "every request is kept for the Provisioning page"
    );
}

engine_tests!(
    creations_sent_at_once_each_get_their_own_answer,
    bulk_creates_people_and_a_group_naming_them_by_bulk_id,
    bulk_stops_after_fail_on_errors_and_names_refusing_rules,
    bulk_over_the_limits_is_refused_whole,
    bulk_creations_are_made_together_each_with_its_own_outcome,
);
