//! The client: one NATS connection, one plugin, every query through the same path of
//! checks, rate limit, request with retries, audit, slow log and metrics.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{HeaderMap, RequestErrorKind};
use serde_json::{Map, Value, json};
use sql_core::wire::{
    self, CORRELATION_ID_HEADER, IDEMPOTENCY_KEY_HEADER, Reply, Request, RowFormat,
    TruncatedReason, WireRow,
};
use sql_core::{ErrorCode, Plugin, StatementKind};
use tokio::sync::broadcast;

use crate::audit::{self, AuditRecord};
use crate::connect::{Operation, PermissionViolations, Violation};
use crate::error::{ERROR_PREVIEW_CHARS, ErrorDetail, RESULT_TRUNCATED, SqlError};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::options::ClientConfig;
use crate::query::{AnyQuery, Delete, Insert, Kind, ParamRow, Query, Select, Shape, Update};
use crate::rate_limit::RateLimiter;
use crate::result::SqlResult;
use crate::retry;
use crate::row::SqlRow;
use crate::transaction::Statements;

/// The future of a kind-specific method: an `async fn`'s, boxed. An `async fn`'s future
/// carries the fn's bounds, so a query of the wrong kind would fail the method's bound three
/// times (at the argument, the call and `.await`); this type does not mention the query's
/// type, so the error is reported once, at the argument.
type Running<'a, T> = Pin<Box<dyn Future<Output = Result<T, SqlError>> + Send + 'a>>;

/// Client-side code of a reply that did not come in time.
const REPLY_TIMEOUT: &str = "REPLY_TIMEOUT";
/// Client-side code of a request the NATS server refused (PROTOCOL.md section 8).
const NATS_PERMISSION_DENIED: &str = "NATS_PERMISSION_DENIED";

/// Runs a plugin's queries through `sql-handler` over NATS.
///
/// Cheap to clone: clones share the NATS connection, the rate limiter and the metrics, so
/// one client can serve every task of a plugin.
///
/// # Examples
///
/// ```no_run
/// use sql_client::{Query, Row, Select, SqlClient};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let client = SqlClient::new(nats, "analytics-db")?;
/// let query = Query::<Select>::checked("SELECT id, name FROM analytics_db__events WHERE user_id = $1", client.plugin())?
///     .bind("alice")?;
/// for row in client.select::<Row>(query).await? {
///     println!("{}: {}", row.get::<i64>("id")?, row.get::<String>("name")?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqlClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    nats: async_nats::Client,
    plugin: Plugin,
    subject: String,
    config: ClientConfig,
    limiter: RateLimiter,
    metrics: Metrics,
}

/// One request on its way: everything the send loop and the audit record need.
pub(crate) struct Call {
    /// One statement, or a transaction's in order.
    pub(crate) statements: Vec<Part>,
    /// Whether the statements go as a `transaction` (PROTOCOL.md), even only one.
    pub(crate) transaction: bool,
    pub(crate) batch: Option<Vec<Vec<Value>>>,
    pub(crate) timeout: Duration,
    pub(crate) max_rows: Option<u32>,
    pub(crate) row_format: RowFormat,
    /// A read asked for as a stream: the first chunk comes back (`crate::stream`).
    pub(crate) stream: Option<wire::StreamOptions>,
}

/// One statement of a call.
pub(crate) struct Part {
    pub(crate) kind: StatementKind,
    pub(crate) sql: Cow<'static, str>,
    pub(crate) params: Vec<Value>,
    pub(crate) placeholders: usize,
}

impl Call {
    fn writes(&self) -> bool {
        self.statements.iter().any(|part| part.kind.is_write())
    }
}

