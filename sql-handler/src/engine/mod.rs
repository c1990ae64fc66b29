//! Database backends. Each runs one checked [`Job`] with engine-level enforcement of the
//! same rules the policy applied (PROTOCOL.md section 5), so a parser gap is not a hole.

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod purge;
pub(crate) mod slots;
pub(crate) mod sqlite;

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use sql_core::value::SqlValue;
use sql_core::wire::RowFormat;
use sql_core::{ErrorCode, Plugin, Policy};

use crate::rows::RowSink;

/// Failure to open the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// SQLite could not open or configure the file.
    #[error("cannot open SQLite database {path}")]
    Sqlite {
        /// The database file.
        path: std::path::PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The SQLite file's folder does not exist: the handler creates the file, not its
    /// folders.
    #[error(
        "cannot create SQLite database {}: its folder {} does not exist; create it first",
        path.display(),
        folder.display()
    )]
    SqliteFolder {
        /// The database file.
        path: std::path::PathBuf,
        /// Its missing folder.
        folder: std::path::PathBuf,
    },
    /// PostgreSQL could not be reached, or refused the handler's set-up.
    #[error("cannot use PostgreSQL database {target}: {message}")]
    Postgres {
        /// Host, port and database name, without user or password.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// A migration could not be applied.
    #[error(transparent)]
    Migration(#[from] crate::migrations::MigrationError),
}

/// One statement to run, already checked by the policy.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) plugin: Plugin,
    pub(crate) sql: String,
    /// Whether the policy classified the (first) statement as a write. With
    /// [`Job::writes_any`], it picks the writer connection; the engine confirms it with its
    /// own read-only check.
    pub(crate) writes: bool,
    /// One parameter list per execution: one for a plain request, several for `batch`.
    pub(crate) executions: Vec<Vec<SqlValue>>,
    pub(crate) allow_write: bool,
    pub(crate) deadline: Instant,
    pub(crate) timeout_ms: u32,
    pub(crate) max_rows: usize,
    pub(crate) row_format: RowFormat,
    /// Bytes of encoded rows the reply may hold, for all of the job's statements.
    pub(crate) byte_budget: usize,
    /// The statements after the first of a `transaction`, in order, run in the same
    /// database transaction as the first, all or nothing; empty for other requests.
    pub(crate) then: Vec<Step>,
    /// A `stream`'s chunks: each time the rows fill `byte_budget` they go here, and the
    /// statement waits while the consumer has a chunk it did not take (the channel holds
    /// one). The outcome's rows are the last chunk.
    pub(crate) chunks: Option<Chunks>,
}

/// Where a streamed read's full chunks go.
pub(crate) type Chunks = tokio::sync::mpsc::Sender<RowSink>;

/// The chunk the consumer took no more: the stream ended (its deadline, a cancel, the
/// client gone), so the statement stops.
pub(crate) fn stream_ended(job: &Job) -> ExecError {
    ExecError::Timeout {
        timeout_ms: job.timeout_ms,
    }
}

/// Whether a row that did not fit `sink` starts the stream's next chunk: the sink is full
/// of rows (a row alone larger than a chunk is cut like a reply's) and the job streams.
pub(crate) fn chunk_full(job: &Job, sink: &RowSink) -> bool {
    job.chunks.is_some()
        && sink.len() > 0
        && sink.truncated() == Some(sql_core::wire::TruncatedReason::MaxBytes)
}

/// A statement of a transaction after its first, checked by the policy.
#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) sql: String,
    pub(crate) params: Vec<SqlValue>,
    /// Whether the policy classified it as a write.
    pub(crate) writes: bool,
}

/// What a job produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) rows: RowSink,
    /// Rows returned for reads; rows affected for writes.
    pub(crate) row_count: u64,
    pub(crate) execution_time: Duration,
    /// The results of [`Job::then`], in order.
    pub(crate) then: Vec<StepOutcome>,
}

/// One statement's result.
#[derive(Debug)]
pub(crate) struct StepOutcome {
    pub(crate) rows: RowSink,
    /// Rows returned for reads; rows affected for writes.
    pub(crate) row_count: u64,
}

/// A write carrying an `Idempotency-Key`, to be looked up before it runs.
#[derive(Debug)]
pub(crate) struct Claim {
    pub(crate) plugin: Plugin,
    pub(crate) key: String,
    /// Tells a retry from another request under the same key.
    pub(crate) fingerprint: String,
    pub(crate) deadline: Instant,
    pub(crate) timeout_ms: u32,
}

/// A migration as a database records it, for `sql-handler migrate status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    pub(crate) plugin: String,
    pub(crate) version: u32,
    pub(crate) name: String,
    pub(crate) checksum: String,
}

/// A reply as recorded for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// The body exactly as first sent.
    pub(crate) body: Vec<u8>,
    /// `None` for success, else the error code.
    pub(crate) outcome: Option<ErrorCode>,
}

