//! The embedded SQLite backend: one writer connection and a pool of read-only readers on a
//! WAL database, so reads never wait for the writer.

mod claim;
mod errors;
mod functions;
mod group_commit;
mod guard;
mod idempotency;
mod inline;
mod migrate;
mod pool;
mod values;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sql_core::value::SqlValue;
use sql_core::wire::RowFormat;
use sql_core::{Plugin, Policy};

pub(crate) use claim::ClaimedWrite;
pub(crate) use guard::{Guard, GuardMode, GuardSlot};

use self::functions::StatementClock;
use self::group_commit::WriteQueue;
use self::inline::InlineReads;
use self::pool::{Conn, ConnPool, PoolError};
use crate::SqliteSynchronous;
use crate::engine::purge::{DEFAULT_RETENTION, PurgeSchedule};
use crate::engine::slots::FairSlots;
use crate::engine::{Claim, Claimed, ExecError, Job, OpenError, Outcome, StepOutcome};
use crate::migrations::Migration;
use crate::rows::{BlobSource, Flow, RowSink};

/// How often, in SQLite virtual-machine steps, a running statement checks its deadline.
/// About a few microseconds of work: a timed-out query stops well within 100 ms.
const DEADLINE_CHECK_STEPS: i32 = 1000;
/// How long past its deadline a statement may run before its request is answered anyway
/// (PROTOCOL.md section 6 allows 100 ms): only a statement stuck inside one SQLite step
/// gets there.
const ANSWER_WITHIN: Duration = Duration::from_millis(50);
/// Largest string or blob a statement may build, so that one function call cannot run
/// for seconds between deadline checks.
const MAX_VALUE_BYTES: i32 = 16 * 1024 * 1024;

/// Statements each connection keeps prepared, per plugin and text: the working set of a
/// handler's plugins, whose queries are fixed strings in their code.
const STATEMENT_CACHE: usize = 256;

/// The SQLite engine.
#[derive(Debug)]
pub(crate) struct SqliteEngine {
    writer: Arc<ConnPool>,
    readers: Arc<ConnPool>,
    policy: Arc<Policy>,
    schema: Arc<SchemaNames>,
    inline: InlineReads,
    writes: Arc<WriteQueue>,
    retention: Duration,
    purge: PurgeSchedule,
}

/// The names of the database's real tables and views and of its virtual-table modules
/// (`json_each`, `dbstat`, ...), lower-cased, reloaded when SQLite's schema cookie changes
/// (another process may migrate the same file). A name outside them is a CTE or a
/// subquery alias.
#[derive(Debug, Default)]
struct SchemaNames {
    current: Mutex<(i64, Arc<HashSet<String>>)>,
}

impl SchemaNames {
    /// The names, and the schema version they are of.
    fn get(&self, conn: &Connection) -> rusqlite::Result<(i64, Arc<HashSet<String>>)> {
        let version = schema_version(conn)?;
        self.at(conn, version).map(|names| (version, names))
    }

    /// The names at `version`, which `conn`'s open transaction sees.
    fn at(&self, conn: &Connection, version: i64) -> rusqlite::Result<Arc<HashSet<String>>> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 != version || current.1.is_empty() {
            let mut stmt = conn.prepare(
                "SELECT lower(name) FROM sqlite_schema WHERE type IN ('table', 'view') \
                 UNION SELECT lower(name) FROM pragma_module_list",
            )?;
            let names = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<HashSet<_>>>()?;
            *current = (version, Arc::new(names));
        }
        Ok(Arc::clone(&current.1))
    }
}

/// SQLite's schema cookie, which every schema change increments.
fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA schema_version")?
        .query_row([], |r| r.get(0))
}

/// Opens a read transaction on a reader and returns the schema version it sees.
///
/// The request's schema names, its in-place decision and its statement then all see one
/// snapshot, and SQLite takes its file locks (the database's shared lock and a WAL read
/// mark, each a `fcntl` call and a shared mutex) once per request instead of once per
/// statement. [`end_read`] must follow, whatever happened.
fn begin_read(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let version = schema_version(conn);
    if version.is_err() {
        end_read(conn);
    }
    version
}