impl SqlClient {
    /// A client for `plugin` with the default [`ClientConfig`].
    ///
    /// # Errors
    ///
    /// [`SqlError::Validation`] when `plugin` is not a valid plugin name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::SqlClient;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// let client = SqlClient::new(nats.clone(), "analytics-db")?;
    /// assert_eq!(client.plugin().name(), "analytics-db");
    ///
    /// // `_` is for table prefixes, not plugin names (PROTOCOL.md section 1): refused
    /// // before any query is sent.
    /// assert!(SqlClient::new(nats, "analytics_db").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(nats: async_nats::Client, plugin: &str) -> Result<Self, SqlError> {
        Self::with_config(nats, plugin, ClientConfig::default())
    }

    /// A client for `plugin` with `config`.
    ///
    /// # Errors
    ///
    /// [`SqlError::Validation`] when `plugin` is not a valid plugin name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sql_client::{ClientConfig, SqlClient};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// let config = ClientConfig::default()
    ///     .timeout(Duration::from_secs(2))
    ///     .max_retries(1);
    /// let client = SqlClient::with_config(nats, "analytics-db", config)?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_config(
        nats: async_nats::Client,
        plugin: &str,
        config: ClientConfig,
    ) -> Result<Self, SqlError> {
        let plugin = Plugin::new(plugin).map_err(|e| {
            SqlError::Validation(Box::new(ErrorDetail::new(
                ErrorCode::RequestValidationError.as_str(),
                e.to_string(),
                "",
            )))
            .with_attempts(0)
        })?;
        Ok(Self::from_parts(nats, plugin, config))
    }

    /// A client for an already validated `plugin`.
    pub(crate) fn from_parts(
        nats: async_nats::Client,
        plugin: Plugin,
        config: ClientConfig,
    ) -> Self {
        let limiter = config
            .rate_limiter
            .clone()
            .unwrap_or_else(|| RateLimiter::new(config.rate_limit));
        Self {
            inner: Arc::new(Inner {
                subject: wire::subject(&config.subject_prefix, &plugin),
                nats,
                plugin,
                config,
                limiter,
                metrics: Metrics::default(),
            }),
        }
    }

    /// The plugin this client speaks for.
    ///
    /// # Examples
    ///
    /// SQL built at run time is checked for the client's own plugin:
    ///
    /// ```
    /// use sql_client::{Query, Select, SqlClient, SqlError};
    ///
    /// fn event_by_id(client: &SqlClient, id: i64) -> Result<Query<Select>, SqlError> {
    ///     Query::checked("SELECT id, name FROM analytics_db__events WHERE id = $1", client.plugin())?.bind(&id)
    /// }
    /// # let _ = event_by_id;
    /// ```
    #[must_use]
    pub fn plugin(&self) -> &Plugin {
        &self.inner.plugin
    }

    /// The rate limiter in use, to read its status or change limits at run time.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::SqlClient;
    /// use sql_client::core::RateLimit;
    ///
    /// fn raise_limit(client: &SqlClient) {
    ///     let plugin = client.plugin().name();
    ///     client.rate_limiter().set_limit(plugin, RateLimit::per_minute(1_000));
    ///     assert_eq!(client.rate_limiter().status(plugin).limit.max(), 1_000);
    /// }
    /// # let _ = raise_limit;
    /// ```
    #[must_use]
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// Runs any statement and returns the full result.
    ///
    /// # Errors
    ///
    /// [`SqlError`] of the kind that fits the failure; transient failures are retried
    /// first (PROTOCOL.md section 7).
    ///
    /// # Examples
    ///
    /// A write whose `RETURNING` rows are wanted:
    ///
    /// ```no_run
    /// use sql_client::{SqlClient, sql};
    ///
    /// # async fn run(client: &SqlClient) -> Result<(), Box<dyn std::error::Error>> {
    /// let user = "alice";
    /// let result = client
    ///     .execute(sql!(plugin = "analytics-db",
    ///         "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, 'login') RETURNING id", user))
    ///     .await?;
    /// let id: i64 = result.first().ok_or("no row returned")?.get("id")?;
    /// println!("event {id} added in {} ms", result.execution_time_ms());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn execute<K: Kind>(&self, query: Query<K>) -> Result<SqlResult, SqlError> {
        self.run(query, None).await
    }

    /// Runs a read and converts every row to `T` ([`Row`](crate::Row) for untyped rows).
    ///
    /// `query` is a `Query<Select>`; a query of another kind does not compile
    /// (`SelectQuery`).
    ///
    /// Every row of the result or an error, never part of it: when the result has more
    /// rows than came back, the call fails with [`SqlError::Truncated`], unless the query
    /// set [`max_rows`](Query::max_rows) itself and that limit is what cut it (the caller
    /// asked for at most that many). Without `max_rows` the handler sends at most 10,000
    /// rows, and never more than fit in one NATS reply (`max_payload`, 1 MB by default):
    /// [`SqlClient::select_stream`] reads results of any size. [`SqlClient::execute`]
    /// returns a cut result as it is, with [`SqlResult::truncated`].
    ///
    /// # Errors
    ///
    /// As [`SqlClient::execute`]; [`SqlError::Decode`] naming the column when a row does
    /// not convert; [`SqlError::Truncated`] when rows were left out, with the number that
    /// came (`rows_returned`) and why (`reason`) in its details.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::{SqlClient, SqlRow, sql};
    ///
    /// #[derive(SqlRow)]
    /// struct Event {
    ///     id: i64,
    ///     name: String,
    /// }
    ///
    /// # async fn run(client: &SqlClient) -> Result<(), sql_client::SqlError> {
    /// let user = "alice";
    /// let events: Vec<Event> = client
    ///     .select(sql!(plugin = "analytics-db", as Event,
    ///         "SELECT id, name FROM analytics_db__events WHERE user_id = $1", user))
    ///     .await?;
    /// for event in &events {
    ///     println!("{}: {}", event.id, event.name);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn select<'a, T: SqlRow + 'a>(&'a self, query: impl SelectQuery) -> Running<'a, Vec<T>> {
        let query = query.into_query();
        Box::pin(async move {
            let preview = query.preview();
            let asked = query.options().1;
            let result = self.run(query, None).await?;
            complete(&result, asked, &preview)?;
            result
                .rows_as()
                .map_err(|e| SqlError::decode(e.to_string(), &preview))
        })
    }

    /// Runs a read and yields its rows one by one, converted to `T`, however many there
    /// are: the handler sends the result in chunks of about 256 kB, each when the rows of
    /// the one before are used up, so memory stays bounded on both sides (a slow consumer
    /// slows the handler's reading down instead of piling rows up). No `max_rows` applies
    /// and nothing is cut: every row comes, or an error ends the stream.
    ///
    /// The query's timeout (or the client's) bounds the whole stream, the consumer's time
    /// included. Dropping the stream early tells the handler to stop. The stream is audited
    /// as one query when it ends, with the rows it delivered.
    ///
    /// # Errors
    ///
    /// Each item is a row or the error that ends the stream: those of
    /// [`SqlClient::select`] for the first chunk, then [`SqlError::Timeout`] past the
    /// deadline, [`SqlError::Transport`] with code `STREAM_LOST` when the handler serving
    /// the stream is gone (it stopped or restarted; the stream cannot resume), an error
    /// reply from the handler, or [`SqlError::Decode`] for a row that does not convert. A
    /// handler without streams sends one reply: its rows come, then
    /// [`SqlError::Truncated`] if it had to cut them.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt as _;
    /// use sql_client::{Row, SqlClient, sql};
    ///
    /// # async fn run(client: &SqlClient) -> Result<(), sql_client::SqlError> {
    /// let rows = client.select_stream::<Row>(sql!(plugin = "analytics-db",
    ///     "SELECT id, name FROM analytics_db__events"));
    /// let mut rows = std::pin::pin!(rows);
    /// let mut count = 0;
    /// while let Some(_row) = rows.try_next().await? {
    ///     count += 1;
    /// }
    /// println!("{count} events");
    /// # Ok(())
    /// # }
    /// ```
    pub fn select_stream<'a, T: SqlRow + Send + 'a>(
        &'a self,
        query: impl SelectQuery,
    ) -> impl futures_util::Stream<Item = Result<T, SqlError>> + Send + 'a {
        crate::stream::rows(self, query.into_query())
    }

    /// Runs a read and converts its first row, if any. Asks the handler for one row unless
    /// the query sets `max_rows` itself.
    ///
    /// # Errors
    ///
    /// As [`SqlClient::select`]: a result cut by the one-row limit is what was asked for,
    /// but one cut by the reply's size (a first row larger than NATS's `max_payload`) is
    /// [`SqlError::Truncated`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::{Row, SqlClient, sql};
    ///
    /// # async fn run(client: &SqlClient) -> Result<(), Box<dyn std::error::Error>> {
    /// let user = "alice";
    /// let latest: Option<Row> = client
    ///     .select_one(sql!(plugin = "analytics-db",
    ///         "SELECT id, name FROM analytics_db__events WHERE user_id = $1 ORDER BY id DESC", user))
    ///     .await?;
    /// if let Some(row) = latest {
    ///     println!("latest event of {user}: {}", row.get::<String>("name")?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn select_one<'a, T: SqlRow + 'a>(
        &'a self,
        query: impl SelectQuery,
    ) -> Running<'a, Option<T>> {
        let query = query.into_query();
        let query = if query.options().1.is_none() {
            query.max_rows(1)
        } else {
            query
        };
        Box::pin(async move {
            let preview = query.preview();
            let asked = query.options().1;
            let result = self.run(query, None).await?;
            complete(&result, asked, &preview)?;
            result
                .first()
                .map(T::from_row)
                .transpose()
                .map_err(|e| SqlError::decode(e.to_string(), &preview))
        })
    }

    /// Runs an `INSERT` and returns the rows inserted.
    ///
    /// `query` is a `Query<Insert>` with its arguments; a row template (`sql!` on an
    /// `INSERT` without arguments) goes to [`SqlClient::insert_many`] instead, and a query
    /// of another kind does not compile (`InsertQuery`).
    ///
    /// # Errors
    ///
    /// As [`SqlClient::execute`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::{SqlClient, sql};
    ///
    /// # async fn run(client: &SqlClient) -> Result<(), sql_client::SqlError> {
    /// let (user, name) = ("alice", "login");
    /// let inserted = client
    ///     .insert(sql!(plugin = "analytics-db",
    ///         "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)", user, name))
    ///     .await?;
    /// assert_eq!(inserted, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn insert(&self, query: impl InsertQuery) -> Running<'_, u64> {
        let query = query.into_query();
        Box::pin(async move { Ok(self.run(query, None).await?.row_count()) })
    }

    /// Runs one `INSERT` once per row of parameters, in one request and one transaction:
    /// all rows are inserted or none. At most 1000 rows per call.
    ///
    /// `query` is a row template from `sql!` (`Query<Insert, Rows<N>>`, whose rows must
    /// hold `N` values) or a `Query<Insert>`; a query of another kind does not compile
    /// (`InsertRowsQuery`).
    ///
    /// # Errors
    ///
    /// As [`SqlClient::execute`]; [`SqlError::Validation`] when a row's length differs from
    /// the placeholders or there are more than 1000 rows. A failing row's index is in the
    /// error's `details.batch_index`.
    ///
    /// # Examples
    ///
    /// The `INSERT` without arguments is a row template; each row holds one value per
    /// placeholder:
    ///
    /// ```no_run
    /// use sql_client::{SqlClient, sql};
    ///
    /// # async fn run(client: &SqlClient) -> Result<(), sql_client::SqlError> {
    /// let rows = [("alice", "login"), ("bob", "login"), ("alice", "logout")];
    /// let inserted = client
    ///     .insert_many(
    ///         sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)"),
    ///         rows,
    ///     )
    ///     .await?;
    /// assert_eq!(inserted, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn insert_many<S, R, I>(&self, query: impl InsertRowsQuery<S>, rows: I) -> Running<'_, u64>
    where
        S: Shape,
        R: ParamRow<S>,
        I: IntoIterator<Item = R>,
    {
        let query = query.into_insert();
        let preview = query.preview();
        // Encoded now, so that the future holds neither the rows nor their iterator.
        let batch = rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                row.into_params().map_err(|reason| {
                    validation(
                        ErrorCode::ParamTypeError,
                        format!("row {i} cannot be encoded: {reason}"),
                        &preview,
                        json!({"batch_index": i}),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>();
        Box::pin(async move {
            let batch = batch?;
            if batch.is_empty() {
                return Ok(0);
            }
            Ok(self.run(query, Some(batch)).await?.row_count())
        })
    }

    /// Runs an `UPDATE` and returns the rows changed.
    ///
    /// `query` is a `Query<Update>`; a query of another kind does not compile
    /// (`UpdateQuery`).
    ///
    /// # Errors
    ///
    /// As [`SqlClient::execute`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::{SqlClient, sql};
    ///
    /// # async fn run(client: &SqlClient) -> Result<(), sql_client::SqlError> {
    /// let user = "alice";
    /// let renamed = client
    ///     .update(sql!(plugin = "analytics-db",
    ///         "UPDATE analytics_db__events SET name = $1 WHERE user_id = $2 AND name = 'login'", "sign-in", user))
    ///     .await?;
    /// println!("{renamed} event(s) renamed");
    /// # Ok(())
    /// # }
    /// ```
    pub fn update(&self, query: impl UpdateQuery) -> Running<'_, u64> {
        let query = query.into_query();
        Box::pin(async move { Ok(self.run(query, None).await?.row_count()) })
    }

    /// Runs a `DELETE` and returns the rows deleted.
    ///
    /// `query` is a `Query<Delete>`; a query of another kind does not compile
    /// (`DeleteQuery`).
    ///
    /// # Errors
    ///
    /// As [`SqlClient::execute`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::{SqlClient, sql};
    ///
    /// # async fn run(client: &SqlClient) -> Result<(), sql_client::SqlError> {
    /// let user = "alice";
    /// let deleted = client
    ///     .delete(sql!(plugin = "analytics-db", "DELETE FROM analytics_db__events WHERE user_id = $1", user))
    ///     .await?;
    /// println!("{deleted} event(s) of {user} deleted");
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete(&self, query: impl DeleteQuery) -> Running<'_, u64> {
        let query = query.into_query();
        Box::pin(async move { Ok(self.run(query, None).await?.row_count()) })
    }

    /// Runs several statements, of any kinds, in one database transaction: all of them
    /// apply or none does. Each statement is a query as `sql!` builds it (or
    /// [`Query::checked`]); a tuple of up to eight gives a tuple of as many
    /// [`SqlResult`]s, a `Vec<AnyQuery>` a `Vec`.
    ///
    /// The statements are checked one by one as single queries are (policy, parameters,
    /// `allow_write` for the writes), count one query each against the rate limit, and are
    /// audited one record each with the transaction's outcome. One `Idempotency-Key`
    /// covers the whole transaction when any statement writes, so a retry never applies it
    /// twice. The timeout is the longest any statement sets (else the client's), for the
    /// whole transaction; `max_rows` applies to each statement's rows, and the results
    /// together must fit in one reply (a result cut to fit says so in
    /// [`SqlResult::truncated`]). A read in a transaction reads what the statements
    /// before it wrote.
    ///
    /// # Errors
    ///
    /// As [`SqlClient::execute`]; the failing statement's position is in the error's
    /// `details.statement_index`, its query in the error's preview, and nothing was
    /// applied. A handler without transactions answers `EMPTY_QUERY` and runs nothing.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::{SqlClient, sql};
    ///
    /// # async fn run(client: &SqlClient) -> Result<(), Box<dyn std::error::Error>> {
    /// let (from, to, amount) = (1_i64, 2_i64, 5_i64);
    /// let (debit, credit, balance) = client
    ///     .transaction((
    ///         sql!(plugin = "analytics-db", "UPDATE analytics_db__events SET n = n - $1 WHERE id = $2", amount, from),
    ///         sql!(plugin = "analytics-db", "UPDATE analytics_db__events SET n = n + $1 WHERE id = $2", amount, to),
    ///         sql!(plugin = "analytics-db", "SELECT sum(n) AS total FROM analytics_db__events"),
    ///     ))
    ///     .await?;
    /// assert_eq!((debit.row_count(), credit.row_count()), (1, 1));
    /// println!("total: {}", balance.first().ok_or("no row")?.get::<i64>("total")?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transaction<'a, S: Statements + 'a>(&'a self, statements: S) -> Running<'a, S::Output> {
        let queries = statements.into_queries();
        Box::pin(async move {
            let mut timeout = None;
            let mut max_rows = None;
            let mut row_format = None;
            let mut refused = None;
            let mut parts = Vec::with_capacity(queries.len());
            for (index, query) in queries.into_iter().enumerate() {
                let (query_timeout, query_max_rows, query_format) = query.options();
                timeout = timeout.max(query_timeout);
                max_rows = max_rows.max(query_max_rows);
                row_format.get_or_insert(query_format);
                let (part, refusal) = self.part(query);
                if refused.is_none() {
                    refused = refusal.map(|err| err.with_detail("statement_index", json!(index)));
                }
                parts.push(part);
            }
            let call = Call {
                statements: parts,
                transaction: true,
                batch: None,
                timeout: timeout.unwrap_or(self.inner.config.timeout),
                max_rows,
                row_format: row_format.unwrap_or(RowFormat::Objects),
                stream: None,
            };
            let results = self.run_call(call, refused).await?;
            let count = results.len();
            S::outputs(results)
                .ok_or_else(|| SqlError::decode(format!("the reply holds {count} results"), ""))
        })
    }

    /// The NATS connection, the subject prefix, the metrics and the configuration, for
    /// [`crate::stream`].
    pub(crate) fn nats(&self) -> &async_nats::Client {
        &self.inner.nats
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub(crate) fn client_metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The client's metrics now, with its plugin's rate-limit status.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::SqlClient;
    ///
    /// fn report(client: &SqlClient) {
    ///     let metrics = client.metrics();
    ///     tracing::info!(
    ///         queries = metrics.queries,
    ///         error_rate = metrics.error_rate,
    ///         p99_ms = metrics.latency.p99_ms,
    ///         rate_limit_remaining = metrics.rate_limit.remaining,
    ///         "sql client metrics"
    ///     );
    /// }
    /// # let _ = report;
    /// ```
    #[must_use]
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner
            .metrics
            .snapshot(self.inner.limiter.status(self.inner.plugin.name()))
    }

    /// Registers the client's metrics in a Prometheus `registry`, labelled with its plugin:
    /// counters of queries, errors, retries, rate-limited and slow queries, the query
    /// duration as a histogram (so instances and plugins aggregate), and the rate limit's
    /// gauges. The registry may hold the plugin's own metrics and other clients' too.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::prometheus_client::registry::Registry;
    ///
    /// # fn run(client: &sql_client::SqlClient) -> Result<(), std::fmt::Error> {
    /// let mut registry = Registry::default();
    /// client.register_metrics(&mut registry);
    /// let mut text = String::new();
    /// sql_client::prometheus_client::encoding::text::encode(&mut text, &registry)?;
    /// assert!(text.contains("sql_client_query_duration_seconds_bucket"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.record_rate_status();
        let plugin = self.inner.plugin.name().to_owned();
        let labelled = registry.sub_registry_with_label(("plugin".into(), plugin.into()));
        self.inner.metrics.register(labelled);
    }

    /// The client's metrics in the Prometheus text format, as
    /// [`SqlClient::register_metrics`] registers them.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(client: &sql_client::SqlClient) {
    /// let text = client.prometheus_text();
    /// assert!(text.contains("sql_client_queries_total{plugin=\"analytics-db\"}"));
    /// # }
    /// ```
    #[must_use]
    pub fn prometheus_text(&self) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        self.register_metrics(&mut registry);
        let mut text = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }

    fn record_rate_status(&self) {
        self.inner
            .metrics
            .record_rate_status(self.inner.limiter.status(self.inner.plugin.name()));
    }

    async fn run<K: Kind, S: Shape>(
        &self,
        query: Query<K, S>,
        batch: Option<Vec<Vec<Value>>>,
    ) -> Result<SqlResult, SqlError> {
        let (timeout, max_rows, row_format) = query.options();
        let (part, refused) = self.part(query.erase());
        let call = Call {
            statements: vec![part],
            transaction: false,
            batch,
            timeout: timeout.unwrap_or(self.inner.config.timeout),
            max_rows,
            row_format,
            stream: None,
        };
        let mut results = self.run_call(call, refused).await?;
        results
            .pop()
            .ok_or_else(|| SqlError::decode("the reply holds no result", ""))
    }

    /// Runs `call` after the local checks (`refused` is a statement's own refusal, found
    /// when it was taken apart), audits each statement and counts the call in the metrics.
    async fn run_call(
        &self,
        call: Call,
        refused: Option<SqlError>,
    ) -> Result<Vec<SqlResult>, SqlError> {
        let started = Instant::now();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let checked = match refused {
            Some(err) => Err(err),
            None => self.check(&call),
        };
        let outcome = match checked {
            Ok(()) => self.send(&call, &correlation_id).await,
            Err(err) => Err((err, 0)),
        };
        let elapsed = started.elapsed();
        let (result, attempts) = match outcome {
            Ok((results, attempts)) => (
                Ok(results
                    .into_iter()
                    .map(|result| result.with_correlation_id(&correlation_id))
                    .collect::<Vec<_>>()),
                attempts,
            ),
            Err((err, attempts)) => (
                Err(err
                    .with_attempts(attempts)
                    .with_correlation_id(&correlation_id)),
                attempts,
            ),
        };
        self.record(&call, &result, elapsed, attempts, &correlation_id);
        result
    }

    /// A query taken apart for a call, and its own refusal if any: an argument `sql!`
    /// could not encode, or a query checked for another plugin.
    pub(crate) fn part(&self, query: AnyQuery) -> (Part, Option<SqlError>) {
        let preview = query.preview();
        let refused = query.deferred_error().cloned().or_else(|| {
            let plugin = query.plugin().filter(|p| *p != &self.inner.plugin)?;
            Some(validation(
                ErrorCode::NamespaceViolation,
                format!(
                    "the query was checked for plugin '{plugin}' but this client is '{}'",
                    self.inner.plugin
                ),
                &preview,
                json!({"expected_prefix": self.inner.plugin.table_prefix()}),
            ))
        });
        let (kind, sql, params, placeholders) = query.into_parts();
        let part = Part {
            kind,
            sql,
            params,
            placeholders,
        };
        (part, refused)
    }

    /// The local checks before anything is sent: the parameter counts, the batch size,
    /// the timeout and the rate limit (one query per statement).
    pub(crate) fn check(&self, call: &Call) -> Result<(), SqlError> {
        for (index, part) in call.statements.iter().enumerate() {
            let preview = sql_core::query_preview(&part.sql, ERROR_PREVIEW_CHARS);
            let at = |err: SqlError| {
                if call.transaction {
                    err.with_detail("statement_index", json!(index))
                } else {
                    err
                }
            };
            let placeholders = part.placeholders;
            let lists: Vec<(&Vec<Value>, Option<usize>)> = match &call.batch {
                Some(rows) => rows.iter().enumerate().map(|(i, r)| (r, Some(i))).collect(),
                None => vec![(&part.params, None)],
            };
            for (list, batch_index) in lists {
                if list.len() != placeholders {
                    let mut details = json!({"expected": placeholders, "provided": list.len()});
                    if let Some(i) = batch_index {
                        details["batch_index"] = json!(i);
                    }
                    return Err(at(validation(
                        ErrorCode::ParamCountMismatch,
                        format!(
                            "the statement takes {placeholders} parameter(s) but {} were given",
                            list.len()
                        ),
                        &preview,
                        details,
                    )));
                }
            }
        }
        let preview = call.statements.first().map_or_else(String::new, |part| {
            sql_core::query_preview(&part.sql, ERROR_PREVIEW_CHARS)
        });
        if call
            .batch
            .as_ref()
            .is_some_and(|b| b.len() > wire::MAX_BATCH_ENTRIES)
        {
            return Err(validation(
                ErrorCode::RequestValidationError,
                format!(
                    "insert_many takes at most {} rows per call",
                    wire::MAX_BATCH_ENTRIES
                ),
                &preview,
                json!({"field": "batch"}),
            ));
        }
        if call.transaction
            && !(1..=wire::MAX_TRANSACTION_STATEMENTS).contains(&call.statements.len())
        {
            return Err(validation(
                ErrorCode::RequestValidationError,
                format!(
                    "a transaction holds 1 to {} statements, not {}",
                    wire::MAX_TRANSACTION_STATEMENTS,
                    call.statements.len()
                ),
                &preview,
                json!({"field": "transaction"}),
            ));
        }
        let timeout_ms = u32::try_from(call.timeout.as_millis()).unwrap_or(u32::MAX);
        if !(wire::MIN_TIMEOUT_MS..=wire::MAX_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(validation(
                ErrorCode::RequestValidationError,
                format!(
                    "timeout must be {} to {} ms, not {timeout_ms}",
                    wire::MIN_TIMEOUT_MS,
                    wire::MAX_TIMEOUT_MS
                ),
                &preview,
                json!({"field": "timeout_ms"}),
            ));
        }
        let queries = u32::try_from(call.statements.len()).unwrap_or(u32::MAX);
        if let Err(limited) = self
            .inner
            .limiter
            .try_acquire_n(self.inner.plugin.name(), queries)
        {
            self.inner.metrics.record_rate_limited();
            let retry_after_ms = u64::try_from(limited.retry_after.as_millis()).unwrap_or(u64::MAX);
            return Err(SqlError::RateLimit(Box::new(
                ErrorDetail::new(
                    ErrorCode::RateLimit.as_str(),
                    format!(
                        "plugin '{}' may run {} queries per {} s; retry in {retry_after_ms} ms",
                        self.inner.plugin,
                        limited.limit.max(),
                        limited.limit.window().as_secs()
                    ),
                    &preview,
                )
                .with_details(object(json!({
                    "limit": limited.limit.max(),
                    "window_seconds": limited.limit.window().as_secs(),
                    "retry_after_ms": retry_after_ms,
                }))),
            )));
        }
        Ok(())
    }

    /// Sends the request, retrying what PROTOCOL.md section 7 allows.
    pub(crate) async fn send(
        &self,
        call: &Call,
        correlation_id: &str,
    ) -> Result<(Vec<SqlResult>, u32), (SqlError, u32)> {
        let previews: Vec<String> = call
            .statements
            .iter()
            .map(|part| sql_core::query_preview(&part.sql, ERROR_PREVIEW_CHARS))
            .collect();
        let preview = previews.first().cloned().unwrap_or_default();
        let is_write = call.writes();
        let mut request = if call.transaction {
            let mut request = Request::new(wire::TRANSACTION_QUERY);
            request.transaction = Some(
                call.statements
                    .iter()
                    .map(|part| wire::Statement::new(part.sql.as_ref(), part.params.clone()))
                    .collect(),
            );
            request
        } else {
            let mut request =
                Request::new(call.statements.first().map_or("", |part| part.sql.as_ref()));
            if let Some(part) = call.statements.first() {
                request.params.clone_from(&part.params);
            }
            request
        };
        request.allow_write = is_write;
        request.timeout_ms =
            u32::try_from(call.timeout.as_millis()).unwrap_or(wire::MAX_TIMEOUT_MS);
        if let Some(max_rows) = call.max_rows {
            request.max_rows = max_rows;
        }
        request.batch.clone_from(&call.batch);
        request.row_format = call.row_format;
        request.stream = call.stream;
        let body: bytes::Bytes = serde_json::to_vec(&request)
            .map_err(|e| {
                (
                    SqlError::decode(format!("cannot encode the request: {e}"), &preview),
                    0,
                )
            })?
            .into();
        let mut headers = HeaderMap::new();
        headers.insert(CORRELATION_ID_HEADER, correlation_id);
        if is_write {
            // One key for every attempt: the handler applies it at most once.
            headers.insert(
                IDEMPOTENCY_KEY_HEADER,
                uuid::Uuid::new_v4().to_string().as_str(),
            );
        }
        let wait = call.timeout + self.inner.config.reply_margin;
        let mut delays = self
            .inner
            .config
            .backoff
            .delays(self.inner.config.max_retries);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let err = match self
                .send_once(body.clone(), headers.clone(), wait, call, &previews)
                .await
            {
                Ok(results) => return Ok((results, attempts)),
                Err(err) => err,
            };
            if !retry::is_retryable(&err, is_write, is_write) {
                return Err((err, attempts));
            }
            let Some(delay) = delays.next() else {
                return Err((err, attempts));
            };
            self.inner.metrics.record_retry();
            tracing::debug!(
                correlation_id,
                attempt = attempts,
                code = err.code(),
                ?delay,
                "retrying sql request"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        body: bytes::Bytes,
        headers: HeaderMap,
        wait: Duration,
        call: &Call,
        previews: &[String],
    ) -> Result<Vec<SqlResult>, SqlError> {
        let preview = previews.first().map_or("", String::as_str);
        let request = async_nats::Request::new()
            .payload(body)
            .headers(headers)
            .timeout(Some(wait));
        let sent = self
            .inner
            .nats
            .send_request(self.inner.subject.clone(), request);
        let replied = match &self.inner.config.permission_violations {
            Some(violations) => {
                // Listen before sending, so a refusal of this very request is seen.
                let refused = refusal(violations, &self.inner.subject);
                tokio::select! {
                    replied = sent => replied,
                    violation = refused => return Err(permission_denied(&violation, preview)),
                }
            }
            None => sent.await,
        };
        let message = match replied {
            Ok(message) => message,
            Err(e) => {
                return Err(match e.kind() {
                    RequestErrorKind::NoResponders => {
                        SqlError::transport(format!("no sql-handler is listening on {}", self.inner.subject), preview)
                    }
                    RequestErrorKind::TimedOut => SqlError::Timeout(Box::new(
                        ErrorDetail::new(REPLY_TIMEOUT, format!("no reply within {} ms", wait.as_millis()), preview)
                            .with_details(object(json!({"timeout_ms": wait.as_millis().saturating_sub(self.inner.config.reply_margin.as_millis())}))),
                    )),
                    _ => SqlError::transport(format!("cannot send the request: {e}"), preview),
                });
            }
        };
        let reply = decode_reply(&message.payload, preview, previews)?;
        results(reply, call).map_err(|e| SqlError::decode(e, preview))
    }

    fn record(
        &self,
        call: &Call,
        result: &Result<Vec<SqlResult>, SqlError>,
        elapsed: Duration,
        attempts: u32,
        correlation_id: &str,
    ) {
        let metrics = &self.inner.metrics;
        let error = result.as_ref().err();
        let got_reply = attempts > 0;
        metrics.record_query(got_reply.then_some(elapsed), error.is_some());
        self.record_rate_status();
        let threshold = self.inner.config.slow_query_threshold;
        for (index, part) in call.statements.iter().enumerate() {
            // A batch's rows each hold as many values as the statement has placeholders.
            let param_count = call
                .batch
                .as_ref()
                .and_then(|b| b.first())
                .map_or(part.params.len(), Vec::len);
            let statement_result = result.as_ref().ok().and_then(|results| results.get(index));
            let query_hash = sql_core::query_hash(&part.sql);
            let record = AuditRecord {
                plugin: self.inner.plugin.name(),
                query: &part.sql,
                query_hash: &query_hash,
                preview: sql_core::audit_preview(&part.sql),
                param_count,
                row_count: statement_result.map_or(0, SqlResult::row_count),
                elapsed,
                truncated: statement_result.is_some_and(SqlResult::truncated),
                correlation_id,
                attempts,
                error,
                statement: call.transaction.then_some((index, call.statements.len())),
            };
            record.emit();
            if got_reply && elapsed > threshold {
                metrics.record_slow(&query_hash, &record.preview, elapsed);
                audit::slow_query(
                    &record,
                    &part.params,
                    threshold,
                    self.inner.config.slow_query_params,
                );
            }
        }
    }
}

