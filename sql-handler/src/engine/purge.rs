//! When expired idempotency records are deleted: at most once a minute, by the next
//! idempotent write, so requests do not pay for it each time.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often expired idempotency records are deleted, at most.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// How long idempotency records are kept unless configured otherwise.
pub(crate) const DEFAULT_RETENTION: Duration = Duration::from_secs(86_400);

/// The time of the last purge.
#[derive(Debug)]
pub(crate) struct PurgeSchedule {
    last: Mutex<Instant>,
}

impl Default for PurgeSchedule {
    fn default() -> Self {
        // The first idempotent write purges whatever expired while the handler was down.
        let long_ago = Instant::now()
            .checked_sub(PURGE_EVERY)
            .unwrap_or_else(Instant::now);
        Self {
            last: Mutex::new(long_ago),
        }
    }
}

impl PurgeSchedule {
    /// Whether to purge now; if so, the next purge is due a minute from `now`.
    pub(crate) fn due(&self, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(*last) >= PURGE_EVERY {
            *last = now;
            return true;
        }
        false
    }
}

/// Seconds since the Unix epoch: wall-clock time, because records outlive the process.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
