CREATE TABLE kit_demo__scores (
    id INTEGER PRIMARY KEY,
    player TEXT NOT NULL,
    points INTEGER NOT NULL DEFAULT 0
);
