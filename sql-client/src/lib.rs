//! Run a plugin's parameterized SQL through `sql-handler` over NATS, with the mistakes
//! caught before they run.
//!
//! Every query is checked by the same policy as the handler's (`sql-core`), typed by its
//! statement kind, rate limited per plugin, sent with a correlation id (and an idempotency
//! key for writes), retried when that is safe, audited on the `sql.audit` tracing target,
//! logged on `sql.slow` when slow, and counted in [`SqlClient::metrics`].
//!
//! Write queries with [`sql!`]: each statement is checked when the plugin compiles, and
//! its kind is its type. A plugin names itself once, in its `Cargo.toml` (see [`sql!`]),
//! and writes `sql!("...")`; the examples here name the plugin in the call instead.
//!
//! ```no_run
//! use sql_client::prelude::*;
//!
//! #[derive(SqlRow)]
//! struct Event {
//!     id: i64,
//!     name: String,
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let client = SqlClient::new(nats, "analytics-db")?;
//!
//! let user = "alice";
//! client
//!     .insert(sql!(plugin = "analytics-db",
//!         "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)", user, "login"))
//!     .await?;
//!
//! let events: Vec<Event> = client
//!     .select(sql!(plugin = "analytics-db", as Event,
//!         "SELECT id, name FROM analytics_db__events WHERE user_id = $1", user))
//!     .await?;
//! println!("{} events, metrics: {:?}", events.len(), client.metrics());
//! # Ok(())
//! # }
//! ```
//!
//! SQL only known at run time goes through [`Query::checked`], which runs the same checks
//! when the query is built, before anything is sent:
//!
//! ```no_run
//! # use sql_client::prelude::*;
//! # async fn run(client: &SqlClient, newest_first: bool) -> Result<(), Box<dyn std::error::Error>> {
//! let order = if newest_first { "id DESC" } else { "id" };
//! let sql = format!("SELECT id, name FROM analytics_db__events WHERE user_id = $1 ORDER BY {order}");
//! let rows: Vec<Row> = client.select(Query::checked(sql, client.plugin())?.bind("alice")?).await?;
//! # let _ = rows;
//! # Ok(())
//! # }
//! ```
//!
//! # Connecting under NATS permissions
//!
//! In a deployment with NATS authorization (PROTOCOL.md section 8, `deploy/nats-server.conf`)
//! each plugin connects as its own user and receives replies on its private inbox
//! `_INBOX_<plugin>`. [`connect`] does both, and makes a request the server refuses fail
//! at once with [`SqlError::Permission`] (code `NATS_PERMISSION_DENIED`):
//!
//! ```no_run
//! use sql_client::{ClientConfig, Credentials};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::user_and_password("analytics-db", std::env::var("NATS_PASSWORD")?);
//! let client = sql_client::connect("nats://127.0.0.1:4222", "analytics-db", credentials, ClientConfig::default()).await?;
//! # let _ = client;
//! # Ok(())
//! # }
//! ```
//!
//! [`connect_options`] gives the same settings as an `async_nats::ConnectOptions` to extend.
//!
//! # Audit logs as JSON
//!
//! The records are `tracing` events; for one JSON object per line (for a SIEM), turn on
//! the `json-log` feature and install its `JsonLines` format, the one `sql-handler
//! --log-format json` writes:
//!
//! ```no_run
//! // `sql_client::JsonLines` names the same format.
//! tracing_subscriber::fmt().event_format(sql_client::core::json_log::JsonLines::new()).init();
//! ```
//!
//! It writes a slow-query record's `params` as a JSON array; `tracing-subscriber`'s own
//! `json()` format gives the same records with `params` as a string holding the array.
//! Filter with `RUST_LOG=sql.audit=info,sql.slow=warn` to keep just those targets.
//!
//! # Features
//!
//! | feature | enables |
//! |---|---|
//! | `chrono` | reading columns as `chrono::DateTime<Utc>`, `NaiveDateTime`, `NaiveDate`, `NaiveTime` |
//! | `time` | reading columns as `time::OffsetDateTime`, `PrimitiveDateTime`, `Date` |
//! | `json-log` | `JsonLines`, the JSON-lines log format for the audit and slow-query records (pulls in `tracing-subscriber` without its defaults) |
//!
//! Date and time arguments are sent as their serde form: chrono's is RFC 3339 text, which
//! both backends read; format `time` values with `Rfc3339` before passing them.

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod audit;
mod client;
mod connect;
mod datetime;
mod decode;
mod error;
mod metrics;
mod options;
mod query;
mod rate_limit;
mod result;
mod retry;
mod row;
mod stream;
mod transaction;
pub mod types;

