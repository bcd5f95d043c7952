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
                "UserPage": { "type": "object", "required": ["users"], "properties": {
                    "users": { "type": "array", "items": { "$ref": "#/components/schemas/User" } },
                    "next": { "type": ["string", "null"] } } }
            }
        }
    })
}