/// Ends the read transaction of [`begin_read`], if it is still open (an interrupted
/// statement may have ended it already).
fn end_read(conn: &Connection) {
    if !conn.is_autocommit() {
        // A reader writes nothing, so nothing can fail to be kept; a failure here leaves
        // the transaction open, and the next `BEGIN` reports it.
        let _ = conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut rollback| rollback.execute([]));
    }
}

impl SqliteEngine {
    /// Opens (creating if needed) the database at `path`, syncing commits as
    /// `synchronous` says, applies `migrations`, and opens `readers` read-only connections.
    pub(crate) fn open(
        path: &Path,
        (readers, synchronous): (usize, SqliteSynchronous),
        policy: Arc<Policy>,
        migrations: &[Migration],
    ) -> Result<Self, OpenError> {
        let sqlite_err = |source| OpenError::Sqlite {
            path: path.to_owned(),
            source,
        };
        // SQLite's own word for this is "unable to open database file".
        if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty())
            && !folder.is_dir()
        {
            return Err(OpenError::SqliteFolder {
                path: path.to_owned(),
                folder: folder.to_owned(),
            });
        }
        let mut writer = open_conn(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_err)?;
        // WAL lets readers run beside the writer. In WAL mode FULL syncs the log at each
        // commit (one sync per group commit) and NORMAL only at checkpoints.
        writer
            .conn
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;",
                synchronous.pragma()
            ))
            .map_err(sqlite_err)?;
        let schema = Arc::new(SchemaNames::default());
        migrate::apply(&mut writer.conn, &policy, &schema, migrations)?;
        idempotency::create(&writer.conn).map_err(sqlite_err)?;
        // Migrations install their own guard and remove it; requests use the slot's.
        writer.guard.install(&mut writer.conn).map_err(sqlite_err)?;

        let readers = readers.max(1);
        let reader_path = path.to_owned();
        let open_reader = move || {
            open_conn(
                &reader_path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
        };
        let reader_conns = (0..readers)
            .map(|_| open_reader())
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sqlite_err)?;
        Ok(Self {
            // One writer: plugins take turns at it.
            writer: ConnPool::new(vec![writer], FairSlots::new(1, 0), None),
            readers: ConnPool::new(
                reader_conns,
                FairSlots::with_default_reserve(readers),
                Some(Box::new(open_reader)),
            ),
            policy,
            schema,
            inline: InlineReads::default(),
            writes: Arc::default(),
            retention: DEFAULT_RETENTION,
            purge: PurgeSchedule::default(),
        })
    }

    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Runs `job`, answering by its deadline (plus [`ANSWER_WITHIN`]) whatever the
    /// statement does: a write in the writer's next batch (`group_commit`); a read on a
    /// reader, in the blocking thread pool or in place when known to take short steps
    /// (`inline`).
    pub(crate) async fn execute(&self, job: Job) -> Result<Outcome, ExecError> {
        if job.writes_any() {
            return self
                .writes
                .write(&self.writer, job, &self.policy, &self.schema)
                .await;
        }
        let timeout_ms = job.timeout_ms;
        let deadline = job.deadline;
        let mut conn = self
            .readers
            .acquire(job.plugin.name(), deadline)
            .await
            .map_err(|e| pool_error(e, timeout_ms))?;
        let key = statement_key(&job);
        {
            let reader = conn.get();
            let version =
                begin_read(&reader.conn).map_err(|e| ExecError::Internal(e.to_string()))?;
            // A transaction's further statements were never judged for running in place.
            // A stream waits for its consumer: never on this thread.
            if job.then.is_empty() && job.chunks.is_none() && self.inline.allows(&key, version) {
                let stop = (Instant::now() + inline::BUDGET).min(deadline);
                let ran = run_observed(
                    reader,
                    &job,
                    &key,
                    stop,
                    Arc::clone(&self.policy),
                    (&self.schema, version),
                );
                end_read(&reader.conn);
                match ran.outcome {
                    // The budget, not the deadline, stopped it: run it again in the pool.
                    Err(ExecError::Timeout { .. })
                        if stop < deadline && Instant::now() < deadline => {}
                    outcome => return outcome,
                }
            } else {
                end_read(&reader.conn);
            }
        }
        let detacher = conn.detacher();
        let fate = Fate::default();
        let policy = Arc::clone(&self.policy);
        let schema = Arc::clone(&self.schema);
        let task = tokio::task::spawn_blocking(move || {
            let mut conn = conn;
            let reader = conn.get();
            let version =
                begin_read(&reader.conn).map_err(|e| ExecError::Internal(e.to_string()))?;
            let ran = run_observed(reader, &job, &key, deadline, policy, (&schema, version));
            end_read(&reader.conn);
            let bounded = (ran.outcome.is_ok() && job.then.is_empty()).then_some((
                key,
                ran.schema_version,
                ran.bounded_steps,
            ));
            ran.outcome.map(|outcome| (outcome, bounded))
        });
        let ran = answer_by(task, deadline, &fate).await;
        match ran {
            Answer::Finished(result) => result.map(|(outcome, bounded)| {
                if let Some((key, version, bounded_steps)) = bounded {
                    self.inline.record(&key, version, bounded_steps);
                }
                outcome
            }),
            Answer::Stuck => {
                // Its slot goes back to the readers if the bounds allow.
                let detached = detacher.detach();
                tracing::warn!(
                    timeout_ms,
                    detached,
                    "a statement ran past its deadline inside one SQLite step; answered \
                     TIMEOUT, and it stops at its next step"
                );
                Err(ExecError::Timeout { timeout_ms })
            }
        }
    }

    /// Takes the writer for an idempotent write: looks up `claim`'s key inside a write
    /// transaction, and either answers from the record or hands back the open
    /// transaction, in which the write and its record will commit together.
    ///
    /// Holding the single writer from the lookup to the commit is what makes a concurrent
    /// duplicate wait and then find the record instead of applying the write again; on a
    /// file shared by several handlers, `BEGIN IMMEDIATE` does the same across processes.
    pub(crate) async fn claim(&self, claim: Claim) -> Result<Claimed, ExecError> {
        let conn = self
            .writer
            .acquire(claim.plugin.name(), claim.deadline)
            .await
            .map_err(|e| pool_error(e, claim.timeout_ms))?;
        let purge = self.purge.due(Instant::now());
        let session = ClaimedWrite::new(
            conn,
            Arc::clone(&self.policy),
            Arc::clone(&self.schema),
            &claim,
        );
        let retention = self.retention;
        tokio::task::spawn_blocking(move || session.begin(&claim, retention, purge))
            .await
            .map_err(|e| ExecError::Internal(format!("claim task failed: {e}")))?
    }

    /// Sets how long idempotency records are kept (default one day).
    #[must_use]
    pub(crate) fn with_idempotency_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The reader connections, for tests that change them (`for_each_idle` needs them
    /// idle, as they are between requests).
    #[cfg(test)]
    pub(crate) fn readers(&self) -> &ConnPool {
        &self.readers
    }

    #[cfg(test)]
    pub(crate) async fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let far = Instant::now() + Duration::from_secs(30);
        let Ok(mut conn) = self.writer.acquire("(test)", far).await else {
            unreachable!("the writer is free in tests")
        };
        f(conn.conn())
    }
}

