//! Substring search, and the `instr` and `replace` overrides built on it.

use memchr::memmem;
use rusqlite::functions::Context;
use rusqlite::types::ValueRef;

use super::text::{is_continuation, text_of};
use super::{Budget, DeadlinePassed, Output, SEARCH_WINDOW, too_big};

/// Up to this many haystack bytes, memmem's searcher-free Rabin-Karp path beats building a
/// searcher.
const SHORT_HAYSTACK: usize = 64;

/// Searches one needle through a haystack window by window, reading the clock between.
#[derive(Debug)]
pub(super) struct Search<'n> {
    needle: &'n [u8],
    finder: Option<memmem::Finder<'n>>,
}

impl<'n> Search<'n> {
    /// A searcher for a non-empty `needle` in haystacks of about `haystack_len` bytes.
    pub(super) fn new(needle: &'n [u8], haystack_len: usize) -> Self {
        let finder = (haystack_len > SHORT_HAYSTACK).then(|| memmem::Finder::new(needle));
        Self { needle, finder }
    }

    /// The first occurrence in `hay` at or after `from`.
    pub(super) fn next(
        &self,
        hay: &[u8],
        from: usize,
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        let n = self.needle.len();
        let Some(finder) = &self.finder else {
            // memmem's own short-haystack path (Rabin-Karp), with no searcher to build.
            let rest = hay.get(from..).unwrap_or_default();
            return Ok(memmem::find(rest, self.needle).map(|p| from + p));
        };
        let step = SEARCH_WINDOW.max(n);
        let mut start = from;
        while start + n <= hay.len() {
            let end = (start + step + n - 1).min(hay.len());
            if let Some(p) = finder.find(&hay[start..end]) {
                budget.spend(p + n)?;
                return Ok(Some(start + p));
            }
            budget.spend(end - start)?;
            start += step;
        }
        Ok(None)
    }
}

/// How many characters start in `bytes`, as `instr` counts them: every byte that is not a
/// continuation byte.
fn char_starts(bytes: &[u8], budget: &mut Budget<'_>) -> Result<usize, DeadlinePassed> {
    let mut count = 0;
    for chunk in bytes.chunks(SEARCH_WINDOW) {
        budget.spend(chunk.len())?;
        count += chunk.iter().filter(|&&b| !is_continuation(b)).count();
    }
    Ok(count)
}

/// `instr(haystack, needle)`: 1 + the characters before the first occurrence, bytes when
/// both are blobs, 0 when absent, 1 for an empty needle.
pub(super) fn instr(ctx: &Context<'_>, budget: &mut Budget<'_>) -> rusqlite::Result<Output> {
    let (hay, needle) = (ctx.get_raw(0), ctx.get_raw(1));
    let bytes = matches!(hay, ValueRef::Blob(_)) && matches!(needle, ValueRef::Blob(_));
    let (Some(hay), Some(needle)) = (text_of(hay)?, text_of(needle)?) else {
        return Ok(Output::Null);
    };
    let Some(&first) = needle.first() else {
        return Ok(Output::Integer(1));
    };
    let position = if bytes {
        Search::new(&needle, hay.len())
            .next(&hay, 0, budget)?
            .map(|p| p + 1)
    } else if is_continuation(first) {
        // SQLite tries only offset 0 and the offsets of non-continuation bytes, so a
        // needle starting with a continuation byte can match only at the start.
        hay.starts_with(&needle).then_some(1)
    } else {
        match Search::new(&needle, hay.len()).next(&hay, 0, budget)? {
            // A match starts on a non-continuation byte: SQLite's step count to it is one
            // per such byte after offset 0.
            Some(p) => Some(1 + char_starts(&hay[1..=p], budget)?),
            None => None,
        }
    };
    Ok(Output::Integer(
        position.map_or(0, |p| i64::try_from(p).unwrap_or(i64::MAX)),
    ))
}

