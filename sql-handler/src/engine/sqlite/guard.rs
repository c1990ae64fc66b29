//! The engine-level guard: a SQLite authorizer that applies the plugin's table prefix, the
//! function allowlist and the statement-kind rules at prepare time, independently of the
//! parser check (PROTOCOL.md section 5).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use sql_core::{Plugin, Policy, TableOwner};

use crate::engine::Denial;

/// What the guarded connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardMode {
    /// A plugin request: reads and writes of the plugin's own tables only.
    Request,
    /// A plugin's migration: also DDL on the plugin's own objects.
    Migration,
}

/// Authorizer state for one request or migration.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    plugin: Plugin,
    policy: Arc<Policy>,
    mode: GuardMode,
    /// Lower-cased names of the database's real tables, views and virtual-table modules.
    schema: Arc<HashSet<String>>,
    denial: Arc<Mutex<Option<Denial>>>,
    /// Whether SQLite authorized a call of a function outside [`STEP_BOUNDED_FUNCTIONS`]
    /// while preparing (views included).
    unbounded_call: Arc<AtomicBool>,
    /// The plugin's own table that the statement being run alters, once SQLite has
    /// authorized its ALTER TABLE in a migration; cleared by [`Guard::begin_statement`].
    altering: Arc<Mutex<Option<String>>>,
}

/// Functions whose one call does work at most linear in its arguments (which
/// `SQLITE_LIMIT_LENGTH` bounds) or watches the statement's clock (`super::functions`):
/// a statement calling only these never spends long inside one SQLite step, so it can run
/// on the request's own thread under a step budget (`super::inline`). Scalar `min` and
/// `max`, JSON and date functions are not among them (`super::functions` says why).
const STEP_BOUNDED_FUNCTIONS: &[&str] = &[
    "abs",
    "avg",
    "char",
    "coalesce",
    "count",
    "glob",
    "hex",
    "ifnull",
    "iif",
    "instr",
    "length",
    "like",
    "lower",
    "ltrim",
    "nullif",
    "quote",
    "random",
    "replace",
    "round",
    "rtrim",
    "sign",
    "substr",
    "substring",
    "sum",
    "total",
    "trim",
    "typeof",
    "unhex",
    "unicode",
    "upper",
];

fn is_step_bounded(name: &str) -> bool {
    STEP_BOUNDED_FUNCTIONS
        .iter()
        .any(|bounded| bounded.eq_ignore_ascii_case(name))
}

/// The guard of whatever a connection is running, read by the one authorizer installed
/// when the connection opened. Setting a connection's authorizer expires every statement
/// prepared on it, so requests change the guard here instead, and the connection's cached
/// statements stay prepared. With no guard set (the handler's own statements) everything
/// is allowed, as with no authorizer.
///
/// SQLite consults the authorizer whenever it prepares a statement, including when it
/// prepares a cached one again after a schema change: that happens while the request that
/// runs it has its guard set.
#[derive(Debug, Clone, Default)]
pub(crate) struct GuardSlot(Arc<Mutex<Option<Guard>>>);

impl GuardSlot {
    /// Makes this slot the authorizer of `conn`.
    pub(crate) fn install(&self, conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
        let slot = self.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            match &*slot.0.lock().unwrap_or_else(PoisonError::into_inner) {
                Some(guard) => guard.decide(&ctx),
                None => Authorization::Allow,
            }
        }))
    }

    /// Guards what the connection runs next with `guard`, or nothing with `None`.
    pub(crate) fn set(&self, guard: Option<Guard>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = guard;
    }
}

impl Guard {
    pub(crate) fn new(
        plugin: Plugin,
        policy: Arc<Policy>,
        mode: GuardMode,
        schema: Arc<HashSet<String>>,
    ) -> Self {
        Self {
            plugin,
            policy,
            mode,
            schema,
            denial: Arc::new(Mutex::new(None)),
            unbounded_call: Arc::new(AtomicBool::new(false)),
            altering: Arc::new(Mutex::new(None)),
        }
    }

