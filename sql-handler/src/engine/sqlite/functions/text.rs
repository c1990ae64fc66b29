//! Arguments read as SQLite's text (REALs printed by SQLite itself) and the UTF-8
//! reading and writing that the overrides share.

use std::borrow::Cow;
use std::cell::RefCell;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::sql_error;

/// An argument as `sqlite3_value_text` sees it, or `None` for NULL.
pub(super) fn text_of(value: ValueRef<'_>) -> rusqlite::Result<Option<Cow<'_, [u8]>>> {
    Ok(match value {
        ValueRef::Null => None,
        // SQLite prints integers with "%lld", which is Rust's Display.
        ValueRef::Integer(i) => Some(Cow::Owned(i.to_string().into_bytes())),
        ValueRef::Real(r) => Some(Cow::Owned(real_text(r)?.into_bytes())),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Some(Cow::Borrowed(bytes)),
    })
}

thread_local! {
    /// A connection without overrides, to print REALs exactly as SQLite does.
    static PLAIN: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// SQLite's text form of a REAL ("1.0e+20", "0.1", "-0.0"...), from SQLite itself: its
/// rules (15 significant digits unless 17 are needed to round-trip, ".0" added) are easy
/// to get subtly wrong, and REAL arguments to these functions are rare enough that a
/// cached statement on a per-thread connection costs nothing that matters.
fn real_text(value: f64) -> rusqlite::Result<String> {
    PLAIN.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| sql_error("real_text re-entered"))?;
        if slot.is_none() {
            *slot = Some(Connection::open_in_memory()?);
        }
        let Some(conn) = slot.as_ref() else {
            return Err(sql_error("no connection to print a REAL"));
        };
        conn.prepare_cached("SELECT CAST(?1 AS TEXT)")?
            .query_row([value], |row| row.get(0))
    })
}

/// Whether `byte` continues a UTF-8 sequence (0b10xx_xxxx).
#[inline]
pub(super) fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

/// The bytes before the first NUL: SQLite reads LIKE/GLOB operands, trim sets and unhex
/// input as C strings.
pub(super) fn until_nul(bytes: &[u8]) -> &[u8] {
    memchr::memchr(0, bytes).map_or(bytes, |n| &bytes[..n])
}

/// Decodes the character at `at` exactly as SQLite's `sqlite3Utf8Read` does: a byte
/// below 0xC0 stands alone (even a stray continuation byte), a lead byte takes every
/// continuation byte after it, and overlong ASCII or surrogates read as U+FFFD. Returns the
/// character and the index after it.
#[inline]
pub(super) fn decode_at(bytes: &[u8], at: usize) -> (u32, usize) {
    let lead = bytes[at];
    let mut next = at + 1;
    if lead < 0xC0 {
        return (u32::from(lead), next);
    }
    // sqlite3Utf8Trans1: the payload bits of the lead byte.
    let mut c = u32::from(match lead {
        0xC0..=0xDF => lead & 0x1F,
        0xE0..=0xEF => lead & 0x0F,
        0xF0..=0xF7 => lead & 0x07,
        0xF8..=0xFB => lead & 0x03,
        0xFC..=0xFD => lead & 0x01,
        _ => 0,
    });
    while next < bytes.len() && is_continuation(bytes[next]) {
        // Bits shifted out of the top are lost, as in C's unsigned arithmetic.
        c = (c << 6) | u32::from(bytes[next] & 0x3F);
        next += 1;
    }
    if c < 0x80 || (c & 0xFFFF_F800) == 0xD800 {
        c = 0xFFFD;
    }
    (c, next)
}

/// Appends `c` in an extended UTF-8 that covers all 32 bits. Like UTF-8 it is
/// self-synchronising and prefix-free, so byte search finds whole characters, and
/// [`decode_at`] reads it back unchanged.
pub(super) fn encode(c: u32, out: &mut Vec<u8>) {
    let Ok(ascii) = u8::try_from(c) else {
        return encode_wide(c, out);
    };
    if ascii < 0x80 {
        out.push(ascii);
    } else {
        encode_wide(c, out);
    }
}

fn encode_wide(c: u32, out: &mut Vec<u8>) {
    let (lead, continuations): (u8, u32) = match c {
        0..=0x7FF => (0xC0, 1),
        0x800..=0xFFFF => (0xE0, 2),
        0x1_0000..=0x1F_FFFF => (0xF0, 3),
        0x20_0000..=0x3FF_FFFF => (0xF8, 4),
        0x400_0000..=0x7FFF_FFFF => (0xFC, 5),
        0x8000_0000..=u32::MAX => (0xFE, 6),
    };
    let wide = u64::from(c);
    out.push(lead | ((wide >> (6 * continuations)) & 0x3F) as u8);
    for k in (0..continuations).rev() {
        out.push(0x80 | ((wide >> (6 * k)) & 0x3F) as u8);
    }
}
