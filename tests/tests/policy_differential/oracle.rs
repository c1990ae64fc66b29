//! The SQLite side of the differential check: what a statement the policy accepted really
//! touches, as SQLite itself reports it when it prepares the statement.
//!
//! The statement is prepared (never run) on an in-memory database holding tables and
//! views of the plugin and of others ([`SCHEMA`]), with an authorizer that records every
//! table, view and function SQLite resolves. The policy promised that the statement
//! touches only the plugin's tables and calls only allowed functions; any recorded name
//! that breaks that promise is a [`Problem`].
//!
//! SQLite also reports names that are not schema objects: CTEs and subquery aliases (for
//! the columns of `FULL JOIN ... USING`, SQLite's `sqlite3AuthRead` names the alias). Only
//! names of real objects count, and since a CTE or alias may carry the name of a real
//! table, a recorded read of a name outside the plugin is confirmed before it is reported:
//! a table or view by the statement failing to prepare on the same schema without that
//! object (a CTE or alias of that name prepares either way); the schema table, which no
//! database lacks, by the program opening its b-tree (`EXPLAIN`'s `OpenRead` on page 1);
//! an eponymous virtual table (`dbstat`, `pragma_*`) by the program opening that module's
//! table (`VOpen`). Writes need no confirmation: SQLite writes only to real tables.
//! Independently of the authorizer, every b-tree the program opens (`OpenRead`,
//! `OpenWrite`) must belong to a plugin table or index.
//!
//! Beyond names, the verdict itself is held to what SQLite does: a `SELECT` must be
//! read-only and write nothing, a write must not be read-only and every table it writes
//! must be in `Verdict::tables`, and the placeholder count must be SQLite's parameter
//! list `$1..$n` (else the handler refuses the statement when it binds).
//!
//! # Exemptions
//!
//! - Names that are no schema object (CTEs, subquery aliases, the empty name SQLite gives
//!   the columns of subqueries): they hold only what was read where they were defined, and
//!   that read is recorded and judged on its own.
//! - Reads of the allowed table-valued functions (`json_each`, `json_tree`): SQLite
//!   reports them as reads of the eponymous virtual table of that name, and the policy
//!   allows exactly those (`Policy::allows_table_function`).
//! - `sqlite_sequence`'s b-tree in a statement that inserts into a plugin table: SQLite's
//!   `AUTOINCREMENT` bookkeeping (`autoIncBegin`/`autoIncEnd` in its `insert.c`) reads
//!   and writes it with no authorizer call. A read the statement itself makes is still
//!   reported by the authorizer and confirmed on a database without `sqlite_sequence`.
//! - `SQLITE_SELECT` and `SQLITE_RECURSIVE`, which name nothing.
//! - No function: the names SQLite reports for operators (`->`, `->>`, `like`, `glob`)
//!   are on the policy's list.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use sql_core::{Plugin, Policy, StatementKind, TableOwner, Verdict, is_system_name};

/// The schema every statement is prepared against, one object per entry with the objects
/// it depends on: the plugin's tables (one of them `AUTOINCREMENT`, so that SQLite keeps
/// `sqlite_sequence`, one `WITHOUT ROWID` with a mixed-case name) and a view; another
/// plugin's table and view; an unprefixed table; a table whose name misses the prefix by
/// one underscore; indexes.
pub(crate) const SCHEMA: &[(&str, &[&str], &str)] = &[
    (
        "analytics_db__events",
        &[],
        "CREATE TABLE analytics_db__events (id INTEGER PRIMARY KEY, user_id TEXT, name TEXT, n INTEGER)",
    ),
    (
        "analytics_db__tags",
        &[],
        "CREATE TABLE analytics_db__tags (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id INTEGER, name TEXT, n INTEGER, UNIQUE (event_id, name))",
    ),
    (
        "Analytics_DB__Mixed",
        &[],
        "CREATE TABLE \"Analytics_DB__Mixed\" (id INTEGER PRIMARY KEY, name TEXT) WITHOUT ROWID",
    ),
    (
        "analytics_db__events_by_user",
        &["analytics_db__events"],
        "CREATE INDEX analytics_db__events_by_user ON analytics_db__events (user_id, n)",
    ),
    (
        "analytics_db__recent",
        &["analytics_db__events"],
        "CREATE VIEW analytics_db__recent AS SELECT id, name, n FROM analytics_db__events WHERE n > 0",
    ),
    (
        "quote_db__quotes",
        &[],
        "CREATE TABLE quote_db__quotes (id INTEGER PRIMARY KEY, text TEXT)",
    ),
    (
        "quote_db__quotes_by_text",
        &["quote_db__quotes"],
        "CREATE INDEX quote_db__quotes_by_text ON quote_db__quotes (text)",
    ),
    (
        "quote_db__recent",
        &["quote_db__quotes"],
        "CREATE VIEW quote_db__recent AS SELECT id, text FROM quote_db__quotes",
    ),
    (
        "events",
        &[],
        "CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT)",
    ),
    (
        "analytics_db_events",
        &[],
        "CREATE TABLE analytics_db_events (id INTEGER PRIMARY KEY, name TEXT)",
    ),
];

