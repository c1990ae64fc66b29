//! Fair shares of a set of database connections between plugins.
//!
//! A statement holds a slot for as long as it runs, and there are as many slots as
//! connections. The rule (PROTOCOL.md section 6):
//!
//! - the last `reserve` free slots go only to a plugin that holds none, so a plugin whose
//!   slow queries fill the pool still leaves room for everyone else's next query;
//! - when a slot is freed, the waiting plugin holding the fewest slots gets it, and among
//!   equals the one served longest ago: plugins take turns, and one plugin's queue of
//!   hundreds of statements never stands in front of another plugin's one;
//! - a plugin's statements are served in the order they came.
//!
//! Waiting is bounded by each request's deadline.
//!
//! A statement that cannot be stopped at its deadline (stuck inside one step of SQLite,
//! or a PostgreSQL backend that does not answer the cancel request) is answered anyway,
//! and its slot can be *detached*: given back at once while the statement runs on, with
//! a fresh connection standing in for the stuck one. Detached slots are bounded: one per
//! plugin, and as many as there are slots, so a plugin can tie up at most its share plus
//! one connection this way; beyond that a stuck statement keeps its slot until it ends.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

/// The deadline passed before a slot was free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotTimeout;

/// Detached slots one plugin may have at a time.
const DETACHED_PER_PLUGIN: usize = 1;

/// Slots of one set of connections.
#[derive(Debug)]
pub(crate) struct FairSlots {
    reserve: usize,
    max_detached: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    free: usize,
    /// Plugins holding or waiting for a slot; an entry goes when it does neither.
    plugins: HashMap<String, PluginState>,
    /// Order of arrival of waiters, and of grants (for taking turns).
    clock: u64,
    /// Detached slots by plugin.
    detached: HashMap<String, usize>,
}

#[derive(Debug, Default)]
struct PluginState {
    held: usize,
    /// When this plugin was last given a slot; 0 for never (while its entry lasted).
    last_served: u64,
    waiters: VecDeque<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    ticket: u64,
    grant: oneshot::Sender<()>,
}

impl FairSlots {
    /// `slots` slots, the last `reserve` of them kept for plugins that hold none.
    pub(crate) fn new(slots: usize, reserve: usize) -> Arc<Self> {
        Arc::new(Self {
            reserve: reserve.min(slots.saturating_sub(1)),
            max_detached: slots,
            state: Mutex::new(State {
                free: slots,
                plugins: HashMap::new(),
                clock: 0,
                detached: HashMap::new(),
            }),
        })
    }

    /// The reserve this crate uses for `slots` connections: one, when there are two or
    /// more.
    pub(crate) fn with_default_reserve(slots: usize) -> Arc<Self> {
        Self::new(slots, 1)
    }

