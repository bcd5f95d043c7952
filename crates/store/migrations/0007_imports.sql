-- Rows of an import (a CSV file, or people picked from the directory), kept for review before
-- anything is created and read back chunk by chunk when the import runs.
CREATE TABLE import_rows (
    job_id    TEXT NOT NULL REFERENCES jobs(id),
    seq       BIGINT NOT NULL,
    line      BIGINT NOT NULL,
    cells     TEXT NOT NULL,
    email_key TEXT,
    issues    TEXT,
    in_error  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX import_rows_in_error ON import_rows (job_id, in_error, seq);
CREATE INDEX import_rows_by_email ON import_rows (job_id, email_key);

-- Seats an unfinished import will take: counted as used until its users exist, so two batches
-- racing for the last seats cannot both pass the check.
ALTER TABLE jobs ADD COLUMN seats_held BIGINT NOT NULL DEFAULT 0;
