-- API tokens owned by the organization (service accounts) act as no person, so `user_id` may be
-- empty; `created_by` names who made the token. SQLite cannot drop a NOT NULL constraint, so
-- the table is rebuilt.
CREATE TABLE api_tokens_new (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    user_id      TEXT REFERENCES users(id),
    owner        TEXT NOT NULL DEFAULT 'person',
    created_by   TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
INSERT INTO api_tokens_new
    (id, org_id, user_id, name, token_hash, scopes, created_at, expires_at, last_used_at, revoked_at)
    SELECT id, org_id, user_id, name, token_hash, scopes, created_at, expires_at, last_used_at, revoked_at
    FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE INDEX api_tokens_by_org ON api_tokens (org_id, created_at);
