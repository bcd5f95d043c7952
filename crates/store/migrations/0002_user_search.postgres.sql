-- Substring search over name, email and username: a trigram GIN index answers
-- `search LIKE '%abc%'` without scanning every user.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_search_trgm ON users USING gin (search gin_trgm_ops);
