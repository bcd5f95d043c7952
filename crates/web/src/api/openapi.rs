//! The OpenAPI 3.1 document of /api/v1, served by the app itself.

use axum::Json;
use serde_json::{Value, json};

pub async fn document() -> Json<Value> {
    Json(spec())
}

pub fn spec() -> Value {
    let error = json!({ "$ref": "#/components/schemas/Error" });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Rollcall API", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Staff accounts of a clinic organization. Authenticate with `Authorization: Bearer rc_…` (an API token created under Settings → API tokens)." },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "bearer": [] }],
        "paths": {
            "/me": { "get": {
                "summary": "The caller's identity, permissions and token scopes",
                "responses": { "200": { "description": "The caller" }, "401": { "description": "Missing or invalid token", "content": { "application/json": { "schema": error } } } }
            }},
            "/users": { "get": {
                "summary": "One page of the user list (scope users:read)",
                "parameters": [
                    { "name": "q", "in": "query", "schema": { "type": "string" }, "description": "Substring of name, email or username, case-insensitive" },
                    { "name": "status", "in": "query", "schema": { "enum": ["pending", "expired", "active", "inactive", "blocked", "disabled"] } },
                    { "name": "user_type", "in": "query", "schema": { "type": "string" }, "description": "User type code, e.g. pta" },
                    { "name": "location", "in": "query", "schema": { "type": "string", "format": "uuid" } },
                    { "name": "role", "in": "query", "schema": { "type": "string", "format": "uuid" } },
                    { "name": "sort", "in": "query", "schema": { "enum": ["created", "-created", "name", "-name", "email", "-email", "username", "-username"] } },
                    { "name": "after", "in": "query", "schema": { "type": "string" }, "description": "The `next` cursor of the previous page" },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 200, "default": 50 } }
                ],
                "responses": {
                    "200": { "description": "A page of users", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/UserPage" } } } },
                    "401": { "description": "Missing or invalid token", "content": { "application/json": { "schema": error } } },
                    "403": { "description": "The token's scopes or the user's profile do not allow this", "content": { "application/json": { "schema": error } } },
                    "422": { "description": "A filter is not valid", "content": { "application/json": { "schema": error } } }
                }
            }},
            "/audit": { "get": {
                "summary": "One page of the organization's audit log, newest first (scope users:read)",
                "parameters": [
                    { "name": "actor", "in": "query", "schema": { "type": "string" }, "description": "A user id, or text found in the actor's name or email (case-insensitive)" },
                    { "name": "action", "in": "query", "schema": { "type": "string" }, "description": "An exact action such as `user.invited`, or a prefix ending in `.` or `*` such as `user.`" },
                    { "name": "target", "in": "query", "schema": { "type": "string", "format": "uuid" }, "description": "The id of the user, location, role or token the events are about" },
                    { "name": "from", "in": "query", "schema": { "type": "string", "format": "date" }, "description": "First day included, in the organization's time zone" },
                    { "name": "to", "in": "query", "schema": { "type": "string", "format": "date" }, "description": "Last day included, in the organization's time zone" },
                    { "name": "before_seq", "in": "query", "schema": { "type": "integer" }, "description": "The `next` of the previous page: events older than this sequence number" },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 } }
                ],
                "responses": {
                    "200": { "description": "A page of events", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/AuditPage" } } } },
                    "401": { "description": "Missing or invalid token", "content": { "application/json": { "schema": error } } },
                    "403": { "description": "The token's scopes or the user's profile do not allow this", "content": { "application/json": { "schema": error } } },
                    "422": { "description": "A filter is not valid (a target that is not an id, a date that does not parse)", "content": { "application/json": { "schema": error } } }
                }
            }},
            "/invitations": { "post": {
                "summary": "Invite one person (scope users:write)",
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/InviteOne" } } } },
                "responses": {
                    "201": { "description": "Invited; the message is queued", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Invited" } } } },
                    "409": { "description": "The address already has an account in the organization", "content": { "application/json": { "schema": error } } },
                    "422": { "description": "Invalid input, no location yet, or a rule refused the role", "content": { "application/json": { "schema": error } } }
                }
            }},
            "/invitations/batch": { "post": {
                "summary": "Invite many pasted addresses to one location with one role (scope users:write)",
                "parameters": [{ "name": "Idempotency-Key", "in": "header", "required": true, "schema": { "type": "string", "maxLength": 200 },
                                 "description": "A retry with the same key and body returns the first answer and invites nobody twice" }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/BatchRequest" } } } },
                "responses": {
                    "200": { "description": "Who was invited and why the others were not", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/BatchResult" } } } },
                    "409": { "description": "The key was used with a different body", "content": { "application/json": { "schema": error } } },
                    "422": { "description": "Invalid input", "content": { "application/json": { "schema": error } } }
                }
            }},
            "/users/{id}/invitation/resend": { "post": {
                "summary": "Revoke the user's invitation link and send a new one with a fresh validity",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "responses": { "204": { "description": "Sent" }, "409": { "description": "The user is not pending", "content": { "application/json": { "schema": error } } } }
            }},
            "/users/{id}/deactivate": { "post": {
                "summary": "Deactivate a user (scope users:write): sessions, API tokens and any pending invitation are revoked, the seat is freed, history is kept",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "responses": { "204": { "description": "Deactivated" }, "422": { "description": "Already inactive, or a rule refused (e.g. the last active admin)", "content": { "application/json": { "schema": error } } } }
            }},
            "/users/{id}/reactivate": { "post": {
                "summary": "Reactivate a user (scope users:write): Active again, or Pending with a new invitation if they never registered",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "responses": { "200": { "description": "The status now" }, "422": { "description": "Not inactive", "content": { "application/json": { "schema": error } } } }
            }},
            "/users/{id}": {
                "get": {
                    "summary": "A user's profile: details, roles, locations, direct and effective permissions with their sources, permissions filtered by the rules and why, provider credentials (scope users:read)",
                    "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                    "responses": { "200": { "description": "The profile" }, "404": { "description": "No such user in this organization", "content": { "application/json": { "schema": error } } } }
                },
                "patch": {
                    "summary": "Edit a profile (scope users:write): names, mobile, user type, locations, default location, roles, direct permissions, provider credentials; absent fields stay; a change a rule refuses refuses the whole edit",
                    "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ProfileEdit" } } } },
                    "responses": {
                        "200": { "description": "The profile as saved" },
                        "403": { "description": "The token lacks users:write", "content": { "application/json": { "schema": error } } },
                        "404": { "description": "No such user, location or role in this organization", "content": { "application/json": { "schema": error } } },
                        "422": { "description": "A value is not valid (NPI check digit, taxonomy code format, mobile, …), or a rule refused a change (`error.rule` names it)", "content": { "application/json": { "schema": error } } }
                    }
                }
            },
            "/bulk-updates": { "post": {
                "summary": "Add or remove permissions and locations for many users, every change checked by the rules (scope users:write)",
                "description": "Select users by `user_ids` or by `filter` (the user list's search and filters). Small selections answer 200 when done; large ones 202 with the running job (poll `/jobs/{id}`).",
                "parameters": [{ "name": "Idempotency-Key", "in": "header", "required": true, "schema": { "type": "string", "maxLength": 200 },
                                 "description": "A retry with the same key and body returns the first job and changes nothing twice" }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/BulkUpdateRequest" } } } },
                "responses": {
                    "200": { "description": "Finished: outcome and the users not fully updated", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/BulkUpdate" } } } },
                    "202": { "description": "Running: poll the job", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/BulkUpdate" } } } },
                    "403": { "description": "The token lacks users:write", "content": { "application/json": { "schema": error } } },
                    "404": { "description": "A user or location id is not in this organization", "content": { "application/json": { "schema": error } } },
                    "409": { "description": "The key was used with a different body", "content": { "application/json": { "schema": error } } },
                    "422": { "description": "Nothing selected, nothing asked, a contradiction, or a viewer (rule 6)", "content": { "application/json": { "schema": error } } }
                }
            }},
            "/jobs/{id}": { "get": {
                "summary": "A bulk job's state, progress and outcome (scope users:read)",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "responses": { "200": { "description": "The job", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/BulkUpdate" } } } },
                               "404": { "description": "No such job in this organization", "content": { "application/json": { "schema": error } } } }
            }},
            "/jobs/{id}/refused": { "get": {
                "summary": "Every user a job did not fully update, each refused change with its rule (scope users:read)",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                               { "name": "after", "in": "query", "schema": { "type": "integer" }, "description": "The `next` of the previous page" },
                               { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 5000, "default": 500 } }],
                "responses": { "200": { "description": "A page of refused users" },
                               "404": { "description": "No such job in this organization", "content": { "application/json": { "schema": error } } } }
            }},
            "/users/{id}/invitation": { "delete": {
                "summary": "Revoke the user's invitation; the pending account is deactivated",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "responses": { "204": { "description": "Revoked" }, "409": { "description": "The user is not pending", "content": { "application/json": { "schema": error } } } }
            }}
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
                    "code": { "type": "string" }, "message": { "type": "string" }, "field": { "type": "string" }, "rule": { "type": "string" } } } } },
                "User": { "type": "object", "required": ["id", "name", "email", "username", "created_at", "status", "locations"], "properties": {
                    "id": { "type": "string", "format": "uuid" }, "name": { "type": "string" }, "email": { "type": "string" },
                    "username": { "type": "string" }, "created_at": { "type": "string", "format": "date-time" },
                    "created_micros": { "type": "integer" },
                    "status": { "enum": ["pending", "expired", "active", "inactive", "blocked", "disabled"] },
                    "user_type": { "type": ["string", "null"] }, "locations": { "type": "array", "items": { "type": "string" } } } },
                "InviteOne": { "type": "object", "required": ["email", "full_name", "location_id", "role_id"], "properties": {
                    "email": { "type": "string" }, "full_name": { "type": "string" },
                    "location_id": { "type": "string", "format": "uuid" }, "role_id": { "type": "string", "format": "uuid" },
                    "user_type": { "type": "string", "description": "User type code or label, e.g. pta" } } },
                "Invited": { "type": "object", "required": ["user_id", "email"], "properties": {
                    "user_id": { "type": "string", "format": "uuid" }, "email": { "type": "string" } } },
                "BatchRequest": { "type": "object", "required": ["addresses", "location_id", "role_id"], "properties": {
                    "addresses": { "type": "string" }, "location_id": { "type": "string", "format": "uuid" }, "role_id": { "type": "string", "format": "uuid" } } },
                "BatchResult": { "type": "object", "required": ["invited", "not_invited", "location", "role"], "properties": {
                    "invited": { "type": "array", "items": { "$ref": "#/components/schemas/Invited" } },
                    "not_invited": { "type": "array", "items": { "type": "object", "properties": {
                        "entry": { "type": "string" }, "code": { "type": "string" }, "reason": { "type": "string" } } } },
                    "location": { "type": "string" }, "role": { "type": "string" } } },
                "ProfileEdit": { "type": "object", "additionalProperties": false, "properties": {
                    "first_name": { "type": "string" }, "last_name": { "type": "string" }, "display_name": { "type": "string" },
                    "mobile": { "type": "string" }, "user_type": { "type": "string" },
                    "default_location": { "type": "string", "format": "uuid" },
                    "locations": { "type": "array", "items": { "type": "string", "format": "uuid" }, "description": "The full set" },
                    "roles": { "type": "array", "items": { "type": "string", "format": "uuid" }, "description": "The full set" },
                    "permissions": { "type": "array", "items": { "type": "string" }, "description": "The full set of direct grants (keys)" },
                    "npi": { "type": "string" }, "taxonomies": { "type": "string", "description": "Codes separated by commas or spaces" },
                    "bio": { "type": "string" }, "licence_number": { "type": "string" }, "licence_state": { "type": "string" },
                    "capacity": { "type": "string" }, "scheduling_step": { "type": "string" },
                    "notifications": { "type": "array", "items": { "type": "string" }, "description": "The full set switched on, as category:medium, e.g. appointments:email" } } },
                "BulkUpdateRequest": { "type": "object", "properties": {
                    "user_ids": { "type": "array", "items": { "type": "string", "format": "uuid" } },
                    "filter": { "type": "object", "description": "The user list's q, status, user_type, location and role" },
                    "grant_permissions": { "type": "array", "items": { "type": "string" }, "description": "Permission keys, e.g. calendar.create" },
                    "revoke_permissions": { "type": "array", "items": { "type": "string" } },
                    "grant_locations": { "type": "array", "items": { "type": "string", "format": "uuid" } },
                    "revoke_locations": { "type": "array", "items": { "type": "string", "format": "uuid" } } } },
                "BulkUpdate": { "type": "object", "required": ["job", "message", "refused"], "properties": {
                    "job": { "type": "object", "properties": { "id": { "type": "string", "format": "uuid" }, "state": { "type": "string" },
                             "total": { "type": "integer" }, "done": { "type": "integer" }, "summary": { "type": "object" } } },
                    "outcome": { "enum": ["succeeded", "partially_succeeded", "failed", null] },
                    "message": { "type": "string" },
                    "refused": { "type": "array", "items": { "type": "object", "properties": {
                        "user_id": { "type": "string", "format": "uuid" }, "name": { "type": "string" }, "email": { "type": "string" },
                        "changes": { "type": "array", "items": { "type": "object", "properties": {
                            "change": { "type": "string" }, "rule": { "type": "string" }, "message": { "type": "string" } } } } } } },
                    "refused_url": { "type": "string" } } },
                "AuditEvent": { "type": "object", "required": ["seq", "id", "at", "actor", "action", "target_type", "hash"], "properties": {
                    "seq": { "type": "integer", "description": "Position in the organization's hash chain" },
                    "id": { "type": "string", "format": "uuid" }, "at": { "type": "string", "format": "date-time" },
                    "actor_id": { "type": ["string", "null"], "format": "uuid" }, "actor": { "type": "string", "description": "Name and email of the actor as recorded, or the operator" },
                    "action": { "type": "string" }, "target_type": { "type": "string" },
                    "target_id": { "type": ["string", "null"], "format": "uuid" },
                    "before": { "description": "The recorded value before the change, if any" },
                    "after": { "description": "The recorded value after the change, if any" },
                    "request_id": { "type": ["string", "null"] }, "source_ip": { "type": ["string", "null"] },
                    "hash": { "type": "string" } } },
                "AuditPage": { "type": "object", "required": ["events"], "properties": {
                    "events": { "type": "array", "items": { "$ref": "#/components/schemas/AuditEvent" } },
                    "next": { "type": ["integer", "null"], "description": "Pass as `before_seq` for older events" } } },
                "UserPage": { "type": "object", "required": ["users"], "properties": {
                    "users": { "type": "array", "items": { "$ref": "#/components/schemas/User" } },
                    "next": { "type": ["string", "null"] } } }
            }
        }
    })
}
