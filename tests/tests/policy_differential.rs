//! The SQL policy against SQLite itself: every statement the policy accepts for the
//! plugin `analytics-db` is prepared on a real SQLite database whose authorizer records
//! what the statement touches, and must touch only the plugin's tables and call only
//! allowed functions (`policy_differential/oracle.rs` says how and what else it checks).
//!
//! The statements come from a deterministic grammar (`policy_differential/generator.rs`)
//! built to be accepted, plus the seed corpora of the fuzz targets in `fuzz/corpus/`. The
//! `policy_vs_sqlite` fuzz target runs the same oracle on the fuzzer's inputs, so both
//! files are shared with `fuzz/` by path and must stay free of anything only one of the
//! two crates has.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test set-up: a failure should stop the test loudly"
)]

// A test's crate root looks for modules beside itself, where Cargo would take a folder
// for a test of its own; the folder named after the test keeps them together.
#[path = "policy_differential/generator.rs"]
mod generator;
#[path = "policy_differential/oracle.rs"]
mod oracle;

use std::path::{Path, PathBuf};

use generator::{ByteChoices, Choices};
use oracle::{Checked, Oracle};
use sql_core::{Dialect, Plugin, check};

/// Generated statements per run: enough for well over a thousand accepted ones, few
/// enough for a debug build to finish in seconds.
const STATEMENTS: usize = 4_000;

/// The generator's seed. Any change of the grammar changes the statements too; a failure
/// names the case number, which reproduces with the same seed.
const SEED: u64 = 0x5DEE_CE66_D1CE_4E5B;

/// Most failures printed in full; the count says how many there were.
const FAILURES_SHOWN: usize = 10;

/// A small deterministic generator (xorshift64), so that every run checks the same
/// statements.
struct XorShift(u64);

impl Choices for XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// What happened to the statements of one run.
#[derive(Debug, Default)]
struct Tally {
    checked: usize,
    accepted: usize,
    prepared: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Checks `sql` with the policy and, when accepted, with the oracle.
    fn run(&mut self, oracle: &mut Oracle, plugin: &Plugin, origin: &str, sql: &str) {
        self.checked += 1;
        let Ok(verdict) = check(sql, plugin, Dialect::Sqlite) else {
            return;
        };
        self.accepted += 1;
        match oracle.check(sql, &verdict) {
            Ok(Checked::Prepared) => self.prepared += 1,
            Ok(Checked::NotPrepared) => {}
            Err(violation) => self.failures.push(format!(
                "{origin}: the policy accepted\n  {sql}\n{violation}"
            )),
        }
    }
}

/// The seed files of the policy fuzz targets: `seed-*` files, SQL text, or for
/// `policy_vs_sqlite` a 0xFF byte and the generator's decisions.
fn seed_statements() -> Vec<(String, String)> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut files: Vec<PathBuf> = ["policy_sqlite", "policy_postgres", "policy_vs_sqlite"]
        .iter()
        .flat_map(|target| std::fs::read_dir(corpus.join(target)).into_iter().flatten())
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("seed-"))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let sql = match bytes.split_first() {
                Some((0xFF, decisions)) => {
                    Some(generator::statement(&mut ByteChoices::new(decisions)))
                }
                _ => String::from_utf8(bytes).ok(),
            };
            sql.map(|sql| (path.display().to_string(), sql))
        })
        .collect()
}

#[test]
fn statements_the_policy_accepts_touch_only_the_plugins_objects_in_sqlite() {
    let plugin = Plugin::new("analytics-db").unwrap();
    let mut oracle = Oracle::new(plugin.clone()).unwrap();
    let mut tally = Tally::default();
    let mut rng = XorShift(SEED);
    for case in 0..STATEMENTS {
        let sql = generator::statement(&mut rng);
        tally.run(&mut oracle, &plugin, &format!("case {case}"), &sql);
    }
    let generated = tally.accepted;
    let seeds = seed_statements();
    for (origin, sql) in &seeds {
        tally.run(&mut oracle, &plugin, origin, sql);
    }
    println!(
        "checked {} statements ({STATEMENTS} generated, {} seeds): {} accepted ({generated} generated), {} of those prepared",
        tally.checked,
        seeds.len(),
        tally.accepted,
        tally.prepared
    );
    let shown: Vec<&String> = tally.failures.iter().take(FAILURES_SHOWN).collect();
    assert!(
        tally.failures.is_empty(),
        "{} accepted statements break the policy's promise in SQLite; the first ones:\n\n{}",
        tally.failures.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    // A grammar drifting away from what the policy accepts or SQLite prepares would make
    // this test pass without checking anything.
    assert!(
        generated > 1_000,
        "only {generated} generated statements were accepted"
    );
    assert!(
        tally.prepared * 4 > tally.accepted * 3,
        "only {} of {} accepted statements prepared",
        tally.prepared,
        tally.accepted
    );
    assert!(!seeds.is_empty(), "no seed files under fuzz/corpus");
}
