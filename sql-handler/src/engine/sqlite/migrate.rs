//! Applying migrations on SQLite under the migration guard, recording each in the
//! handler's own table in the same transaction.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Batch, Connection, OptionalExtension, params};
use sql_core::{Plugin, Policy, TableOwner};
use sqlparser::ast::{
    AlterTableOperation, ColumnDef, ColumnOption, Expr, ObjectName, RenameTableNameKind, Statement,
    visit_expressions,
};
use sqlparser::dialect::SQLiteDialect;
use sqlparser::parser::Parser;

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
            .and_then(|(_, names)| apply_one(conn, policy, migration, names));
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
        Arc::clone(&names),
    );
    guard.install(conn).map_err(failed)?;
    let outcome = run_statements(conn, &guard, policy, &migration.sql);
    Guard::uninstall(conn).map_err(failed)?;
    match outcome {
        Ok(()) => {}
        Err(Halt::Refused(reason)) => {
            return Err(MigrationError::Refused {
                migration: migration.label(),
                reason,
            });
        }
        Err(Halt::Sqlite(e)) => {
            return Err(match guard.denial() {
                Some(denial) => MigrationError::Refused {
                    migration: migration.label(),
                    reason: refusal(&denial, migration.plugin.table_prefix()),
                },
                None => failed(e),
            });
        }
    }
    if let Some(name) = stray_relation(conn, &migration.plugin, &names).map_err(failed)? {
        return Err(MigrationError::Refused {
            migration: migration.label(),
            reason: format!(
                "it leaves a table or view named '{name}', outside the plugin's prefix '{}'",
                migration.plugin.table_prefix()
            ),
        });
    }
    conn.execute(
        &format!("INSERT INTO {MIGRATIONS_TABLE} (plugin, version, name, checksum) VALUES (?1, ?2, ?3, ?4)"),
        params![migration.plugin.name(), migration.version, migration.name, migration.checksum],
    )
    .map_err(failed)?;
    conn.execute_batch("COMMIT").map_err(failed)
}

/// Why a migration's statements stopped.
enum Halt {
    /// SQLite failed, or refused through the guard ([`Guard::denial`] says which).
    Sqlite(rusqlite::Error),
    /// An ALTER TABLE was refused for what SQLite does not show the guard.
    Refused(String),
}

/// Runs `sql` one statement at a time, as `execute_batch` does (each is stepped once),
/// telling the guard where each statement starts so that what it allows an ALTER TABLE
/// ends with that statement.
fn run_statements(
    conn: &Connection,
    guard: &Guard,
    policy: &Policy,
    sql: &str,
) -> Result<(), Halt> {
    let mut statements = Batch::new(conn, sql);
    loop {
        guard.begin_statement();
        let Some(mut statement) = statements.next().map_err(Halt::Sqlite)? else {
            return Ok(());
        };
        // Preparing an ALTER TABLE only compiles it; nothing of it has run yet.
        if guard.altered_table().is_some() {
            let text = statement.expanded_sql().unwrap_or_default();
            check_alter(&text, guard.plugin(), policy).map_err(Halt::Refused)?;
        }
        statement.raw_query().next().map_err(Halt::Sqlite)?;
    }
}

/// Checks what SQLite's authorizer does not report about an ALTER TABLE of the plugin's
/// own table (the guard checked the table): the new name of RENAME TO, and the functions
/// and parent tables of ADD COLUMN's column, whose CHECK and generated expressions SQLite
/// stores unauthorized and runs unchecked on every later write or read (only CREATE
/// TABLE's are authorized).
fn check_alter(sql: &str, plugin: &Plugin, policy: &Policy) -> Result<(), String> {
    let prefix = plugin.table_prefix();
    let statements = Parser::parse_sql(&SQLiteDialect {}, sql)
        .map_err(|e| format!("its ALTER TABLE cannot be checked: {e}"))?;
    let [Statement::AlterTable(alter)] = statements.as_slice() else {
        return Err(format!("its ALTER TABLE cannot be checked: {sql}"));
    };
    for operation in &alter.operations {
        match operation {
            AlterTableOperation::RenameTable {
                table_name: RenameTableNameKind::To(target) | RenameTableNameKind::As(target),
            } => {
                if !is_own(plugin, target) {
                    return Err(format!(
                        "it renames '{}' to '{}', outside the plugin's prefix '{prefix}'",
                        alter.name,
                        plain_name(target)
                    ));
                }
            }
            AlterTableOperation::AddColumn { column_def, .. } => {
                check_new_column(column_def, plugin, policy)?;
            }
            AlterTableOperation::RenameColumn { .. } | AlterTableOperation::DropColumn { .. } => {}
            // SQLite prepared it, so it is one of the four forms above; any other reading
            // of it is one this check does not understand.
            other => return Err(format!("'{other}' in ALTER TABLE cannot be checked")),
        }
    }
    Ok(())
}

