//! Wire types of PROTOCOL.md sections 1 to 3: subjects, the request with its field
//! rules, and the two reply shapes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ErrorCode, Plugin, PluginNameError};

/// Default subject prefix; requests go to `<prefix>.<plugin>.execute`.
pub const DEFAULT_SUBJECT_PREFIX: &str = "rosey.db.sql";
/// Default queue group the handlers share.
pub const DEFAULT_QUEUE_GROUP: &str = "sql-handlers";
/// Header carrying the correlation id.
pub const CORRELATION_ID_HEADER: &str = "Correlation-Id";
/// Header carrying the idempotency key of a write.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Longest header value accepted for the two headers above.
pub const MAX_HEADER_VALUE_LEN: usize = 128;
/// Longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 65_536;
/// Default and bounds of `timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
/// Smallest `timeout_ms`.
pub const MIN_TIMEOUT_MS: u32 = 100;
/// Largest `timeout_ms`.
pub const MAX_TIMEOUT_MS: u32 = 30_000;
/// Default `max_rows`.
pub const DEFAULT_MAX_ROWS: u32 = 10_000;
/// Largest `max_rows`.
pub const MAX_MAX_ROWS: u32 = 100_000;
/// Largest number of `batch` entries.
pub const MAX_BATCH_ENTRIES: usize = 1000;
/// Most statements in one `transaction` (**ext**).
pub const MAX_TRANSACTION_STATEMENTS: usize = 100;
/// Default `chunk_bytes` of a `stream` (**ext**): the rows of one chunk, encoded.
pub const DEFAULT_CHUNK_BYTES: u32 = 256 * 1024;
/// Smallest `chunk_bytes`.
pub const MIN_CHUNK_BYTES: u32 = 4 * 1024;
/// Largest `chunk_bytes`; a handler also keeps each chunk under its server's `max_payload`.
pub const MAX_CHUNK_BYTES: u32 = 8 * 1024 * 1024;
/// The `query` a client sends beside a `transaction`: no statement, so a handler that does
/// not know the ext answers `EMPTY_QUERY` and runs nothing, instead of one statement alone.
pub const TRANSACTION_QUERY: &str = "/* transaction: see the transaction field */";
/// Longest `query_preview` in error details.
pub const QUERY_PREVIEW_CHARS: usize = 200;

/// The subject a plugin's requests go to.
///
/// # Examples
///
/// ```
/// use sql_core::{Plugin, wire};
/// let plugin = Plugin::new("quote-db")?;
/// assert_eq!(wire::subject(wire::DEFAULT_SUBJECT_PREFIX, &plugin), "rosey.db.sql.quote-db.execute");
/// # Ok::<(), sql_core::PluginNameError>(())
/// ```
#[must_use]
pub fn subject(prefix: &str, plugin: &Plugin) -> String {
    format!("{prefix}.{}.execute", plugin.name())
}

/// The wildcard subject handlers subscribe to.
///
/// # Examples
///
/// ```
/// assert_eq!(sql_core::wire::handler_subject("rosey.db.sql"), "rosey.db.sql.*.execute");
/// ```
#[must_use]
pub fn handler_subject(prefix: &str) -> String {
    format!("{prefix}.*.execute")
}

/// Extracts the plugin from a request subject: its identity (PROTOCOL.md section 1).
///
/// # Errors
///
/// [`RequestError`] with field `subject` when the subject does not have the shape
/// `<prefix>.<plugin>.execute` or the plugin name is invalid.
///
/// # Examples
///
/// ```
/// use sql_core::wire::plugin_from_subject;
/// assert_eq!(plugin_from_subject("rosey.db.sql", "rosey.db.sql.a-b.execute")?.name(), "a-b");
/// assert!(plugin_from_subject("rosey.db.sql", "rosey.db.sql.A.execute").is_err());
/// # Ok::<(), sql_core::wire::RequestError>(())
/// ```
pub fn plugin_from_subject(prefix: &str, subject: &str) -> Result<Plugin, RequestError> {
    let name = subject
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".execute"))
        .ok_or_else(|| {
            RequestError::new(
                "subject",
                format!("subject must be {prefix}.<plugin>.execute"),
            )
        })?;
    Plugin::new(name).map_err(|e: PluginNameError| RequestError::new("subject", e.to_string()))
}

/// Whether `value` is acceptable as a `Correlation-Id` or `Idempotency-Key`: 1 to 128
/// printable ASCII characters.
///
/// # Examples
///
/// ```
/// assert!(sql_core::wire::is_valid_header_value("req-42"));
/// assert!(!sql_core::wire::is_valid_header_value("tab\there"));
/// ```
#[must_use]
pub fn is_valid_header_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_HEADER_VALUE_LEN
        && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// Shape of `rows` in a success reply.
