-- API tokens owned by the organization (service accounts) act as no person, so `user_id` may be
-- empty; `created_by` names who made the token.
ALTER TABLE api_tokens ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE api_tokens ADD COLUMN owner TEXT NOT NULL DEFAULT 'person';
ALTER TABLE api_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
CREATE INDEX api_tokens_by_org ON api_tokens (org_id, created_at);
