//! The compile-time check: the shared policy, the argument count and the typed form's
//! columns, with messages that say what to change.

use std::path::PathBuf;

use sql_core::{Dialect, Plugin, PolicyError, StatementKind};

use super::input::SqlInput;
use super::typed::{self, Facts};
use crate::manifest::{self, Metadata};

/// What the expansion needs to know about a checked call.
pub(crate) struct Checked {
    pub(crate) kind: StatementKind,
    /// Whether this is an INSERT whose rows come later (`Query<Insert, Rows<N>>`).
    pub(crate) template: bool,
    pub(crate) placeholders: usize,
    pub(crate) plugin: String,
    /// The manifest the plugin was declared in, when it came from one.
    pub(crate) manifest: Option<PathBuf>,
    /// The result columns, for `sql!(as T, ...)`.
    pub(crate) columns: Option<Vec<String>>,
    /// What the schema says about the statement, when the crate has migrations.
    pub(crate) facts: Option<Facts>,
}

const HOW_TO_DECLARE: &str = "declare the plugin once in this crate's Cargo.toml:\n\n    [package.metadata.sql-client]\n    plugin = \"your-plugin\"\n\nor name it in the call: sql!(plugin = \"your-plugin\", \"SELECT ...\")";

pub(crate) fn check(input: &SqlInput) -> Result<Checked, syn::Error> {
    let at_sql = |message: String| syn::Error::new(input.sql.span(), message);
    // A call that names its plugin works outside cargo too, without the crate's settings.
    let metadata = match (&input.plugin, manifest::metadata()) {
        (_, Ok(metadata)) => Some(metadata),
        (Some(_), Err(_)) => None,
        (None, Err(e)) => return Err(at_sql(format!("{e}; {HOW_TO_DECLARE}"))),
    };
    let declared = metadata.as_ref().and_then(|m| m.plugin.clone());
    let (plugin_name, manifest) = match (&input.plugin, declared) {
        (Some(lit), _) => (lit.value(), None),
        (None, Some(name)) => (name, metadata.as_ref().map(|m| m.manifest.clone())),
        (None, None) => {
            return Err(at_sql(format!(
                "no plugin is declared for this crate; {HOW_TO_DECLARE}"
            )));
        }
    };
    let plugin = Plugin::new(&plugin_name).map_err(|e| {
        let span = input
            .plugin
            .as_ref()
            .map_or(input.sql.span(), syn::LitStr::span);
        syn::Error::new(span, format!("invalid plugin name {plugin_name:?}: {e}"))
    })?;
    let dialect = dialect(input, metadata.as_ref())?;
    let sql = input.sql.value();
    // The handler checks the trimmed text; positions in it are moved back into the literal.
    let leading = &sql[..sql.len() - sql.trim_start().len()];
    let verdict = sql_core::check(sql.trim(), &plugin, dialect)
        .map_err(|e| at_sql(explain(&e, &plugin, leading)))?;
    let placeholders = verdict.placeholders();
    // An INSERT with placeholders and no arguments is a row template for insert_many.
    let template =
        verdict.kind() == StatementKind::Insert && placeholders > 0 && input.args.is_empty();
    if input.args.len() != placeholders && !template {
        return Err(at_sql(format!(
            "the statement uses {} but {} argument{} given; pass one argument per placeholder, in order{}",
            placeholder_range(placeholders),
            input.args.len(),
            if input.args.len() == 1 {
                " was"
            } else {
                "s were"
            },
            if verdict.kind() == StatementKind::Insert {
                ", or none to make the INSERT a row template for insert_many"
            } else {
                ""
            },
        )));
    }
    let facts = match &metadata {
        Some(metadata) => typed::facts(metadata, &plugin, dialect, sql.trim()).map_err(at_sql)?,
        None => None,
    };
    let from_schema = facts.as_ref().and_then(Facts::column_names);
    let columns = match (&input.row_type, from_schema) {
        (None, _) => None,
        (Some(_), Some(names)) => Some(names),
        (Some(_), None) => Some(sql_core::result_columns(sql.trim(), dialect).ok_or_else(|| {
            at_sql(
                "sql!(as Type, ...) needs an explicit list of result columns (no `*`) so that it can check them against the type's fields; with the plugin's migrations beside the crate (docs/queries.md) `*` works too"
                    .to_owned(),
            )
        })?),
    };
    Ok(Checked {
        kind: verdict.kind(),
        template,
        placeholders,
        plugin: plugin.name().to_owned(),
        manifest,
        columns,
        facts,
    })
}

