//! Audit logging (FR-4) and slow-query logging (FR-6) on `tracing`.
//!
//! Every query, failed and rate-limited ones included, emits one event on target
//! `sql.audit`. Parameter values never appear there. Queries slower than the threshold
//! also emit one on `sql.slow` with the full query and sanitized parameters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::SqlError;

/// How parameters appear in slow-query records.
///
/// # Examples
///
/// ```
/// use sql_client::{ClientConfig, ParamLogging};
///
/// let config = ClientConfig::default().slow_query_params(ParamLogging::Redacted);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamLogging {
    /// Values shown, with strings longer than `max_chars` characters cut to `max_chars`
    /// and `...` (the specification's rule at its default of 100), and blobs shown by
    /// size.
    Sanitized {
        /// Longest string shown in full.
        max_chars: usize,
    },
    /// Every value replaced by `"<redacted>"`.
    Redacted,
}

/// Longest string parameter a slow-query record shows in full (the specification's 100).
const PARAM_CHARS: usize = 100;

impl Default for ParamLogging {
    fn default() -> Self {
        Self::Sanitized {
            max_chars: PARAM_CHARS,
        }
    }
}

/// One query's audit facts.
#[derive(Debug)]
pub(crate) struct AuditRecord<'a> {
    pub(crate) plugin: &'a str,
    pub(crate) query: &'a str,
    pub(crate) query_hash: &'a str,
    /// `query_preview`: [`sql_core::audit_preview`] of `query`.
    pub(crate) preview: std::borrow::Cow<'a, str>,
    pub(crate) param_count: usize,
    pub(crate) row_count: u64,
    pub(crate) elapsed: Duration,
    pub(crate) truncated: bool,
    pub(crate) correlation_id: &'a str,
    pub(crate) attempts: u32,
    pub(crate) error: Option<&'a SqlError>,
    /// A transaction's statement: its index and the number of statements. The
    /// transaction's outcome is every statement's.
    pub(crate) statement: Option<(usize, usize)>,
}

/// Emits one record of `$level` on `$target` with every audit field of `$record`, then
/// the extra fields given: the slow-query record is the audit record plus its own fields
/// (FR-6), so both are written from this one list.
macro_rules! audit_event {
    ($level:ident, $target:literal, $record:expr, $message:literal $(, $($extra:tt)+)?) => {{
        let record: &AuditRecord<'_> = $record;
        tracing::$level!(
            target: $target,
            timestamp_ms = unix_millis(),
            plugin = record.plugin,
            query_hash = record.query_hash,
            query_preview = record.preview.as_ref(),
            param_count = record.param_count,
            row_count = record.row_count,
            execution_time_ms = round_ms(record.elapsed),
            truncated = record.truncated,
            status = record.status(),
            error_type = record.error.map(SqlError::type_name),
            error_code = record.error.map(SqlError::code),
            error_message = record.error.map(SqlError::message),
            correlation_id = record.correlation_id,
            attempts = record.attempts,
            statement_index = record.statement.map(|(index, _)| index),
            statement_count = record.statement.map(|(_, count)| count),
            $($($extra)+,)?
            $message
        )
    }};
}

impl AuditRecord<'_> {
    fn status(&self) -> &'static str {
        match self.error {
            None => "success",
            Some(SqlError::RateLimit(_)) => "rate_limited",
            Some(_) => "error",
        }
    }

    /// Emits the record: `INFO` for a query that succeeded, `ERROR` for one that did not,
    /// as the specification's `log_query` and `log_error` do.
    pub(crate) fn emit(&self) {
        if self.error.is_some() {
            audit_event!(error, "sql.audit", self, "SQL query failed");
        } else {
            audit_event!(info, "sql.audit", self, "SQL query executed");
        }
    }
}

/// Emits the audit record of a statement [`Query::checked`](crate::Query::checked) refused:
/// no request exists (no correlation id, no attempt), but the attempt is on record with its
/// query, hash and placeholder count, so another plugin's table tried is visible.
pub(crate) fn refused(plugin: &str, query: &str, param_count: usize, error: &SqlError) {
    let query_hash = sql_core::query_hash(query);
    AuditRecord {
        plugin,
        query,
        query_hash: &query_hash,
        preview: sql_core::audit_preview(query),
        param_count,
        row_count: 0,
        elapsed: Duration::ZERO,
        truncated: false,
        correlation_id: "",
        attempts: 0,
        error: Some(error),
        statement: None,
    }
    .emit();
}

