-- Where each organization's live audit chain starts once older events were moved into signed
-- archive files: the last archived sequence number and its hash.
CREATE TABLE audit_anchors (
    org_id      TEXT PRIMARY KEY REFERENCES organizations(id),
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