/// Rows, so that the planner sees non-empty tables and `sqlite_sequence` has a row.
const DATA: &str = "
    INSERT INTO analytics_db__events (user_id, name, n) VALUES ('u1', 'a', 1), ('u2', 'b', 2);
    INSERT INTO analytics_db__tags (event_id, name, n) VALUES (1, 'x', 1);
    INSERT INTO quote_db__quotes (text) VALUES ('q');
";

/// Makes `sqlite_stat1` (and `sqlite_stat4` where compiled in).
const STATISTICS: &str = "ANALYZE";

/// The schema tables, which every database has: a read of one is confirmed by the program
/// opening page 1 (of `main`, 0, or `temp`, 1).
const SCHEMA_TABLES: &[(&str, i64)] = &[
    ("sqlite_schema", 0),
    ("sqlite_master", 0),
    ("sqlite_temp_schema", 1),
    ("sqlite_temp_master", 1),
];

/// What an authorizer call was about, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Access {
    Read {
        table: String,
        column: String,
    },
    Write {
        action: &'static str,
        table: String,
    },
    Function(String),
    /// `SELECT` and recursive-CTE checks, which name nothing.
    Query,
    /// Any other action: none belongs in a statement the policy accepts.
    Other(String),
}

impl Access {
    fn of(action: &AuthAction<'_>) -> Self {
        match *action {
            AuthAction::Read {
                table_name,
                column_name,
            } => Self::Read {
                table: table_name.to_owned(),
                column: column_name.to_owned(),
            },
            AuthAction::Insert { table_name } => Self::Write {
                action: "INSERT",
                table: table_name.to_owned(),
            },
            AuthAction::Update { table_name, .. } => Self::Write {
                action: "UPDATE",
                table: table_name.to_owned(),
            },
            AuthAction::Delete { table_name } => Self::Write {
                action: "DELETE",
                table: table_name.to_owned(),
            },
            AuthAction::Function { function_name } => Self::Function(function_name.to_owned()),
            AuthAction::Select | AuthAction::Recursive => Self::Query,
            ref other => Self::Other(format!("{other:?}")),
        }
    }
}

/// A schema object of the test database, by lower-cased name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Object {
    /// A table (system tables included) and the root pages of it and its indexes, as
    /// (database number, page).
    Table {
        roots: Vec<(i64, i64)>,
    },
    View,
    /// An eponymous virtual table and the `vtab:` address its `VOpen` shows.
    Module {
        vtab: Option<String>,
    },
}

