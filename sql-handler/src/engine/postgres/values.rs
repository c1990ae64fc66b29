//! Moving values across the PostgreSQL boundary (PROTOCOL.md section 4): parameters go in
//! as text so PostgreSQL parses them into the type it inferred for each placeholder;
//! columns come back in binary and are decoded here, by type, into JSON.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::net::IpAddr;

use bytes::BytesMut;
use postgres_protocol::types as wire;
use serde_json::Value;
use sql_core::value::{SqlValue, blob_to_json, real_to_json};
use tokio_postgres::fallible_iterator::FallibleIterator as _;
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::{Column, Row};

use crate::engine::ExecError;

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;

type BoxError = Box<dyn StdError + Sync + Send>;

/// One parameter, sent in text format (bytes in binary) so that PostgreSQL converts it to
/// whatever type it inferred for the placeholder: a JSON string becomes a timestamp, a
/// uuid or a numeric without the plugin naming the type.
#[derive(Debug)]
pub(crate) struct Param<'a>(pub(crate) &'a SqlValue);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self.0 {
            SqlValue::Null => return Ok(IsNull::Yes),
            SqlValue::Bool(b) => out.extend_from_slice(bool_text(*b, ty).as_bytes()),
            SqlValue::Integer(i) => write!(out, "{i}")?,
            SqlValue::Real(x) => out.extend_from_slice(real_text(*x).as_bytes()),
            // A JSON array for an array parameter (`= ANY($1)`, or a list argument of
            // `IN ($1)`): sent in PostgreSQL's array syntax.
            SqlValue::Json(s) if is_array_type(ty) && s.starts_with('[') => {
                let value: serde_json::Value = serde_json::from_str(s)?;
                let mut literal = String::with_capacity(s.len());
                array_literal(&value, &mut literal);
                out.extend_from_slice(literal.as_bytes());
            }
            SqlValue::Text(s) | SqlValue::Json(s) => out.extend_from_slice(s.as_bytes()),
            SqlValue::Blob(bytes) if is_bytea(ty) => out.extend_from_slice(bytes),
            SqlValue::Blob(_) => {
                return Err(format!(
                    "bytes can only be bound to a bytea parameter, not {}",
                    type_name(ty)
                )
                .into());
            }
            other => return Err(format!("unsupported parameter value {other:?}").into()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> Format {
        // Binary bytea is the raw bytes; its text form would need `\x` hex escaping.
        if matches!(self.0, SqlValue::Blob(_)) && is_bytea(ty) {
            Format::Binary
        } else {
            Format::Text
        }
    }

    tokio_postgres::types::to_sql_checked!();
}

/// The text of a boolean for a placeholder of type `ty`: `int4in` and `numeric_in` reject
/// "true", so numeric placeholders get 1/0, as SQLite stores booleans.
fn bool_text(b: bool, ty: &Type) -> &'static str {
    let numeric = matches!(
        *base_type(ty),
        Type::INT2 | Type::INT4 | Type::INT8 | Type::NUMERIC | Type::FLOAT4 | Type::FLOAT8
    );
    match (numeric, b) {
        (true, true) => "1",
        (true, false) => "0",
        (false, true) => "true",
        (false, false) => "false",
    }
}

/// Rust's shortest round-trip form, never an exponent; PostgreSQL's spellings for the
/// non-finite values (Rust writes `inf`).
fn real_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        x.to_string()
    }
}

/// Refuses, before anything is sent, a parameter list that cannot bind: a count that does
/// not match the statement's placeholders, or a value that can never be valid input for the
/// type PostgreSQL inferred (`types`, from the prepared statement).
pub(crate) fn check_params(types: &[Type], params: &[SqlValue]) -> Result<(), ExecError> {
    if types.len() != params.len() {
        return Err(ExecError::ParamType {
            index: types.len().min(params.len()) + 1,
            reason: format!(
                "the statement has {} placeholder(s) but {} value(s) were sent",
                types.len(),
                params.len()
            ),
        });
    }
    for (i, (ty, value)) in types.iter().zip(params).enumerate() {
        if let Some(reason) = refusal(ty, value, i + 1) {
            return Err(ExecError::ParamType {
                index: i + 1,
                reason,
            });
        }
    }
    Ok(())
}

