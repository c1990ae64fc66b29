//! Support for the code `sql!` and `#[derive(SqlRow)]` generate. Not a public API.

pub use serde::Serialize;
pub use serde_json::Value;

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

/// What a field type can read, for `sql!(as T, ...)`'s type check: one bit per column
/// type (the `READ_*` constants) and whether it takes NULL.
#[derive(Debug, Clone, Copy)]
pub struct Reads {
    /// The column types it reads.
    pub types: u16,
    /// Whether NULL reads (an `Option`).
    pub null: bool,
}

impl Reads {
    /// Reads anything: user types, JSON fields, conversions the check cannot see.
    pub const ANY: Self = Self {
        types: u16::MAX,
        null: true,
    };

    /// Reads columns of `types`, never NULL.
    #[must_use]
    pub const fn of(types: u16) -> Self {
        Self { types, null: false }
    }

    /// The same, and NULL too.
    #[must_use]
    pub const fn or_null(self) -> Self {
        Self {
            types: self.types,
            null: true,
        }
    }
}

/// Column type bits of [`Reads`].
pub mod read {
    #![allow(missing_docs)]
    pub const INTEGER: u16 = 1;
    pub const REAL: u16 = 1 << 1;
    /// SQLite's NUMERIC: numbers.
    pub const NUMERIC: u16 = 1 << 2;
    pub const TEXT: u16 = 1 << 3;
    pub const BLOB: u16 = 1 << 4;
    pub const BOOLEAN: u16 = 1 << 5;
    pub const DATE: u16 = 1 << 6;
    pub const TIME: u16 = 1 << 7;
    pub const TIMESTAMP: u16 = 1 << 8;
    pub const TIMESTAMPTZ: u16 = 1 << 9;
    pub const JSON: u16 = 1 << 10;
    pub const UUID: u16 = 1 << 11;
    /// PostgreSQL's NUMERIC, which arrives as exact text.
    pub const NUMERIC_TEXT: u16 = 1 << 12;
    /// Dates and times, which arrive as text on both backends.
    pub const DATES: u16 = DATE | TIME | TIMESTAMP | TIMESTAMPTZ;
    /// A column whose type inference cannot tell: every field reads it.
    pub const ANY: u16 = u16::MAX;
}

/// One result column as `sql!` knows it: name, type bit (all bits when unknown), whether
/// it can be NULL, and the messages for a field that cannot hold it.
pub type KnownColumn = (&'static str, u16, bool, &'static str, &'static str);

/// `sql!(as T, ...)` with a schema: fails compilation when a field of `T` cannot hold the
/// type of its column, or is not an `Option` for a column that can be NULL.
pub const fn check_fields<T: SqlRow>(columns: &[KnownColumn]) {
    let fields = T::FIELDS;
    let mut i = 0;
    while i < fields.len() {
        let (name, reads) = fields[i];
        let mut j = 0;
        while j < columns.len() {
            let (column, bits, nullable, wrong_type, maybe_null) = columns[j];
            if str_eq(column, name) {
                if bits & reads.types == 0 {
                    panic!("{}", wrong_type);
                }
                if nullable && !reads.null {
                    panic!("{}", maybe_null);
                }
            }
            j += 1;
        }
        i += 1;
    }
}
