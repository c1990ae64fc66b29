//! Support for the code `sql!` and `#[derive(SqlRow)]` generate. Not a public API.

use serde::Serialize;
use serde_json::Value;

use crate::decode::FromSqlValue;
use crate::row::{Row, RowError, SqlRow};

pub use sql_client_macros::sql as sql_impl;

/// Encodes one `sql!` argument; an error is reported when the query runs.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| e.to_string())
}

/// `#[sql(try_from = "From")]`: read the column as `From`, then convert.
///
/// # Errors
///
/// The read's error, or [`RowError::Custom`] with the conversion's message.
pub fn try_from_column<From, To>(row: &Row, column: &str) -> Result<To, RowError>
where
    From: FromSqlValue,
    To: TryFrom<From>,
    <To as TryFrom<From>>::Error: std::fmt::Display,
{
    let value: From = row.get(column)?;
    To::try_from(value).map_err(|e| RowError::Custom {
        column: column.to_owned(),
        message: format!("cannot convert to {}: {e}", std::any::type_name::<To>()),
    })
}

/// `#[sql(default)]`: a missing column gives `T::default()`; a present one must convert.
///
/// # Errors
///
/// The read's error when the column is present.
pub fn or_default<T: Default>(
    row: &Row,
    column: &str,
    read: Result<T, RowError>,
) -> Result<T, RowError> {
    if row.value(column).is_none() {
        Ok(T::default())
    } else {
        read
    }
}

/// `sql!(as T, ...)`: fails compilation, naming the column, when the select list lacks a
/// column `T` needs.
pub const fn require_columns<T: SqlRow>(selected: &[&str]) {
    let required = T::REQUIRED_COLUMNS;
    let mut i = 0;
    while i < required.len() {
        let (column, message) = required[i];
        let mut found = false;
        let mut j = 0;
        while j < selected.len() {
            if str_eq(selected[j], column) {
                found = true;
            }
            j += 1;
        }
        if !found {
            panic!("{}", message);
        }
        i += 1;
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
