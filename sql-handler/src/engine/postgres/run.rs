//! Running one plugin statement on PostgreSQL: inside a transaction under the plugin's
//! role, in one round trip, reading at most `max_rows + 1` rows, and cancelled on the
//! server when the deadline passes or the read is cut at its limit.

use std::future::Future;
use std::time::{Duration, Instant};

use deadpool_postgres::StatementCache;
use futures::future::maybe_done;
use futures::{FutureExt, TryStreamExt, pin_mut};
use sql_core::value::SqlValue;
use sql_core::wire::RowFormat;
use tokio_postgres::{CancelToken, Client};

use super::roles::quoted;
use super::tls::Tls;
use super::{errors, values};
use crate::engine::slots::SlotPermit;
use crate::engine::{ExecError, Job, StepOutcome};
use crate::rows::{BlobSource, Flow, RowSink};

/// How long a cancel request, and then the cancelled statement's end, may take before the
/// connection is given up; the two together stay within the protocol's 100 ms.
const CANCEL_WAIT: Duration = Duration::from_millis(40);

/// How much later than the deadline the server's statement timeout fires.
const STATEMENT_TIMEOUT_SLACK: Duration = Duration::from_millis(50);

/// What [`bounded`] saw.
pub(super) enum Bounded<T> {
    /// The work ended, by itself or cancelled.
    Finished(T),
    /// The work did not end after the cancel request: the connection is in an unknown
    /// state and must not be reused.
    Abandoned,
}

/// Runs `work` until `deadline`; past it, sends a cancel request for the connection's
/// running statement and gives the work [`CANCEL_WAIT`] to end.
///
/// The connection stays borrowed by `work` until it ends, so the cancel request can only
/// reach this request's statement, never the next user's of the pooled connection.
pub(super) async fn bounded<T>(
    work: impl Future<Output = Result<T, ExecError>>,
    deadline: Instant,
    cancel: (&CancelToken, &Tls),
    timeout_ms: u32,
) -> Bounded<Result<T, ExecError>> {
    pin_mut!(work);
    tokio::select! {
        biased;
        result = &mut work => return Bounded::Finished(result),
        () = tokio::time::sleep_until(deadline.into()) => {}
    }
    let (token, tls) = cancel;
    match tokio::time::timeout(CANCEL_WAIT, tls.cancel(token)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the cancel request failed"),
        Err(_) => tracing::warn!("the cancel request did not complete in time"),
    }
    match tokio::time::timeout(CANCEL_WAIT, &mut work).await {
        // It finished just as the deadline passed: the result stands.
        Ok(Ok(value)) => Bounded::Finished(Ok(value)),
        Ok(Err(_)) => Bounded::Finished(Err(ExecError::Timeout { timeout_ms })),
        Err(_) => Bounded::Abandoned,
    }
}

/// What one request may use on the server besides time: temporary disk space and memory
/// per sort or hash step (the `--postgres-temp-file-limit` and `--postgres-work-mem`
/// settings), so that one plugin's statement cannot fill the server's disk or memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestLimits {
    /// `temp_file_limit` in kB; `None` leaves the server's own setting.
    pub(crate) temp_file_limit_kb: Option<u64>,
    /// `work_mem` in kB.
    pub(crate) work_mem_kb: u64,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            temp_file_limit_kb: Some(256 * 1024),
            work_mem_kb: 4096,
        }
    }
}

impl RequestLimits {
    /// The `SET LOCAL` statements of the limits. They come before `SET LOCAL ROLE`:
    /// `temp_file_limit` may only be set by a superuser or a role granted `SET` on it,
    /// which the handler's role is and the plugin's role is not, so the plugin can never
    /// change it back.
    pub(super) fn settings(&self) -> String {
        let mut sql = String::new();
        if let Some(kb) = self.temp_file_limit_kb {
            sql.push_str(&format!("SET LOCAL temp_file_limit = '{kb}kB'; "));
        }
        sql.push_str(&format!("SET LOCAL work_mem = '{}kB'", self.work_mem_kb));
        sql
    }
}