/// The migrations the database at `path` records as applied, without changing it: none
/// when the file or its table does not exist yet.
pub(crate) fn applied_migrations(path: &Path) -> Result<Vec<crate::engine::Applied>, OpenError> {
    let failed = |source| OpenError::Sqlite {
        path: path.to_owned(),
        source,
    };
    if !path.exists() {
        return Ok(Vec::new());
    }
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(failed)?;
    let exists: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sql_handler_migrations'",
            [],
            |row| row.get(0),
        )
        .map_err(failed)?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare("SELECT plugin, version, name, checksum FROM _sql_handler_migrations")
        .map_err(failed)?;
    let rows = stmt
        .query_map([], |row| {
            Ok(crate::engine::Applied {
                plugin: row.get(0)?,
                version: row.get(1)?,
                name: row.get(2)?,
                checksum: row.get(3)?,
            })
        })
        .map_err(failed)?;
    rows.collect::<Result<_, _>>().map_err(failed)
}

/// Opens and configures one connection, with the bounded built-in functions installed
/// (after the limits they read).
fn open_conn(path: &Path, flags: OpenFlags) -> rusqlite::Result<Conn> {
    let mut conn = Connection::open_with_flags(path, flags)?;
    configure(&conn)?;
    let clock = StatementClock::default();
    functions::install(&conn, &clock)?;
    let guard = GuardSlot::default();
    guard.install(&mut conn)?;
    Ok(Conn { conn, clock, guard })
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)?;
    conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, 256 * 1024)?;
    // `$1000` must bind; SQLite numbers named parameters densely, so 1000 suffices.
    conn.set_limit(
        Limit::SQLITE_LIMIT_VARIABLE_NUMBER,
        i32::try_from(sql_core::MAX_PLACEHOLDERS).unwrap_or(1000),
    )?;
    Ok(())
}

