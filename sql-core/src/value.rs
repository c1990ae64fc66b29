//! Value conversion rules of PROTOCOL.md section 4, shared by every backend.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

/// The key of the single-key object that carries bytes: `{"$blob": "<base64>"}`.
pub const BLOB_KEY: &str = "$blob";

/// A parameter value ready to bind, converted from JSON by PROTOCOL.md section 4.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use sql_core::value::SqlValue;
///
/// assert_eq!(SqlValue::from_json(&json!(42))?, SqlValue::Integer(42));
/// assert_eq!(SqlValue::from_json(&json!(1.5))?, SqlValue::Real(1.5));
/// assert_eq!(SqlValue::from_json(&json!({"$blob": "AAE="}))?, SqlValue::Blob(vec![0, 1]));
/// assert_eq!(SqlValue::from_json(&json!([1, 2]))?, SqlValue::Json("[1,2]".into()));
/// # Ok::<(), sql_core::value::ParamError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A boolean (1/0 on SQLite).
    Bool(bool),
    /// An integral number that fits `i64`.
    Integer(i64),
    /// Any other number.
    Real(f64),
    /// Text; PostgreSQL converts it to the type it infers for the placeholder.
    Text(String),
    /// Bytes, from `{"$blob": "<base64>"}`.
    Blob(Vec<u8>),
    /// An array or object other than a blob, as its JSON text.
    Json(String),
}

/// Why a JSON value cannot be bound as a parameter.
///
/// # Examples
///
/// ```
/// use sql_core::value::{ParamError, SqlValue};
/// let err = SqlValue::from_json(&serde_json::json!({"$blob": 42})).unwrap_err();
/// assert_eq!(err, ParamError::BadBlob);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A `$blob` object whose value is not a string of standard base64.
    #[error("\"$blob\" must hold standard padded base64 text")]
    BadBlob,
}

impl SqlValue {
    /// Converts one JSON parameter.
    ///
    /// # Errors
    ///
    /// [`ParamError::BadBlob`] for a `{"$blob": ...}` object that does not hold base64 text.
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use sql_core::value::SqlValue;
    ///
    /// // Integral but beyond i64: bound as a double rather than wrapped.
    /// assert_eq!(SqlValue::from_json(&json!(u64::MAX))?, SqlValue::Real(u64::MAX as f64));
    /// assert!(SqlValue::from_json(&json!({"$blob": "not base64!"})).is_err());
    /// # Ok::<(), sql_core::value::ParamError>(())
    /// ```
    pub fn from_json(value: &Value) -> Result<Self, ParamError> {
        Ok(match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Self::Integer(i),
                None => integral_or_real(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Self::Text(s.clone()),
            Value::Object(map) if map.len() == 1 && map.contains_key(BLOB_KEY) => {
                match &map[BLOB_KEY] {
                    Value::String(text) => {
                        Self::Blob(BASE64.decode(text).map_err(|_| ParamError::BadBlob)?)
                    }
                    _ => return Err(ParamError::BadBlob),
                }
            }
            Value::Array(_) | Value::Object(_) => Self::Json(value.to_string()),
        })
    }
}

/// PROTOCOL.md: "a number → integer when it is integral and fits i64, else double", so
/// `2.0` binds as the integer 2.
fn integral_or_real(x: f64) -> SqlValue {
    // i64::MAX is not representable as f64; the exclusive bound 2^63 is.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.fract() == 0.0 && (-LIMIT..LIMIT).contains(&x) {
        #[allow(clippy::cast_possible_truncation)]
        SqlValue::Integer(x as i64)
    } else {
        SqlValue::Real(x)
    }
}

/// Encodes bytes as a result value: standard padded base64 text.
///
/// # Examples
///
/// ```
/// assert_eq!(sql_core::value::blob_to_json(&[0, 1]), "AAE=");
/// ```
#[must_use]
pub fn blob_to_json(bytes: &[u8]) -> Value {
    Value::String(BASE64.encode(bytes))
}

/// Encodes bytes as a parameter: `{"$blob": "<base64>"}`.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// assert_eq!(sql_core::value::blob_param(b"hi"), json!({"$blob": "aGk="}));
/// ```
#[must_use]
pub fn blob_param(bytes: &[u8]) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(BLOB_KEY.to_owned(), Value::String(BASE64.encode(bytes)));
    Value::Object(map)
}

/// Encodes a double as a result value; NaN and infinities become `null`, since JSON has
/// no form for them.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// assert_eq!(sql_core::value::real_to_json(0.5), json!(0.5));
/// assert_eq!(sql_core::value::real_to_json(f64::INFINITY), json!(null));
/// ```
#[must_use]
pub fn real_to_json(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions() {
        let cases = [
            (json!(null), SqlValue::Null),
            (json!(true), SqlValue::Bool(true)),
            (json!(-7), SqlValue::Integer(-7)),
            (json!(i64::MAX), SqlValue::Integer(i64::MAX)),
            (json!(2.0), SqlValue::Integer(2)),
            (json!(2.5), SqlValue::Real(2.5)),
            (json!(1e300), SqlValue::Real(1e300)),
            (json!("x"), SqlValue::Text("x".into())),
            (json!({"$blob": ""}), SqlValue::Blob(vec![])),
            (
                json!({"$blob": "AAE=", "x": 1}),
                SqlValue::Json(r#"{"$blob":"AAE=","x":1}"#.into()),
            ),
            (json!({"a": [1]}), SqlValue::Json(r#"{"a":[1]}"#.into())),
        ];
        for (input, expected) in cases {
            assert_eq!(SqlValue::from_json(&input).unwrap(), expected, "{input}");
        }
        assert_eq!(
            SqlValue::from_json(&json!({"$blob": 5})),
            Err(ParamError::BadBlob)
        );
        assert_eq!(
            SqlValue::from_json(&json!({"$blob": "AAE"})),
            Err(ParamError::BadBlob)
        );
    }

    #[test]
    fn blob_round_trip() {
        let bytes = [0u8, 255, 10, 13];
        let param = blob_param(&bytes);
        assert_eq!(
            SqlValue::from_json(&param).unwrap(),
            SqlValue::Blob(bytes.to_vec())
        );
        assert_eq!(blob_to_json(&bytes), param[BLOB_KEY]);
    }
}