///
/// # Examples
///
/// ```
/// use sql_core::wire::RowFormat;
/// assert_eq!(serde_json::to_string(&RowFormat::Arrays)?, r#""arrays""#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RowFormat {
    /// Objects keyed by column name.
    #[default]
    Objects,
    /// Arrays aligned with `columns`.
    Arrays,
}

/// Why a reply holds fewer rows than the query produced.
///
/// # Examples
///
/// ```
/// use sql_core::wire::TruncatedReason;
/// assert_eq!(serde_json::to_string(&TruncatedReason::MaxBytes)?, r#""max_bytes""#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TruncatedReason {
    /// `max_rows` was reached.
    MaxRows,
    /// The reply would have exceeded the server's NATS `max_payload`.
    MaxBytes,
}

/// One request (PROTOCOL.md section 2).
///
/// The client serializes it; the handler reads it with [`Request::from_slice`], which
/// applies every field rule and names the field at fault.
///
/// # Examples
///
/// ```
/// use sql_core::wire::Request;
///
/// let request = Request::from_slice(br#"{"query": " SELECT 1 ", "timeout_ms": 500}"#)?;
/// assert_eq!(request.query, "SELECT 1");
/// assert_eq!(request.timeout_ms, 500);
/// assert!(!request.allow_write);
///
/// let err = Request::from_slice(br#"{"query": "SELECT 1", "allow_write": 1}"#).unwrap_err();
/// assert_eq!(err.field(), "allow_write");
/// # Ok::<(), sql_core::wire::RequestError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Request {
    /// The SQL, trimmed.
    pub query: String,
    /// One value per placeholder.
    pub params: Vec<Value>,
    /// Whether the statement may write.
    pub allow_write: bool,
    /// Time allowed in the database, in milliseconds.
    pub timeout_ms: u32,
    /// Most rows returned.
    pub max_rows: u32,
    /// Parameter lists to run the statement with, in one transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<Vec<Vec<Value>>>,
    /// Shape of the reply's rows.
    pub row_format: RowFormat,
    /// **ext**: statements to run in order in one database transaction, all or nothing,
    /// instead of `query` (which then holds no statement, see [`TRANSACTION_QUERY`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction: Option<Vec<Statement>>,
    /// **ext**: send the result of a read in chunks, each asked for by the client, rather
    /// than at most one reply's worth of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamOptions>,
}

/// How a `stream` (**ext**) is cut.
///
/// # Examples
///
/// ```
/// use sql_core::wire::{Request, DEFAULT_CHUNK_BYTES};
///
/// let request = Request::from_slice(br#"{"query": "SELECT 1", "stream": true}"#)?;
/// assert_eq!(request.stream.map(|s| s.chunk_bytes), Some(DEFAULT_CHUNK_BYTES));
/// let request = Request::from_slice(br#"{"query": "SELECT 1", "stream": {"chunk_bytes": 65536}}"#)?;
/// assert_eq!(request.stream.map(|s| s.chunk_bytes), Some(65536));
/// # Ok::<(), sql_core::wire::RequestError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Most bytes of encoded rows per chunk.
    pub chunk_bytes: u32,
}

impl StreamOptions {
    /// Chunks of at most `chunk_bytes` of rows, kept within the protocol's bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = sql_core::wire::StreamOptions::new(1);
    /// assert_eq!(options.chunk_bytes, sql_core::wire::MIN_CHUNK_BYTES);
    /// ```
    #[must_use]
    pub fn new(chunk_bytes: u32) -> Self {
        Self {
            chunk_bytes: chunk_bytes.clamp(MIN_CHUNK_BYTES, MAX_CHUNK_BYTES),
        }
    }
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self::new(DEFAULT_CHUNK_BYTES)
    }
}

/// Where a chunk of a `stream` (**ext**) stands: the stream's id (its subject's last
/// token), the chunk's number from 0, and whether it is the last.
///
/// # Examples
///
/// ```
/// use sql_core::wire::SuccessReply;
///
/// let reply: SuccessReply = serde_json::from_str(r#"{"rows": [[1]], "row_count": 1, "execution_time_ms": 0.1,
///     "truncated": false, "columns": ["x"], "stream": {"id": "a1", "seq": 0, "done": false}}"#)?;
/// let position = reply.stream.expect("a chunk");
/// assert_eq!((position.seq, position.done), (0, false));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamPosition {
    /// The stream's id: the next chunks are asked for on [`stream_subject`] with it.
    pub id: String,
    /// This chunk's number, from 0.
    pub seq: u64,
    /// Whether this is the last chunk.
    pub done: bool,
}

impl StreamPosition {
    /// A position.
    ///
    /// # Examples
    ///
    /// ```
    /// let position = sql_core::wire::StreamPosition::new("a1", 3, true);
    /// assert!(position.done);
    /// ```
    #[must_use]
    pub fn new(id: impl Into<String>, seq: u64, done: bool) -> Self {
        Self {
            id: id.into(),
            seq,
            done,
        }
    }
}

