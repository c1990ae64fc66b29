//! The schema model: a plugin's tables and views as its migrations leave them, and the
//! checks of a statement against it.
//!
//! [`Schema::from_migrations`] replays the plugin's migration files in order (the same
//! files, in the same order, the handler applies); [`Schema::analyze`] resolves every
//! table and column a statement names, and infers the types its placeholders take and
//! the types and nullability of its result columns. `sql!` runs both at compile time, with
//! no database. The handler applies the same files, found by the same naming rule
//! ([`migration_file_name`]) and in the same order, and replays them into this model at
//! start: a migration the model cannot follow stops both the build and the handler,
//! naming the file and line.

mod analyze;
mod build;
mod error;
mod expr;
mod suggest;
#[cfg(test)]
mod tests;
mod types;

use std::collections::BTreeMap;

pub use analyze::{Analysis, OutputColumn, ParamUse};
pub use build::{SchemaError, is_migration_file, migration_file_name, migration_folder_dialect};
pub use error::NameError;
pub use types::SqlType;

use crate::Dialect;

/// A plugin's tables and views with their columns, as its migrations define them.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, Nullability, Schema, SqlType};
///
/// let schema = Schema::from_migrations(
///     Dialect::Sqlite,
///     [("analytics-db/001_init.sql", "CREATE TABLE analytics_db__events (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL)")],
/// )?;
/// let analysis = schema.analyze("SELECT name, score FROM analytics_db__events WHERE id = $1")?;
/// assert_eq!(analysis.param(1).map(|p| p.ty()), Some(SqlType::Integer));
/// let columns = analysis.columns().unwrap();
/// assert_eq!(columns[0].nullability(), Nullability::NotNull);
/// assert_eq!(columns[1].nullability(), Nullability::Nullable);
///
/// let typo = schema.analyze("SELECT nmae FROM analytics_db__events").unwrap_err();
/// assert_eq!(typo.to_string(), "unknown column `nmae` (did you mean `name`?)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Schema {
    dialect: Dialect,
    /// By lower-cased name.
    relations: BTreeMap<String, Relation>,
    /// PostgreSQL enum types and domains, by lower-cased name: what they hold.
    user_types: BTreeMap<String, SqlType>,
}

impl Schema {
    /// An empty schema: every table is unknown.
    ///
    /// # Examples
    ///
    /// ```
    /// let schema = sql_core::Schema::new(sql_core::Dialect::Postgres);
    /// assert!(schema.relation("t").is_none());
    /// ```
    #[must_use]
    pub fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            relations: BTreeMap::new(),
            user_types: BTreeMap::new(),
        }
    }

    /// The dialect the migrations are written in.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The table or view named `name` (case-insensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::{Dialect, Schema};
    ///
    /// let schema = Schema::from_migrations(Dialect::Sqlite, [("p/001_a.sql", "CREATE TABLE p__t (a TEXT NOT NULL)")])?;
    /// let table = schema.relation("P__T").unwrap();
    /// assert_eq!(table.columns()[0].name(), "a");
    /// assert!(table.columns()[0].not_null());
    /// # Ok::<(), sql_core::SchemaError>(())
    /// ```
    #[must_use]
    pub fn relation(&self, name: &str) -> Option<&Relation> {
        self.relations.get(&name.to_ascii_lowercase())
    }

    /// Every table and view, by name.
    pub fn relations(&self) -> impl Iterator<Item = &Relation> {
        self.relations.values()
    }
}

/// Whether a relation is a table or a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelationKind {
    /// A table.
    Table,
    /// A view (its columns derived from its query).
    View,
}

/// A table or view of the schema.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, RelationKind, Schema};
///
/// let schema = Schema::from_migrations(Dialect::Sqlite, [(
///     "p/001_a.sql",
///     "CREATE TABLE p__t (a TEXT NOT NULL); CREATE VIEW p__v AS SELECT a AS b FROM p__t",
/// )])?;
/// let view = schema.relation("p__v").unwrap();
/// assert_eq!(view.kind(), RelationKind::View);
/// assert_eq!(view.columns()[0].name(), "b");
/// # Ok::<(), sql_core::SchemaError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Relation {
    name: String,
    kind: RelationKind,
    columns: Vec<Column>,
    /// Whether SQLite gives the table a `rowid` (every table but `WITHOUT ROWID` ones).
    rowid: bool,
}