fn is_array_type(ty: &Type) -> bool {
    matches!(base_type(ty).kind(), Kind::Array(_))
}

/// `value` (a JSON array) in PostgreSQL's array input syntax: `{1,"a b",NULL,{2,3}}`.
/// Strings are quoted with `"` and `\` escaped; objects go as their JSON text.
fn array_literal(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            out.push('{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                array_literal(item, out);
            }
            out.push('}');
        }
        Value::Null => out.push_str("NULL"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(text) => quote_element(text, out),
        Value::Object(_) => quote_element(&value.to_string(), out),
    }
}

fn quote_element(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Why `value` can never be accepted for a placeholder of type `ty`, if it cannot: only
/// certain failures, anything PostgreSQL might accept being left to it; and a number or
/// boolean for bytea, which PostgreSQL would take but store as the ASCII of its text.
fn refusal(ty: &Type, value: &SqlValue, index: usize) -> Option<String> {
    let base = base_type(ty);
    let name = type_name(ty);
    let is_array = matches!(base.kind(), Kind::Array(_));
    match value {
        SqlValue::Null => None,
        SqlValue::Blob(_) if *base == Type::BYTEA => None,
        SqlValue::Blob(_) => Some(format!(
            "bytes can only be bound to a bytea parameter, and ${index} is {name}; \
             where PostgreSQL cannot tell the type, write ${index}::bytea"
        )),
        SqlValue::Bool(_) | SqlValue::Integer(_) | SqlValue::Real(_) if *base == Type::BYTEA => {
            Some(format!(
                "{} cannot be bound to ${index}, which is bytea; send bytes as \
                 {{\"$blob\": \"<base64>\"}}",
                describe(value)
            ))
        }
        SqlValue::Bool(_) | SqlValue::Integer(_) | SqlValue::Real(_) if is_array => Some(format!(
            "{} cannot be bound to ${index}, which is {name}; send an array as a string \
             in PostgreSQL's array syntax, for example \"{{1,2,3}}\"",
            describe(value)
        )),
        SqlValue::Text(text) | SqlValue::Json(text) if text.contains('\0') => Some(
            "text containing the NUL character (\\u0000) cannot be sent to PostgreSQL".to_owned(),
        ),
        SqlValue::Integer(i) => match integer_range(base) {
            Some(range) if !range.contains(i) => {
                Some(format!("{i} is out of range for ${index}, which is {name}"))
            }
            _ if *base == Type::BOOL && !matches!(i, 0 | 1) => Some(format!(
                "{i} cannot be bound to ${index}, which is boolean; send true or false"
            )),
            _ if *base == Type::UUID => Some(format!(
                "a number cannot be bound to ${index}, which is uuid; send the uuid as a string"
            )),
            _ => None,
        },
        SqlValue::Real(x) => {
            // Judged on the text sent: Rust's shortest form pads with zeros, so -2^63 goes
            // as -9223372036854776000, beyond bigint.
            let sent = real_text(*x);
            match integer_range(base) {
                Some(range)
                    if !sent
                        .parse::<i64>()
                        .is_ok_and(|whole| range.contains(&whole)) =>
                {
                    Some(format!(
                        "{sent} is not a whole number in the range of ${index}, which is {name}"
                    ))
                }
                _ if *base == Type::BOOL && !matches!(sent.as_str(), "0" | "1") => Some(format!(
                    "{sent} cannot be bound to ${index}, which is boolean; send true or false"
                )),
                _ if *base == Type::UUID => Some(format!(
                    "a number cannot be bound to ${index}, which is uuid; send the uuid as a string"
                )),
                _ => None,
            }
        }
        SqlValue::Bool(_) if never_boolean(base) => Some(format!(
            "a boolean cannot be bound to ${index}, which is {name}"
        )),
        _ => None,
    }
}

/// Types whose input function rejects both "true" and "false".
fn never_boolean(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::DATE
            | Type::TIME
            | Type::TIMETZ
            | Type::TIMESTAMP
            | Type::TIMESTAMPTZ
            | Type::INTERVAL
            | Type::UUID
            | Type::INET
            | Type::CIDR
            | Type::MACADDR
            | Type::MONEY
    )
}

