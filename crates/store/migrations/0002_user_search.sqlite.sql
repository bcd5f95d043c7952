-- Substring search over name, email and username: an FTS5 trigram index answers
-- `search LIKE '%abc%'` without scanning every user.
CREATE VIRTUAL TABLE users_search USING fts5(search, content='users', content_rowid='rowid', tokenize='trigram');
INSERT INTO users_search (rowid, search) SELECT rowid, search FROM users;
CREATE TRIGGER users_search_ai AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, search) VALUES (new.rowid, new.search);
END;
CREATE TRIGGER users_search_ad AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, search) VALUES ('delete', old.rowid, old.search);
END;
CREATE TRIGGER users_search_au AFTER UPDATE OF search ON users BEGIN
    INSERT INTO users_search (users_search, rowid, search) VALUES ('delete', old.rowid, old.search);
    INSERT INTO users_search (rowid, search) VALUES (new.rowid, new.search);
END;
