-- The API's rate limits, shared by every process: per key (a SHA-256 of what is limited), when
-- its allowance is whole again. Rewritten often and worth nothing after a crash (every
-- allowance is whole then), so the table is unlogged: no write waits for the WAL's flush.
CREATE UNLOGGED TABLE api_rate_paces (
    key  TEXT PRIMARY KEY,
    pace BIGINT NOT NULL
);