/// A reply body as a success reply, or its error as a [`SqlError`]; a body that is
/// neither is [`SqlError::Decode`]. Errors show `preview`, or for a transaction's failure
/// the failing statement's among `previews`.
pub(crate) fn decode_reply(
    payload: &[u8],
    preview: &str,
    previews: &[String],
) -> Result<wire::SuccessReply<WireRow>, SqlError> {
    match Reply::<WireRow>::parse(payload) {
        Ok(Reply::Success(reply)) => Ok(reply),
        Ok(Reply::Error(reply)) => {
            let preview = reply
                .details
                .get("statement_index")
                .and_then(Value::as_u64)
                .and_then(|i| previews.get(usize::try_from(i).ok()?))
                .map_or(preview, String::as_str);
            Err(SqlError::from_reply(reply, preview))
        }
        Ok(_) => Err(SqlError::decode("a reply of an unknown shape", preview)),
        Err(e) => Err(SqlError::decode(
            format!("the reply is not a protocol reply: {e}"),
            preview,
        )),
    }
}

/// The results a success reply holds for `call`: its one result, or a transaction's in
/// `results`, one per statement.
fn results(reply: wire::SuccessReply<WireRow>, call: &Call) -> Result<Vec<SqlResult>, String> {
    if !call.transaction {
        return Ok(vec![SqlResult::from_reply(reply)?]);
    }
    let Some(results) = reply.results else {
        return Err("the reply to a transaction has no results".to_owned());
    };
    if results.len() != call.statements.len() {
        return Err(format!(
            "the reply to a transaction of {} statements has {} results",
            call.statements.len(),
            results.len()
        ));
    }
    results.into_iter().map(SqlResult::from_reply).collect()
}

