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
//!   (the differential tests in `tests::builtins` compare every override with the
//!   built-in);
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

mod char_set;
mod pattern;
mod search;
mod text;
mod trim;
mod unhex;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::limits::Limit;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ffi};

use self::pattern::{Dialect, pattern_match};
use self::search::{instr, replace};
use self::trim::{Side, trim};
use self::unhex::unhex_with_pass;

/// Units of work (about one byte examined each) between two readings of the clock. A unit
/// costs at most a few nanoseconds, so a call notices a passed deadline well within a
/// millisecond, and reading the clock (some 20 ns) costs nothing measurable.
const CHECK_EVERY: usize = 1 << 16;

/// Most bytes one memmem call scans, so that the clock is read between windows.
const SEARCH_WINDOW: usize = 1 << 20;

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
