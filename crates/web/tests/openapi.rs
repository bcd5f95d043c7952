//! The OpenAPI document against the server it describes, on SQLite and on PostgreSQL: every
//! documented operation is routed and named once, every error answer is problem details, the
//! documented query parameters are the ones the handlers take, and the examples and real
//! answers fit the documented schemas.

mod common;

use std::collections::BTreeSet;

use common::{TestApp, add_user, spawn_app};
use reqwest::{Method, RequestBuilder};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::{Value, json};

const PROBLEM: &str = "application/problem+json";
const TAGS: [&str; 14] = [
    "users",
    "webhooks",
    "invitations",
    "imports",
    "directory",
    "jobs",
    "audit",
    "tokens",
    "sign-in apps",
    "access reviews",
    "reference",
    "provisioning",
    "meta",
    "emergency access",
];

/// An answer as the contract reads it: status, media type (without parameters) and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    media: String,
    body: Value,
}

impl Answer {
    async fn of(r: reqwest::Response) -> Answer {
        let status = r.status().as_u16();
        let media = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .trim()
            .to_string();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            media,
            body,
        }
    }
}

/// A client that checks every answer against the served document.
struct Api<'a> {
    app: &'a TestApp,
    doc: Value,
    http: reqwest::Client,
}

impl<'a> Api<'a> {
    async fn new(app: &'a TestApp) -> Api<'a> {
        let http = reqwest::Client::new();
        let doc = http
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Api { app, doc, http }
    }

    /// Sends `method path` (`path` fills the document's `template`), then checks that the
    /// document lists the answer's status for the operation, with its media type, and that the
    /// body fits the schema given there.
    async fn call(
        &self,
        method: Method,
        template: &str,
        path: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Answer {
        let url = self.app.url(&format!("/api/v1{path}"));
        let r = build(self.http.request(method.clone(), url));
        let answer = Answer::of(r.send().await.unwrap()).await;
        check(&self.doc, method.as_str(), template, &answer);
        answer
    }

    async fn get(&self, token: &str, template: &str, path: &str) -> Answer {
        self.call(Method::GET, template, path, |r| r.bearer_auth(token))
            .await
    }

    async fn send_json(
        &self,
        token: &str,
        (method, template, path): (Method, &str, &str),
        body: &Value,
    ) -> Answer {
        self.call(method, template, path, |r| {
            r.bearer_auth(token)
                .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
                .json(body)
        })
        .await
    }
}

/// Every operation of the document: path, method and the operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

/// `value`, or what its `$ref` (`#/components/…`) points to.
fn resolve<'d>(doc: &'d Value, value: &'d Value) -> &'d Value {
    match value["$ref"].as_str() {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("{r} is in the document")),
        None => value,
    }
}

/// Whether `instance` fits `schema`, whose `$ref`s point into the document's components.
fn fits(doc: &Value, schema: &Value, instance: &Value) -> Result<(), String> {
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| format!("the schema does not compile: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn check(doc: &Value, method: &str, template: &str, answer: &Answer) {
    let op = &doc["paths"][template][method.to_lowercase()];
    assert!(op.is_object(), "{method} {template} is documented");
    let status = answer.status.to_string();
    let response = resolve(doc, &op["responses"][&status]);
    assert!(
        response.is_object(),
        "{method} {template} documents the status {status} it answered: {}",
        answer.body
    );
    let content = &response["content"];
    if answer.status == 204 {
        assert!(content.is_null(), "{method} {template}: 204 has no body");
        return;
    }
    let media = &content[&answer.media];
    assert!(
        media.is_object(),
        "{method} {template} {status} documents {}: {content}",
        answer.media
    );
    if let Some(schema) = media.get("schema")
        && let Err(e) = fits(doc, schema, &answer.body)
    {
        panic!(
            "{method} {template} {status}: the answer does not fit the document: {e}\n{}",
            answer.body
        );
    }
}

/// The token of a signed-in admin, with the scopes given.
async fn token(app: &TestApp, scopes: &[&str]) -> String {
    let admin = app.signed_in_admin().await;
    app.api_token(&admin, scopes).await
}

/// The id of the organization's first location and of its Front Desk role.
async fn ids(app: &TestApp) -> (String, String) {
    let mut conn = app.app.db().read_conn().await.unwrap();
    let loc = rollcall_store::locations::list(&mut conn, app.org.id)
        .await
        .unwrap()[0]
        .id
        .to_string();
    let role = rollcall_store::roles::list(&mut conn, app.org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "Front Desk")
        .unwrap()
        .id
        .to_string();
    (loc, role)
}

/// A concrete path for a template: ids that exist nowhere, row 1.
fn concrete(template: &str) -> String {
    template
        .replace("{id}", &uuid::Uuid::now_v7().to_string())
        .replace("{seq}", "1")
}

async fn every_documented_operation_is_routed_and_named_once(t: TestDb) {
    let app = spawn_app(t).await;
    let token = token(&app, &["users:read", "users:write"]).await;
    let api = Api::new(&app).await;
    assert_eq!(api.doc["openapi"], "3.1.0");
    assert_eq!(
        api.get(&token, "/me", "/me").await.status,
        200,
        "the token works"
    );
    let fallback = Answer::of(
        api.http
            .get(app.url("/api/v1/no-such-thing"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(fallback.status, 404);

    let mut ids = BTreeSet::new();
    for (path, method, op) in operations(&api.doc) {
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(
            !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{method} {path}: operationId “{id}” is snake_case"
        );
        assert!(ids.insert(id.to_string()), "operationId {id} is unique");
        let tags = op["tags"].as_array().unwrap();
        assert!(
            tags.len() == 1 && TAGS.contains(&tags[0].as_str().unwrap()),
            "{method} {path} has one known tag: {tags:?}"
        );
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
        for scope in op["security"][0]["bearer"].as_array().into_iter().flatten() {
            let scope = scope.as_str().unwrap();
            let description = op["description"].as_str().unwrap_or_default();
            let description = description.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                description.contains(&format!("Scope `{scope}`")),
                "{method} {path} names its scope {scope} in its description"
            );
        }

        let r = api
            .http
            .request(
                method.to_uppercase().parse().unwrap(),
                app.url(&format!("/api/v1{}", concrete(&path))),
            )
            .bearer_auth(&token)
            .header("Idempotency-Key", "probe")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let answer = Answer::of(r).await;
        assert_ne!(answer.status, 405, "{method} {path} is routed");
        assert!(
            answer.body != fallback.body,
            "{method} {path} is routed: {}",
            answer.body
        );
    }
    assert_eq!(ids.len(), 66, "the API's 66 operations are all documented");
}

async fn every_error_answer_is_problem_details_and_every_example_fits(t: TestDb) {
    let app = spawn_app(t).await;
    let api = Api::new(&app).await;
    let doc = &api.doc;
    for (path, method, op) in operations(doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let response = resolve(doc, response);
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let content = response["content"].as_object().unwrap();
            assert_eq!(
                content.keys().collect::<Vec<_>>(),
                [PROBLEM],
                "{method} {path} {status} is problem details"
            );
            assert_eq!(
                resolve(doc, &content[PROBLEM]["schema"]),
                &doc["components"]["schemas"]["Problem"],
                "{method} {path} {status} has the Problem schema"
            );
        }
    }
    let mut examples = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        for example in schema["examples"].as_array().into_iter().flatten() {
            fits(doc, schema, example).unwrap_or_else(|e| panic!("the example of {name}: {e}"));
            examples += 1;
        }
    }
    assert!(examples >= 6, "the main request bodies have examples");
    let page = json!({ "$ref": "#/components/schemas/UserPage" });
    assert!(fits(doc, &page, &json!({ "users": [], "next": null })).is_ok());
    for wrong in [
        json!({ "users": "all" }),
        json!({ "users": [{ "id": "not-an-id" }] }),
        json!({ "next": "x" }),
    ] {
        assert!(fits(doc, &page, &wrong).is_err(), "{wrong} does not fit");
    }
    for name in [
        "InviteOne",
        "BatchRequest",
        "BulkUpdateRequest",
        "Commit",
        "RowEdit",
    ] {
        assert!(
            doc["components"]["schemas"][name]["examples"].is_array(),
            "{name} has an example"
        );
    }
}

async fn documented_query_parameters_are_the_ones_taken(t: TestDb) {
    let app = spawn_app(t).await;
    let token = token(&app, &["users:read"]).await;
    let api = Api::new(&app).await;
    let mut taken = 0;
    for (path, method, op) in operations(&api.doc) {
        let query: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        if query.is_empty() {
            continue;
        }
        assert_eq!(method, "get");
        let base = concrete(&path);
        for name in query.iter().chain(["not_a_parameter"].iter()) {
            let answer = api.get(&token, &path, &format!("{base}?{name}=")).await;
            let unknown = answer.body["code"] == "parameter_unknown";
            assert_eq!(
                unknown,
                *name == "not_a_parameter",
                "GET {path}?{name}= : {}",
                answer.body
            );
            taken += 1;
        }
    }
    assert_eq!(
        taken,
        12 + 1 + 10 + 1 + 9 + 1 + 3 + 1 + 2 + 1 + 2 + 1 + 1 + 1 + 4 + 1 + 2 + 1,
        "users, users export, audit, rows, refused, webhook deliveries, compliance, emergency access, access review items"
    );
}

async fn answers_about_users_fit_the_document(t: TestDb) {
    let app = spawn_app(t).await;
    let reader = token(&app, &["users:read"]).await;
    let writer = token(&app, &["users:read", "users:write"]).await;
    let api = Api::new(&app).await;
    let (loc, role) = ids(&app).await;
    let casey = add_user(
        &app.app,
        &app.org,
        "casey@alpha.example",
        ("Casey", "Ruiz"),
        "Front Desk",
        None,
    )
    .await;
    let casey_path = format!("/users/{casey}");

    let me = api.get(&reader, "/me", "/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["scopes"], json!(["users:read"]));

    let invite = json!({ "email": "kim.lee@alpha.example", "full_name": "Kim Lee", "location": loc, "role": role });
    let invitations = (Method::POST, "/invitations", "/invitations");
    let invited = api.send_json(&writer, invitations, &invite).await;
    assert_eq!(invited.status, 201, "{}", invited.body);
    let kim = invited.body["user_id"].as_str().unwrap().to_string();
    let batch = json!({ "addresses": "jo@alpha.example, Sam <sam@alpha.example> nope", "location": loc, "role": role });
    let batches = (Method::POST, "/invitations/batch", "/invitations/batch");
    let pasted = api.send_json(&writer, batches, &batch).await;
    assert_eq!(pasted.status, 200, "{}", pasted.body);
    assert_eq!(pasted.body["not_invited"].as_array().unwrap().len(), 1);

    let page = api.get(&reader, "/users", "/users?sort=name&limit=5").await;
    assert_eq!(page.status, 200);
    let rows = page.body["users"].as_array().unwrap();
    assert!(
        rows.iter().any(|u| u["invitation"].is_string()),
        "a pending user's row says how the invitation went: {rows:?}"
    );
    assert_eq!(
        api.get(&reader, "/users/{id}", &format!("/users/{kim}"))
            .await
            .status,
        200
    );
    let edit = json!({ "display_name": "Casey R.", "mobile": "" });
    let edited = api
        .send_json(&writer, (Method::PATCH, "/users/{id}", &casey_path), &edit)
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(edited.body["display_name"], "Casey R.");

    let kim_path = |tail: &str| format!("/users/{kim}{tail}");
    let resent = api
        .send_json(
            &writer,
            (
                Method::POST,
                "/users/{id}/invitation/resend",
                &kim_path("/invitation/resend"),
            ),
            &json!({}),
        )
        .await;
    assert_eq!(resent.status, 204);
    let revoked = api
        .send_json(
            &writer,
            (
                Method::DELETE,
                "/users/{id}/invitation",
                &kim_path("/invitation"),
            ),
            &json!({}),
        )
        .await;
    assert_eq!(revoked.status, 204);
    let again = api
        .send_json(
            &writer,
            (
                Method::DELETE,
                "/users/{id}/invitation",
                &kim_path("/invitation"),
            ),
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 409, "no longer pending");
    let deactivated = api
        .send_json(
            &writer,
            (
                Method::POST,
                "/users/{id}/deactivate",
                &format!("{casey_path}/deactivate"),
            ),
            &json!({}),
        )
        .await;
    assert_eq!(deactivated.status, 204);
    let reactivated = api
        .send_json(
            &writer,
            (
                Method::POST,
                "/users/{id}/reactivate",
                &format!("{casey_path}/reactivate"),
            ),
            &json!({}),
        )
        .await;
    assert_eq!(reactivated.status, 200);
    assert_eq!(
        reactivated.body["status"], "pending",
        "never registered: invited again"
    );

    let audit = api
        .get(&reader, "/audit", "/audit?action=user.&limit=3")
        .await;
    assert_eq!(audit.status, 200);
    assert_eq!(audit.body["events"].as_array().unwrap().len(), 3);

    let roster = json!({ "people": [
        { "external_id": "E-1", "first_name": "Ann", "last_name": "Bell", "email": "ann@alpha.example", "groups": ["Front"] },
        { "external_id": "E-2", "first_name": "Ben", "last_name": "Cho", "email": "ben@alpha.example", "active": false }
    ] });
    let loaded = api
        .send_json(&writer, (Method::PUT, "/directory", "/directory"), &roster)
        .await;
    assert_eq!(loaded.status, 200, "{}", loaded.body);
    assert_eq!(loaded.body["people"], 2);
    let overview = api.get(&reader, "/directory", "/directory").await;
    assert_eq!(overview.body["groups"][0]["name"], "Front");
    // Casey leaves upstream: a partial load deactivates her account, and says so.
    let some = json!({ "people": [
        { "external_id": "E-3", "first_name": "Casey", "last_name": "Ruiz", "email": "casey@alpha.example", "active": false }
    ] });
    let updated = api
        .send_json(&writer, (Method::PATCH, "/directory", "/directory"), &some)
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        (&updated.body["full"], &updated.body["added"]),
        (&json!(false), &json!(1))
    );
    assert_eq!(updated.body["deactivated"][0]["user_id"], casey.to_string());

    let template = api
        .get(&reader, "/imports/template.csv", "/imports/template.csv")
        .await;
    assert_eq!(
        (template.status, template.media.as_str()),
        (200, "text/csv")
    );
}

async fn imports_bulk_updates_and_their_jobs_fit_the_document(t: TestDb) {
    let app = spawn_app(t).await;
    let reader = token(&app, &["users:read"]).await;
    let writer = token(&app, &["users:read", "users:write"]).await;
    let api = Api::new(&app).await;
    let (loc, role) = ids(&app).await;
    let casey = add_user(
        &app.app,
        &app.org,
        "casey@alpha.example",
        ("Casey", "Ruiz"),
        "Front Desk",
        None,
    )
    .await;

    let csv = "first_name,last_name,email,default_location\nRey,Cole,rey@alpha.example,NS\nBad,Row,not-an-address,NS\n";
    let uploaded = api
        .call(Method::POST, "/imports", "/imports", |r| {
            r.bearer_auth(&writer)
                .header("content-type", "text/csv")
                .header("X-File-Name", "staff.csv")
                .body(csv)
        })
        .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let id = uploaded.body["import"]["id"].as_str().unwrap().to_string();
    let rows = api
        .get(
            &reader,
            "/imports/{id}/rows",
            &format!("/imports/{id}/rows?filter=errors"),
        )
        .await;
    assert_eq!(rows.status, 200);
    let seq = &rows.body["rows"][0]["seq"];
    let edit = json!({ "cells": { "email": "bad.row@alpha.example" } });
    let row_path = format!("/imports/{id}/rows/{seq}");
    let row = api
        .send_json(
            &writer,
            (Method::PATCH, "/imports/{id}/rows/{seq}", &row_path),
            &edit,
        )
        .await;
    assert_eq!((row.status, &row.body["in_error"]), (200, &json!(false)));

    let commit_path = format!("/imports/{id}/commit");
    let commit = (Method::POST, "/imports/{id}/commit", commit_path.as_str());
    let without_choices =
        json!({ "access": { "mode": "roles", "role_ids": [role] }, "location_id": loc });
    let refused = api
        .send_json(&writer, commit.clone(), &without_choices)
        .await;
    assert_eq!(
        (refused.status, &refused.body["code"]),
        (422, &json!("body_invalid")),
        "the document requires `notifications`, and so does the server"
    );
    let mut choices = without_choices;
    choices["notifications"] = json!([]);
    let committed = api.send_json(&writer, commit, &choices).await;
    assert_eq!(committed.status, 202, "{}", committed.body);
    let job = api.get(&reader, "/jobs/{id}", &format!("/jobs/{id}")).await;
    assert_eq!(
        (job.status, &job.body["job"]["kind"]),
        (200, &json!("csv_import"))
    );

    let bulk = json!({ "user_ids": [casey], "grant_permissions": ["calendar.create"], "revoke_permissions": ["soap.finish"] });
    let started = api
        .send_json(
            &writer,
            (Method::POST, "/bulk-updates", "/bulk-updates"),
            &bulk,
        )
        .await;
    assert!([200, 202].contains(&started.status), "{}", started.body);
    let id = started.body["job"]["id"].as_str().unwrap();
    let job = api.get(&reader, "/jobs/{id}", &format!("/jobs/{id}")).await;
    assert_eq!(
        (job.status, &job.body["job"]["kind"]),
        (200, &json!("bulk_update"))
    );
    assert!(job.body["refused_url"].is_string());
    let refused = api
        .get(
            &reader,
            "/jobs/{id}/refused",
            &format!("/jobs/{id}/refused?limit=10"),
        )
        .await;
    assert_eq!(refused.status, 200);
}

async fn error_answers_fit_the_document(t: TestDb) {
    let app = spawn_app(t).await;
    let reader = token(&app, &["users:read"]).await;
    let writer = token(&app, &["users:read", "users:write"]).await;
    let api = Api::new(&app).await;
    let (loc, role) = ids(&app).await;
    let code = |a: &Answer| {
        (
            a.status,
            a.body["code"].as_str().unwrap_or_default().to_string(),
        )
    };

    let anonymous = api.call(Method::GET, "/me", "/me", |r| r).await;
    assert_eq!(code(&anonymous), (401, "unauthenticated".into()));
    let invite = json!({ "email": "kim@alpha.example", "full_name": "Kim Lee", "location": loc, "role": role });
    let invitations = (Method::POST, "/invitations", "/invitations");
    let forbidden = api.send_json(&reader, invitations.clone(), &invite).await;
    assert_eq!(code(&forbidden), (403, "forbidden".into()));
    assert_eq!(
        api.send_json(&writer, invitations.clone(), &invite)
            .await
            .status,
        201
    );
    let twice = api.send_json(&writer, invitations.clone(), &invite).await;
    assert_eq!(
        code(&twice),
        (409, "conflict".into()),
        "the address has an account"
    );
    let missing = api
        .get(&reader, "/users/{id}", &concrete("/users/{id}"))
        .await;
    assert_eq!(code(&missing), (404, "not_found".into()));
    let not_an_id = api.get(&reader, "/users/{id}", "/users/not-an-id").await;
    assert_eq!(code(&not_an_id), (400, "path_invalid".into()));
    let unknown = api.get(&reader, "/users", "/users?limt=5").await;
    assert_eq!(code(&unknown), (422, "parameter_unknown".into()));

    let broken = api
        .call(Method::POST, "/invitations", "/invitations", |r| {
            r.bearer_auth(&writer)
                .header("content-type", "application/json")
                .body("{")
        })
        .await;
    assert_eq!(code(&broken), (400, "json_invalid".into()));
    let plain = api
        .call(Method::POST, "/invitations", "/invitations", |r| {
            r.bearer_auth(&writer).body(invite.to_string())
        })
        .await;
    assert_eq!(code(&plain), (415, "unsupported_media_type".into()));
    let huge = json!({ "display_name": "x".repeat(rollcall_web::BODY_LIMIT + 1) });
    let too_large = api
        .send_json(
            &writer,
            (Method::PATCH, "/users/{id}", &concrete("/users/{id}")),
            &huge,
        )
        .await;
    assert_eq!(code(&too_large), (413, "body_too_large".into()));

    let bulk =
        json!({ "user_ids": [uuid::Uuid::now_v7()], "grant_permissions": ["calendar.view"] });
    let no_key = api
        .call(Method::POST, "/bulk-updates", "/bulk-updates", |r| {
            r.bearer_auth(&writer).json(&bulk)
        })
        .await;
    assert_eq!(code(&no_key), (422, "idempotency_key_missing".into()));
    let batch = |addresses: &str| json!({ "addresses": addresses, "location": loc, "role": role });
    let writer_ref = writer.as_str();
    let with_key = |body: Value| {
        move |r: RequestBuilder| {
            r.bearer_auth(writer_ref)
                .header("Idempotency-Key", "the-same-key")
                .json(&body)
        }
    };
    let first = api
        .call(
            Method::POST,
            "/invitations/batch",
            "/invitations/batch",
            with_key(batch("a@alpha.example")),
        )
        .await;
    assert_eq!(first.status, 200);
    let reused = api
        .call(
            Method::POST,
            "/invitations/batch",
            "/invitations/batch",
            with_key(batch("b@alpha.example")),
        )
        .await;
    assert_eq!(code(&reused), (409, "conflict".into()));
    let not_an_invitation = api
        .send_json(&writer, invitations, &batch("c@alpha.example"))
        .await;
    assert_eq!(code(&not_an_invitation), (422, "body_invalid".into()));
}

engine_tests!(
    every_documented_operation_is_routed_and_named_once,
    every_error_answer_is_problem_details_and_every_example_fits,
    documented_query_parameters_are_the_ones_taken,
    answers_about_users_fit_the_document,
    imports_bulk_updates_and_their_jobs_fit_the_document,
    error_answers_fit_the_document,
);
