-- People who have not signed in for the organization's set number of days: when they were
-- warned, and when they were flagged for review. Each is compared with their last sign-in, so
-- signing in again starts the count afresh.
ALTER TABLE users ADD COLUMN inactivity_warned_at BIGINT;
ALTER TABLE users ADD COLUMN inactivity_flagged_at BIGINT;

-- A leaving date the roster gives (the local date and time access ends, e.g. 2026-12-19T00:00),
-- turned into an instant in the organization's zone when applied to the account.
ALTER TABLE directory_people ADD COLUMN leaving_date TEXT;