/// The query types the kind-specific methods accept. Each method takes `impl` one of the
/// public traits below, implemented only by the query type of its kind, so that a query of
/// another kind fails to compile with a message naming both kinds and the method to call
/// (a plain `Query<Select>` parameter gives only "mismatched types").
mod sealed {
    use crate::query::{Bound, Insert, Kind, Query, Shape};

    /// Hands the query over, arguments bound. Only this crate can name it, so no other
    /// type can implement the public traits.
    pub trait IntoQuery<K: Kind> {
        fn into_query(self) -> Query<K>;
    }

    impl<K: Kind, S: ArgumentsBound> IntoQuery<K> for Query<K, S> {
        fn into_query(self) -> Query<K> {
            S::bound(self)
        }
    }

    /// Hands an `INSERT` over as it is, row template or not.
    pub trait IntoInsert<S: Shape> {
        fn into_insert(self) -> Query<Insert, S>;
    }

    impl<S: Shape> IntoInsert<S> for Query<Insert, S> {
        fn into_insert(self) -> Query<Insert, S> {
            self
        }
    }

    /// The shape of a query whose arguments are bound: only [`Bound`]. `insert` takes any
    /// `Query<Insert, S>` with this bound on `S`, so that a row template fails here, with
    /// a message of its own, rather than as just another type.
    #[diagnostic::on_unimplemented(
        message = "`insert` runs a `Query<Insert>`, with its arguments; this INSERT has none, which makes it a row template, `Query<Insert, {Self}>`",
        label = "an INSERT written without arguments",
        note = "either the arguments are missing: give `sql!` one per placeholder, after the SQL: `sql!(\"INSERT ... VALUES ($1, $2)\", a, b)`",
        note = "or the template is for `insert_many`, which takes the rows: `client.insert_many(sql!(\"INSERT ... VALUES ($1, $2)\"), [(a, b), (c, d)])`"
    )]
    pub trait ArgumentsBound: Shape + Sized {
        fn bound<K: Kind>(query: Query<K, Self>) -> Query<K>;
    }

    impl ArgumentsBound for Bound {
        fn bound<K: Kind>(query: Query<K>) -> Query<K> {
            query
        }
    }
}

