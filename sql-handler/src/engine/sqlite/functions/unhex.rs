//! The two-argument `unhex(x, pass)` override: hex pairs to bytes, the pass set's
//! characters allowed between them.

use rusqlite::functions::Context;

use super::char_set::CharSet;
use super::text::{decode_at, text_of, until_nul};
use super::{Budget, DeadlinePassed, Output, too_big};

/// The characters `unhex`'s second argument lets through, decoded over all its bytes (SQLite
/// reads this one by length, NULs included).
#[derive(Debug)]
struct PassSet {
    ascii: u128,
    other: CharSet,
}

impl PassSet {
    fn new(pass: &[u8], budget: &mut Budget<'_>) -> Result<Self, DeadlinePassed> {
        let mut ascii = 0u128;
        let mut other = Vec::new();
        let mut at = 0;
        while at < pass.len() {
            budget.spend(1)?;
            let (c, next) = decode_at(pass, at);
            at = next;
            if c < 128 {
                ascii |= 1 << c;
            } else {
                other.push(c);
            }
        }
        Ok(Self {
            ascii,
            other: CharSet::new(other, budget)?,
        })
    }

    fn contains(&self, c: u32) -> bool {
        if c < 128 {
            self.ascii >> c & 1 == 1
        } else {
            self.other.contains(c)
        }
    }
}

/// `unhex(x, pass)`: pairs of hex digits to bytes, characters of `pass` allowed between
/// pairs, NULL for anything else; SQLite stops at the first NUL of `x`.
pub(super) fn unhex_with_pass(
    ctx: &Context<'_>,
    budget: &mut Budget<'_>,
    max_len: usize,
) -> rusqlite::Result<Output> {
    let (Some(hex), Some(pass)) = (text_of(ctx.get_raw(0))?, text_of(ctx.get_raw(1))?) else {
        return Ok(Output::Null);
    };
    // SQLite's output buffer, half the input and one byte, must fit the limit.
    if hex.len() / 2 + 1 > max_len {
        return Err(too_big());
    }
    let hex = until_nul(&hex);
    let pass = PassSet::new(&pass, budget)?;
    let digit = |at: usize| hex.get(at).map_or(NOT_HEX, |&b| HEX_DIGITS[usize::from(b)]);
    let mut out = Vec::with_capacity(hex.len() / 2);
    let mut at = 0;
    while at < hex.len() {
        budget.spend(1)?;
        let high = digit(at);
        if high == NOT_HEX {
            let (c, next) = decode_at(hex, at);
            if !pass.contains(c) {
                return Ok(Output::Null);
            }
            at = next;
            continue;
        }
        let low = digit(at + 1);
        if low == NOT_HEX {
            return Ok(Output::Null);
        }
        out.push((high << 4) | low);
        at += 2;
    }
    Ok(Output::Blob(out))
}

/// Marks a byte that is not an ASCII hex digit in [`HEX_DIGITS`].
const NOT_HEX: u8 = 0xFF;

/// The value of each byte as a hex digit (SQLite's `sqlite3Isxdigit`: ASCII only).
const HEX_DIGITS: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};