/// Takes a connection whose statement did not end after the cancel request (PostgreSQL
/// checks for it only at certain points, and some built-in functions have none in their
/// loops) out of the pool, and closes it once the server is done with that statement.
/// Meanwhile its slot is detached if the bounds allow (`crate::engine::slots`), so the pool
/// opens a fresh connection in its place; else the slot stays held until then. Either
/// way the backends one plugin keeps busy past their answer are bounded.
pub(super) fn abandon(conn: deadpool_postgres::Object, slot: SlotPermit) {
    retire(conn, slot, None);
}

/// Takes a connection out of the pool as [`abandon`] does, first cancelling its running
/// statement when `cancel` is given: for a read cut at its limit while the server was
/// still sending rows. Nobody else uses the connection again, so the cancel can only
/// reach that statement.
pub(super) fn retire(
    conn: deadpool_postgres::Object,
    slot: SlotPermit,
    cancel: Option<(CancelToken, Tls)>,
) {
    let held = slot.detach();
    let client = deadpool_postgres::Object::take(conn);
    tokio::spawn(async move {
        if let Some((token, tls)) = cancel {
            let _ = tokio::time::timeout(CANCEL_WAIT, tls.cancel(&token)).await;
        }
        // Queued behind the runaway statement and its transaction's ROLLBACK: it answers
        // once the backend is free, or fails when the connection is gone.
        let _ = client.simple_query("SELECT 1").await;
        drop(client);
        drop(held);
        tracing::info!("a PostgreSQL statement that outlived its request has ended");
    });
}

/// The settings every request's statement runs under: its resource limits, its plugin's
/// role and a statement timeout at its deadline (so the server stops it even if the
/// handler cannot).
///
/// Sent as one simple-protocol batch: these are the handler's own fixed statements; the
/// numbers are the handler's, and the role name comes from a validated plugin name and is
/// quoted.
pub(super) fn request_settings(
    role: &str,
    job: &Job,
    limits: &RequestLimits,
) -> Result<String, ExecError> {
    let remaining = job.deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(ExecError::Timeout {
            timeout_ms: job.timeout_ms,
        });
    }
    // The cancel request of `bounded` stops the statement at the deadline; the server's
    // own timeout, a little later, is the backstop for a handler that died meanwhile.
    let ms = (remaining + STATEMENT_TIMEOUT_SLACK).as_millis();
    Ok(format!(
        "{}; SET LOCAL ROLE {}; SET LOCAL statement_timeout = {ms}",
        limits.settings(),
        quoted(role)
    ))
}

/// How [`statement`] ends the transaction its prelude opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// `COMMIT`, sent behind the last execution when nothing can fail after it.
    Commit,
    /// `ROLLBACK`, sent behind the last execution; its answer is not awaited.
    Rollback,
    /// The caller ends it (a claim's savepoint).
    Caller,
}

/// What [`statement`] returned.
pub(super) struct Ran {
    pub(super) rows: RowSink,
    /// Rows returned for reads; rows affected for writes.
    pub(super) row_count: u64,
    /// A read stopped reading at its limit while the server may still be sending rows: the
    /// connection must not serve another request (see [`retire`]).
    pub(super) unfinished: bool,
}

/// Sends `ROLLBACK` when dropped while the transaction it watches is open and its end was
/// not sent yet (an error or a timeout mid-request).
struct OpenTransaction<'a> {
    client: &'a Client,
    open: bool,
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // The first poll queues the message; its answer is not needed.
            let _ = self.client.batch_execute("ROLLBACK").now_or_never();
        }
    }
}

