//! Queries typed by statement kind. A `Query<Select>` can only go to
//! [`SqlClient::select`](crate::SqlClient::select), a `Query<Delete>` only to
//! [`SqlClient::delete`](crate::SqlClient::delete): a write cannot slip through a read.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sql_core::wire::RowFormat;
use sql_core::{Dialect, Plugin, StatementKind, query_preview};

use crate::audit;
use crate::error::{ERROR_PREVIEW_CHARS, ErrorDetail, SqlError};
use crate::types::{FitsColumn, Unchecked};

mod sealed {
    pub trait Sealed {}
}

/// A statement kind at the type level: [`Select`], [`Insert`], [`Update`] or [`Delete`].
pub trait Kind: sealed::Sealed + Send + Sync + 'static {
    /// The kind as a value.
    const KIND: StatementKind;
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident => $kind:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {}
        impl sealed::Sealed for $name {}
        impl Kind for $name {
            const KIND: StatementKind = StatementKind::$kind;
        }
    )*};
}

kinds! {
    /// A read: `SELECT`, `WITH ... SELECT`, set operations, `VALUES`.
    Select => Select,
    /// An `INSERT` (including upserts and `REPLACE`).
    Insert => Insert,
    /// An `UPDATE`.
    Update => Update,
    /// A `DELETE`.
    Delete => Delete,
}

mod sealed_shape {
    pub trait Sealed {}
}

/// Where a query's parameters come from: [`Bound`] in the query (the usual case), or
/// [`Rows`] given later, one row per execution, to
/// [`SqlClient::insert_many`](crate::SqlClient::insert_many).
pub trait Shape: sealed_shape::Sealed + Send + Sync + 'static {}

/// The parameters are bound in the query (with `sql!` arguments or [`Query::bind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {}

/// A row template: `sql!` on an `INSERT` with `N` placeholders and no arguments. Its
/// rows, given to [`SqlClient::insert_many`](crate::SqlClient::insert_many), must have
/// exactly `N` values, which the compiler checks.
///
/// With the plugin's schema, `C` holds the type of each placeholder's column
/// (`Rows<2, (Text, Nullable<Integer>)>`, markers of [`crate::types`]) and each value of a
/// row must fit its column. Without a schema it is [`Unchecked`](crate::types::Unchecked).
/// Name a template's type with `_` for the columns where Rust allows it
/// (`let t: Query<Insert, Rows<2, _>> = sql!(...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows<const N: usize, C = Unchecked>(PhantomData<fn() -> C>);

impl sealed_shape::Sealed for Bound {}
impl Shape for Bound {}
impl<const N: usize, C: 'static> sealed_shape::Sealed for Rows<N, C> {}
impl<const N: usize, C: 'static> Shape for Rows<N, C> {}

/// One statement with its parameters, checked by the shared policy and typed by its kind.
///
/// Build one with `sql!` (compile-time checked) or, for SQL only known at run time, with
/// [`Query::checked`], which runs the same policy as the handler before anything is sent.
///
/// # Examples
///
/// ```
/// use sql_client::{Query, Select};
/// use sql_core::Plugin;
///
/// let plugin = Plugin::new("analytics-db")?;
/// let query = Query::<Select>::checked("SELECT id, name FROM analytics_db__events WHERE user_id = $1", &plugin)?
///     .bind("alice")?;
/// assert_eq!(query.params().len(), 1);
///
/// // The kind is checked too: a DELETE is not a Query<Select>.
/// assert!(Query::<Select>::checked("DELETE FROM analytics_db__events", &plugin).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Query<K: Kind, S: Shape = Bound> {
    sql: Cow<'static, str>,
    params: Vec<Value>,
    placeholders: usize,
    plugin: Option<Plugin>,
    timeout: Option<Duration>,
    max_rows: Option<u32>,
    row_format: RowFormat,
    /// An argument of `sql!` that could not be encoded; reported when the query runs.
    deferred: Option<SqlError>,
    kind: PhantomData<fn() -> (K, S)>,
}

