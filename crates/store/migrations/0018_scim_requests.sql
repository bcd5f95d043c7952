-- The latest SCIM requests of each organization and how each ended, for the console's
-- Provisioning page: what the identity provider asked, and whether it worked. Only the newest
-- 100 per organization are kept; the audit trail keeps every change for good.
CREATE TABLE scim_requests (
    id        TEXT PRIMARY KEY,
    org_id    TEXT NOT NULL REFERENCES organizations(id),
    -- The service-account token that made the request.
    token_id  TEXT,
    at        BIGINT NOT NULL,
    method    TEXT NOT NULL,
    -- Path and query under /scim/v2, at most 500 characters.
    path      TEXT NOT NULL,
    status    BIGINT NOT NULL,
    -- The SCIM error type and detail of a refused request; empty when it succeeded.
    outcome   TEXT NOT NULL
);
CREATE INDEX scim_requests_by_org ON scim_requests (org_id, at);