pub use audit::ParamLogging;
pub use client::{DeleteQuery, InsertQuery, InsertRowsQuery, SelectQuery, SqlClient, UpdateQuery};
pub use connect::{
    ConnectError, Credentials, PermissionViolations, connect, connect_options, inbox_prefix,
};
pub use decode::{Expected, FromSqlValue};
pub use error::{ErrorDetail, Result, SqlError};
pub use metrics::{LatencySummary, MetricsSnapshot, SlowQueryStats};
pub use options::ClientConfig;
pub use query::{
    AnyQuery, Blob, Bound, Delete, Insert, Kind, ParamRow, Query, Rows, Select, Shape, Update,
};
pub use rate_limit::RateLimiter;
pub use result::SqlResult;
pub use retry::Backoff;
pub use row::{Row, RowError, SqlRow};
/// Derives [`SqlRow`] for a struct with named fields: each field reads the column of its
/// name.
///
/// | attribute | where | effect |
/// |---|---|---|
/// | `#[sql(rename_all = "camelCase")]` | struct | column names from field names by a rule: `lowercase`, `UPPERCASE`, `snake_case`, `SCREAMING_SNAKE_CASE`, `camelCase`, `PascalCase`, `kebab-case` |
/// | `#[sql(rename = "col")]` | field | reads column `col` |
/// | `#[sql(default)]` | field | a missing column gives `Default::default()` |
/// | `#[sql(skip)]` | field | not read; `Default::default()` |
/// | `#[sql(flatten)]` | field | the field's own `SqlRow` reads the same row |
/// | `#[sql(json)]` | field | the column holds JSON (text in SQLite); deserialized with serde |
/// | `#[sql(try_from = "i64")]` | field | read as `i64`, then `TryFrom` |
///
/// `Option<T>` reads NULL as `None`, `bool` reads SQLite's 0/1, `Vec<u8>` reads a blob.
/// A decode error names the column, the expected type and the value found.
///
/// # Examples
///
/// ```
/// use sql_client::{Row, SqlRow};
///
/// #[derive(SqlRow, Debug, PartialEq)]
/// #[sql(rename_all = "camelCase")]
/// struct Event {
///     event_id: i64,
///     #[sql(rename = "label")]
///     name: String,
///     active: bool,
///     score: Option<f64>,
///     #[sql(json)]
///     tags: Vec<String>,
///     #[sql(skip)]
///     cached: Option<String>,
/// }
///
/// let row = Row::new(
///     vec!["eventId".into(), "label".into(), "active".into(), "score".into(), "tags".into()].into(),
///     vec![7.into(), "login".into(), 1.into(), serde_json::Value::Null, r#"["a","b"]"#.into()],
/// );
/// let event = Event::from_row(&row)?;
/// assert_eq!(event.event_id, 7);
/// assert!(event.active);
/// assert_eq!(event.tags, ["a", "b"]);
/// # Ok::<(), sql_client::RowError>(())
/// ```
pub use sql_client_macros::SqlRow;
/// The shared policy, wire types and value rules.
pub use sql_core as core;

