//! Applying migrations on SQLite under the migration guard, recording each in the
//! handler's own table in the same transaction.

use std::collections::HashSet;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use sql_core::Policy;

use super::{Guard, GuardMode, SchemaNames};
use crate::engine::Denial;
use crate::migrations::Migration;
use crate::migrations::MigrationError;

/// The handler's own bookkeeping table. It has no plugin prefix, so no plugin can reach it.
const MIGRATIONS_TABLE: &str = "_sql_handler_migrations";

pub(crate) fn apply(
    conn: &mut Connection,
    policy: &Arc<Policy>,
    schema: &SchemaNames,
    migrations: &[Migration],
) -> Result<(), MigrationError> {
    let failed = |m: &Migration| {
        let migration = m.label();
        move |e: rusqlite::Error| MigrationError::Failed {
            migration,
            message: e.to_string(),
        }
    };
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
            plugin TEXT NOT NULL,
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (plugin, version)
        )"
    ))
    .map_err(|e| MigrationError::Failed {
        migration: MIGRATIONS_TABLE.to_owned(),
        message: e.to_string(),
    })?;

    for migration in migrations {
        let recorded: Option<String> = conn
            .query_row(
                &format!(
                    "SELECT checksum FROM {MIGRATIONS_TABLE} WHERE plugin = ?1 AND version = ?2"
                ),
                params![migration.plugin.name(), migration.version],
                |row| row.get(0),
            )
            .optional()
            .map_err(failed(migration))?;
        match recorded {
            Some(checksum) if checksum == migration.checksum => continue,
            Some(_) => {
                return Err(MigrationError::Changed {
                    migration: migration.label(),
                });
            }
            None => {}
        }
        // Manual BEGIN/COMMIT: the guard needs the connection mutably, which a
        // `rusqlite::Transaction` does not lend.
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(failed(migration))?;
        let result = schema
            .get(conn)
            .map_err(failed(migration))
            .and_then(|names| apply_one(conn, policy, migration, names));
        if result.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        result?;
        tracing::info!(migration = %migration.label(), "applied migration");
    }
    Ok(())
}

fn apply_one(
    conn: &mut Connection,
    policy: &Arc<Policy>,
    migration: &Migration,
    names: Arc<HashSet<String>>,
) -> Result<(), MigrationError> {
    let failed = |e: rusqlite::Error| MigrationError::Failed {
        migration: migration.label(),
        message: e.to_string(),
    };
    let guard = Guard::new(
        migration.plugin.clone(),
        Arc::clone(policy),
        GuardMode::Migration,
        names,
    );
    guard.install(conn).map_err(failed)?;
    let outcome = conn.execute_batch(&migration.sql);
    Guard::uninstall(conn).map_err(failed)?;
    if let Err(e) = outcome {
        return Err(match guard.denial() {
            Some(denial) => MigrationError::Refused {
                migration: migration.label(),
                reason: refusal(&denial, migration.plugin.table_prefix()),
            },
            None => failed(e),
        });
    }
    conn.execute(
        &format!("INSERT INTO {MIGRATIONS_TABLE} (plugin, version, name, checksum) VALUES (?1, ?2, ?3, ?4)"),
        params![migration.plugin.name(), migration.version, migration.name, migration.checksum],
    )
    .map_err(failed)?;
    conn.execute_batch("COMMIT").map_err(failed)
}

fn refusal(denial: &Denial, prefix: &str) -> String {
    match denial {
        Denial::ForeignTable(name) => format!("'{name}' is outside the plugin's prefix '{prefix}'"),
        Denial::SystemTable(name) => format!("system object '{name}' may not be touched"),
        Denial::Function(name) => format!("function {name}() is not allowed"),
        Denial::Action(what) => format!("{what} is not allowed"),
        Denial::Placeholder => "placeholders are not allowed".to_owned(),
    }
}
