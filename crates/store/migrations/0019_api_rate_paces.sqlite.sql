-- The API's rate limits, shared by every process: per key (a SHA-256 of what is limited), when
-- its allowance is whole again.
CREATE TABLE api_rate_paces (
    key  TEXT PRIMARY KEY,
    pace BIGINT NOT NULL
);
