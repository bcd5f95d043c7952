//! Reference data through the API, on SQLite and PostgreSQL: what an integrator looks up to name
//! locations, roles, user types and permissions, and the list filters that take those names.

mod common;

use common::{spawn_app, staff};
use reqwest::Method;
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::Value;

fn values<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap())
        .collect()
}

async fn reference_data_names_what_requests_may_use(t: TestDb) {
    let app = spawn_app(t).await;
    staff(&app).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read"]).await;
    let get = |path: &'static str| app.api(&token, Method::GET, path, None);

    let (status, locations) = get("/api/v1/locations").await;
    assert_eq!(status, 200, "{locations}");
    assert_eq!(values(&locations, "code"), ["DT", "NS"]);
    let (_, roles) = get("/api/v1/roles").await;
    assert!(values(&roles, "name").contains(&"Front Desk"), "{roles}");
    let (_, types) = get("/api/v1/user-types").await;
    assert!(values(&types, "code").contains(&"pta"), "{types}");
    let (_, permissions) = get("/api/v1/permissions").await;
    assert!(values(&permissions, "key").contains(&"soap.finish"));

    // The list takes a location by code and a role by name, the same as by id.
    let (status, by_code) = get("/api/v1/users?location=ns&role=front%20desk").await;
    assert_eq!(status, 200, "{by_code}");
    let ns = locations[1]["id"].as_str().unwrap();
    let front = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Front Desk")
        .unwrap()["id"]
        .as_str()
        .unwrap();
    let (_, by_id) = app
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/users?location={ns}&role={front}"),
            None,
        )
        .await;
    assert_eq!(by_code["users"], by_id["users"]);

    // A mistyped parameter or value is refused, never ignored.
    let (status, problem) = get("/api/v1/users?usertype=pta").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "parameter_unknown");
    assert!(problem["detail"].as_str().unwrap().contains("user_type"));
    let (status, problem) = get("/api/v1/users?limit=0").await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "limit_out_of_range");
    let (status, problem) = get("/api/v1/users?status=archived").await;
    assert_eq!(status, 422, "{problem}");

    // A method an endpoint does not take is named with the ones it does.
    let r = reqwest::Client::new()
        .put(app.url(&format!("/api/v1/users/{ns}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, PATCH");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "method_not_allowed");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("it takes GET, PATCH")
    );
}

engine_tests!(reference_data_names_what_requests_may_use);
