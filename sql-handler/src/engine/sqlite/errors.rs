//! Mapping SQLite failures to the protocol's error kinds without leaking file paths or
//! other plugins' schema.

use rusqlite::ErrorCode as Sqlite;
use rusqlite::ffi;

use crate::engine::{Constraint, ExecError};

/// Maps a failure of the plugin's statement.
pub(crate) fn map(err: &rusqlite::Error, timeout_ms: u32) -> ExecError {
    if let rusqlite::Error::SqlInputError { error, msg, .. } = err {
        // Prepare-time errors (no such column, syntax the parser accepted but SQLite did
        // not) name only what the plugin wrote.
        return match error.code {
            Sqlite::OperationInterrupted => ExecError::Timeout { timeout_ms },
            _ => ExecError::execution(msg, None, false),
        };
    }
    let rusqlite::Error::SqliteFailure(failure, message) = err else {
        return match err {
            rusqlite::Error::MultipleStatement => ExecError::Denied(
                crate::engine::Denial::Action("more than one statement"),
                String::new(),
            ),
            other => ExecError::Internal(other.to_string()),
        };
    };
    let text = message.clone().unwrap_or_else(|| failure.to_string());
    match failure.code {
        Sqlite::OperationInterrupted => ExecError::Timeout { timeout_ms },
        Sqlite::DatabaseBusy | Sqlite::DatabaseLocked => {
            ExecError::execution("the database is busy; try again", None, true)
        }
        Sqlite::ConstraintViolation => {
            ExecError::execution(&text, constraint(failure.extended_code), false)
        }
        Sqlite::ReadOnly => ExecError::execution(
            "the statement tried to write on a read-only connection",
            None,
            false,
        ),
        Sqlite::TooBig => {
            ExecError::execution("a string or blob exceeds the size limit", None, false)
        }
        Sqlite::OutOfMemory => ExecError::execution("the database ran out of memory", None, true),
        // Statement-level problems (no such column, datatype mismatch, ...) name only
        // what the plugin wrote, and help it fix the statement.
        Sqlite::Unknown
        | Sqlite::TypeMismatch
        | Sqlite::ParameterOutOfRange
        | Sqlite::SchemaChanged => ExecError::execution(&text, None, false),
        // I/O, corruption, permissions, file paths: nothing a plugin should read.
        _ => ExecError::Internal(text),
    }
}

fn constraint(extended: i32) -> Option<Constraint> {
    match extended {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            Some(Constraint::Unique)
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Constraint::ForeignKey),
        ffi::SQLITE_CONSTRAINT_NOTNULL => Some(Constraint::NotNull),
        ffi::SQLITE_CONSTRAINT_CHECK => Some(Constraint::Check),
        _ => None,
    }
}