/// Emits the slow-query record: every field of the audit record, the full query and the
/// parameters as a JSON array (text: `tracing` fields are scalars; the [`JsonLines`]
/// format writes it as an array).
///
/// [`JsonLines`]: sql_core::json_log::JsonLines
pub(crate) fn slow_query(
    record: &AuditRecord<'_>,
    params: &[Value],
    threshold: Duration,
    logging: ParamLogging,
) {
    let params = Value::Array(params.iter().map(|p| sanitize(p, logging)).collect());
    audit_event!(
        warn,
        "sql.slow",
        record,
        "Slow SQL query",
        full_query = record.query,
        params = params.to_string().as_str(),
        threshold_ms = threshold.as_secs_f64() * 1000.0
    );
}

/// Milliseconds rounded to two decimals, as the specification's `round(ms, 2)`.
fn round_ms(elapsed: Duration) -> f64 {
    (elapsed.as_secs_f64() * 100_000.0).round() / 100.0
}

fn sanitize(value: &Value, logging: ParamLogging) -> Value {
    let ParamLogging::Sanitized { max_chars } = logging else {
        return Value::String("<redacted>".to_owned());
    };
    match value {
        Value::String(s) => match s.char_indices().nth(max_chars) {
            Some((cut, _)) => Value::String(format!("{}...", &s[..cut])),
            None => value.clone(),
        },
        Value::Object(map) if map.len() == 1 && map.contains_key(sql_core::value::BLOB_KEY) => {
            let size = map[sql_core::value::BLOB_KEY]
                .as_str()
                .map_or(0, |b64| b64.len() / 4 * 3);
            Value::String(format!("<blob, about {size} bytes>"))
        }
        Value::Array(_) | Value::Object(_) => sanitize(&Value::String(value.to_string()), logging),
        other => other.clone(),
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sanitizing_cuts_long_strings_and_hides_blobs() {
        let logging = ParamLogging::Sanitized { max_chars: 5 };
        assert_eq!(sanitize(&json!("abcdefgh"), logging), json!("abcde..."));
        assert_eq!(sanitize(&json!("abcde"), logging), json!("abcde"));
        assert_eq!(sanitize(&json!("éééééé"), logging), json!("ééééé..."));
        assert_eq!(sanitize(&json!("abc"), logging), json!("abc"));
        assert_eq!(sanitize(&json!(42), logging), json!(42));
        assert_eq!(
            sanitize(&json!({"$blob": "AAAAAAAA"}), logging),
            json!("<blob, about 6 bytes>")
        );
        assert_eq!(sanitize(&json!([1, 2, 3, 4]), logging), json!("[1,2,..."));
    }

    /// The specification's `_sanitize_params`: strings of more than 100 characters become
    /// their first 100 and `...`; others stay as they are.
    #[test]
    fn the_default_cuts_past_100_characters() {
        let logging = ParamLogging::default();
        let hundred = "x".repeat(100);
        assert_eq!(sanitize(&json!(hundred), logging), json!(hundred));
        assert_eq!(
            sanitize(&json!("x".repeat(101)), logging),
            json!(format!("{hundred}..."))
        );
        assert_eq!(sanitize(&json!(1.5), logging), json!(1.5));
        assert_eq!(sanitize(&Value::Null, logging), Value::Null);
    }

    #[test]
    fn durations_are_rounded_to_two_decimals() {
        assert!((round_ms(Duration::from_micros(12_346)) - 12.35).abs() < 1e-9);
        assert!((round_ms(Duration::from_nanos(4_999)) - 0.0).abs() < 1e-9);
    }

    #[test]
    fn redaction_hides_every_value() {
        assert_eq!(
            sanitize(&json!("secret"), ParamLogging::Redacted),
            json!("<redacted>")
        );
        assert_eq!(
            sanitize(&json!(7), ParamLogging::Redacted),
            json!("<redacted>")
        );
    }
}