impl<K: Kind> Query<K> {
    /// Checks `sql` with the shared policy for `plugin` (SQLite dialect, the handler's
    /// default) and that its kind is `K`.
    ///
    /// # Errors
    ///
    /// The policy's refusal as [`SqlError::Validation`] or [`SqlError::Permission`] (the
    /// same code the handler would answer), or [`SqlError::Validation`] with code
    /// `FORBIDDEN_STATEMENT` when the statement is of another kind than `K`. A refusal is
    /// audited like a failed query (`sql.audit`, `status` `error`), with no correlation id
    /// since nothing was sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = Query::<Select>::checked("SELECT id FROM analytics_db__events", &plugin)?;
    /// assert_eq!(query.placeholders(), 0);
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    pub fn checked(sql: impl Into<Cow<'static, str>>, plugin: &Plugin) -> Result<Self, SqlError> {
        Self::checked_for(sql, plugin, Dialect::Sqlite)
    }
    /// As [`Query::checked`], for a handler running on `dialect`.
    ///
    /// # Errors
    ///
    /// As [`Query::checked`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// use sql_client::core::Dialect;
    /// let query = Query::<Select>::checked_for("SELECT now()::date AS today", &plugin, Dialect::Postgres)?;
    /// # let _ = query;
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    pub fn checked_for(
        sql: impl Into<Cow<'static, str>>,
        plugin: &Plugin,
        dialect: Dialect,
    ) -> Result<Self, SqlError> {
        let sql = sql.into();
        match Self::verdict(&sql, plugin, dialect) {
            Ok(placeholders) => Ok(Self::from_parts(sql, placeholders, Some(plugin.clone()))),
            Err(err) => {
                let placeholders = sql_core::placeholder_count(&sql, dialect);
                audit::refused(plugin.name(), &sql, placeholders, &err);
                Err(err)
            }
        }
    }
    /// The policy's verdict on `sql` as this kind of query: its placeholder count.
    fn verdict(sql: &str, plugin: &Plugin, dialect: Dialect) -> Result<usize, SqlError> {
        let preview = query_preview(sql, ERROR_PREVIEW_CHARS);
        let verdict = sql_core::check(sql.trim(), plugin, dialect).map_err(|e| {
            SqlError::from_code(
                e.code(),
                Box::new(
                    ErrorDetail::new(e.code().as_str(), e.to_string(), &preview)
                        .with_details(e.details()),
                ),
            )
            .with_attempts(0)
        })?;
        if verdict.kind() != K::KIND {
            let message = format!(
                "the statement is {} but this query expects {}",
                verdict.kind().as_str(),
                K::KIND.as_str()
            );
            return Err(SqlError::Validation(Box::new(ErrorDetail::new(
                sql_core::ErrorCode::ForbiddenStatement.as_str(),
                message,
                &preview,
            )))
            .with_attempts(0));
        }
        Ok(verdict.placeholders())
    }
    /// A query whose statement is trusted as given (for tests of the handler's own
    /// checks). Plugins use `sql!` or [`Query::checked`].
    #[doc(hidden)]
    #[must_use]
    pub fn __from_checked(
        sql: &'static str,
        placeholders: usize,
        params: Vec<Value>,
        plugin: Option<Plugin>,
    ) -> Self {
        let mut query = Self::from_parts(Cow::Borrowed(sql), placeholders, plugin);
        query.params = params;
        query
    }
    /// Appends the value of the next placeholder (`$1`, then `$2`, ...).
    ///
    /// Values follow PROTOCOL.md section 4: `None` is NULL, numbers, strings and booleans
    /// map directly, [`Blob`] sends bytes, other structures go as JSON text.
    ///
    /// # Errors
    ///
    /// [`SqlError::Validation`] with code `PARAM_TYPE_ERROR` when the value cannot be
    /// serialized.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = Query::<Select>::checked("SELECT id FROM analytics_db__events WHERE user_id = $1", &plugin)?.bind("alice")?;
    /// assert_eq!(query.params(), [serde_json::json!("alice")]);
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    pub fn bind<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, SqlError> {
        let index = self.params.len() + 1;
        let value =
            serde_json::to_value(value).map_err(|e| self.param_error(index, &e.to_string()))?;
        self.params.push(value);
        Ok(self)
    }
}

