//! An idempotent write on PostgreSQL: the key's lookup, the plugin's statement and the
//! record of its reply in one transaction (PROTOCOL.md section 2, `Idempotency-Key`).
//!
//! The transaction borrows its pooled connection, so it lives in a task of its own that
//! the pipeline drives step by step over channels: claim, execute, finish. Dropping the
//! [`ClaimedWrite`] at any step rolls everything back.
//!
//! Concurrent duplicates (on this or another replica) queue on a transaction-level
//! advisory lock on the (plugin, key) pair, then find the first one's record.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sql_core::ErrorCode;
use tokio::sync::{mpsc, oneshot};

use super::errors;
use super::run::{
    Bounded, End, Ran, RequestLimits, abandon, bounded, request_settings, statements,
};
use super::tls::Tls;
use crate::engine::purge::unix_now;
use crate::engine::slots::SlotPermit;
use crate::engine::{Claim, Claimed, ExecError, Job, Outcome, Recorded, WriteSession};

/// The savepoint around the plugin's statement: a failed statement is undone while the
/// transaction stays open to record its reply.
const SAVEPOINT: &str = "sql_handler_request";

/// One step the pipeline asks of the claimed transaction.
enum Step {
    Execute(Job, oneshot::Sender<Result<Outcome, ExecError>>),
    Finish(Option<Recorded>, oneshot::Sender<Result<(), ExecError>>),
}

/// The open transaction of an idempotent write whose key was found unused.
#[derive(Debug)]
pub(crate) struct ClaimedWrite {
    steps: mpsc::Sender<Step>,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Execute(..) => "Execute",
            Self::Finish(..) => "Finish",
        })
    }
}

impl ClaimedWrite {
    /// Runs the plugin's statement in the claimed transaction; on failure its changes are
    /// undone and the transaction stays open for [`ClaimedWrite::finish`].
    pub(crate) async fn execute(&mut self, job: Job) -> Result<Outcome, ExecError> {
        let (reply, outcome) = oneshot::channel();
        self.steps
            .send(Step::Execute(job, reply))
            .await
            .map_err(|_| lost())?;
        outcome.await.map_err(|_| lost())?
    }

    /// Records `reply` and commits; without a reply, rolls everything back.
    pub(crate) async fn finish(self, reply: Option<Recorded>) -> Result<(), ExecError> {
        let record = reply.is_some();
        let (done, finished) = oneshot::channel();
        let sent = self.steps.send(Step::Finish(reply, done)).await;
        match (sent, record) {
            (Ok(()), _) => finished
                .await
                .unwrap_or_else(|_| if record { Err(lost()) } else { Ok(()) }),
            // The transaction is gone (the statement was abandoned): nothing was applied,
            // which is right when nothing was to be recorded.
            (Err(_), false) => Ok(()),
            (Err(_), true) => Err(lost()),
        }
    }
}

/// Opens the claim's transaction on `conn` and looks its key up.
pub(super) async fn claim(
    (conn, slot): (deadpool_postgres::Object, SlotPermit),
    claim: Claim,
    role: String,
    (tls, limits): (Tls, RequestLimits),
    retention: Duration,
    purge: bool,
) -> Result<Claimed, ExecError> {
    let (claimed, result) = oneshot::channel();
    let (steps, inbox) = mpsc::channel(1);
    let task = Task {
        claim,
        role,
        tls,
        limits,
        retention,
        purge,
    };
    // The transaction holds its plugin's slot until it ends, in the task.
    tokio::spawn(serve((conn, slot), task, claimed, steps, inbox));
    result.await.map_err(|_| lost())?
}

/// What the claim's task works with.
struct Task {
    claim: Claim,
    role: String,
    tls: Tls,
    limits: RequestLimits,
    retention: Duration,
    purge: bool,
}

