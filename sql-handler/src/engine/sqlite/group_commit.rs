//! Group commit: concurrent writes share the writer's transaction and its commit.
//!
//! SQLite has one writer, so writes take turns at it, and each turn's fixed costs (a hop
//! to the blocking pool and back, `BEGIN IMMEDIATE`, the commit's WAL write) dwarf a
//! one-row INSERT. Here every write joins a queue; whichever waiting write gets the writer
//! (the writer's [`FairSlots`](crate::engine::slots::FairSlots) decide, plugins taking
//! turns) runs a batch of the queue in one transaction, and every write of the batch is
//! answered once that transaction commits.
//!
//! Each write still stands alone:
//! - it runs in its own savepoint; a failed one is rolled back to it and answered with its
//!   error, the others go on;
//! - a failure that makes SQLite abandon the whole transaction (an interrupt, a full disk)
//!   is its write's answer, and the rest of the batch runs again without it;
//! - a write whose request was answered `TIMEOUT` before the commit never commits: the
//!   batch is rolled back and runs again without it (its [`Fate`]);
//! - no reply says success before the commit that makes it durable succeeded.
//!
//! A batch takes at most [`PER_PLUGIN`] writes of one plugin and [`MAX_BATCH`] in all, in
//! order of arrival, so a plugin that floods the queue cannot push another's writes back
//! by more than one batch.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use sql_core::Policy;
use tokio::sync::oneshot;

use super::claim::run_in_savepoint;
use super::pool::{Conn, ConnPool};
use super::{ANSWER_WITHIN, Fate, SchemaNames, errors, pool_error};
use crate::engine::{ExecError, Job, Outcome};

/// Writes in one batch at most.
const MAX_BATCH: usize = 64;
/// Writes of one plugin in one batch at most.
const PER_PLUGIN: usize = 16;

/// A write waiting for its batch.
struct Pending {
    job: Job,
    fate: Fate,
    answer: oneshot::Sender<Result<Outcome, ExecError>>,
}

/// The queue of writes waiting for the writer.
#[derive(Default)]
pub(crate) struct WriteQueue {
    pending: Mutex<VecDeque<Pending>>,
}

impl std::fmt::Debug for WriteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteQueue").finish_non_exhaustive()
    }
}

impl WriteQueue {
    /// Runs `job` in a batch on `writer` and answers by its deadline (plus
    /// [`ANSWER_WITHIN`]), unless it is committing then: a commit's outcome is told as it is.
    pub(crate) async fn write(
        &self,
        writer: &Arc<ConnPool>,
        job: Job,
        policy: &Arc<Policy>,
        schema: &Arc<SchemaNames>,
    ) -> Result<Outcome, ExecError> {
        let (deadline, timeout_ms) = (job.deadline, job.timeout_ms);
        let plugin = job.plugin.name().to_owned();
        let fate = Fate::default();
        let (answer, mut answered) = oneshot::channel();
        self.lock().push_back(Pending {
            job,
            fate: fate.clone(),
            answer,
        });
        let give_up = tokio::time::sleep_until((deadline + ANSWER_WITHIN).into());
        tokio::pin!(give_up);
        let mut leading = true;
        loop {
            tokio::select! {
                biased;
                result = &mut answered => return result.unwrap_or_else(|_| Err(lost())),
                // Until answered, this write tries to lead the next batch: the batch it led
                // may have left it for the next (PER_PLUGIN).
                acquired = writer.acquire(&plugin, deadline), if leading => match acquired {
                    Ok(conn) => self.run_batch(conn, policy, schema),
                    // The deadline passed first; unless a batch is committing it, the
                    // write is answered now and any batch drops it.
                    Err(e) => {
                        if fate.abandon() {
                            return Err(pool_error(e, timeout_ms));
                        }
                        leading = false;
                    }
                },
                () = &mut give_up => {
                    if fate.abandon() {
                        return Err(ExecError::Timeout { timeout_ms });
                    }
                    // Committing: its outcome comes.
                    return answered.await.unwrap_or_else(|_| Err(lost()));
                }
            }
        }
    }

