//! Any bytes, as PostgreSQL-dialect SQL, through the policy: it must never panic, and
//! whatever it accepts must name only the plugin's tables.
//!
//! `cargo +nightly fuzz run policy_postgres -- -dict=fuzz/dict/sql.dict`, or scripts/fuzz.sh.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sql_core::Dialect;

#[path = "../policy_target.rs"]
mod policy_target;

fuzz_target!(|data: &[u8]| policy_target::run(data, Dialect::Postgres));
