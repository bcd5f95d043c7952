-- Message delivery, registration with 2FA and the EULA, idempotent API calls.

-- NULL: a full session. Otherwise the step a person is part-way through:
-- 'mfa' (password accepted, second factor pending), 'register_2fa', 'register_eula'.
ALTER TABLE sessions ADD COLUMN stage TEXT;

ALTER TABLE users ADD COLUMN mfa_method TEXT;
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN eula_version BIGINT;
ALTER TABLE users ADD COLUMN eula_accepted_at BIGINT;

CREATE TABLE one_time_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    purpose    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    used_at    BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX one_time_codes_by_user ON one_time_codes (user_id, purpose, created_at);

CREATE TABLE recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Where messages go when no SMTP server or SMS provider is configured.
CREATE TABLE mailbox (
    id         TEXT PRIMARY KEY,
    org_id     TEXT,
    medium     TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body_text  TEXT NOT NULL,
    body_html  TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX mailbox_by_time ON mailbox (created_at);

CREATE TABLE idempotency_keys (
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    endpoint     TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       BIGINT NOT NULL,
    response     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, endpoint, key)
);

CREATE INDEX outbox_by_invitation ON outbox (invitation_id);