fn check_new_column(column: &ColumnDef, plugin: &Plugin, policy: &Policy) -> Result<(), String> {
    for option in &column.options {
        if let ColumnOption::ForeignKey(key) = &option.option
            && !is_own(plugin, &key.foreign_table)
        {
            return Err(format!(
                "column {} references '{}', outside the plugin's prefix '{}'",
                column.name,
                plain_name(&key.foreign_table),
                plugin.table_prefix()
            ));
        }
    }
    let refused = visit_expressions(column, |expr| match expr {
        Expr::Function(function) if !policy.allows_function(&plain_name(&function.name)) => {
            ControlFlow::Break(plain_name(&function.name).to_ascii_lowercase())
        }
        _ => ControlFlow::Continue(()),
    });
    match refused {
        ControlFlow::Break(name) => Err(format!(
            "column {} calls {name}(), which is not allowed",
            column.name
        )),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Whether `name` is one unqualified name in the plugin's prefix.
fn is_own(plugin: &Plugin, name: &ObjectName) -> bool {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .is_some_and(|ident| plugin.owner_of(&ident.value) == TableOwner::Plugin),
        _ => false,
    }
}

/// `name` as SQLite will store it: one unquoted part, or the whole name as written.
fn plain_name(name: &ObjectName) -> String {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map_or_else(|| name.to_string(), |ident| ident.value.clone()),
        _ => name.to_string(),
    }
}

/// A table or view outside the plugin's prefix that was not among `before` (the names
/// before the migration, lower-cased). The guard refuses creating one, so only ALTER TABLE
/// ... RENAME TO can leave one; [`check_alter`] refuses that from the statement's text,
/// and this check, like PostgreSQL's, holds whatever the parser made of it.
fn stray_relation(
    conn: &Connection,
    plugin: &Plugin,
    before: &HashSet<String>,
) -> rusqlite::Result<Option<String>> {
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY 1")?;
    let names = stmt.query_map([], |row| row.get::<_, String>(0))?;
    for name in names {
        let name = name?;
        // SQLite refuses `sqlite_` names to anyone but itself (sqlite_sequence,
        // sqlite_stat1); `pg_` names are system names only on PostgreSQL.
        let reserved = name
            .get(..7)
            .is_some_and(|start| start.eq_ignore_ascii_case("sqlite_"));
        if plugin.owner_of(&name) != TableOwner::Plugin
            && !reserved
            && !before.contains(&name.to_ascii_lowercase())
        {
            return Ok(Some(name));
        }
    }
    Ok(None)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The check after a migration finds a relation renamed out of the prefix by itself,
    /// without the statement's text.
    #[test]
    fn a_relation_renamed_out_of_the_prefix_is_found_without_the_parser() {
        let plugin = Plugin::new("analytics-db").unwrap();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE quote_db__q (id INTEGER); CREATE TABLE _sql_handler_migrations (a);",
        )
        .unwrap();
        let before: HashSet<String> = ["quote_db__q", "_sql_handler_migrations"]
            .map(str::to_owned)
            .into();
        conn.execute_batch(
            "CREATE TABLE analytics_db__a (id INTEGER PRIMARY KEY AUTOINCREMENT, n UNIQUE);
             CREATE VIEW analytics_db__v AS SELECT n FROM analytics_db__a;",
        )
        .unwrap();
        assert_eq!(stray_relation(&conn, &plugin, &before).unwrap(), None);
        for (rename, stray) in [
            (
                "ALTER TABLE analytics_db__a RENAME TO Quote_db__a",
                "Quote_db__a",
            ),
            ("ALTER TABLE Quote_db__a RENAME TO pg_a", "pg_a"),
            ("ALTER TABLE pg_a RENAME TO \"x y\"", "x y"),
        ] {
            conn.execute_batch(rename).unwrap();
            assert_eq!(
                stray_relation(&conn, &plugin, &before).unwrap().as_deref(),
                Some(stray),
                "{rename}"
            );
        }
    }
}