/// What [`SqlClient::select`] and [`SqlClient::select_one`] run: a `Query<Select>`, and
/// nothing else.
///
/// Implemented only by [`Query<Select>`](Query) (sealed), so the compiler infers a query's
/// kind from the method (`Query::checked(...)` needs no `::<Select>`), and a query of
/// another kind does not compile: the error names its kind and the method to call instead.
/// [`InsertQuery`], [`InsertRowsQuery`], [`UpdateQuery`] and [`DeleteQuery`] do the same
/// for the other methods.
///
/// # Examples
///
/// ```
/// use sql_client::{Row, SqlClient, SqlError, sql};
///
/// async fn events_of(client: &SqlClient, user: &str) -> Result<Vec<Row>, SqlError> {
///     client
///         .select(sql!(plugin = "analytics-db", "SELECT id FROM analytics_db__events WHERE user_id = $1", user))
///         .await
/// }
/// # let _ = events_of;
/// ```
///
/// A write is not a read:
///
/// ```compile_fail,E0277
/// # use sql_client::{Row, SqlClient, sql};
/// # async fn run(client: &SqlClient) {
/// let _ = client.select::<Row>(sql!(plugin = "analytics-db", "DELETE FROM analytics_db__events WHERE id = $1", 1)).await;
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`select` and `select_one` run a `Query<Select>`, not a `{Self}`",
    label = "this query is not a SELECT",
    note = "call the method of the query's kind: `insert` for `Query<Insert>`, `insert_many` for `Query<Insert, Rows<N>>`, `update` for `Query<Update>`, `delete` for `Query<Delete>`; `execute` runs any kind of statement and returns the rows of its RETURNING clause"
)]
pub trait SelectQuery: sealed::IntoQuery<Select> {}

