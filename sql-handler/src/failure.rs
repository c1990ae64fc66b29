//! Everything that can go wrong with one request, as data: each failure knows its wire code
//! and the code's own `details` fields.

use serde_json::{Map, Value, json};
use sql_core::wire::RequestError;
use sql_core::{ErrorCode, PolicyError};

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
    #[error("{}", if *.draining { "the handler is shutting down; retry" } else { "the handler is at its concurrency limit; retry" })]
    Overloaded { draining: bool },
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
            Self::Overloaded { .. } => ErrorCode::Overloaded,
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
            Self::Overloaded { .. } => {
                map.insert("transient".into(), json!(true));
            }
        }
        map
    }

    /// The message for the reply. Internal errors are described only in the log, which
    /// the correlation id leads to.
    pub(crate) fn public_message(&self) -> String {
        match self {
            Self::Exec(ExecError::Internal(_)) => {
                "internal error in the handler; its log has the details under this correlation id"
                    .to_owned()
            }
            other => other.to_string(),
        }
    }
}
