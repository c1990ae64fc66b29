//! Column types: what a declared type name means, per dialect.
//!
//! SQLite decides a column's storage by its affinity rules (a name containing `INT` is
//! INTEGER, `CHAR`, `CLOB` or `TEXT` is TEXT, ...); PostgreSQL by its named types. The
//! checks need the meaning a plugin author gave the column, so names with a clear meaning
//! (`BOOLEAN`, `DATE`, `TIMESTAMP`, `JSON`, `UUID`, `BYTEA`) are taken at their word on both
//! backends, and everything else follows the backend's own rule.

use std::fmt;

use crate::Dialect;

/// What a column holds, as far as the checks of parameters and result fields go.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, SqlType};
///
/// assert_eq!(SqlType::from_declared("BIGINT", Dialect::Postgres), SqlType::Integer);
/// assert_eq!(SqlType::from_declared("VARCHAR(20)", Dialect::Sqlite), SqlType::Text);
/// // SQLite's affinity rule: a name containing INT is an integer.
/// assert_eq!(SqlType::from_declared("POINT", Dialect::Sqlite), SqlType::Integer);
/// assert_eq!(SqlType::from_declared("TIMESTAMPTZ", Dialect::Postgres), SqlType::TimestampTz);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SqlType {
    /// Whole numbers (`INTEGER`, `BIGINT`, `SERIAL`, ...).
    Integer,
    /// Floating point (`REAL`, `DOUBLE PRECISION`, ...).
    Real,
    /// Exact or mixed numbers (`NUMERIC`, `DECIMAL`, SQLite's NUMERIC affinity).
    Numeric,
    /// Text (`TEXT`, `VARCHAR`, `CHAR`, ...).
    Text,
    /// Bytes (`BLOB`, `BYTEA`).
    Blob,
    /// `BOOLEAN` (SQLite stores 0 and 1).
    Boolean,
    /// `DATE`.
    Date,
    /// `TIME`.
    Time,
    /// `TIMESTAMP` without a time zone (SQLite: also `DATETIME`).
    Timestamp,
    /// `TIMESTAMP WITH TIME ZONE`.
    TimestampTz,
    /// `JSON`, `JSONB`.
    Json,
    /// `UUID`.
    Uuid,
    /// Anything else (arrays, intervals, SQLite columns without a type, user-defined types):
    /// no check is made.
    Any,
}

impl SqlType {
    /// The meaning of a declared type name (`"VARCHAR(20)"`, `"timestamp with time zone"`)
    /// on `dialect`.
    #[must_use]
    pub fn from_declared(declared: &str, dialect: Dialect) -> Self {
        let name = declared.trim().to_ascii_uppercase();
        if name.ends_with(']') || name.starts_with("ARRAY") {
            return Self::Any;
        }
        let base = name.split('(').next().unwrap_or("").trim();
        let words: Vec<&str> = base.split_whitespace().collect();
        let has = |word: &str| words.contains(&word);
        // Names whose meaning both backends share.
        if has("BOOL") || has("BOOLEAN") {
            return Self::Boolean;
        }
        if has("BYTEA") {
            return Self::Blob;
        }
        if has("JSON") || has("JSONB") {
            return Self::Json;
        }
        if has("UUID") {
            return Self::Uuid;
        }
        if has("DATE") {
            return Self::Date;
        }
        if has("TIMESTAMPTZ") || (has("TIMESTAMP") && name.contains("WITH TIME ZONE")) {
            return Self::TimestampTz;
        }
        if has("TIMESTAMP") || has("DATETIME") {
            return Self::Timestamp;
        }
        if has("TIME") || has("TIMETZ") {
            return Self::Time;
        }
        match dialect {
            Dialect::Sqlite => Self::sqlite_affinity(base),
            Dialect::Postgres => Self::postgres(&words),
        }
    }