/// One way an accepted statement broke the policy's promise, as SQLite saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A table or view outside the plugin's prefix was read or written.
    ForeignObject { action: String, name: String },
    /// A system table (`sqlite_*`) was read or written.
    SystemObject { action: String, name: String },
    /// An eponymous virtual table other than the allowed table functions was read.
    VirtualTable { name: String },
    /// The program opens a b-tree of a table the plugin does not own.
    ForeignBtree { table: String, write: bool },
    /// A function the policy does not allow was called.
    Function { name: String },
    /// An authorizer action no accepted statement should cause (DDL, PRAGMA, ATTACH, ...).
    Action { action: String },
    /// The policy's statement kind disagrees with what SQLite does.
    Kind {
        policy: StatementKind,
        detail: String,
    },
    /// A table SQLite writes is missing from the verdict's tables.
    UnlistedWrite { table: String },
    /// The verdict's placeholder count disagrees with SQLite's parameters: the handler
    /// would refuse the statement at run time.
    Placeholders { policy: usize, sqlite: String },
    /// SQLite failed at something that should not fail after the statement prepared.
    Engine { detail: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ForeignObject { action, name } => {
                write!(f, "{action} of {name}, which the plugin does not own")
            }
            Self::SystemObject { action, name } => write!(f, "{action} of system table {name}"),
            Self::VirtualTable { name } => write!(f, "read of virtual table {name}"),
            Self::ForeignBtree { table, write } => write!(
                f,
                "the program opens the b-tree of {table} for {}",
                if *write { "writing" } else { "reading" }
            ),
            Self::Function { name } => write!(f, "call of {name}, which the policy refuses"),
            Self::Action { action } => write!(f, "authorizer action {action}"),
            Self::Kind { policy, detail } => {
                write!(f, "the policy says {}, but {detail}", policy.as_str())
            }
            Self::UnlistedWrite { table } => {
                write!(f, "SQLite writes {table}, which the verdict does not list")
            }
            Self::Placeholders { policy, sqlite } => {
                write!(
                    f,
                    "the verdict counts {policy} placeholders; SQLite has {sqlite}"
                )
            }
            Self::Engine { detail } => write!(f, "SQLite: {detail}"),
        }
    }
}

/// The problems of one accepted statement, with what SQLite reported, for the failure
/// message.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    problems: Vec<Problem>,
    accesses: Vec<Access>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(f, "  SQLite's authorizer saw:")?;
        for access in &self.accesses {
            match access {
                Access::Read { table, column } => write!(f, " read {table}.{column};")?,
                Access::Write { action, table } => write!(f, " {action} {table};")?,
                Access::Function(name) => write!(f, " call {name};")?,
                Access::Query => {}
                Access::Other(action) => write!(f, " {action};")?,
            }
        }
        Ok(())
    }
}

/// The outcome of a statement the policy accepted.
#[derive(Debug)]
pub(crate) enum Checked {
    /// SQLite prepared it and nothing it touches breaks the policy's promise.
    Prepared,
    /// SQLite could not prepare it (a column the schema lacks, say): it can touch nothing.
    NotPrepared,
}

/// The test database with its recording authorizer.
pub(crate) struct Oracle {
    conn: Connection,
    log: Arc<Mutex<Vec<Access>>>,
    plugin: Plugin,
    policy: Policy,
    objects: HashMap<String, Object>,
    /// Lower-cased table name of every root page, by (database number, page).
    roots: HashMap<(i64, i64), String>,
    /// Databases without one object each, made when a read of that object needs
    /// confirming.
    without: HashMap<String, Connection>,
}