/// A connection could not be had: the deadline passed, or a replacement failed to open.
fn pool_error(e: PoolError, timeout_ms: u32) -> ExecError {
    match e {
        PoolError::Timeout => ExecError::Timeout { timeout_ms },
        PoolError::Open(e) => ExecError::Internal(format!("cannot open a connection: {e}")),
    }
}

/// What [`answer_by`] saw.
enum Answer<T> {
    /// The statement ended (or was stopped) in time, or was committing.
    Finished(T),
    /// It is still inside one step past the deadline; it was given up.
    Stuck,
}

/// Waits for `task` until `deadline` plus [`ANSWER_WITHIN`]; then gives it up, unless it
/// already began to commit, whose outcome must be told as it is.
async fn answer_by<T>(
    task: tokio::task::JoinHandle<Result<T, ExecError>>,
    deadline: Instant,
    fate: &Fate,
) -> Answer<Result<T, ExecError>> {
    let joined = |r: Result<Result<T, ExecError>, tokio::task::JoinError>| {
        r.map_err(|e| ExecError::Internal(format!("execution task failed: {e}")))
            .and_then(|result| result)
    };
    tokio::pin!(task);
    match tokio::time::timeout_at((deadline + ANSWER_WITHIN).into(), &mut task).await {
        Ok(result) => Answer::Finished(joined(result)),
        Err(_) if fate.abandon() => Answer::Stuck,
        // A commit takes one sync: waiting for it keeps the reply true.
        Err(_) => Answer::Finished(joined(task.await)),
    }
}

/// Whether a request's write may still commit: whichever of the two
/// sides decides first wins, so a request answered `TIMEOUT` never commits afterwards
/// and one that committed is never answered `TIMEOUT`.
#[derive(Debug, Clone, Default)]
struct Fate(Arc<AtomicU8>);

impl Fate {
    const RUNNING: u8 = 0;
    const ABANDONED: u8 = 1;
    const COMMITTING: u8 = 2;

    /// Whether `other` is this same fate (of the same request).
    fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Whether the waiting side gave up.
    fn abandoned(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::ABANDONED
    }

    /// The waiting side gives up; false when the statement is already committing.
    fn abandon(&self) -> bool {
        self.decide(Self::ABANDONED)
    }

    /// The running side is about to commit; false when it was given up.
    fn commit(&self) -> bool {
        self.decide(Self::COMMITTING)
    }

    fn decide(&self, to: u8) -> bool {
        match self
            .0
            .compare_exchange(Self::RUNNING, to, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(current) => current == to,
        }
    }
}

/// The cache key of a job's statement: its plugin and its text (see `run_guarded`).
fn statement_key(job: &Job) -> String {
    key_of(&job.plugin, &job.sql)
}

