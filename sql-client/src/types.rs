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

/// A column of an `insert_many` row template that accepts NULL: its values fit when they
/// fit `S`, or are `None`. Part of a template's type, `Rows<N, (Text, Nullable<Integer>)>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nullable<S>(S);

/// A column of a row template whose type the schema checks do not know (or a template
/// without a schema): any serializable value fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unchecked;

/// A value for one column of an `insert_many` row: `Fits<S>` for a column of type `S`,
/// `FitsNullable<S>` for `Nullable<S>`, anything for [`Unchecked`].
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be written to a {M} column of this INSERT",
    label = "a value of this row does not fit its column ({M})",
    note = "each value of an insert_many row must fit the column of its placeholder, in order; `Nullable<...>` columns also take None"
)]
pub trait FitsColumn<M> {}

impl<T: ?Sized> FitsColumn<Unchecked> for T {}

/// A value for a placeholder that also takes a list: the only item of `IN ($1)`, or the
/// array of `= ANY($1)`. A value that fits the column, or a slice, array or `Vec` of
/// such values (sent as one JSON array, which the handler binds as the list).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be bound to a {M} column or list",
    label = "neither a value nor a list of values of {M}",
    note = "`IN ($n)` takes one value of the column's type, or a slice, array or Vec of them; `Nullable<...>` columns also take None"
)]
pub trait FitsIn<M> {}

macro_rules! fits {
    ($marker:ident: $($t:ty),* $(,)?) => {$(
        impl Fits<$marker> for $t {}
    )*};
}

/// `FitsIn` for a value, and for slices, arrays and `Vec`s of values (also borrowed).
macro_rules! lists {
    ($column:ty, $value:ident, $element:ty) => {
        impl<T: $value<$element> + ?Sized> FitsIn<$column> for T {}
        impl<T: Fits<$element>> FitsIn<$column> for [T] {}
        impl<T: Fits<$element>> FitsIn<$column> for &[T] {}
        impl<T: Fits<$element>> FitsIn<$column> for Vec<T> {}
        impl<T: Fits<$element>> FitsIn<$column> for &Vec<T> {}
        impl<T: Fits<$element>, const N: usize> FitsIn<$column> for [T; N] {}
        impl<T: Fits<$element>, const N: usize> FitsIn<$column> for &[T; N] {}
    };
}

macro_rules! nullable {
    ($($marker:ident),*) => {$(
        impl<T: Fits<$marker> + ?Sized> FitsNullable<$marker> for T {}
        impl<T: Fits<$marker>> FitsNullable<$marker> for Option<T> {}
        impl Fits<$marker> for Value {}
        impl<T: Fits<$marker> + ?Sized> FitsColumn<$marker> for T {}
        impl<T: FitsNullable<$marker> + ?Sized> FitsColumn<Nullable<$marker>> for T {}
        lists!($marker, Fits, $marker);
        lists!(Nullable<$marker>, FitsNullable, $marker);
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