impl fmt::Debug for Oracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oracle")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl Oracle {
    /// The test database, judging statements as `plugin`'s.
    pub(crate) fn new(plugin: Plugin) -> rusqlite::Result<Self> {
        let mut conn = open_schema(None)?;
        let (objects, roots) = read_schema(&conn)?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Access::of(&ctx.action));
            Authorization::Allow
        }))?;
        Ok(Self {
            conn,
            log,
            plugin,
            policy: Policy::default(),
            objects,
            roots,
            without: HashMap::new(),
        })
    }

    /// Prepares `sql`, which the policy accepted with `verdict`, and reports every way in
    /// which what SQLite resolves breaks the policy's promise.
    pub(crate) fn check(&mut self, sql: &str, verdict: &Verdict) -> Result<Checked, Violation> {
        self.take_log();
        let prepared = self.conn.prepare(sql).map(|stmt| {
            let parameters = parameters(&stmt, verdict.placeholders());
            (stmt.readonly(), parameters)
        });
        let accesses = self.take_log();
        let Ok((readonly, parameters)) = prepared else {
            return Ok(Checked::NotPrepared);
        };
        let mut problems = Vec::new();
        let program = match self.program(sql) {
            Ok(program) => program,
            Err(err) => {
                problems.push(Problem::Engine {
                    detail: format!("EXPLAIN failed after the statement prepared: {err}"),
                });
                Program::default()
            }
        };
        self.judge_accesses(sql, verdict, &accesses, &program, &mut problems);
        self.judge_program(&accesses, &program, &mut problems);
        judge_kind(verdict, readonly, &accesses, &mut problems);
        if let Err(sqlite) = parameters {
            problems.push(Problem::Placeholders {
                policy: verdict.placeholders(),
                sqlite,
            });
        }
        // A table read in several places is one problem.
        let mut seen = Vec::new();
        problems.retain(|problem| {
            let new = !seen.contains(problem);
            if new {
                seen.push(problem.clone());
            }
            new
        });
        if problems.is_empty() {
            Ok(Checked::Prepared)
        } else {
            Err(Violation { problems, accesses })
        }
    }

    fn take_log(&self) -> Vec<Access> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The b-trees and virtual tables the prepared program opens.
    fn program(&self, sql: &str) -> rusqlite::Result<Program> {
        let result = explain(&self.conn, sql);
        // The EXPLAIN statement was authorized too; its accesses are the statement's again.
        self.take_log();
        result
    }

    fn judge_accesses(
        &mut self,
        sql: &str,
        verdict: &Verdict,
        accesses: &[Access],
        program: &Program,
        problems: &mut Vec<Problem>,
    ) {
        for access in accesses {
            match access {
                Access::Read { table, .. } => {
                    if let Some(problem) = self.judge_read(sql, table, program) {
                        problems.push(problem);
                    }
                }
                Access::Write { action, table } => {
                    let action = (*action).to_owned();
                    match self.plugin.owner_of(table) {
                        TableOwner::Plugin => {
                            if !verdict.tables().contains(&table.to_ascii_lowercase()) {
                                problems.push(Problem::UnlistedWrite {
                                    table: table.clone(),
                                });
                            }
                        }
                        TableOwner::System => problems.push(Problem::SystemObject {
                            action,
                            name: table.clone(),
                        }),
                        _ => problems.push(Problem::ForeignObject {
                            action,
                            name: table.clone(),
                        }),
                    }
                }
                Access::Function(name) => {
                    if !self.policy.allows_function(name) {
                        problems.push(Problem::Function { name: name.clone() });
                    }
                }
                Access::Query => {}
                Access::Other(action) => problems.push(Problem::Action {
                    action: action.clone(),
                }),
            }
        }
    }

    /// A read of `table` that breaks the promise, confirmed as described in the module
    /// docs; `None` for the plugin's objects, allowed table functions and names that are no
    /// real object here.
    fn judge_read(&mut self, sql: &str, table: &str, program: &Program) -> Option<Problem> {
        let lower = table.to_ascii_lowercase();
        let object = self.objects.get(&lower)?.clone();
        if self.plugin.owner_of(&lower) == TableOwner::Plugin {
            return None;
        }
        let confirmed = match &object {
            Object::Table { roots } if SCHEMA_TABLES.iter().any(|(name, _)| *name == lower) => {
                roots.iter().any(|root| program.btrees.contains_key(root))
            }
            Object::Table { .. } | Object::View => self.needs(sql, &lower),
            Object::Module { vtab } => {
                if self.policy.allows_table_function(&lower) {
                    return None;
                }
                // A module whose address is unknown is confirmed by any virtual table.
                vtab.as_ref()
                    .map_or(!program.vtabs.is_empty(), |v| program.vtabs.contains(v))
            }
        };
        if !confirmed {
            return None;
        }
        let action = "read".to_owned();
        Some(match (object, self.plugin.owner_of(&lower)) {
            (Object::Module { .. }, _) => Problem::VirtualTable { name: lower },
            (_, TableOwner::System) => Problem::SystemObject {
                action,
                name: lower,
            },
            _ => Problem::ForeignObject {
                action,
                name: lower,
            },
        })
    }

    /// Whether `sql` needs the object `name`: it does not prepare on the schema without it.
    fn needs(&mut self, sql: &str, name: &str) -> bool {
        if !self.without.contains_key(name) {
            match open_schema(Some(name)) {
                Ok(conn) => {
                    self.without.insert(name.to_owned(), conn);
                }
                // Without the second database the read cannot be ruled out.
                Err(_) => return true,
            }
        }
        self.without
            .get(name)
            .is_none_or(|conn| conn.prepare(sql).is_err())
    }

    /// Every b-tree the program opens must belong to a plugin table. SQLite's own
    /// bookkeeping is exempt: an `INSERT` into an `AUTOINCREMENT` table updates
    /// `sqlite_sequence` without an authorizer call.
    fn judge_program(&self, accesses: &[Access], program: &Program, problems: &mut Vec<Problem>) {
        let inserts_own = accesses.iter().any(|a| {
            matches!(a, Access::Write { action: "INSERT", table }
                if self.plugin.owner_of(table) == TableOwner::Plugin)
        });
        for (root, write) in &program.btrees {
            let Some(table) = self.roots.get(root) else {
                problems.push(Problem::Engine {
                    detail: format!("the program opens b-tree {root:?}, which is in no table"),
                });
                continue;
            };
            if self.plugin.owner_of(table) == TableOwner::Plugin
                || (table == "sqlite_sequence" && inserts_own)
            {
                continue;
            }
            problems.push(Problem::ForeignBtree {
                table: table.clone(),
                write: *write,
            });
        }
    }
}

