-- "Users changed since": the users that are targets of an organization's events from a time on.
CREATE INDEX audit_by_time ON audit_events (org_id, at);
