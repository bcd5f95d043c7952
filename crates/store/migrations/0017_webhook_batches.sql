-- Events per request for an endpoint that takes several at once (1: one event per request, the
-- Standard Webhooks default).
ALTER TABLE webhook_endpoints ADD COLUMN batch_max BIGINT NOT NULL DEFAULT 1;
