//! Log set-up for the binary: text for people or JSON lines for log collectors (the
//! shared [`JsonLines`] format, which the client's records use too).
//!
//! Lines are written by a thread of their own, in batches: a request's task only formats
//! its line and queues it, instead of making a `write` system call per audit record on
//! the request's path. The queue blocks when full rather than drop a line, and the
//! returned [`LogGuard`] writes out what is queued when dropped, so every record of a
//! request that was answered reaches the log unless the process is killed outright.

use std::io::{BufWriter, Stderr};

use sql_core::json_log::JsonLines;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::LogFormat;

/// Lines queued for the writer thread at most; past it, logging waits for the writer.
const QUEUED_LINES: usize = 65_536;

/// Keeps the log writer running; dropping it writes out every queued line and stops it.
///
/// # Examples
///
/// ```
/// // Kept to the end of the program, so that every line logged before is written out.
/// let _logs = sql_handler::logging::init(sql_handler::LogFormat::Text);
/// tracing::info!("started");
/// ```
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard {
    _worker: Option<WorkerGuard>,
}

/// Installs the global subscriber, writing to stderr. `RUST_LOG` overrides the default
/// level (`info`). Keep the returned guard until the program ends.
///
/// # Examples
///
/// ```
/// let guard = sql_handler::logging::init(sql_handler::LogFormat::Json);
/// tracing::info!(target: "sql.audit", plugin = "demo", "recorded as one JSON line");
/// drop(guard); // written out
/// ```
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, worker) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("sql-handler-log")
        .finish(BufWriter::<Stderr>::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal, not in a file or a log collector.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    // A second call (as in tests) finds a subscriber already set; keeping the first is right.
    let installed = match format {
        LogFormat::Json => builder.event_format(JsonLines::new()).try_init(),
        _ => builder.try_init(),
    };
    LogGuard {
        _worker: installed.is_ok().then_some(worker),
    }
}
