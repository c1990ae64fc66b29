//! The SQL types `sql!` checks arguments against, when the crate's migrations give the
//! schema (docs/queries.md, "Schema checks").
//!
//! Each placeholder whose context names a column (`WHERE user_id = $1`, `SET score = $2`,
//! an INSERT value, `IN ($3, $4)`, `LIMIT $5`) takes that column's type, one of the
//! markers below, and its argument must implement [`Fits`] for it. NULL (an `Option`)
//! fits only where the column accepts NULL. A type of your own fits once you say so:
//!
//! ```
//! use sql_client::types::{Fits, Text};
//!
//! #[derive(serde::Serialize)]
//! #[serde(rename_all = "lowercase")]
//! enum Level { Low, High }
//!
//! // `Level` serializes as a string, so it can be bound to a TEXT column.
//! impl Fits<Text> for Level {}
//! # fn main() {}
//! ```
//!
//! `serde_json::Value` fits every column: it is the way to pass what the checks cannot see.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;

use crate::query::Blob as BlobValue;

macro_rules! markers {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
    )*};
}

markers! {
    /// Whole numbers: `INTEGER`, `BIGINT`, `SERIAL`, ...
    Integer;
    /// Floating point: `REAL`, `DOUBLE PRECISION`.
    Real;
    /// `NUMERIC`, `DECIMAL` (and SQLite's NUMERIC affinity).
    Numeric;
    /// `TEXT`, `VARCHAR`, `CHAR`, PostgreSQL enums.
    Text;
    /// `BLOB`, `BYTEA`.
    Blob;
    /// `BOOLEAN`.
    Boolean;
    /// `DATE`.
    Date;
    /// `TIME`.
    Time;
    /// `TIMESTAMP` (SQLite: also `DATETIME`).
    Timestamp;
    /// `TIMESTAMP WITH TIME ZONE`.
    TimestampTz;
    /// `JSON`, `JSONB`.
    Json;
    /// `UUID`.
    Uuid;
}

/// A Rust value that can be bound to a placeholder standing for a column of SQL type `S`
/// (one of this module's markers). `sql!` requires it of each argument whose placeholder
/// the schema types; implement it for your own types that serialize to a fitting value.
///
/// # Examples
///
/// ```
/// use sql_client::types::{Fits, Integer, Text};
///
/// fn fits<S, T: Fits<S> + ?Sized>(_: &T) {}
/// fits::<Integer, _>(&42_i64);
/// fits::<Integer, _>(&true); // stored as 0/1
/// fits::<Text, _>("alice");
/// fits::<Text, _>(&serde_json::json!("any JSON value fits any column"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be bound to a {S} column",
    label = "this argument does not fit {S}",
    note = "the placeholder takes the type of the column it is compared with or written to; a NOT NULL column takes a value, not an Option; pass bytes as sql_client::Blob(...); implement sql_client::types::Fits<{S}> for a type of your own, or pass a serde_json::Value to skip the check"
)]
pub trait Fits<S> {}

/// Like [`Fits`], where the column also accepts NULL: `Option<T>` fits when `T` does.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be bound to a nullable {S} column",
    label = "this argument does not fit {S}",
    note = "the placeholder takes the type of the column it is compared with or written to; pass bytes as sql_client::Blob(...); implement sql_client::types::Fits<{S}> for a type of your own, or pass a serde_json::Value to skip the check"
)]
pub trait FitsNullable<S> {}

impl<S, T: Fits<S> + ?Sized> Fits<S> for &T {}

macro_rules! fits {
    ($marker:ident: $($t:ty),* $(,)?) => {$(
        impl Fits<$marker> for $t {}
    )*};
}

macro_rules! nullable {
    ($($marker:ident),*) => {$(
        impl<T: Fits<$marker> + ?Sized> FitsNullable<$marker> for T {}
        impl<T: Fits<$marker>> FitsNullable<$marker> for Option<T> {}
        impl Fits<$marker> for Value {}
    )*};
}

nullable!(
    Integer,
    Real,
    Numeric,
    Text,
    Blob,
    Boolean,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Json,
    Uuid
);

macro_rules! text_types {
    ($($marker:ident),*) => {$(
        fits!($marker: str, String, Cow<'_, str>, Box<str>, Rc<str>, Arc<str>);
    )*};
}

// Text fits where the database parses text: dates and times are ISO text on both
// backends, uuids and JSON are text, and NUMERIC takes its exact decimal form.
text_types!(
    Text,
    Numeric,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Json,
    Uuid
);
fits!(Text: char);

// SQLite stores booleans as 0/1, and the handler turns `true` into 1 for a PostgreSQL
// number.
fits!(Integer: i8, i16, i32, i64, u8, u16, u32, u64, isize, usize, bool);
fits!(Real: i8, i16, i32, i64, u8, u16, u32, u64, isize, usize, f32, f64);
fits!(Numeric: i8, i16, i32, i64, u8, u16, u32, u64, isize, usize, f32, f64);
fits!(Boolean: bool);
fits!(Uuid: uuid::Uuid);

impl<B: AsRef<[u8]>> Fits<Blob> for BlobValue<B> {}

#[cfg(feature = "chrono")]
mod chrono_types {
    use super::{Date, Fits, Text, Time, Timestamp, TimestampTz};
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};

    // SQLite keeps dates and times as ISO text.
    fits!(Date: NaiveDate);
    fits!(Time: NaiveTime);
    fits!(Timestamp: NaiveDateTime);
    fits!(TimestampTz: NaiveDateTime);
    fits!(Text: NaiveDate, NaiveTime, NaiveDateTime);
    impl<Tz: TimeZone> Fits<TimestampTz> for DateTime<Tz> {}
    impl<Tz: TimeZone> Fits<Timestamp> for DateTime<Tz> {}
    impl<Tz: TimeZone> Fits<Text> for DateTime<Tz> {}
}

#[cfg(feature = "time")]
mod time_types {
    use super::{Date, Fits, Text, Time, Timestamp, TimestampTz};

    fits!(Date: time::Date);
    fits!(Time: time::Time);
    fits!(Timestamp: time::PrimitiveDateTime, time::OffsetDateTime);
    fits!(TimestampTz: time::PrimitiveDateTime, time::OffsetDateTime);
    fits!(Text: time::Date, time::Time, time::PrimitiveDateTime, time::OffsetDateTime);
}
