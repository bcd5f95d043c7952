-- Work a person started in a form of several steps and has not finished (the directory
-- wizard's batch): one per person and form, so it outlives leaving the page, a reload or the tab.
CREATE TABLE drafts (
    org_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    form       TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id, form)
);