/// The statement kind against SQLite's view: a `SELECT` is read-only and writes no table,
/// a write is not read-only.
fn judge_kind(verdict: &Verdict, readonly: bool, accesses: &[Access], problems: &mut Vec<Problem>) {
    let writes: Vec<&String> = accesses
        .iter()
        .filter_map(|a| match a {
            Access::Write { table, .. } => Some(table),
            _ => None,
        })
        .collect();
    let policy = verdict.kind();
    if !verdict.writes() && !readonly {
        problems.push(Problem::Kind {
            policy,
            detail: "SQLite says the statement is not read-only".to_owned(),
        });
    }
    if !verdict.writes() && !writes.is_empty() {
        problems.push(Problem::Kind {
            policy,
            detail: format!("SQLite writes {writes:?}"),
        });
    }
    if verdict.writes() && readonly {
        problems.push(Problem::Kind {
            policy,
            detail: "SQLite says the statement is read-only".to_owned(),
        });
    }
}

/// Checks that the statement's parameters are exactly `$1..$n`, as the handler binds
/// them (by name, refusing a count mismatch).
fn parameters(stmt: &rusqlite::Statement<'_>, n: usize) -> Result<(), String> {
    let count = stmt.parameter_count();
    let missing: Vec<String> = (1..=n)
        .map(|k| format!("${k}"))
        .filter(|name| !matches!(stmt.parameter_index(name), Ok(Some(_))))
        .collect();
    if count == n && missing.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = (1..=count)
            .map(|i| stmt.parameter_name(i).unwrap_or("?").to_owned())
            .collect();
        Err(format!("{count} parameters {names:?}"))
    }
}

/// What `EXPLAIN` shows a program opening.
#[derive(Debug, Default)]
struct Program {
    /// (database number, root page) of every table or index cursor, and whether any
    /// cursor on it writes.
    btrees: HashMap<(i64, i64), bool>,
    /// The `vtab:` address of every virtual-table cursor.
    vtabs: HashSet<String>,
}

