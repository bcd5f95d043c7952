//! The rule matrix: each of the six rules on each path that changes access — profile edit
//! (console and API), role edit, invitation, bulk update — on SQLite and PostgreSQL. A refusal
//! names its rule and changes nothing; a role grant a member's type forbids is filtered, and the
//! profile shows it.

mod common;

use common::{PASSWORD, TestApp, add_staff, csrf_in, spawn_app};
use reqwest::Method;
use rollcall_app::audit::Meta;
use rollcall_store::engine_tests;
use rollcall_store::roles;
use rollcall_store::testing::TestDb;
use serde_json::{Value, json};
use uuid::Uuid;

struct World {
    app: TestApp,
    admin_token: String,
    admin: reqwest::Client,
    morgan_token: String,
    viewer_token: String,
    clerk: Uuid,
    pta: Uuid,
    pt: Uuid,
    uptown_pt: Uuid,
    ada: Uuid,
    downtown: Uuid,
    northside: Uuid,
    front_desk: Uuid,
    provider: Uuid,
    clinic_admin_role: Uuid,
    billing_manager: Uuid,
}

async fn world(t: TestDb) -> World {
    let app = spawn_app(t).await;
    let (a, o) = (&app.app, &app.org);
    let common::Staff {
        pt,
        pta,
        clerk,
        downtown,
        northside,
        ..
    } = common::staff(&app).await;
    let uptown_pt = add_staff(
        a,
        o,
        "uma@alpha.example",
        ("Uma", "North"),
        "Provider",
        "pt",
        None,
    )
    .await;
    add_staff(
        a,
        o,
        "vic@alpha.example",
        ("Vic", "Viewer"),
        "Read-only",
        "administrator",
        Some(PASSWORD),
    )
    .await;
    let mut conn = a.db().read_conn().await.unwrap();
    let role = |name: &str, all: &[roles::Role]| all.iter().find(|r| r.name == name).unwrap().id;
    let all = roles::list(&mut conn, o.id).await.unwrap();
    let ada = rollcall_store::users::get_by_email_key(&mut conn, o.id, "admin@alpha.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    drop(conn);
    let admin = app.signed_in_admin().await;
    let admin_token = app.api_token(&admin, &["users:read", "users:write"]).await;
    // Uma works at Northside only.
    admin_patch(
        &app,
        &admin_token,
        uptown_pt,
        json!({ "locations": [northside] }),
    )
    .await;
    let morgan = app.browser();
    assert_eq!(
        app.sign_in(&morgan, "alpha", "morgan@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let morgan_token = app.api_token(&morgan, &["users:read", "users:write"]).await;
    // Val managed users and made a token; then Val was made a viewer. The token stays, and
    // acts as a viewer now.
    let val_id = add_staff(
        a,
        o,
        "val@alpha.example",
        ("Val", "Former"),
        "User Manager",
        "administrator",
        Some(PASSWORD),
    )
    .await;
    let val = app.browser();
    assert_eq!(
        app.sign_in(&val, "alpha", "val@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let viewer_token = app.api_token(&val, &["users:read", "users:write"]).await;
    let read_only = role("Read-only", &all);
    admin_patch(&app, &admin_token, val_id, json!({ "roles": [read_only] })).await;
    World {
        clerk,
        pta,
        pt,
        uptown_pt,
        ada,
        downtown,
        northside,
        front_desk: role("Front Desk", &all),
        provider: role("Provider", &all),
        clinic_admin_role: role("Clinic Admin", &all),
        billing_manager: role("Billing Manager", &all),
        admin_token,
        admin,
        morgan_token,
        viewer_token,
        app,
    }
}

/// An edit the arrangement needs; it must succeed.
async fn admin_patch(app: &TestApp, token: &str, user: Uuid, body: Value) {
    let (status, answer) = app
        .api(
            token,
            Method::PATCH,
            &format!("/api/v1/users/{user}"),
            Some(&body),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

impl World {
    async fn patch(&self, token: &str, user: Uuid, body: Value) -> (u16, Value) {
        let path = format!("/api/v1/users/{user}");
        self.app.api(token, Method::PATCH, &path, Some(&body)).await
    }

    async fn profile(&self, user: Uuid) -> Value {
        let path = format!("/api/v1/users/{user}");
        self.app
            .api(&self.admin_token, Method::GET, &path, None)
            .await
            .1
    }

    /// A bulk update; returns the outcome and the rule of each refused change.
    async fn bulk(&self, token: &str, key: &str, body: Value) -> (String, Vec<String>) {
        let r = reqwest::Client::new()
            .post(self.app.url("/api/v1/bulk-updates"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let Some(outcome) = v["outcome"].as_str() else {
            return (v["code"].as_str().unwrap_or("?").to_string(), vec![]);
        };
        let codes = v["refused"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|u| {
                u["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["code"].as_str().unwrap().to_string())
            })
            .collect();
        (outcome.to_string(), codes)
    }

    /// Saves a role in the console as the company admin; returns the status and the page.
    async fn save_role(&self, role: Uuid, name: &str, permissions: &[&str]) -> (u16, String) {
        let page = self.app.page(&self.admin, &format!("/roles/{role}")).await;
        let csrf = csrf_in(&page);
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("name", name),
            ("confirmed", "yes"),
        ];
        form.extend(permissions.iter().map(|p| ("permissions", *p)));
        let r = self
            .admin
            .post(self.app.url(&format!("/roles/{role}")))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let body = match location {
            Some(l) => self.app.page(&self.admin, &l).await,
            None => r.text().await.unwrap(),
        };
        (status, body)
    }
}

fn rule_of(v: &Value) -> &str {
    v["rule"]
        .as_str()
        .unwrap_or_else(|| panic!("no rule in {v}"))
}

/// Rules 1 and 2: refused on a profile and in a bulk update; filtered (and shown) through a role.
async fn forbidden_pairings_on_every_path(t: TestDb) {
    let w = world(t).await;
    for (user, perm, rule) in [
        (w.clerk, "soap.start", "rule_1_no_soap_for_non_clinical"),
        (w.pta, "soap.finish", "rule_2_no_soap_finish_for_supervised"),
    ] {
        // Profile edit through the API.
        let (status, err) = w
            .patch(&w.admin_token, user, json!({ "permissions": [perm] }))
            .await;
        assert_eq!(status, 422, "{err}");
        assert_eq!(rule_of(&err), rule);
        assert!(
            w.profile(user).await["direct"]
                .as_array()
                .unwrap()
                .is_empty(),
            "nothing written"
        );
        // Bulk update.
        let (outcome, codes) = w
            .bulk(
                &w.admin_token,
                &format!("pair-{perm}"),
                json!({ "user_ids": [user], "grant_permissions": [perm] }),
            )
            .await;
        assert_eq!(
            (outcome.as_str(), codes),
            ("failed", vec![rule.to_string()])
        );
    }
    // Role edit: Front Desk (the clerk's role) and Provider (the PTA's) gain SOAP permissions;
    // saved, but not in effect for those members, and their profiles say why.
    let (status, page) = w
        .save_role(
            w.front_desk,
            "Front Desk",
            &[
                "calendar.view",
                "calendar.create",
                "calendar.delete",
                "billing.payments",
                "soap.start",
            ],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    assert!(page.contains("Not in effect for some members"), "{page}");
    let (status, _) = w
        .save_role(
            w.provider,
            "Provider",
            &[
                "calendar.view",
                "calendar.create",
                "clinical.charts",
                "clinical.notes",
                "clinical.medications",
                "soap.start",
                "soap.forward",
                "soap.finish",
            ],
        )
        .await;
    assert_eq!(status, 303);
    for (user, perm, rule) in [
        (w.clerk, "soap.start", "rule_1_no_soap_for_non_clinical"),
        (w.pta, "soap.finish", "rule_2_no_soap_finish_for_supervised"),
    ] {
        let p = w.profile(user).await;
        let effective: Vec<&str> = p["effective"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_str().unwrap())
            .collect();
        assert!(!effective.contains(&perm), "{perm} filtered: {p}");
        let filtered = &p["filtered"][0];
        assert_eq!(
            (filtered["key"].as_str(), filtered["rule"].as_str()),
            (Some(perm), Some(rule))
        );
    }
    // The PT gets them all, with the role as their source.
    let p = w.profile(w.pt).await;
    let finish = p["effective"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "soap.finish")
        .unwrap();
    assert_eq!(finish["sources"], json!(["Provider"]));
    // The profile page in the console shows the filtered grant with its reason.
    let html = w.app.page(&w.admin, &format!("/users/{}", w.pta)).await;
    assert!(
        html.contains("id=\"filtered\"") && html.contains("Rule 2: Avery Stone"),
        "{html}"
    );
}

/// Rule 3: no path removes the last admin; a bulk update never removes admin rights.
async fn admins_are_kept_on_every_path(t: TestDb) {
    let w = world(t).await;
    // The company's only company admin cannot drop admin.company from herself.
    let (status, err) = w
        .patch(
            &w.admin_token,
            w.ada,
            json!({ "permissions": ["users.manage"] }),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["code"], "rule_3_last_company_admin");
    // A bulk update cannot remove admin rights from anyone who holds them.
    let morgan = w.profile_id("morgan").await;
    let (outcome, codes) = w
        .bulk(
            &w.admin_token,
            "admins",
            json!({ "user_ids": [morgan], "revoke_permissions": ["admin.clinic"] }),
        )
        .await;
    assert_eq!(
        (outcome.as_str(), codes),
        ("failed", vec!["rule_3_bulk_keeps_admin".to_string()])
    );
    // Morgan is the only clinic admin of a new clinic: the Clinic Admin role cannot lose
    // admin.clinic, and Morgan cannot lose that clinic or the role.
    let meta = Meta::system("test");
    let operator = rollcall_app::Principal::operator(&w.app.app, w.app.org.id, "test")
        .await
        .unwrap();
    let lake =
        rollcall_app::org::create_location(&w.app.app, &operator, "alpha Lakeside", "LK", &meta)
            .await
            .unwrap()
            .id;
    let (status, v) = w
        .patch(
            &w.admin_token,
            morgan,
            json!({ "locations": [w.downtown, lake] }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, page) = w
        .save_role(
            w.clinic_admin_role,
            "Clinic Admin",
            &[
                "users.manage",
                "users.view",
                "users.invite",
                "users.bulk_add",
            ],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Rule 3: Morgan Diaz is the last active clinic admin of alpha Lakeside"),
        "{page}"
    );
    let (status, err) = w
        .patch(&w.admin_token, morgan, json!({ "locations": [w.downtown] }))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("rule_3_last_clinic_admin"))
    );
    let (status, err) = w
        .patch(&w.admin_token, morgan, json!({ "roles": [] }))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("rule_3_last_clinic_admin"))
    );
    // Deactivation is the same rule.
    let path = format!("/api/v1/users/{morgan}/deactivate");
    let (status, _) = w.app.api(&w.admin_token, Method::POST, &path, None).await;
    assert_eq!(status, 422);
}

/// Rule 4: a clinic admin (Downtown only) cannot escalate or reach other clinics, on any path.
async fn clinic_admin_scope_on_every_path(t: TestDb) {
    let w = world(t).await;
    let tok = &w.morgan_token;
    let cases = [
        (
            w.pt,
            json!({ "permissions": ["admin.company"] }),
            "rule_4_escalation",
        ),
        (
            w.pt,
            json!({ "permissions": ["billing.refunds"] }),
            "rule_4_escalation",
        ),
        (
            w.pt,
            json!({ "locations": [w.downtown, w.northside] }),
            "rule_4_location_out_of_scope",
        ),
        (
            w.uptown_pt,
            json!({ "display_name": "Uma N." }),
            "rule_4_user_out_of_scope",
        ),
        (
            w.pt,
            json!({ "roles": [w.billing_manager, w.provider] }),
            "rule_4_escalation",
        ),
    ];
    for (user, body, code) in cases {
        let (status, err) = w.patch(tok, user, body.clone()).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (422, Some(code)),
            "{body} → {err}"
        );
    }
    let (outcome, codes) = w.bulk(tok, "scope", json!({ "user_ids": [w.pt, w.uptown_pt], "grant_permissions": ["billing.refunds"], "grant_locations": [w.northside] })).await;
    assert_eq!(outcome, "failed");
    assert_eq!(
        codes,
        vec![
            "rule_4_location_out_of_scope",
            "rule_4_escalation",
            "rule_4_user_out_of_scope",
            "rule_4_user_out_of_scope"
        ]
    );
    // Invitations: not to a clinic Morgan does not reach, not with a role carrying more than Morgan holds.
    let app = &w.app;
    let invite = |location: Uuid, role: Uuid| async move {
        let body = json!({ "email": "new@alpha.example", "full_name": "New Person", "location_id": location, "role_id": role });
        app.api(tok, Method::POST, "/api/v1/invitations", Some(&body))
            .await
            .1
    };
    let err = invite(w.northside, w.front_desk).await;
    assert_eq!(err["code"], "rule_4_location_out_of_scope", "{err}");
    let err = invite(w.downtown, w.provider).await;
    assert_eq!(err["code"], "rule_4_escalation", "{err}");
    // Nothing of it was written.
    assert_eq!(w.profile(w.pt).await["direct"], json!([]));
}

/// Rule 5: the default location stays among the user's locations.
async fn default_location_kept_on_every_path(t: TestDb) {
    let w = world(t).await;
    let (status, v) = w
        .patch(
            &w.admin_token,
            w.pt,
            json!({ "default_location": w.downtown }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, err) = w
        .patch(&w.admin_token, w.pt, json!({ "locations": [w.northside] }))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("rule_5_default_location_kept")),
        "{err}"
    );
    let (status, err) = w
        .patch(
            &w.admin_token,
            w.uptown_pt,
            json!({ "default_location": w.downtown }),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("rule_5_default_not_accessible")),
        "{err}"
    );
    // Moving the default and the access together in one edit is fine.
    let (status, v) = w
        .patch(
            &w.admin_token,
            w.pt,
            json!({ "locations": [w.northside], "default_location": w.northside }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (outcome, codes) = w
        .bulk(
            &w.admin_token,
            "default",
            json!({ "user_ids": [w.pt], "revoke_locations": [w.northside] }),
        )
        .await;
    assert_eq!(
        (outcome.as_str(), codes),
        ("failed", vec!["rule_5_default_location_kept".to_string()])
    );
}

/// Rule 6: a viewer reads everything and changes nothing, whatever the path.
async fn viewers_change_nothing(t: TestDb) {
    let w = world(t).await;
    let vic = w.app.browser();
    assert_eq!(
        w.app
            .sign_in(&vic, "alpha", "vic@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let page = w.app.page(&vic, &format!("/users/{}", w.pt)).await;
    assert!(
        page.contains("Pat Chen") && !page.contains("id=\"save-profile\""),
        "read-only profile"
    );
    let csrf = csrf_in(&page);
    let r = vic
        .post(w.app.url(&format!("/users/{}", w.pt)))
        .form(&[
            ("csrf", csrf.as_str()),
            ("first_name", "Patricia"),
            ("last_name", "Chen"),
            ("display_name", "Pat Chen"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Rule 6: you can view users but not change them")
    );
    let roles_page = w.app.page(&vic, &format!("/roles/{}", w.provider)).await;
    assert!(!roles_page.contains("id=\"save-role\""));
    let r = vic
        .post(w.app.url(&format!("/roles/{}", w.provider)))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Provider"),
            ("permissions", "admin.company"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let (status, _) = w
        .patch(&w.viewer_token, w.pt, json!({ "first_name": "Patricia" }))
        .await;
    assert_eq!(status, 422);
    let (code, _) = w
        .bulk(
            &w.viewer_token,
            "viewer",
            json!({ "user_ids": [w.pt], "grant_permissions": ["calendar.view"] }),
        )
        .await;
    assert_eq!(code, "rule_6_viewer_read_only");
    assert_eq!(w.profile(w.pt).await["first_name"], "Pat");
}

/// Profile values are validated with a precise message, and nothing is half-written.
async fn profile_values_are_validated(t: TestDb) {
    let w = world(t).await;
    for (body, code) in [
        (json!({ "npi": "1234567890" }), "npi_invalid_check_digit"),
        (
            json!({ "taxonomies": "225100000X, 12345" }),
            "taxonomy_invalid",
        ),
        (json!({ "scheduling_step": "7" }), "scheduling_step_invalid"),
        (json!({ "capacity": "0" }), "capacity_invalid"),
        (json!({ "mobile": "12" }), "mobile_invalid"),
        (json!({ "first_name": "  " }), "name_missing"),
        (json!({ "user_type": "astronaut" }), "user_type_unknown"),
        (
            json!({ "notifications": ["appointments:fax"] }),
            "notification_invalid",
        ),
    ] {
        let (status, err) = w.patch(&w.admin_token, w.pt, body.clone()).await;
        assert_eq!(status, 422, "{body} → {err}");
        assert_eq!(err["code"].as_str(), Some(code), "{body} → {err}");
    }
    // Several wrong fields are all reported, each with its field, and nothing is written.
    let (status, err) = w
        .patch(
            &w.admin_token,
            w.pt,
            json!({ "mobile": "12", "npi": "1234567890", "capacity": "0", "bio": "Kept?" }),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    let fields: Vec<&str> = err["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["mobile", "npi", "capacity"], "{err}");
    assert_ne!(w.profile(w.pt).await["provider"]["bio"], "Kept?");
    let (status, p) = w
        .patch(&w.admin_token, w.pt, json!({ "npi": "1234567893", "taxonomies": "225100000x 2251S0007X", "capacity": "2", "scheduling_step": "30", "bio": "Sports rehab.", "display_name": "Dr. Pat Chen" }))
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["provider"]["npi"], "1234567893");
    assert_eq!(p["provider"]["taxonomies"][0][0], "225100000X");
    assert_eq!(p["provider"]["scheduling_step"], 30);
    assert_eq!(p["display_name"], "Dr. Pat Chen");
    // Notification preferences: the pairs switched on, out of what the organization offers.
    let (status, p) = w
        .patch(
            &w.admin_token,
            w.pt,
            json!({ "notifications": ["appointments:sms", "messages:email"] }),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let on: Vec<String> = p["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["on"] == true)
        .map(|n| {
            format!(
                "{}:{}",
                n["category"].as_str().unwrap(),
                n["medium"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(on, vec!["appointments:sms", "messages:email"]);
    assert_eq!(
        p["notifications"].as_array().unwrap().len(),
        15,
        "5 categories × 3 media offered"
    );
    // The organization narrows what it offers; choices outside it are refused.
    let settings = w.app.page(&w.admin, "/settings").await;
    let csrf = csrf_in(&settings);
    let r = w
        .admin
        .post(w.app.url("/settings"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("invitation_days", "7"),
            ("idle_timeout_minutes", "15"),
            ("allowed_2fa", "totp"),
            ("notification_category", "messages"),
            ("notification_medium", "email"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let p = w.profile(w.pt).await;
    assert_eq!(p["notifications"].as_array().unwrap().len(), 1, "{p}");
    let (status, err) = w
        .patch(
            &w.admin_token,
            w.pt,
            json!({ "notifications": ["appointments:sms"] }),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("notification_invalid"))
    );
}

impl World {
    async fn profile_id(&self, handle: &str) -> Uuid {
        let path = format!("/api/v1/users?q={handle}");
        let list = self
            .app
            .api(&self.admin_token, Method::GET, &path, None)
            .await
            .1;
        list["users"][0]["id"].as_str().unwrap().parse().unwrap()
    }
}

engine_tests!(
    forbidden_pairings_on_every_path,
    admins_are_kept_on_every_path,
    clinic_admin_scope_on_every_path,
    default_location_kept_on_every_path,
    viewers_change_nothing,
    profile_values_are_validated,
);