    /// Installs the guard on `conn` until [`Guard::uninstall`].
    pub(crate) fn install(&self, conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
        let guard = self.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| guard.decide(&ctx)))
    }

    /// Removes any guard from `conn`, so the handler's own statements (BEGIN, COMMIT,
    /// bookkeeping) run unchecked.
    pub(crate) fn uninstall(conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
        conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)
    }

    /// The first thing the guard refused, if any.
    pub(crate) fn denial(&self) -> Option<Denial> {
        self.denial
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the statements prepared under this guard call a function whose one call
    /// can run long (see [`STEP_BOUNDED_FUNCTIONS`]).
    pub(crate) fn saw_unbounded_call(&self) -> bool {
        self.unbounded_call.load(Ordering::Relaxed)
    }

    pub(crate) fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Marks the start of the next statement: what the guard allowed the previous one's
    /// ALTER TABLE ends here. The authorizer has no such callback, so whoever runs the
    /// statements one by one calls this before preparing each.
    pub(crate) fn begin_statement(&self) {
        *self.altering.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The plugin's own table that the statement just prepared alters, if it is an ALTER
    /// TABLE of one (migrations only).
    pub(crate) fn altered_table(&self) -> Option<String> {
        self.altering
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn decide(&self, ctx: &AuthContext<'_>) -> Authorization {
        match self.judge(ctx) {
            Ok(()) => Authorization::Allow,
            Err(denial) => {
                let mut slot = self.denial.lock().unwrap_or_else(PoisonError::into_inner);
                // SQLite authorizes DDL's write to sqlite_schema before the DDL action
                // itself; the statement kind is the better explanation.
                if slot.is_none() || matches!(denial, Denial::Action(_)) {
                    *slot = Some(denial);
                }
                Authorization::Deny
            }
        }
    }

    fn judge(&self, ctx: &AuthContext<'_>) -> Result<(), Denial> {
        let migration = self.mode == GuardMode::Migration;
        // Requests never lock: only a migration's ALTER TABLE sets it.
        let altering = if migration {
            self.altered_table()
        } else {
            None
        };
        // Only the main database holds plugin tables; `temp` objects are not allowed.
        // ALTER TABLE names its database in the action, and SQLite passes DROP COLUMN's
        // column in this slot (alter.c, sqlite3AlterDropColumn).
        if let Some(db) = ctx.database_name
            && db != "main"
            && !matches!(
                ctx.action,
                AuthAction::Function { .. } | AuthAction::Select | AuthAction::AlterTable { .. }
            )
            && !(altering.is_some() && db == "temp" && is_temp_schema_access(&ctx.action))
        {
            return Err(Denial::Action("access to a database other than main"));
        }
        match ctx.action {
            AuthAction::Select | AuthAction::Recursive => Ok(()),
            // What SQLite itself runs for an ALTER TABLE of the plugin's own table, which
            // the AlterTable arm below checked before any of this is reported. SQLite
            // prepares the whole ALTER (its nested statements included) before running
            // any of it, and the statement ends at the next `begin_statement`.
            //
            // RENAME TO / RENAME COLUMN / DROP COLUMN rewrite the schema's SQL text with
            // internal functions and check every object still parses. The functions are
            // flagged SQLITE_FUNC_INTERNAL: SQLite resolves them only inside its own
            // nested statements (a plugin's call is "no such function" after the
            // authorizer), so allowing their names here lets through only SQLite's own
            // rewriting, not a plugin's call; the names are exact, not a prefix.
            AuthAction::Function { function_name }
                if altering.is_some() && is_alter_table_function(function_name) =>
            {
                Ok(())
            }
            // The same rewriting and check of the connection's temp schema. A plugin can
            // create nothing there (CREATE TEMP ... falls to the catch-all), so the temp
            // schema holds nothing of another plugin.
            AuthAction::Read { table_name, .. } | AuthAction::Update { table_name, .. }
                if altering.is_some()
                    && ctx.database_name == Some("temp")
                    && is_temp_schema(table_name) =>
            {
                Ok(())
            }
            // ADD COLUMN on a STRICT table, or with a CHECK constraint, checks the
            // existing rows with `pragma_quick_check(<table>)`. It reads only integrity
            // messages; the Pragma arm below refuses it for any table but the one being
            // altered.
            AuthAction::Read { table_name, .. }
                if altering.is_some() && table_name.eq_ignore_ascii_case("pragma_quick_check") =>
            {
                Ok(())
            }
            AuthAction::Pragma {
                pragma_name,
                pragma_value: Some(table),
            } if pragma_name.eq_ignore_ascii_case("quick_check")
                && altering
                    .as_deref()
                    .is_some_and(|altered| altered.eq_ignore_ascii_case(table)) =>
            {
                Ok(())
            }
            AuthAction::Read { table_name, .. }
            | AuthAction::Insert { table_name }
            | AuthAction::Update { table_name, .. }
            | AuthAction::Delete { table_name }
                if migration && is_engine_bookkeeping(table_name) =>
            {
                // DDL records itself in sqlite_schema (and AUTOINCREMENT in
                // sqlite_sequence); the DDL action itself was checked first.
                Ok(())
            }
            // SQLite reports reads of CTEs and subquery aliases too (`SELECT count(*) FROM
            // c`, the columns of `FULL JOIN ... USING`); a name that is no table, view or
            // virtual table holds only what was authorized where it was read. The
            // plugin's own tables, the usual case, pass the first check.
            AuthAction::Read { table_name, .. } => self.table(table_name, true).or_else(|denial| {
                if self.is_real(table_name) {
                    Err(denial)
                } else {
                    Ok(())
                }
            }),
            // DDL starts by writing sqlite_schema and SQLite stops at the first denial,
            // before reporting the DDL action itself.
            AuthAction::Insert { table_name }
            | AuthAction::Update { table_name, .. }
            | AuthAction::Delete { table_name }
                if is_engine_bookkeeping(table_name) && table_name != "sqlite_sequence" =>
            {
                Err(Denial::Action("schema changes outside migrations"))
            }
            AuthAction::Insert { table_name }
            | AuthAction::Update { table_name, .. }
            | AuthAction::Delete { table_name } => self.table(table_name, false),
            AuthAction::Function { function_name } => {
                if self.policy.allows_function(function_name) {
                    if !is_step_bounded(function_name) {
                        self.unbounded_call.store(true, Ordering::Relaxed);
                    }
                    Ok(())
                } else {
                    Err(Denial::Function(function_name.to_ascii_lowercase()))
                }
            }
            // The first AUTOINCREMENT table makes SQLite create its bookkeeping table.
            AuthAction::CreateTable { table_name }
                if migration && table_name == "sqlite_sequence" =>
            {
                Ok(())
            }
            AuthAction::CreateTable { table_name }
            | AuthAction::DropTable { table_name }
            | AuthAction::Analyze { table_name }
                if migration =>
            {
                self.table(table_name, false)
            }
            // The first action SQLite reports for an ALTER TABLE, before any of its own
            // work (the arms above). The new name of RENAME TO is never reported: the
            // migration runner parses it once the statement is prepared, before it runs.
            AuthAction::AlterTable {
                database_name,
                table_name,
            } if migration => {
                if database_name != "main" {
                    return Err(Denial::Action("access to a database other than main"));
                }
                self.table(table_name, false)?;
                *self.altering.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(table_name.to_owned());
                Ok(())
            }
            // UNIQUE and PRIMARY KEY constraints make indexes SQLite names itself.
            AuthAction::CreateIndex {
                index_name,
                table_name,
            } if migration && index_name.starts_with("sqlite_autoindex_") => {
                self.table(table_name, false)
            }
            AuthAction::CreateIndex {
                index_name,
                table_name,
            }
            | AuthAction::DropIndex {
                index_name,
                table_name,
            }
            | AuthAction::CreateTrigger {
                trigger_name: index_name,
                table_name,
            }
            | AuthAction::DropTrigger {
                trigger_name: index_name,
                table_name,
            } if migration => self
                .table(index_name, false)
                .and_then(|()| self.table(table_name, false)),
            AuthAction::CreateView { view_name } | AuthAction::DropView { view_name }
                if migration =>
            {
                self.table(view_name, false)
            }
            AuthAction::Reindex { index_name } if migration => self.table(index_name, false),
            AuthAction::Pragma { .. } => Err(Denial::Action("PRAGMA")),
            AuthAction::Attach { .. } => Err(Denial::Action("ATTACH")),
            AuthAction::Detach { .. } => Err(Denial::Action("DETACH")),
            AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
                Err(Denial::Action("transaction control"))
            }
            // Everything else, DDL in a request included, is denied: a catch-all that allows
            // would turn every new SQLite action into a hole.
            _ => Err(Denial::Action(if migration {
                "this statement in a migration"
            } else {
                "schema changes outside migrations"
            })),
        }
    }

    /// Whether `name` is a table, view or virtual table of the database. The schema table
    /// (`sqlite_master`) is in no list, and the `pragma_*` tables are made when first
    /// named, so those families count whatever the lists say.
    fn is_real(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        sql_core::is_system_name(&lower)
            || lower.starts_with("pragma_")
            || self.schema.contains(&lower)
    }

    fn table(&self, name: &str, read: bool) -> Result<(), Denial> {
        // SQLite reports an empty table name for columns of subqueries, views and CTEs
        // whose underlying tables were authorized on their own.
        if read && (name.is_empty() || self.policy.allows_table_function(name)) {
            return Ok(());
        }
        match self.plugin.owner_of(name) {
            TableOwner::Plugin => Ok(()),
            TableOwner::System => Err(Denial::SystemTable(name.to_owned())),
            _ => Err(Denial::ForeignTable(name.to_owned())),
        }
    }
}

/// SQLite's helpers for ALTER TABLE (alter.c, `aAlterTableFuncs`), all internal.
fn is_alter_table_function(name: &str) -> bool {
    [
        "sqlite_rename_column",
        "sqlite_rename_table",
        "sqlite_rename_test",
        "sqlite_rename_quotefix",
        "sqlite_drop_column",
    ]
    .iter()
    .any(|f| f.eq_ignore_ascii_case(name))
}

/// The temp schema's table, under its old and new names.
fn is_temp_schema(name: &str) -> bool {
    ["sqlite_temp_master", "sqlite_temp_schema"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(name))
}

fn is_temp_schema_access(action: &AuthAction<'_>) -> bool {
    matches!(
        action,
        AuthAction::Read { table_name, .. } | AuthAction::Update { table_name, .. }
            if is_temp_schema(table_name)
    )
}

fn is_engine_bookkeeping(name: &str) -> bool {
    ["sqlite_master", "sqlite_schema", "sqlite_sequence"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(name))
}