/// Runs the job's statements after `prelude` (see [`request_settings`]), and ends the
/// transaction as `end` says: the one statement of most requests in one round trip (see
/// [`statement`]); a transaction's statements one after the other, each read to its end,
/// then its end, or a `ROLLBACK` when one fails.
pub(super) async fn statements(
    client: &Client,
    cache: &StatementCache,
    job: &Job,
    prelude: &str,
    end: End,
) -> Result<(Ran, Vec<StepOutcome>), ExecError> {
    let first = Part {
        sql: &job.sql,
        executions: &job.executions,
        byte_budget: job.byte_budget,
        writes: job.writes,
        drain: job.writes || !job.then.is_empty(),
    };
    if job.then.is_empty() {
        let ran = statement(client, cache, job, first, Some(prelude), end).await?;
        return Ok((ran, Vec::new()));
    }
    // Rolls back on an error or a timeout, unless the caller owns the transaction.
    let mut transaction = OpenTransaction {
        client,
        open: end != End::Caller,
    };
    let ran = statement(client, cache, job, first, Some(prelude), End::Caller)
        .await
        .map_err(|e| job.at_statement(0, e))?;
    let mut budget = job.byte_budget.saturating_sub(ran.rows.reply_bytes());
    let mut then = Vec::with_capacity(job.then.len());
    for (i, step) in job.then.iter().enumerate() {
        let part = Part {
            sql: &step.sql,
            executions: std::slice::from_ref(&step.params),
            byte_budget: budget,
            writes: step.writes,
            drain: true,
        };
        let step_ran = statement(client, cache, job, part, None, End::Caller)
            .await
            .map_err(|e| job.at_statement(i + 1, e))?;
        budget = budget.saturating_sub(step_ran.rows.reply_bytes());
        then.push(StepOutcome {
            rows: step_ran.rows,
            row_count: step_ran.row_count,
        });
    }
    let end_message = match end {
        End::Commit => Some("COMMIT"),
        End::Rollback => Some("ROLLBACK"),
        End::Caller => None,
    };
    if let Some(message) = end_message {
        transaction.open = false;
        client
            .batch_execute(message)
            .await
            .map_err(|e| errors::map(&e, job.timeout_ms, job.plugin.table_prefix()))?;
    }
    Ok((ran, then))
}

/// One statement of a job for [`statement`]: its text, its parameter lists, its share of
/// the reply, and how its rows are read.
#[derive(Clone, Copy)]
struct Part<'a> {
    sql: &'a str,
    executions: &'a [Vec<SqlValue>],
    byte_budget: usize,
    /// Whether the policy classified it as a write: its row count is the rows affected.
    writes: bool,
    /// Whether every row is read even past the limit (a write, which must complete, or a
    /// statement of a transaction, whose connection goes on), rather than the read cut and
    /// the connection retired.
    drain: bool,
}