impl<K: Kind, S: Shape> Query<K, S> {
    /// Used by `sql!`, which has checked the statement and the arguments' count at compile
    /// time.
    #[doc(hidden)]
    #[must_use]
    pub fn __from_macro(
        sql: &'static str,
        placeholders: usize,
        params: Vec<Result<Value, String>>,
        plugin: &'static str,
    ) -> Self {
        let mut query =
            Self::from_parts(Cow::Borrowed(sql), placeholders, Plugin::new(plugin).ok());
        for (i, param) in params.into_iter().enumerate() {
            match param {
                Ok(value) => query.params.push(value),
                Err(reason) => {
                    let error = query.param_error(i + 1, &reason);
                    query.deferred.get_or_insert(error);
                    query.params.push(Value::Null);
                }
            }
        }
        query
    }
    fn from_parts(sql: Cow<'static, str>, placeholders: usize, plugin: Option<Plugin>) -> Self {
        Self {
            sql,
            params: Vec::with_capacity(placeholders),
            placeholders,
            plugin,
            timeout: None,
            max_rows: None,
            row_format: RowFormat::Objects,
            deferred: None,
            kind: PhantomData,
        }
    }
    fn param_error(&self, index: usize, reason: &str) -> SqlError {
        let mut details = serde_json::Map::new();
        details.insert("index".into(), index.into());
        details.insert("reason".into(), reason.into());
        SqlError::Validation(Box::new(
            ErrorDetail::new(
                sql_core::ErrorCode::ParamTypeError.as_str(),
                format!("parameter ${index} cannot be encoded: {reason}"),
                self.preview(),
            )
            .with_details(details),
        ))
        .with_attempts(0)
    }
    /// Sets this query's timeout, instead of the client's default (100 ms to 30 s).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = Query::<Select>::checked("SELECT 1", &plugin)?.timeout(std::time::Duration::from_millis(500));
    /// # let _ = query;
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Sets the most rows the handler returns (1 to 100,000; default 10,000).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = Query::<Select>::checked("SELECT id FROM analytics_db__events", &plugin)?.max_rows(100);
    /// # let _ = query;
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    #[must_use]
    pub fn max_rows(mut self, max_rows: u32) -> Self {
        self.max_rows = Some(max_rows);
        self
    }
    /// Asks for rows as arrays aligned with the columns, a smaller reply for wide results.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// use sql_client::core::wire::RowFormat;
    /// let query = Query::<Select>::checked("SELECT id FROM analytics_db__events", &plugin)?.row_format(RowFormat::Arrays);
    /// # let _ = query;
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    #[must_use]
    pub fn row_format(mut self, format: RowFormat) -> Self {
        self.row_format = format;
        self
    }
    /// The SQL text.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = Query::<Select>::checked("SELECT 1", &plugin)?;
    /// assert_eq!(query.sql(), "SELECT 1");
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    #[must_use]
    pub fn sql(&self) -> &str {
        &self.sql
    }
    /// The parameters bound so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = Query::<Select>::checked("SELECT $1", &plugin)?.bind(&5)?;
    /// assert_eq!(query.params(), [serde_json::json!(5)]);
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    #[must_use]
    pub fn params(&self) -> &[Value] {
        &self.params
    }
    /// How many parameters the statement takes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = Query::<Select>::checked("SELECT $1, $2, $1", &plugin)?;
    /// assert_eq!(query.placeholders(), 2);
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    #[must_use]
    pub fn placeholders(&self) -> usize {
        self.placeholders
    }
    /// The plugin the statement was checked for, if it was checked for one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = Query::<Select>::checked("SELECT 1", &plugin)?;
    /// assert_eq!(query.plugin(), Some(&plugin));
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    #[must_use]
    pub fn plugin(&self) -> Option<&Plugin> {
        self.plugin.as_ref()
    }
    pub(crate) fn preview(&self) -> String {
        query_preview(&self.sql, ERROR_PREVIEW_CHARS)
    }
    pub(crate) fn options(&self) -> (Option<Duration>, Option<u32>, RowFormat) {
        (self.timeout, self.max_rows, self.row_format)
    }
    /// The query with its kind as a value instead of a type.
    pub(crate) fn erase(self) -> AnyQuery {
        AnyQuery {
            kind: K::KIND,
            sql: self.sql,
            params: self.params,
            placeholders: self.placeholders,
            plugin: self.plugin,
            timeout: self.timeout,
            max_rows: self.max_rows,
            row_format: self.row_format,
            deferred: self.deferred,
        }
    }
}

