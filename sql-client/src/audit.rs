//! Audit logging (FR-4) and slow-query logging (FR-6) on `tracing`.
//!
//! Every query, failed and rate-limited ones included, emits one event on target
//! `sql.audit`. Parameter values never appear there. Queries slower than the threshold
//! also emit one on `sql.slow` with the full query and sanitized parameters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::SqlError;

/// Characters of the query kept in audit records.
pub(crate) const AUDIT_PREVIEW_CHARS: usize = 100;

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
    /// Values shown, with strings cut after `max_chars` characters and blobs shown by size.
    Sanitized {
        /// Longest string shown in full.
        max_chars: usize,
    },
    /// Every value replaced by `"<redacted>"`.
    Redacted,
}

impl Default for ParamLogging {
    fn default() -> Self {
        Self::Sanitized { max_chars: 64 }
    }
}

/// One query's audit facts.
#[derive(Debug)]
pub(crate) struct AuditRecord<'a> {
    pub(crate) plugin: &'a str,
    pub(crate) query: &'a str,
    pub(crate) query_hash: &'a str,
    pub(crate) param_count: usize,
    pub(crate) row_count: u64,
    pub(crate) elapsed: Duration,
    pub(crate) truncated: bool,
    pub(crate) correlation_id: &'a str,
    pub(crate) attempts: u32,
    pub(crate) error: Option<&'a SqlError>,
}

impl AuditRecord<'_> {
    pub(crate) fn emit(&self) {
        let status = match self.error {
            None => "success",
            Some(SqlError::RateLimit(_)) => "rate_limited",
            Some(_) => "error",
        };
        tracing::info!(
            target: "sql.audit",
            timestamp_ms = unix_millis(),
            plugin = self.plugin,
            query_hash = self.query_hash,
            query_preview = %sql_core::query_preview(self.query, AUDIT_PREVIEW_CHARS),
            param_count = self.param_count,
            row_count = self.row_count,
            duration_ms = self.elapsed.as_secs_f64() * 1000.0,
            truncated = self.truncated,
            status,
            error_code = self.error.map(SqlError::code),
            error_message = self.error.map(SqlError::message),
            correlation_id = self.correlation_id,
            attempts = self.attempts,
            "sql query"
        );
    }
}

/// Emits the slow-query record.
pub(crate) fn slow_query(
    record: &AuditRecord<'_>,
    params: &[Value],
    threshold: Duration,
    logging: ParamLogging,
) {
    let params = Value::Array(params.iter().map(|p| sanitize(p, logging)).collect());
    tracing::warn!(
        target: "sql.slow",
        timestamp_ms = unix_millis(),
        plugin = record.plugin,
        query_hash = record.query_hash,
        query = record.query,
        params = %params,
        duration_ms = record.elapsed.as_secs_f64() * 1000.0,
        threshold_ms = threshold.as_secs_f64() * 1000.0,
        correlation_id = record.correlation_id,
        "slow sql query"
    );
}

fn sanitize(value: &Value, logging: ParamLogging) -> Value {
    let ParamLogging::Sanitized { max_chars } = logging else {
        return Value::String("<redacted>".to_owned());
    };
    match value {
        Value::String(s) if s.chars().count() > max_chars => {
            let cut: String = s.chars().take(max_chars).collect();
            Value::String(format!("{cut}... ({} chars)", s.chars().count()))
        }
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
        assert_eq!(
            sanitize(&json!("abcdefgh"), logging),
            json!("abcde... (8 chars)")
        );
        assert_eq!(sanitize(&json!("abc"), logging), json!("abc"));
        assert_eq!(sanitize(&json!(42), logging), json!(42));
        assert_eq!(
            sanitize(&json!({"$blob": "AAAAAAAA"}), logging),
            json!("<blob, about 6 bytes>")
        );
        assert_eq!(
            sanitize(&json!([1, 2, 3, 4]), logging),
            json!("[1,2,... (9 chars)")
        );
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