/// The call's `dialect = ...`, else the crate's, else SQLite.
fn dialect(input: &SqlInput, metadata: Option<&Metadata>) -> Result<Dialect, syn::Error> {
    let (value, span) = match (&input.dialect, metadata.and_then(|m| m.dialect.as_deref())) {
        (Some(lit), _) => (lit.value(), lit.span()),
        (None, Some(declared)) => (declared.to_owned(), input.sql.span()),
        (None, None) => return Ok(Dialect::Sqlite),
    };
    Dialect::from_name(&value).ok_or_else(|| {
        syn::Error::new(
            span,
            format!("unknown dialect {value:?}; expected \"sqlite\" or \"postgres\""),
        )
    })
}

fn placeholder_range(n: usize) -> String {
    match n {
        0 => "no placeholders".to_owned(),
        1 => "1 placeholder ($1)".to_owned(),
        n => format!("{n} placeholders ($1..${n})"),
    }
}

/// The policy's refusal, with the fix. `leading` is the whitespace trimmed off the
/// literal's start before the check, so that a position counts from the literal's first
/// line (the line of its opening quote) and first column, as the user sees it.
fn explain(error: &PolicyError, plugin: &Plugin, leading: &str) -> String {
    let prefix = plugin.table_prefix();
    match error {
        PolicyError::Parse {
            message,
            line: Some(line),
            column: Some(column),
        } => {
            let (line, column) = in_literal(leading, *line, *column);
            format!("the SQL does not parse at line {line}, column {column}: {message}")
        }
        PolicyError::Parse { message, .. } => format!("the SQL does not parse: {message}"),
        PolicyError::Empty => {
            "the SQL is empty; write one SELECT, INSERT, UPDATE or DELETE statement".to_owned()
        }
        PolicyError::StackedQueries { count } => format!(
            "the SQL holds {count} statements; sql! takes exactly one, so split them into separate queries"
        ),
        PolicyError::ForbiddenStatement { statement_type } => {
            explain_forbidden(statement_type, plugin)
        }
        PolicyError::ForbiddenFunction { function } => format!(
            "function {function}() is not allowed; use a function from the allowlist (a deployment can extend it with sql-handler --allow-function)"
        ),
        PolicyError::NamespaceViolation { table, .. } if table.contains('.') => format!(
            "table '{table}' is qualified; plugin '{}' may only name its own tables, unqualified, starting with '{prefix}'",
            plugin.name()
        ),
        // A name with `__` already carries some plugin's prefix: suggesting ours would mislead.
        PolicyError::NamespaceViolation { table, .. } if table.contains("__") => format!(
            "table '{table}' belongs to another plugin; plugin '{}' may only use its own tables, which start with '{prefix}'",
            plugin.name()
        ),
        PolicyError::NamespaceViolation { table, .. } => format!(
            "table '{table}' is outside plugin '{}': its tables start with '{prefix}' (did you mean '{prefix}{table}'?)",
            plugin.name()
        ),
        PolicyError::SystemTableAccess { table } => {
            format!(
                "system table '{table}' is not accessible to plugins; query your own tables ('{prefix}...')"
            )
        }
        PolicyError::InvalidPlaceholder {
            placeholder,
            reason,
        } => format!("invalid placeholder {placeholder}: {reason}"),
        other => other.to_string(),
    }
}

