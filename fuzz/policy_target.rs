//! The body of the `policy_sqlite` and `policy_postgres` targets.

use std::sync::LazyLock;

use sql_core::{Dialect, Plugin, TableOwner, check};

/// The plugin every input is checked for, made once: the fuzzer runs millions of inputs.
static PLUGIN: LazyLock<Plugin> = LazyLock::new(|| match Plugin::new("analytics-db") {
    Ok(plugin) => plugin,
    Err(err) => panic!("analytics-db is a valid plugin name: {err}"),
});

/// Checks `data` as SQL of `dialect`; a panic (in the policy or here) is the finding.
pub(crate) fn run(data: &[u8], dialect: Dialect) {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(verdict) = check(sql, &PLUGIN, dialect) else {
        return;
    };
    for table in verdict.tables() {
        assert_eq!(
            PLUGIN.owner_of(table),
            TableOwner::Plugin,
            "{dialect:?}: the verdict lists {table}, which is not the plugin's, for {sql:?}"
        );
    }
}
