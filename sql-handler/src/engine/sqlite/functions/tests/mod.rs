//! What the overrides' tests share: values kept as bytes, paired connections with and
//! without the overrides, and a deterministic generator of awkward input.

mod builtins;
mod deadline;
mod schemas;

use rusqlite::limits::Limit;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, params_from_iter};

use super::{StatementClock, install};

/// A value to bind or compare, with text kept as bytes so invalid UTF-8 survives.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Arg {
    Null,
    Int(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Int(i) => ValueRef::Integer(*i),
            Self::Real(r) => ValueRef::Real(*r),
            Self::Text(t) => ValueRef::Text(t),
            Self::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl From<ValueRef<'_>> for Arg {
    fn from(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Null => Self::Null,
            ValueRef::Integer(i) => Self::Int(i),
            ValueRef::Real(r) => Self::Real(r),
            ValueRef::Text(t) => Self::Text(t.to_vec()),
            ValueRef::Blob(b) => Self::Blob(b.to_vec()),
        }
    }
}

fn text(s: &str) -> Arg {
    Arg::Text(s.as_bytes().to_vec())
}

/// A call's value, or its error as (extended code, message).
type Answer = Result<Arg, (i32, String)>;

fn call(conn: &Connection, sql: &str, args: &[Arg]) -> Answer {
    let mut stmt = conn.prepare_cached(sql).unwrap();
    stmt.query_row(params_from_iter(args), |row| Ok(Arg::from(row.get_ref(0)?)))
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, m) => (f.extended_code, m.unwrap_or_default()),
            other => panic!("{sql}: {other}"),
        })
}

/// A plain connection and one with the overrides, both with `limits` applied first.
fn pair(limits: &[(Limit, i32)]) -> (Connection, Connection, StatementClock) {
    let plain = Connection::open_in_memory().unwrap();
    let over = Connection::open_in_memory().unwrap();
    for &(limit, value) in limits {
        plain.set_limit(limit, value).unwrap();
        over.set_limit(limit, value).unwrap();
    }
    let clock = StatementClock::default();
    install(&over, &clock).unwrap();
    (plain, over, clock)
}

/// xorshift64*: deterministic, so a failure reproduces.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(super) fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

/// Pieces of valid UTF-8: letters in both cases, every wildcard, class and escape
/// character of LIKE and GLOB, multi-byte characters.
const PIECES: &[&str] = &[
    "a", "b", "A", "B", "x", "%", "_", "*", "?", "[", "]", "^", "-", "\\", " ", "0", "9", "é", "É",
    "ß", "€", "😀", "\u{FFFD}", "\u{FFFF}", "ab", "aa",
];

/// Byte pieces SQLite reads in its own way: stray continuation bytes, lone lead bytes,
/// surrogates, overlong forms, 5-byte forms, NUL.
const RAW: &[&[u8]] = &[
    b"\x80",
    b"\xBF",
    b"\xC3",
    b"\xFF",
    b"\xFE",
    b"\xED\xA0\x80",
    b"\xC0\x80",
    b"\xC1\xA1",
    b"\xE0\x80\x80",
    b"\xE0\x83\xA9",
    b"\xF8\x88\x80\x80\x80",
    b"\xC3\xA9\xA9",
    b"\x00",
    b"\xC3\xA9",
    b"\xEF\xBF\xBD",
    b"a\x80",
    b"\xFC\x84\x80\x80\x80\x80",
];

fn bytes(rng: &mut Rng, max: usize, raw: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.below(max + 1) {
        if raw && rng.below(3) == 0 {
            out.extend_from_slice(rng.pick(RAW));
        } else {
            out.extend_from_slice(rng.pick(PIECES).as_bytes());
        }
    }
    out
}

const REALS: &[f64] = &[
    1e20,
    0.1,
    -0.0,
    1.0,
    1.5,
    -2.25,
    1e-7,
    123_456_789.0,
    3.0e300,
    0.5,
];
const INTS: &[i64] = &[
    0,
    1,
    -1,
    7,
    42,
    100,
    12300,
    9_223_372_036_854_775_807,
    i64::MIN,
];

/// Any kind of value: mostly text, sometimes NULL, numbers or blobs (also holding
/// invalid UTF-8, and text holding it too).
pub(super) fn value(rng: &mut Rng, max: usize) -> Arg {
    match rng.below(20) {
        0 => Arg::Null,
        1 => Arg::Int(rng.pick(INTS)),
        2 => Arg::Real(rng.pick(REALS)),
        3 | 4 => Arg::Blob(bytes(rng, max, true)),
        5 => Arg::Text(bytes(rng, max, true)),
        _ => Arg::Text(bytes(rng, max, false)),
    }
}

/// A pattern derived from `subject` (so about half match) or made up.
pub(super) fn pattern(rng: &mut Rng, subject: &Arg, glob: bool) -> Arg {
    let source = match subject {
        Arg::Text(t) | Arg::Blob(t) if rng.below(4) != 0 => t.clone(),
        _ => return value(rng, 6),
    };
    let wild: &[&[u8]] = if glob {
        &[
            b"*",
            b"?",
            b"[a-z]",
            b"[^a]",
            b"[]a]",
            b"[a-]",
            b"[\xC3\xA9-\xE2\x82\xAC]",
            b"[",
        ]
    } else {
        &[b"%", b"_", b"\\", b"\\%", b"\\_", b"A", b"%%"]
    };
    let mut out = Vec::new();
    for &byte in &source {
        match rng.below(8) {
            0 => out.extend_from_slice(rng.pick(wild)),
            1 => {
                out.extend_from_slice(rng.pick(wild));
                out.push(byte);
            }
            2 => out.push(byte.to_ascii_uppercase()),
            _ => out.push(byte),
        }
    }
    if rng.below(3) == 0 {
        out.extend_from_slice(rng.pick(wild));
    }
    if rng.below(2) == 0 {
        Arg::Text(out)
    } else {
        Arg::Blob(out)
    }
}

fn compare(plain: &Connection, over: &Connection, sql: &str, args: &[Arg]) {
    let expected = call(plain, sql, args);
    let got = call(over, sql, args);
    assert_eq!(got, expected, "{sql} with {args:?}");
}

/// `value` repeated to at least 100 bytes, if it holds bytes.
pub(super) fn lengthen(value: &Arg) -> Arg {
    match value {
        Arg::Text(t) if !t.is_empty() => Arg::Text(t.repeat(100usize.div_ceil(t.len()))),
        Arg::Blob(b) if !b.is_empty() => Arg::Blob(b.repeat(100usize.div_ceil(b.len()))),
        other => other.clone(),
    }
}
