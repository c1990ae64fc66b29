//! Everything that can go wrong with one request, as data: each failure knows its wire code
//! and the code's own `details` fields.

use serde_json::{Map, Value, json};
use sql_core::wire::RequestError;
use sql_core::{ErrorCode, PolicyError, RateLimited};

use crate::admission::OverShare;
use crate::engine::ExecError;

/// Why a request got an error reply.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("the statement writes; send it with allow_write: true")]
    WriteNotAllowed,
    #[error("the statement uses {expected} placeholder(s) but {provided} parameter(s) were given{}", at_entry(*.batch_index))]
    ParamCount {
        expected: usize,
        provided: usize,
        batch_index: Option<usize>,
    },
    #[error("parameter ${index} cannot be bound: {reason}{}", at_entry(*.batch_index))]
    ParamType {
        index: usize,
        reason: String,
        batch_index: Option<usize>,
    },
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(
        "the plugin has {} requests in flight, its share of this handler's capacity; retry later",
        .0.in_flight
    )]
    Overloaded(OverShare),
    #[error(
        "the plugin's limit of {} requests per {} s is spent; retry in {} ms",
        .0.limit.max(),
        .0.limit.window().as_secs(),
        retry_after_ms(.0)
    )]
    RateLimited(RateLimited),
    /// A statement of a `transaction` was refused before anything ran.
    #[error("statement {index} of the transaction: {failure}")]
    InStatement { index: usize, failure: Box<Failure> },
}

/// Milliseconds until a retry can succeed, rounded up so that waiting exactly that long
/// is enough.
fn retry_after_ms(refused: &RateLimited) -> u64 {
    let ms = refused.retry_after.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

fn at_entry(batch_index: Option<usize>) -> String {
    batch_index
        .map(|i| format!(" (batch entry {i})"))
        .unwrap_or_default()
}

impl Failure {
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            Self::Request(e) => e.code(),
            Self::Policy(e) => e.code(),
            Self::WriteNotAllowed => ErrorCode::PermissionDenied,
            Self::ParamCount { .. } => ErrorCode::ParamCountMismatch,
            Self::ParamType { .. } => ErrorCode::ParamTypeError,
            Self::Exec(e) => e.code(),
            Self::Overloaded(_) => ErrorCode::Overloaded,
            Self::RateLimited(_) => ErrorCode::RateLimit,
            Self::InStatement { failure, .. } => failure.code(),
        }
    }

    /// Names the failing statement of a transaction.
    pub(crate) fn in_statement(self, index: usize) -> Self {
        Self::InStatement {
            index,
            failure: Box::new(self),
        }
    }

    /// The failure itself, without the statement it happened in.
    pub(crate) fn cause(&self) -> &Self {
        match self {
            Self::InStatement { failure, .. } => failure.cause(),
            other => other,
        }
    }

    /// The engine's internal error behind this failure, if it is one.
    pub(crate) fn internal(&self) -> Option<&str> {
        match self.cause() {
            Self::Exec(e) => match e.cause() {
                ExecError::Internal(detail) => Some(detail),
                _ => None,
            },
            _ => None,
        }
    }

    /// The code's own `details` fields (the common ones are added by the reply).
    pub(crate) fn details(&self) -> Map<String, Value> {
        let mut map = Map::new();
        match self {
            Self::Request(e) => {
                map.insert("field".into(), json!(e.field()));
            }
            Self::Policy(e) => map = e.details(),
            Self::WriteNotAllowed => {
                map.insert("permission".into(), json!("allow_write"));
            }
            Self::ParamCount {
                expected,
                provided,
                batch_index,
            } => {
                map.insert("expected".into(), json!(expected));
                map.insert("provided".into(), json!(provided));
                if let Some(i) = batch_index {
                    map.insert("batch_index".into(), json!(i));
                }
            }
            Self::ParamType {
                index,
                reason,
                batch_index,
            } => {
                map.insert("index".into(), json!(index));
                map.insert("reason".into(), json!(reason));
                if let Some(i) = batch_index {
                    map.insert("batch_index".into(), json!(i));
                }
            }
            Self::Exec(e) => map = e.details(),
            Self::Overloaded(over) => {
                map.insert("transient".into(), json!(true));
                map.insert("in_flight".into(), json!(over.in_flight));
                map.insert("share".into(), json!(over.share));
            }
            Self::RateLimited(refused) => {
                map.insert("limit".into(), json!(refused.limit.max()));
                map.insert(
                    "window_seconds".into(),
                    json!(refused.limit.window().as_secs()),
                );
                map.insert("retry_after_ms".into(), json!(retry_after_ms(refused)));
            }
            Self::InStatement { index, failure } => {
                map = failure.details();
                map.insert("statement_index".into(), json!(index));
            }
        }
        map
    }

    /// The message for the reply. Internal errors are described only in the log, which
    /// the correlation id leads to.
    pub(crate) fn public_message(&self) -> String {
        if self.internal().is_some() {
            return "internal error in the handler; its log has the details under this correlation id"
                .to_owned();
        }
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::time::Duration;

    use serde_json::json;
    use sql_core::{ErrorCode, RateLimit, RateLimited};

    use super::Failure;

    #[test]
    fn rate_limit_details_round_the_wait_up() {
        let failure = Failure::RateLimited(RateLimited {
            limit: RateLimit::per_minute(5),
            retry_after: Duration::from_micros(41_500),
        });
        assert_eq!(failure.code(), ErrorCode::RateLimit);
        let details = failure.details();
        assert_eq!(details["limit"], json!(5));
        assert_eq!(details["window_seconds"], json!(60));
        assert_eq!(details["retry_after_ms"], json!(42));
        assert_eq!(
            failure.public_message(),
            "the plugin's limit of 5 requests per 60 s is spent; retry in 42 ms"
        );
    }
}
