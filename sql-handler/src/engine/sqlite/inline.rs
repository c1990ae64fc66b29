//! Which reads run on the request's own thread instead of the blocking pool.
//!
//! Handing a statement to another thread and its result back costs two thread wake-ups,
//! more than a point query takes in SQLite (about 5 µs). A read can run in place when it
//! cannot hold the thread long: SQLite's progress handler stops it between steps at a
//! budget of [`BUDGET`], and a single step is short when the statement calls only
//! functions that are (`guard::STEP_BOUNDED_FUNCTIONS`, seen by the authorizer, views
//! included). A read that reaches the budget is run again from the start in the blocking
//! pool, with its full deadline: it wrote nothing and returned nothing yet.
//!
//! What a statement calls is only known once it has been prepared under a guard, so each
//! statement's first run is in the pool, and what its guard saw is remembered here for the
//! schema version it was prepared against. Writes always go to the pool.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long a read may run in place before it moves to the blocking pool.
pub(crate) const BUDGET: Duration = Duration::from_millis(1);

/// Statements remembered at most; past it, new ones always run in the pool. Plugins' queries
/// are fixed strings in their code, so a handler sees far fewer.
const REMEMBERED: usize = 8192;

/// What the first runs of each statement showed, by cache key (plugin and text).
#[derive(Debug, Default)]
pub(crate) struct InlineReads {
    seen: Mutex<HashMap<String, Seen>>,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    schema_version: i64,
    bounded_steps: bool,
}

impl InlineReads {
    /// Whether the statement of `key` may run in place against `schema_version`.
    pub(crate) fn allows(&self, key: &str, schema_version: i64) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .is_some_and(|seen| seen.bounded_steps && seen.schema_version == schema_version)
    }

    /// Records what preparing the statement of `key` against `schema_version` showed.
    pub(crate) fn record(&self, key: &str, schema_version: i64, bounded_steps: bool) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() < REMEMBERED || seen.contains_key(key) {
            seen.insert(
                key.to_owned(),
                Seen {
                    schema_version,
                    bounded_steps,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_statement_seen_bounded_against_the_same_schema_runs_in_place() {
        let reads = InlineReads::default();
        assert!(!reads.allows("a", 1), "never seen");
        reads.record("a", 1, true);
        reads.record("b", 1, false);
        assert!(reads.allows("a", 1));
        assert!(!reads.allows("b", 1), "calls an unbounded function");
        assert!(!reads.allows("a", 2), "the schema changed since");
    }
}
