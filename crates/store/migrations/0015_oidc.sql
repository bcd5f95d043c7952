-- Sign in with Rollcall (OpenID Connect). Clients belong to one organization; every secret,
-- code and refresh token is stored only as its SHA-256 hash.
CREATE TABLE oidc_clients (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    name          TEXT NOT NULL,
    -- NULL for a public client (PKCE only).
    secret_hash   TEXT,
    -- JSON arrays of strings: compared whole, never searched.
    redirect_uris TEXT NOT NULL,
    logout_uris   TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT
);
CREATE INDEX oidc_clients_by_org ON oidc_clients (org_id);

-- ES256 signing keys. A key is published from `created_at` and signs from `signs_from`, so
-- relying parties have it before its first token; it stays published until `retire_at`.
CREATE TABLE oidc_signing_keys (
    kid           TEXT PRIMARY KEY,
    -- PKCS#8, sealed with AES-256-GCM under the server's key-sealing secret.
    sealed_key    TEXT NOT NULL,
    x             TEXT NOT NULL,
    y             TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    signs_from    BIGINT NOT NULL,
    retire_at     BIGINT
);

-- One sign-in to a client: every token issued from one code shares the family and dies with it.
CREATE TABLE oidc_grants (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    client_id   TEXT NOT NULL REFERENCES oidc_clients(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    scope       TEXT NOT NULL,
    nonce       TEXT,
    auth_time   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX oidc_grants_by_user ON oidc_grants (user_id);

CREATE TABLE oidc_codes (
    code_hash      TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES oidc_grants(id),
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);

CREATE TABLE oidc_refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES oidc_grants(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    -- Set when exchanged for a new one; presenting it again revokes the grant.
    rotated_at  BIGINT
);
CREATE INDEX oidc_refresh_tokens_by_grant ON oidc_refresh_tokens (grant_id);