    /// SQLite's rules (section 3.1 of its datatype documentation), in their order.
    fn sqlite_affinity(base: &str) -> Self {
        if base.is_empty() {
            // No declared type: the column holds whatever it is given.
            Self::Any
        } else if base.contains("INT") {
            Self::Integer
        } else if base.contains("CHAR") || base.contains("CLOB") || base.contains("TEXT") {
            Self::Text
        } else if base.contains("BLOB") {
            Self::Blob
        } else if base.contains("REAL") || base.contains("FLOA") || base.contains("DOUB") {
            Self::Real
        } else {
            Self::Numeric
        }
    }

    fn postgres(words: &[&str]) -> Self {
        let Some(first) = words.first() else {
            return Self::Any;
        };
        match *first {
            "SMALLINT" | "INT" | "INTEGER" | "BIGINT" | "INT2" | "INT4" | "INT8"
            | "SMALLSERIAL" | "SERIAL" | "BIGSERIAL" | "SERIAL2" | "SERIAL4" | "SERIAL8" => {
                Self::Integer
            }
            "REAL" | "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" => Self::Real,
            "NUMERIC" | "DECIMAL" | "DEC" | "MONEY" => Self::Numeric,
            "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "BPCHAR" | "CITEXT" | "NAME" | "NCHAR"
            | "NVARCHAR" => Self::Text,
            _ => Self::Any,
        }
    }

    /// The upper-case name used in messages.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Integer => "INTEGER",
            Self::Real => "REAL",
            Self::Numeric => "NUMERIC",
            Self::Text => "TEXT",
            Self::Blob => "BLOB",
            Self::Boolean => "BOOLEAN",
            Self::Date => "DATE",
            Self::Time => "TIME",
            Self::Timestamp => "TIMESTAMP",
            Self::TimestampTz => "TIMESTAMPTZ",
            Self::Json => "JSON",
            Self::Uuid => "UUID",
            Self::Any => "ANY",
        }
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether PostgreSQL fills in a column of this declared type by itself (`SERIAL` and
/// friends).
pub(super) fn is_serial(declared: &str) -> bool {
    let upper = declared.trim().to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "SMALLSERIAL" | "SERIAL" | "BIGSERIAL" | "SERIAL2" | "SERIAL4" | "SERIAL8"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_names() {
        use Dialect::{Postgres as P, Sqlite as S};
        let cases = [
            ("INTEGER", S, SqlType::Integer),
            ("BIGINT", S, SqlType::Integer),
            ("TEXT", S, SqlType::Text),
            ("VARCHAR(10)", S, SqlType::Text),
            ("CLOB", S, SqlType::Text),
            ("BLOB", S, SqlType::Blob),
            ("", S, SqlType::Any),
            ("DOUBLE PRECISION", S, SqlType::Real),
            ("FLOAT", S, SqlType::Real),
            ("DECIMAL(10,2)", S, SqlType::Numeric),
            ("BOOLEAN", S, SqlType::Boolean),
            ("DATETIME", S, SqlType::Timestamp),
            ("BYTEA", S, SqlType::Blob),
            ("integer", P, SqlType::Integer),
            ("BIGSERIAL", P, SqlType::Integer),
            ("DOUBLE PRECISION", P, SqlType::Real),
            ("NUMERIC(12, 2)", P, SqlType::Numeric),
            ("CHARACTER VARYING(20)", P, SqlType::Text),
            ("TIMESTAMP WITH TIME ZONE", P, SqlType::TimestampTz),
            ("TIMESTAMP(3) WITHOUT TIME ZONE", P, SqlType::Timestamp),
            ("TIME", P, SqlType::Time),
            ("TIMESTAMP(3) WITH TIME ZONE", P, SqlType::TimestampTz),
            ("JSONB", P, SqlType::Json),
            ("INT[]", P, SqlType::Any),
            ("INTERVAL", P, SqlType::Any),
            ("mood", P, SqlType::Any),
        ];
        for (declared, dialect, expected) in cases {
            assert_eq!(
                SqlType::from_declared(declared, dialect),
                expected,
                "{declared} on {dialect:?}"
            );
        }
        assert!(is_serial("serial") && !is_serial("INTEGER"));
    }
}