    /// Waits for a slot for `plugin` until `deadline`.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        plugin: &str,
        deadline: Instant,
    ) -> Result<SlotPermit, SlotTimeout> {
        let (ticket, receiver) = {
            let mut state = self.lock();
            if state.may_take(plugin, self.reserve) {
                state.take(plugin);
                return Ok(self.permit(plugin));
            }
            state.clock += 1;
            let ticket = state.clock;
            let (grant, receiver) = oneshot::channel();
            state
                .plugins
                .entry(plugin.to_owned())
                .or_default()
                .waiters
                .push_back(Waiter { ticket, grant });
            (ticket, receiver)
        };
        let mut waiting = Waiting {
            slots: self,
            plugin,
            ticket,
            receiver,
            granted: false,
        };
        match tokio::time::timeout_at(deadline.into(), &mut waiting.receiver).await {
            Ok(Ok(())) => {
                waiting.granted = true;
                Ok(self.permit(plugin))
            }
            // Timed out, or (never) the sender dropped without a grant: `Waiting::drop`
            // takes the waiter out of the queue and returns a grant that came too late.
            _ => Err(SlotTimeout),
        }
    }

    /// How many slots `plugin` holds now.
    #[cfg(test)]
    pub(crate) fn held(&self, plugin: &str) -> usize {
        self.lock().plugins.get(plugin).map_or(0, |p| p.held)
    }

    /// Detached slots whose statement has not ended yet.
    #[cfg(test)]
    pub(crate) fn detached(&self) -> usize {
        self.lock().detached.values().sum()
    }

    fn permit(self: &Arc<Self>, plugin: &str) -> SlotPermit {
        SlotPermit {
            slots: Some(Arc::clone(self)),
            plugin: plugin.to_owned(),
        }
    }

    fn release(&self, plugin: &str) {
        let mut state = self.lock();
        state.free += 1;
        if let Some(entry) = state.plugins.get_mut(plugin) {
            entry.held = entry.held.saturating_sub(1);
        }
        state.forget_if_idle(plugin);
        state.dispatch(self.reserve);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn held(&self, plugin: &str) -> usize {
        self.plugins.get(plugin).map_or(0, |p| p.held)
    }

    fn may_take(&self, plugin: &str, reserve: usize) -> bool {
        self.free > reserve || (self.free > 0 && self.held(plugin) == 0)
    }

    fn take(&mut self, plugin: &str) {
        self.free -= 1;
        self.clock += 1;
        let clock = self.clock;
        let entry = match self.plugins.get_mut(plugin) {
            Some(entry) => entry,
            None => self.plugins.entry(plugin.to_owned()).or_default(),
        };
        entry.held += 1;
        entry.last_served = clock;
    }

    fn forget_if_idle(&mut self, plugin: &str) {
        if self
            .plugins
            .get(plugin)
            .is_some_and(|p| p.held == 0 && p.waiters.is_empty())
        {
            self.plugins.remove(plugin);
        }
    }

    /// Hands free slots to waiters, fewest slots held first, then longest since served.
    fn dispatch(&mut self, reserve: usize) {
        loop {
            let next = self
                .plugins
                .iter()
                .filter(|(name, p)| !p.waiters.is_empty() && self.may_take(name, reserve))
                .min_by_key(|(_, p)| {
                    (
                        p.held,
                        p.last_served,
                        p.waiters.front().map_or(u64::MAX, |w| w.ticket),
                    )
                })
                .map(|(name, _)| name.clone());
            let Some(plugin) = next else { return };
            let waiter = self
                .plugins
                .get_mut(&plugin)
                .and_then(|p| p.waiters.pop_front());
            if let Some(waiter) = waiter {
                // The grant counts as soon as it is sent; a waiter that gave up meanwhile
                // returns it in `Waiting::drop`, under this same lock.
                if waiter.grant.send(()).is_ok() {
                    self.take(&plugin);
                }
            }
            self.forget_if_idle(&plugin);
        }
    }
}

/// A request waiting in the queue; dropping it leaves the queue.
struct Waiting<'a> {
    slots: &'a FairSlots,
    plugin: &'a str,
    ticket: u64,
    receiver: oneshot::Receiver<()>,
    granted: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.granted {
            return;
        }
        let mut state = self.slots.lock();
        if let Some(entry) = state.plugins.get_mut(self.plugin) {
            entry.waiters.retain(|w| w.ticket != self.ticket);
        }
        // A grant sent just before the wait ended: nobody will use it, so it goes back.
        let late_grant = self.receiver.try_recv().is_ok();
        if late_grant {
            state.free += 1;
            if let Some(entry) = state.plugins.get_mut(self.plugin) {
                entry.held = entry.held.saturating_sub(1);
            }
        }
        state.forget_if_idle(self.plugin);
        if late_grant {
            state.dispatch(self.slots.reserve);
        }
    }
}

/// One slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct SlotPermit {
    slots: Option<Arc<FairSlots>>,
    plugin: String,
}

impl SlotPermit {
    /// The plugin the slot is held for.
    #[cfg(test)]
    pub(crate) fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Gives the slot back now for a statement that runs on past its answer, if the
    /// bounds allow another detached slot for its plugin (see the module documentation);
    /// the returned guard counts against them until the statement ends. Otherwise the
    /// permit comes back, to be held until then.
    pub(crate) fn detach(mut self) -> Result<DetachedSlot, SlotPermit> {
        let Some(slots) = self.slots.take() else {
            return Err(self);
        };
        {
            let mut state = slots.lock();
            let total: usize = state.detached.values().sum();
            let mine = state.detached.get(&self.plugin).copied().unwrap_or(0);
            if total >= slots.max_detached || mine >= DETACHED_PER_PLUGIN {
                drop(state);
                self.slots = Some(slots);
                return Err(self);
            }
            *state.detached.entry(self.plugin.clone()).or_insert(0) += 1;
        }
        slots.release(&self.plugin);
        Ok(DetachedSlot {
            slots,
            plugin: std::mem::take(&mut self.plugin),
        })
    }
}

/// A detached slot's place in the bounds, until its statement ends.
#[derive(Debug)]
pub(crate) struct DetachedSlot {
    slots: Arc<FairSlots>,
    plugin: String,
}

