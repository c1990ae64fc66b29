//! The handler's own per-plugin request limit. PROTOCOL.md section 8: a plugin that skips
//! the client library is still limited, so the handler counts every request it accepts
//! for a valid plugin, with the same sliding window the client uses (`sql_core`).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sql_core::{Plugin, RateLimit, RateLimited, SlidingWindows};

use crate::config::PluginRateLimit;

/// How often idle plugins' windows are dropped. A window is at most one minute long, so
/// anything idle for longer holds no events worth keeping.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Per-plugin sliding windows behind one lock; each check is a few hash-map operations.
#[derive(Debug)]
pub(crate) struct PluginLimiter {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    windows: SlidingWindows,
    last_prune: Instant,
}

impl PluginLimiter {
    /// `per_minute` for every plugin, except those in `overrides` (the last entry for a
    /// plugin wins).
    pub(crate) fn new(per_minute: u32, overrides: &[PluginRateLimit], now: Instant) -> Self {
        let mut windows = SlidingWindows::new(RateLimit::per_minute(per_minute));
        for o in overrides {
            windows.set_limit(o.plugin().name(), RateLimit::per_minute(o.per_minute()));
        }
        Self {
            state: Mutex::new(State {
                windows,
                last_prune: now,
            }),
        }
    }

    /// Counts `statements` requests of `plugin` at `now` (one, or a transaction's, one per
    /// statement), all or none, or says why they are refused.
    pub(crate) fn check_n(
        &self,
        plugin: &Plugin,
        statements: u32,
        now: Instant,
    ) -> Result<(), RateLimited> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Subjects are chosen by senders: without pruning, every name ever seen would
        // keep an entry.
        if now.saturating_duration_since(state.last_prune) >= PRUNE_EVERY {
            state.windows.prune(now);
            state.last_prune = now;
        }
        state.windows.try_acquire_n(plugin.name(), statements, now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn plugin(name: &str) -> Plugin {
        Plugin::new(name).unwrap()
    }

    #[test]
    fn each_plugin_has_its_own_window_and_overrides_apply() {
        let t0 = Instant::now();
        let overrides = ["analytics-db=2".parse().unwrap()];
        let limiter = PluginLimiter::new(3, &overrides, t0);
        let (a, q) = (plugin("analytics-db"), plugin("quote-db"));
        assert!(limiter.check_n(&a, 1, t0).is_ok());
        assert!(limiter.check_n(&a, 1, t0).is_ok());
        let refused = limiter
            .check_n(&a, 1, t0 + Duration::from_secs(15))
            .unwrap_err();
        assert_eq!(refused.limit, RateLimit::per_minute(2));
        assert_eq!(refused.retry_after, Duration::from_secs(45));
        for _ in 0..3 {
            assert!(limiter.check_n(&q, 1, t0).is_ok());
        }
        assert!(limiter.check_n(&q, 1, t0).is_err());
        assert!(limiter.check_n(&a, 1, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn idle_plugins_are_pruned_without_losing_active_counts() {
        let t0 = Instant::now();
        let limiter = PluginLimiter::new(1, &[], t0);
        let busy = plugin("busy");
        assert!(limiter.check_n(&plugin("idle"), 1, t0).is_ok());
        let later = t0 + PRUNE_EVERY + Duration::from_secs(1);
        assert!(limiter.check_n(&busy, 1, later).is_ok());
        assert!(limiter.check_n(&busy, 1, later).is_err());
        let state = limiter.state.lock().unwrap();
        assert_eq!(state.windows.status("idle", later).used, 0);
        assert_eq!(state.last_prune, later);
    }
}