/// A query of any kind, its kind kept as a value: for a
/// [`transaction`](crate::SqlClient::transaction) whose statements are only known at run
/// time, a `Vec<AnyQuery>`. Every [`Query`] with its arguments converts into one.
///
/// # Examples
///
/// ```
/// use sql_client::{AnyQuery, Query, Update};
/// use sql_client::core::{Plugin, StatementKind};
///
/// let plugin = Plugin::new("analytics-db")?;
/// let statements: Vec<AnyQuery> = (1..=3)
///     .map(|id| {
///         Query::<Update>::checked("UPDATE analytics_db__events SET n = n + 1 WHERE id = $1", &plugin)?
///             .bind(&id)
///             .map(AnyQuery::from)
///     })
///     .collect::<Result<_, _>>()?;
/// assert_eq!(statements[2].kind(), StatementKind::Update);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AnyQuery {
    kind: StatementKind,
    sql: Cow<'static, str>,
    params: Vec<Value>,
    placeholders: usize,
    plugin: Option<Plugin>,
    timeout: Option<Duration>,
    max_rows: Option<u32>,
    row_format: RowFormat,
    deferred: Option<SqlError>,
}

impl AnyQuery {
    /// The statement's kind.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{AnyQuery, Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = AnyQuery::from(Query::<Select>::checked("SELECT 1", &plugin)?);
    /// assert!(!query.kind().is_write());
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    #[must_use]
    pub fn kind(&self) -> StatementKind {
        self.kind
    }
    /// The SQL text.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{AnyQuery, Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let query = AnyQuery::from(Query::<Select>::checked("SELECT 1", &plugin)?);
    /// assert_eq!(query.sql(), "SELECT 1");
    /// # Ok::<(), sql_client::SqlError>(())
    /// ```
    #[must_use]
    pub fn sql(&self) -> &str {
        &self.sql
    }
    pub(crate) fn preview(&self) -> String {
        query_preview(&self.sql, ERROR_PREVIEW_CHARS)
    }
    pub(crate) fn plugin(&self) -> Option<&Plugin> {
        self.plugin.as_ref()
    }
    pub(crate) fn deferred_error(&self) -> Option<&SqlError> {
        self.deferred.as_ref()
    }
    pub(crate) fn options(&self) -> (Option<Duration>, Option<u32>, RowFormat) {
        (self.timeout, self.max_rows, self.row_format)
    }
    pub(crate) fn into_parts(self) -> (StatementKind, Cow<'static, str>, Vec<Value>, usize) {
        (self.kind, self.sql, self.params, self.placeholders)
    }
}

impl<K: Kind> From<Query<K>> for AnyQuery {
    fn from(query: Query<K>) -> Self {
        query.erase()
    }
}

/// Bytes as a parameter, sent as `{"$blob": "<base64>"}` and stored as a BLOB.
///
/// # Examples
///
/// ```
/// use sql_client::{Blob, Insert, Query};
/// use sql_core::Plugin;
///
/// let plugin = Plugin::new("files")?;
/// let query = Query::<Insert>::checked("INSERT INTO files__data (bytes) VALUES ($1)", &plugin)?
///     .bind(&Blob(vec![0, 159, 146, 150]))?;
/// assert_eq!(query.params()[0]["$blob"], "AJ+Slg==");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob<B: AsRef<[u8]> = Vec<u8>>(pub B);

impl<B: AsRef<[u8]>> Serialize for Blob<B> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        sql_core::value::blob_param(self.0.as_ref()).serialize(serializer)
    }
}

