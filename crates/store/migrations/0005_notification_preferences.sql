-- Which notifications a user receives: one row per (category, medium) switched on.
CREATE TABLE notification_preferences (
    user_id  TEXT NOT NULL REFERENCES users(id),
    category TEXT NOT NULL,
    medium   TEXT NOT NULL,
    PRIMARY KEY (user_id, category, medium)
);
