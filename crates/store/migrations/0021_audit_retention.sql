-- Where each organization's live audit chain starts once older events were moved into signed
-- archive files: the last archived sequence number and its hash; and how far archives were
-- dropped after the retention period (the last dropped sequence number and its hash).
CREATE TABLE audit_anchors (
    org_id        TEXT PRIMARY KEY REFERENCES organizations(id),
    seq           BIGINT NOT NULL,
    hash          TEXT NOT NULL,
    dropped_seq   BIGINT NOT NULL DEFAULT 0,
    dropped_hash  TEXT NOT NULL DEFAULT '',
    updated_at    BIGINT NOT NULL
);
