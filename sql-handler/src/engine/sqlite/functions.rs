//! Replacements for the SQLite built-in functions whose single call can outrun the
//! statement's deadline.
//!
//! The engine stops a statement at its deadline from SQLite's progress handler, which
//! SQLite calls only between virtual-machine steps. A function call is one step however
//! long it runs, and some built-ins are quadratic in their arguments. Measured on SQLite
//! 3.54.1 (release build, progress handler asking to stop after 50 ms), the call ran on
//! past that point by: `ltrim`/`rtrim`/`trim` of 1 MiB with a 10,001-character set 32 to
//! 38 s; `unhex` of 1 MiB with a 10,001-character pass set 7 s; `GLOB '*[a]...[b]*'` 10 s
//! and `LIKE '%a_a_...b%'` 6 s on 1 MiB; `LIKE`/`GLOB` with a star and a 1,001-byte literal
//! 0.7 to 1.8 s on 1 MiB; `instr` and `replace` with a 10,001-byte needle 75 to 100 ms on
//! 1 MiB, growing with the product of the two lengths; and even linear calls on 16 MiB,
//! `trim(x)` and a growing `replace`, 36 to 38 ms.
//!
//! [`install`] overrides exactly those, per connection, with functions of the same names
//! and arities that
//!
//! - give SQLite's results and errors bit for bit, quirks included: the text form of
//!   numbers, blobs read as text, NUL bytes, invalid UTF-8 read the way SQLite reads it,
//!   "string or blob too big" where SQLite's buffers would pass `SQLITE_LIMIT_LENGTH`
//!   (the differential tests below compare every override with the built-in);
//! - run in linear time where an algorithm exists: memmem for substrings, tables and
//!   hashes for trim and pass sets, and for LIKE and GLOB a greedy matcher that places the
//!   segment after each star at its leftmost match, found by memmem on its longest literal
//!   or by a bit-parallel Shift-And pass (the same inputs now take 0.2 to 40 ms);
//! - read the statement's [`StatementClock`] every [`CHECK_EVERY`] units of work, and then
//!   fail with [`DeadlinePassed`]: every measured call stopped within 1 ms of it.
//!
//! Overriding `like` and `glob` also overrides the `LIKE`, `NOT LIKE`, `LIKE ... ESCAPE`
//! and `GLOB` operators. SQLite applies its LIKE index optimisation only to its own
//! function, so `col LIKE 'abc%'` no longer uses an index on `col`; and
//! `PRAGMA case_sensitive_like` would register the built-in `like` again.
//!
//! Left to SQLite, because an exact re-implementation is not reasonable, and measured the
//! same way: the JSON functions (parsing 16 MiB takes 45 to 150 ms; `json_extract`,
//! `json_insert` and `json_remove` with hundreds of paths over 8 MiB 0.2 to 11 s;
//! `json_patch` of two 256 KiB objects 4.6 s), date and time functions with many long
//! modifiers (99 modifiers of 16 MiB: 3.3 s), and scalar `max`/`min`, which compare with
//! the arguments' collation that an application function cannot see (999 arguments of
//! 16 MiB: 0.26 s). Only the engine's own answer-by-deadline covers those.
//!
//! `install` reads `SQLITE_LIMIT_LENGTH` and `SQLITE_LIMIT_LIKE_PATTERN_LENGTH` once: set
//! the limits first, and call it again after changing them.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use memchr::memmem;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::limits::Limit;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ffi};

/// Units of work (about one byte examined each) between two readings of the clock. A unit
/// costs at most a few nanoseconds, so a call notices a passed deadline well within a
/// millisecond, and reading the clock (some 20 ns) costs nothing measurable.
const CHECK_EVERY: usize = 1 << 16;

/// Most bytes one memmem call scans, so that the clock is read between windows.
const SEARCH_WINDOW: usize = 1 << 20;

/// Up to this many haystack bytes, memmem's searcher-free Rabin-Karp path beats building a
/// searcher.
const SHORT_HAYSTACK: usize = 64;

/// The deadline of the statement running on a connection, shared with that connection's
/// replacement functions.
///
/// The progress handler cannot reach inside a function call, so the functions poll this
/// themselves. The engine sets it before each statement and clears it after; cloning
/// shares the same deadline.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatementClock(Arc<AtomicU64>);

/// Stored in a [`StatementClock`] when no statement is running.
const NO_DEADLINE: u64 = 0;

/// The instant deadlines are counted from, so one atomic word can hold a deadline.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from [`epoch`] to `at`, never [`NO_DEADLINE`]: an instant before the epoch
/// has passed already.
fn nanos_since_epoch(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(epoch()).as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
}

impl StatementClock {
    /// Sets the deadline of the statement about to run, or clears it with `None` so that
    /// the functions run unbounded outside requests (migrations, tests).
    pub(crate) fn set(&self, deadline: Option<Instant>) {
        let value = deadline.map_or(NO_DEADLINE, nanos_since_epoch);
        self.0.store(value, Ordering::Relaxed);
    }

    /// Whether a deadline is set and has passed; one atomic load when none is set.
    pub(crate) fn expired(&self) -> bool {
        let deadline = self.0.load(Ordering::Relaxed);
        deadline != NO_DEADLINE && nanos_since_epoch(Instant::now()) >= deadline
    }
}

/// A replacement function gave up because the statement's deadline passed.
///
/// SQLite keeps only an error code and a message from a failed function (a boxed
/// `UserFunctionError` arrives as `SQLITE_ERROR` with its text), so this converts to a
/// bare `SQLITE_INTERRUPT`: the statement then fails exactly as when the progress handler
/// stops it, with [`rusqlite::ErrorCode::OperationInterrupted`] and message "interrupted",
/// which the engine already answers TIMEOUT, and with the same rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the statement's deadline passed during a function call")]
pub(crate) struct DeadlinePassed;

impl From<DeadlinePassed> for rusqlite::Error {
    fn from(_: DeadlinePassed) -> Self {
        rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_INTERRUPT), None)
    }
}

/// SQLite's `sqlite3_result_error_toobig`: the code SQLITE_TOOBIG and its standard message,
/// which SQLite supplies itself when the message is left out.
fn too_big() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_TOOBIG), None)
}

/// SQLite's `sqlite3_result_error`: the code SQLITE_ERROR with `message`.
fn sql_error(message: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_ERROR), Some(message.to_owned()))
}

/// Counts work within one call and reads the clock every [`CHECK_EVERY`] units.
#[derive(Debug)]
struct Budget<'c> {
    clock: &'c StatementClock,
    spent: usize,
}

impl<'c> Budget<'c> {
    fn new(clock: &'c StatementClock) -> Self {
        Self { clock, spent: 0 }
    }

    #[inline]
    fn spend(&mut self, units: usize) -> Result<(), DeadlinePassed> {
        self.spent = self.spent.saturating_add(units);
        if self.spent < CHECK_EVERY {
            return Ok(());
        }
        self.spent = 0;
        if self.clock.expired() {
            Err(DeadlinePassed)
        } else {
            Ok(())
        }
    }
}

/// The connection limits the built-ins read at each call, read here once at install.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// `SQLITE_LIMIT_LENGTH`: `replace` fails with SQLITE_TOOBIG past it.
    length: usize,
    /// `SQLITE_LIMIT_LIKE_PATTERN_LENGTH`: longer LIKE and GLOB patterns are an error.
    like_pattern: usize,
}

impl Limits {
    fn of(conn: &Connection) -> rusqlite::Result<Self> {
        let read = |limit| conn.limit(limit).map(|n| usize::try_from(n).unwrap_or(0));
        Ok(Self {
            length: read(Limit::SQLITE_LIMIT_LENGTH)?,
            like_pattern: read(Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH)?,
        })
    }
}

/// Overrides, on `conn`, every built-in whose single call can run far longer than its
/// input suggests, with functions that stop when `clock`'s deadline passes.
///
/// The overrides are deterministic and innocuous, as the built-ins are, so plugin schemas
/// keep using them in CHECK constraints, generated columns and index expressions; and
/// since their results equal the built-ins', indexes built either way agree. Call it after
/// setting the connection's limits (see the module docs).
///
/// # Errors
///
/// Fails if SQLite refuses to register a function.
pub(crate) fn install(conn: &Connection, clock: &StatementClock) -> rusqlite::Result<()> {
    let limits = Limits::of(conn)?;
    register(conn, "instr", 2, clock, instr)?;
    register(conn, "replace", 3, clock, move |ctx, budget| {
        replace(ctx, budget, limits.length)
    })?;
    for (name, dialect, arity) in [
        ("like", Dialect::Like, 2),
        ("like", Dialect::Like, 3),
        ("glob", Dialect::Glob, 2),
    ] {
        register(conn, name, arity, clock, move |ctx, budget| {
            pattern_match(ctx, budget, dialect, limits.like_pattern)
        })?;
    }
    for (name, side) in [
        ("ltrim", Side::Left),
        ("rtrim", Side::Right),
        ("trim", Side::Both),
    ] {
        for arity in [1, 2] {
            register(conn, name, arity, clock, move |ctx, budget| {
                trim(ctx, budget, side, limits.length)
            })?;
        }
    }
    register(conn, "unhex", 2, clock, move |ctx, budget| {
        unhex_with_pass(ctx, budget, limits.length)
    })?;
    Ok(())
}