impl Drop for DetachedSlot {
    fn drop(&mut self) {
        let mut state = self.slots.lock();
        if let Some(count) = state.detached.get_mut(&self.plugin) {
            *count -= 1;
            if *count == 0 {
                state.detached.remove(&self.plugin);
            }
        }
    }
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            slots.release(&self.plugin);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::time::Duration;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn the_last_slots_are_kept_for_plugins_that_hold_none() {
        let slots = FairSlots::new(4, 1);
        let mut flood = Vec::new();
        for _ in 0..3 {
            flood.push(slots.acquire("a", soon()).await.unwrap());
        }
        // `a` holds three of four: the fourth is the reserve.
        let blocked = slots
            .acquire("a", Instant::now() + Duration::from_millis(20))
            .await;
        assert_eq!(blocked.unwrap_err(), SlotTimeout);
        let b = slots.acquire("b", soon()).await.unwrap();
        assert_eq!(slots.held("b"), 1);
        assert_eq!(slots.held("a"), 3);
        drop(b);
        drop(flood);
        assert_eq!(slots.held("a"), 0);
        assert!(
            slots.lock().plugins.is_empty(),
            "idle plugins are forgotten"
        );
    }

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_plugin_holding_fewest() {
        let slots = FairSlots::new(2, 0);
        let a1 = slots.acquire("a", soon()).await.unwrap();
        let a2 = slots.acquire("a", soon()).await.unwrap();
        // `a` queues three more before `b` queues one.
        let mut queued = Vec::new();
        for _ in 0..3 {
            let s = Arc::clone(&slots);
            queued.push(tokio::spawn(async move { s.acquire("a", soon()).await }));
        }
        tokio::task::yield_now().await;
        let s = Arc::clone(&slots);
        let b = tokio::spawn(async move { s.acquire("b", soon()).await });
        while !slots.lock().plugins.contains_key("b") {
            tokio::task::yield_now().await;
        }
        drop(a1);
        let b = b.await.unwrap().unwrap();
        assert_eq!(b.plugin(), "b");
        assert_eq!(
            slots.held("a"),
            1,
            "b was served before a's earlier waiters"
        );
        drop((a2, b));
        for q in queued {
            drop(q.await.unwrap().unwrap());
        }
    }

    #[tokio::test]
    async fn one_slot_is_shared_in_turns() {
        let slots = FairSlots::new(1, 0);
        let first = slots.acquire("a", soon()).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for plugin in ["a", "a", "a", "b", "b", "c"] {
            let s = Arc::clone(&slots);
            let order = Arc::clone(&order);
            tasks.push(tokio::spawn(async move {
                let permit = s.acquire(plugin, soon()).await.unwrap();
                order.lock().unwrap().push(plugin);
                drop(permit);
            }));
            // Queue in this order.
            while slots
                .lock()
                .plugins
                .values()
                .map(|p| p.waiters.len())
                .sum::<usize>()
                < tasks.len()
            {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        // b and c never wait behind all of a's queue.
        assert_eq!(order, ["b", "c", "a", "b", "a", "a"]);
    }

    #[tokio::test]
    async fn detached_slots_go_back_at_once_within_their_bounds() {
        let slots = FairSlots::new(2, 0);
        let first = slots.acquire("a", soon()).await.unwrap();
        let second = slots.acquire("a", soon()).await.unwrap();
        let detached = first.detach().unwrap();
        assert_eq!(slots.held("a"), 1);
        assert_eq!(slots.detached(), 1);
        // One detached slot per plugin: the second stays held.
        let second = second.detach().unwrap_err();
        assert_eq!(slots.held("a"), 1);
        let b = slots.acquire("b", soon()).await.unwrap();
        let b_detached = b.detach().unwrap();
        // As many detached as slots in all.
        let c = slots.acquire("c", soon()).await.unwrap();
        assert!(c.detach().is_err());
        drop((detached, b_detached, second));
        assert_eq!(slots.detached(), 0);
        assert_eq!(slots.lock().free, 2);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_no_slot_behind() {
        let slots = FairSlots::new(1, 0);
        let held = slots.acquire("a", soon()).await.unwrap();
        for _ in 0..50 {
            let gone = slots
                .acquire("b", Instant::now() + Duration::from_millis(1))
                .await;
            assert!(gone.is_err());
        }
        // A grant racing a cancellation: the cancelled waiter's grant comes back.
        let s = Arc::clone(&slots);
        let waiting = tokio::spawn(async move { s.acquire("c", soon()).await });
        while !slots.lock().plugins.contains_key("c") {
            tokio::task::yield_now().await;
        }
        drop(held);
        waiting.abort();
        let _ = waiting.await;
        let again = slots
            .acquire("d", Instant::now() + Duration::from_millis(500))
            .await;
        assert!(again.is_ok(), "the slot is free again");
        drop(again);
        assert!(slots.lock().plugins.is_empty());
        assert_eq!(slots.lock().free, 1);
    }
}