/// One row of parameters for [`SqlClient::insert_many`](crate::SqlClient::insert_many):
/// a tuple, an array or a `Vec` of serializable values.
///
/// For a row template from `sql!` (`Query<Insert, Rows<N>>`) only tuples and arrays of
/// exactly `N` values fit, checked at compile time; a `Vec`'s length is checked when the
/// query runs.
#[diagnostic::on_unimplemented(
    message = "this row does not fit the INSERT's placeholders (`{S}`)",
    label = "each row must hold one value per placeholder, each fitting its column",
    note = "rows are tuples or arrays of serializable values; the statement's placeholder count is the N in `Rows<N, ...>`, and with the plugin's schema the second parameter lists each placeholder's column type"
)]
pub trait ParamRow<S: Shape = Bound> {
    /// The row's values, in placeholder order.
    ///
    /// # Errors
    ///
    /// The message of a value that cannot be serialized.
    ///
    /// # Examples
    ///
    /// [`SqlClient::insert_many`](crate::SqlClient::insert_many) calls it for each row:
    ///
    /// ```
    /// use serde_json::{Value, json};
    /// use sql_client::ParamRow;
    ///
    /// let params = <(&str, Option<i64>) as ParamRow>::into_params(("alice", None))?;
    /// assert_eq!(params, [json!("alice"), Value::Null]);
    /// # Ok::<(), String>(())
    /// ```
    fn into_params(self) -> Result<Vec<Value>, String>;
}

fn encode<T: Serialize>(value: &T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}

impl<T: Serialize> ParamRow<Bound> for Vec<T> {
    fn into_params(self) -> Result<Vec<Value>, String> {
        self.iter().map(encode).collect()
    }
}

impl<T: Serialize, const N: usize> ParamRow<Rows<N>> for Vec<T> {
    fn into_params(self) -> Result<Vec<Value>, String> {
        self.iter().map(encode).collect()
    }
}

impl<T: Serialize, const N: usize> ParamRow<Bound> for [T; N] {
    fn into_params(self) -> Result<Vec<Value>, String> {
        self.iter().map(encode).collect()
    }
}

impl<T: Serialize, const N: usize> ParamRow<Rows<N>> for [T; N] {
    fn into_params(self) -> Result<Vec<Value>, String> {
        self.iter().map(encode).collect()
    }
}

