-- The schema the schema-checked UI cases compile against.
CREATE TABLE schema_db__events (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    n BIGINT,
    score DOUBLE PRECISION,
    payload BYTEA
);
CREATE TABLE schema_db__tags (
    event_id INTEGER NOT NULL REFERENCES schema_db__events(id),
    tag TEXT NOT NULL
);