    /// Takes a batch from the queue and runs it on `conn` in the blocking pool; with
    /// nothing left (an earlier batch took this write), gives the writer back at once.
    fn run_batch(
        &self,
        conn: super::pool::PooledConn,
        policy: &Arc<Policy>,
        schema: &Arc<SchemaNames>,
    ) {
        let batch = self.take_batch();
        if batch.is_empty() {
            return;
        }
        let policy = Arc::clone(policy);
        let schema = Arc::clone(schema);
        // Not awaited here: each write of the batch awaits its own answer, by its own
        // deadline. The writer goes back when the batch is done.
        drop(tokio::task::spawn_blocking(move || {
            let mut conn = conn;
            run(conn.get(), batch, &policy, &schema);
        }));
    }

    /// The next batch: writes in order of arrival, at most [`PER_PLUGIN`] per plugin and
    /// [`MAX_BATCH`] in all; writes already answered `TIMEOUT` are dropped.
    fn take_batch(&self) -> Vec<Pending> {
        let mut pending = self.lock();
        let mut batch = Vec::new();
        let mut per_plugin: HashMap<String, usize> = HashMap::new();
        let mut left = VecDeque::with_capacity(pending.len());
        while let Some(write) = pending.pop_front() {
            if write.fate.abandoned() {
                continue;
            }
            let taken = per_plugin
                .entry(write.job.plugin.name().to_owned())
                .or_default();
            if batch.len() < MAX_BATCH && *taken < PER_PLUGIN {
                *taken += 1;
                batch.push(write);
            } else {
                left.push_back(write);
            }
        }
        *pending = left;
        batch
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn lost() -> ExecError {
    ExecError::Internal("the write's batch ended without answering it".to_owned())
}

/// Runs `batch` in one transaction and answers each write; see the module documentation.
fn run(conn: &mut Conn, mut batch: Vec<Pending>, policy: &Arc<Policy>, schema: &SchemaNames) {
    while !batch.is_empty() {
        let begun = batch
            .iter()
            .map(|write| write.job.deadline)
            .min()
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
            .map_or(Ok(()), |wait| conn.conn.busy_timeout(wait))
            .and_then(|()| conn.conn.execute_batch("BEGIN IMMEDIATE"));
        if let Err(e) = begun {
            for write in batch {
                let error = errors::map(&e, write.job.timeout_ms);
                let _ = write.answer.send(Err(error));
            }
            return;
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut lost_transaction = None;
        for (index, write) in batch.iter().enumerate() {
            let result = run_in_savepoint(conn, &write.job, Arc::clone(policy), schema);
            let gone = conn.conn.is_autocommit();
            results.push(result);
            if gone {
                lost_transaction = Some(index);
                break;
            }
        }
        if let Some(index) = lost_transaction {
            // Its failure took the transaction, and the writes before it, with it.
            let write = batch.remove(index);
            let result = results
                .pop()
                .unwrap_or_else(|| Err(ExecError::Internal("no result".to_owned())));
            let _ = write.answer.send(result);
            continue;
        }
        // A write answered TIMEOUT must not commit; every other one now waits for it.
        let abandoned: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(i, result)| result.is_ok() && !batch[*i].fate.commit())
            .map(|(i, _)| i)
            .collect();
        if !abandoned.is_empty() {
            let _ = conn.conn.execute_batch("ROLLBACK");
            for index in abandoned.into_iter().rev() {
                drop(batch.remove(index));
            }
            continue;
        }
        let committed = conn.conn.execute_batch("COMMIT");
        for (write, result) in batch.into_iter().zip(results) {
            let answer = match (&committed, result) {
                (Ok(()), result) => result,
                (Err(e), _) => Err(errors::map(e, write.job.timeout_ms)),
            };
            let _ = write.answer.send(answer);
        }
        return;
    }
}