fn register<F>(
    conn: &Connection,
    name: &str,
    arity: i32,
    clock: &StatementClock,
    body: F,
) -> rusqlite::Result<()>
where
    F: Fn(&Context<'_>, &mut Budget<'_>) -> rusqlite::Result<Output> + Send + 'static,
{
    let clock = clock.clone();
    conn.create_scalar_function(
        name,
        arity,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        move |ctx| body(ctx, &mut Budget::new(&clock)),
    )
}

/// A function's result, in the storage class the built-in gives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Output {
    Null,
    Integer(i64),
    /// Text as bytes: SQLite's results keep the invalid UTF-8 a blob argument brings.
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl ToSql for Output {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Self::Null => ValueRef::Null,
            Self::Integer(i) => ValueRef::Integer(*i),
            Self::Text(t) => ValueRef::Text(t),
            Self::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// An argument as `sqlite3_value_text` sees it, or `None` for NULL.
fn text_of(value: ValueRef<'_>) -> rusqlite::Result<Option<Cow<'_, [u8]>>> {
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
fn is_continuation(byte: u8) -> bool {
    byte & 0xC0 == 0x80
}

/// The bytes before the first NUL: SQLite reads LIKE/GLOB operands, trim sets and unhex
/// input as C strings.
fn until_nul(bytes: &[u8]) -> &[u8] {
    memchr::memchr(0, bytes).map_or(bytes, |n| &bytes[..n])
}

/// Decodes the character at `at` exactly as SQLite's `sqlite3Utf8Read` does: a byte
/// below 0xC0 stands alone (even a stray continuation byte), a lead byte takes every
/// continuation byte after it, and overlong ASCII or surrogates read as U+FFFD. Returns the
/// character and the index after it.
#[inline]
fn decode_at(bytes: &[u8], at: usize) -> (u32, usize) {
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
fn encode(c: u32, out: &mut Vec<u8>) {
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

// ---------------------------------------------------------------------------------------
// Substring search.

/// Searches one needle through a haystack window by window, reading the clock between.
#[derive(Debug)]
struct Search<'n> {
    needle: &'n [u8],
    finder: Option<memmem::Finder<'n>>,
}

impl<'n> Search<'n> {
    /// A searcher for a non-empty `needle` in haystacks of about `haystack_len` bytes.
    fn new(needle: &'n [u8], haystack_len: usize) -> Self {
        let finder = (haystack_len > SHORT_HAYSTACK).then(|| memmem::Finder::new(needle));
        Self { needle, finder }
    }

    /// The first occurrence in `hay` at or after `from`.
    fn next(
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
fn instr(ctx: &Context<'_>, budget: &mut Budget<'_>) -> rusqlite::Result<Output> {
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
fn replace(ctx: &Context<'_>, budget: &mut Budget<'_>, max_len: usize) -> rusqlite::Result<Output> {
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
            if out.is_empty() {
                out.reserve(string.len());
            }
            out.extend_from_slice(&string[done..at]);
            out.extend_from_slice(replacement);
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
            if out.is_empty() {
                out.reserve(string.len());
            }
            out.extend_from_slice(&string[done..at]);
            out.extend_from_slice(replacement);
            done = at + n;
        }
        pos = (pos + step).max(done);
    }
    Ok(done)
}

// ---------------------------------------------------------------------------------------
// trim, ltrim, rtrim.

/// Which ends `trim` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
    Both,
}

/// A trim set as SQLite splits it: each "character" is a byte, plus, for a byte of 0xC0 or
/// more, the continuation bytes after it. SQLite strips, at each step, the first character
/// of the set (in set order) whose bytes the string starts (or ends) with; several can
/// qualify only when the set holds such longer characters.
#[derive(Debug)]
struct TrimSet<'s> {
    /// The one-byte characters.
    bytes: [u64; 4],
    /// Only when ranking is needed: the set index + 1 of each one-byte character (0 when
    /// absent), to rank it against the longer ones.
    rank: Vec<u32>,
    /// Only when ranking is needed: the longer characters and their set index + 1.
    multi: HashMap<&'s [u8], u32>,
    /// (lead byte, length) of the longer characters, sorted and unique.
    lengths: Vec<(u8, usize)>,
    /// When the set is valid UTF-8 and has characters from U+0080 up: those, each
    /// [`packed`]. Its characters are then prefix-free, so at most one can match at either
    /// end and no ranking is needed.
    wide: Option<CharSet>,
}

/// Splits a trim set into SQLite's characters: `(index + 1, bytes)`.
fn set_chars(set: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let mut at = 0;
    let mut index = 0u32;
    std::iter::from_fn(move || {
        let start = at;
        let lead = *set.get(start)?;
        at += 1;
        if lead >= 0xC0 {
            while at < set.len() && is_continuation(set[at]) {
                at += 1;
            }
        }
        index += 1;
        Some((index, &set[start..at]))
    })
}

impl<'s> TrimSet<'s> {
    /// The set from the bytes of `set` before its first NUL.
    fn new(set: &'s [u8], budget: &mut Budget<'_>) -> Result<Self, DeadlinePassed> {
        let mut this = Self {
            bytes: [0; 4],
            rank: Vec::new(),
            multi: HashMap::new(),
            lengths: Vec::new(),
            wide: None,
        };
        budget.spend(set.len())?;
        // Ranking matters only with longer characters that are not valid UTF-8.
        let longer = set_chars(set).any(|(_, char)| char.len() > 1);
        let valid = longer && std::str::from_utf8(set).is_ok();
        let ranked = longer && !valid;
        if ranked {
            this.rank = vec![0; 256];
        }
        let mut lengths = HashSet::new();
        let mut wide = Vec::new();
        for (index, char) in set_chars(set) {
            budget.spend(char.len())?;
            match char {
                [byte] => {
                    this.bytes[usize::from(byte >> 6)] |= 1 << (byte & 63);
                    if let Some(rank) = this.rank.get_mut(usize::from(*byte))
                        && *rank == 0
                    {
                        *rank = index;
                    }
                }
                _ if ranked => {
                    this.multi.entry(char).or_insert(index);
                    lengths.insert((char[0], char.len()));
                }
                _ => wide.push(packed(char)),
            }
        }
        // Few: their lengths add up to at most the set's size.
        this.lengths = lengths.into_iter().collect();
        this.lengths.sort_unstable();
        if valid {
            this.wide = Some(CharSet::new(wide, budget)?);
        }
        Ok(this)
    }

    fn has_byte(&self, byte: u8) -> bool {
        self.bytes[usize::from(byte >> 6)] >> (byte & 63) & 1 == 1
    }

    /// The set index + 1 of the longer character `char`, if in the set.
    fn index_of(&self, char: &[u8]) -> Option<u32> {
        self.multi.get(char).copied()
    }

    /// The lengths of the longer characters that start with `lead`, ascending.
    fn lengths_of(&self, lead: u8) -> &[(u8, usize)] {
        let from = self.lengths.partition_point(|&(b, _)| b < lead);
        let to = self.lengths.partition_point(|&(b, _)| b <= lead);
        &self.lengths[from..to]
    }

    /// Of the one-byte character `byte` and a longer `candidate` (index, length), the one
    /// SQLite would strip.
    fn pick(&self, byte: u8, candidate: Option<(u32, usize)>) -> Option<usize> {
        let single = self
            .rank
            .get(usize::from(byte))
            .filter(|&&index| index != 0)
            .map(|&index| (index, 1));
        match (single, candidate) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a.1 } else { b.1 }),
            (one, other) => one.or(other).map(|(_, len)| len),
        }
    }

    /// The length of the character SQLite strips from the start of `s`, if any.
    fn strip_front(
        &self,
        s: &[u8],
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        let lead = s[0];
        if self.multi.is_empty() || lead < 0xC0 {
            return Ok(self.has_byte(lead).then_some(1));
        }
        let lengths = self.lengths_of(lead);
        let Some(&(_, longest)) = lengths.last() else {
            return Ok(self.has_byte(lead).then_some(1));
        };
        let run = s
            .iter()
            .take(longest)
            .skip(1)
            .take_while(|&&b| is_continuation(b))
            .count();
        budget.spend(run)?;
        let mut best: Option<(u32, usize)> = None;
        for &(_, len) in lengths.iter().take_while(|&&(_, len)| len <= run + 1) {
            budget.spend(len)?;
            if let Some(index) = self.index_of(&s[..len])
                && best.is_none_or(|(b, _)| index < b)
            {
                best = Some((index, len));
            }
        }
        Ok(self.pick(lead, best))
    }

    /// The length of the character SQLite strips from the end of `s`, if any; `trailing`
    /// caches how many continuation bytes `s` ends with, so a long run of them costs
    /// linear time.
    fn strip_back(
        &self,
        s: &[u8],
        trailing: &mut Option<usize>,
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        let last = s[s.len() - 1];
        if self.multi.is_empty() || !is_continuation(last) {
            *trailing = None;
            return Ok(self.has_byte(last).then_some(1));
        }
        // Only one longer character can end `s`: the one whose lead byte precedes all the
        // trailing continuation bytes.
        let run = match *trailing {
            Some(run) => run,
            None => {
                let run = s.iter().rev().take_while(|&&b| is_continuation(b)).count();
                budget.spend(run)?;
                run
            }
        };
        let mut candidate = None;
        if let Some(lead_at) = s.len().checked_sub(run + 1) {
            let lead = s[lead_at];
            if self
                .lengths_of(lead)
                .binary_search(&(lead, run + 1))
                .is_ok()
            {
                budget.spend(run + 1)?;
                candidate = self.index_of(&s[lead_at..]).map(|index| (index, run + 1));
            }
        }
        let stripped = self.pick(last, candidate);
        // Stripping one continuation byte shortens the run by one; anything else ends it.
        *trailing = match stripped {
            Some(1) => Some(run - 1),
            _ => None,
        };
        Ok(stripped)
    }
}

