//! Moving values across the SQLite boundary: parameters in by name, columns out as JSON
//! (PROTOCOL.md section 4).

use rusqlite::types::{ToSqlOutput, Value as SqliteValue, ValueRef};
use rusqlite::{Statement, ToSql};
use serde_json::{Value, json};
use sql_core::value::{SqlValue, blob_to_json, real_to_json};

use crate::engine::{Denial, ExecError};
use crate::rows::CellValue;

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

/// One column value as the reply writes it: text and integers straight from SQLite's
/// memory, the rest as [`column_to_json`] makes them.
#[derive(Debug)]
pub(crate) enum Cell<'a> {
    Null,
    Integer(i64),
    Text(&'a [u8]),
    Other(Value),
}

impl<'a> From<ValueRef<'a>> for Cell<'a> {
    fn from(value: ValueRef<'a>) -> Self {
        match value {
            ValueRef::Null => Self::Null,
            ValueRef::Integer(i) => Self::Integer(i),
            ValueRef::Text(bytes) => Self::Text(bytes),
            other => Self::Other(column_to_json(other)),
        }
    }
}

impl serde::Serialize for Cell<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Integer(i) => serializer.serialize_i64(*i),
            // SQLite does not check that text is UTF-8; the reply replaces what is not.
            Self::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => serializer.serialize_str(text),
                Err(_) => serializer.serialize_str(&String::from_utf8_lossy(bytes)),
            },
            Self::Other(value) => value.serialize(serializer),
        }
    }
}

impl CellValue for Cell<'_> {
    fn is_null(&self) -> bool {
        match self {
            Self::Null => true,
            Self::Other(value) => value.is_null(),
            Self::Integer(_) | Self::Text(_) => false,
        }
    }
}

/// An empty vector of cells with `cells`' allocation, for the next row: the cells of a
/// row borrow from it, so one vector cannot outlive the row, but its memory can.
pub(crate) fn recycle<'b>(mut cells: Vec<Cell<'_>>) -> Vec<Cell<'b>> {
    cells.clear();
    // Collecting an emptied vector's iterator into one of the same layout reuses the
    // allocation; the closure never runs.
    cells.into_iter().map(|_| Cell::Null).collect()
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