/// The values an integer type holds, for refusing an out-of-range number with its index.
fn integer_range(ty: &Type) -> Option<std::ops::RangeInclusive<i64>> {
    match *ty {
        Type::INT2 => Some(i64::from(i16::MIN)..=i64::from(i16::MAX)),
        Type::INT4 => Some(i64::from(i32::MIN)..=i64::from(i32::MAX)),
        Type::INT8 => Some(i64::MIN..=i64::MAX),
        _ => None,
    }
}

/// What kind of value the plugin sent, for a refusal's reason.
fn describe(value: &SqlValue) -> &'static str {
    match value {
        SqlValue::Bool(_) => "a boolean",
        SqlValue::Integer(_) | SqlValue::Real(_) => "a number",
        SqlValue::Blob(_) => "bytes",
        SqlValue::Json(_) => "a JSON value",
        _ => "text",
    }
}

/// The 1-based index of the parameter PostgreSQL could not convert, from the context it
/// adds to errors raised while binding. PostgreSQL 15 writes `unnamed portal parameter $2
/// = '...'` (`portal "p0" parameter $2 = '...'` for a named portal; the value itself only
/// with `log_parameter_max_length_on_error`), or no ` = ...` part when the text failed the
/// encoding check. Errors raised while the statement runs carry no such line.
pub(crate) fn param_error_index(err: &tokio_postgres::error::DbError) -> Option<usize> {
    err.where_()?.lines().find_map(|line| {
        let rest = line
            .strip_prefix("unnamed portal parameter $")
            .or_else(|| {
                let named = line.strip_prefix("portal \"")?;
                named.split_once("\" parameter $").map(|(_, after)| after)
            })?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().filter(|&index| index >= 1)
    })
}

/// Refuses, before the statement runs, a result column whose type has no JSON form here,
/// naming the column, its type and the cast that fixes it.
pub(crate) fn check_columns(columns: &[Column]) -> Result<(), ExecError> {
    match columns.iter().find(|c| repr(c.type_()).is_none()) {
        Some(column) => Err(unsupported(column.name(), column.type_())),
        None => Ok(()),
    }
}

/// The result columns of type bytea (or a domain over it), whose values are blobs: the
/// reply's `blob_columns` (PROTOCOL.md section 3). An array of bytea is not one: its
/// values are JSON arrays.
pub(crate) fn blob_columns(columns: &[Column]) -> Vec<usize> {
    columns
        .iter()
        .enumerate()
        .filter(|(_, column)| is_bytea(column.type_()))
        .map(|(i, _)| i)
        .collect()
}

/// The refusal of a column of an unsupported type, with a cast to text as the fix.
fn unsupported(column: &str, ty: &Type) -> ExecError {
    let simple = column
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && column
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let example = if simple {
        format!("for example {column}::text")
    } else {
        "for example (expression)::text".to_owned()
    };
    execution(format!(
        "column '{column}' has type {}, which cannot be returned as JSON; cast it in the \
         query, {example}",
        type_name(ty)
    ))
}

/// A failure reported to the plugin as `EXECUTION_ERROR`.
fn execution(message: String) -> ExecError {
    ExecError::Execution {
        message,
        constraint: None,
        transient: false,
        batch_index: None,
    }
}