impl SelectQuery for Query<Select> {}

/// What [`SqlClient::insert`] runs: a `Query<Insert>` with its arguments, and nothing else.
///
/// Implemented only by [`Query<Insert>`](Query) (sealed; see [`SelectQuery`]). An `INSERT`
/// written without its arguments is a row template, `Query<Insert, Rows<N>>`, for
/// [`SqlClient::insert_many`]; passing it to `insert` does not compile, and the error says
/// so.
///
/// # Examples
///
/// ```
/// use sql_client::{SqlClient, SqlError, sql};
///
/// async fn log_in(client: &SqlClient, user: &str) -> Result<u64, SqlError> {
///     client
///         .insert(sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, 'login')", user))
///         .await
/// }
/// # let _ = log_in;
/// ```
///
/// A template without its arguments is not a statement to run:
///
/// ```compile_fail,E0277
/// # use sql_client::{SqlClient, sql};
/// # async fn run(client: &SqlClient) {
/// let _ = client.insert(sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)")).await;
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`insert` runs a `Query<Insert>`, not a `{Self}`",
    label = "this query is not an INSERT",
    note = "call the method of the query's kind: `select` or `select_one` for `Query<Select>`, `update` for `Query<Update>`, `delete` for `Query<Delete>`"
)]
pub trait InsertQuery: sealed::IntoQuery<Insert> {}

