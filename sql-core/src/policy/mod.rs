//! The SQL policy of PROTOCOL.md sections 4 and 5 as one pure function.
//!
//! [`check`] (or [`Policy::check`] for a deployment that extends the function allowlist)
//! takes SQL text, the plugin and the dialect, and returns either a [`Verdict`] or a
//! [`PolicyError`]. The `sql!` macro, the client's check of dynamic SQL and the handler
//! all call it, so there is one policy code path.

mod error;
mod functions;
mod placeholders;
mod statement;

pub use placeholders::placeholder_count;
pub(crate) use statement::{parse_error_position, parser_dialect};
#[cfg(test)]
mod fuzz_tests;
mod tables;
#[cfg(test)]
mod tests;
mod types;

pub use error::PolicyError;

use std::collections::BTreeSet;

use crate::Plugin;

/// Most placeholders one statement may use (PROTOCOL.md section 4).
pub const MAX_PLACEHOLDERS: usize = 1000;

/// The SQL dialect the statement is parsed as: the handler's backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Dialect {
    /// SQLite, the embedded default.
    #[default]
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// Its name in migration folders (`sqlite/`, `postgres/`) and in the handler's
    /// service metadata.
    ///
    /// ```
    /// assert_eq!(sql_core::Dialect::Postgres.name(), "postgres");
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// The dialect of that [`Dialect::name`]: `[package.metadata.sql-client] dialect`, a
    /// `sql!` call's `dialect = ...`, a migrations subfolder.
    ///
    /// ```
    /// use sql_core::Dialect;
    ///
    /// assert_eq!(Dialect::from_name("postgres"), Some(Dialect::Postgres));
    /// assert_eq!(Dialect::from_name("mysql"), None);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Sqlite, Self::Postgres]
            .into_iter()
            .find(|dialect| dialect.name() == name)
    }
}

/// The kind of an allowed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatementKind {
    /// `SELECT`, `WITH ... SELECT`, set operations, `VALUES`.
    Select,
    /// `INSERT`, upserts, `REPLACE`, `INSERT OR ...`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
}

impl StatementKind {
    /// Whether statements of this kind write.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::StatementKind;
    /// assert!(!StatementKind::Select.is_write());
    /// assert!(StatementKind::Delete.is_write());
    /// ```
    #[must_use]
    pub const fn is_write(self) -> bool {
        !matches!(self, Self::Select)
    }

    /// Upper-case name, as used in audit records.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sql_core::StatementKind::Update.as_str(), "UPDATE");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Select => "SELECT",
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }
}

/// What the policy found in an allowed statement.
///
/// # Examples
///
/// ```
/// use sql_core::{check, Dialect, Plugin, StatementKind};
///
/// let plugin = Plugin::new("analytics-db")?;
/// let verdict = check(
///     "UPDATE analytics_db__events SET n = n + $1 WHERE id = $2",
///     &plugin,
///     Dialect::Sqlite,
/// )?;
/// assert_eq!(verdict.kind(), StatementKind::Update);
/// assert!(verdict.writes());
/// assert_eq!(verdict.placeholders(), 2);
/// assert!(verdict.tables().contains("analytics_db__events"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    kind: StatementKind,
    tables: BTreeSet<String>,
    placeholders: usize,
}

impl Verdict {
    /// The statement's kind.
    #[must_use]
    pub fn kind(&self) -> StatementKind {
        self.kind
    }

    /// Whether the statement writes (its kind is not [`StatementKind::Select`]).
    #[must_use]
    pub fn writes(&self) -> bool {
        self.kind.is_write()
    }

    /// The plugin's tables the statement references, lower-cased; CTE names excluded.
    #[must_use]
    pub fn tables(&self) -> &BTreeSet<String> {
        &self.tables
    }

    /// `n` of the placeholders `$1..$n` used: how many parameters the statement takes.
    #[must_use]
    pub fn placeholders(&self) -> usize {
        self.placeholders
    }
}

/// The policy with the default function allowlist, optionally extended by a deployment.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, Plugin, Policy};
///
/// let plugin = Plugin::new("geo")?;
/// let sql = "SELECT haversine(a, b) FROM geo__points";
/// assert!(Policy::default().check(sql, &plugin, Dialect::Sqlite).is_err());
/// let extended = Policy::default().with_functions(["haversine"]);
/// assert!(extended.check(sql, &plugin, Dialect::Sqlite).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Policy {
    extra_functions: BTreeSet<String>,
}

impl Policy {
    /// Adds functions to the allowlist. Names are compared case-insensitively. Functions on
    /// the never-allowed list (such as `load_extension`) stay refused.
    #[must_use]
    pub fn with_functions<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.extra_functions
            .extend(names.into_iter().map(|n| n.as_ref().to_ascii_lowercase()));
        self
    }

    /// Whether a scalar, aggregate or window function named `name` may be called.
    ///
    /// The handler's engine-level guard asks this too, so both layers share one list.
    ///
    /// # Examples
    ///
    /// ```
    /// let policy = sql_core::Policy::default();
    /// assert!(policy.allows_function("COUNT"));
    /// assert!(!policy.allows_function("load_extension"));
    /// ```
    #[must_use]
    pub fn allows_function(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        !functions::is_never_allowed(&lower)
            && (functions::is_allowed(&lower) || self.extra_functions.contains(&lower))
    }

    /// Whether `name` is one of the allowed table-valued functions (`json_each`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(sql_core::Policy::default().allows_table_function("json_each"));
    /// assert!(!sql_core::Policy::default().allows_table_function("pragma_table_info"));
    /// ```
    #[must_use]
    pub fn allows_table_function(&self, name: &str) -> bool {
        functions::is_table_valued(&name.to_ascii_lowercase())
    }

    /// Checks one statement against PROTOCOL.md sections 4 and 5.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the first problem found, in this order: empty text, parse
    /// error, several statements, forbidden statement kind, invalid placeholders, system
    /// tables, foreign tables, forbidden functions.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::{Dialect, ErrorCode, Plugin, Policy};
    ///
    /// let plugin = Plugin::new("analytics-db")?;
    /// let err = Policy::default()
    ///     .check("/* hi */ DROP TABLE analytics_db__events", &plugin, Dialect::Sqlite)
    ///     .unwrap_err();
    /// assert_eq!(err.code(), ErrorCode::ForbiddenStatement);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(
        &self,
        sql: &str,
        plugin: &Plugin,
        dialect: Dialect,
    ) -> Result<Verdict, PolicyError> {
        statement::check(self, sql, plugin, dialect)
    }
}

/// Checks one statement with the default [`Policy`].
///
/// # Errors
///
/// See [`Policy::check`].
///
/// # Examples
///
/// ```
/// use sql_core::{check, Dialect, Plugin};
///
/// let plugin = Plugin::new("analytics-db")?;
/// let verdict = check("SELECT * FROM analytics_db__events WHERE id = $1", &plugin, Dialect::Sqlite)?;
/// assert_eq!(verdict.placeholders(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(sql: &str, plugin: &Plugin, dialect: Dialect) -> Result<Verdict, PolicyError> {
    Policy::default().check(sql, plugin, dialect)
}
