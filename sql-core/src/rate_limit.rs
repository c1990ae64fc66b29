//! A per-key sliding-window rate limit, shared by the client (FR-5) and the handler (which
//! limits plugins that skip the client library). Pure logic: the caller passes the time, so
//! it is exact in tests.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A limit: at most `max` events in any `window`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let limit = sql_core::RateLimit::per_minute(100);
/// assert_eq!(limit.max(), 100);
/// assert_eq!(limit.window(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    max: u32,
    window: Duration,
}

impl RateLimit {
    /// At most `max` events in any `window`. A `max` of 0 refuses everything.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let limit = sql_core::RateLimit::new(10, Duration::from_secs(1));
    /// assert_eq!(limit.max(), 10);
    /// ```
    #[must_use]
    pub const fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }

    /// At most `max` events in any 60 seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sql_core::RateLimit::per_minute(100).window().as_secs(), 60);
    /// ```
    #[must_use]
    pub const fn per_minute(max: u32) -> Self {
        Self::new(max, Duration::from_secs(60))
    }

    /// Events allowed per window.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sql_core::RateLimit::per_minute(7).max(), 7);
    /// ```
    #[must_use]
    pub const fn max(&self) -> u32 {
        self.max
    }

    /// The window's length.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sql_core::RateLimit::per_minute(7).window(), std::time::Duration::from_secs(60));
    /// ```
    #[must_use]
    pub const fn window(&self) -> Duration {
        self.window
    }
}

/// Why an event was refused, and when to try again.
///
/// # Examples
///
/// ```
/// # use std::time::{Duration, Instant};
/// # use sql_core::{RateLimit, SlidingWindows};
/// let mut windows = SlidingWindows::new(RateLimit::new(1, Duration::from_secs(10)));
/// let now = Instant::now();
/// windows.try_acquire("p", now).unwrap();
/// let refused = windows.try_acquire("p", now + Duration::from_secs(4)).unwrap_err();
/// assert_eq!(refused.retry_after, Duration::from_secs(6));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// The limit in force.
    pub limit: RateLimit,
    /// How long until the oldest counted event leaves the window.
    pub retry_after: Duration,
}

/// How much of a key's limit is in use.
///
/// # Examples
///
/// ```
/// # use std::time::{Duration, Instant};
/// # use sql_core::{RateLimit, SlidingWindows};
/// let mut windows = SlidingWindows::new(RateLimit::per_minute(5));
/// let now = Instant::now();
/// windows.try_acquire("p", now).unwrap();
/// let status = windows.status("p", now);
/// assert_eq!((status.used, status.remaining), (1, 4));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    /// The limit in force.
    pub limit: RateLimit,
    /// Events counted in the current window.
    pub used: u32,
    /// Events still allowed in the current window.
    pub remaining: u32,
}

/// Sliding-window counters for many keys (plugins), each with its own limit or the
/// default one.
///
/// Memory per key is constant, whatever the limit: events are counted in at most
/// [`SlidingWindows::SLOTS`] (+2) slots, each a sixtieth of the window wide, holding a
/// count and the times of its first and last events. A slot leaves the window when its
/// last event does, so every event counts for at least the whole window (never more than
/// `max` events in any window) and at most one slot longer than its own time would give
/// (1 s for a per-minute limit). A slot holding one event is exact.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use sql_core::{RateLimit, SlidingWindows};
///
/// let mut windows = SlidingWindows::new(RateLimit::new(2, Duration::from_secs(60)));
/// let t0 = Instant::now();
/// assert!(windows.try_acquire("analytics-db", t0).is_ok());
/// assert!(windows.try_acquire("analytics-db", t0).is_ok());
/// let refused = windows.try_acquire("analytics-db", t0 + Duration::from_secs(10)).unwrap_err();
/// assert_eq!(refused.retry_after, Duration::from_secs(50));
/// // Another plugin has its own window.
/// assert!(windows.try_acquire("quote-db", t0).is_ok());
/// // Once the first events leave the window, there is room again.
/// assert!(windows.try_acquire("analytics-db", t0 + Duration::from_secs(60)).is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct SlidingWindows {
    default: RateLimit,
    overrides: HashMap<String, RateLimit>,
    events: HashMap<String, Window>,
}

/// One key's counted events, oldest slot first.
#[derive(Debug, Clone, Default)]
struct Window {
    slots: VecDeque<Slot>,
    /// The sum of the slots' counts.
    used: u32,
}

/// Events counted together: they leave the window when the last of them does.
#[derive(Debug, Clone, Copy)]
struct Slot {
    first: Instant,
    last: Instant,
    count: u32,
}

impl SlidingWindows {
    /// How many slots a window is divided into: the finer, the closer a slot's events leave
    /// to their own time; each slot costs a few dozen bytes.
    pub const SLOTS: u32 = 60;