/// A 1-based position in the trimmed SQL as a position in the literal, which starts with
/// `leading`. Lines and columns count as the parser counts them: a line ends at `\n`, and
/// every other character is one column.
fn in_literal(leading: &str, line: u64, column: u64) -> (u64, u64) {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let newlines = count(leading.matches('\n').count());
    // On the first line of the trimmed SQL, the leading text's last line comes first.
    let shift = if line == 1 {
        count(
            leading
                .rsplit('\n')
                .next()
                .map_or(0, |last| last.chars().count()),
        )
    } else {
        0
    };
    (line.saturating_add(newlines), column.saturating_add(shift))
}

/// Why a kind of statement is refused, and what the plugin does instead. The policy names
/// the refused statement by its leading keywords (`DROP TABLE`, `PRAGMA`, `BEGIN`) or by
/// what it found inside one (`data-modifying CTE`, `SELECT INTO`, `XMLTABLE`); anything
/// not listed here gets the general rule, never a fix that would not apply.
fn explain_forbidden(statement_type: &str, plugin: &Plugin) -> String {
    /// What migrations create (TRIGGER on SQLite only): `CREATE`, `ALTER` or `DROP` of
    /// anything else is refused there too (sql-handler's migration checks), so it gets no
    /// pointer to them.
    const SCHEMA_OBJECTS: &[&str] = &[
        "",
        "TABLE",
        "INDEX",
        "VIEW",
        "MATERIALIZED VIEW",
        "TRIGGER",
        "SEQUENCE",
        "TYPE",
        "DOMAIN",
    ];
    let (name, prefix) = (plugin.name(), plugin.table_prefix());
    let migration = format!("migrations/{name}/NNN_name.sql");
    let (first, object) = statement_type
        .split_once(' ')
        .map_or((statement_type, ""), |(first, object)| (first, object));
    let rule = "plugins run SELECT, INSERT, UPDATE and DELETE only";
    let schema_change = match first {
        "CREATE" | "ALTER" | "DROP" => SCHEMA_OBJECTS.contains(&object),
        "COMMENT" | "REFRESH" => true,
        _ => false,
    };
    match (first, object) {
        _ if schema_change => format!(
            "{statement_type} is not allowed: {rule}; schema changes belong in a migration ({migration})"
        ),
        ("CREATE" | "ALTER" | "DROP", _) => format!(
            "{statement_type} is not allowed: plugins run SELECT, INSERT, UPDATE and DELETE, and their migrations ({migration}) create tables, views and indexes, not this; roles, schemas, extensions and functions belong to the deployment"
        ),
        ("data-modifying", "CTE") => "a data-modifying CTE is not allowed: a write cannot run inside another statement; run each INSERT, UPDATE or DELETE as a statement of its own, and its RETURNING clause gives the rows (SqlClient::execute returns them)".to_owned(),
        ("nested", "statement") => {
            "a statement nested in another is not allowed; run it as a statement of its own"
                .to_owned()
        }
        ("BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE", _) => format!(
            "{statement_type} is not allowed: the handler runs each query in a transaction of its own and commits it, so a query cannot begin, end or split one; write several rows at once with insert_many (one transaction: all rows or none), or make the change one statement (INSERT ... SELECT, UPDATE ... WHERE)"
        ),
        ("SELECT", "FOR UPDATE") | ("LOCK", _) => format!(
            "{statement_type} is not allowed: each query runs in a transaction of its own, so a lock would be released as soon as the query ends; drop the lock, or make the change one UPDATE ... WHERE ... RETURNING, which is atomic"
        ),
        ("SELECT", "INTO") => format!(
            "SELECT INTO is not allowed: it creates a table; create the table in a migration ({migration}) and fill it with INSERT INTO {prefix}... SELECT ..."
        ),
        ("PRAGMA", _) => format!(
            "PRAGMA is not allowed: the connection's settings are the handler's, and a plugin's schema is the one its migrations create ({migration}); read your data with SELECT"
        ),
        ("ATTACH" | "DETACH", _) => format!(
            "{statement_type} is not allowed: plugins work in the handler's database, on their own tables only ('{prefix}...'); keep the data in a table of yours, created by a migration ({migration})"
        ),
        ("SET" | "RESET" | "SHOW", _) => format!(
            "{statement_type} is not allowed: session settings belong to the handler, which runs each query under the plugin's role with its own limits; give a query its own timeout or row limit with `.timeout(...)` or `.max_rows(...)` on the Query"
        ),
        ("EXPLAIN" | "DESCRIBE" | "DESC", _) => format!(
            "{statement_type} is not allowed: {rule}; look at query plans on a copy of the database, with sqlite3 or psql"
        ),
        ("VACUUM" | "ANALYZE" | "REINDEX" | "CHECKPOINT" | "CLUSTER", _) => format!(
            "{statement_type} is not allowed: database maintenance is the operator's job; {rule}"
        ),
        ("TRUNCATE", _) => format!(
            "TRUNCATE is not allowed: to remove every row, run DELETE FROM {prefix}... without WHERE, with SqlClient::delete"
        ),
        ("COPY", _) => {
            "COPY is not allowed: the database server's files and streams are not a plugin's; read rows with SELECT and write them with INSERT (insert_many sends up to 1000 rows in one transaction)".to_owned()
        }
        ("MERGE", _) => {
            "MERGE is not allowed: write an upsert, INSERT ... ON CONFLICT (...) DO UPDATE SET ..., or separate UPDATE, INSERT and DELETE statements".to_owned()
        }
        ("GRANT" | "REVOKE" | "REASSIGN", _) => format!(
            "{statement_type} is not allowed: privileges are the deployment's; plugin '{name}' owns its own tables and nothing else, so there is nothing to grant or revoke"
        ),
        ("CALL" | "DO" | "PREPARE" | "EXECUTE" | "DEALLOCATE", _) => format!(
            "{statement_type} is not allowed: plugins do not run procedures, code blocks or prepared statements of their own; send each SELECT, INSERT, UPDATE or DELETE as a query (the handler prepares it, with its arguments)"
        ),
        ("LISTEN" | "NOTIFY" | "UNLISTEN", _) => format!(
            "{statement_type} is not allowed: database notifications are not available to plugins; publish and subscribe on NATS instead"
        ),
        ("DECLARE" | "FETCH" | "MOVE" | "CLOSE", _) => format!(
            "{statement_type} is not allowed: cursors do not outlive a query, and each query is a request of its own; page through rows with ORDER BY and LIMIT (... WHERE id > $1 ORDER BY id LIMIT 100)"
        ),
        ("TABLE()" | "JSON_TABLE" | "XMLTABLE" | "PIVOT" | "UNPIVOT" | "MATCH_RECOGNIZE", _)
        | ("FROM", "item") => format!(
            "{} is not allowed in FROM: read from your own tables ('{prefix}...'), CTEs and subqueries",
            if statement_type == "FROM item" {
                "this FROM item"
            } else {
                statement_type
            }
        ),
        ("query", "clause") => {
            "this query clause is not allowed: FOR XML, FOR JSON, FORMAT, SETTINGS and pipe syntax belong to other databases; write the query in SQLite's or PostgreSQL's SQL".to_owned()
        }
        ("INSERT", "INTO FUNCTION") => format!(
            "INSERT INTO FUNCTION is not allowed: insert into one of your own tables ('{prefix}...')"
        ),
        ("write", "to a derived table") => format!(
            "writing to a derived table is not allowed: UPDATE and DELETE write to a named table; name your table ('{prefix}...') as the target and put the subquery in WHERE"
        ),
        _ => format!("{statement_type} is not allowed: {rule}"),
    }
}
