//! A fixed number of SQLite connections of one kind (the writer, or the readers), shared
//! fairly between plugins (`crate::engine::slots`).
//!
//! A statement stuck past its deadline inside one SQLite step cannot be stopped until
//! that step ends. Its request is answered anyway, and a reader's slot can be detached
//! (`crate::engine::slots`): a fresh connection takes the stuck one's place when needed,
//! and the stuck one is closed when its statement finally stops.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use rusqlite::Connection;

use super::functions::StatementClock;
use super::guard::GuardSlot;
use crate::engine::slots::{DetachedSlot, FairSlots, SlotPermit, SlotTimeout};

/// A connection, the clock its bounded built-in functions read (`super::functions`) and
/// the slot its authorizer reads the current guard from (`super::guard`).
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) conn: Connection,
    pub(crate) clock: StatementClock,
    pub(crate) guard: GuardSlot,
}

/// Opens one more connection of the pool's kind.
pub(crate) type Opener = Box<dyn Fn() -> rusqlite::Result<Conn> + Send + Sync>;

/// Connections of one kind.
pub(crate) struct ConnPool {
    idle: Mutex<Vec<Conn>>,
    slots: Arc<FairSlots>,
    /// Makes the replacement of a detached connection; `None` for the writer, whose
    /// connections are never detached (a stuck write holds the write lock anyway).
    open: Option<Opener>,
}

impl std::fmt::Debug for ConnPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnPool")
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

/// Why no connection was handed out.
#[derive(Debug)]
pub(crate) enum PoolError {
    /// The deadline passed first.
    Timeout,
    /// A replacement connection could not be opened.
    Open(rusqlite::Error),
}

impl From<SlotTimeout> for PoolError {
    fn from(_: SlotTimeout) -> Self {
        Self::Timeout
    }
}

impl ConnPool {
    /// A pool of `conns`, with `slots` deciding who gets one; `open` makes replacements
    /// for detached connections (without it, none is ever detached).
    pub(crate) fn new(conns: Vec<Conn>, slots: Arc<FairSlots>, open: Option<Opener>) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(conns),
            slots,
            open,
        })
    }

    /// Waits for `plugin`'s turn at a connection until `deadline`.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        plugin: &str,
        deadline: Instant,
    ) -> Result<PooledConn, PoolError> {
        let permit = self.slots.acquire(plugin, deadline).await?;
        let idle = lock(&self.idle).pop();
        let conn = match idle {
            Some(conn) => conn,
            // Only after a detach: there are as many connections as slots otherwise, and
            // a slot is always given back together with its connection.
            // Opening a file SQLite already has open takes well under a millisecond, and it
            // happens only after a detach: done in place.
            None => match &self.open {
                Some(open) => open().map_err(PoolError::Open)?,
                None => return Err(PoolError::Timeout),
            },
        };
        let shared = Arc::new(Shared {
            permit: Mutex::new(Some(permit)),
            detached: Mutex::new(None),
        });
        Ok(PooledConn {
            conn: Some(conn),
            pool: Arc::clone(self),
            shared,
        })
    }

    /// Runs `f` on every idle connection.
    #[cfg(test)]
    pub(crate) fn for_each_idle(&self, f: impl Fn(&Connection)) {
        lock(&self.idle).iter().for_each(|c| f(&c.conn));
    }

    /// Detached connections whose statement has not ended yet.
    #[cfg(test)]
    pub(crate) fn detached(&self) -> usize {
        self.slots.detached()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a connection on loan shares with its [`Detacher`].
#[derive(Debug)]
struct Shared {
    permit: Mutex<Option<SlotPermit>>,
    /// Once detached, its place in the bounds, held until the connection closes.
    detached: Mutex<Option<DetachedSlot>>,
}

/// A connection on loan; it goes back to its pool when dropped, with any transaction the
/// request left open rolled back (or is closed, if it was detached).
pub(crate) struct PooledConn {
    conn: Option<Conn>,
    pool: Arc<ConnPool>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PooledConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledConn")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl PooledConn {
    #[allow(
        clippy::expect_used,
        reason = "`conn` is Some from construction until drop"
    )]
    pub(crate) fn conn(&mut self) -> &mut Connection {
        &mut self
            .conn
            .as_mut()
            .expect("connection is only taken in drop")
            .conn
    }

    /// The connection with its clock and guard slot.
    #[allow(
        clippy::expect_used,
        reason = "`conn` is Some from construction until drop"
    )]
    pub(crate) fn get(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("connection is only taken in drop")
    }

    /// A handle that can detach this connection from another task while it is busy.
    pub(crate) fn detacher(&self) -> Detacher {
        Detacher {
            pool: Arc::clone(&self.pool),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let permit = lock(&self.shared.permit).take();
        if let Some(detached) = lock(&self.shared.detached).take() {
            // Its slot went back when it was detached, and a replacement may exist.
            drop(conn);
            drop(detached);
            return;
        }
        conn.clock.set(None);
        conn.guard.set(None);
        if !conn.conn.is_autocommit() {
            // Best effort: a failed rollback leaves SQLite to roll back on the next BEGIN.
            let _ = conn.conn.execute_batch("ROLLBACK");
        }
        lock(&self.pool.idle).push(conn);
        // After the connection is back, so the next holder of the slot finds one idle.
        drop(permit);
    }
}

/// Detaches a busy connection; see the module documentation.
#[derive(Debug)]
pub(crate) struct Detacher {
    pool: Arc<ConnPool>,
    shared: Arc<Shared>,
}

impl Detacher {
    /// Gives the connection's slot back now and closes the connection when its statement
    /// ends, if this pool makes replacements and the bounds allow; else the connection
    /// keeps its slot until then. Returns whether it was detached.
    pub(crate) fn detach(self) -> bool {
        if self.pool.open.is_none() {
            return false;
        }
        let mut permit = lock(&self.shared.permit);
        let Some(held) = permit.take() else {
            return false;
        };
        match held.detach() {
            Ok(detached) => {
                *lock(&self.shared.detached) = Some(detached);
                true
            }
            Err(held) => {
                *permit = Some(held);
                false
            }
        }
    }
}
