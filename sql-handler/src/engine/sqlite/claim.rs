//! An idempotent write on SQLite: the key's lookup, the plugin's statement and the record
//! of its reply in one transaction on the writer connection (PROTOCOL.md section 2,
//! `Idempotency-Key`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sql_core::{ErrorCode, Policy};

use super::pool::Conn;
use super::pool::PooledConn;
use super::{Answer, Fate, SchemaNames, answer_by, errors, idempotency, run};
use crate::engine::purge::unix_now;
use crate::engine::{Claim, Claimed, ExecError, Job, Outcome, Recorded, WriteSession};

/// The savepoint around the plugin's statement: a failed statement is undone while the
/// transaction stays open to record its reply.
const SAVEPOINT: &str = "SAVEPOINT sql_handler_request";
const ROLLBACK_TO_SAVEPOINT: &str = "ROLLBACK TO sql_handler_request";
const RELEASE_SAVEPOINT: &str = "RELEASE sql_handler_request";

/// The writer connection, inside `BEGIN IMMEDIATE`, after the key was found unused.
#[derive(Debug)]
pub(crate) struct ClaimedWrite {
    /// `None` only after a blocking task holding it failed.
    conn: Option<PooledConn>,
    policy: Arc<Policy>,
    schema: Arc<SchemaNames>,
    plugin: String,
    key: String,
    fingerprint: String,
    timeout_ms: u32,
}

impl ClaimedWrite {
    pub(super) fn new(
        conn: PooledConn,
        policy: Arc<Policy>,
        schema: Arc<SchemaNames>,
        claim: &Claim,
    ) -> Self {
        Self {
            conn: Some(conn),
            policy,
            schema,
            plugin: claim.plugin.name().to_owned(),
            key: claim.key.clone(),
            fingerprint: claim.fingerprint.clone(),
            timeout_ms: claim.timeout_ms,
        }
    }

    /// Opens the transaction and looks the key up (blocking).
    pub(super) fn begin(
        mut self,
        claim: &Claim,
        retention: Duration,
        purge: bool,
    ) -> Result<Claimed, ExecError> {
        let timeout_ms = self.timeout_ms;
        let remaining = claim.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ExecError::Timeout { timeout_ms });
        }
        let Some(pooled) = self.conn.as_mut() else {
            return Err(lost());
        };
        let conn = pooled.conn();
        let internal = |e: rusqlite::Error| ExecError::Internal(e.to_string());
        conn.busy_timeout(remaining).map_err(internal)?;
        // Busy or locked by another process: transient, so the sender may retry.
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| errors::map(&e, timeout_ms))?;
        let now = unix_now();
        let not_before = now.saturating_sub(i64::try_from(retention.as_secs()).unwrap_or(i64::MAX));
        if purge {
            let purged = idempotency::purge(conn, not_before).map_err(internal)?;
            if purged > 0 {
                tracing::debug!(purged, "deleted expired idempotency records");
            }
        }
        // Dropping the session on the replay paths rolls the empty transaction back.
        Ok(
            match idempotency::lookup(conn, &self.plugin, &self.key, not_before)
                .map_err(internal)?
            {
                Some(stored) if stored.fingerprint == self.fingerprint => {
                    Claimed::Replay(Recorded {
                        body: stored.reply,
                        outcome: stored.outcome.parse::<ErrorCode>().ok(),
                    })
                }
                Some(_) => Claimed::Reused,
                None => Claimed::Fresh(WriteSession::Sqlite(Box::new(self))),
            },
        )
    }

    /// Runs the plugin's statement inside the claimed transaction. On failure its changes
    /// are undone; the transaction stays open for [`ClaimedWrite::finish`].
    pub(crate) async fn execute(&mut self, job: Job) -> Result<Outcome, ExecError> {
        let mut pooled = self.conn.take().ok_or_else(lost)?;
        let policy = Arc::clone(&self.policy);
        let schema = Arc::clone(&self.schema);
        let (deadline, timeout_ms) = (job.deadline, job.timeout_ms);
        let task = tokio::task::spawn_blocking(move || {
            let result = run_in_savepoint(pooled.get(), &job, policy, &schema);
            Ok((pooled, result))
        });
        // Nothing commits here (the record and the write commit in `finish`), so a stuck
        // statement can always be given up: its task rolls back when it ends.
        match answer_by(task, deadline, &Fate::default()).await {
            Answer::Finished(Ok((pooled, result))) => {
                self.conn = Some(pooled);
                result
            }
            Answer::Finished(Err(e)) => Err(e),
            Answer::Stuck => {
                tracing::warn!(
                    timeout_ms,
                    "an idempotent write ran past its deadline inside one SQLite step; \
                     answered TIMEOUT, and it rolls back at its next step"
                );
                Err(ExecError::Timeout { timeout_ms })
            }
        }
    }

    /// Records `reply` (when given) and commits; without a reply, rolls everything back.
    pub(crate) async fn finish(mut self, reply: Option<Recorded>) -> Result<(), ExecError> {
        let Some(reply) = reply else {
            // Dropping the connection rolls back the open transaction; a statement given up
            // in `execute` still holds it, and rolls back when it ends.
            return Ok(());
        };
        let mut pooled = self.conn.take().ok_or_else(lost)?;
        let timeout_ms = self.timeout_ms;
        tokio::task::spawn_blocking(move || {
            let conn = pooled.conn();
            if conn.is_autocommit() {
                // SQLite already rolled the transaction back (see `run_in_savepoint`):
                // nothing was applied, and the key's lock is gone, so record nothing.
                return Ok(());
            }
            let stored = idempotency::Stored {
                fingerprint: self.fingerprint,
                reply: reply.body,
                outcome: reply.outcome.map_or("OK", ErrorCode::as_str).to_owned(),
            };
            idempotency::record(conn, &self.plugin, &self.key, &stored, unix_now())
                .map_err(|e| ExecError::Internal(e.to_string()))?;
            conn.execute_batch("COMMIT")
                .map_err(|e| errors::map(&e, timeout_ms))
        })
        .await
        .map_err(|e| ExecError::Internal(format!("commit task failed: {e}")))?
    }
}

/// Runs `job` inside the open transaction, in a savepoint that undoes it on failure.
pub(super) fn run_in_savepoint(
    pooled: &mut Conn,
    job: &Job,
    policy: Arc<Policy>,
    schema: &SchemaNames,
) -> Result<Outcome, ExecError> {
    let internal = |e: rusqlite::Error| ExecError::Internal(e.to_string());
    // Prepared once per connection: a group commit runs these around every write.
    let step = |conn: &rusqlite::Connection, sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map(drop)
            .map_err(internal)
    };
    step(&pooled.conn, SAVEPOINT)?;
    let result = run(pooled, job, policy, schema);
    let conn = &pooled.conn;
    // An interrupt, a full disk or a busy database can make SQLite roll the whole
    // transaction back by itself; then there is no savepoint left to undo.
    if conn.is_autocommit() {
        return result;
    }
    if result.is_err() {
        step(conn, ROLLBACK_TO_SAVEPOINT)?;
    }
    step(conn, RELEASE_SAVEPOINT)?;
    result
}

fn lost() -> ExecError {
    ExecError::Internal("the claimed writer connection was lost".to_owned())
}