// For every shape, so that a row template fails the shape's bound and gets its message.
impl<S: sealed::ArgumentsBound> InsertQuery for Query<Insert, S> {}

/// What [`SqlClient::insert_many`] runs once per row: an `INSERT`, as a row template from
/// `sql!` (`Query<Insert, Rows<N>>`, whose rows must have `N` values) or as a
/// `Query<Insert>` (rows checked when the query runs).
///
/// Implemented only by those (sealed; see [`SelectQuery`]).
///
/// # Examples
///
/// ```
/// use sql_client::{SqlClient, SqlError, sql};
///
/// async fn log(client: &SqlClient) -> Result<u64, SqlError> {
///     client
///         .insert_many(
///             sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)"),
///             [("alice", "login"), ("bob", "logout")],
///         )
///         .await
/// }
/// # let _ = log;
/// ```
#[diagnostic::on_unimplemented(
    message = "`insert_many` runs an INSERT once per row, not a `{Self}`",
    label = "this query is not an INSERT",
    note = "call the method of the query's kind: `select` or `select_one` for `Query<Select>`, `update` for `Query<Update>`, `delete` for `Query<Delete>`"
)]
pub trait InsertRowsQuery<S: Shape>: sealed::IntoInsert<S> {}

impl<S: Shape> InsertRowsQuery<S> for Query<Insert, S> {}

