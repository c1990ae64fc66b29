//! When a failed attempt may be sent again (PROTOCOL.md section 7), and how long to wait.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use sql_core::ErrorCode;

use crate::error::SqlError;

/// Exponential backoff with jitter between attempts.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sql_client::{Backoff, ClientConfig};
///
/// let config = ClientConfig::default().backoff(Backoff::new(Duration::from_millis(20), Duration::from_secs(1)));
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    factor: f32,
}

impl Backoff {
    /// Waits start at `min`, double each attempt, never exceed `max`, and get random
    /// jitter so that many clients do not retry in step.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let backoff = sql_client::Backoff::new(Duration::from_millis(20), Duration::from_secs(1));
    /// # let _ = backoff;
    /// ```
    #[must_use]
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            factor: 2.0,
        }
    }

    /// The waits before each retry, at most `retries` of them.
    pub(crate) fn delays(&self, retries: u32) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_factor(self.factor)
            .with_jitter()
            .with_max_times(retries as usize)
            .build()
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(50), Duration::from_secs(2))
    }
}

/// Whether an attempt that failed with `error` may be sent again.
///
/// Writes are only retried because every write carries an `Idempotency-Key`, which the
/// handler applies at most once; `idempotent` says whether this request has one.
pub(crate) fn is_retryable(error: &SqlError, is_write: bool, idempotent: bool) -> bool {
    let safe = !is_write || idempotent;
    match error {
        // No responders, or the request could not be sent: nothing ran.
        SqlError::Transport(_) => safe,
        // The reply did not come in time; the statement may have run.
        SqlError::Timeout(d) if d.code() != ErrorCode::Timeout.as_str() => safe,
        // The handler's own TIMEOUT: the statement was cancelled; retrying a query that
        // ran out of time once would most likely do so again.
        SqlError::Timeout(_) => false,
        SqlError::Execution(_) => error.is_transient() && safe,
        // Validation, permission, rate limit, decode: sending again changes nothing.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorDetail;
    use serde_json::json;

    fn detail(code: &str, details: serde_json::Value) -> Box<ErrorDetail> {
        let serde_json::Value::Object(map) = details else {
            unreachable!()
        };
        Box::new(ErrorDetail::new(code, "m", "q").with_details(map))
    }

    #[test]
    fn retry_rules_of_protocol_section_7() {
        let cases: Vec<(SqlError, bool, bool, bool)> = vec![
            // (error, is_write, has key, retried)
            (
                SqlError::transport("no responders", "q"),
                false,
                false,
                true,
            ),
            (SqlError::transport("no responders", "q"), true, true, true),
            (
                SqlError::transport("no responders", "q"),
                true,
                false,
                false,
            ),
            (
                SqlError::Timeout(detail("REPLY_TIMEOUT", json!({}))),
                false,
                false,
                true,
            ),
            (
                SqlError::Timeout(detail("REPLY_TIMEOUT", json!({}))),
                true,
                true,
                true,
            ),
            (
                SqlError::Timeout(detail("REPLY_TIMEOUT", json!({}))),
                true,
                false,
                false,
            ),
            (
                SqlError::Timeout(detail("TIMEOUT", json!({"timeout_ms": 100}))),
                false,
                false,
                false,
            ),
            (
                SqlError::Execution(detail("OVERLOADED", json!({"transient": true}))),
                false,
                false,
                true,
            ),
            (
                SqlError::Execution(detail("OVERLOADED", json!({"transient": true}))),
                true,
                true,
                true,
            ),
            (
                SqlError::Execution(detail("EXECUTION_ERROR", json!({"transient": true}))),
                true,
                true,
                true,
            ),
            (
                SqlError::Execution(detail(
                    "EXECUTION_ERROR",
                    json!({"constraint_type": "unique"}),
                )),
                true,
                true,
                false,
            ),
            (
                SqlError::Execution(detail("INTERNAL_ERROR", json!({}))),
                false,
                false,
                false,
            ),
            (
                SqlError::Validation(detail("PARSE_ERROR", json!({}))),
                false,
                false,
                false,
            ),
            (
                SqlError::Permission(detail("NAMESPACE_VIOLATION", json!({}))),
                false,
                false,
                false,
            ),
            (
                SqlError::RateLimit(detail("RATE_LIMIT", json!({"retry_after_ms": 10}))),
                false,
                false,
                false,
            ),
            (SqlError::decode("bad", "q"), false, false, false),
        ];
        for (error, write, key, expected) in cases {
            assert_eq!(
                is_retryable(&error, write, key),
                expected,
                "{error} write={write} key={key}"
            );
        }
    }

    #[test]
    fn backoff_grows_is_capped_and_bounded_in_count() {
        let delays: Vec<Duration> =
            Backoff::new(Duration::from_millis(10), Duration::from_millis(40))
                .delays(5)
                .collect();
        assert_eq!(delays.len(), 5);
        // Jitter adds up to one more base delay; the base never exceeds the cap.
        for d in &delays {
            assert!(
                *d >= Duration::from_millis(10) && *d <= Duration::from_millis(80),
                "{d:?}"
            );
        }
        assert_eq!(Backoff::default().delays(0).count(), 0);
    }
}
