//! The client's error: one kind per family of the specification (validation, execution,
//! timeout, permission, rate limit) plus transport and decode, each carrying the wire code,
//! message, details and the query it concerns.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};
use sql_core::ErrorCode;
use sql_core::wire::ErrorReply;

/// Characters of the query an error's `query_preview` keeps (whitespace collapsed).
pub(crate) const ERROR_PREVIEW_CHARS: usize = 100;

/// Everything known about one failure, whatever its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDetail {
    code: String,
    message: String,
    details: Map<String, Value>,
    query_preview: String,
    attempts: u32,
    correlation_id: String,
}

impl ErrorDetail {
    pub(crate) fn new(
        code: impl Into<String>,
        message: impl Into<String>,
        query_preview: impl Into<String>,
    ) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            details: Map::new(),
            query_preview: query_preview.into(),
            attempts: 1,
            correlation_id: String::new(),
        }
    }

    pub(crate) fn with_details(mut self, details: Map<String, Value>) -> Self {
        self.details = details;
        self
    }

    /// The wire code as sent (`NAMESPACE_VIOLATION`, ...), or the client's own code for
    /// failures that never reached the handler (`TRANSPORT_ERROR`, `DECODE_ERROR`).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// assert_eq!(err.detail().code(), "NAMESPACE_VIOLATION");
    /// ```
    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }

    /// What went wrong, for people.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// assert!(err.detail().message().contains("quote_db__quotes"));
    /// ```
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The reply's `details` (PROTOCOL.md section 3), or the client's own.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// assert_eq!(err.detail().details()["table"], "quote_db__quotes");
    /// ```
    #[must_use]
    pub fn details(&self) -> &Map<String, Value> {
        &self.details
    }

    /// The first 100 characters of the query, whitespace collapsed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let sql = "SELECT *
    ///            FROM quote_db__quotes
    ///            WHERE id = $1";
    /// let err = Query::<Select>::checked(sql, &plugin).unwrap_err();
    /// assert_eq!(err.detail().query_preview(), "SELECT * FROM quote_db__quotes WHERE id = $1");
    /// ```
    #[must_use]
    pub fn query_preview(&self) -> &str {
        &self.query_preview
    }

    /// The id the query carried, as in both sides' audit records.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// // Set for every query that was sent, to find it in the handler's audit log;
    /// // empty for one refused before sending.
    /// assert!(err.detail().correlation_id().is_empty());
    /// ```
    #[must_use]
    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }

    /// How many times the request was sent (1 when it was not retried, 0 when it was
    /// refused before sending).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// // Refused by the client's own checks: never sent.
    /// assert_eq!(err.detail().attempts(), 0);
    /// ```
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        if !self.query_preview.is_empty() {
            write!(f, "; query: {}", self.query_preview)?;
        }
        Ok(())
    }
}

/// Why a query failed.
///
/// Match on the variant for the family, or on [`SqlError::code`] for the exact wire code;
/// never on message text.
///
/// # Examples
///
/// ```
/// use sql_client::{Query, Select, SqlError};
/// use sql_core::Plugin;
///
/// let plugin = Plugin::new("analytics-db")?;
/// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
/// assert!(matches!(err, SqlError::Permission(_)));
/// assert_eq!(err.code(), "NAMESPACE_VIOLATION");
/// assert!(!err.is_transient());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The query or its parameters are invalid; fix the call (PARSE_ERROR,
    /// FORBIDDEN_STATEMENT, PARAM_COUNT_MISMATCH, ...).
    #[error("invalid query: {0}")]
    Validation(Box<ErrorDetail>),
    /// The database refused or failed the statement (EXECUTION_ERROR, OVERLOADED,
    /// INTERNAL_ERROR, and codes this version does not know).
    #[error("query failed: {0}")]
    Execution(Box<ErrorDetail>),
    /// The query ran past its timeout, in the database or waiting for the reply.
    #[error("query timed out: {0}")]
    Timeout(Box<ErrorDetail>),
    /// The plugin may not do this: another plugin's or a system table, or a write without
    /// permission.
    #[error("permission denied: {0}")]
    Permission(Box<ErrorDetail>),
    /// The plugin's query quota is spent; see [`SqlError::retry_after`].
    #[error("rate limited: {0}")]
    RateLimit(Box<ErrorDetail>),
    /// NATS could not deliver the request or its reply.
    #[error("transport failed: {0}")]
    Transport(Box<ErrorDetail>),
    /// The reply or a row could not be decoded.
    #[error("cannot decode the reply: {0}")]
    Decode(Box<ErrorDetail>),
    /// The result had more rows than came back (`RESULT_TRUNCATED`): more than the
    /// request's `max_rows`, or more than fit in one NATS reply. Returned by the methods
    /// that hand back rows alone ([`SqlClient::select`](crate::SqlClient::select)), which
    /// would otherwise lose rows silently; the details say how many came
    /// (`rows_returned`) and why (`reason`: `max_rows` or `max_bytes`).
    #[error("incomplete result: {0}")]
    Truncated(Box<ErrorDetail>),
}