/// How long a valid UTF-8 sequence starting with `lead` is; 0 if none does.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Up to four bytes as one integer, first byte highest: equal for two sequences of the
/// same length exactly when their bytes are.
fn packed(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .enumerate()
        .fold(0, |word, (i, &b)| word | u32::from(b) << (24 - 8 * i))
}

/// For a valid UTF-8 set: the length of the set character `s` starts with, if any. The
/// lead byte fixes the length, so comparing packed bytes compares characters.
fn utf8_front(s: &[u8], set: &TrimSet<'_>, wide: &CharSet) -> Option<usize> {
    match utf8_len(s[0]) {
        1 => set.has_byte(s[0]).then_some(1),
        0 => None,
        len => s
            .get(..len)
            .filter(|char| wide.contains(packed(char)))
            .map(<[u8]>::len),
    }
}

/// For a valid UTF-8 set: the length of the set character `s` ends with, if any: an ASCII
/// byte, or a lead byte and all the continuation bytes after it.
fn utf8_back(s: &[u8], set: &TrimSet<'_>, wide: &CharSet) -> Option<usize> {
    let last = s[s.len() - 1];
    if last < 0x80 {
        return set.has_byte(last).then_some(1);
    }
    // Past three continuation bytes no valid character fits; the lead check then fails.
    let mut lead = s.len() - 1;
    while lead > 0 && s.len() - lead < 4 && is_continuation(s[lead]) {
        lead -= 1;
    }
    let char = &s[lead..];
    (utf8_len(char[0]) == char.len() && wide.contains(packed(char))).then_some(char.len())
}

/// The bounds of `input` with the bytes `strip` accepts removed from `side`: a test per
/// byte, scanned in windows so the clock is read between.
fn strip_bytes(
    input: &[u8],
    side: Side,
    budget: &mut Budget<'_>,
    strip: impl Fn(u8) -> bool,
) -> Result<(usize, usize), DeadlinePassed> {
    let (mut start, mut end) = (0, input.len());
    if side != Side::Right {
        while start < end {
            let window = &input[start..end.min(start + SEARCH_WINDOW)];
            budget.spend(window.len())?;
            let stripped = window.iter().take_while(|&&b| strip(b)).count();
            start += stripped;
            if stripped < window.len() {
                break;
            }
        }
    }
    if side != Side::Left {
        while start < end {
            let window = &input[start.max(end.saturating_sub(SEARCH_WINDOW))..end];
            budget.spend(window.len())?;
            let stripped = window.iter().rev().take_while(|&&b| strip(b)).count();
            end -= stripped;
            if stripped < window.len() {
                break;
            }
        }
    }
    Ok((start, end))
}

/// `trim(x)`, `trim(x, set)` and their `ltrim`/`rtrim` siblings; always text.
fn trim(
    ctx: &Context<'_>,
    budget: &mut Budget<'_>,
    side: Side,
    max_len: usize,
) -> rusqlite::Result<Output> {
    let Some(input) = text_of(ctx.get_raw(0))? else {
        return Ok(Output::Null);
    };
    if ctx.len() == 1 {
        let (start, end) = strip_bytes(&input, side, budget, |b| b == b' ')?;
        return Ok(Output::Text(input[start..end].to_vec()));
    }
    let Some(set) = text_of(ctx.get_raw(1))? else {
        return Ok(Output::Null);
    };
    let set = until_nul(&set);
    // SQLite allocates a pointer and an unsigned per set character, within the limit.
    budget.spend(set.len())?;
    if set_chars(set).count() * (size_of::<usize>() + size_of::<u32>()) > max_len {
        return Err(too_big());
    }
    let set = TrimSet::new(set, budget)?;
    let (mut start, mut end) = (0, input.len());
    if let Some(wide) = &set.wide {
        if side != Side::Right {
            while start < end {
                budget.spend(1)?;
                match utf8_front(&input[start..end], &set, wide) {
                    Some(len) => start += len,
                    None => break,
                }
            }
        }
        if side != Side::Left {
            while start < end {
                budget.spend(1)?;
                match utf8_back(&input[start..end], &set, wide) {
                    Some(len) => end -= len,
                    None => break,
                }
            }
        }
    } else if set.multi.is_empty() {
        (start, end) = strip_bytes(&input, side, budget, |b| set.has_byte(b))?;
    } else {
        if side != Side::Right {
            while start < end {
                budget.spend(1)?;
                match set.strip_front(&input[start..end], budget)? {
                    Some(len) => start += len,
                    None => break,
                }
            }
        }
        if side != Side::Left {
            let mut trailing = None;
            while start < end {
                budget.spend(1)?;
                match set.strip_back(&input[start..end], &mut trailing, budget)? {
                    Some(len) => end -= len,
                    None => break,
                }
            }
        }
    }
    Ok(Output::Text(input[start..end].to_vec()))
}

// ---------------------------------------------------------------------------------------
// unhex(x, pass).

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

/// A set of characters (or packed byte sequences): sorted while small, hashed when large,
/// so that building one never sorts more than a few thousand entries between readings of
/// the clock.
#[derive(Debug)]
enum CharSet {
    Sorted(Vec<u32>),
    Hashed(HashSet<u32>),
}

/// Most entries a [`CharSet`] sorts: some tens of microseconds.
const SORTED_SET: usize = 4096;

impl CharSet {
    fn new(mut items: Vec<u32>, budget: &mut Budget<'_>) -> Result<Self, DeadlinePassed> {
        if items.len() <= SORTED_SET {
            items.sort_unstable();
            items.dedup();
            return Ok(Self::Sorted(items));
        }
        let mut set = HashSet::new();
        for item in items {
            budget.spend(1)?;
            set.insert(item);
        }
        Ok(Self::Hashed(set))
    }

    fn contains(&self, item: u32) -> bool {
        match self {
            Self::Sorted(items) => items.binary_search(&item).is_ok(),
            Self::Hashed(items) => items.contains(&item),
        }
    }
}

/// `unhex(x, pass)`: pairs of hex digits to bytes, characters of `pass` allowed between
/// pairs, NULL for anything else; SQLite stops at the first NUL of `x`.
fn unhex_with_pass(
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

// ---------------------------------------------------------------------------------------
// LIKE and GLOB.

/// Which of SQLite's two pattern languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// `%`, `_`, an optional escape character, ASCII-only case folding.
    Like,
    /// `*`, `?`, `[...]` classes, case-sensitive.
    Glob,
}

/// A GLOB `[...]` class.
#[derive(Debug)]
struct Class {
    invert: bool,
    ascii: u128,
    /// Sorted, disjoint, non-adjacent ranges of characters from U+0080 up.
    wide: Vec<(u32, u32)>,
}

impl Class {
    fn new(invert: bool, mut ranges: Vec<(u32, u32)>) -> Self {
        // The bits below `n`.
        let below = |n: u32| {
            if n >= 128 {
                u128::MAX
            } else {
                (1u128 << n) - 1
            }
        };
        let mut ascii = 0u128;
        let mut wide: Vec<(u32, u32)> = Vec::new();
        ranges.retain(|&(lo, hi)| lo <= hi);
        for &(lo, hi) in &ranges {
            ascii |= below(hi.saturating_add(1)) & !below(lo);
        }
        ranges.sort_unstable();
        for (lo, hi) in ranges {
            if hi < 128 {
                continue;
            }
            let lo = lo.max(128);
            match wide.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => wide.push((lo, hi)),
            }
        }
        Self {
            invert,
            ascii,
            wide,
        }
    }

    fn contains(&self, c: u32) -> bool {
        let seen = if c < 128 {
            self.ascii >> c & 1 == 1
        } else {
            let i = self.wide.partition_point(|&(lo, _)| lo <= c);
            i > 0 && self.wide[i - 1].1 >= c
        };
        seen != self.invert
    }
}

/// One character's worth of pattern, or a run of literal characters.
#[derive(Debug)]
enum Item {
    /// `chars` literal characters: `Pattern::literals[from..to]`, canonically encoded (and
    /// folded for LIKE).
    Literal {
        from: usize,
        to: usize,
        chars: usize,
    },
    /// `_` or `?`.
    Any,
    /// `[...]`.
    Class(Class),
}

/// The items between two stars: `Pattern::items[from..to]`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    from: usize,
    to: usize,
    /// How many characters the segment matches.
    chars: usize,
}

