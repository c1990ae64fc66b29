//! Each plugin's PostgreSQL role, which owns the plugin's tables and nothing else. Every
//! request runs under it (`SET LOCAL ROLE`), so a statement the policy wrongly let through
//! still cannot touch another plugin's tables.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use sql_core::Plugin;

/// The role of plugins that have no role yet (no migrations): it owns and may use no
/// table. Plugin names never contain `__`, so no plugin's role can be this one.
pub(super) const NOBODY: &str = "sqlh__nobody";

/// PostgreSQL's limit on identifier length, in bytes.
const MAX_IDENTIFIER: usize = 63;

/// How long the absence of a plugin's role is remembered: a replica that just migrated it
/// may have created it.
const MISSING_FOR: Duration = Duration::from_secs(5);

/// Hex digits of SHA-256 kept in a shortened role name: 128 bits, so no two plugin names
/// can be made to share a role.
const HASH_HEX: usize = 32;

/// The role name of `plugin`: `sqlh_<plugin>`, or past 63 bytes the name's start, `_` and
/// 128 bits of its SHA-256. Plugin names hold no `_`, so a shortened name can never equal
/// an unshortened one.
pub(super) fn role_name(plugin: &Plugin) -> String {
    let name = format!("sqlh_{}", plugin.name());
    if name.len() <= MAX_IDENTIFIER {
        return name;
    }
    let hash = Sha256::digest(plugin.name().as_bytes());
    let hex: String = hash
        .iter()
        .take(HASH_HEX / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    // Plugin names are ASCII, so any byte index is a char boundary.
    format!("{}_{hex}", &name[..MAX_IDENTIFIER - HASH_HEX - 1])
}

/// `name` as a quoted SQL identifier.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Which plugins' roles exist, learned from `pg_roles` as requests arrive.
#[derive(Debug, Default)]
pub(super) struct Roles {
    known: Mutex<HashMap<String, Known>>,
}

#[derive(Debug, Clone, Copy)]
enum Known {
    Exists,
    MissingSince(Instant),
}

impl Roles {
    /// Notes that `plugin`'s role exists (the migration runner created it).
    pub(super) fn insert(&self, plugin: &Plugin) {
        self.lock().insert(plugin.name().to_owned(), Known::Exists);
    }

    /// The role to run `plugin`'s request under: its own, or [`NOBODY`].
    pub(super) async fn for_plugin(
        &self,
        client: &deadpool_postgres::Client,
        plugin: &Plugin,
    ) -> Result<String, tokio_postgres::Error> {
        let role = role_name(plugin);
        let now = Instant::now();
        match self.lock().get(plugin.name()).copied() {
            Some(Known::Exists) => return Ok(role),
            Some(Known::MissingSince(at)) if now.saturating_duration_since(at) < MISSING_FOR => {
                return Ok(NOBODY.to_owned());
            }
            _ => {}
        }
        let statement = client
            .prepare_cached("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1")
            .await?;
        let exists = client.query_opt(&statement, &[&role]).await?.is_some();
        let mut known = self.lock();
        // Senders choose subjects: do not let unknown plugins grow the map without bound.
        if known.len() > 4096 {
            known.retain(|_, k| matches!(k, Known::Exists));
        }
        if exists {
            known.insert(plugin.name().to_owned(), Known::Exists);
            Ok(role)
        } else {
            known.insert(plugin.name().to_owned(), Known::MissingSince(now));
            Ok(NOBODY.to_owned())
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn role_names_fit_and_stay_distinct() {
        let short = Plugin::new("analytics-db").unwrap();
        assert_eq!(role_name(&short), "sqlh_analytics-db");
        let a = Plugin::new(&"a".repeat(64)).unwrap();
        let b = Plugin::new(&format!("{}b", "a".repeat(63))).unwrap();
        assert_eq!(role_name(&a).len(), MAX_IDENTIFIER);
        assert_ne!(role_name(&a), role_name(&b));
        // The longest name that is not shortened, and the shortest that is.
        let longest = Plugin::new(&"c".repeat(MAX_IDENTIFIER - 5)).unwrap();
        assert_eq!(role_name(&longest), format!("sqlh_{}", longest.name()));
        let shortened = Plugin::new(&"c".repeat(MAX_IDENTIFIER - 4)).unwrap();
        assert_ne!(role_name(&shortened), role_name(&longest));
        assert!(role_name(&shortened)[5..].contains('_'));
        assert_eq!(quoted("sqlh_a-b"), "\"sqlh_a-b\"");
    }
}