/// Client-side codes for failures that have no wire code.
pub(crate) const TRANSPORT_ERROR: &str = "TRANSPORT_ERROR";
pub(crate) const DECODE_ERROR: &str = "DECODE_ERROR";
pub(crate) const RESULT_TRUNCATED: &str = "RESULT_TRUNCATED";

impl SqlError {
    /// The error from a handler's error reply; unknown codes become [`SqlError::Execution`].
    pub(crate) fn from_reply(reply: ErrorReply, query_preview: &str) -> Self {
        let code = reply.code();
        let detail = Box::new(
            ErrorDetail::new(reply.error, reply.message, query_preview).with_details(reply.details),
        );
        match code {
            Some(code) => Self::from_code(code, detail),
            None => Self::Execution(detail),
        }
    }

    /// The kind a wire code belongs to.
    pub(crate) fn from_code(code: ErrorCode, detail: Box<ErrorDetail>) -> Self {
        match code {
            ErrorCode::NamespaceViolation
            | ErrorCode::SystemTableAccess
            | ErrorCode::PermissionDenied => Self::Permission(detail),
            ErrorCode::Timeout => Self::Timeout(detail),
            ErrorCode::RateLimit => Self::RateLimit(detail),
            ErrorCode::ExecutionError | ErrorCode::Overloaded | ErrorCode::InternalError => {
                Self::Execution(detail)
            }
            // Everything else is a mistake in the request itself.
            _ => Self::Validation(detail),
        }
    }

    pub(crate) fn transport(message: impl Into<String>, query_preview: &str) -> Self {
        Self::Transport(Box::new(ErrorDetail::new(
            TRANSPORT_ERROR,
            message,
            query_preview,
        )))
    }

    pub(crate) fn decode(message: impl Into<String>, query_preview: &str) -> Self {
        Self::Decode(Box::new(ErrorDetail::new(
            DECODE_ERROR,
            message,
            query_preview,
        )))
    }

    /// Everything known about the failure.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// let detail = err.detail();
    /// assert_eq!(detail.code(), "NAMESPACE_VIOLATION");
    /// assert_eq!(detail.query_preview(), "SELECT * FROM quote_db__quotes");
    /// assert_eq!(detail.attempts(), 0);
    /// ```
    #[must_use]
    pub fn detail(&self) -> &ErrorDetail {
        match self {
            Self::Validation(d)
            | Self::Execution(d)
            | Self::Timeout(d)
            | Self::Permission(d)
            | Self::RateLimit(d)
            | Self::Transport(d)
            | Self::Decode(d)
            | Self::Truncated(d) => d,
        }
    }

    fn detail_mut(&mut self) -> &mut ErrorDetail {
        match self {
            Self::Validation(d)
            | Self::Execution(d)
            | Self::Timeout(d)
            | Self::Permission(d)
            | Self::RateLimit(d)
            | Self::Transport(d)
            | Self::Decode(d)
            | Self::Truncated(d) => d,
        }
    }

