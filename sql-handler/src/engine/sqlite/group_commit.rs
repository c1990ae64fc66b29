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
//! Fairness stays the writer's: a batch begins with the write of the plugin whose turn it
//! is, then takes the queue's plugins in turn (in order of arrival within each, at most
//! [`MAX_BATCH`] in all, shared among the plugins waiting and at least [`PER_PLUGIN`] each), and starts no further write once it has
//! run for [`BATCH_BUDGET`]: the rest go back to the front of the queue. A plugin whose
//! writes are slow gets one of them into a batch, as it got one turn before.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sql_core::Policy;
use tokio::sync::oneshot;

use super::claim::run_in_savepoint;
use super::pool::{Conn, ConnPool};
use super::{ANSWER_WITHIN, Fate, SchemaNames, errors, pool_error};
use crate::engine::{ExecError, Job, Outcome};

/// Writes in one batch at most.
const MAX_BATCH: usize = 64;
/// Writes of one plugin in one batch at most while other plugins' writes wait too: the
/// batch is shared among the waiting plugins, so a plugin alone in the queue may fill it.
const PER_PLUGIN: usize = 16;
/// How long a batch runs before it starts no further write: a few dozen one-row writes.
const BATCH_BUDGET: Duration = Duration::from_millis(2);

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
        self: &Arc<Self>,
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
                    Ok(conn) => self.run_batch(conn, &fate, policy, schema),
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
        self: &Arc<Self>,
        conn: super::pool::PooledConn,
        leader: &Fate,
        policy: &Arc<Policy>,
        schema: &Arc<SchemaNames>,
    ) {
        let batch = self.take_batch(leader);
        if batch.is_empty() {
            return;
        }
        let policy = Arc::clone(policy);
        let schema = Arc::clone(schema);
        let queue = Arc::clone(self);
        // Not awaited here: each write of the batch awaits its own answer, by its own
        // deadline. The writer goes back when the batch is done.
        drop(tokio::task::spawn_blocking(move || {
            let mut conn = conn;
            let left = run(conn.get(), batch, &policy, &schema);
            queue.put_back(left);
        }));
    }

    /// The next batch: `leader`'s write first, then the plugins in turn, each in order of
    /// arrival, at most [`MAX_BATCH`] in all, shared among the plugins waiting; writes already
    /// answered `TIMEOUT` are dropped.
    fn take_batch(&self, leader: &Fate) -> Vec<Pending> {
        let mut pending = self.lock();
        let mut batch = Vec::new();
        let mut by_plugin: Vec<(String, VecDeque<Pending>)> = Vec::new();
        let mut left = VecDeque::new();
        while let Some(write) = pending.pop_front() {
            if write.fate.abandoned() {
                continue;
            }
            if write.fate.same(leader) {
                batch.push(write);
                continue;
            }
            let plugin = write.job.plugin.name();
            match by_plugin.iter_mut().find(|(name, _)| name == plugin) {
                Some((_, writes)) if writes.len() < MAX_BATCH => writes.push_back(write),
                Some(_) => left.push_back(write),
                None => by_plugin.push((plugin.to_owned(), VecDeque::from([write]))),
            }
        }
        // Round-robin over the plugins; what does not fit waits, in order, for the next.
        // The batch is shared among the plugins waiting, each taking at least PER_PLUGIN.
        let share = PER_PLUGIN.max(MAX_BATCH / by_plugin.len().max(1));
        let mut taken: HashMap<String, usize> = HashMap::new();
        if let Some(first) = batch.first() {
            taken.insert(first.job.plugin.name().to_owned(), 1);
        }
        let mut rest = VecDeque::new();
        loop {
            let mut any = false;
            for (plugin, writes) in &mut by_plugin {
                let count = taken.entry(plugin.clone()).or_default();
                if let Some(write) = writes.pop_front() {
                    any = true;
                    if batch.len() < MAX_BATCH && *count < share {
                        *count += 1;
                        batch.push(write);
                    } else {
                        rest.push_back(write);
                    }
                }
            }
            if !any {
                break;
            }
        }
        rest.extend(left);
        *pending = rest;
        batch
    }

    /// Puts writes a batch did not start back at the front of the queue, in order.
    fn put_back(&self, writes: Vec<Pending>) {
        let mut pending = self.lock();
        for write in writes.into_iter().rev() {
            pending.push_front(write);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn lost() -> ExecError {
    ExecError::Internal("the write's batch ended without answering it".to_owned())
}

/// Runs `batch` in one transaction and answers each write; see the module documentation.
/// Returns the writes it did not start within [`BATCH_BUDGET`].
fn run(
    conn: &mut Conn,
    mut batch: Vec<Pending>,
    policy: &Arc<Policy>,
    schema: &SchemaNames,
) -> Vec<Pending> {
    let started = Instant::now();
    let mut left = Vec::new();
    let mut first_pass = true;
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
            return left;
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut lost_transaction = None;
        for (index, write) in batch.iter().enumerate() {
            // Runs again after a rollback repeat exactly the writes of the first.
            if first_pass && index > 0 && started.elapsed() >= BATCH_BUDGET {
                left = batch.split_off(index);
                break;
            }
            let result = run_in_savepoint(conn, &write.job, Arc::clone(policy), schema);
            let gone = conn.conn.is_autocommit();
            results.push(result);
            if gone {
                lost_transaction = Some(index);
                break;
            }
        }
        first_pass = false;
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
        break;
    }
    left
}
