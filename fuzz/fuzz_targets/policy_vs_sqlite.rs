//! The differential target: whatever the policy accepts for `analytics-db` in the SQLite
//! dialect is prepared on a real SQLite database, whose authorizer must see only the
//! plugin's tables and allowed functions (tests/tests/policy_differential/oracle.rs).
//!
//! An input is SQL text, or a 0xFF byte (never valid UTF-8 at the start) followed by the
//! decisions of the statement grammar of tests/tests/policy_differential/generator.rs, so
//! that the fuzzer explores statements that parse as well as raw text. The oracle and the
//! grammar are the test's own files, included by path, so the test in CI and this target
//! check the same thing.
//!
//! `cargo +nightly fuzz run policy_vs_sqlite -- -dict=fuzz/dict/sql.dict`, or
//! scripts/fuzz.sh.

#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use sql_core::{Dialect, Plugin, check};

#[path = "../../tests/tests/policy_differential/generator.rs"]
mod generator;
#[path = "../../tests/tests/policy_differential/oracle.rs"]
mod oracle;

use generator::ByteChoices;
use oracle::Oracle;

/// Marks an input as grammar decisions rather than SQL text.
const GRAMMAR: u8 = 0xFF;

thread_local! {
    /// One database for the whole run: building the schema costs more than a check.
    static ORACLE: RefCell<(Plugin, Oracle)> = RefCell::new(setup());
}

fn setup() -> (Plugin, Oracle) {
    let plugin = match Plugin::new("analytics-db") {
        Ok(plugin) => plugin,
        Err(err) => panic!("analytics-db is a valid plugin name: {err}"),
    };
    match Oracle::new(plugin.clone()) {
        Ok(oracle) => (plugin, oracle),
        Err(err) => panic!("the test database does not open: {err}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let sql = match data.split_first() {
        Some((&GRAMMAR, decisions)) => generator::statement(&mut ByteChoices::new(decisions)),
        _ => match std::str::from_utf8(data) {
            Ok(sql) => sql.to_owned(),
            Err(_) => return,
        },
    };
    ORACLE.with_borrow_mut(|(plugin, oracle)| {
        let Ok(verdict) = check(&sql, plugin, Dialect::Sqlite) else {
            return;
        };
        if let Err(violation) = oracle.check(&sql, &verdict) {
            panic!("the policy accepted\n  {sql}\n{violation}");
        }
    });
});
