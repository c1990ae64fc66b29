//! Verdicts of statements already checked, so that a plugin's repeated statements (the
//! usual case: the same `sql!` queries with new parameters) skip the parse.
//!
//! The key is the plugin and the exact SQL text: the verdict depends on nothing else for a
//! given handler (its policy and dialect are fixed). Refusals are not kept, so a sender
//! cannot fill the cache with garbage that never runs; accepted statements are bounded in
//! total size, and the cache starts over when full.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sql_core::{Dialect, Plugin, Policy, PolicyError, Verdict};

/// Total SQL text kept, in bytes.
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// Accepted statements' verdicts by (plugin, SQL text).
#[derive(Debug, Default)]
pub(crate) struct Verdicts {
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    /// By plugin, then SQL text: a lookup borrows both, copying nothing.
    entries: HashMap<String, HashMap<String, Verdict>>,
    bytes: usize,
}

impl Verdicts {
    /// `policy`'s verdict on `sql` for `plugin`, from the cache when it was seen before.
    pub(crate) fn check(
        &self,
        policy: &Policy,
        sql: &str,
        plugin: &Plugin,
        dialect: Dialect,
    ) -> Result<Verdict, PolicyError> {
        if let Some(verdict) = self
            .lock()
            .entries
            .get(plugin.name())
            .and_then(|by_sql| by_sql.get(sql))
        {
            return Ok(verdict.clone());
        }
        // Parsed outside the lock: other requests need not wait for this one.
        let verdict = policy.check(sql, plugin, dialect)?;
        let size = plugin.name().len() + sql.len();
        let mut cache = self.lock();
        if cache.bytes + size > MAX_BYTES {
            cache.entries.clear();
            cache.bytes = 0;
        }
        let by_sql = cache.entries.entry(plugin.name().to_owned()).or_default();
        if by_sql.insert(sql.to_owned(), verdict.clone()).is_none() {
            cache.bytes += size;
        }
        Ok(verdict)
    }

    /// Verdicts kept, for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.values().map(HashMap::len).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn cached_verdicts_equal_fresh_ones_and_refusals_are_not_kept() {
        let verdicts = Verdicts::default();
        let policy = Policy::default();
        let plugin = Plugin::new("analytics-db").unwrap();
        let other = Plugin::new("quote-db").unwrap();
        let sql = "SELECT id FROM analytics_db__events WHERE n = $1";
        let fresh = policy.check(sql, &plugin, Dialect::Sqlite).unwrap();
        for _ in 0..2 {
            let cached = verdicts
                .check(&policy, sql, &plugin, Dialect::Sqlite)
                .unwrap();
            assert_eq!(format!("{cached:?}"), format!("{fresh:?}"));
        }
        assert_eq!(verdicts.lock().entries.len(), 1);
        // The same text from another plugin is judged for that plugin.
        assert!(
            verdicts
                .check(&policy, sql, &other, Dialect::Sqlite)
                .is_err()
        );
        assert_eq!(verdicts.lock().entries.len(), 1, "refusals are not kept");
    }

    #[test]
    fn the_cache_starts_over_when_full() {
        let verdicts = Verdicts::default();
        let policy = Policy::default();
        let plugin = Plugin::new("analytics-db").unwrap();
        let padding = "x".repeat(64 * 1024);
        for i in 0..100 {
            let sql = format!("SELECT {i} AS n, '{padding}' AS pad");
            verdicts
                .check(&policy, &sql, &plugin, Dialect::Sqlite)
                .unwrap();
            assert!(verdicts.lock().bytes <= MAX_BYTES);
        }
        assert!(verdicts.len() < 100);
    }
}