/// A compiled LIKE or GLOB pattern.
#[derive(Debug)]
struct Pattern {
    /// What it was compiled from, to tell whether a cached copy still applies.
    source: Vec<u8>,
    escape: Option<u32>,
    /// The pattern ends in an unterminated `[` class or a lone escape character, which
    /// SQLite's matcher never matches.
    never: bool,
    /// Whether there is a star; if so there are at least two segments, the ones before the
    /// first and after the last star included (possibly empty).
    starred: bool,
    items: Vec<Item>,
    literals: Vec<u8>,
    segments: Vec<Segment>,
}

/// The text SQLite's matcher compares: up to the first NUL, every character in the
/// canonical encoding of [`encode`], ASCII upper case folded for LIKE. Valid UTF-8 is its
/// own canonical form, so the usual case copies nothing (or only folds).
fn canonical<'t>(
    text: &'t [u8],
    fold: bool,
    budget: &mut Budget<'_>,
) -> Result<Cow<'t, [u8]>, DeadlinePassed> {
    let text = until_nul(text);
    budget.spend(text.len())?;
    if std::str::from_utf8(text).is_ok() {
        if fold && text.iter().any(u8::is_ascii_uppercase) {
            budget.spend(text.len())?;
            return Ok(Cow::Owned(text.to_ascii_lowercase()));
        }
        return Ok(Cow::Borrowed(text));
    }
    let mut out = Vec::with_capacity(text.len() + 8);
    let mut at = 0;
    while at < text.len() {
        budget.spend(1)?;
        let (c, next) = decode_at(text, at);
        at = next;
        encode(if fold { fold_ascii(c) } else { c }, &mut out);
    }
    Ok(Cow::Owned(out))
}