/// What a client sends on a stream's subject: the next chunk's number, or the end of its
/// interest (`cancel`).
///
/// # Examples
///
/// ```
/// use sql_core::wire::StreamNext;
///
/// let next: StreamNext = serde_json::from_str(r#"{"seq": 4}"#)?;
/// assert_eq!(next, StreamNext::Chunk { seq: 4 });
/// let cancel: StreamNext = serde_json::from_str(r#"{"cancel": true}"#)?;
/// assert_eq!(cancel, StreamNext::Cancel { cancel: true });
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum StreamNext {
    /// Send chunk `seq`.
    Chunk {
        /// The chunk's number: the one after the last received.
        seq: u64,
    },
    /// Stop the stream; no reply is sent.
    Cancel {
        /// Always true.
        cancel: bool,
    },
}

/// The subject a stream's next chunks are asked for on: `<prefix>.<plugin>.stream.<id>`.
///
/// # Examples
///
/// ```
/// let plugin = sql_core::Plugin::new("analytics-db")?;
/// assert_eq!(
///     sql_core::wire::stream_subject("rosey.db.sql", &plugin, "a1"),
///     "rosey.db.sql.analytics-db.stream.a1"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn stream_subject(prefix: &str, plugin: &Plugin, id: &str) -> String {
    format!("{prefix}.{}.stream.{id}", plugin.name())
}

/// One statement of a `transaction` (**ext**): its SQL, trimmed, and its parameters.
///
/// # Examples
///
/// ```
/// use sql_core::wire::Request;
///
/// let request = Request::from_slice(br#"{"query": "", "allow_write": true, "transaction": [
///     {"query": "UPDATE a__accounts SET balance = balance - $1 WHERE id = $2", "params": [5, 1]},
///     {"query": " UPDATE a__accounts SET balance = balance + $1 WHERE id = $2 ", "params": [5, 2]}]}"#)?;
/// let statements = request.transaction.expect("a transaction");
/// assert_eq!(statements[1].query, "UPDATE a__accounts SET balance = balance + $1 WHERE id = $2");
/// # Ok::<(), sql_core::wire::RequestError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Statement {
    /// The SQL, trimmed.
    pub query: String,
    /// One value per placeholder.
    pub params: Vec<Value>,
}

impl Statement {
    /// A statement with its parameters.
    ///
    /// # Examples
    ///
    /// ```
    /// let statement = sql_core::wire::Statement::new("SELECT $1", vec![serde_json::json!(1)]);
    /// assert_eq!(statement.params.len(), 1);
    /// ```
    #[must_use]
    pub fn new(query: impl Into<String>, params: Vec<Value>) -> Self {
        Self {
            query: query.into(),
            params,
        }
    }
}

impl Request {
    /// A request with the protocol's defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = sql_core::wire::Request::new("SELECT 1");
    /// assert_eq!(request.timeout_ms, sql_core::wire::DEFAULT_TIMEOUT_MS);
    /// ```
    #[must_use]
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            params: Vec::new(),
            allow_write: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_rows: DEFAULT_MAX_ROWS,
            batch: None,
            row_format: RowFormat::Objects,
            transaction: None,
            stream: None,
        }
    }

    /// Parses and validates a request body.
    ///
    /// # Errors
    ///
    /// [`RequestError`] naming the field at fault (`body` when the bytes are not UTF-8,
    /// not JSON or not an object).
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::wire::Request;
    /// let request = Request::from_slice(br#"{"query": "SELECT $1", "params": [1], "row_format": "arrays"}"#)?;
    /// assert_eq!(request.params, [serde_json::json!(1)]);
    /// assert!(Request::from_slice(b"not json").is_err());
    /// # Ok::<(), sql_core::wire::RequestError>(())
    /// ```
    pub fn from_slice(body: &[u8]) -> Result<Self, RequestError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| RequestError::new("body", "body is not valid UTF-8"))?;
        let value = crate::strict_json::from_str(text).map_err(|e| {
            RequestError::new(
                "body",
                match e.classify() {
                    // The only data error of a strict parse: a key sent twice.
                    serde_json::error::Category::Data => format!("body is ambiguous: {e}"),
                    _ => format!("body is not JSON: {e}"),
                },
            )
        })?;
        let Value::Object(mut fields) = value else {
            return Err(RequestError::new("body", "body must be a JSON object"));
        };

        let query = query_field(&mut fields, "query")?;
        let params = params_field(&mut fields, "params")?;
        let allow_write = match fields.remove("allow_write") {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                return Err(RequestError::new(
                    "allow_write",
                    "allow_write must be true or false",
                ));
            }
        };
        let timeout_ms = bounded_int(
            &mut fields,
            "timeout_ms",
            DEFAULT_TIMEOUT_MS,
            MIN_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
        )?;
        let max_rows = bounded_int(&mut fields, "max_rows", DEFAULT_MAX_ROWS, 1, MAX_MAX_ROWS)?;
        let batch = match fields.remove("batch") {
            None => None,
            Some(value) => Some(batch_entries(value, &params, allow_write)?),
        };
        let row_format = match fields.remove("row_format") {
            None => RowFormat::Objects,
            Some(Value::String(s)) if s == "objects" => RowFormat::Objects,
            Some(Value::String(s)) if s == "arrays" => RowFormat::Arrays,
            Some(_) => {
                return Err(RequestError::new(
                    "row_format",
                    "row_format must be \"objects\" or \"arrays\"",
                ));
            }
        };
        let transaction = match fields.remove("transaction") {
            None => None,
            Some(value) => Some(transaction_statements(value, &params, batch.is_some())?),
        };
        let stream = match fields.remove("stream") {
            None => None,
            Some(value) => Some(stream_options(
                value,
                batch.is_some() || transaction.is_some(),
            )?),
        };
        Ok(Self {
            query,
            params,
            allow_write,
            timeout_ms,
            max_rows,
            batch,
            row_format,
            transaction,
            stream,
        })
    }
}