/// What [`SqlClient::update`] runs: a `Query<Update>`, and nothing else.
///
/// Implemented only by [`Query<Update>`](Query) (sealed; see [`SelectQuery`]).
///
/// # Examples
///
/// ```
/// use sql_client::{SqlClient, SqlError, sql};
///
/// async fn rename(client: &SqlClient, id: i64) -> Result<u64, SqlError> {
///     client
///         .update(sql!(plugin = "analytics-db", "UPDATE analytics_db__events SET name = 'renamed' WHERE id = $1", id))
///         .await
/// }
/// # let _ = rename;
/// ```
#[diagnostic::on_unimplemented(
    message = "`update` runs a `Query<Update>`, not a `{Self}`",
    label = "this query is not an UPDATE",
    note = "call the method of the query's kind: `select` or `select_one` for `Query<Select>`, `insert` for `Query<Insert>`, `insert_many` for `Query<Insert, Rows<N>>`, `delete` for `Query<Delete>`"
)]
pub trait UpdateQuery: sealed::IntoQuery<Update> {}

impl UpdateQuery for Query<Update> {}

/// What [`SqlClient::delete`] runs: a `Query<Delete>`, and nothing else.
///
/// Implemented only by [`Query<Delete>`](Query) (sealed; see [`SelectQuery`]).
///
/// # Examples
///
/// ```
/// use sql_client::{SqlClient, SqlError, sql};
///
/// async fn forget(client: &SqlClient, id: i64) -> Result<u64, SqlError> {
///     client
///         .delete(sql!(plugin = "analytics-db", "DELETE FROM analytics_db__events WHERE id = $1", id))
///         .await
/// }
/// # let _ = forget;
/// ```
#[diagnostic::on_unimplemented(
    message = "`delete` runs a `Query<Delete>`, not a `{Self}`",
    label = "this query is not a DELETE",
    note = "call the method of the query's kind: `select` or `select_one` for `Query<Select>`, `insert` for `Query<Insert>`, `insert_many` for `Query<Insert, Rows<N>>`, `update` for `Query<Update>`"
)]
pub trait DeleteQuery: sealed::IntoQuery<Delete> {}

impl DeleteQuery for Query<Delete> {}

/// Refuses a result that lost rows the caller did not give up: any cut by the reply's size,
/// and a cut by `max_rows` unless the query set `max_rows` itself (`asked`).
pub(crate) fn complete(
    result: &SqlResult,
    asked: Option<u32>,
    preview: &str,
) -> Result<(), SqlError> {
    let Some(reason) = result.truncated_reason() else {
        return Ok(());
    };
    let rows = result.rows().len();
    let message = match reason {
        TruncatedReason::MaxRows if asked.is_some() => return Ok(()),
        TruncatedReason::MaxRows => format!(
            "the result has more than the {rows} rows that came back (the handler's default \
             max_rows, {}); read it with select_stream, which takes every row, set max_rows \
             on the query to the most rows you want (at most {}), or call execute for the \
             cut result",
            wire::DEFAULT_MAX_ROWS,
            wire::MAX_MAX_ROWS
        ),
        _ => format!(
            "only {rows} rows of the result fit in one NATS reply (the server's max_payload); \
             read it with select_stream, which takes every row in chunks, or call execute \
             for the cut result"
        ),
    };
    let mut details = Map::new();
    details.insert("rows_returned".into(), json!(rows));
    details.insert("reason".into(), json!(reason));
    details.insert(
        "max_rows".into(),
        json!(asked.unwrap_or(wire::DEFAULT_MAX_ROWS)),
    );
    Err(SqlError::Truncated(Box::new(
        ErrorDetail::new(RESULT_TRUNCATED, message, preview).with_details(details),
    ))
    .with_correlation_id(result.correlation_id()))
}

/// Waits for a violation reported by the server that dooms a request to `subject`.
fn refusal(
    violations: &PermissionViolations,
    subject: &str,
) -> impl std::future::Future<Output = Violation> + Send + 'static {
    let mut receiver = violations.subscribe();
    let violations = violations.clone();
    let subject = subject.to_owned();
    async move {
        loop {
            match receiver.recv().await {
                Ok(violation) if violations.refuses_request(&violation, &subject) => {
                    return violation;
                }
                // Another subject's, or some were missed: keep waiting for ours.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                // The connection's callback is gone; only the reply or its timeout remain.
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }
}

fn permission_denied(violation: &Violation, preview: &str) -> SqlError {
    let (operation, message) = match violation.operation {
        Operation::Publish => (
            "publish",
            format!(
                "the NATS server does not allow this connection to publish to {}; check the plugin's NATS user and permissions",
                violation.subject
            ),
        ),
        Operation::Subscribe => (
            "subscribe",
            format!(
                "the NATS server does not allow this connection to subscribe to {}, where replies arrive; check the inbox prefix and permissions",
                violation.subject
            ),
        ),
    };
    SqlError::Permission(Box::new(
        ErrorDetail::new(NATS_PERMISSION_DENIED, message, preview).with_details(object(json!({
            "subject": violation.subject,
            "operation": operation,
        }))),
    ))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn validation(code: ErrorCode, message: String, preview: &str, details: Value) -> SqlError {
    SqlError::from_code(
        code,
        Box::new(ErrorDetail::new(code.as_str(), message, preview).with_details(object(details))),
    )
    .with_attempts(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn the_client_is_shareable() {
        assert_send_sync::<SqlClient>();
    }

    #[allow(dead_code, reason = "compile-time check only")]
    fn futures_are_send(client: &SqlClient, q: Query<Select>) {
        fn is_send<T: Send>(_: T) {}
        is_send(client.select::<crate::Row>(q));
    }
}
