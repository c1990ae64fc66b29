//! Turning one column value (JSON, per PROTOCOL.md section 4) into a Rust value, with the
//! database's conventions: `bool` from SQLite's 0/1, `Vec<u8>` from base64, `Option<T>`
//! for NULL, exact integers with range checks.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use crate::__private::{Reads, read};

/// A type one column value converts into.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use sql_client::FromSqlValue;
///
/// assert_eq!(bool::from_sql_value(&json!(1)), Ok(true));
/// assert_eq!(<Vec<u8>>::from_sql_value(&json!("AAE=")), Ok(vec![0, 1]));
/// assert_eq!(<Option<i32>>::from_sql_value(&json!(null)), Ok(None));
/// assert!(u8::from_sql_value(&json!(300)).is_err());
/// ```
#[diagnostic::on_unimplemented(
    message = "a column cannot be read as `{Self}`",
    label = "no column conversion to `{Self}`",
    note = "read JSON columns with `#[sql(json)]`, or convert with `#[sql(try_from = \"i64\")]`; columns read into integers, floats, bool, String, Vec<u8>, serde_json::Value and Option of these"
)]
pub trait FromSqlValue: Sized {
    /// Converts `value`.
    ///
    /// # Errors
    ///
    /// The expected type's description when the value does not fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use sql_client::{Expected, FromSqlValue};
    ///
    /// assert_eq!(i64::from_sql_value(&json!(42)), Ok(42));
    /// assert_eq!(u8::from_sql_value(&json!(300)), Err(Expected("u8 (an integer in range)")));
    ///
    /// // A type of your own, read from an integer column.
    /// #[derive(Debug, PartialEq)]
    /// struct Stars(u8);
    ///
    /// impl FromSqlValue for Stars {
    ///     fn from_sql_value(value: &serde_json::Value) -> Result<Self, Expected> {
    ///         match u8::from_sql_value(value) {
    ///             Ok(n) if n <= 5 => Ok(Stars(n)),
    ///             _ => Err(Expected("Stars (0 to 5)")),
    ///         }
    ///     }
    /// }
    ///
    /// assert_eq!(Stars::from_sql_value(&json!(4)), Ok(Stars(4)));
    /// assert!(Stars::from_sql_value(&json!(9)).is_err());
    /// ```
    fn from_sql_value(value: &Value) -> Result<Self, Expected>;

    /// The column types this type reads, for `sql!(as T, ...)`'s check against the
    /// schema. The default reads anything, which turns the check off for a type of your
    /// own.
    #[doc(hidden)]
    const READS: Reads = Reads::ANY;
}

/// What a conversion expected, for the message of a decode error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected(pub &'static str);

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl FromSqlValue for $t {
            const READS: Reads = Reads::of(read::INTEGER | read::BOOLEAN | read::NUMERIC);

            fn from_sql_value(value: &Value) -> Result<Self, Expected> {
                let expected = Expected(concat!(stringify!($t), " (an integer in range)"));
                match value {
                    Value::Number(n) => n
                        .as_i64()
                        .and_then(|i| <$t>::try_from(i).ok())
                        .or_else(|| n.as_u64().and_then(|u| <$t>::try_from(u).ok()))
                        .ok_or(expected),
                    _ => Err(expected),
                }
            }
        }
    )*};
}

integers!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

macro_rules! floats {
    ($($t:ty),*) => {$(
        impl FromSqlValue for $t {
            const READS: Reads = Reads::of(read::INTEGER | read::REAL | read::NUMERIC | read::NUMERIC_TEXT);

            #[allow(clippy::cast_possible_truncation, reason = "f32 columns accept the nearest value")]
            fn from_sql_value(value: &Value) -> Result<Self, Expected> {
                match value {
                    Value::Number(n) => n.as_f64().map(|x| x as $t).ok_or(Expected(stringify!($t))),
                    // PostgreSQL numeric arrives as an exact string.
                    Value::String(s) => s.parse().map_err(|_| Expected(stringify!($t))),
                    _ => Err(Expected(stringify!($t))),
                }
            }
        }
    )*};
}

floats!(f32, f64);

impl FromSqlValue for bool {
    const READS: Reads = Reads::of(read::BOOLEAN | read::INTEGER);

    fn from_sql_value(value: &Value) -> Result<Self, Expected> {
        match value {
            Value::Bool(b) => Ok(*b),
            // SQLite stores booleans as integers.
            Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
            _ => Err(Expected("bool (true/false or 0/1)")),
        }
    }
}

impl FromSqlValue for String {
    const READS: Reads =
        Reads::of(read::TEXT | read::DATES | read::UUID | read::NUMERIC_TEXT | read::JSON);

    fn from_sql_value(value: &Value) -> Result<Self, Expected> {
        match value {
            Value::String(s) => Ok(s.clone()),
            _ => Err(Expected("String (text)")),
        }
    }
}

impl FromSqlValue for Vec<u8> {
    const READS: Reads = Reads::of(read::BLOB);

    fn from_sql_value(value: &Value) -> Result<Self, Expected> {
        match value {
            Value::String(s) => BASE64
                .decode(s)
                .map_err(|_| Expected("Vec<u8> (a blob, as base64)")),
            _ => Err(Expected("Vec<u8> (a blob, as base64)")),
        }
    }
}

impl FromSqlValue for Value {
    fn from_sql_value(value: &Value) -> Result<Self, Expected> {
        Ok(value.clone())
    }
}

impl<T: FromSqlValue> FromSqlValue for Option<T> {
    const READS: Reads = T::READS.or_null();

    fn from_sql_value(value: &Value) -> Result<Self, Expected> {
        match value {
            Value::Null => Ok(None),
            other => T::from_sql_value(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions() {
        assert_eq!(i64::from_sql_value(&json!(i64::MIN)), Ok(i64::MIN));
        assert_eq!(u64::from_sql_value(&json!(u64::MAX)), Ok(u64::MAX));
        assert!(i32::from_sql_value(&json!(1.5)).is_err());
        assert!(i32::from_sql_value(&json!("1")).is_err());
        assert_eq!(f64::from_sql_value(&json!(2)), Ok(2.0));
        assert_eq!(f64::from_sql_value(&json!("12.50")), Ok(12.5));
        assert!(bool::from_sql_value(&json!(2)).is_err());
        assert_eq!(bool::from_sql_value(&json!(false)), Ok(false));
        assert!(String::from_sql_value(&json!(null)).is_err());
        assert!(<Vec<u8>>::from_sql_value(&json!("***")).is_err());
        assert_eq!(
            <Option<String>>::from_sql_value(&json!("x")),
            Ok(Some("x".into()))
        );
        assert_eq!(Value::from_sql_value(&json!({"a": 1})), Ok(json!({"a": 1})));
    }
}