fn key_of(plugin: &Plugin, sql: &str) -> String {
    // The plugin's name in a leading comment keeps a statement prepared under one
    // plugin's guard from ever serving another plugin. Plugin names cannot contain `*/`.
    format!("/* {} */ {sql}", plugin.name())
}

/// What running a statement showed besides its outcome.
struct Ran {
    outcome: Result<Outcome, ExecError>,
    /// The schema version the statement ran against.
    schema_version: i64,
    /// Whether every function its preparation authorized is step-bounded (`inline`).
    bounded_steps: bool,
}

/// Runs `job` with the request's guard: a read on its own, a write inside the caller's
/// open transaction (`group_commit`, `claim`).
fn run(
    pooled: &mut Conn,
    job: &Job,
    policy: Arc<Policy>,
    schema: &SchemaNames,
) -> Result<Outcome, ExecError> {
    let key = statement_key(job);
    let version = match schema_version(&pooled.conn) {
        Ok(version) => version,
        Err(e) => return Err(ExecError::Internal(e.to_string())),
    };
    run_observed(pooled, job, &key, job.deadline, policy, (schema, version)).outcome
}

/// [`run`], stopping the statement at `stop` (its deadline, or an earlier budget), and
/// saying what the guard saw; `schema` is the names and the version that the
/// connection's open transaction sees.
fn run_observed(
    pooled: &mut Conn,
    job: &Job,
    key: &str,
    stop: Instant,
    policy: Arc<Policy>,
    schema: (&SchemaNames, i64),
) -> Ran {
    let Conn { conn, clock, guard } = pooled;
    let failed = |outcome| Ran {
        outcome,
        schema_version: 0,
        bounded_steps: false,
    };
    let remaining = job.deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return failed(Err(ExecError::Timeout {
            timeout_ms: job.timeout_ms,
        }));
    }
    let internal = |e: rusqlite::Error| ExecError::Internal(e.to_string());
    if let Err(e) = conn.busy_timeout(remaining) {
        return failed(Err(internal(e)));
    }
    if let Err(e) =
        conn.progress_handler(DEADLINE_CHECK_STEPS, Some(move || Instant::now() >= stop))
    {
        return failed(Err(internal(e)));
    }
    // Between steps the progress handler stops the statement; inside the long-running
    // built-ins, their clock does.
    clock.set(Some(stop));

    let (names, schema_version) = schema;
    let names = match names.at(conn, schema_version) {
        Ok(names) => names,
        Err(e) => return failed(Err(internal(e))),
    };
    let request_guard = Guard::new(job.plugin.clone(), policy, GuardMode::Request, names);
    let started = Instant::now();
    let result = run_guarded(conn, job, key, guard, &request_guard);
    let execution_time = started.elapsed();

    // Leave the connection clean for the next request whatever happened.
    guard.set(None);
    let _ = conn.progress_handler(0, None::<fn() -> bool>);
    clock.set(None);
    Ran {
        outcome: result.map(|(first, then)| Outcome {
            rows: first.rows,
            row_count: first.row_count,
            execution_time,
            then,
        }),
        schema_version,
        bounded_steps: !request_guard.saw_unbounded_call(),
    }
}

/// Runs the job's statement, then each of a transaction's further statements, in the
/// connection's open transaction (the caller's: a read transaction, or the writer's
/// savepoint), sharing the reply's byte budget.
fn run_guarded(
    conn: &mut Connection,
    job: &Job,
    key: &str,
    slot: &GuardSlot,
    guard: &Guard,
) -> Result<(StepOutcome, Vec<StepOutcome>), ExecError> {
    let first = run_statement(
        conn,
        job,
        key,
        &job.executions,
        job.byte_budget,
        slot,
        guard,
    )
    .map_err(|e| job.at_statement(0, e))?;
    let mut budget = job.byte_budget.saturating_sub(first.rows.reply_bytes());
    let mut then = Vec::with_capacity(job.then.len());
    for (i, step) in job.then.iter().enumerate() {
        let key = key_of(&job.plugin, &step.sql);
        let executions = std::slice::from_ref(&step.params);
        let outcome = run_statement(conn, job, &key, executions, budget, slot, guard)
            .map_err(|e| job.at_statement(i + 1, e))?;
        budget = budget.saturating_sub(outcome.rows.reply_bytes());
        then.push(outcome);
    }
    Ok((first, then))
}

