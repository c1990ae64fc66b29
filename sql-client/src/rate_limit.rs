//! The client's rate limiter (FR-5): a sliding window per plugin, shareable by many
//! clients, with limits that can change while running.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use sql_core::{RateLimit, RateLimited, RateStatus, SlidingWindows};

/// Per-plugin sliding-window limits. Clones share the same windows, so one limiter can be
/// given to every client of a process (see
/// [`ClientConfig::rate_limiter`](crate::ClientConfig::rate_limiter)).
///
/// # Examples
///
/// ```
/// use sql_client::RateLimiter;
/// use sql_core::RateLimit;
///
/// let limiter = RateLimiter::new(RateLimit::per_minute(100));
/// limiter.set_limit("analytics-db", RateLimit::per_minute(500));
/// let status = limiter.status("analytics-db");
/// assert_eq!((status.limit.max(), status.used, status.remaining), (500, 0, 500));
/// ```
#[derive(Debug, Clone)]
pub struct RateLimiter {
    windows: Arc<Mutex<SlidingWindows>>,
    calls: Arc<AtomicU32>,
}

impl RateLimiter {
    /// Prune idle plugins' windows every this many acquisitions.
    const PRUNE_EVERY: u32 = 1024;

    /// A limiter where every plugin has `default` unless set otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::RateLimiter;
    /// use sql_client::core::RateLimit;
    /// let limiter = RateLimiter::new(RateLimit::per_minute(100));
    /// assert_eq!(limiter.status("analytics-db").remaining, 100);
    /// ```
    #[must_use]
    pub fn new(default: RateLimit) -> Self {
        Self {
            windows: Arc::new(Mutex::new(SlidingWindows::new(default))),
            calls: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Sets `plugin`'s limit; it applies from the next query on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{RateLimiter, core::RateLimit};
    /// let limiter = RateLimiter::new(RateLimit::per_minute(100));
    /// limiter.set_limit("analytics-db", RateLimit::per_minute(10));
    /// assert_eq!(limiter.status("analytics-db").limit.max(), 10);
    /// ```
    pub fn set_limit(&self, plugin: &str, limit: RateLimit) {
        self.lock().set_limit(plugin, limit);
    }

    /// Changes the limit of plugins without their own.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{RateLimiter, core::RateLimit};
    /// let limiter = RateLimiter::new(RateLimit::per_minute(100));
    /// limiter.set_default(RateLimit::per_minute(50));
    /// assert_eq!(limiter.status("quote-db").limit.max(), 50);
    /// ```
    pub fn set_default(&self, limit: RateLimit) {
        self.lock().set_default(limit);
    }

    /// The limit, queries counted in the current window, and queries left.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::{RateLimiter, core::RateLimit};
    /// let limiter = RateLimiter::new(RateLimit::per_minute(100));
    /// let status = limiter.status("analytics-db");
    /// assert_eq!((status.used, status.remaining), (0, 100));
    /// ```
    #[must_use]
    pub fn status(&self, plugin: &str) -> RateStatus {
        self.lock().status(plugin, Instant::now())
    }

    /// Counts `n` queries of `plugin` (a transaction's statements), all or none.
    pub(crate) fn try_acquire_n(&self, plugin: &str, n: u32) -> Result<(), RateLimited> {
        let now = Instant::now();
        let mut windows = self.lock();
        if self
            .calls
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(Self::PRUNE_EVERY)
        {
            windows.prune(now);
        }
        windows.try_acquire_n(plugin, n, now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlidingWindows> {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_windows_and_limits_change_live() {
        let a = RateLimiter::new(RateLimit::per_minute(2));
        let b = a.clone();
        assert!(a.try_acquire_n("p", 1).is_ok());
        assert!(b.try_acquire_n("p", 1).is_ok());
        let refused = a.try_acquire_n("p", 1).unwrap_err();
        assert!(refused.retry_after.as_secs() <= 60);
        b.set_limit("p", RateLimit::per_minute(3));
        assert!(a.try_acquire_n("p", 1).is_ok());
        let status = a.status("p");
        assert_eq!((status.used, status.remaining), (3, 0));
        assert!(
            a.try_acquire_n("q", 1).is_ok(),
            "plugins have separate windows"
        );
    }
}