macro_rules! tuple_rows {
    ($($n:literal: ($($name:ident $column:ident),+)),* $(,)?) => {$(
        impl<$($name: Serialize),+> ParamRow<Bound> for ($($name,)+) {
            #[allow(non_snake_case)]
            fn into_params(self) -> Result<Vec<Value>, String> {
                let ($($name,)+) = self;
                Ok(vec![$(encode(&$name)?),+])
            }
        }

        impl<$($name: Serialize),+> ParamRow<Rows<$n>> for ($($name,)+) {
            fn into_params(self) -> Result<Vec<Value>, String> {
                <Self as ParamRow<Bound>>::into_params(self)
            }
        }

        // A template typed by the schema: each value fits its column.
        impl<$($name: Serialize + FitsColumn<$column>,)+ $($column: 'static),+>
            ParamRow<Rows<$n, ($($column,)+)>> for ($($name,)+)
        {
            fn into_params(self) -> Result<Vec<Value>, String> {
                <Self as ParamRow<Bound>>::into_params(self)
            }
        }

        impl<T: Serialize $(+ FitsColumn<$column>)+, $($column: 'static),+>
            ParamRow<Rows<$n, ($($column,)+)>> for [T; $n]
        {
            fn into_params(self) -> Result<Vec<Value>, String> {
                self.iter().map(encode).collect()
            }
        }

        // A Vec's length is checked when the query runs; its values' type here.
        impl<T: Serialize $(+ FitsColumn<$column>)+, $($column: 'static),+>
            ParamRow<Rows<$n, ($($column,)+)>> for Vec<T>
        {
            fn into_params(self) -> Result<Vec<Value>, String> {
                self.iter().map(encode).collect()
            }
        }
    )*};
}

tuple_rows! {
    1: (A MA), 2: (A MA, B MB), 3: (A MA, B MB, C MC), 4: (A MA, B MB, C MC, D MD),
    5: (A MA, B MB, C MC, D MD, E ME), 6: (A MA, B MB, C MC, D MD, E ME, F MF),
    7: (A MA, B MB, C MC, D MD, E ME, F MF, G MG),
    8: (A MA, B MB, C MC, D MD, E ME, F MF, G MG, H MH),
    9: (A MA, B MB, C MC, D MD, E ME, F MF, G MG, H MH, I MI),
    10: (A MA, B MB, C MC, D MD, E ME, F MF, G MG, H MH, I MI, J MJ),
    11: (A MA, B MB, C MC, D MD, E ME, F MF, G MG, H MH, I MI, J MJ, K MK),
    12: (A MA, B MB, C MC, D MD, E ME, F MF, G MG, H MH, I MI, J MJ, K MK, L ML),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plugin() -> Plugin {
        Plugin::new("analytics-db").unwrap()
    }

    #[test]
    fn checked_runs_the_policy_and_the_kind() {
        let ok =
            Query::<Update>::checked("UPDATE analytics_db__e SET n = $1 WHERE id = $2", &plugin())
                .unwrap();
        assert_eq!(ok.placeholders(), 2);
        let err = Query::<Select>::checked("SELECT * FROM quote_db__q", &plugin()).unwrap_err();
        assert!(matches!(err, SqlError::Permission(_)));
        assert_eq!(err.details()["table"], "quote_db__q");
        assert_eq!(err.detail().attempts(), 0);
        let err = Query::<Insert>::checked("DELETE FROM analytics_db__e", &plugin()).unwrap_err();
        assert_eq!(err.code(), "FORBIDDEN_STATEMENT");
        assert!(err.message().contains("DELETE") && err.message().contains("INSERT"));
        let err = Query::<Select>::checked("SELEC 1", &plugin()).unwrap_err();
        assert_eq!(err.code(), "PARSE_ERROR");
    }

    #[test]
    fn bind_encodes_per_protocol() {
        let q = Query::<Select>::checked("SELECT $1, $2, $3, $4, $5", &plugin())
            .unwrap()
            .bind(&Some(5))
            .unwrap()
            .bind(&None::<i32>)
            .unwrap()
            .bind("s")
            .unwrap()
            .bind(&Blob(b"hi"))
            .unwrap()
            .bind(&vec![1, 2])
            .unwrap();
        assert_eq!(
            q.params(),
            &[
                json!(5),
                json!(null),
                json!("s"),
                json!({"$blob": "aGk="}),
                json!([1, 2])
            ]
        );
    }

    #[test]
    fn unserializable_values_are_param_errors() {
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1);
        let err = Query::<Select>::checked("SELECT $1", &plugin())
            .unwrap()
            .bind(&map)
            .unwrap_err();
        assert_eq!(err.code(), "PARAM_TYPE_ERROR");
        assert_eq!(err.details()["index"], 1);
    }

    #[test]
    fn param_rows() {
        let tuple = <(&str, i32, Option<i32>) as ParamRow>::into_params(("a", 1, None)).unwrap();
        assert_eq!(tuple, vec![json!("a"), json!(1), json!(null)]);
        let array = <[i32; 3] as ParamRow<Rows<3>>>::into_params([1, 2, 3]).unwrap();
        assert_eq!(array, vec![json!(1), json!(2), json!(3)]);
        assert_eq!(
            <Vec<&str> as ParamRow>::into_params(vec!["x"]).unwrap(),
            vec![json!("x")]
        );
    }

    #[test]
    fn the_dialect_is_the_handlers() {
        let sql = "DELETE FROM analytics_db__e USING analytics_db__f WHERE analytics_db__e.id = analytics_db__f.id";
        assert!(Query::<Delete>::checked_for(sql, &plugin(), Dialect::Postgres).is_ok());
        let q = Query::<Select>::checked("SELECT $1", &plugin()).unwrap();
        assert_eq!(
            (q.sql(), q.placeholders(), q.plugin()),
            ("SELECT $1", 1, Some(&plugin()))
        );
    }

    #[test]
    fn options_ride_along() {
        let q = Query::<Select>::checked("SELECT 1", &plugin())
            .unwrap()
            .timeout(Duration::from_millis(250))
            .max_rows(5)
            .row_format(RowFormat::Arrays);
        assert_eq!(
            q.options(),
            (Some(Duration::from_millis(250)), Some(5), RowFormat::Arrays)
        );
    }
}
