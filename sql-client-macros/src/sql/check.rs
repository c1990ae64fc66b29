//! The compile-time check: the shared policy, the argument count and the typed form's
//! columns, with messages that say what to change.

use std::path::PathBuf;

use sql_core::{Dialect, Plugin, PolicyError, StatementKind};

use super::input::SqlInput;
use crate::plugin;

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
}

pub(crate) fn check(input: &SqlInput) -> Result<Checked, syn::Error> {
    let at_sql = |message: String| syn::Error::new(input.sql.span(), message);
    let (plugin_name, manifest) = match &input.plugin {
        Some(lit) => (lit.value(), None),
        None => {
            let declared = plugin::declared().map_err(at_sql)?;
            (declared.plugin, Some(declared.manifest))
        }
    };
    let plugin = Plugin::new(&plugin_name).map_err(|e| {
        let span = input
            .plugin
            .as_ref()
            .map_or(input.sql.span(), syn::LitStr::span);
        syn::Error::new(span, format!("invalid plugin name {plugin_name:?}: {e}"))
    })?;
    let dialect = match input.dialect.as_ref().map(syn::LitStr::value).as_deref() {
        None | Some("sqlite") => Dialect::Sqlite,
        Some("postgres") => Dialect::Postgres,
        Some(other) => {
            let span = input
                .dialect
                .as_ref()
                .map_or(input.sql.span(), syn::LitStr::span);
            return Err(syn::Error::new(
                span,
                format!("unknown dialect {other:?}; expected \"sqlite\" or \"postgres\""),
            ));
        }
    };
    let sql = input.sql.value();
    let verdict =
        sql_core::check(sql.trim(), &plugin, dialect).map_err(|e| at_sql(explain(&e, &plugin)))?;
    let placeholders = verdict.placeholders();
    // An INSERT with placeholders and no arguments is a row template for insert_many.
    let template =
        verdict.kind() == StatementKind::Insert && placeholders > 0 && input.args.is_empty();
    if input.args.len() != placeholders && !template {
        return Err(at_sql(format!(
            "the statement uses {} but {} argument{} given; pass one argument per placeholder, in order (an INSERT without arguments is a row template for insert_many)",
            placeholder_range(placeholders),
            input.args.len(),
            if input.args.len() == 1 {
                " was"
            } else {
                "s were"
            },
        )));
    }
    let columns = match &input.row_type {
        None => None,
        Some(_) => Some(sql_core::result_columns(sql.trim(), dialect).ok_or_else(|| {
            at_sql(
                "sql!(as Type, ...) needs an explicit list of result columns (no `*`) so that it can check them against the type's fields"
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
    })
}

fn placeholder_range(n: usize) -> String {
    match n {
        0 => "no placeholders".to_owned(),
        1 => "1 placeholder ($1)".to_owned(),
        n => format!("{n} placeholders ($1..${n})"),
    }
}

/// The policy's refusal, with the fix.
fn explain(error: &PolicyError, plugin: &Plugin) -> String {
    let prefix = plugin.table_prefix();
    match error {
        PolicyError::Parse {
            message,
            line,
            column,
        } => match (line, column) {
            (Some(line), Some(column)) => {
                format!("the SQL does not parse at line {line}, column {column}: {message}")
            }
            _ => format!("the SQL does not parse: {message}"),
        },
        PolicyError::Empty => {
            "the SQL is empty; write one SELECT, INSERT, UPDATE or DELETE statement".to_owned()
        }
        PolicyError::StackedQueries { count } => format!(
            "the SQL holds {count} statements; sql! takes exactly one, so split them into separate queries"
        ),
        PolicyError::ForbiddenStatement { statement_type } => format!(
            "{statement_type} is not allowed: plugins run SELECT, INSERT, UPDATE and DELETE only; schema changes belong in a migration (migrations/{}/NNN_name.sql)",
            plugin.name()
        ),
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
