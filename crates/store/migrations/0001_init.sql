-- Portable schema: one file for SQLite and PostgreSQL.
-- Ids are UUIDv7 text, times are microseconds since the Unix epoch (UTC), flags are nullable
-- timestamps: the same column types and the same queries on both engines.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    settings    TEXT NOT NULL,
    policy      TEXT NOT NULL,
    audit_seq   BIGINT NOT NULL DEFAULT 0,
    audit_head  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE seats (
    org_id   TEXT NOT NULL REFERENCES organizations(id),
    product  TEXT NOT NULL,
    seats    BIGINT NOT NULL,
    PRIMARY KEY (org_id, product)
);

CREATE TABLE locations (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations(id),
    name           TEXT NOT NULL,
    code           TEXT NOT NULL,
    time_zone      TEXT,
    deactivated_at BIGINT,
    created_at     BIGINT NOT NULL,
    UNIQUE (org_id, code)
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organizations(id),
    email               TEXT NOT NULL,
    email_key           TEXT NOT NULL,
    username            TEXT NOT NULL,
    first_name          TEXT NOT NULL,
    last_name           TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    sort_name           TEXT NOT NULL,
    search              TEXT NOT NULL,
    mobile              TEXT,
    user_type           TEXT,
    status              TEXT NOT NULL,
    default_location_id TEXT REFERENCES locations(id),
    source              TEXT NOT NULL,
    password_hash       TEXT,
    invite_expires_at   BIGINT,
    failed_sign_ins     BIGINT NOT NULL DEFAULT 0,
    locked_until        BIGINT,
    created_at          BIGINT NOT NULL,
    created_by          TEXT,
    activated_at        BIGINT,
    deactivated_at      BIGINT,
    deactivated_by      TEXT,
    last_sign_in_at     BIGINT,
    UNIQUE (org_id, email_key),
    UNIQUE (org_id, username)
);
CREATE INDEX users_by_created ON users (org_id, created_at, id);
CREATE INDEX users_by_name ON users (org_id, sort_name, id);
CREATE INDEX users_by_email ON users (org_id, email_key, id);
CREATE INDEX users_by_status ON users (org_id, status, created_at, id);
CREATE INDEX users_by_type ON users (org_id, user_type, created_at, id);

CREATE TABLE user_locations (
    user_id     TEXT NOT NULL REFERENCES users(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    PRIMARY KEY (user_id, location_id)
);
CREATE INDEX user_locations_by_location ON user_locations (location_id, user_id);

CREATE TABLE roles (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations(id),
    name       TEXT NOT NULL,
    predefined BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE role_permissions (
    role_id    TEXT NOT NULL REFERENCES roles(id),
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id),
    role_id TEXT NOT NULL REFERENCES roles(id),
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_by_role ON user_roles (role_id, user_id);

CREATE TABLE user_permissions (
    user_id    TEXT NOT NULL REFERENCES users(id),
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, permission)
);

CREATE TABLE provider_profiles (
    user_id         TEXT PRIMARY KEY REFERENCES users(id),
    npi             TEXT,
    bio             TEXT,
    licence_number  TEXT,
    licence_state   TEXT,
    capacity        BIGINT NOT NULL DEFAULT 1,
    scheduling_step BIGINT NOT NULL DEFAULT 15
);

CREATE TABLE provider_taxonomies (
    user_id TEXT NOT NULL REFERENCES users(id),
    code    TEXT NOT NULL,
    PRIMARY KEY (user_id, code)
);

CREATE TABLE taxonomy_codes (
    org_id TEXT NOT NULL REFERENCES organizations(id),
    code   TEXT NOT NULL,
    name   TEXT NOT NULL,
    PRIMARY KEY (org_id, code)
);

CREATE TABLE invitations (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES organizations(id),
    user_id        TEXT NOT NULL REFERENCES users(id),
    token_hash     TEXT NOT NULL UNIQUE,
    send_at        BIGINT NOT NULL,
    send_at_local  TEXT,
    send_zone      TEXT,
    sent_at        BIGINT,
    expires_at     BIGINT NOT NULL,
    accepted_at    BIGINT,
    revoked_at     BIGINT,
    delivery_state TEXT NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    last_error     TEXT,
    created_at     BIGINT NOT NULL,
    created_by     TEXT
);
CREATE INDEX invitations_by_user ON invitations (user_id, created_at);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    kind            TEXT NOT NULL,
    medium          TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    invitation_id   TEXT,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    kind            TEXT NOT NULL,
    actor_id        TEXT,
    idempotency_key TEXT,
    state           TEXT NOT NULL,
    total           BIGINT NOT NULL DEFAULT 0,
    done            BIGINT NOT NULL DEFAULT 0,
    summary         TEXT NOT NULL DEFAULT '{}',
    params          TEXT NOT NULL DEFAULT '{}',
    claimed_until   BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (org_id, kind, idempotency_key)
);

CREATE TABLE job_items (
    job_id      TEXT NOT NULL REFERENCES jobs(id),
    seq         BIGINT NOT NULL,
    state       TEXT NOT NULL,
    reason_code TEXT,
    message     TEXT,
    payload     TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE audit_events (
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    at          BIGINT NOT NULL,
    actor_id    TEXT,
    actor_label TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT,
    before      TEXT,
    after       TEXT,
    request_id  TEXT,
    source_ip   TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX audit_by_target ON audit_events (org_id, target_id, seq);

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    source_ip    TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
