-- A job's input (e.g. the ids of a large selection) lives apart from the job row, so that
-- advancing the job's progress does not rewrite it and reading progress does not load it.
CREATE TABLE job_inputs (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    params TEXT NOT NULL
);