/// `replace(string, pattern, replacement)`: every non-overlapping occurrence, left to
/// right, of `pattern`'s bytes replaced; always text.
pub(super) fn replace(
    ctx: &Context<'_>,
    budget: &mut Budget<'_>,
    max_len: usize,
) -> rusqlite::Result<Output> {
    let Some(string) = text_of(ctx.get_raw(0))? else {
        return Ok(Output::Null);
    };
    let Some(pattern) = text_of(ctx.get_raw(1))? else {
        return Ok(Output::Null);
    };
    // SQLite tests the first byte, so a pattern that starts with NUL counts as empty, and
    // the replacement is not even looked at.
    if pattern.first().is_none_or(|&b| b == 0) {
        return Ok(Output::Text(string.into_owned()));
    }
    let Some(replacement) = text_of(ctx.get_raw(2))? else {
        return Ok(Output::Null);
    };
    // SQLite's output buffer of length + 1 bytes must fit the limit, even with no match.
    if string.len() + 1 > max_len {
        return Err(too_big());
    }
    if let ([from], [to]) = (&pattern[..], &replacement[..]) {
        // One byte for another: a map the compiler vectorises.
        let mut out = Vec::with_capacity(string.len());
        for chunk in string.chunks(SEARCH_WINDOW) {
            budget.spend(chunk.len())?;
            out.extend(chunk.iter().map(|&b| if b == *from { *to } else { b }));
        }
        return Ok(Output::Text(out));
    }
    let mut out = Vec::new();
    let done = if pattern.len() <= SHORT_PATTERN {
        replace_short(&string, &pattern, &replacement, max_len, &mut out, budget)?
    } else {
        replace_long(&string, &pattern, &replacement, max_len, &mut out, budget)?
    };
    if done == 0 {
        return Ok(Output::Text(string.into_owned()));
    }
    out.extend_from_slice(&string[done..]);
    Ok(Output::Text(out))
}

/// Up to this many bytes, `replace` compares its pattern at each candidate byte, at most
/// this many bytes per input byte: faster than memmem when matches are dense.
const SHORT_PATTERN: usize = 16;

/// The output length of `replace` so far, checked against the limit as SQLite checks it:
/// as soon as the replacements so far would exceed it.
fn grow(
    out_len: &mut usize,
    pattern: usize,
    replacement: usize,
    max_len: usize,
) -> rusqlite::Result<()> {
    if replacement > pattern {
        *out_len += replacement - pattern;
        if *out_len > max_len {
            return Err(too_big());
        }
    }
    Ok(())
}

/// Appends the text before a match and the replacement to `out`, reserving the whole
/// string's size at the first match.
fn push_replaced(out: &mut Vec<u8>, before: &[u8], replacement: &[u8], reserve: usize) {
    if out.is_empty() {
        out.reserve(reserve);
    }
    out.extend_from_slice(before);
    out.extend_from_slice(replacement);
}

/// `replace`'s leftmost, non-overlapping matches of a short `pattern`, written to `out`
/// with the text between; returns how much of `string` is done (0 when nothing matched).
/// SQLite's own scan, with memchr to skip runs that hold no candidate.
fn replace_short(
    string: &[u8],
    pattern: &[u8],
    replacement: &[u8],
    max_len: usize,
    out: &mut Vec<u8>,
    budget: &mut Budget<'_>,
) -> rusqlite::Result<usize> {
    let first = pattern[0];
    let (mut at, mut done, mut misses) = (0, 0, 0);
    let mut out_len = string.len();
    while at < string.len() {
        budget.spend(1)?;
        if string[at] == first && string[at..].starts_with(pattern) {
            grow(&mut out_len, pattern.len(), replacement.len(), max_len)?;
            budget.spend(replacement.len())?;
            push_replaced(out, &string[done..at], replacement, string.len());
            at += pattern.len();
            done = at;
            misses = 0;
            continue;
        }
        at += 1;
        misses += 1;
        if misses == 32 {
            // Sparse candidates: jump to the next one.
            misses = 0;
            let rest = &string[at..];
            let skip = memchr::memchr(first, rest).unwrap_or(rest.len());
            budget.spend(skip)?;
            at += skip;
        }
    }
    Ok(done)
}

/// Like [`replace_short`], for a longer pattern: memmem, window by window so the clock
/// is read between. A match starting in a window lies inside it, and the next window
/// starts after the last match, which keeps matches leftmost and non-overlapping.
fn replace_long(
    string: &[u8],
    pattern: &[u8],
    replacement: &[u8],
    max_len: usize,
    out: &mut Vec<u8>,
    budget: &mut Budget<'_>,
) -> rusqlite::Result<usize> {
    let n = pattern.len();
    let finder = memmem::Finder::new(pattern);
    let step = SEARCH_WINDOW.max(n);
    let (mut pos, mut done) = (0, 0);
    let mut out_len = string.len();
    while pos + n <= string.len() {
        let end = (pos + step + n - 1).min(string.len());
        budget.spend(end - pos)?;
        for p in finder.find_iter(&string[pos..end]) {
            let at = pos + p;
            grow(&mut out_len, n, replacement.len(), max_len)?;
            budget.spend(replacement.len())?;
            push_replaced(out, &string[done..at], replacement, string.len());
            done = at + n;
        }
        pos = (pos + step).max(done);
    }
    Ok(done)
}
