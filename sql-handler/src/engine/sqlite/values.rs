//! Moving values across the SQLite boundary: parameters in by name, columns out as JSON
//! (PROTOCOL.md section 4).

use rusqlite::types::{ToSqlOutput, Value as SqliteValue, ValueRef};
use rusqlite::{Statement, ToSql};
use serde_json::{Value, json};
use sql_core::value::{SqlValue, blob_to_json, real_to_json};

use crate::engine::{Denial, ExecError};

/// Binds `$1..$n` by name. SQLite numbers named parameters by first appearance, so binding
/// by position would swap `SELECT $2, $1` (FIELD-NOTES.md).
pub(crate) fn bind(
    stmt: &mut Statement<'_>,
    params: &[SqlValue],
    sql_prefix: &str,
) -> Result<(), ExecError> {
    // Any parameter SQLite sees that is not one of ours (`?`, `:x`) would bind NULL.
    if stmt.parameter_count() != params.len() {
        return Err(ExecError::Denied(
            Denial::Placeholder,
            sql_prefix.to_owned(),
        ));
    }
    for (i, value) in params.iter().enumerate() {
        let name = format!("${}", i + 1);
        let index = stmt
            .parameter_index(&name)
            .map_err(|e| ExecError::Internal(format!("parameter {name}: {e}")))?
            .ok_or(ExecError::Denied(
                Denial::Placeholder,
                sql_prefix.to_owned(),
            ))?;
        stmt.raw_bind_parameter(index, Bound(value))
            .map_err(|e| ExecError::ParamType {
                index: i + 1,
                reason: e.to_string(),
            })?;
    }
    Ok(())
}

struct Bound<'a>(&'a SqlValue);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            SqlValue::Bool(b) => ToSqlOutput::Owned(SqliteValue::Integer(i64::from(*b))),
            SqlValue::Integer(i) => ToSqlOutput::Owned(SqliteValue::Integer(*i)),
            SqlValue::Real(x) => ToSqlOutput::Owned(SqliteValue::Real(*x)),
            SqlValue::Text(s) | SqlValue::Json(s) => {
                ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
            }
            SqlValue::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            // SqlValue is non-exhaustive; NULL is the only remaining form.
            _ => ToSqlOutput::Owned(SqliteValue::Null),
        })
    }
}

/// One column value as JSON: integers exact, non-finite doubles as null, blobs as base64.
pub(crate) fn column_to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(x) => real_to_json(x),
        ValueRef::Text(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        ValueRef::Blob(bytes) => blob_to_json(bytes),
    }
}