/// LIKE's case folding: ASCII letters only.
fn fold_ascii(c: u32) -> u32 {
    if (u32::from(b'A')..=u32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

/// The index after the character at `at` of canonical text.
#[inline]
fn next_char(text: &[u8], mut at: usize) -> usize {
    at += 1;
    while at < text.len() && is_continuation(text[at]) {
        at += 1;
    }
    at
}

/// The index `chars` characters before `at` in canonical text, if not before `floor`.
fn back_chars(
    text: &[u8],
    mut at: usize,
    chars: usize,
    floor: usize,
    budget: &mut Budget<'_>,
) -> Result<Option<usize>, DeadlinePassed> {
    budget.spend(chars)?;
    for _ in 0..chars {
        if at <= floor {
            return Ok(None);
        }
        at -= 1;
        while at > floor && is_continuation(text[at]) {
            at -= 1;
        }
    }
    Ok(Some(at))
}

/// Reads the pattern character at `*at`, or `None` at the end.
fn read_char(pattern: &[u8], at: &mut usize) -> Option<u32> {
    (*at < pattern.len()).then(|| {
        let (c, next) = decode_at(pattern, *at);
        *at = next;
        c
    })
}

impl Pattern {
    /// Compiles `pattern` (the bytes before the first NUL) the way SQLite's
    /// `patternCompare` reads it.
    fn compile(
        pattern: &[u8],
        dialect: Dialect,
        escape: Option<u32>,
        budget: &mut Budget<'_>,
    ) -> Result<Self, DeadlinePassed> {
        budget.spend(pattern.len())?;
        let fold = dialect == Dialect::Like;
        let (all, one) = wildcards(dialect, escape);
        let mut this = Self {
            source: pattern.to_vec(),
            escape,
            never: false,
            starred: false,
            items: Vec::with_capacity(pattern.len().min(8)),
            literals: Vec::with_capacity(pattern.len()),
            segments: Vec::with_capacity(2),
        };
        let mut open = Segment {
            from: 0,
            to: 0,
            chars: 0,
        };
        let mut at = 0;
        while let Some(c) = read_char(pattern, &mut at) {
            if Some(c) == all {
                this.starred = true;
                open.to = this.items.len();
                this.segments.push(open);
                open = Segment {
                    from: open.to,
                    to: open.to,
                    chars: 0,
                };
                continue;
            }
            open.chars += 1;
            if dialect == Dialect::Like && Some(c) == escape {
                match read_char(pattern, &mut at) {
                    Some(literal) => this.push_literal(literal, fold, open.from),
                    None => {
                        this.never = true;
                        break;
                    }
                }
            } else if dialect == Dialect::Glob && c == u32::from(b'[') {
                match Self::class(pattern, &mut at, budget)? {
                    Some(class) => this.items.push(Item::Class(class)),
                    None => {
                        this.never = true;
                        break;
                    }
                }
            } else if Some(c) == one {
                this.items.push(Item::Any);
            } else {
                this.push_literal(c, fold, open.from);
            }
        }
        open.to = this.items.len();
        this.segments.push(open);
        if this.starred {
            // Consecutive stars leave empty segments between them; keep the two ends.
            let last = this.segments.len() - 1;
            let mut i = 0;
            this.segments.retain(|segment| {
                i += 1;
                i == 1 || i == last + 1 || segment.from < segment.to
            });
        }
        Ok(this)
    }

    /// Reads a class after its `[`, as SQLite does: `^` inverts, a `]` right after `[` or
    /// `[^` is a member, `a-z` is a range unless `-` comes first, last, or right after
    /// another range. `None` if the pattern ends first.
    fn class(
        pattern: &[u8],
        at: &mut usize,
        budget: &mut Budget<'_>,
    ) -> Result<Option<Class>, DeadlinePassed> {
        let read = |at: &mut usize| read_char(pattern, at).unwrap_or(0);
        let mut ranges = Vec::new();
        let mut invert = false;
        let mut c = read(at);
        if c == u32::from(b'^') {
            invert = true;
            c = read(at);
        }
        if c == u32::from(b']') {
            ranges.push((c, c));
            c = read(at);
        }
        let mut prior = 0;
        while c != 0 && c != u32::from(b']') {
            budget.spend(1)?;
            let next_byte = pattern.get(*at).copied().unwrap_or(0);
            if c == u32::from(b'-') && next_byte != b']' && next_byte != 0 && prior > 0 {
                c = read(at);
                ranges.push((prior, c));
                prior = 0;
            } else {
                ranges.push((c, c));
                prior = c;
            }
            c = read(at);
        }
        Ok((c != 0).then(|| Class::new(invert, ranges)))
    }

    /// Appends literal `c` to the open segment, which starts at item `segment_from`.
    fn push_literal(&mut self, c: u32, fold: bool, segment_from: usize) {
        let c = if fold { fold_ascii(c) } else { c };
        let from = self.literals.len();
        encode(c, &mut self.literals);
        let to = self.literals.len();
        if self.items.len() > segment_from
            && let Some(Item::Literal {
                to: last_to, chars, ..
            }) = self.items.last_mut()
            && *last_to == from
        {
            *last_to = to;
            *chars += 1;
        } else {
            self.items.push(Item::Literal { from, to, chars: 1 });
        }
    }

    /// Whether canonical `text` matches. Wildcards between stars have fixed width, so
    /// placing each segment at its leftmost match after the previous one loses no match
    /// (the classic greedy algorithm); SQLite's backtracking matcher gives the same
    /// answer, as its NOWILDCARDMATCH shortcut relies on the same fact.
    fn matches(&self, text: &[u8], budget: &mut Budget<'_>) -> Result<bool, DeadlinePassed> {
        if self.never {
            return Ok(false);
        }
        let Some((first, rest)) = self.segments.split_first() else {
            return Ok(text.is_empty());
        };
        let Some(mut at) = self.match_at(first, text, 0, text.len(), budget)? else {
            return Ok(false);
        };
        let Some((last, middle)) = rest.split_last() else {
            return Ok(at == text.len());
        };
        let Some(tail) = back_chars(text, text.len(), last.chars, at, budget)? else {
            return Ok(false);
        };
        if self.match_at(last, text, tail, text.len(), budget)? != Some(text.len()) {
            return Ok(false);
        }
        for segment in middle {
            match self.search(segment, text, at, tail, budget)? {
                Some(end) => at = end,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Where `segment` placed at `at` ends, if it matches there without passing `limit` (a
    /// character boundary).
    fn match_at(
        &self,
        segment: &Segment,
        text: &[u8],
        mut at: usize,
        limit: usize,
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        budget.spend(segment.to - segment.from)?;
        for item in &self.items[segment.from..segment.to] {
            match item {
                Item::Literal { from, to, .. } => {
                    let bytes = &self.literals[*from..*to];
                    budget.spend(bytes.len())?;
                    if !text[at..limit].starts_with(bytes) {
                        return Ok(None);
                    }
                    at += bytes.len();
                }
                Item::Any => {
                    if at >= limit {
                        return Ok(None);
                    }
                    at = next_char(text, at);
                }
                Item::Class(class) => {
                    if at >= limit {
                        return Ok(None);
                    }
                    let (c, next) = decode_at(text, at);
                    if !class.contains(c) {
                        return Ok(None);
                    }
                    at = next;
                }
            }
        }
        Ok(Some(at))
    }

    /// The end of the leftmost match of `segment` in `text[from..limit]`. Candidates are
    /// the occurrences of its longest literal, found by memmem and checked in place; when
    /// checking them costs more than a few units per byte scanned (a literal that is
    /// everywhere), or there is no literal, [`ShiftAnd`] finds the match in one pass.
    fn search(
        &self,
        segment: &Segment,
        text: &[u8],
        from: usize,
        limit: usize,
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        let items = &self.items[segment.from..segment.to];
        // (item, its byte length, characters before it)
        let mut anchor: Option<(usize, usize, usize)> = None;
        let mut chars_before = 0;
        let mut cost = 0;
        for (i, item) in items.iter().enumerate() {
            if let Item::Literal { from, to, chars } = item {
                if anchor.is_none_or(|(_, best, _)| to - from > best) {
                    anchor = Some((i, to - from, chars_before));
                }
                chars_before += chars;
                cost += to - from;
            } else {
                chars_before += 1;
                cost += 1;
            }
        }
        let Some((anchor, _, chars_before)) = anchor else {
            if items.iter().all(|item| matches!(item, Item::Any)) {
                return self.match_at(segment, text, from, limit, budget);
            }
            return ShiftAnd::new(self, segment).search(text, from, limit, budget);
        };
        let Item::Literal {
            from: lf, to: lt, ..
        } = &items[anchor]
        else {
            return Ok(None);
        };
        let hay = &text[..limit];
        let finder = Search::new(&self.literals[*lf..*lt], hay.len() - from);
        let mut look = from;
        let mut checked = 0usize;
        while let Some(found) = finder.next(hay, look, budget)? {
            checked += cost;
            if checked > 16 * (found - from) + 64 * cost {
                return ShiftAnd::new(self, segment).search(text, from, limit, budget);
            }
            if let Some(start) = back_chars(text, found, chars_before, from, budget)?
                && let Some(end) = self.match_at(segment, text, start, limit, budget)?
            {
                return Ok(Some(end));
            }
            look = found + 1;
        }
        Ok(None)
    }
}

/// The bit-parallel Shift-And search for one segment: bit `k` of the state says whether
/// the last `k + 1` characters match the segment's first `k + 1`, so one pass over the
/// text, at ⌈characters / 64⌉ words per character, finds the leftmost match (all matches of
/// a segment have the same length, so the leftmost to end is the leftmost to start).
#[derive(Debug)]
struct ShiftAnd<'p> {
    /// The segment's length in characters.
    chars: usize,
    words: usize,
    /// Per ASCII character, the positions it may take; `words` words each.
    ascii: Vec<u64>,
    /// The positions any character may take (`_`, `?`).
    any: Vec<u64>,
    /// (character, position) of the literal characters from U+0080 up, sorted.
    wide: Vec<(u32, usize)>,
    /// (class, position) of the classes.
    classes: Vec<(&'p Class, usize)>,
    /// Masks of the characters from U+0080 up seen so far.
    seen: HashMap<u32, Vec<u64>>,
}

/// Most masks [`ShiftAnd`] remembers for characters from U+0080 up.
const SHIFT_AND_CACHE: usize = 4096;

impl<'p> ShiftAnd<'p> {
    fn new(pattern: &'p Pattern, segment: &Segment) -> Self {
        let words = segment.chars.div_ceil(64).max(1);
        let mut this = Self {
            chars: segment.chars,
            words,
            ascii: vec![0; 128 * words],
            any: vec![0; words],
            wide: Vec::new(),
            classes: Vec::new(),
            seen: HashMap::new(),
        };
        let set = |bits: &mut [u64], k: usize| bits[k / 64] |= 1 << (k % 64);
        let mut k = 0;
        for item in &pattern.items[segment.from..segment.to] {
            match item {
                Item::Literal { from, to, .. } => {
                    let bytes = &pattern.literals[*from..*to];
                    let mut at = 0;
                    while at < bytes.len() {
                        let (c, next) = decode_at(bytes, at);
                        at = next;
                        match usize::try_from(c) {
                            Ok(ascii) if ascii < 128 => {
                                set(&mut this.ascii[ascii * words..][..words], k);
                            }
                            _ => this.wide.push((c, k)),
                        }
                        k += 1;
                    }
                }
                Item::Any => {
                    set(&mut this.any, k);
                    k += 1;
                }
                Item::Class(class) => {
                    for ascii in 1..128u8 {
                        if class.contains(u32::from(ascii)) {
                            set(&mut this.ascii[usize::from(ascii) * words..][..words], k);
                        }
                    }
                    this.classes.push((class, k));
                    k += 1;
                }
            }
        }
        for row in this.ascii.chunks_mut(words) {
            for (bits, any) in row.iter_mut().zip(&this.any) {
                *bits |= any;
            }
        }
        this.wide.sort_unstable();
        this
    }

    /// The positions character `c` (U+0080 or above) may take.
    fn wide_mask(&mut self, c: u32) -> &[u64] {
        if self.seen.len() >= SHIFT_AND_CACHE && !self.seen.contains_key(&c) {
            self.seen.clear();
        }
        let (any, wide, classes) = (&self.any, &self.wide, &self.classes);
        self.seen.entry(c).or_insert_with(|| {
            let mut mask = any.clone();
            let first = wide.partition_point(|&(w, _)| w < c);
            for &(_, k) in wide[first..].iter().take_while(|&&(w, _)| w == c) {
                mask[k / 64] |= 1 << (k % 64);
            }
            for &(class, k) in classes {
                if class.contains(c) {
                    mask[k / 64] |= 1 << (k % 64);
                }
            }
            mask
        })
    }

    /// The end of the leftmost match in `text[from..limit]`.
    fn search(
        mut self,
        text: &[u8],
        from: usize,
        limit: usize,
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        let Some(last) = self.chars.checked_sub(1) else {
            return Ok(Some(from));
        };
        let words = self.words;
        let (last_word, last_bit) = (last / 64, 1u64 << (last % 64));
        let mut state = vec![0u64; words];
        let mut at = from;
        while at < limit {
            budget.spend(words)?;
            let (c, next) = decode_at(text, at);
            at = next;
            let mask: &[u64] = match usize::try_from(c) {
                Ok(ascii) if ascii < 128 => &self.ascii[ascii * words..][..words],
                _ => self.wide_mask(c),
            };
            let mut carry = 1u64;
            for (bits, &allowed) in state.iter_mut().zip(mask) {
                let before = *bits;
                *bits = ((before << 1) | carry) & allowed;
                carry = before >> 63;
            }
            if state[last_word] & last_bit != 0 {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }
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

/// Whether pattern character `p` matches text character `t`; LIKE folds ASCII only.
fn same_char(p: u32, t: u32, fold: bool) -> bool {
    p == t || (fold && p < 0x80 && t < 0x80 && fold_ascii(p) == fold_ascii(t))
}

/// Evaluates the class whose `[` precedes `at` against `c`, the way SQLite's
/// `patternCompare` does; `None` if the pattern ends first. Returns the match and the
/// index after the class.
fn class_member(pattern: &[u8], mut at: usize, c: u32) -> Option<(bool, usize)> {
    let read = |at: &mut usize| read_char(pattern, at).unwrap_or(0);
    let (mut seen, mut invert) = (false, false);
    let mut c2 = read(&mut at);
    if c2 == u32::from(b'^') {
        invert = true;
        c2 = read(&mut at);
    }
    if c2 == u32::from(b']') {
        seen = c == c2;
        c2 = read(&mut at);
    }
    let mut prior = 0;
    while c2 != 0 && c2 != u32::from(b']') {
        let next_byte = pattern.get(at).copied().unwrap_or(0);
        if c2 == u32::from(b'-') && next_byte != b']' && next_byte != 0 && prior > 0 {
            c2 = read(&mut at);
            seen |= (prior..=c2).contains(&c);
            prior = 0;
        } else {
            seen |= c == c2;
            prior = c2;
        }
        c2 = read(&mut at);
    }
    (c2 != 0).then_some((seen != invert, at))
}

/// Matches short input in place: pattern and text (both before their first NUL) read
/// character by character as SQLite reads them, backtracking only to the last star, which
/// suffices because the wildcards between stars have fixed width.
fn direct_match(pattern: &[u8], text: &[u8], dialect: Dialect, escape: Option<u32>) -> bool {
    let (all, one) = wildcards(dialect, escape);
    let fold = dialect == Dialect::Like;
    let (mut p, mut t) = (0, 0);
    // After the last star: where the pattern resumes, and where the star's match ends.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            let (c, after) = decode_at(pattern, p);
            if Some(c) == all {
                star = Some((after, t));
                p = after;
                continue;
            }
            if t < text.len() {
                let (tc, t_after) = decode_at(text, t);
                let step = if fold && Some(c) == escape {
                    if after >= pattern.len() {
                        // A lone escape at the end never matches.
                        return false;
                    }
                    let (literal, next) = decode_at(pattern, after);
                    (same_char(literal, tc, fold), next)
                } else if !fold && c == u32::from(b'[') {
                    match class_member(pattern, after, tc) {
                        Some(step) => step,
                        // An unterminated class never matches.
                        None => return false,
                    }
                } else {
                    (Some(c) == one || same_char(c, tc, fold), after)
                };
                if step.0 {
                    p = step.1;
                    t = t_after;
                    continue;
                }
            }
        } else if t == text.len() {
            return true;
        }
        match star {
            Some((resume, end)) if end < text.len() => {
                let end = decode_at(text, end).1;
                star = Some((resume, end));
                p = resume;
                t = end;
            }
            _ => return false,
        }
    }
}

/// `like(pattern, string)`, `like(pattern, string, escape)` and `glob(pattern, string)`:
/// 1 or 0, checked in SQLite's order (pattern length, escape, then NULLs).
fn pattern_match(
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rusqlite::params_from_iter;

    use super::*;

    /// A value to bind or compare, with text kept as bytes so invalid UTF-8 survives.
    #[derive(Debug, Clone, PartialEq)]
    enum Arg {
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
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<T: Clone>(&mut self, items: &[T]) -> T {
            items[self.below(items.len())].clone()
        }
    }

    /// Pieces of valid UTF-8: letters in both cases, every wildcard, class and escape
    /// character of LIKE and GLOB, multi-byte characters.
    const PIECES: &[&str] = &[
        "a", "b", "A", "B", "x", "%", "_", "*", "?", "[", "]", "^", "-", "\\", " ", "0", "9", "é",
        "É", "ß", "€", "😀", "\u{FFFD}", "\u{FFFF}", "ab", "aa",
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
    fn value(rng: &mut Rng, max: usize) -> Arg {
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
    fn pattern(rng: &mut Rng, subject: &Arg, glob: bool) -> Arg {
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

    /// Escape arguments: single characters (one of them a wildcard), and every way to get
    /// the error.
    fn escape(rng: &mut Rng) -> Arg {
        rng.pick(&[
            text("\\"),
            text("\\"),
            text("%"),
            text("_"),
            text("a"),
            text("é"),
            text(""),
            text("ab"),
            Arg::Null,
            Arg::Blob(b"\xC3".to_vec()),
            Arg::Blob(b"x\x00y".to_vec()),
            Arg::Int(1),
            Arg::Real(0.5),
        ])
    }

    fn compare(plain: &Connection, over: &Connection, sql: &str, args: &[Arg]) {
        let expected = call(plain, sql, args);
        let got = call(over, sql, args);
        assert_eq!(got, expected, "{sql} with {args:?}");
    }

    /// Hand-picked cases the generator may miss.
    fn fixed_cases() -> Vec<(&'static str, Vec<Arg>)> {
        let b = |bytes: &[u8]| Arg::Blob(bytes.to_vec());
        vec![
            ("SELECT instr(?1, ?2)", vec![text(""), text("")]),
            ("SELECT instr(?1, ?2)", vec![b(b""), b(b"\x00")]),
            ("SELECT instr(?1, ?2)", vec![b(b"\xC3\xA9a"), b(b"a")]),
            ("SELECT instr(?1, ?2)", vec![text("\u{e9}a"), b(b"a")]),
            (
                "SELECT instr(?1, ?2)",
                vec![b(b"\xC3\xA9"), text("\u{FFFD}")],
            ),
            ("SELECT instr(?1, ?2)", vec![b(b"a\x80b"), b(b"\x80")]),
            (
                "SELECT instr(?1, ?2)",
                vec![Arg::Text(b"a\x80b".to_vec()), b(b"b")],
            ),
            (
                "SELECT instr(?1, ?2)",
                vec![Arg::Text(b"\x80\x80b".to_vec()), text("b")],
            ),
            ("SELECT instr(?1, ?2)", vec![Arg::Real(1e20), text("e")]),
            ("SELECT instr(?1, ?2)", vec![Arg::Int(12300), Arg::Int(0)]),
            (
                "SELECT replace(?1, ?2, ?3)",
                vec![text("abc"), text(""), text("x")],
            ),
            (
                "SELECT replace(?1, ?2, ?3)",
                vec![text("abc"), text(""), Arg::Null],
            ),
            (
                "SELECT replace(?1, ?2, ?3)",
                vec![text("abc"), b(b"\x00b"), text("x")],
            ),
            (
                "SELECT replace(?1, ?2, ?3)",
                vec![text("aaaa"), text("aa"), text("b")],
            ),
            (
                "SELECT replace(?1, ?2, ?3)",
                vec![b(b"a\x00a"), b(b"\x00"), text("b")],
            ),
            (
                "SELECT replace(?1, ?2, ?3)",
                vec![Arg::Real(-0.0), text("0"), text("1")],
            ),
            (
                "SELECT replace(?1, ?2, ?3)",
                vec![text("xyz"), text("y"), Arg::Int(5)],
            ),
            ("SELECT ?2 LIKE ?1", vec![text("%"), text("")]),
            ("SELECT ?2 LIKE ?1", vec![text("%"), Arg::Null]),
            ("SELECT ?2 LIKE ?1", vec![text("_"), text("é")]),
            ("SELECT ?2 LIKE ?1", vec![text("É"), text("é")]),
            ("SELECT ?2 LIKE ?1", vec![text("A%"), text("ab")]),
            ("SELECT ?2 LIKE ?1", vec![text("%a%b%"), text("xaxbx")]),
            ("SELECT ?2 LIKE ?1", vec![b(b"a\x00zz"), text("a")]),
            ("SELECT ?2 LIKE ?1", vec![text("\u{FFFD}"), b(b"\xC3")]),
            (
                "SELECT ?2 LIKE ?1",
                vec![text("\u{e9}"), b(b"\xE0\x83\xA9")],
            ),
            ("SELECT ?2 LIKE ?1", vec![Arg::Real(1.0), text("1.0")]),
            (
                "SELECT ?2 LIKE ?1 ESCAPE ?3",
                vec![text("a\\%"), text("a%"), text("\\")],
            ),
            (
                "SELECT ?2 LIKE ?1 ESCAPE ?3",
                vec![text("a\\"), text("a"), text("\\")],
            ),
            (
                "SELECT ?2 LIKE ?1 ESCAPE ?3",
                vec![text("a%%"), text("a%"), text("%")],
            ),
            (
                "SELECT ?2 LIKE ?1 ESCAPE ?3",
                vec![text("a__"), text("a_"), text("_")],
            ),
            (
                "SELECT ?2 LIKE ?1 ESCAPE ?3",
                vec![text("x"), text("x"), text("ab")],
            ),
            (
                "SELECT ?2 LIKE ?1 ESCAPE ?3",
                vec![text("x"), text("x"), text("")],
            ),
            (
                "SELECT ?2 LIKE ?1 ESCAPE ?3",
                vec![text("x"), Arg::Null, text("ab")],
            ),
            (
                "SELECT ?2 LIKE ?1 ESCAPE ?3",
                vec![Arg::Null, text("x"), Arg::Null],
            ),
            (
                "SELECT ?2 NOT LIKE ?1 ESCAPE ?3",
                vec![text("%\\_"), text("a_"), text("\\")],
            ),
            ("SELECT ?2 GLOB ?1", vec![text("[]]"), text("]")]),
            ("SELECT ?2 GLOB ?1", vec![text("[^]]"), text("a")]),
            ("SELECT ?2 GLOB ?1", vec![text("[a-]"), text("-")]),
            ("SELECT ?2 GLOB ?1", vec![text("[]-a]"), text("-")]),
            ("SELECT ?2 GLOB ?1", vec![text("[]-a]"), text("Z")]),
            ("SELECT ?2 GLOB ?1", vec![text("[a-c-e]"), text("d")]),
            ("SELECT ?2 GLOB ?1", vec![text("[z-a]"), text("m")]),
            ("SELECT ?2 GLOB ?1", vec![text("[abc"), text("a")]),
            ("SELECT ?2 GLOB ?1", vec![text("*[abc"), text("a")]),
            ("SELECT ?2 GLOB ?1", vec![text("[^"), text("a")]),
            ("SELECT ?2 GLOB ?1", vec![text("*?"), text("")]),
            ("SELECT ?2 GLOB ?1", vec![text("a*?b"), text("axb")]),
            ("SELECT ?2 GLOB ?1", vec![text("[é-€]"), text("ü")]),
            ("SELECT ?2 GLOB ?1", vec![text("A"), text("a")]),
            ("SELECT trim(?1, ?2)", vec![text("xxaxx"), text("x")]),
            ("SELECT trim(?1, ?2)", vec![text("abc"), text("")]),
            ("SELECT trim(?1, ?2)", vec![text("abc"), Arg::Null]),
            ("SELECT trim(?1, ?2)", vec![Arg::Int(12300), Arg::Int(0)]),
            ("SELECT trim(?1, ?2)", vec![Arg::Real(1e20), text("1e+.0")]),
            (
                "SELECT ltrim(?1, ?2)",
                vec![b(b"\xC3\xA9\xA9x"), b(b"\xC3a\xA9")],
            ),
            (
                "SELECT ltrim(?1, ?2)",
                vec![b(b"\xC3\xA9\xA9x"), b(b"\xC3\xA9a\xA9")],
            ),
            (
                "SELECT rtrim(?1, ?2)",
                vec![b(b"x\xC3\xA9\xA9"), b(b"a\xA9\xC3\xA9\xA9")],
            ),
            (
                "SELECT rtrim(?1, ?2)",
                vec![b(b"x\xC3\xA9\xA9"), b(b"\xC3\xA9\xA9a\xA9")],
            ),
            (
                "SELECT rtrim(?1, ?2)",
                vec![b(b"x\xC3\x80\x80"), b(b"\xC3\x80\x80a\x80")],
            ),
            ("SELECT ltrim(?1, ?2)", vec![b(b"\xC3\xA9\xA9x"), text("é")]),
            ("SELECT rtrim(?1, ?2)", vec![b(b"x\xC3\xA9\xA9"), text("é")]),
            ("SELECT rtrim(?1, ?2)", vec![b(b"x\xA9"), text("aé")]),
            ("SELECT trim(?1, ?2)", vec![text("€a€xé€"), text("€é")]),
            ("SELECT trim(?1, ?2)", vec![b(b"\x00 a \x00"), text(" ")]),
            ("SELECT trim(?1)", vec![b(b"  \xFF  ")]),
            ("SELECT unhex(?1, ?2)", vec![text("ab cd"), text(" ")]),
            ("SELECT unhex(?1, ?2)", vec![text("a bcd"), text(" ")]),
            ("SELECT unhex(?1, ?2)", vec![text("abc"), text(" ")]),
            ("SELECT unhex(?1, ?2)", vec![text(""), text("")]),
            ("SELECT unhex(?1, ?2)", vec![b(b"ab\x00zz"), text("")]),
            ("SELECT unhex(?1, ?2)", vec![b(b"ab\xC3\xA9cd"), text("é")]),
            (
                "SELECT unhex(?1, ?2)",
                vec![b(b"ab\xC3cd"), text("\u{FFFD}")],
            ),
            ("SELECT unhex(?1, ?2)", vec![text("ab-cd"), b(b"\x00-")]),
            ("SELECT unhex(?1, ?2)", vec![Arg::Int(1234), Arg::Null]),
        ]
    }

    /// Every overridden function and arity, on generated and hand-picked input, gives the
    /// built-in's result or error; with low limits too, so that "pattern too complex" and
    /// "string or blob too big" come up.
    #[test]
    fn overrides_agree_with_the_builtins() {
        let normal: &[(Limit, i32)] = &[];
        let low = &[
            (Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 6),
            (Limit::SQLITE_LIMIT_LENGTH, 40),
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for (round, limits) in [normal, low].into_iter().enumerate() {
            let (plain, over, _clock) = pair(limits);
            if round == 0 {
                for (sql, args) in fixed_cases() {
                    compare(&plain, &over, sql, &args);
                }
            }
            let cases = if round == 0 { 4000 } else { 1000 };
            for _ in 0..cases {
                let subject = value(&mut rng, 8);
                let other = value(&mut rng, 4);
                let small = value(&mut rng, 3);
                let like = pattern(&mut rng, &subject, false);
                let glob = pattern(&mut rng, &subject, true);
                let found = match (&subject, rng.below(2)) {
                    (Arg::Text(t) | Arg::Blob(t), 0) if !t.is_empty() => {
                        let from = rng.below(t.len());
                        let to = from + rng.below(t.len() - from + 1);
                        Arg::Text(t[from..to].to_vec())
                    }
                    _ => other.clone(),
                };
                let esc = escape(&mut rng);
                // Long enough for the compiled matcher rather than `direct_match`.
                let long = lengthen(&subject);
                let long_like = pattern(&mut rng, &long, false);
                let long_glob = pattern(&mut rng, &long, true);
                let calls: [(&str, Vec<Arg>); 17] = [
                    ("SELECT instr(?1, ?2)", vec![subject.clone(), found.clone()]),
                    ("SELECT instr(?1, ?2)", vec![subject.clone(), other.clone()]),
                    (
                        "SELECT replace(?1, ?2, ?3)",
                        vec![subject.clone(), found.clone(), other.clone()],
                    ),
                    ("SELECT like(?1, ?2)", vec![like.clone(), subject.clone()]),
                    (
                        "SELECT ?2 LIKE ?1 ESCAPE ?3",
                        vec![like.clone(), subject.clone(), esc],
                    ),
                    ("SELECT ?2 GLOB ?1", vec![glob.clone(), subject.clone()]),
                    ("SELECT like(?1, ?2)", vec![long_like.clone(), long.clone()]),
                    (
                        "SELECT like(?1, ?2, ?3)",
                        vec![long_like, long.clone(), escape(&mut rng)],
                    ),
                    ("SELECT glob(?1, ?2)", vec![long_glob, long]),
                    ("SELECT ltrim(?1)", vec![subject.clone()]),
                    ("SELECT rtrim(?1)", vec![subject.clone()]),
                    ("SELECT trim(?1)", vec![subject.clone()]),
                    ("SELECT ltrim(?1, ?2)", vec![subject.clone(), small.clone()]),
                    ("SELECT rtrim(?1, ?2)", vec![subject.clone(), small.clone()]),
                    ("SELECT trim(?1, ?2)", vec![subject.clone(), found.clone()]),
                    (
                        "SELECT unhex(?1, ?2)",
                        vec![hexish(&mut rng), small.clone()],
                    ),
                    ("SELECT unhex(?1, ?2)", vec![subject.clone(), other.clone()]),
                ];
                for (sql, args) in &calls {
                    compare(&plain, &over, sql, args);
                }
            }
        }
    }

    /// `value` repeated to at least 100 bytes, if it holds bytes.
    fn lengthen(value: &Arg) -> Arg {
        match value {
            Arg::Text(t) if !t.is_empty() => Arg::Text(t.repeat(100usize.div_ceil(t.len()))),
            Arg::Blob(b) if !b.is_empty() => Arg::Blob(b.repeat(100usize.div_ceil(b.len()))),
            other => other.clone(),
        }
    }

    /// The two matchers agree with each other on every input, short or long; the SQL
    /// comparisons above tie both to the built-ins.
    #[test]
    fn direct_and_compiled_matchers_agree() {
        let clock = StatementClock::default();
        let mut budget = Budget::new(&clock);
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        for _ in 0..20_000 {
            let subject = match value(&mut rng, 10) {
                Arg::Text(t) | Arg::Blob(t) => t,
                _ => b"ab".to_vec(),
            };
            let glob = rng.below(2) == 0;
            let dialect = if glob { Dialect::Glob } else { Dialect::Like };
            let pattern = match pattern(&mut rng, &Arg::Text(subject.clone()), glob) {
                Arg::Text(t) | Arg::Blob(t) => t,
                _ => b"%".to_vec(),
            };
            let escape = (!glob && rng.below(2) == 0).then(|| {
                rng.pick(&[
                    u32::from(b'\\'),
                    u32::from(b'%'),
                    u32::from(b'_'),
                    0xE9,
                    0xFFFD,
                ])
            });
            let (pattern, subject) = (until_nul(&pattern), until_nul(&subject));
            let direct = direct_match(pattern, subject, dialect, escape);
            let compiled = Pattern::compile(pattern, dialect, escape, &mut budget).unwrap();
            let text = canonical(subject, !glob, &mut budget).unwrap();
            assert_eq!(
                compiled.matches(&text, &mut budget).unwrap(),
                direct,
                "{dialect:?} {:?} against {:?}, escape {escape:?}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(subject),
            );
        }
    }

    /// Shift-And places every middle segment where checking each position would.
    #[test]
    fn shift_and_finds_the_leftmost_match() {
        let clock = StatementClock::default();
        let mut budget = Budget::new(&clock);
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let mut searched = 0;
        for _ in 0..3000 {
            let subject = match lengthen(&value(&mut rng, 10)) {
                Arg::Text(t) | Arg::Blob(t) => t,
                _ => continue,
            };
            let glob = rng.below(2) == 0;
            let dialect = if glob { Dialect::Glob } else { Dialect::Like };
            let (Arg::Text(pattern) | Arg::Blob(pattern)) =
                pattern(&mut rng, &Arg::Text(subject.clone()), glob)
            else {
                continue;
            };
            let compiled =
                Pattern::compile(until_nul(&pattern), dialect, None, &mut budget).unwrap();
            let text = canonical(&subject, !glob, &mut budget).unwrap();
            let Some((_, middle)) = compiled.segments.split_first() else {
                continue;
            };
            for segment in middle.split_last().map_or(&[][..], |(_, m)| m) {
                let from = rng.below(text.len() / 4 + 1);
                let from = (from..text.len())
                    .find(|&i| !is_continuation(text[i]))
                    .unwrap_or(text.len());
                let naive = (from..=text.len())
                    .filter(|&i| i == text.len() || !is_continuation(text[i]))
                    .find_map(|i| {
                        compiled
                            .match_at(segment, &text, i, text.len(), &mut budget)
                            .unwrap()
                    });
                let fast = ShiftAnd::new(&compiled, segment)
                    .search(&text, from, text.len(), &mut budget)
                    .unwrap();
                assert_eq!(
                    fast,
                    naive,
                    "{:?} in {:?}",
                    String::from_utf8_lossy(&pattern),
                    String::from_utf8_lossy(&text)
                );
                searched += 1;
            }
        }
        assert!(searched > 1000, "only {searched} segments searched");
    }

    /// Mostly hex digit pairs, with separators and odd lengths now and then.
    fn hexish(rng: &mut Rng) -> Arg {
        let mut out = Vec::new();
        for _ in 0..rng.below(6) {
            match rng.below(6) {
                0 => out.extend_from_slice(rng.pick(RAW)),
                1 => out.extend_from_slice(rng.pick(PIECES).as_bytes()),
                2 => out.push(b'f'),
                _ => out.extend_from_slice(rng.pick(&[&b"0a"[..], b"FF", b"7c", b"e9"])),
            }
        }
        if rng.below(2) == 0 {
            Arg::Text(out)
        } else {
            Arg::Blob(out)
        }
    }

    /// The row count the bound test's statements would take without a deadline: far
    /// more than the test allows.
    const ROWS: usize = 1_000_000;

    /// Runs `sql` with a deadline 100 ms ahead and no progress handler except a backstop
    /// far beyond, and returns how long after the deadline it failed and with what.
    fn run_past_deadline(
        conn: &mut Connection,
        clock: &StatementClock,
        sql: &str,
        args: &[Arg],
    ) -> (Duration, Answer) {
        let started = Instant::now();
        // Only so that a broken override cannot hang the test suite.
        conn.progress_handler(
            10_000,
            Some(move || started.elapsed() > Duration::from_secs(20)),
        )
        .unwrap();
        let deadline = started + Duration::from_millis(100);
        clock.set(Some(deadline));
        let answer = call(conn, sql, args);
        let late = Instant::now().saturating_duration_since(deadline);
        clock.set(None);
        conn.progress_handler(0, None::<fn() -> bool>).unwrap();
        (late, answer)
    }

    /// Every override stops within a bound after the deadline whatever its input, and
    /// answers what the built-in answers when no deadline is set.
    #[test]
    fn overrides_stop_at_the_deadline() {
        let mib = 1 << 20;
        let a = |n: usize| Arg::Text(vec![b'a'; n]);
        let spaces = |n: usize| Arg::Text(vec![b' '; n]);
        let set = |n: usize| text(&format!("{}a", "b".repeat(n)));
        let pass = |n: usize| text(&format!("{} ", "z".repeat(n)));
        let star = |glob: bool, n: usize| {
            let mut p = String::from(if glob { "*" } else { "%" });
            for _ in 0..n {
                p.push_str(if glob { "[a]" } else { "a_" });
            }
            p.push_str(if glob { "[b]*" } else { "b%" });
            text(&p)
        };
        let wide_pass = text(
            &(0x100..0x3000u32)
                .filter_map(char::from_u32)
                .chain(['é'])
                .collect::<String>(),
        );
        let ranked = Arg::Blob(b"\xC3\xA9\xC3".to_vec());
        // Repeated calls on rows: the statement runs on only because each call is cut
        // short; `i` keeps SQLite from computing a constant call once.
        let rows = |call: &str| {
            format!(
                "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r \
                 WHERE i < {ROWS}) SELECT count(*) FROM r WHERE {call} IS NOT NULL"
            )
        };
        let suffix = "substr('', i)";
        let cases: Vec<(String, Vec<Arg>, Vec<Arg>)> = vec![
            (
                rows(&format!("instr(?1, ?2 || {suffix})")),
                vec![a(4 * mib), text(&format!("{}b", "a".repeat(1000)))],
                vec![a(64 << 10), text(&format!("{}b", "a".repeat(100)))],
            ),
            (
                rows(&format!("replace(?1, ?2 || {suffix}, 'b')")),
                vec![a(4 * mib), text("a")],
                vec![a(64 << 10), text("a")],
            ),
            (
                rows(&format!("?1 LIKE ?2 || {suffix}")),
                vec![a(4 * mib), text("%b%")],
                vec![a(64 << 10), text("%b%")],
            ),
            // A segment the memmem anchor cannot place; Shift-And takes ⌈8001 / 64⌉
            // words per character, too long for the deadline even in release builds.
            (
                "SELECT ?1 LIKE ?2".to_owned(),
                vec![a(4 * mib), star(false, 4000)],
                vec![a(4 << 10), star(false, 100)],
            ),
            (
                "SELECT ?1 LIKE ?2 ESCAPE '\\'".to_owned(),
                vec![a(4 * mib), star(false, 4000)],
                vec![a(4 << 10), star(false, 100)],
            ),
            (
                "SELECT ?1 GLOB ?2".to_owned(),
                vec![a(4 * mib), star(true, 8000)],
                vec![a(4 << 10), star(true, 100)],
            ),
            (
                rows(&format!("ltrim(?1 || {suffix}, ?2)")),
                vec![a(4 * mib), set(10_000)],
                vec![a(4 << 10), set(100)],
            ),
            (
                rows(&format!("rtrim(?1 || {suffix}, ?2)")),
                vec![a(4 * mib), set(10_000)],
                vec![a(4 << 10), set(100)],
            ),
            (
                rows(&format!("trim(?1 || {suffix}, ?2)")),
                vec![a(4 * mib), set(10_000)],
                vec![a(4 << 10), set(100)],
            ),
            (
                rows(&format!("trim(?1 || {suffix})")),
                vec![spaces(4 * mib)],
                vec![spaces(64 << 10)],
            ),
            (
                rows(&format!("ltrim(?1 || {suffix})")),
                vec![spaces(4 * mib)],
                vec![spaces(64 << 10)],
            ),
            (
                rows(&format!("rtrim(?1 || {suffix})")),
                vec![spaces(4 * mib)],
                vec![spaces(64 << 10)],
            ),
            (
                rows(&format!("unhex(?1 || {suffix}, ?2)")),
                vec![spaces(4 * mib), pass(10_000)],
                vec![spaces(4 << 10), pass(100)],
            ),
            // A pass set too large to sort, hashed instead.
            (
                rows(&format!("unhex(?1 || {suffix}, ?2)")),
                vec![text(&"é".repeat(2 * mib)), wide_pass.clone()],
                vec![text(&"é".repeat(100)), wide_pass],
            ),
            // Sets holding invalid UTF-8, where SQLite's set order decides what is stripped.
            (
                rows(&format!("ltrim(?1 || {suffix}, ?2)")),
                vec![Arg::Blob(b"\xC3\xA9".repeat(2 * mib)), ranked.clone()],
                vec![Arg::Blob(b"\xC3\xA9".repeat(100)), ranked.clone()],
            ),
            (
                rows(&format!("rtrim(?1 || {suffix}, ?2)")),
                vec![Arg::Blob(b"\xC3\xA9".repeat(2 * mib)), ranked.clone()],
                vec![Arg::Blob(b"\xC3\xA9".repeat(100)), ranked],
            ),
        ];
        let (plain, mut over, clock) = pair(&[]);
        for (sql, big, small) in &cases {
            let (late, answer) = run_past_deadline(&mut over, &clock, sql, big);
            assert_eq!(
                answer,
                Err((ffi::SQLITE_INTERRUPT, "interrupted".to_owned())),
                "{sql}"
            );
            assert!(
                late < Duration::from_secs(1),
                "{sql}: stopped {late:?} late"
            );
            let small_sql = sql.replace(&ROWS.to_string(), "2");
            compare(&plain, &over, &small_sql, small);
        }
    }

    /// Plugin schemas keep using the functions where SQLite demands deterministic,
    /// innocuous ones, and indexes built with the overrides check out.
    #[test]
    fn schemas_use_the_overrides() {
        let (_, over, _clock) = pair(&[]);
        over.execute_batch(
            "CREATE TABLE p__users (
                 name TEXT NOT NULL CHECK (name LIKE 'u%' AND name NOT GLOB '*[0-9]'),
                 tag TEXT GENERATED ALWAYS AS (trim(replace(name, '_', ' '))) STORED
             );
             CREATE INDEX p__users_b ON p__users (instr(name, 'b'));
             CREATE INDEX p__users_r ON p__users (replace(name, 'u', 'x'))
                 WHERE name LIKE '%e%';
             INSERT INTO p__users (name) VALUES ('u_bob'), ('ursula'), ('uwe_b_');",
        )
        .unwrap();
        let hits: i64 = over
            .query_row(
                "SELECT count(*) FROM p__users INDEXED BY p__users_b \
                 WHERE instr(name, 'b') = 3",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(hits, 1);
        let tag: String = over
            .query_row(
                "SELECT tag FROM p__users INDEXED BY p__users_r \
                 WHERE replace(name, 'u', 'x') = 'xwe_b_' AND name LIKE '%e%'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(tag, "uwe b");
        let check: String = over
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let refused = over.execute("INSERT INTO p__users (name) VALUES ('bob')", []);
        assert!(
            matches!(&refused, Err(rusqlite::Error::SqliteFailure(f, _))
                if f.extended_code == ffi::SQLITE_CONSTRAINT_CHECK),
            "{refused:?}"
        );
    }

    #[test]
    fn clock_expires_only_when_set_and_past() {
        let clock = StatementClock::default();
        assert!(!clock.expired());
        clock.set(Some(Instant::now() + Duration::from_secs(60)));
        assert!(!clock.expired());
        clock.set(Some(Instant::now()));
        assert!(clock.expired());
        let shared = clock.clone();
        shared.set(None);
        assert!(!clock.expired());
    }
}
