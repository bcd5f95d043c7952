-- What an identity provider says about a user beyond Rollcall's own fields (SCIM 2.0). A user
-- made elsewhere has no row until the provider first writes to it; its userName is then the
-- access email.
CREATE TABLE scim_users (
    user_id         TEXT PRIMARY KEY REFERENCES users(id),
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    user_name       TEXT NOT NULL,
    -- Lower-cased: userName is compared without regard to case.
    user_name_key   TEXT NOT NULL,
    external_id     TEXT,
    employee_number TEXT,
    department      TEXT,
    manager_id      TEXT,
    updated_at      BIGINT NOT NULL,
    UNIQUE (org_id, user_name_key)
);
CREATE INDEX scim_users_by_external_id ON scim_users (org_id, external_id);

-- Groups pushed by the identity provider, per organization.
CREATE TABLE scim_groups (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    display_name TEXT NOT NULL,
    display_key  TEXT NOT NULL,
    external_id  TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (org_id, display_key)
);

-- One row per membership (never a joined list).
CREATE TABLE scim_group_members (
    group_id TEXT NOT NULL REFERENCES scim_groups(id),
    user_id  TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_by_user ON scim_group_members (user_id);

-- What a group's membership gives: roles and locations, set by a company admin.
CREATE TABLE scim_group_roles (
    group_id TEXT NOT NULL REFERENCES scim_groups(id),
    role_id  TEXT NOT NULL REFERENCES roles(id),
    PRIMARY KEY (group_id, role_id)
);
CREATE TABLE scim_group_locations (
    group_id    TEXT NOT NULL REFERENCES scim_groups(id),
    location_id TEXT NOT NULL REFERENCES locations(id),
    PRIMARY KEY (group_id, location_id)
);