    /// The kind's name, as audit records give it in `error_type` (the specification's
    /// exception class): `Validation`, `Execution`, `Timeout`, `Permission`, `RateLimit`,
    /// `Transport`, `Decode` or `Truncated`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::{Query, Select};
    ///
    /// let plugin = sql_client::core::Plugin::new("analytics-db")?;
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// assert_eq!(err.type_name(), "Permission");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Validation(_) => "Validation",
            Self::Execution(_) => "Execution",
            Self::Timeout(_) => "Timeout",
            Self::Permission(_) => "Permission",
            Self::RateLimit(_) => "RateLimit",
            Self::Transport(_) => "Transport",
            Self::Decode(_) => "Decode",
            Self::Truncated(_) => "Truncated",
        }
    }

    pub(crate) fn with_detail(mut self, key: &str, value: Value) -> Self {
        self.detail_mut().details.insert(key.to_owned(), value);
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.detail_mut().attempts = attempts;
        self
    }

    pub(crate) fn with_correlation_id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.detail_mut().correlation_id);
        self
    }

    /// The wire code, such as `NAMESPACE_VIOLATION`, or `TRANSPORT_ERROR` /
    /// `DECODE_ERROR` for failures that never got a reply.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// assert_eq!(err.code(), "NAMESPACE_VIOLATION");
    /// ```
    #[must_use]
    pub fn code(&self) -> &str {
        self.detail().code()
    }

    /// The wire code parsed, when it is one this version knows.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// use sql_client::core::ErrorCode;
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    ///
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// assert_eq!(err.error_code(), Some(ErrorCode::NamespaceViolation));
    /// ```
    #[must_use]
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code().parse().ok()
    }

    /// The message, for people.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// // For people, in logs and error pages; programs match on the variant or the code.
    /// assert!(err.message().contains("quote_db__quotes"));
    /// ```
    #[must_use]
    pub fn message(&self) -> &str {
        self.detail().message()
    }

    /// The reply's details.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELECT * FROM quote_db__quotes", &plugin).unwrap_err();
    /// assert_eq!(err.details()["table"], "quote_db__quotes");
    /// assert_eq!(err.details()["expected_prefix"], "analytics_db__");
    /// ```
    #[must_use]
    pub fn details(&self) -> &Map<String, Value> {
        self.detail().details()
    }

    /// Whether trying again later may succeed: transport failures, timeouts, overload,
    /// transient database errors (busy, locked, deadlock) and rate limits.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{Query, Select};
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// // A mistake in the query: sending it again would fail the same way.
    /// let err = Query::<Select>::checked("SELEC id FROM analytics_db__events", &plugin).unwrap_err();
    /// assert_eq!(err.code(), "PARSE_ERROR");
    /// assert!(!err.is_transient());
    /// ```
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Timeout(_) | Self::RateLimit(_) => true,
            Self::Execution(d) => {
                d.code == ErrorCode::Overloaded.as_str()
                    || d.details.get("transient") == Some(&Value::Bool(true))
            }
            _ => false,
        }
    }

    /// For a rate-limit error, how long to wait before the next query is allowed.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::{Query, Row, Select, SqlClient, SqlError, sql};
    ///
    /// // Waits as long as the limiter says, once, then tries again.
    /// async fn events(client: &SqlClient) -> Result<Vec<Row>, SqlError> {
    ///     let query = || sql!(plugin = "analytics-db", "SELECT id, name FROM analytics_db__events");
    ///     match client.select(query()).await {
    ///         Err(err) => match err.retry_after() {
    ///             Some(wait) => {
    ///                 tokio::time::sleep(wait).await;
    ///                 client.select(query()).await
    ///             }
    ///             None => Err(err),
    ///         },
    ///         rows => rows,
    ///     }
    /// }
    /// # let _ = events;
    ///
    /// // Only a rate-limit error says how long to wait.
    /// # let plugin = sql_client::core::Plugin::new("analytics-db").unwrap();
    /// let err = Query::<Select>::checked("SELEC id FROM analytics_db__events", &plugin).unwrap_err();
    /// assert_eq!(err.retry_after(), None);
    /// ```
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimit(d) => d
                .details
                .get("retry_after_ms")
                .and_then(Value::as_u64)
                .map(Duration::from_millis),
            _ => None,
        }
    }
}