fn stream_options(value: Value, with_more: bool) -> Result<StreamOptions, RequestError> {
    const FIELD: &str = "stream";
    if with_more {
        return Err(RequestError::new(
            FIELD,
            "only a single read is streamed: not a batch or a transaction",
        ));
    }
    match value {
        Value::Bool(true) => Ok(StreamOptions::default()),
        Value::Object(mut fields) => Ok(StreamOptions {
            chunk_bytes: bounded_int(
                &mut fields,
                "chunk_bytes",
                DEFAULT_CHUNK_BYTES,
                MIN_CHUNK_BYTES,
                MAX_CHUNK_BYTES,
            )
            .map_err(|e| RequestError::new(FIELD, e.to_string()))?,
        }),
        _ => Err(RequestError::new(
            FIELD,
            "stream must be true or an object with chunk_bytes",
        )),
    }
}

/// A required SQL text: a string, trimmed, at most [`MAX_QUERY_BYTES`].
fn query_field(
    fields: &mut Map<String, Value>,
    field: &'static str,
) -> Result<String, RequestError> {
    let query = match fields.remove("query") {
        Some(Value::String(q)) => q.trim().to_owned(),
        Some(_) => return Err(RequestError::new(field, "query must be a string")),
        None => return Err(RequestError::new(field, "query is required")),
    };
    if query.len() > MAX_QUERY_BYTES {
        return Err(RequestError::new(
            field,
            format!(
                "query is {} bytes; at most {MAX_QUERY_BYTES} are allowed",
                query.len()
            ),
        ));
    }
    Ok(query)
}

fn params_field(
    fields: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Vec<Value>, RequestError> {
    match fields.remove("params") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(RequestError::new(field, "params must be an array")),
    }
}

fn transaction_statements(
    value: Value,
    params: &[Value],
    has_batch: bool,
) -> Result<Vec<Statement>, RequestError> {
    const FIELD: &str = "transaction";
    let Value::Array(entries) = value else {
        return Err(RequestError::new(
            FIELD,
            "transaction must be an array of statements",
        ));
    };
    if entries.is_empty() || entries.len() > MAX_TRANSACTION_STATEMENTS {
        return Err(RequestError::new(
            FIELD,
            format!(
                "transaction must hold 1 to {MAX_TRANSACTION_STATEMENTS} statements; it holds {}",
                entries.len()
            ),
        ));
    }
    if !params.is_empty() || has_batch {
        return Err(RequestError::new(
            FIELD,
            "a transaction's parameters go with its statements, not in params or batch",
        ));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let Value::Object(mut fields) = entry else {
                return Err(RequestError::new(
                    FIELD,
                    format!("transaction statement {i} must be an object with query and params"),
                ));
            };
            let at = |e: RequestError| RequestError::new(FIELD, format!("statement {i}: {e}"));
            Ok(Statement {
                query: query_field(&mut fields, FIELD).map_err(at)?,
                params: params_field(&mut fields, FIELD).map_err(at)?,
            })
        })
        .collect()
}

fn bounded_int(
    fields: &mut Map<String, Value>,
    field: &'static str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, RequestError> {
    let out_of_range = || {
        RequestError::new(
            field,
            format!("{field} must be an integer from {min} to {max}"),
        )
    };
    match fields.remove(field) {
        None => Ok(default),
        // `true` is not an integer, and neither is 1.5; `as_u64` refuses both.
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(out_of_range),
        Some(_) => Err(out_of_range()),
    }
}

