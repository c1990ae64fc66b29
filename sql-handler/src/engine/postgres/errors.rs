//! Mapping PostgreSQL failures to the protocol's error kinds by SQLSTATE. Only the
//! server's primary message reaches the plugin: never its detail, hint, file or routine,
//! which can name other objects or the server's paths.

use tokio_postgres::error::{DbError, SqlState};

use super::values;
use crate::engine::{Constraint, Denial, ExecError};

/// Maps a failure of the plugin's statement (or of its transaction around it).
pub(super) fn map(err: &tokio_postgres::Error, timeout_ms: u32, prefix: &str) -> ExecError {
    let Some(db) = err.as_db_error() else {
        if err.is_closed() {
            return ExecError::execution("the database connection was lost; try again", None, true);
        }
        return ExecError::Internal(err.to_string());
    };
    map_db(db, timeout_ms, prefix)
}

fn map_db(db: &DbError, timeout_ms: u32, prefix: &str) -> ExecError {
    let message = db.message();
    let code = db.code();
    // A value PostgreSQL could not read as its placeholder's type fails at Bind, with the
    // parameter named in the context. A domain's CHECK fails there too, but is better
    // reported as the constraint it is.
    if !code.code().starts_with("23")
        && let Some(index) = values::param_error_index(db)
    {
        return ExecError::ParamType {
            index,
            reason: message.to_owned(),
        };
    }
    match code {
        c if *c == SqlState::QUERY_CANCELED => ExecError::Timeout { timeout_ms },
        c if *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::EXCLUSION_VIOLATION => {
            ExecError::execution(message, Some(Constraint::Unique), false)
        }
        c if *c == SqlState::FOREIGN_KEY_VIOLATION => {
            ExecError::execution(message, Some(Constraint::ForeignKey), false)
        }
        c if *c == SqlState::NOT_NULL_VIOLATION => {
            ExecError::execution(message, Some(Constraint::NotNull), false)
        }
        c if *c == SqlState::CHECK_VIOLATION => {
            ExecError::execution(message, Some(Constraint::Check), false)
        }
        c if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::LOCK_NOT_AVAILABLE =>
        {
            ExecError::execution(message, None, true)
        }
        // The request's own temp_file_limit: running it again would only fail again.
        c if *c == SqlState::CONFIGURATION_LIMIT_EXCEEDED => ExecError::execution(
            &format!(
                "{message}: the query needs more temporary disk space than one request may use"
            ),
            None,
            false,
        ),
        c if *c == SqlState::READ_ONLY_SQL_TRANSACTION => ExecError::PermissionDenied,
        c if *c == SqlState::INSUFFICIENT_PRIVILEGE => denied(message, prefix),
        c if *c == SqlState::INDETERMINATE_DATATYPE => ExecError::ParamType {
            index: placeholder_in(message).unwrap_or(0),
            reason: format!("{message}; add a cast, for example $1::text"),
        },
        c if is_stale(c, message) => {
            // A migration changed the table under a cached statement; it is prepared
            // afresh on the next attempt.
            ExecError::execution(
                "the table changed while the statement was cached; try again",
                None,
                true,
            )
        }
        c => match c.code().get(..2) {
            // Connection trouble, shutdown, resources: nothing wrong with the request.
            Some("08" | "53" | "57") => ExecError::execution(
                "the database is unavailable right now; try again",
                None,
                true,
            ),
            // System and internal errors may carry paths or internals.
            Some("58" | "XX" | "F0" | "P0") => {
                ExecError::Internal(format!("{}: {message}", c.code()))
            }
            _ => ExecError::execution(message, None, false),
        },
    }
}

/// Whether a cached prepared statement went stale because its table changed.
pub(super) fn is_stale_plan(err: &tokio_postgres::Error) -> bool {
    err.as_db_error()
        .is_some_and(|db| is_stale(db.code(), db.message()))
}

fn is_stale(code: &SqlState, message: &str) -> bool {
    *code == SqlState::FEATURE_NOT_SUPPORTED && message.contains("cached plan")
}

/// The engine-level refusal of something the policy let through.
fn denied(message: &str, prefix: &str) -> ExecError {
    let object = |kind: &str| {
        message
            .strip_prefix(&format!("permission denied for {kind} "))
            .map(str::to_owned)
    };
    let denial = if let Some(table) = object("table")
        .or_else(|| object("view"))
        .or_else(|| object("sequence"))
        .or_else(|| object("materialized view"))
    {
        Denial::ForeignTable(table)
    } else if let Some(function) = object("function") {
        Denial::Function(function)
    } else if object("schema").is_some() {
        Denial::SystemTable(message.rsplit(' ').next().unwrap_or_default().to_owned())
    } else {
        Denial::Action("this operation")
    };
    ExecError::Denied(denial, prefix.to_owned())
}

/// The `n` of the first `$n` in `message`.
fn placeholder_in(message: &str) -> Option<usize> {
    let (_, rest) = message.split_once('$')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_refusals_name_the_object() {
        let prefix = "analytics_db__";
        assert!(matches!(
            denied("permission denied for table quote_db__quotes", prefix),
            ExecError::Denied(Denial::ForeignTable(t), _) if t == "quote_db__quotes"
        ));
        assert!(matches!(
            denied("permission denied for function lo_import", prefix),
            ExecError::Denied(Denial::Function(f), _) if f == "lo_import"
        ));
        assert!(matches!(
            denied("permission denied for schema secret", prefix),
            ExecError::Denied(Denial::SystemTable(s), _) if s == "secret"
        ));
        assert!(matches!(
            denied("must be owner of table x", prefix),
            ExecError::Denied(Denial::Action(_), _)
        ));
    }

    #[test]
    fn placeholders_are_found_in_messages() {
        assert_eq!(
            placeholder_in("could not determine data type of parameter $12"),
            Some(12)
        );
        assert_eq!(placeholder_in("no placeholder"), None);
    }
}