/// What the key's lookup found.
#[derive(Debug)]
pub(crate) enum Claimed {
    /// The same request was answered before: send this again.
    Replay(Recorded),
    /// The key was used for a different request.
    Reused,
    /// First use: run the write in this session, then record its reply.
    Fresh(WriteSession),
}

/// An open write transaction for an idempotent write, on the backend that opened it.
#[derive(Debug)]
pub(crate) enum WriteSession {
    // Boxed: the SQLite session carries its connection state; the PostgreSQL one is a
    // channel to the task that owns its transaction.
    Sqlite(Box<sqlite::ClaimedWrite>),
    #[cfg(feature = "postgres")]
    Postgres(postgres::ClaimedWrite),
}

impl WriteSession {
    /// Runs the job in the session; a failed statement's changes are undone.
    pub(crate) async fn execute(&mut self, job: Job) -> Result<Outcome, ExecError> {
        match self {
            Self::Sqlite(session) => session.execute(job).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(session) => session.execute(job).await,
        }
    }

    /// Commits the write with `reply` recorded, or rolls back when `reply` is `None`.
    pub(crate) async fn finish(self, reply: Option<Recorded>) -> Result<(), ExecError> {
        match self {
            Self::Sqlite(session) => session.finish(reply).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(session) => session.finish(reply).await,
        }
    }
}

/// A constraint that refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Constraint {
    Unique,
    ForeignKey,
    NotNull,
    Check,
}

impl Constraint {
    fn as_str(self) -> &'static str {
        match self {
            Self::Unique => "unique",
            Self::ForeignKey => "foreign_key",
            Self::NotNull => "not_null",
            Self::Check => "check",
        }
    }
}

