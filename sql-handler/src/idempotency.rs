//! Idempotent writes (PROTOCOL.md sections 2 and 7): the `Idempotency-Key` header, the
//! fingerprint that tells a retry from a different request under the same key, and which
//! outcomes are kept for replay. The storage lives with the engine, because the record
//! must commit in the same transaction as the write it describes.

use serde_json::json;
use sha2::{Digest, Sha256};
use sql_core::wire::{self, IDEMPOTENCY_KEY_HEADER, Request, RequestError};

use crate::engine::ExecError;
use crate::failure::Failure;

/// A validated `Idempotency-Key`: 1 to 128 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key from the header value, if the request carried one.
    ///
    /// An invalid value is refused rather than ignored: a sender that meant to make a
    /// write safe to retry must not have it silently applied twice.
    pub(crate) fn from_header(value: Option<&str>) -> Result<Option<Self>, RequestError> {
        match value {
            None => Ok(None),
            Some(v) if wire::is_valid_header_value(v) => Ok(Some(Self(v.to_owned()))),
            Some(_) => Err(RequestError::new(
                IDEMPOTENCY_KEY_HEADER,
                format!(
                    "Idempotency-Key must be 1 to {} printable ASCII characters",
                    wire::MAX_HEADER_VALUE_LEN
                ),
            )),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// The refusal of a key already recorded for a different request.
pub(crate) fn key_reused() -> RequestError {
    RequestError::new(
        IDEMPOTENCY_KEY_HEADER,
        "this Idempotency-Key was already used for another request (different query or \
         parameters); use a new key for a new request",
    )
}

/// SHA-256 (hex) over what makes two requests the same write: the query and its
/// parameters or batch, or a transaction's statements and theirs. Settings that do not change what is written (`timeout_ms`,
/// `max_rows`, `row_format`) may differ between a request and its retry.
pub(crate) fn fingerprint(request: &Request) -> String {
    // One JSON array: unambiguous where plain concatenation of the parts would not be.
    // A transaction's statements are appended only when present, so that the fingerprints
    // recorded for other writes stay what they were.
    let material = match &request.transaction {
        None => json!([request.query, request.params, request.batch]),
        Some(statements) => json!([request.query, request.params, request.batch, statements]),
    }
    .to_string();
    let digest = Sha256::digest(material.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a failed idempotent write's reply is recorded for replay.
///
/// Definitive answers (validation, permission, parameters, constraints, the engine's
/// refusals) are kept, so a retry gets the same answer even if the data changed in
/// between. Transient ones (timeout, busy or locked database, overload, rate limit) and
/// internal errors are not, so a retry can still succeed (PROTOCOL.md section 7).
pub(crate) fn is_recorded(failure: &Failure) -> bool {
    match failure.cause() {
        Failure::Request(_)
        | Failure::Policy(_)
        | Failure::WriteNotAllowed
        | Failure::ParamCount { .. }
        | Failure::ParamType { .. } => true,
        Failure::Overloaded(_) | Failure::RateLimited(_) => false,
        // A transaction's statement is recorded as its own failure would be.
        Failure::InStatement { .. } => true,
        Failure::Exec(e) => match e.cause() {
            ExecError::Timeout { .. } | ExecError::Internal(_) => false,
            ExecError::Execution { transient, .. } => !transient,
            ExecError::Denied(..)
            | ExecError::PermissionDenied
            | ExecError::DuplicateColumn { .. }
            | ExecError::ParamType { .. }
            | ExecError::InStatement { .. } => true,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::time::Duration;

    use sql_core::{RateLimit, RateLimited};

    use super::*;

    #[test]
    fn header_values_are_checked() {
        assert_eq!(IdempotencyKey::from_header(None).unwrap(), None);
        let key = IdempotencyKey::from_header(Some("write-42"))
            .unwrap()
            .unwrap();
        assert_eq!(key.as_str(), "write-42");
        let long = "k".repeat(129);
        for bad in ["", "tab\there", "caf\u{e9}", long.as_str()] {
            let err = IdempotencyKey::from_header(Some(bad)).unwrap_err();
            assert_eq!(err.field(), "Idempotency-Key", "{bad:?}");
        }
        assert!(IdempotencyKey::from_header(Some(&"k".repeat(128))).is_ok());
    }

    #[test]
    fn fingerprint_covers_query_and_values_only() {
        let parse = |body: &str| Request::from_slice(body.as_bytes()).unwrap();
        let base = fingerprint(&parse(
            r#"{"query": "INSERT INTO a__t VALUES ($1)", "params": [1], "allow_write": true}"#,
        ));
        let same = fingerprint(&parse(
            r#"{"query": " INSERT INTO a__t VALUES ($1) ", "params": [1], "allow_write": true, "timeout_ms": 500}"#,
        ));
        assert_eq!(base, same, "trimming and settings do not change the write");
        for other in [
            r#"{"query": "INSERT INTO a__t VALUES ($1)", "params": [2], "allow_write": true}"#,
            r#"{"query": "INSERT INTO a__t VALUES ($1)", "params": ["1"], "allow_write": true}"#,
            r#"{"query": "INSERT INTO a__t VALUES ($1)", "batch": [[1]], "allow_write": true}"#,
            r#"{"query": "INSERT INTO a__t VALUES (1)", "allow_write": true}"#,
        ] {
            assert_ne!(base, fingerprint(&parse(other)), "{other}");
        }
        assert_eq!(base.len(), 64);
    }

    #[test]
    fn only_definitive_failures_are_recorded() {
        let exec = |transient| {
            Failure::Exec(ExecError::Execution {
                message: String::new(),
                constraint: None,
                transient,
                batch_index: None,
            })
        };
        let cases = [
            (Failure::WriteNotAllowed, true),
            (
                Failure::ParamCount {
                    expected: 1,
                    provided: 0,
                    batch_index: None,
                },
                true,
            ),
            (exec(false), true),
            (Failure::Exec(ExecError::PermissionDenied), true),
            (exec(true), false),
            (Failure::Exec(ExecError::Timeout { timeout_ms: 100 }), false),
            (Failure::Exec(ExecError::Internal(String::new())), false),
            (
                Failure::Overloaded(crate::admission::OverShare {
                    in_flight: 1,
                    share: 1,
                }),
                false,
            ),
            (
                Failure::RateLimited(RateLimited {
                    limit: RateLimit::per_minute(1),
                    retry_after: Duration::from_secs(1),
                }),
                false,
            ),
        ];
        for (failure, recorded) in cases {
            assert_eq!(is_recorded(&failure), recorded, "{failure:?}");
        }
    }
}
