-- The practice's upstream staff roster (e.g. from the EHR): a source to onboard from, not accounts.
-- A load replaces an organization's whole roster in one transaction.
CREATE TABLE directory_people (
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    external_id TEXT NOT NULL,
    first_name  TEXT NOT NULL,
    last_name   TEXT NOT NULL,
    email       TEXT NOT NULL,
    email_key   TEXT NOT NULL,
    user_type   TEXT,
    active      BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, external_id)
);

-- Group memberships, one row each (never a joined list).
CREATE TABLE directory_members (
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    group_name  TEXT NOT NULL,
    external_id TEXT NOT NULL,
    PRIMARY KEY (org_id, group_name, external_id)
);
CREATE INDEX directory_members_by_person ON directory_members (org_id, external_id);