/// The task owning the transaction.
async fn serve(
    (mut conn, slot): (deadpool_postgres::Object, SlotPermit),
    task: Task,
    claimed: oneshot::Sender<Result<Claimed, ExecError>>,
    steps: mpsc::Sender<Step>,
    mut inbox: mpsc::Receiver<Step>,
) {
    let Task {
        claim,
        role,
        tls,
        limits,
        retention,
        purge,
    } = task;
    let cancel = conn.cancel_token();
    let prefix = claim.plugin.table_prefix().to_owned();
    let timeout_ms = claim.timeout_ms;
    let map = |e: tokio_postgres::Error| errors::map(&e, timeout_ms, &prefix);
    let mut tx = match conn.transaction().await {
        Ok(tx) => tx,
        Err(e) => {
            let _ = claimed.send(Err(map(e)));
            return;
        }
    };
    let looked_up = bounded(
        lookup(&tx, &claim, retention, purge),
        claim.deadline,
        (&cancel, &tls),
        timeout_ms,
    )
    .await;
    match looked_up {
        Bounded::Finished(Ok(None)) => {}
        Bounded::Finished(Ok(Some(found))) => {
            let _ = claimed.send(Ok(found));
            return;
        }
        Bounded::Finished(Err(e)) => {
            let _ = claimed.send(Err(e));
            return;
        }
        Bounded::Abandoned => {
            drop(tx);
            abandon(conn, slot);
            let _ = claimed.send(Err(ExecError::Timeout { timeout_ms }));
            return;
        }
    }
    let session = ClaimedWrite { steps };
    if claimed
        .send(Ok(Claimed::Fresh(WriteSession::Postgres(session))))
        .is_err()
    {
        return;
    }
    // A request refused before it ran (no `allow_write`, bad parameters, the policy)
    // skips the statement and goes straight to recording its refusal.
    let mut step = inbox.recv().await;
    if let Some(Step::Execute(job, reply)) = step {
        let deadline = job.deadline;
        let job_timeout = job.timeout_ms;
        let ran = {
            let work = async {
                let savepoint = tx.savepoint(SAVEPOINT).await.map_err(map)?;
                let settings = request_settings(&role, &job, &limits)?;
                let started = Instant::now();
                let result = statements(
                    savepoint.client(),
                    &savepoint.statement_cache,
                    &job,
                    &settings,
                    End::Caller,
                )
                .await;
                let execution_time = started.elapsed();
                match result {
                    Ok((
                        Ran {
                            rows, row_count, ..
                        },
                        then,
                    )) => {
                        savepoint.commit().await.map_err(map)?;
                        Ok(Outcome {
                            rows,
                            row_count,
                            execution_time,
                            then,
                        })
                    }
                    Err(e) => {
                        savepoint.rollback().await.map_err(map)?;
                        Err(e)
                    }
                }
            };
            bounded(work, deadline, (&cancel, &tls), job_timeout).await
        };
        let result = match ran {
            Bounded::Finished(result) => result,
            Bounded::Abandoned => {
                drop(tx);
                abandon(conn, slot);
                let _ = reply.send(Err(ExecError::Timeout {
                    timeout_ms: job_timeout,
                }));
                return;
            }
        };
        if reply.send(result).is_err() {
            return;
        }
        step = inbox.recv().await;
    }
    let Some(Step::Finish(recorded, done)) = step else {
        return;
    };
    let Some(recorded) = recorded else {
        let _ = done.send(tx.rollback().await.map_err(map));
        return;
    };
    let outcome = recorded.outcome.map_or("OK", ErrorCode::as_str);
    let plugin = claim.plugin.name();
    let finished = async {
        // Back from the plugin's role to the handler's, which owns the records.
        tx.batch_execute("RESET ROLE").await?;
        tx.execute(
            "INSERT INTO _sql_handler_idempotency
                 (plugin, key, fingerprint, outcome, reply, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (plugin, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,
                 outcome = EXCLUDED.outcome, reply = EXCLUDED.reply,
                 created_at = EXCLUDED.created_at",
            &[
                &plugin,
                &claim.key,
                &claim.fingerprint,
                &outcome,
                &recorded.body,
                &unix_now(),
            ],
        )
        .await?;
        tx.commit().await
    }
    .await;
    let _ = done.send(finished.map_err(map));
}

/// Purges expired records when due, waits for the key's lock, and returns what a
/// repeat gets, or `None` for a first use.
async fn lookup(
    tx: &deadpool_postgres::Transaction<'_>,
    claim: &Claim,
    retention: Duration,
    purge: bool,
) -> Result<Option<Claimed>, ExecError> {
    let prefix = claim.plugin.table_prefix();
    let map = |e: tokio_postgres::Error| errors::map(&e, claim.timeout_ms, prefix);
    let remaining = claim.deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(ExecError::Timeout {
            timeout_ms: claim.timeout_ms,
        });
    }
    // Waiting for the lock of a concurrent duplicate is bounded by the request's deadline.
    tx.batch_execute(&format!(
        "SET LOCAL statement_timeout = {}",
        remaining.as_millis().max(1)
    ))
    .await
    .map_err(map)?;
    let now = unix_now();
    let not_before = now.saturating_sub(i64::try_from(retention.as_secs()).unwrap_or(i64::MAX));
    if purge {
        let purged = tx
            .execute(
                "DELETE FROM _sql_handler_idempotency WHERE created_at < $1",
                &[&not_before],
            )
            .await
            .map_err(map)?;
        if purged > 0 {
            tracing::debug!(purged, "deleted expired idempotency records");
        }
    }
    tx.query(
        "SELECT pg_advisory_xact_lock($1)",
        &[&lock_key(claim.plugin.name(), &claim.key)],
    )
    .await
    .map_err(map)?;
    let row = tx
        .query_opt(
            "SELECT fingerprint, reply, outcome FROM _sql_handler_idempotency
             WHERE plugin = $1 AND key = $2 AND created_at >= $3",
            &[&claim.plugin.name(), &claim.key, &not_before],
        )
        .await
        .map_err(map)?;
    Ok(row.map(|row| {
        if row.get::<_, &str>(0) == claim.fingerprint {
            Claimed::Replay(Recorded {
                body: row.get(1),
                outcome: row.get::<_, &str>(2).parse::<ErrorCode>().ok(),
            })
        } else {
            Claimed::Reused
        }
    }))
}

/// The advisory lock of a (plugin, key) pair: 64 bits of its SHA-256. A collision only
/// makes two unrelated writes wait for each other.
fn lock_key(plugin: &str, key: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(plugin.as_bytes())
        .chain_update([0u8])
        .chain_update(key.as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

fn lost() -> ExecError {
    ExecError::Internal("the claimed write's transaction was lost".to_owned())
}
