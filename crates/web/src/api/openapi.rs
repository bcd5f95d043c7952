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
            "/imports": { "post": {
                "summary": "Upload a CSV file to import (scope users:write): the request body is the file (`text/csv`, at most 64 MB; name it with `X-File-Name`). Every row is checked; nothing is created until the import is committed",
                "requestBody": { "required": true, "content": { "text/csv": { "schema": { "type": "string" } } } },
                "responses": {
                    "201": { "description": "The import's counts and its first rows in error; read every row at `rows_url`, commit at `commit_url`" },
                    "422": { "description": "The file cannot be read: empty, too large, unknown or missing columns (the message lists the expected ones)", "content": { "application/json": { "schema": error } } }
                }
            }},
            "/imports/template.csv": { "get": {
                "summary": "The CSV template: header and two example rows",
                "responses": { "200": { "description": "The template", "content": { "text/csv": {} } } }
            }},
            "/imports/{id}/rows": { "get": {
                "summary": "The review table of an import, in file order (scope users:read)",
                "parameters": [
                    { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                    { "name": "filter", "in": "query", "schema": { "enum": ["all", "errors", "issues"] } },
                    { "name": "after", "in": "query", "schema": { "type": "integer" }, "description": "The `next_after` of the previous page" },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 100 } }
                ],
                "responses": { "200": { "description": "Rows with their cells, errors and warnings" }, "404": { "description": "No such import", "content": { "application/json": { "schema": error } } } }
            }},
            "/imports/{id}/rows/{seq}": { "patch": {
                "summary": "Replace one row's cells before committing; the row is checked again (scope users:write)",
                "parameters": [
                    { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } },
                    { "name": "seq", "in": "path", "required": true, "schema": { "type": "integer" } }
                ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "properties": { "cells": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Column name → value, e.g. {\"email\": \"kim@clinic.org\"}" } } } } } },
                "responses": { "200": { "description": "The row as now checked" }, "409": { "description": "The import was already committed", "content": { "application/json": { "schema": error } } } }
            }},
            "/imports/{id}/commit": { "post": {
                "summary": "Commit an import (scope users:write): rows in error are left out; access by roles, a mirrored user or each row's columns; optional send time in the organization's zone and notification preferences. Seats and rules are checked first: a refusal creates nothing. The same commit again answers the same job",
                "parameters": [ { "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } } ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["access"], "properties": {
                    "access": { "oneOf": [
                        { "type": "object", "properties": { "mode": { "const": "roles" }, "role_ids": { "type": "array", "items": { "type": "string", "format": "uuid" } } } },
                        { "type": "object", "properties": { "mode": { "const": "mirror" }, "user_id": { "type": "string", "format": "uuid" } } },
                        { "type": "object", "properties": { "mode": { "const": "customize" } } }
                    ] },
                    "location_id": { "type": ["string", "null"], "format": "uuid", "description": "Primary location of rows that name none" },
                    "send_at": { "type": ["string", "null"], "description": "Local date and time in the organization's zone, e.g. 2026-12-01T09:00; null sends now" },
                    "notifications": { "type": "array", "items": { "type": "array", "items": { "type": "string" }, "minItems": 2, "maxItems": 2 }, "description": "[category, medium] pairs" }
                } } } } },
                "responses": {
                    "202": { "description": "The job runs; poll `Location` (/api/v1/jobs/{id})" },
                    "409": { "description": "Too few licence seats (code seats_exhausted: the message gives the seats needed and free), or already committed differently", "content": { "application/json": { "schema": error } } },
                    "422": { "description": "A choice is not valid, or a rule refuses the access", "content": { "application/json": { "schema": error } } }
                }
            }},
            "/directory": {
                "get": {
                    "summary": "The directory roster's counts and groups (scope users:read)",
                    "responses": { "200": { "description": "People, groups with member counts, inactive people" } }
                },
                "put": {
                    "summary": "Replace the directory roster (scope users:write): the practice's staff with external ids, user types, active flags and groups. A bad person refuses the whole load. `Idempotency-Key` replays the first answer",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "properties": { "people": { "type": "array", "items": { "type": "object", "required": ["external_id", "first_name", "last_name", "email"], "properties": {
                        "external_id": { "type": "string" }, "first_name": { "type": "string" }, "last_name": { "type": "string" }, "email": { "type": "string" },
                        "user_type": { "type": ["string", "null"] }, "active": { "type": "boolean", "default": true }, "groups": { "type": "array", "items": { "type": "string" } }
                    } } } } } } } },
                    "responses": {
                        "200": { "description": "The roster's counts: people, groups, inactive, added, removed" },
                        "422": { "description": "A person is not valid; the message says which (by position) and why", "content": { "application/json": { "schema": error } } }
                    }
                }
            },
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
