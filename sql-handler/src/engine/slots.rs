//! Per-plugin slots on a shared set of database connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::engine::ExecError;

/// Per-plugin limits on statements running at once: one less than the connections they
/// share, so one plugin's slow queries can never take every connection from the others.
#[derive(Debug)]
pub(crate) struct PluginSlots {
    per_plugin: usize,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl PluginSlots {
    /// Entries kept before idle ones are dropped; plugins are few, but subjects are
    /// chosen by senders.
    const MAX_TRACKED: usize = 4096;

    pub(crate) fn new(connections: usize) -> Self {
        Self {
            per_plugin: connections.saturating_sub(1).max(1),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `plugin` may run one more statement, or its deadline passes.
    pub(crate) async fn acquire(
        &self,
        plugin: &str,
        deadline: Instant,
        timeout_ms: u32,
    ) -> Result<OwnedSemaphorePermit, ExecError> {
        let slot = self.for_plugin(plugin);
        tokio::time::timeout_at(deadline.into(), slot.acquire_owned())
            .await
            .map_err(|_| ExecError::Timeout { timeout_ms })?
            // The semaphore is never closed.
            .map_err(|_| ExecError::Timeout { timeout_ms })
    }

    fn for_plugin(&self, plugin: &str) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.len() >= Self::MAX_TRACKED && !slots.contains_key(plugin) {
            let full = self.per_plugin;
            slots.retain(|_, s| s.available_permits() < full);
        }
        let per_plugin = self.per_plugin;
        Arc::clone(
            slots
                .entry(plugin.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(per_plugin))),
        )
    }
}
