//! A fixed set of SQLite connections handed out one request at a time.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections of one kind (the writer, or the readers).
#[derive(Debug)]
pub(crate) struct ConnPool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// The deadline passed while waiting for a connection.
#[derive(Debug)]
pub(crate) struct PoolTimeout;

impl ConnPool {
    pub(crate) fn new(conns: Vec<Connection>) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(conns.len())),
            idle: Mutex::new(conns),
        })
    }

    /// Waits for a free connection until `deadline`.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        deadline: Instant,
    ) -> Result<PooledConn, PoolTimeout> {
        let permit =
            tokio::time::timeout_at(deadline.into(), Arc::clone(&self.permits).acquire_owned())
                .await
                .map_err(|_| PoolTimeout)?
                // The semaphore is never closed.
                .map_err(|_| PoolTimeout)?;
        let conn = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        // A permit guarantees an idle connection: permits and connections are returned
        // together in `PooledConn::drop`.
        let conn = conn.ok_or(PoolTimeout)?;
        Ok(PooledConn {
            conn: Some(conn),
            pool: Arc::clone(self),
            _permit: permit,
        })
    }
}

/// A connection on loan; it goes back to its pool when dropped, with any transaction the
/// request left open rolled back.
#[derive(Debug)]
pub(crate) struct PooledConn {
    conn: Option<Connection>,
    pool: Arc<ConnPool>,
    // Dropped after `drop` has put the connection back, so a waiter always finds one.
    _permit: OwnedSemaphorePermit,
}

impl PooledConn {
    #[allow(
        clippy::expect_used,
        reason = "`conn` is Some from construction until drop"
    )]
    pub(crate) fn conn(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .expect("connection is only taken in drop")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !conn.is_autocommit() {
                // Best effort: a failed rollback leaves SQLite to roll back on the next BEGIN.
                let _ = conn.execute_batch("ROLLBACK");
            }
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }
}