/// One column of a row as JSON (PROTOCOL.md section 4), decoded from its binary form.
pub(crate) fn column_to_json(row: &Row, index: usize) -> Result<Value, ExecError> {
    let column = row
        .columns()
        .get(index)
        .ok_or_else(|| ExecError::Internal(format!("no result column {index}")))?;
    let ty = column.type_();
    let Some(repr) = repr(ty) else {
        return Err(unsupported(column.name(), ty));
    };
    let raw = row
        .try_get::<_, RawValue<'_>>(index)
        .map_err(|e| ExecError::Internal(format!("column '{}': {e}", column.name())))?;
    let Some(raw) = raw.0 else {
        return Ok(Value::Null);
    };
    decode(&repr, raw).map_err(|e| match e {
        DecodeError::Malformed(e) => ExecError::Internal(format!(
            "cannot decode column '{}' of type {}: {e}",
            column.name(),
            type_name(ty)
        )),
        DecodeError::Unrepresentable(reason) => execution(format!(
            "column '{}' of type {} cannot be returned as JSON ({reason}); cast it in the \
             query, for example to text",
            column.name(),
            type_name(ty)
        )),
    })
}

/// A column's bytes as sent, or `None` for NULL; every type accepted, so the decoding by
/// type is ours.
struct RawValue<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for RawValue<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(Some(raw)))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Self(None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// How a supported type is decoded.
#[derive(Debug)]
enum Repr {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Char,
    Float4,
    Float8,
    Numeric,
    Text,
    Bytea,
    Json,
    Jsonb,
    Uuid,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    Inet,
    Cidr,
    Void,
    Array(Box<Repr>),
}

/// The decoding for `ty`, or `None` when it is not supported.
fn repr(ty: &Type) -> Option<Repr> {
    match ty.kind() {
        // The binary form of an enum value is its label.
        Kind::Enum(_) => return Some(Repr::Text),
        Kind::Domain(base) => return repr(base),
        Kind::Array(element) => return Some(Repr::Array(Box::new(repr(element)?))),
        _ => {}
    }
    Some(match *ty {
        Type::BOOL => Repr::Bool,
        Type::INT2 => Repr::Int2,
        Type::INT4 => Repr::Int4,
        Type::INT8 => Repr::Int8,
        Type::OID => Repr::Oid,
        Type::CHAR => Repr::Char,
        Type::FLOAT4 => Repr::Float4,
        Type::FLOAT8 => Repr::Float8,
        Type::NUMERIC => Repr::Numeric,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Repr::Text,
        Type::BYTEA => Repr::Bytea,
        Type::JSON => Repr::Json,
        Type::JSONB => Repr::Jsonb,
        Type::UUID => Repr::Uuid,
        Type::DATE => Repr::Date,
        Type::TIME => Repr::Time,
        Type::TIMESTAMP => Repr::Timestamp,
        Type::TIMESTAMPTZ => Repr::Timestamptz,
        Type::INTERVAL => Repr::Interval,
        Type::INET => Repr::Inet,
        Type::CIDR => Repr::Cidr,
        // `SELECT f()` for a function returning void; its binary form is empty.
        Type::VOID => Repr::Void,
        // An extension type (its OID differs per database) whose send function is text's.
        _ if ty.name() == "citext" && matches!(ty.kind(), Kind::Simple) => Repr::Text,
        _ => return None,
    })
}

/// Why a column value could not be decoded.
#[derive(Debug)]
enum DecodeError {
    /// Bytes that do not match the type's binary format.
    Malformed(BoxError),
    /// A valid value with no JSON form (a json number beyond f64).
    Unrepresentable(String),
}

impl From<BoxError> for DecodeError {
    fn from(e: BoxError) -> Self {
        Self::Malformed(e)
    }
}

/// One non-NULL value in its binary form as JSON.
fn decode(repr: &Repr, raw: &[u8]) -> Result<Value, DecodeError> {
    Ok(match repr {
        Repr::Bool => Value::Bool(wire::bool_from_sql(raw)?),
        Repr::Int2 => Value::from(wire::int2_from_sql(raw)?),
        Repr::Int4 => Value::from(wire::int4_from_sql(raw)?),
        Repr::Int8 => Value::from(wire::int8_from_sql(raw)?),
        Repr::Oid => Value::from(wire::oid_from_sql(raw)?),
        Repr::Char => Value::String(char_text(wire::char_from_sql(raw)?)),
        // Via its shortest text so that real 0.1 is 0.1, not 0.10000000149011612.
        Repr::Float4 => real_to_json(
            wire::float4_from_sql(raw)?
                .to_string()
                .parse()
                .unwrap_or(f64::NAN),
        ),
        Repr::Float8 => real_to_json(wire::float8_from_sql(raw)?),
        Repr::Numeric => Value::String(numeric_text(raw)?),
        Repr::Text => Value::String(wire::text_from_sql(raw)?.to_owned()),
        Repr::Bytea => blob_to_json(wire::bytea_from_sql(raw)),
        Repr::Json => json_value(raw)?,
        Repr::Jsonb => match raw.split_first() {
            Some((1, text)) => json_value(text)?,
            _ => return Err(DecodeError::Malformed("unknown jsonb version".into())),
        },
        Repr::Uuid => Value::String(
            uuid::Uuid::from_bytes(wire::uuid_from_sql(raw)?)
                .hyphenated()
                .to_string(),
        ),
        Repr::Date => Value::String(date_text(wire::date_from_sql(raw)?)),
        Repr::Time => Value::String(time_text(wire::time_from_sql(raw)?)),
        Repr::Timestamp => Value::String(timestamp_text(wire::timestamp_from_sql(raw)?, "")),
        Repr::Timestamptz => Value::String(timestamp_text(wire::timestamp_from_sql(raw)?, "Z")),
        Repr::Interval => Value::String(interval_text(raw)?),
        Repr::Inet => Value::String(inet_text(raw, false)?),
        Repr::Cidr => Value::String(inet_text(raw, true)?),
        Repr::Void => Value::Null,
        Repr::Array(element) => array_value(element, raw)?,
    })
}

/// The text of a json value (or of jsonb after its version byte), embedded.
fn json_value(text: &[u8]) -> Result<Value, DecodeError> {
    serde_json::from_slice(text).map_err(|e| DecodeError::Unrepresentable(e.to_string()))
}

/// As `charout`: the byte itself when ASCII, octal `\ooo` otherwise, nothing for 0.
fn char_text(c: i8) -> String {
    let byte = c.to_ne_bytes()[0];
    match byte {
        0 => String::new(),
        1..=127 => char::from(byte).to_string(),
        _ => format!("\\{byte:03o}"),
    }
}

/// An array, nested by dimension, in row-major order; NULL elements as null. Lower
/// bounds other than 1 are not represented.
fn array_value(element: &Repr, raw: &[u8]) -> Result<Value, DecodeError> {
    let array = wire::array_from_sql(raw)?;
    let dims = array
        .dimensions()
        .map(|d| usize::try_from(d.len).map_err(|_| BoxError::from("negative array dimension")))
        .collect::<Vec<usize>>()?;
    let mut values = Vec::new();
    let mut raw_values = array.values();
    while let Some(value) = raw_values.next()? {
        values.push(match value {
            Some(bytes) => decode(element, bytes)?,
            None => Value::Null,
        });
    }
    if dims.is_empty() || dims.contains(&0) {
        return Ok(Value::Array(Vec::new()));
    }
    let mut values = values.into_iter();
    Ok(nest(&dims, &mut values))
}

/// The next values nested as `dims` says, outermost dimension first.
fn nest(dims: &[usize], values: &mut impl Iterator<Item = Value>) -> Value {
    match dims.split_first() {
        Some((&len, [])) => Value::Array(values.take(len).collect()),
        Some((&len, inner)) => Value::Array((0..len).map(|_| nest(inner, values)).collect()),
        None => Value::Array(Vec::new()),
    }
}

/// Decodes PostgreSQL's binary numeric exactly, as `numeric_out` prints it: header
/// (ndigits, weight, sign, dscale as 16-bit integers), then base-10000 digits, the first
/// one weighing 10000^weight; dscale digits after the point, trailing zeros kept.
fn numeric_text(raw: &[u8]) -> Result<String, BoxError> {
    const POS: u16 = 0x0000;
    const NEG: u16 = 0x4000;
    const NAN: u16 = 0xC000;
    const PINF: u16 = 0xD000;
    const NINF: u16 = 0xF000;

    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "numeric value too short".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(i16::from_be_bytes(word(1)?.to_be_bytes()));
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    if raw.len() != 8 + 2 * ndigits {
        return Err("numeric value has the wrong length".into());
    }
    let digits = (0..ndigits)
        .map(|i| match word(4 + i)? {
            d @ 0..=9999 => Ok(d),
            _ => Err("numeric digit out of range".into()),
        })
        .collect::<Result<Vec<u16>, BoxError>>()?;
    let negative = match sign {
        POS => false,
        NEG => true,
        NAN => return Ok("NaN".to_owned()),
        PINF => return Ok("Infinity".to_owned()),
        NINF => return Ok("-Infinity".to_owned()),
        _ => return Err("invalid numeric sign".into()),
    };
    // The base-10000 digit weighing 10000^(weight - i), zero outside the stored ones.
    let digit = |i: i64| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                write!(out, "{}", digit(i))?;
            } else {
                write!(out, "{:04}", digit(i))?;
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while fraction.len() < dscale {
            write!(fraction, "{:04}", digit(i))?;
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;
/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;

/// `YYYY-MM-DD`; `infinity`/`-infinity`; as PostgreSQL, years before 1 as `YYYY-MM-DD BC`.
fn date_text(days: i32) -> String {
    match days {
        i32::MAX => "infinity".to_owned(),
        i32::MIN => "-infinity".to_owned(),
        _ => {
            let (date, era) = civil_text(i64::from(days));
            format!("{date}{era}")
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]` then `zone`; the BC marker last, as PostgreSQL's own JSON
/// puts it.
fn timestamp_text(usecs: i64, zone: &str) -> String {
    match usecs {
        i64::MAX => "infinity".to_owned(),
        i64::MIN => "-infinity".to_owned(),
        _ => {
            let (date, era) = civil_text(usecs.div_euclid(USECS_PER_DAY));
            let time = time_text(usecs.rem_euclid(USECS_PER_DAY));
            format!("{date}T{time}{zone}{era}")
        }
    }
}

/// `HH:MM:SS` and, when non-zero, the fraction without trailing zeros (as PostgreSQL).
fn time_text(usecs: i64) -> String {
    let mut out = format!(
        "{:02}:{:02}:",
        usecs / USECS_PER_HOUR,
        usecs % USECS_PER_HOUR / USECS_PER_MINUTE
    );
    push_seconds(&mut out, usecs % USECS_PER_MINUTE);
    out
}

/// Two-digit seconds of a non-negative count of microseconds below a minute, and the
/// fraction without trailing zeros.
fn push_seconds(out: &mut String, usecs: i64) {
    let fraction = usecs % USECS_PER_SEC;
    let _ = write!(out, "{:02}", usecs / USECS_PER_SEC);
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// The date `days` after 2000-01-01 as `YYYY-MM-DD` (at least four year digits) and the
/// era suffix (` BC` for years before 1, whose year 0 is 1 BC).
fn civil_text(days: i64) -> (String, &'static str) {
    // Howard Hinnant's civil_from_days, on days since 1970-01-01: exact for any i64 day,
    // beyond chrono's range (PostgreSQL dates reach 5874897 AD).
    let z = days + PG_EPOCH_DAYS + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if year > 0 {
        (format!("{year:04}-{month:02}-{day:02}"), "")
    } else {
        (format!("{:04}-{month:02}-{day:02}", 1 - year), " BC")
    }
}

/// An interval as PostgreSQL prints it by default (`IntervalStyle = postgres`):
/// `1 year 2 mons 3 days 04:05:06.5`, `-1 days +01:00:00`, `00:00:00` for zero.
fn interval_text(raw: &[u8]) -> Result<String, BoxError> {
    let bytes: &[u8; 16] = raw.try_into().map_err(|_| "interval is not 16 bytes")?;
    let [
        t0,
        t1,
        t2,
        t3,
        t4,
        t5,
        t6,
        t7,
        d0,
        d1,
        d2,
        d3,
        m0,
        m1,
        m2,
        m3,
    ] = *bytes;
    let time = i64::from_be_bytes([t0, t1, t2, t3, t4, t5, t6, t7]);
    let days = i32::from_be_bytes([d0, d1, d2, d3]);
    let months = i32::from_be_bytes([m0, m1, m2, m3]);
    // PostgreSQL 17's infinite intervals.
    if (time, days, months) == (i64::MAX, i32::MAX, i32::MAX) {
        return Ok("infinity".to_owned());
    }
    if (time, days, months) == (i64::MIN, i32::MIN, i32::MIN) {
        return Ok("-infinity".to_owned());
    }

    let mut out = String::new();
    let mut is_zero = true;
    let mut is_before = false;
    // As EncodeInterval's AddPostgresIntPart: a "+" marks a positive field only after a
    // negative one.
    let mut part = |value: i64, unit: &str, out: &mut String| {
        if value == 0 {
            return;
        }
        let _ = write!(
            out,
            "{}{}{value} {unit}{}",
            if is_zero { "" } else { " " },
            if is_before && value > 0 { "+" } else { "" },
            if value == 1 { "" } else { "s" }
        );
        is_before = value < 0;
        is_zero = false;
    };
    part(i64::from(months / 12), "year", &mut out);
    part(i64::from(months % 12), "mon", &mut out);
    part(i64::from(days), "day", &mut out);
    if is_zero || time != 0 {
        let sign = if time < 0 {
            "-"
        } else if is_before {
            "+"
        } else {
            ""
        };
        let abs = time.unsigned_abs();
        let hours = abs / USECS_PER_HOUR.unsigned_abs();
        let rest = abs % USECS_PER_HOUR.unsigned_abs();
        write!(
            out,
            "{}{sign}{hours:02}:{:02}:",
            if is_zero { "" } else { " " },
            rest / USECS_PER_MINUTE.unsigned_abs()
        )?;
        // Below a minute, so it fits i64.
        let seconds = i64::try_from(rest % USECS_PER_MINUTE.unsigned_abs())?;
        push_seconds(&mut out, seconds);
    }
    Ok(out)
}

/// inet and cidr as their output functions print them: the mask only when it is not the
/// full width for inet, always for cidr.
fn inet_text(raw: &[u8], cidr: bool) -> Result<String, BoxError> {
    let inet = wire::inet_from_sql(raw)?;
    let addr = inet.addr();
    let full = match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    let mut out = match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // PostgreSQL (after BIND) still prints IPv4-compatible addresses in dotted
            // form, which Rust no longer does.
            if s[..6] == [0; 6] && s[6] != 0 {
                let [_, _, _, _, _, _, _, _, _, _, _, _, a, b, c, d] = v6.octets();
                format!("::{a}.{b}.{c}.{d}")
            } else {
                v6.to_string()
            }
        }
    };
    if cidr || inet.netmask() != full {
        write!(out, "/{}", inet.netmask())?;
    }
    Ok(out)
}

/// `ty` with domains unwrapped to their base type.
fn base_type(ty: &Type) -> &Type {
    match ty.kind() {
        Kind::Domain(base) => base_type(base),
        _ => ty,
    }
}

/// Whether `ty` is bytea or a domain over it, the only types bytes are sent to.
fn is_bytea(ty: &Type) -> bool {
    *base_type(ty) == Type::BYTEA
}

/// A type's name as PostgreSQL's own messages spell it (`integer`, not `int4`).
fn type_name(ty: &Type) -> String {
    if let Kind::Array(element) = ty.kind() {
        return format!("{}[]", type_name(element));
    }
    match *ty {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::VARCHAR => "character varying",
        Type::BPCHAR => "character",
        Type::CHAR => "\"char\"",
        Type::TIME => "time without time zone",
        Type::TIMETZ => "time with time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        _ => ty.name(),
    }
    .to_owned()
}