    /// Counters where every key has `default` unless set otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use sql_core::{RateLimit, SlidingWindows};
    /// let windows = SlidingWindows::new(RateLimit::per_minute(100));
    /// assert_eq!(windows.limit("any"), RateLimit::per_minute(100));
    /// ```
    #[must_use]
    pub fn new(default: RateLimit) -> Self {
        Self {
            default,
            overrides: HashMap::new(),
            events: HashMap::new(),
        }
    }

    /// Sets `key`'s own limit, taking effect for the next event. Events already counted
    /// stay counted.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use sql_core::{RateLimit, SlidingWindows};
    /// let mut windows = SlidingWindows::new(RateLimit::per_minute(100));
    /// windows.set_limit("p", RateLimit::per_minute(5));
    /// assert_eq!(windows.limit("p").max(), 5);
    /// ```
    pub fn set_limit(&mut self, key: &str, limit: RateLimit) {
        self.overrides.insert(key.to_owned(), limit);
    }

    /// Changes the limit of every key without one of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use sql_core::{RateLimit, SlidingWindows};
    /// let mut windows = SlidingWindows::new(RateLimit::per_minute(100));
    /// windows.set_default(RateLimit::per_minute(1));
    /// assert_eq!(windows.limit("p").max(), 1);
    /// ```
    pub fn set_default(&mut self, limit: RateLimit) {
        self.default = limit;
    }

    /// The limit in force for `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use sql_core::{RateLimit, SlidingWindows};
    /// let windows = SlidingWindows::new(RateLimit::per_minute(100));
    /// assert_eq!(windows.limit("p").max(), 100);
    /// ```
    #[must_use]
    pub fn limit(&self, key: &str) -> RateLimit {
        self.overrides.get(key).copied().unwrap_or(self.default)
    }

    /// Counts one event for `key` at `now` if the limit allows it.
    ///
    /// # Errors
    ///
    /// [`RateLimited`] with the time until an event leaves the window.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use sql_core::{RateLimit, SlidingWindows};
    /// let mut windows = SlidingWindows::new(RateLimit::per_minute(1));
    /// let now = Instant::now();
    /// assert!(windows.try_acquire("p", now).is_ok());
    /// assert!(windows.try_acquire("p", now).is_err());
    /// ```
    pub fn try_acquire(&mut self, key: &str, now: Instant) -> Result<(), RateLimited> {
        self.try_acquire_n(key, 1, now)
    }

    /// Counts `n` events for `key` at `now` if the limit allows them all, or none: a
    /// transaction's statements count one each, and are let through or refused together.
    ///
    /// # Errors
    ///
    /// [`RateLimited`] with the time until an event leaves the window (more may have to
    /// leave before `n` fit).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use sql_core::{RateLimit, SlidingWindows};
    /// let mut windows = SlidingWindows::new(RateLimit::per_minute(3));
    /// let now = Instant::now();
    /// assert!(windows.try_acquire_n("p", 2, now).is_ok());
    /// assert!(windows.try_acquire_n("p", 2, now).is_err(), "only one is left");
    /// assert!(windows.try_acquire("p", now).is_ok());
    /// ```
    pub fn try_acquire_n(&mut self, key: &str, n: u32, now: Instant) -> Result<(), RateLimited> {
        let limit = self.limit(key);
        if limit.max == 0 || n > limit.max {
            return Err(RateLimited {
                limit,
                retry_after: limit.window,
            });
        }
        // The key's String is made once, when it first counts an event.
        let window = match self.events.get_mut(key) {
            Some(window) => window,
            None => self.events.entry(key.to_owned()).or_default(),
        };
        window.expire(limit.window, now);
        if window.used.saturating_add(n) <= limit.max {
            for _ in 0..n {
                window.count(now, limit.window / Self::SLOTS);
            }
            return Ok(());
        }
        let retry_after = window.slots.front().map_or(limit.window, |oldest| {
            (oldest.last + limit.window).saturating_duration_since(now)
        });
        Err(RateLimited { limit, retry_after })
    }

    /// How much of `key`'s limit is in use at `now`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use sql_core::{RateLimit, SlidingWindows};
    /// let windows = SlidingWindows::new(RateLimit::per_minute(3));
    /// assert_eq!(windows.status("p", Instant::now()).remaining, 3);
    /// ```
    #[must_use]
    pub fn status(&self, key: &str, now: Instant) -> RateStatus {
        let limit = self.limit(key);
        let used = self.events.get(key).map_or(0, |window| {
            window
                .slots
                .iter()
                .filter(|slot| now.saturating_duration_since(slot.last) < limit.window)
                .fold(0u32, |sum, slot| sum.saturating_add(slot.count))
        });
        RateStatus {
            limit,
            used,
            remaining: limit.max.saturating_sub(used),
        }
    }

    /// Drops keys with no event in their window, so memory follows the active keys.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use sql_core::{RateLimit, SlidingWindows};
    /// let mut windows = SlidingWindows::new(RateLimit::new(1, Duration::from_secs(1)));
    /// let now = Instant::now();
    /// windows.try_acquire("p", now).unwrap();
    /// windows.prune(now + Duration::from_secs(2));
    /// assert_eq!(windows.status("p", now + Duration::from_secs(2)).used, 0);
    /// ```
    pub fn prune(&mut self, now: Instant) {
        let (default, overrides) = (self.default, &self.overrides);
        self.events.retain(|key, window| {
            let length = overrides.get(key).map_or(default.window, |l| l.window);
            window.expire(length, now);
            !window.slots.is_empty()
        });
    }
}