/// The async-nats this crate is built against: its `Client` is part of this crate's API
/// ([`SqlClient::new`] takes one), so connecting with this one never mismatches versions.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let nats = sql_client::async_nats::connect("nats://127.0.0.1:4222").await?;
/// let client = sql_client::SqlClient::new(nats, "analytics-db")?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
pub use async_nats;

/// The prometheus-client this crate's metrics are built with, for the registry given to
/// [`SqlClient::register_metrics`].
///
/// # Examples
///
/// ```
/// let registry = sql_client::prometheus_client::registry::Registry::default();
/// # let _ = registry;
/// ```
pub use prometheus_client;
pub use transaction::Statements;
#[doc(hidden)]
pub use transaction::{OneStatement, ResultOf};

#[cfg(feature = "json-log")]
pub use sql_core::json_log::JsonLines;

/// A statement checked at compile time, as a [`Query`] typed by its kind.
///
/// ```
/// # use sql_client::{sql, Query, Select};
/// let user = "alice".to_owned();
/// let query: Query<Select> = sql!(plugin = "analytics-db",
///     "SELECT id, name FROM analytics_db__events WHERE user_id = $1", user);
/// assert_eq!(query.params(), [serde_json::json!("alice")]);
/// ```
///
/// The plugin comes from the crate's `Cargo.toml`, declared once:
///
/// ```toml
/// [package.metadata.sql-client]
/// plugin = "analytics-db"
/// ```
///
/// or from `plugin = "..."` in the call. The statement is checked by the same policy as the
/// handler's, before the code compiles: it must parse (errors give line and column), be
/// exactly one `SELECT`, `INSERT`, `UPDATE` or `DELETE`, use only the plugin's tables
/// (anywhere in the statement) and allowed functions, number its placeholders `$1..$n`
/// without gaps, and get exactly `n` arguments. Arguments are borrowed and sent as JSON
/// (`Option` as NULL, [`Blob`] for bytes). The statement kind is the type: a
/// `Query<Delete>` cannot be passed to [`SqlClient::select`].
///
/// Options, before the SQL: `plugin = "name"`, `dialect = "postgres"` (default
/// `"sqlite"`), and `as Type`, which also checks at compile time that the select list
/// names every column `Type`'s derived [`SqlRow`] needs:
///
/// ```
/// # use sql_client::{sql, SqlRow};
/// #[derive(SqlRow)]
/// struct Event { id: i64, name: String }
///
/// let query = sql!(plugin = "analytics-db", as Event, "SELECT id, name FROM analytics_db__events");
/// # let _ = query;
/// ```
///
/// # Examples
///
/// ```
/// use sql_client::{SqlClient, SqlError, SqlRow, sql};
///
/// #[derive(SqlRow)]
/// struct Event {
///     id: i64,
///     name: String,
/// }
///
/// async fn recent_events(client: &SqlClient, user: &str, limit: i64) -> Result<Vec<Event>, SqlError> {
///     client
///         .select(sql!(plugin = "analytics-db", as Event,
///             "SELECT id, name FROM analytics_db__events WHERE user_id = $1 ORDER BY id DESC LIMIT $2", user, limit))
///         .await
/// }
/// # let _ = recent_events;
/// ```
///
/// Another plugin's table is refused when the code compiles ("table 'quote_db__quotes'
/// belongs to another plugin"):
///
/// ```compile_fail
/// # use sql_client::sql;
/// let query = sql!(plugin = "analytics-db", "SELECT * FROM quote_db__quotes");
/// ```
#[macro_export]
macro_rules! sql {
    ($($tokens:tt)*) => {
        $crate::__private::sql_impl!($($tokens)*)
    };
}

/// What a plugin needs, in one `use`.
pub mod prelude {
    pub use crate::{
        Blob, ClientConfig, Credentials, Delete, Insert, Query, RateLimiter, Row, RowError, Select,
        SqlClient, SqlError, SqlResult, SqlRow, Update, sql,
    };
    pub use sql_core::{Plugin, RateLimit};
}
