-- An outbox claim is named by its own id, so its holder can extend the lease (a heartbeat)
-- without losing the fence on what it records.
ALTER TABLE outbox ADD COLUMN claim_id TEXT;
CREATE INDEX outbox_by_claim ON outbox (claim_id) WHERE claim_id IS NOT NULL;

-- Attempt counters every process shares (sign-in failures, sign-ins per client address, codes,
-- invitations per hour). The key is a SHA-256 of what is counted, never an address in clear.
CREATE TABLE rate_counters (
    key          TEXT PRIMARY KEY,
    hits         BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX rate_counters_by_window ON rate_counters (window_start);