fn batch_entries(
    value: Value,
    params: &[Value],
    allow_write: bool,
) -> Result<Vec<Vec<Value>>, RequestError> {
    let Value::Array(entries) = value else {
        return Err(RequestError::new(
            "batch",
            "batch must be an array of arrays",
        ));
    };
    if entries.is_empty() || entries.len() > MAX_BATCH_ENTRIES {
        return Err(RequestError::new(
            "batch",
            format!(
                "batch must hold 1 to {MAX_BATCH_ENTRIES} entries; it holds {}",
                entries.len()
            ),
        ));
    }
    if !params.is_empty() {
        return Err(RequestError::new(
            "batch",
            "send either params or batch, not both",
        ));
    }
    if !allow_write {
        return Err(RequestError::new(
            "allow_write",
            "batch needs allow_write: true",
        ));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| match entry {
            Value::Array(items) => Ok(items),
            _ => Err(RequestError::new(
                "batch",
                format!("batch entry {i} must be an array"),
            )),
        })
        .collect()
}

/// A request that breaks a rule of PROTOCOL.md section 2: code
/// `REQUEST_VALIDATION_ERROR`, with the field at fault.
///
/// # Examples
///
/// ```
/// let err = sql_core::wire::Request::from_slice(b"[1]").unwrap_err();
/// assert_eq!(err.field(), "body");
/// assert_eq!(err.code(), sql_core::ErrorCode::RequestValidationError);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RequestError {
    field: &'static str,
    reason: String,
}

impl RequestError {
    /// A request error for `field`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sql_core::wire::RequestError::new("timeout_ms", "too long");
    /// assert_eq!(err.to_string(), "too long");
    /// ```
    #[must_use]
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// The field at fault, such as `body`, `query` or `timeout_ms`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sql_core::wire::Request::from_slice(br#"{"query": 1}"#).unwrap_err();
    /// assert_eq!(err.field(), "query");
    /// ```
    #[must_use]
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// Always [`ErrorCode::RequestValidationError`].
    ///
    /// # Examples
    ///
    /// ```
    /// let err = sql_core::wire::RequestError::new("body", "not JSON");
    /// assert_eq!(err.code().as_str(), "REQUEST_VALIDATION_ERROR");
    /// ```
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        ErrorCode::RequestValidationError
    }
}

/// A success reply (PROTOCOL.md section 3). `R` is the row representation: the handler
/// writes pre-encoded rows, a client reads [`Value`]s.
///
/// # Examples
///
/// ```
/// use sql_core::wire::SuccessReply;
///
/// let reply: SuccessReply = serde_json::from_str(
///     r#"{"rows": [{"id": 1}], "row_count": 1, "execution_time_ms": 0.2, "truncated": false, "columns": ["id"]}"#,
/// )?;
/// assert_eq!(reply.rows[0]["id"], 1);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SuccessReply<R = Value> {
    /// The rows, as objects or arrays.
    pub rows: Vec<R>,
    /// Rows returned for reads; rows affected for writes.
    pub row_count: u64,
    /// Time spent in the database.
    pub execution_time_ms: f64,
    /// Whether more rows existed than were returned.
    pub truncated: bool,
    /// Why rows are missing, when `truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_reason: Option<TruncatedReason>,
    /// Result column names in select-list order.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Notes for the caller, when any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// **ext**: the indexes into `columns` of the columns whose every non-null value in
    /// `rows` is a blob (base64 text), ascending. `None` when the handler did not say (one
    /// from before this field): then a string may be text or a blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_columns: Option<Vec<usize>>,
    /// **ext**: `[row, column]` (indexes into `rows` and `columns`) of each blob value in a
    /// column that also holds other non-null values, which only SQLite's per-value storage
    /// classes produce; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blob_values: Vec<[usize; 2]>,
    /// **ext**: a `transaction`'s results, one success reply per statement in order; the
    /// reply's own `rows` are then empty and its `row_count` is their sum.
    #[serde(
        default = "no_results",
        skip_serializing_if = "Option::is_none",
        bound(deserialize = "R: Deserialize<'de>")
    )]
    pub results: Option<Vec<SuccessReply<R>>>,
    /// **ext**: a chunk of a `stream`: where it stands. `rows` and `row_count` are the
    /// chunk's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamPosition>,
}

/// `results`' default: a path, since `default` alone would ask `R: Default` of every row
/// type.
fn no_results<R>() -> Option<Vec<SuccessReply<R>>> {
    None
}

impl<R> SuccessReply<R> {
    /// A reply with the given rows and columns, not truncated.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::wire::SuccessReply;
    /// let reply = SuccessReply::new(vec![serde_json::json!([1])], 1, 0.1, vec!["id".to_owned()]);
    /// assert!(!reply.truncated);
    /// ```
    #[must_use]
    pub fn new(rows: Vec<R>, row_count: u64, execution_time_ms: f64, columns: Vec<String>) -> Self {
        Self {
            rows,
            row_count,
            execution_time_ms,
            truncated: false,
            truncated_reason: None,
            columns,
            warnings: Vec::new(),
            blob_columns: None,
            blob_values: Vec::new(),
            results: None,
            stream: None,
        }
    }

