//! The `like` and `glob` overrides (and so the LIKE and GLOB operators): short input
//! matched in place, longer input against a compiled pattern.

mod compile;
mod direct;
mod greedy;
mod shift_and;

#[cfg(test)]
mod tests;

use rusqlite::functions::Context;

use self::compile::{Pattern, canonical};
use self::direct::direct_match;
use super::text::{decode_at, text_of, until_nul};
use super::{Budget, Output, sql_error};

/// Which of SQLite's two pattern languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// `%`, `_`, an optional escape character, ASCII-only case folding.
    Like,
    /// `*`, `?`, `[...]` classes, case-sensitive.
    Glob,
}

/// LIKE's case folding: ASCII letters only.
fn fold_ascii(c: u32) -> u32 {
    if (u32::from(b'A')..=u32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// Reads the pattern character at `*at`, or `None` at the end.
fn read_char(pattern: &[u8], at: &mut usize) -> Option<u32> {
    (*at < pattern.len()).then(|| {
        let (c, next) = decode_at(pattern, *at);
        *at = next;
        c
    })
}

/// Up to this many pattern bytes times text bytes, [`direct_match`] answers: quadratic at
/// worst, so bounded by this, and without the compiling and copying that pay off only on
/// longer text.
const DIRECT_WORK: usize = 1 << 13;

/// The special characters of a pattern as `likeFunc` sets them up: an escape character
/// equal to a wildcard makes that wildcard an escape.
fn wildcards(dialect: Dialect, escape: Option<u32>) -> (Option<u32>, Option<u32>) {
    let (all, one) = match dialect {
        Dialect::Like => (u32::from(b'%'), u32::from(b'_')),
        Dialect::Glob => (u32::from(b'*'), u32::from(b'?')),
    };
    let unless_escape = |c: u32| (escape != Some(c)).then_some(c);
    (unless_escape(all), unless_escape(one))
}

/// `like(pattern, string)`, `like(pattern, string, escape)` and `glob(pattern, string)`:
/// 1 or 0, checked in SQLite's order (pattern length, escape, then NULLs).
pub(super) fn pattern_match(
    ctx: &Context<'_>,
    budget: &mut Budget<'_>,
    dialect: Dialect,
    max_pattern: usize,
) -> rusqlite::Result<Output> {
    let pattern = text_of(ctx.get_raw(0))?;
    if pattern.as_ref().map_or(0, |p| p.len()) > max_pattern {
        return Err(sql_error("LIKE or GLOB pattern too complex"));
    }
    let escape = if ctx.len() == 3 {
        let Some(escape) = text_of(ctx.get_raw(2))? else {
            return Ok(Output::Null);
        };
        let escape = until_nul(&escape);
        // sqlite3Utf8CharLen: characters up to the first NUL, split as decode_at splits.
        let mut chars = 0;
        let mut at = 0;
        while at < escape.len() && chars < 2 {
            at = decode_at(escape, at).1;
            chars += 1;
        }
        if chars != 1 {
            return Err(sql_error("ESCAPE expression must be a single character"));
        }
        Some(decode_at(escape, 0).0)
    } else {
        None
    };
    let (Some(pattern), Some(text)) = (pattern, text_of(ctx.get_raw(1))?) else {
        return Ok(Output::Null);
    };
    let pattern = until_nul(&pattern);
    let raw_text = until_nul(&text);
    if pattern.len().saturating_mul(raw_text.len()) <= DIRECT_WORK {
        return Ok(Output::Integer(i64::from(direct_match(
            pattern, raw_text, dialect, escape,
        ))));
    }
    // SQLite keeps a constant argument's auxiliary data from row to row, so a constant
    // pattern is compiled once per statement; the check against `source` keeps a stale
    // copy from ever being used.
    let compiled = match ctx.get_aux::<Pattern>(0)? {
        Some(cached) if cached.escape == escape && cached.source == pattern => cached,
        _ => ctx.set_aux(0, Pattern::compile(pattern, dialect, escape, budget)?)?,
    };
    let text = canonical(&text, dialect == Dialect::Like, budget)?;
    Ok(Output::Integer(i64::from(compiled.matches(&text, budget)?)))
}
