-- Emergency ("break-glass") access: a designated person grants themselves a permission and/or a
-- location at once, with a reason, until `expires_at`. The grant is written as ordinary access
-- (user_permissions, user_locations) and this row says which of it is emergency access, so the
-- expiry round removes exactly that. `ended_at` is set once, by a conditional update, which is
-- what makes the end happen exactly once whichever process gets there first. Every grant is
-- reviewed afterwards by a company admin: open, then accepted or flagged, with a note.
CREATE TABLE emergency_grants (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    permission    TEXT,
    location_id   TEXT REFERENCES locations(id),
    reason        TEXT NOT NULL,
    granted_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    ended_at      BIGINT,
    review_state  TEXT NOT NULL DEFAULT 'open',
    reviewed_by   TEXT,
    reviewer_name TEXT,
    reviewed_at   BIGINT,
    review_note   TEXT
);
CREATE INDEX emergency_grants_live ON emergency_grants (expires_at) WHERE ended_at IS NULL;
CREATE INDEX emergency_grants_by_org ON emergency_grants (org_id, granted_at);
CREATE INDEX emergency_grants_by_user ON emergency_grants (user_id, granted_at);
CREATE INDEX emergency_grants_open ON emergency_grants (org_id, granted_at) WHERE review_state = 'open';
