//! The OpenAPI 3.1 document of /api/v1, served by the app itself. It is generated from the
//! routes: each handler's `#[utoipa::path]` (its doc comment, parameters, body and answers) and
//! the Rust types it takes and answers.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Json;
use utoipa::Modify;
use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};

use super::problem::{FieldProblem, Problem};
use super::responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, RateLimited, Unauthenticated,
    UnsupportedMediaType,
};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Rollcall API",
        description = "Staff accounts of a clinic organization: users, invitations, CSV imports, the staff directory, bulk updates and the audit log.\n\nAuthenticate with `Authorization: Bearer rollcall_…`, an API token an admin creates under Settings → API tokens (or through `/tokens`): a service account acts for the organization, a personal token as its person. A token carries scopes: `users:read` to read, `users:write` to change, `tokens:write` to manage tokens; each operation names the scope it needs. Requests are rate limited per token and per client address (`RateLimit-*` headers; 429 with `Retry-After`).\n\nEvery error is problem details (`application/problem+json`) with a stable `code`."
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerToken),
    components(
        schemas(Problem, FieldProblem),
        responses(
            BadRequest, Unauthenticated, Forbidden, NotFound, PayloadTooLarge,
            UnsupportedMediaType, RateLimited, Internal
        )
    ),
    tags(
        (name = "users", description = "The user list, profiles, their edits and bulk updates"),
        (name = "invitations", description = "Inviting people, resending, revoking; deactivating and reactivating accounts"),
        (name = "imports", description = "CSV imports: upload, review and fix rows, commit"),
        (name = "directory", description = "The practice's staff roster"),
        (name = "jobs", description = "Bulk jobs: imports and bulk updates as they run and end"),
        (name = "audit", description = "The organization's audit log"),
        (name = "tokens", description = "API tokens: service accounts and personal tokens"),
        (name = "sign-in apps", description = "Apps that sign staff in through Rollcall (OpenID Connect clients)"),
        (name = "webhooks", description = "Webhook endpoints (Standard Webhooks), their delivery log and redelivery"),
        (name = "provisioning", description = "The identity provider's groups, what they give, and the last SCIM requests"),
        (name = "emergency access", description = "Emergency (break-glass) access: taking it, its review afterwards, and its settings"),
        (name = "access reviews", description = "Access review campaigns: reviewers recertify each person's access by a due date; the evidence for auditors"),
        (name = "reference", description = "Locations, roles, user types and permissions requests may name"),
        (name = "meta", description = "The caller and this document")
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme the operations name: an API token with its scopes.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("rollcall_…")
            .description(Some(
                "An API token (`rollcall_sa_…` for a service account, `rollcall_pat_…` for a personal token). Its scopes, `users:read`, `users:write` and `tokens:write`, are listed in each operation's security requirement.",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document, generated once from the routes the API serves.
pub fn document() -> &'static OpenApi {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = super::documented().into_openapi();
        every_operation_may_be_rate_limited(&mut doc);
        if let Some(components) = doc.components.as_mut() {
            close_flattened(&mut components.schemas, "BulkUpdateRequest");
            components
                .schemas
                .values_mut()
                .for_each(tuples_say_their_length);
        }
        doc
    })
}

/// The methods the document gives a concrete path (`/users/0190…` matches `/users/{id}`), for
/// the `Allow` header of a 405.
pub fn methods_of(path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let matches = |template: &str| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| t.starts_with('{') || t == s)
    };
    let Some(item) = document()
        .paths
        .paths
        .iter()
        .find(|(t, _)| matches(t))
        .map(|(_, i)| i)
    else {
        return Vec::new();
    };
    [
        ("GET", item.get.is_some()),
        ("POST", item.post.is_some()),
        ("PUT", item.put.is_some()),
        ("PATCH", item.patch.is_some()),
        ("DELETE", item.delete.is_some()),
    ]
    .into_iter()
    .filter_map(|(m, on)| on.then_some(m))
    .collect()
}

/// Every request passes the rate limits, so every operation can answer 429.
fn every_operation_may_be_rate_limited(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in operations.into_iter().flatten() {
            op.responses
                .responses
                .entry("429".into())
                .or_insert_with(|| Ref::from_response_name("RateLimited").into());
        }
    }
}

/// A request that flattens a part (so the server can name a field it does not know) is
/// generated as an open `allOf`; the document gives it as the one closed object it is.
fn close_flattened(schemas: &mut BTreeMap<String, RefOr<Schema>>, name: &str) {
    let Some(RefOr::T(Schema::AllOf(all))) = schemas.get(name) else {
        return;
    };
    let mut closed = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(all.description.clone())
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build();
    closed.examples = all.examples.clone();
    for part in &all.items {
        let part = match part {
            RefOr::Ref(r) => r
                .ref_location
                .rsplit('/')
                .next()
                .and_then(|n| schemas.get(n)),
            RefOr::T(_) => Some(part),
        };
        if let Some(RefOr::T(Schema::Object(o))) = part {
            closed.properties.extend(o.properties.clone());
            closed.required.extend(o.required.clone());
        }
    }
    schemas.insert(name.to_string(), RefOr::T(Schema::Object(closed)));
}

/// A Rust tuple is generated as `prefixItems` with `items: false`, which lets a shorter array
/// pass (`[]` is a valid pair) and which client generators refuse. `minItems` = `maxItems` = the
/// tuple's length says exactly what the server takes, and `items` is left unconstrained.
fn tuples_say_their_length(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Array(a) => {
            if matches!(a.items, ArrayItems::False) {
                let len = a.prefix_items.len();
                (a.min_items, a.max_items) = (Some(len), Some(len));
                a.items = ArrayItems::default();
            }
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                tuples_say_their_length(items);
            }
        }
        Schema::Object(o) => {
            o.properties.values_mut().for_each(tuples_say_their_length);
            if let Some(AdditionalProperties::RefOr(extra)) = o.additional_properties.as_deref_mut()
            {
                tuples_say_their_length(extra);
            }
        }
        Schema::OneOf(o) => o.items.iter_mut().for_each(tuples_say_their_length),
        Schema::AllOf(o) => o.items.iter_mut().for_each(tuples_say_their_length),
        Schema::AnyOf(o) => o.items.iter_mut().for_each(tuples_say_their_length),
        _ => {}
    }
}

/// This document: every operation of the API (no token needed).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    operation_id = "get_openapi_document",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn serve() -> Json<&'static OpenApi> {
    Json(document())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tuple_says_its_length() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let pair = &doc["components"]["schemas"]["Commit"]["properties"]["notifications"]["items"];
        assert_eq!(
            pair["prefixItems"].as_array().map(Vec::len),
            Some(2),
            "{pair}"
        );
        assert_eq!(
            (&pair["minItems"], &pair["maxItems"]),
            (&2.into(), &2.into())
        );
        assert_eq!(pair["items"], serde_json::json!({}), "no `items: false`");
    }
}