/// What the engine-level guard refused, recorded when it denies so the reply can say
/// what and why instead of the engine's bare "not authorized".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denial {
    ForeignTable(String),
    SystemTable(String),
    Function(String),
    Action(&'static str),
    /// A parameter form other than `$1..$n`, which would silently bind NULL.
    Placeholder,
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExecError {
    #[error("the query ran past its timeout of {timeout_ms} ms and was cancelled")]
    Timeout { timeout_ms: u32 },
    #[error("{}", denial_message(.0, .1))]
    Denied(Denial, String),
    #[error("the statement writes; send it with allow_write: true")]
    PermissionDenied,
    #[error("two result columns are named '{column}'; give them distinct aliases")]
    DuplicateColumn { column: String },
    #[error("parameter ${index} cannot be bound: {reason}")]
    ParamType { index: usize, reason: String },
    #[error("{message}")]
    Execution {
        message: String,
        constraint: Option<Constraint>,
        transient: bool,
        /// Index of the failing `batch` entry.
        batch_index: Option<usize>,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// A statement of a `transaction` failed; the transaction was rolled back.
    #[error("statement {index} of the transaction: {error}")]
    InStatement { index: usize, error: Box<ExecError> },
}

fn denial_message(denial: &Denial, prefix: &str) -> String {
    match denial {
        Denial::ForeignTable(t) => {
            format!("table '{t}' is outside the plugin's tables (prefix '{prefix}')")
        }
        Denial::SystemTable(t) => format!("system table '{t}' is not accessible"),
        Denial::Function(f) => format!("function {f}() is not allowed"),
        Denial::Action(a) => format!("{a} is not allowed"),
        Denial::Placeholder => "only placeholders $1..$n are allowed".to_owned(),
    }
}

impl Job {
    /// A job as the engines' tests send it: `analytics-db`'s statement, a write unless it
    /// starts like a read, ten seconds to run.
    #[cfg(test)]
    pub(crate) fn for_test(sql: &str, params: Vec<SqlValue>) -> Self {
        let upper = sql.trim_start().to_ascii_uppercase();
        let writes = !["SELECT", "WITH", "VALUES"]
            .iter()
            .any(|k| upper.starts_with(k));
        Self {
            plugin: Plugin::new("analytics-db").unwrap_or_else(|e| unreachable!("{e}")),
            sql: sql.to_owned(),
            writes,
            executions: vec![params],
            allow_write: writes,
            deadline: Instant::now() + Duration::from_secs(10),
            timeout_ms: 10_000,
            max_rows: 1000,
            row_format: RowFormat::Objects,
            byte_budget: 1 << 20,
            then: Vec::new(),
            chunks: None,
        }
    }

    /// Whether any of the job's statements writes: it then runs on the writer, in a
    /// read-write transaction.
    pub(crate) fn writes_any(&self) -> bool {
        self.writes || self.then.iter().any(|step| step.writes)
    }

    /// Names the failing statement of a transaction; other jobs' errors stay as they are.
    pub(crate) fn at_statement(&self, index: usize, error: ExecError) -> ExecError {
        if self.then.is_empty() {
            error
        } else {
            ExecError::InStatement {
                index,
                error: Box::new(error),
            }
        }
    }
}

impl ExecError {
    /// An `EXECUTION_ERROR` outside a batch.
    pub(crate) fn execution(
        message: &str,
        constraint: Option<Constraint>,
        transient: bool,
    ) -> Self {
        Self::Execution {
            message: message.to_owned(),
            constraint,
            transient,
            batch_index: None,
        }
    }

    /// Names the failing entry of a `batch` of `batch_len` parameter lists.
    pub(crate) fn in_batch(self, index: usize, batch_len: usize) -> Self {
        match self {
            Self::Execution {
                message,
                constraint,
                transient,
                ..
            } if batch_len > 1 => Self::Execution {
                message,
                constraint,
                transient,
                batch_index: Some(index),
            },
            other => other,
        }
    }

    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            Self::Timeout { .. } => ErrorCode::Timeout,
            Self::Denied(Denial::ForeignTable(_), _) => ErrorCode::NamespaceViolation,
            Self::Denied(Denial::SystemTable(_), _) => ErrorCode::SystemTableAccess,
            Self::Denied(Denial::Function(_), _) => ErrorCode::ForbiddenFunction,
            Self::Denied(Denial::Action(_), _) => ErrorCode::ForbiddenStatement,
            Self::Denied(Denial::Placeholder, _) => ErrorCode::InvalidPlaceholder,
            Self::PermissionDenied => ErrorCode::PermissionDenied,
            Self::DuplicateColumn { .. } => ErrorCode::DuplicateColumn,
            Self::ParamType { .. } => ErrorCode::ParamTypeError,
            Self::Execution { .. } => ErrorCode::ExecutionError,
            Self::Internal(_) => ErrorCode::InternalError,
            Self::InStatement { error, .. } => error.code(),
        }
    }

    /// The error itself, without the statement it happened in.
    pub(crate) fn cause(&self) -> &Self {
        match self {
            Self::InStatement { error, .. } => error.cause(),
            other => other,
        }
    }

    pub(crate) fn details(&self) -> Map<String, Value> {
        let mut map = Map::new();
        match self {
            Self::Timeout { timeout_ms } => {
                map.insert("timeout_ms".into(), json!(timeout_ms));
            }
            Self::Denied(Denial::ForeignTable(t), prefix) => {
                map.insert("table".into(), json!(t));
                map.insert("expected_prefix".into(), json!(prefix));
            }
            Self::Denied(Denial::SystemTable(t), _) => {
                map.insert("table".into(), json!(t));
            }
            Self::Denied(Denial::Function(f), _) => {
                map.insert("function".into(), json!(f));
            }
            Self::Denied(Denial::Action(a), _) => {
                map.insert("statement_type".into(), json!(a));
            }
            Self::Denied(Denial::Placeholder, _) => {
                map.insert("placeholder".into(), json!("?"));
            }
            Self::PermissionDenied => {
                map.insert("permission".into(), json!("allow_write"));
            }
            Self::DuplicateColumn { column } => {
                map.insert("column".into(), json!(column));
            }
            Self::ParamType { index, reason } => {
                map.insert("index".into(), json!(index));
                map.insert("reason".into(), json!(reason));
            }
            Self::Execution {
                constraint,
                transient,
                batch_index,
                ..
            } => {
                if let Some(c) = constraint {
                    map.insert("constraint_type".into(), json!(c.as_str()));
                }
                if *transient {
                    map.insert("transient".into(), json!(true));
                }
                if let Some(i) = batch_index {
                    map.insert("batch_index".into(), json!(i));
                }
            }
            Self::Internal(_) => {}
            Self::InStatement { index, error } => {
                map = error.details();
                map.insert("statement_index".into(), json!(index));
            }
        }
        map
    }
}

/// The configured backend.
#[derive(Debug)]
pub(crate) enum Engine {
    Sqlite(sqlite::SqliteEngine),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgEngine),
}

impl Engine {
    pub(crate) async fn execute(&self, job: Job) -> Result<Outcome, ExecError> {
        match self {
            Self::Sqlite(engine) => engine.execute(job).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(engine) => engine.execute(job).await,
        }
    }

    /// Looks up an idempotent write's key and, on first use, opens its transaction.
    pub(crate) async fn claim(&self, claim: Claim) -> Result<Claimed, ExecError> {
        match self {
            Self::Sqlite(engine) => engine.claim(claim).await,
            #[cfg(feature = "postgres")]
            Self::Postgres(engine) => engine.claim(claim).await,
        }
    }

    pub(crate) fn policy(&self) -> &Policy {
        match self {
            Self::Sqlite(engine) => engine.policy(),
            #[cfg(feature = "postgres")]
            Self::Postgres(engine) => engine.policy(),
        }
    }

    pub(crate) fn dialect(&self) -> sql_core::Dialect {
        match self {
            Self::Sqlite(_) => sql_core::Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => sql_core::Dialect::Postgres,
        }
    }
}
