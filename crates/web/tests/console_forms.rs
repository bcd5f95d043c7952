//! Console forms refused as a whole, on SQLite and PostgreSQL: what was typed stays, every
//! refused field is marked beside itself and listed in a summary that links to it.

mod common;

use common::{add_user, spawn_app};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;

/// The attributes a refused control carries, for its id.
fn marked(id: &str) -> String {
    format!("id=\"{id}\" aria-invalid=\"true\" aria-describedby=\"{id}-error\"")
}

/// A profile save with a bad mobile and a bad NPI: nothing is saved, both fields are marked
/// and listed, and every other change typed with them is still in the form.
async fn a_refused_profile_save_keeps_what_was_typed(t: TestDb) {
    let app = spawn_app(t).await;
    let kim = add_user(
        &app.app,
        &app.org,
        "kim@alpha.example",
        ("Kim", "Lee"),
        "Front Desk",
        None,
    )
    .await;
    let admin = app.signed_in_admin().await;
    let page = app.page(&admin, &format!("/users/{kim}")).await;
    let csrf = common::csrf_in(&page);
    let r = admin
        .post(app.url(&format!("/users/{kim}")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("first_name", "Kimberly"),
            ("last_name", "Lee"),
            ("display_name", "Kimberly Lee"),
            ("mobile", "hello"),
            ("npi", "123"),
            ("bio", "Sees children on Tuesdays."),
            ("capacity", "3"),
            ("scheduling_step", "30"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains(&marked("f-mobile")), "the mobile is marked");
    assert!(html.contains(&marked("f-npi")), "the NPI is marked");
    assert!(
        html.contains("This was not saved: 2 things to fix"),
        "both are listed"
    );
    assert!(
        html.contains("href=\"#f-npi\""),
        "the summary links to the NPI"
    );
    for kept in [
        "value=\"Kimberly\"",
        "value=\"hello\"",
        "value=\"123\"",
        "Sees children on Tuesdays.</textarea>",
        "value=\"3\"",
        "value=\"30\" selected",
    ] {
        assert!(html.contains(kept), "the form still holds {kept}");
    }
    let stored = app.page(&admin, &format!("/users/{kim}")).await;
    assert!(
        stored.contains("value=\"Kim\"") && !stored.contains("Tuesdays"),
        "nothing was saved"
    );
}

/// Inviting one person with a bad address, a name with a control character and no location or
/// role chosen: all four are marked at once and what was typed is kept.
async fn a_refused_invitation_marks_every_field_and_keeps_the_typing(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let page = app.page(&admin, "/users/invite").await;
    assert!(
        page.contains("<option value=\"\">Choose a role…</option>"),
        "no role is chosen for the manager"
    );
    let csrf = common::csrf_in(&page);
    let r = admin
        .post(app.url("/users/invite/one"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "dana.clinic.example"),
            ("full_name", "Dana\u{7}Lee"),
            ("location", ""),
            ("role", ""),
            ("user_type", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    for field in ["email", "full_name", "location", "role"] {
        assert!(
            html.contains(&marked(&format!("one-f-{field}"))),
            "{field} is marked"
        );
    }
    assert!(html.contains("This was not saved: 4 things to fix"));
    assert!(
        html.contains("value=\"dana.clinic.example\""),
        "the address is kept"
    );
    assert!(html.contains("Choose the role the invited people will have."));
}

/// A role edit reaches every member at once: it is asked about first, saying what it gives and
/// to how many people, and nothing changes until the answer.
async fn a_role_edit_asks_first_with_its_reach(t: TestDb) {
    let app = spawn_app(t).await;
    add_user(
        &app.app,
        &app.org,
        "desk@alpha.example",
        ("Des", "K"),
        "Front Desk",
        None,
    )
    .await;
    let admin = app.signed_in_admin().await;
    let roles = app.page(&admin, "/roles").await;
    let id = roles
        .split("href=\"/roles/")
        .skip(1)
        .find(|rest| {
            rest.split("</a>")
                .next()
                .unwrap_or("")
                .contains("Front Desk")
        })
        .and_then(|rest| rest.split('"').next())
        .expect("the roles page links Front Desk")
        .to_string();
    let page = app.page(&admin, &format!("/roles/{id}")).await;
    let csrf = common::csrf_in(&page);
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("name", "Front Desk"),
        ("permissions", "users.view"),
    ];
    let r = admin
        .post(app.url(&format!("/roles/{id}")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let asked = r.text().await.unwrap();
    assert!(asked.contains("Change what Front Desk can do?"), "{asked}");
    assert!(
        asked.contains("This reaches the 1 member of Front Desk at once"),
        "{asked}"
    );
    assert!(
        asked.contains("name=\"permissions\" value=\"users.view\""),
        "the form is carried on"
    );
    let unchanged = app.page(&admin, &format!("/roles/{id}")).await;
    assert_eq!(
        unchanged,
        page.replace(&csrf, &common::csrf_in(&unchanged)),
        "nothing changed yet"
    );
    form.push(("confirmed", "yes"));
    let r = admin
        .post(app.url(&format!("/roles/{id}")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "confirmed, it is saved");
}

/// The settings page holds two forms: each refused one keeps its typing and marks its own
/// fields, every problem at once.
async fn refused_settings_and_locations_keep_what_was_typed(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let csrf = app.csrf_of(&admin, "/settings").await;
    let r = admin
        .post(app.url("/settings"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("require_2fa", "on"),
            ("invitation_days", "90"),
            ("idle_timeout_minutes", "2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("3 things to fix"), "{html}");
    for id in [
        "set-f-invitation_days",
        "set-f-idle_timeout_minutes",
        "set-f-allowed_2fa",
    ] {
        assert!(html.contains(&marked(id)), "{id} is marked");
        assert!(html.contains(&format!("href=\"#{id}\"")), "{id} is linked");
    }
    assert!(html.contains("value=\"90\""), "the typed number stays");
    let stored = app.page(&admin, "/settings").await;
    assert!(!stored.contains("value=\"90\""), "nothing was saved");

    let r = admin
        .post(app.url("/settings/locations"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Harbor Clinic"),
            ("code", " "),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains(&marked("loc-f-code")), "{html}");
    assert!(
        html.contains("value=\"Harbor Clinic\""),
        "the typed name stays"
    );
    assert!(!html.contains(&marked("loc-f-name")));
}

/// A token form without a name or a scope marks both and keeps the lifetime chosen.
async fn a_refused_token_marks_its_fields(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let csrf = app.csrf_of(&admin, "/settings/api-tokens").await;
    let html = admin
        .post(app.url("/settings/api-tokens"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", " "),
            ("owner", "person"),
            ("expires_in_days", "30"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&marked("f-name")), "{html}");
    assert!(html.contains(&marked("f-scopes")), "{html}");
    assert!(
        html.contains("<option value=\"30\" selected>"),
        "the lifetime chosen stays"
    );
    assert!(
        html.contains("value=\"person\" checked"),
        "the owner chosen stays"
    );
}

engine_tests!(
    a_refused_token_marks_its_fields,
    refused_settings_and_locations_keep_what_was_typed,
    a_role_edit_asks_first_with_its_reach,
    a_refused_profile_save_keeps_what_was_typed,
    a_refused_invitation_marks_every_field_and_keeps_the_typing,
);
