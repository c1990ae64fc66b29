//! Which requests the handler takes on: each plugin gets a fair share of the requests in
//! flight, so a plugin that floods the handler is refused itself and nobody else is
//! (PROTOCOL.md section 6).
//!
//! The rule: with `max` the handler's concurrency setting and `active` the number of
//! plugins with a request in flight (counting the one asking), a plugin may have
//! `max / active` requests in flight, at least one. A plugin below its share is taken on
//! even when others have filled the handler; one at or above it gets `OVERLOADED`. The
//! shares shrink as plugins arrive, and a plugin over its new share is refused until it is
//! back under it. In all, at most `2 × max` requests are in flight: the bound on the
//! memory requests hold, reached only when many plugins flood at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The requests in flight, by plugin.
#[derive(Debug)]
pub(crate) struct Admission {
    max: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    /// Only plugins with requests in flight: the map is as large as the traffic, never
    /// larger, whatever subjects senders make up.
    by_plugin: HashMap<String, usize>,
}

/// Why a request was not taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverShare {
    /// The plugin's requests in flight.
    pub(crate) in_flight: usize,
    /// Its share at that moment.
    pub(crate) share: usize,
}

impl Admission {
    /// Shares of `max` requests in flight.
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            state: Mutex::new(State::default()),
        })
    }

    /// Takes on a request of `plugin` (any key that names the sender: requests whose
    /// subject names no valid plugin share one), or says why not.
    pub(crate) fn admit(self: &Arc<Self>, plugin: &str) -> Result<Admitted, OverShare> {
        let mut state = self.lock();
        let in_flight = state.by_plugin.get(plugin).copied().unwrap_or(0);
        let active = state.by_plugin.len() + usize::from(in_flight == 0);
        let share = (self.max / active).max(1);
        if in_flight >= share || state.total >= 2 * self.max {
            return Err(OverShare { in_flight, share });
        }
        state.total += 1;
        *state.by_plugin.entry(plugin.to_owned()).or_insert(0) += 1;
        Ok(Admitted {
            admission: Arc::clone(self),
            plugin: plugin.to_owned(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request taken on; it leaves the count when dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    admission: Arc<Admission>,
    plugin: String,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        state.total = state.total.saturating_sub(1);
        if let Some(count) = state.by_plugin.get_mut(&self.plugin) {
            *count -= 1;
            if *count == 0 {
                state.by_plugin.remove(&self.plugin);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_flooding_plugin_is_refused_and_the_next_plugin_is_not() {
        let admission = Admission::new(64);
        let mut flood = Vec::new();
        let mut refused = 0;
        for _ in 0..500 {
            match admission.admit("a") {
                Ok(admitted) => flood.push(admitted),
                Err(over) => {
                    assert_eq!(
                        over,
                        OverShare {
                            in_flight: 64,
                            share: 64
                        }
                    );
                    refused += 1;
                }
            }
        }
        assert_eq!((flood.len(), refused), (64, 436));
        // `b` has a share of its own although the handler is full.
        let b: Vec<_> = (0..32).map(|_| admission.admit("b").unwrap()).collect();
        assert_eq!(
            admission.admit("b").unwrap_err(),
            OverShare {
                in_flight: 32,
                share: 32
            }
        );
        // `a` is now over its share of 32 until 33 of its requests end.
        assert!(admission.admit("a").is_err());
        flood.truncate(31);
        assert!(admission.admit("a").is_ok());
        drop((flood, b));
        assert_eq!(admission.lock().total, 0);
        assert!(admission.lock().by_plugin.is_empty());
    }

    #[test]
    fn the_total_stays_below_twice_the_setting() {
        let admission = Admission::new(8);
        let mut held = Vec::new();
        for plugin in 0..100 {
            while let Ok(admitted) = admission.admit(&plugin.to_string()) {
                held.push(admitted);
            }
        }
        assert_eq!(held.len(), 16);
        // Shares shrank as plugins arrived: 8, 4, 2, 2.
        assert_eq!(admission.lock().by_plugin.len(), 4);
        // As requests end, newcomers get in.
        held.drain(..8);
        assert!(admission.admit("a-newcomer").is_ok());
    }

    #[test]
    fn one_slot_still_serves_each_plugin_in_turn() {
        let admission = Admission::new(1);
        let a = admission.admit("a").unwrap();
        assert!(admission.admit("a").is_err());
        let b = admission.admit("b").unwrap();
        drop((a, b));
        assert!(admission.admit("a").is_ok());
    }
}