/// Runs one statement (once per parameter list) after `prelude`, and ends the
/// transaction as `end` says.
///
/// Everything is pipelined: the prelude's simple query, the first execution's Bind and
/// Execute, and (behind the last execution) the transaction's end go out together, and
/// PostgreSQL handles them in order, so the statement starts (and its permissions are
/// checked) under the plugin's role, and a request costs one round trip to the server
/// instead of one per step. A failed prelude leaves the transaction aborted: the
/// statement behind it fails and the `COMMIT` rolls back. `COMMIT` is only sent ahead
/// when the statement returns no rows to convert, since a conversion failure must still
/// be able to roll the write back.
///
/// A read takes no more rows than its limit: past it the result is cut, the function
/// returns at once, and [`Ran::unfinished`] says the server may still be sending.
async fn statement(
    client: &Client,
    cache: &StatementCache,
    job: &Job,
    part: Part<'_>,
    prelude: Option<&str>,
    end: End,
) -> Result<Ran, ExecError> {
    let prefix = job.plugin.table_prefix();
    let map = |e: tokio_postgres::Error| {
        if errors::is_stale_plan(&e) {
            // The table changed under the cached statement: prepare it afresh next time.
            cache.remove(part.sql, &[]);
        }
        errors::map(&e, job.timeout_ms, prefix)
    };
    let statement = cache.prepare(client, part.sql).await.map_err(map)?;
    let expected = part.executions.first().map_or(0, Vec::len);
    if statement.params().len() != expected {
        // The policy counted the placeholders; PostgreSQL sees others (never `$0`...).
        return Err(ExecError::Denied(
            crate::engine::Denial::Placeholder,
            prefix.to_owned(),
        ));
    }
    values::check_columns(statement.columns())?;
    let columns: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    if job.row_format == RowFormat::Objects
        && let Some(column) = crate::rows::first_duplicate(&columns)
    {
        return Err(ExecError::DuplicateColumn { column });
    }
    // A column's type says whether its values are blobs, whatever the rows.
    let blob_columns = values::blob_columns(statement.columns());
    let mut sink = RowSink::new(
        job.row_format,
        columns,
        job.max_rows,
        part.byte_budget,
        BlobSource::ByType(blob_columns),
    );
    let end_message = match end {
        End::Commit => Some("COMMIT"),
        End::Rollback => Some("ROLLBACK"),
        End::Caller => None,
    };
    // Sent ahead of the rows unless rows must be converted before a commit.
    let early_end = end == End::Rollback || (end == End::Commit && statement.columns().is_empty());
    let mut transaction = OpenTransaction {
        client,
        open: false,
    };
    let mut row_count = 0u64;
    let mut unfinished = false;
    let mut values = Vec::with_capacity(statement.columns().len());
    let last = part.executions.len().saturating_sub(1);
    for (index, params) in part.executions.iter().enumerate() {
        let in_batch = |e: ExecError| e.in_batch(index, part.executions.len());
        values::check_params(statement.params(), params).map_err(in_batch)?;
        let prelude = prelude
            .filter(|_| index == 0)
            .map(|prelude| client.batch_execute(prelude));
        if prelude.is_some() {
            transaction.open = end != End::Caller;
        }
        let query = client.query_raw(&statement, params.iter().map(values::Param));
        let ends_here = early_end && index == last;
        let mut ending = end_message
            .filter(|_| ends_here)
            .map(|message| Box::pin(maybe_done(client.batch_execute(message))));
        // Polled in this order, the three queue their messages in this order, and the
        // messages leave together.
        let (set, rows, ()) = tokio::join!(
            biased;
            async {
                match prelude {
                    Some(set) => set.await,
                    None => Ok(()),
                }
            },
            query,
            async {
                if let Some(ending) = ending.as_mut() {
                    // The first poll queues the message; its answer is awaited below.
                    let _ = futures::FutureExt::now_or_never(ending.as_mut());
                }
            },
        );
        if ending.is_some() {
            transaction.open = false;
        }
        // A failed prelude fails the statement behind it too; it is the cause to report.
        set.map_err(map)?;
        let rows = rows.map_err(|e| in_batch(map(e)))?;
        pin_mut!(rows);
        while let Some(row) = rows.try_next().await.map_err(|e| in_batch(map(e)))? {
            if sink.truncated().is_some() {
                // Only a write gets here: drain its RETURNING rows so it completes.
                continue;
            }
            values.clear();
            for i in 0..row.len() {
                values.push(values::column_to_json(&row, i)?);
            }
            let mut flow = sink.push(&values);
            if flow == Flow::Stop && crate::engine::chunk_full(job, &sink) {
                // A stream's chunk is full: it goes to the consumer, and waits for it to
                // take the one before; the row starts the next chunk.
                let full = sink.take_chunk();
                if let Some(chunks) = &job.chunks {
                    chunks
                        .send(full)
                        .await
                        .map_err(|_| crate::engine::stream_ended(job))?;
                }
                flow = sink.push(&values);
            }
            if flow == Flow::Stop && !part.drain {
                unfinished = true;
                break;
            }
        }
        if part.writes {
            row_count += rows.rows_affected().unwrap_or(0);
        }
        if unfinished {
            break;
        }
        if let Some(mut ending) = ending.filter(|_| end == End::Commit) {
            ending.as_mut().await;
            if let Some(Err(e)) = ending.as_mut().take_output() {
                return Err(map(e));
            }
        }
    }
    // The prelude went out with the first execution, if there was one.
    let begun = !part.executions.is_empty();
    if let Some(message) = end_message.filter(|_| begun && !early_end && !unfinished) {
        transaction.open = false;
        client.batch_execute(message).await.map_err(map)?;
    }
    if !part.writes {
        row_count = sink.len() as u64;
    }
    Ok(Ran {
        rows: sink,
        row_count,
        unfinished,
    })
}
