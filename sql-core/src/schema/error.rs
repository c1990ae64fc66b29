//! Why a statement does not fit the schema.

use std::fmt;

/// A name or shape the schema does not have. Each message names the problem and, where one
/// is close, the name that was probably meant.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, NameError, Schema};
///
/// let schema = Schema::from_migrations(Dialect::Sqlite, [("p/001_a.sql", "CREATE TABLE p__events (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")])?;
/// let err = schema.analyze("SELECT id FROM p__event").unwrap_err();
/// assert!(matches!(err, NameError::UnknownTable { .. }));
/// assert_eq!(err.to_string(), "unknown table `p__event` (did you mean `p__events`?)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// No table, view or CTE of that name.
    #[error("unknown table `{table}`{}", Maybe(suggestion))]
    UnknownTable {
        /// The name used.
        table: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// No column of that name in any table in scope (or in the named one).
    #[error(
        "unknown column `{}`{}{}",
        Qualified(table, column),
        Hint(hint),
        Maybe(suggestion)
    )]
    UnknownColumn {
        /// The qualifier used (`e` in `e.name`), if any.
        table: Option<String>,
        /// The column name used.
        column: String,
        /// The closest known column.
        suggestion: Option<String>,
        /// A dialect pitfall behind the mistake, if one applies.
        hint: Option<&'static str>,
    },
    /// A qualifier (`x.name`) that names no table or alias in scope.
    #[error(
        "`{qualifier}.{column}` names no table or alias in scope{}",
        Maybe(suggestion)
    )]
    UnknownQualifier {
        /// The qualifier.
        qualifier: String,
        /// The column after it.
        column: String,
        /// The closest table or alias in scope.
        suggestion: Option<String>,
    },
    /// An unqualified column that several tables in scope have.
    #[error("column `{column}` is ambiguous: {} have it; qualify it (`{}.{column}`)", tables.join(" and "), tables[0])]
    AmbiguousColumn {
        /// The column.
        column: String,
        /// The tables or aliases that have it.
        tables: Vec<String>,
    },
    /// An INSERT or UPDATE names a column its table does not have.
    #[error("table `{table}` has no column `{column}`{}", Maybe(suggestion))]
    NoSuchTargetColumn {
        /// The table written.
        table: String,
        /// The column named.
        column: String,
        /// The closest column of the table.
        suggestion: Option<String>,
    },
    /// An INSERT or UPDATE writes a generated column.
    #[error("column `{column}` of `{table}` is generated; it cannot be written")]
    GeneratedColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// An INSERT leaves out NOT NULL columns that have no default.
    #[error("the INSERT leaves out {} of `{table}`, which {} NOT NULL without a default; give {} a value", Columns(columns), if columns.len() == 1 { "is" } else { "are" }, if columns.len() == 1 { "it" } else { "them" })]
    MissingColumns {
        /// The table.
        table: String,
        /// The columns left out.
        columns: Vec<String>,
    },
    /// A VALUES row (or the INSERT's query) has a different number of values than columns.
    #[error("row {row} of the INSERT has {found} value{} for {expected} column{}", plural(*found), plural(*expected))]
    ValuesArity {
        /// 1-based row number.
        row: usize,
        /// How many columns are written.
        expected: usize,
        /// How many values the row has.
        found: usize,
    },
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

struct Maybe<'a>(&'a Option<String>);

impl fmt::Display for Maybe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, " (did you mean `{name}`?)"),
            None => Ok(()),
        }
    }
}

struct Hint<'a>(&'a Option<&'static str>);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(hint) => write!(f, "; {hint}"),
            None => Ok(()),
        }
    }
}

struct Qualified<'a>(&'a Option<String>, &'a str);

impl fmt::Display for Qualified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(table) => write!(f, "{table}.{}", self.1),
            None => f.write_str(self.1),
        }
    }
}

struct Columns<'a>(&'a [String]);

impl fmt::Display for Columns<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.0.iter().map(|c| format!("`{c}`")).collect();
        write!(f, "{}", quoted.join(", "))
    }
}