    /// Whether the value at `row`, `column` is a blob: `Some` when the reply says which
    /// values are blobs (`blob_columns`, `blob_values`), `None` when it does not.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::wire::SuccessReply;
    ///
    /// let reply: SuccessReply = serde_json::from_str(
    ///     r#"{"rows": [["login", "AAE="]], "row_count": 1, "execution_time_ms": 0.2,
    ///         "truncated": false, "columns": ["name", "payload"], "blob_columns": [1]}"#,
    /// )?;
    /// assert_eq!(reply.is_blob(0, 1), Some(true));
    /// assert_eq!(reply.is_blob(0, 0), Some(false));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[must_use]
    pub fn is_blob(&self, row: usize, column: usize) -> Option<bool> {
        let columns = self.blob_columns.as_ref()?;
        Some(columns.contains(&column) || self.blob_values.contains(&[row, column]))
    }
}

/// An error reply (PROTOCOL.md section 3). `error` stays a string so that a code this
/// version does not know is still readable; [`ErrorReply::code`] parses it.
///
/// # Examples
///
/// ```
/// use sql_core::{wire::ErrorReply, ErrorCode};
///
/// let reply: ErrorReply = serde_json::from_str(r#"{"error": "TIMEOUT", "message": "m", "details": {}}"#)?;
/// assert_eq!(reply.code(), Some(ErrorCode::Timeout));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorReply {
    /// The code, as sent.
    pub error: String,
    /// For people; match on `error`.
    pub message: String,
    /// `plugin`, `query_preview`, `param_count`, `correlation_id`, then the code's own.
    #[serde(default)]
    pub details: Map<String, Value>,
}

impl ErrorReply {
    /// An error reply with `code`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::{ErrorCode, wire::ErrorReply};
    /// let reply = ErrorReply::new(ErrorCode::Timeout, "too slow", serde_json::Map::new());
    /// assert_eq!(reply.error, "TIMEOUT");
    /// ```
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>, details: Map<String, Value>) -> Self {
        Self {
            error: code.as_str().to_owned(),
            message: message.into(),
            details,
        }
    }

    /// The parsed code; `None` for a code this version does not know.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::{ErrorCode, wire::ErrorReply};
    /// let reply = ErrorReply::new(ErrorCode::Overloaded, "busy", serde_json::Map::new());
    /// assert_eq!(reply.code(), Some(ErrorCode::Overloaded));
    /// ```
    #[must_use]
    pub fn code(&self) -> Option<ErrorCode> {
        self.error.parse().ok()
    }
}

/// Either reply, as a client reads it. `R` is the row representation: [`Value`], or
/// [`WireRow`] to keep the order of an object row's keys.
///
/// # Examples
///
/// ```
/// use sql_core::wire::Reply;
/// let reply: Reply = Reply::from_slice(br#"{"error": "SOMETHING_NEW", "message": "m"}"#)?;
/// assert!(matches!(reply, Reply::Error(e) if e.code().is_none()));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply<R = Value> {
    /// The statement ran.
    Success(SuccessReply<R>),
    /// It did not.
    Error(ErrorReply),
}

impl Reply {
    /// Parses a reply body with [`Value`] rows; see [`Reply::parse`].
    ///
    /// # Errors
    ///
    /// As [`Reply::parse`].
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::wire::Reply;
    /// let reply = Reply::from_slice(br#"{"rows": [], "row_count": 0, "execution_time_ms": 0.1, "truncated": false}"#)?;
    /// assert!(matches!(reply, Reply::Success(_)));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_slice(body: &[u8]) -> Result<Self, serde_json::Error> {
        Self::parse(body)
    }
}

impl<R: serde::de::DeserializeOwned> Reply<R> {
    /// Parses a reply body with rows of type `R`: a success reply when it is one (it has
    /// `rows`, `row_count`, `execution_time_ms` and `truncated`), an error reply otherwise.
    /// The success shape is tried first, so a result is read in one pass.
    ///
    /// # Errors
    ///
    /// A [`serde_json::Error`] when the body is neither reply shape: the error reply's
    /// when the body has an `error` field, the success reply's otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::wire::{Reply, WireRow};
    /// let body = br#"{"rows": [{"b": 1, "a": 2}], "row_count": 1, "execution_time_ms": 0.1, "truncated": false}"#;
    /// let Reply::Success(reply) = Reply::<WireRow>::parse(body)? else { panic!("a success") };
    /// assert!(matches!(&reply.rows[0], WireRow::Fields(fields) if fields[0].0 == "b"));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        let not_success = match serde_json::from_slice(body) {
            Ok(reply) => return Ok(Self::Success(reply)),
            Err(e) => e,
        };
        serde_json::from_slice(body)
            .map(Self::Error)
            .map_err(|not_error| {
                let has_error = serde_json::from_slice::<Map<String, Value>>(body)
                    .is_ok_and(|fields| fields.contains_key("error"));
                if has_error { not_error } else { not_success }
            })
    }
}

