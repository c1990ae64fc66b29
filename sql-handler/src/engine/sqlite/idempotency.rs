//! The handler's table of idempotency records: one row per (plugin, key) with the reply
//! that was sent, written in the same transaction as the write it answers, so it holds
//! across restarts and crashes.

use rusqlite::{Connection, OptionalExtension, params};

/// No plugin prefix starts with `_`, so no plugin's statement can reach this table: the
/// policy and the engine's guard both refuse it.
const TABLE: &str = "_sql_handler_idempotency";

/// A reply kept for a (plugin, key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// SHA-256 of the request it answers (see `crate::idempotency::fingerprint`).
    pub(crate) fingerprint: String,
    /// The reply body exactly as it was sent.
    pub(crate) reply: Vec<u8>,
    /// `OK` or the error code, for audit records and metrics of replays.
    pub(crate) outcome: String,
}

/// Creates the table if missing.
pub(crate) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
            plugin TEXT NOT NULL,
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reply BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (plugin, key)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS {TABLE}_by_age ON {TABLE} (created_at);"
    ))
}

/// The record for (plugin, key) created at or after `not_before` (Unix seconds). An
/// older one is expired even if it was not purged yet.
pub(crate) fn lookup(
    conn: &Connection,
    plugin: &str,
    key: &str,
    not_before: i64,
) -> rusqlite::Result<Option<Stored>> {
    conn.prepare_cached(&format!(
        "SELECT fingerprint, reply, outcome FROM {TABLE}
         WHERE plugin = ?1 AND key = ?2 AND created_at >= ?3"
    ))?
    .query_row(params![plugin, key, not_before], |row| {
        Ok(Stored {
            fingerprint: row.get(0)?,
            reply: row.get(1)?,
            outcome: row.get(2)?,
        })
    })
    .optional()
}

/// Records `stored` for (plugin, key) at `now`, replacing an expired record.
pub(crate) fn record(
    conn: &Connection,
    plugin: &str,
    key: &str,
    stored: &Stored,
    now: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {TABLE} (plugin, key, fingerprint, outcome, reply, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?
    .execute(params![
        plugin,
        key,
        stored.fingerprint,
        stored.outcome,
        stored.reply,
        now
    ])?;
    Ok(())
}

/// Deletes records created before `not_before`; returns how many.
pub(crate) fn purge(conn: &Connection, not_before: i64) -> rusqlite::Result<usize> {
    conn.execute(
        &format!("DELETE FROM {TABLE} WHERE created_at < ?1"),
        params![not_before],
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn stored(fingerprint: &str, reply: &str) -> Stored {
        Stored {
            fingerprint: fingerprint.to_owned(),
            reply: reply.as_bytes().to_vec(),
            outcome: "OK".to_owned(),
        }
    }

    #[test]
    fn records_are_per_plugin_and_expire() {
        let conn = Connection::open_in_memory().unwrap();
        create(&conn).unwrap();
        create(&conn).unwrap();
        record(&conn, "a", "k", &stored("f1", "{\"rows\":[]}"), 1_000).unwrap();
        assert_eq!(
            lookup(&conn, "a", "k", 900).unwrap(),
            Some(stored("f1", "{\"rows\":[]}"))
        );
        assert_eq!(
            lookup(&conn, "b", "k", 900).unwrap(),
            None,
            "keys are per plugin"
        );
        assert_eq!(lookup(&conn, "a", "k", 1_001).unwrap(), None, "expired");
        // An expired record not yet purged is replaced by a new one.
        record(&conn, "a", "k", &stored("f2", "{}"), 5_000).unwrap();
        assert_eq!(
            lookup(&conn, "a", "k", 4_000).unwrap(),
            Some(stored("f2", "{}"))
        );
        record(&conn, "a", "old", &stored("f3", "{}"), 10).unwrap();
        assert_eq!(purge(&conn, 4_000).unwrap(), 1);
        assert_eq!(lookup(&conn, "a", "old", 0).unwrap(), None);
        assert!(lookup(&conn, "a", "k", 0).unwrap().is_some());
    }
}
