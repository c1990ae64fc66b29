-- The quickstart plugin's table. Migrations are the only place DDL may run, and only on
-- the plugin's own prefix (quickstart__).
CREATE TABLE quickstart__notes (
    id INTEGER PRIMARY KEY,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    stars INTEGER NOT NULL DEFAULT 0
);
