//! What the server offers (RFC 7644 §4): the service provider configuration, the resource
//! types and the schemas, with only the attributes Rollcall keeps and their true mutability.

use serde_json::{Value, json};

use super::resources::{CORE_GROUP, CORE_USER, ENTERPRISE, LIST, ROLLCALL_USER};

/// Said wherever a provider looks: a delete is a deactivation.
pub const DELETE_NOTE: &str = "DELETE /Users/{id} deactivates the person (sessions end, API tokens are revoked, the licence seat is freed) and keeps every record; Rollcall never deletes a person. The user stays readable with active=false, and active=true reactivates them.";

pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": format!("{base}/docs"),
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": super::bulk::MAX_OPERATIONS,
            "maxPayloadSize": super::bulk::MAX_PAYLOAD_SIZE,
        },
        "filter": {"supported": true, "maxResults": super::list::MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Rollcall service-account token",
            "description": "Authorization: Bearer rollcall_sa_…, a service account with the scim scope (Settings → API tokens). One token provisions one organization.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

/// The plain-text page `documentationUri` names.
pub fn documentation() -> String {
    format!(
        "Rollcall SCIM 2.0 (RFC 7643/7644)\n\n\
         Users: userName (the access email unless the provider gives another name; compared without regard to case), \
         name.givenName/familyName, displayName, emails (read at creation: the invitation goes to the userName when it is an address, \
         else to the primary or work address), phoneNumbers (the mobile), active, externalId; \
         the enterprise extension's employeeNumber, department and manager; \
         the Rollcall extension ({ROLLCALL_USER}): userType, defaultLocation (id, code or name), npi, leavingDate, and status (read-only).\n\
         A created user is Pending with an invitation, through the same checks (rules, licence seats) as every other path.\n\n\
         {DELETE_NOTE}\n\n\
         Groups: displayName, externalId, members. A company admin maps a group to roles and locations; members who join get them \
         and members who leave lose what no other group of theirs gives, each judged by the rule engine.\n\n\
         Bulk: POST /Bulk takes up to {max_ops} operations (POST, PUT, PATCH, DELETE on /Users and /Groups) and {max_bytes} bytes; \
         a larger request is refused whole (413) and should be split. Each operation is made exactly as its own request would be. \
         A POST's bulkId can be named as bulkId:<id> in a later operation's path or data (group members, manager); \
         operations run in the order sent, one naming a bulkId after its creation. failOnErrors: N stops after the N-th error; \
         operations not run are left out of the response. version is read as If-Match.\n",
        max_ops = super::bulk::MAX_OPERATIONS,
        max_bytes = super::bulk::MAX_PAYLOAD_SIZE,
    )
}

fn attr(name: &str, kind: &str, description: &str) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": false,
        "description": description,
        "required": false,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

fn with(mut a: Value, changes: Value) -> Value {
    if let (Some(o), Value::Object(c)) = (a.as_object_mut(), changes) {
        o.extend(c);
    }
    a
}

fn complex(name: &str, description: &str, multi: bool, subs: Vec<Value>) -> Value {
    with(
        attr(name, "complex", description),
        json!({"multiValued": multi, "subAttributes": subs}),
    )
}

fn reference(name: &str, description: &str, types: &[&str]) -> Value {
    with(
        attr(name, "reference", description),
        json!({"referenceTypes": types, "caseExact": true}),
    )
}

fn user_schema(base: &str) -> Value {
    let read_only = json!({"mutability": "readOnly"});
    json!({
        "id": CORE_USER,
        "name": "User",
        "description": "A person of the organization",
        "attributes": [
            with(attr("userName", "string", "The access email, unless the provider names the person otherwise; unique without regard to case"), json!({"required": true, "uniqueness": "server"})),
            with(complex("name", "The person's name", false, vec![
                attr("givenName", "string", "First name"),
                attr("familyName", "string", "Last name"),
            ]), json!({"required": true})),
            with(attr("displayName", "string", "As it appears on notes and signatures"), json!({"required": true})),
            with(complex("emails", "Addresses; read at creation (the invitation's address), never changed afterwards", true, vec![
                with(attr("value", "string", "An email address"), json!({"required": true})),
                with(attr("type", "string", "work, home or other"), json!({"canonicalValues": ["work", "home", "other"]})),
                attr("primary", "boolean", "The address to use"),
            ]), json!({"required": true, "mutability": "immutable"})),
            complex("phoneNumbers", "The mobile number (one is kept)", true, vec![
                attr("value", "string", "A mobile number, international or US"),
                with(attr("type", "string", "mobile"), json!({"canonicalValues": ["mobile"]})),
            ]),
            with(attr("active", "boolean", "false deactivates the person, true reactivates them"), json!({"required": true})),
            with(complex("groups", "The provider's groups the person is in", true, vec![
                with(attr("value", "string", "The group's id"), read_only.clone()),
                with(reference("$ref", "The group", &["Group"]), read_only.clone()),
                with(attr("display", "string", "The group's name"), read_only.clone()),
                with(attr("type", "string", "direct"), read_only.clone()),
            ]), read_only),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{CORE_USER}")},
    })
}

fn enterprise_schema(base: &str) -> Value {
    json!({
        "id": ENTERPRISE,
        "name": "EnterpriseUser",
        "description": "Enterprise user",
        "attributes": [
            attr("employeeNumber", "string", "The organization's number for the person"),
            attr("department", "string", "The person's department"),
            complex("manager", "The person's manager, a user of the organization", false, vec![
                attr("value", "string", "The manager's id"),
                reference("$ref", "The manager", &["User"]),
                with(attr("displayName", "string", "The manager's name"), json!({"mutability": "readOnly"})),
            ]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{ENTERPRISE}")},
    })
}

/// The organization's user type codes and location codes, offered as the Rollcall extension's
/// canonical values.
pub struct Choices {
    pub user_types: Vec<String>,
    pub locations: Vec<String>,
}

fn rollcall_schema(base: &str, choices: &Choices) -> Value {
    json!({
        "id": ROLLCALL_USER,
        "name": "RollcallUser",
        "description": "What Rollcall keeps about a clinic's staff",
        "attributes": [
            with(attr("userType", "string", "A user type code or label of the organization (e.g. pta)"), json!({"canonicalValues": choices.user_types})),
            with(attr("defaultLocation", "string", "The primary location, by id, code or name; shown as its code"), json!({"canonicalValues": choices.locations, "required": true})),
            attr("npi", "string", "National Provider Identifier: 10 digits with a valid check digit"),
            // A string, not a dateTime: a bare date is accepted too, which xsd:dateTime is not.
            // One example value, as for the attributes above, for generic clients that fill
            // every attribute.
            with(attr("leavingDate", "string", "When the person's access ends by itself: an RFC 3339 instant (shown so), or a date, YYYY-MM-DD, ending as that day ends in the organization's zone; removing it clears it"), json!({"canonicalValues": ["2035-06-30T23:00:00Z"]})),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{ROLLCALL_USER}")},
    })
}

fn group_schema(base: &str) -> Value {
    json!({
        "id": CORE_GROUP,
        "name": "Group",
        "description": "A group of the provider; a company admin maps it to roles and locations",
        "attributes": [
            with(attr("displayName", "string", "The group's name, unique without regard to case"), json!({"required": true, "uniqueness": "server"})),
            complex("members", "The group's users", true, vec![
                with(attr("value", "string", "A user's id"), json!({"mutability": "immutable"})),
                with(reference("$ref", "The user", &["User"]), json!({"mutability": "immutable"})),
                with(attr("type", "string", "User"), json!({"mutability": "immutable", "canonicalValues": ["User"]})),
            ]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{CORE_GROUP}")},
    })
}

pub fn schemas(base: &str, choices: &Choices) -> Vec<Value> {
    let mut all = vec![
        user_schema(base),
        enterprise_schema(base),
        rollcall_schema(base, choices),
        group_schema(base),
    ];
    for s in &mut all {
        s["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"]);
    }
    all
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "People of the organization",
            "schema": CORE_USER,
            "schemaExtensions": [
                {"schema": ENTERPRISE, "required": false},
                {"schema": ROLLCALL_USER, "required": true},
            ],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "The provider's groups",
            "schema": CORE_GROUP,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

/// A list response holding everything (discovery endpoints do not page).
pub fn all(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
