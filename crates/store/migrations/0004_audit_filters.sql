-- Filters of the audit log: by action (exact or prefix, and the list of actions present) and by
-- actor, newest first within an organization.
CREATE INDEX audit_by_action ON audit_events (org_id, action, seq);
CREATE INDEX audit_by_actor ON audit_events (org_id, actor_id, seq);
