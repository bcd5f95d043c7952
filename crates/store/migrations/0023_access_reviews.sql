-- Access review campaigns: a company admin asks the reviewers to recertify each person's access
-- by a due date. One item per person in scope, written by one INSERT … SELECT. Who reviews whom
-- is not written per person: the campaign keeps each reviewer's reach as it was at the start
-- (a clinic admin's locations; '' for a company admin, who reviews the people no clinic admin
-- reaches and, past the due date, everyone unreviewed), and a reviewer's queue is read through
-- it, so a campaign costs one row per person whatever the number of admins.
CREATE TABLE review_campaigns (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations(id),
    name              TEXT NOT NULL,
    -- {"location": id, "role": id, "user_type": code}; absent keys do not narrow.
    scope             TEXT NOT NULL,
    due_at            BIGINT NOT NULL,
    -- Months until the next campaign of a recurring one (3: quarterly); NULL: once.
    recurrence_months BIGINT,
    created_by        TEXT,
    created_at        BIGINT NOT NULL,
    -- Each set once, by a conditional update: the reminders and the escalation go out once.
    reminded_at       BIGINT,
    escalated_at      BIGINT,
    -- What the due date did, by the organization's setting then: escalate or revoke.
    overdue_action    TEXT,
    next_campaign_id  TEXT
);
CREATE INDEX review_campaigns_by_org ON review_campaigns (org_id, created_at);
CREATE INDEX review_campaigns_due ON review_campaigns (due_at) WHERE escalated_at IS NULL;

CREATE TABLE review_reach (
    campaign_id TEXT NOT NULL REFERENCES review_campaigns(id),
    reviewer_id TEXT NOT NULL REFERENCES users(id),
    -- A location the clinic admin reaches; '' for a company admin.
    location_id TEXT NOT NULL,
    PRIMARY KEY (campaign_id, reviewer_id, location_id)
);
CREATE INDEX review_reach_by_location ON review_reach (campaign_id, location_id, reviewer_id);

CREATE TABLE review_items (
    campaign_id  TEXT NOT NULL REFERENCES review_campaigns(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    -- pending, decided, escalated (overdue, now with the company admins), revoked (overdue,
    -- elevated permissions taken by the organization's setting)
    state        TEXT NOT NULL,
    -- 1 when no clinic admin (but the person themself) reaches the person: the company admins
    -- review them.
    by_company   BIGINT NOT NULL,
    -- keep, remove_permission, remove_location, deactivate
    decision     TEXT,
    -- The permission key or location id a removal names.
    target       TEXT,
    note         TEXT,
    decided_by   TEXT,
    decided_at   BIGINT,
    -- applied or refused; refusal holds the rule's sentence.
    outcome      TEXT,
    refusal      TEXT,
    -- What the reviewer saw when deciding (JSON: permissions with sources, locations, last
    -- sign-in, second factor).
    reviewed     TEXT,
    PRIMARY KEY (campaign_id, user_id)
);
CREATE INDEX review_items_by_state ON review_items (campaign_id, state, user_id);
