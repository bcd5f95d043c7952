-- Secrets the server keeps for itself (e.g. the key that signs pre-session form tokens), shared
-- by every process on the same database.
CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