impl Window {
    /// Drops the slots whose last event is `length` or more before `now`.
    fn expire(&mut self, length: Duration, now: Instant) {
        while let Some(oldest) = self.slots.front()
            && now.saturating_duration_since(oldest.last) >= length
        {
            self.used -= oldest.count;
            self.slots.pop_front();
        }
    }

    /// Counts one event at `now`, in the newest slot while that slot is younger than
    /// `width`. Slots so start at least `width` apart, which bounds how many are live.
    fn count(&mut self, now: Instant, width: Duration) {
        self.used += 1;
        if let Some(newest) = self.slots.back_mut()
            && now.saturating_duration_since(newest.first) < width
        {
            // A caller's clock read just before another's may arrive second.
            newest.last = newest.last.max(now);
            newest.count += 1;
            return;
        }
        self.slots.push_back(Slot {
            first: now,
            last: now,
            count: 1,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides_event_by_event() {
        let mut w = SlidingWindows::new(RateLimit::new(3, Duration::from_secs(10)));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(w.try_acquire("p", at(0)).is_ok());
        assert!(w.try_acquire("p", at(4)).is_ok());
        assert!(w.try_acquire("p", at(8)).is_ok());
        assert_eq!(
            w.try_acquire("p", at(9)).unwrap_err().retry_after,
            Duration::from_secs(1)
        );
        // At 10 s the first event leaves; the one at 4 s is still in.
        assert!(w.try_acquire("p", at(10)).is_ok());
        assert_eq!(
            w.try_acquire("p", at(11)).unwrap_err().retry_after,
            Duration::from_secs(3)
        );
        let status = w.status("p", at(11));
        assert_eq!((status.used, status.remaining), (3, 0));
    }

    #[test]
    fn refused_events_are_not_counted() {
        let mut w = SlidingWindows::new(RateLimit::new(1, Duration::from_secs(10)));
        let t0 = Instant::now();
        assert!(w.try_acquire("p", t0).is_ok());
        for s in 1..10 {
            assert!(w.try_acquire("p", t0 + Duration::from_secs(s)).is_err());
        }
        assert!(w.try_acquire("p", t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn limits_change_at_run_time_per_key() {
        let mut w = SlidingWindows::new(RateLimit::per_minute(1));
        let t0 = Instant::now();
        assert!(w.try_acquire("a", t0).is_ok());
        assert!(w.try_acquire("a", t0).is_err());
        w.set_limit("a", RateLimit::per_minute(3));
        assert!(w.try_acquire("a", t0).is_ok());
        assert_eq!(w.status("a", t0).remaining, 1);
        assert_eq!(w.limit("b"), RateLimit::per_minute(1));
        w.set_default(RateLimit::per_minute(0));
        assert!(w.try_acquire("b", t0).is_err());
    }

    #[test]
    fn memory_per_key_does_not_grow_with_the_limit() {
        let mut w = SlidingWindows::new(RateLimit::per_minute(u32::MAX));
        let t0 = Instant::now();
        // 1.2 million events over two minutes: the old design kept every timestamp.
        for i in 0..1_200_000u64 {
            assert!(
                w.try_acquire("p", t0 + Duration::from_micros(i * 100))
                    .is_ok()
            );
        }
        let window = &w.events["p"];
        assert!(window.slots.len() <= SlidingWindows::SLOTS as usize + 2);
        // Every event of the last minute still counts, and one slot's worth more at most.
        let now = t0 + Duration::from_micros(1_199_999 * 100);
        let used = w.status("p", now).used;
        assert!((600_000..=610_001).contains(&used), "{used}");
        assert_eq!(used, window.used);
    }

    #[test]
    fn events_sharing_a_slot_leave_with_the_last_of_them() {
        let mut w = SlidingWindows::new(RateLimit::new(2, Duration::from_secs(60)));
        let t0 = Instant::now();
        assert!(w.try_acquire("p", t0).is_ok());
        // Half a second later: the same one-second slot.
        assert!(w.try_acquire("p", t0 + Duration::from_millis(500)).is_ok());
        // Never more than 2 in any minute: the first event is still counted at 60 s.
        let refused = w
            .try_acquire("p", t0 + Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert!(
            w.try_acquire("p", t0 + Duration::from_millis(60_500))
                .is_ok()
        );
    }

    #[test]
    fn prune_forgets_idle_keys() {
        let mut w = SlidingWindows::new(RateLimit::new(5, Duration::from_secs(1)));
        let t0 = Instant::now();
        for i in 0..100 {
            let _ = w.try_acquire(&format!("k{i}"), t0);
        }
        w.prune(t0 + Duration::from_secs(2));
        assert!(w.events.is_empty());
    }
}