/// Runs the statement cached under `key` once per parameter list of `executions`.
fn run_statement(
    conn: &mut Connection,
    job: &Job,
    key: &str,
    executions: &[Vec<SqlValue>],
    byte_budget: usize,
    slot: &GuardSlot,
    guard: &Guard,
) -> Result<StepOutcome, ExecError> {
    let map = |e: &rusqlite::Error| match guard.denial() {
        Some(denial) => ExecError::Denied(denial, guard.plugin().table_prefix().to_owned()),
        None => errors::map(e, job.timeout_ms),
    };
    slot.set(Some(guard.clone()));
    // Cached by plugin and text (`statement_key`).
    let mut stmt = conn.prepare_cached(key).map_err(|e| map(&e))?;
    if !stmt.readonly() && !job.allow_write {
        return Err(ExecError::PermissionDenied);
    }
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    if job.row_format == RowFormat::Objects
        && let Some(column) = crate::rows::first_duplicate(&columns)
    {
        return Err(ExecError::DuplicateColumn { column });
    }
    let writes = !stmt.readonly();
    // Each SQLite value has its own storage class, so a column may mix blobs and text.
    let mut sink = RowSink::new(
        job.row_format,
        columns,
        job.max_rows,
        byte_budget,
        BlobSource::ByValue,
    );
    let mut row_count = 0u64;
    let column_count = stmt.column_count();
    let mut spare: Vec<values::Cell<'_>> = Vec::with_capacity(column_count);
    let mut is_blob = Vec::with_capacity(column_count);
    for (index, params) in executions.iter().enumerate() {
        let in_batch = |e: ExecError| e.in_batch(index, executions.len());
        values::bind(&mut stmt, params, guard.plugin().table_prefix()).map_err(in_batch)?;
        let mut rows = stmt.raw_query();
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) => return Err(in_batch(map(&e))),
            };
            if sink.truncated().is_some() {
                // A write's RETURNING rows are already computed; stepping on only lets the
                // statement finish so the change count is right. A read stops here.
                if writes {
                    continue;
                }
                break;
            }
            let mut values = values::recycle(std::mem::take(&mut spare));
            is_blob.clear();
            for i in 0..column_count {
                let value = row
                    .get_ref(i)
                    .map_err(|e| ExecError::Internal(e.to_string()))?;
                is_blob.push(matches!(value, ValueRef::Blob(_)));
                values.push(values::Cell::from(value));
            }
            let mut flow = sink.push_stored(&values, &is_blob);
            if flow == Flow::Stop && crate::engine::chunk_full(job, &sink) {
                // A stream's chunk is full: it goes to the consumer, and waits for it to
                // take the one before; the row starts the next chunk.
                let full = sink.take_chunk();
                if let Some(chunks) = &job.chunks {
                    chunks
                        .blocking_send(full)
                        .map_err(|_| crate::engine::stream_ended(job))?;
                }
                flow = sink.push_stored(&values, &is_blob);
            }
            spare = values::recycle(values);
            if flow == Flow::Stop && !writes {
                break;
            }
        }
        drop(rows);
        if writes {
            row_count += conn.changes();
        }
    }
    drop(stmt);
    if !writes {
        row_count = sink.len() as u64;
    }
    Ok(StepOutcome {
        rows: sink,
        row_count,
    })
}

/// Decodes column values for tests.
#[cfg(test)]
pub(crate) fn rows_as_json(sink: RowSink) -> serde_json::Value {
    let text = format!("[{}]", String::from_utf8_lossy(&sink.finish().rows));
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}
