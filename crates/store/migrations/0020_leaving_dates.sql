-- When a person leaves: their access ends at that instant (a serving process deactivates them).
-- Kept after the deactivation, so how long leavers kept access can be shown.
ALTER TABLE users ADD COLUMN leaves_at BIGINT;
CREATE INDEX users_leaving ON users (leaves_at) WHERE leaves_at IS NOT NULL;
