//! The overrides where plugin schemas need deterministic, innocuous functions.

use rusqlite::ffi;

use super::pair;

/// Plugin schemas keep using the functions where SQLite demands deterministic,
/// innocuous ones, and indexes built with the overrides check out.
#[test]
fn schemas_use_the_overrides() {
    let (_, over, _clock) = pair(&[]);
    over.execute_batch(
        "CREATE TABLE p__users (
             name TEXT NOT NULL CHECK (name LIKE 'u%' AND name NOT GLOB '*[0-9]'),
             tag TEXT GENERATED ALWAYS AS (trim(replace(name, '_', ' '))) STORED
         );
         CREATE INDEX p__users_b ON p__users (instr(name, 'b'));
         CREATE INDEX p__users_r ON p__users (replace(name, 'u', 'x'))
             WHERE name LIKE '%e%';
         INSERT INTO p__users (name) VALUES ('u_bob'), ('ursula'), ('uwe_b_');",
    )
    .unwrap();
    let hits: i64 = over
        .query_row(
            "SELECT count(*) FROM p__users INDEXED BY p__users_b \
             WHERE instr(name, 'b') = 3",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(hits, 1);
    let tag: String = over
        .query_row(
            "SELECT tag FROM p__users INDEXED BY p__users_r \
             WHERE replace(name, 'u', 'x') = 'xwe_b_' AND name LIKE '%e%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tag, "uwe b");
    let check: String = over
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let refused = over.execute("INSERT INTO p__users (name) VALUES ('bob')", []);
    assert!(
        matches!(&refused, Err(rusqlite::Error::SqliteFailure(f, _))
            if f.extended_code == ffi::SQLITE_CONSTRAINT_CHECK),
        "{refused:?}"
    );
}
