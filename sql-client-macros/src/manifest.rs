//! The crate's `[package.metadata.sql-client]` table (`sql_core::manifest`), read once per
//! compiler process and cached.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};

pub(crate) use sql_core::manifest::PackageMetadata as Metadata;

/// The metadata of the crate being compiled.
pub(crate) fn metadata() -> Result<Metadata, String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Result<Metadata, String>>>> = OnceLock::new();
    // Cargo sets this for every crate it compiles; it is how a proc macro finds the
    // manifest of the crate that invokes it.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| "CARGO_MANIFEST_DIR is not set (not built by cargo?)".to_owned())?;
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    cache
        .entry(dir.clone())
        .or_insert_with(|| Metadata::read(&dir).map_err(|e| error_chain(&e)))
        .clone()
}

/// The error and its causes on one line, as a compile error shows them.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