impl Relation {
    /// The name as the migration spelled it.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Table or view.
    #[must_use]
    pub fn kind(&self) -> RelationKind {
        self.kind
    }

    /// The columns, in order.
    #[must_use]
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The column named `name` (case-insensitive).
    #[must_use]
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    fn column_mut(&mut self, name: &str) -> Option<&mut Column> {
        self.columns
            .iter_mut()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

/// A column of a table or view.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, Schema, SqlType};
///
/// let schema = Schema::from_migrations(Dialect::Postgres, [(
///     "p/001_a.sql",
///     "CREATE TABLE p__t (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now(), note TEXT)",
/// )])?;
/// let t = schema.relation("p__t").unwrap();
/// let id = t.column("id").unwrap();
/// assert!(id.not_null() && id.has_default());
/// assert_eq!(t.column("at").unwrap().ty(), SqlType::TimestampTz);
/// assert!(!t.column("note").unwrap().not_null());
/// # Ok::<(), sql_core::SchemaError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Column {
    name: String,
    declared: String,
    ty: SqlType,
    not_null: bool,
    /// An INSERT may leave it out: a DEFAULT, an identity, a serial or SQLite's rowid.
    has_default: bool,
    /// Computed from other columns: never written.
    generated: bool,
    /// SQLite's `INTEGER PRIMARY KEY`: never NULL, yet NULL on INSERT picks the next id.
    rowid_alias: bool,
}

impl Column {
    /// The name as the migration spelled it.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared type, as written (`VARCHAR(20)`); empty for a SQLite column without one.
    #[must_use]
    pub fn declared(&self) -> &str {
        &self.declared
    }

    /// What the column holds.
    #[must_use]
    pub fn ty(&self) -> SqlType {
        self.ty
    }

    /// Whether the column can never hold NULL.
    #[must_use]
    pub fn not_null(&self) -> bool {
        self.not_null
    }

    /// Whether an INSERT may leave the column out.
    #[must_use]
    pub fn has_default(&self) -> bool {
        self.has_default
    }

    /// Whether the column is computed (`GENERATED ALWAYS AS (...)`).
    #[must_use]
    pub fn generated(&self) -> bool {
        self.generated
    }

    /// Whether an INSERT or UPDATE may write NULL into it.
    #[must_use]
    pub fn accepts_null(&self) -> bool {
        !self.not_null || self.rowid_alias
    }
}

/// Whether a result column can be NULL, as far as the statement and schema tell.
///
/// # Examples
///
/// ```
/// use sql_core::Nullability;
/// assert!(Nullability::Nullable.may_be_null());
/// assert!(!Nullability::NotNull.may_be_null());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Nullability {
    /// Never NULL: a NOT NULL column on the inner side of every join, `count(*)`, a literal.
    NotNull,
    /// Can be NULL: a column without NOT NULL, the nullable side of an outer join, an
    /// aggregate over no rows, a scalar subquery.
    Nullable,
    /// Inference cannot tell (most function calls): nothing is checked.
    Unknown,
}

impl Nullability {
    /// Whether NULL is possible (`Nullable`).
    #[must_use]
    pub const fn may_be_null(self) -> bool {
        matches!(self, Self::Nullable)
    }

    /// The nullability of an expression that is NULL when any input is.
    pub(crate) fn all(items: impl IntoIterator<Item = Self>) -> Self {
        let mut out = Self::NotNull;
        for item in items {
            out = match (out, item) {
                (Self::Nullable, _) | (_, Self::Nullable) => Self::Nullable,
                (Self::Unknown, _) | (_, Self::Unknown) => Self::Unknown,
                _ => Self::NotNull,
            };
        }
        out
    }
}