/// One row of a success reply as it came: the values of `row_format: "arrays"`, or the
/// fields of an object row with its keys in the order they were sent (a [`Value`] object
/// sorts them). A peer that omits `columns` (PROTOCOL.md: an older peer may omit ext
/// fields) still says the column order this way.
///
/// # Examples
///
/// ```
/// use sql_core::wire::WireRow;
///
/// let row: WireRow = serde_json::from_str(r#"{"zeta": 1, "alpha": 2}"#)?;
/// let WireRow::Fields(fields) = row else { panic!("an object") };
/// assert_eq!(fields[0].0, "zeta");
/// let row: WireRow = serde_json::from_str("[1, 2]")?;
/// assert!(matches!(row, WireRow::Values(values) if values.len() == 2));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum WireRow {
    /// An array row, aligned with `columns`.
    Values(Vec<Value>),
    /// An object row: each key and value, in the order sent.
    Fields(Vec<(String, Value)>),
}

impl<'de> Deserialize<'de> for WireRow {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RowVisitor;

        impl<'de> serde::de::Visitor<'de> for RowVisitor {
            type Value = WireRow;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a row: an object or an array")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<WireRow, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(value) = seq.next_element()? {
                    values.push(value);
                }
                Ok(WireRow::Values(values))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<WireRow, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(WireRow::Fields(fields))
            }
        }

        deserializer.deserialize_any(RowVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_rules() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (br#"{"query":"SELECT 1"}"#, None),
            (br#"{"query":"SELECT 1","unknown":1}"#, None),
            (b"\xff\xfe", Some("body")),
            (b"not json", Some("body")),
            (b"[]", Some("body")),
            (b"\"s\"", Some("body")),
            (b"null", Some("body")),
            (b"{}", Some("query")),
            (br#"{"query":1}"#, Some("query")),
            (br#"{"query":"x","params":{}}"#, Some("params")),
            (
                br#"{"query":"x","allow_write":"true"}"#,
                Some("allow_write"),
            ),
            (br#"{"query":"x","allow_write":1}"#, Some("allow_write")),
            (br#"{"query":"x","timeout_ms":true}"#, Some("timeout_ms")),
            (br#"{"query":"x","timeout_ms":99}"#, Some("timeout_ms")),
            (br#"{"query":"x","timeout_ms":30001}"#, Some("timeout_ms")),
            (br#"{"query":"x","timeout_ms":100.5}"#, Some("timeout_ms")),
            (br#"{"query":"x","timeout_ms":-1}"#, Some("timeout_ms")),
            (br#"{"query":"x","timeout_ms":"100"}"#, Some("timeout_ms")),
            (br#"{"query":"x","max_rows":0}"#, Some("max_rows")),
            (br#"{"query":"x","max_rows":100001}"#, Some("max_rows")),
            (br#"{"query":"x","max_rows":100000}"#, None),
            (br#"{"query":"x","batch":[[1]],"allow_write":true}"#, None),
            (br#"{"query":"x","batch":[[1]]}"#, Some("allow_write")),
            (
                br#"{"query":"x","batch":[],"allow_write":true}"#,
                Some("batch"),
            ),
            (
                br#"{"query":"x","batch":[1],"allow_write":true}"#,
                Some("batch"),
            ),
            (
                br#"{"query":"x","batch":{},"allow_write":true}"#,
                Some("batch"),
            ),
            (
                br#"{"query":"x","batch":[[1]],"params":[1],"allow_write":true}"#,
                Some("batch"),
            ),
            (
                br#"{"query":"","transaction":[{"query":"SELECT 1"},{"query":"SELECT $1","params":[1]}]}"#,
                None,
            ),
            (br#"{"query":"","transaction":[]}"#, Some("transaction")),
            (br#"{"query":"","transaction":{}}"#, Some("transaction")),
            (br#"{"query":"","transaction":[1]}"#, Some("transaction")),
            (br#"{"query":"","transaction":[{}]}"#, Some("transaction")),
            (
                br#"{"query":"","transaction":[{"query":1}]}"#,
                Some("transaction"),
            ),
            (
                br#"{"query":"","transaction":[{"query":"x","params":{}}]}"#,
                Some("transaction"),
            ),
            (
                br#"{"query":"","params":[1],"transaction":[{"query":"x"}]}"#,
                Some("transaction"),
            ),
            (br#"{"query":"","transaction":null}"#, Some("transaction")),
            (br#"{"query":"x","row_format":"arrays"}"#, None),
            (br#"{"query":"x","row_format":"rows"}"#, Some("row_format")),
            // `null` is a value of the wrong type like any other, for every field.
            (br#"{"query":null}"#, Some("query")),
            (br#"{"query":"x","params":null}"#, Some("params")),
            (br#"{"query":"x","allow_write":null}"#, Some("allow_write")),
            (br#"{"query":"x","timeout_ms":null}"#, Some("timeout_ms")),
            (br#"{"query":"x","max_rows":null}"#, Some("max_rows")),
            (
                br#"{"query":"x","batch":null,"allow_write":true}"#,
                Some("batch"),
            ),
            (br#"{"query":"x","row_format":null}"#, Some("row_format")),
            // A key sent twice means two things to two readers: refused, at any depth.
            (
                br#"{"query":"x","allow_write":false,"allow_write":true}"#,
                Some("body"),
            ),
            (br#"{"query":"x","query":"y"}"#, Some("body")),
            (
                br#"{"query":"x","params":[{"$blob":"AA==","$blob":"AQ=="}]}"#,
                Some("body"),
            ),
            (br#"{"query":"x","unknown":1,"unknown":2}"#, Some("body")),
        ];
        for (body, field) in cases {
            let result = Request::from_slice(body);
            assert_eq!(
                result.as_ref().err().map(RequestError::field),
                *field,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn query_length_limit_counts_bytes_after_trim() {
        let ok = json!({"query": format!("  {}  ", "x".repeat(MAX_QUERY_BYTES))});
        assert!(Request::from_slice(ok.to_string().as_bytes()).is_ok());
        let long = json!({"query": "x".repeat(MAX_QUERY_BYTES + 1)});
        assert_eq!(
            Request::from_slice(long.to_string().as_bytes())
                .unwrap_err()
                .field(),
            "query"
        );
    }

    #[test]
    fn batch_limit() {
        let entries = vec![json!([1]); MAX_BATCH_ENTRIES + 1];
        let body = json!({"query": "x", "allow_write": true, "batch": entries});
        assert_eq!(
            Request::from_slice(body.to_string().as_bytes())
                .unwrap_err()
                .field(),
            "batch"
        );
    }

    #[test]
    fn request_serializes_to_what_from_slice_reads() {
        let mut request = Request::new("SELECT $1");
        request.params = vec![json!(1)];
        request.row_format = RowFormat::Arrays;
        let body = serde_json::to_vec(&request).unwrap();
        assert_eq!(Request::from_slice(&body).unwrap(), request);
    }

    #[test]
    fn subjects() {
        assert!(plugin_from_subject("p", "p.a.execute").is_ok());
        for bad in [
            "p.a.b.execute",
            "p..execute",
            "q.a.execute",
            "p.a",
            "p.a__b.execute",
            "pa.execute",
        ] {
            assert_eq!(
                plugin_from_subject("p", bad).unwrap_err().field(),
                "subject",
                "{bad}"
            );
        }
    }

    #[test]
    fn blob_marks_round_trip() {
        let mut reply = SuccessReply::new(
            vec![json!([1, "AAE=", "x"]), json!([2, "text", "AP8="])],
            2,
            0.1,
            vec!["id".into(), "payload".into(), "mixed".into()],
        );
        reply.blob_columns = Some(vec![1]);
        reply.blob_values = vec![[1, 2]];
        let text = serde_json::to_string(&reply).unwrap();
        assert!(
            text.contains(r#""blob_columns":[1],"blob_values":[[1,2]]"#),
            "{text}"
        );
        let back: SuccessReply = serde_json::from_str(&text).unwrap();
        assert_eq!(back, reply);
        assert_eq!(back.is_blob(0, 1), Some(true));
        assert_eq!(back.is_blob(1, 1), Some(true));
        assert_eq!(back.is_blob(0, 2), Some(false));
        assert_eq!(back.is_blob(1, 2), Some(true));
        assert_eq!(back.is_blob(0, 0), Some(false));

        // A handler that tells and finds no blobs sends an empty list, which is kept: it
        // is not the same as not telling.
        reply.blob_columns = Some(Vec::new());
        reply.blob_values.clear();
        let text = serde_json::to_string(&reply).unwrap();
        assert!(text.contains(r#""blob_columns":[]"#), "{text}");
        assert!(!text.contains("blob_values"), "{text}");
        let back: SuccessReply = serde_json::from_str(&text).unwrap();
        assert_eq!(back.blob_columns, Some(Vec::new()));
        assert_eq!(back.is_blob(0, 1), Some(false));
    }

    #[test]
    fn replies_without_blob_marks_read_as_before() {
        let body = br#"{"rows": [{"payload": "AAE="}], "row_count": 1,
            "execution_time_ms": 0.1, "truncated": false, "columns": ["payload"]}"#;
        let Ok(Reply::Success(reply)) = Reply::from_slice(body) else {
            panic!("a success reply")
        };
        assert_eq!(reply.blob_columns, None);
        assert!(reply.blob_values.is_empty());
        assert_eq!(reply.is_blob(0, 0), None);
        assert_eq!(reply.rows[0]["payload"], "AAE=");
        // Nor does the field appear when a reply without it is written again.
        let text = serde_json::to_string(&reply).unwrap();
        assert!(!text.contains("blob"), "{text}");
    }

    #[test]
    fn header_values() {
        assert!(is_valid_header_value(&"a".repeat(128)));
        assert!(!is_valid_header_value(&"a".repeat(129)));
        assert!(!is_valid_header_value(""));
        assert!(!is_valid_header_value("é"));
    }
}