fn explain(conn: &Connection, sql: &str) -> rusqlite::Result<Program> {
    let mut stmt = conn.prepare(&format!("EXPLAIN {sql}"))?;
    // The parameters stay unbound: EXPLAIN lists the program without running it.
    let mut rows = stmt.raw_query();
    let mut program = Program::default();
    while let Some(row) = rows.next()? {
        let opcode: String = row.get(1)?;
        match opcode.as_str() {
            // `OpenDup` and `OpenEphemeral`/`OpenAutoindex`/`OpenPseudo` open no schema
            // b-tree; `OpenRead` and `OpenWrite` name the root page in p2 and the
            // database in p3. `ReopenIdx` is an `OpenRead` that may reuse a cursor.
            "OpenRead" | "OpenWrite" | "ReopenIdx" => {
                let page: i64 = row.get(3)?;
                let db: i64 = row.get(4)?;
                let write = opcode == "OpenWrite";
                *program.btrees.entry((db, page)).or_insert(false) |= write;
            }
            "VOpen" => {
                let vtab: Option<String> = row.get(5)?;
                program.vtabs.extend(vtab);
            }
            _ => {}
        }
    }
    Ok(program)
}

/// The test database, or with `without` the same database without that object and the
/// objects that depend on it. SQLite makes `sqlite_sequence` for `AUTOINCREMENT` and
/// `sqlite_stat1` for `ANALYZE`; without those, it has neither.
fn open_schema(without: Option<&str>) -> rusqlite::Result<Connection> {
    let skip = |name: &str| without.is_some_and(|w| w.eq_ignore_ascii_case(name));
    let conn = Connection::open_in_memory()?;
    for (name, depends, sql) in SCHEMA {
        if skip(name) || depends.iter().any(|d| skip(d)) {
            continue;
        }
        if skip("sqlite_sequence") {
            conn.execute_batch(&sql.replace(" AUTOINCREMENT", ""))?;
        } else {
            conn.execute_batch(sql)?;
        }
    }
    // Rows of a table left out fail to insert; the ablated databases need none.
    if without.is_none() {
        conn.execute_batch(DATA)?;
    }
    if !(skip("sqlite_stat1") || skip("sqlite_stat4")) {
        conn.execute_batch(STATISTICS)?;
    }
    Ok(conn)
}

type Objects = (HashMap<String, Object>, HashMap<(i64, i64), String>);

/// The objects of the test database from `sqlite_schema` and `pragma_module_list`, and
/// the table of each root page.
fn read_schema(conn: &Connection) -> rusqlite::Result<Objects> {
    let mut objects = HashMap::new();
    let mut roots = HashMap::new();
    for &(name, db) in SCHEMA_TABLES {
        objects.insert(
            name.to_owned(),
            Object::Table {
                roots: vec![(db, 1)],
            },
        );
        roots.insert((db, 1), name.to_owned());
    }
    let mut stmt = conn.prepare("SELECT type, name, tbl_name, rootpage FROM sqlite_schema")?;
    let entries = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?.to_ascii_lowercase(),
                row.get::<_, String>(2)?.to_ascii_lowercase(),
                row.get::<_, Option<i64>>(3)?.unwrap_or(0),
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (kind, name, table, root) in entries {
        match kind.as_str() {
            "view" => {
                objects.insert(name, Object::View);
            }
            "table" | "index" if root > 0 => {
                roots.insert((0, root), table.clone());
                let entry = objects
                    .entry(table)
                    .or_insert_with(|| Object::Table { roots: Vec::new() });
                if let Object::Table { roots } = entry {
                    roots.push((0, root));
                }
            }
            // Triggers, and virtual tables (root page 0), are not in this schema.
            _ => {}
        }
    }
    let modules = conn
        .prepare("SELECT name FROM pragma_module_list")?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for module in modules {
        let lower = module.to_ascii_lowercase();
        // Only eponymous modules can be named in FROM without CREATE VIRTUAL TABLE; the
        // others do not prepare and are not objects of this database.
        let quoted = lower.replace('"', "\"\"");
        if let Ok(program) = explain(conn, &format!("SELECT * FROM \"{quoted}\"")) {
            let vtab = program.vtabs.into_iter().next();
            objects.insert(lower, Object::Module { vtab });
        } else if lower.starts_with("pragma_") || is_system_name(&lower) {
            // Table-valued pragmas that need an argument still are virtual tables.
            objects.insert(lower, Object::Module { vtab: None });
        }
    }
    Ok((objects, roots))
}
