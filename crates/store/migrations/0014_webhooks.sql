-- Webhook endpoints of an organization (Standard Webhooks). The signing secret is kept encrypted
-- with a key the server keeps in `server_keys`; during a rotation the previous secret stays
-- valid (and is signed with too) until `previous_until`.
CREATE TABLE webhook_endpoints (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations(id),
    url               TEXT NOT NULL,
    description       TEXT NOT NULL,
    -- Space-separated event types, e.g. "user.deactivated user.access_changed".
    event_types       TEXT NOT NULL,
    enabled           BIGINT NOT NULL,
    -- Why the endpoint was turned off by Rollcall (410 Gone, failing for days), if it was.
    disabled_reason   TEXT,
    secret_sealed     TEXT NOT NULL,
    previous_sealed   TEXT,
    previous_until    BIGINT,
    -- When the endpoint's deliveries started failing without a success since (NULL: healthy).
    failing_since     BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints (org_id, enabled);

-- One row per event and endpoint, written in the transaction of the change (the outbox pattern).
-- `event_id` is the stable `webhook-id` receivers deduplicate on.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id),
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- queued, delivered, failed (given up) or cancelled (the endpoint was disabled)
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claim_id        TEXT,
    claimed_until   BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at);
CREATE INDEX webhook_deliveries_by_claim ON webhook_deliveries (claim_id) WHERE claim_id IS NOT NULL;

-- Every HTTP attempt of a delivery, for the delivery log.
CREATE TABLE webhook_attempts (
    delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries(id),
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status_code  BIGINT,
    response_ms  BIGINT NOT NULL,
    error        TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