/// Result type of this crate.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sql_core::ALL_ERROR_CODES;

    fn reply(code: &str, details: Value) -> ErrorReply {
        serde_json::from_value(json!({"error": code, "message": "m", "details": details})).unwrap()
    }

    #[test]
    fn every_wire_code_maps_to_a_kind() {
        for code in ALL_ERROR_CODES {
            let err = SqlError::from_reply(reply(code.as_str(), json!({})), "SELECT 1");
            let expected = match code {
                ErrorCode::NamespaceViolation
                | ErrorCode::SystemTableAccess
                | ErrorCode::PermissionDenied => "permission",
                ErrorCode::Timeout => "timeout",
                ErrorCode::RateLimit => "rate",
                ErrorCode::ExecutionError | ErrorCode::Overloaded | ErrorCode::InternalError => {
                    "execution"
                }
                _ => "validation",
            };
            let kind = match &err {
                SqlError::Permission(_) => "permission",
                SqlError::Timeout(_) => "timeout",
                SqlError::RateLimit(_) => "rate",
                SqlError::Execution(_) => "execution",
                SqlError::Validation(_) => "validation",
                _ => "other",
            };
            assert_eq!(kind, expected, "{code}");
            assert_eq!(err.code(), code.as_str());
            assert_eq!(err.error_code(), Some(code));
        }
    }

    #[test]
    fn unknown_and_legacy_codes_do_not_crash() {
        let err = SqlError::from_reply(reply("SOMETHING_NEW", json!({})), "q");
        assert!(matches!(err, SqlError::Execution(_)));
        assert_eq!(err.code(), "SOMETHING_NEW");
        assert_eq!(err.error_code(), None);
        let err = SqlError::from_reply(reply("PARAM_ERROR", json!({})), "q");
        assert!(matches!(err, SqlError::Validation(_)));
        assert_eq!(err.error_code(), Some(ErrorCode::ParamTypeError));
    }

    #[test]
    fn transient_errors() {
        assert!(
            SqlError::from_reply(reply("OVERLOADED", json!({"transient": true})), "q")
                .is_transient()
        );
        assert!(
            SqlError::from_reply(reply("EXECUTION_ERROR", json!({"transient": true})), "q")
                .is_transient()
        );
        assert!(
            !SqlError::from_reply(
                reply("EXECUTION_ERROR", json!({"constraint_type": "unique"})),
                "q"
            )
            .is_transient()
        );
        assert!(!SqlError::from_reply(reply("PARSE_ERROR", json!({})), "q").is_transient());
        assert!(SqlError::transport("no responders", "q").is_transient());
    }

    #[test]
    fn local_errors_have_client_codes() {
        let err = SqlError::decode("bad json", "");
        assert_eq!(err.code(), "DECODE_ERROR");
        assert_eq!(err.error_code(), None);
        assert_eq!(
            err.to_string(),
            "cannot decode the reply: bad json (DECODE_ERROR)"
        );
        assert_eq!(err.retry_after(), None);
        assert!(err.details().is_empty());
    }

    #[test]
    fn display_names_code_attempts_and_query() {
        let err = SqlError::from_reply(reply("TIMEOUT", json!({"timeout_ms": 100})), "SELECT slow")
            .with_attempts(4);
        assert_eq!(
            err.to_string(),
            "query timed out: m (TIMEOUT) after 4 attempts; query: SELECT slow"
        );
        let limited =
            SqlError::from_reply(reply("RATE_LIMIT", json!({"retry_after_ms": 1500})), "q");
        assert_eq!(limited.retry_after(), Some(Duration::from_millis(1500)));
    }
}
