//! What a crate declares about its queries, once, in its `Cargo.toml`:
//!
//! ```toml
//! [package.metadata.sql-client]
//! plugin = "analytics-db"
//! dialect = "postgres"          # default "sqlite"; a call's `dialect = ...` wins
//! migrations = "db/migrations"  # default "migrations": the folder that holds <plugin>/
//! ```
//!
//! read once per compiler process and cached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The crate's `[package.metadata.sql-client]` table.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    /// The crate's folder (`CARGO_MANIFEST_DIR`).
    pub(crate) dir: PathBuf,
    /// Its `Cargo.toml`, which the expansion makes the compiler track.
    pub(crate) manifest: PathBuf,
    pub(crate) plugin: Option<String>,
    pub(crate) dialect: Option<String>,
    /// The folder holding `<plugin>/`, relative to `dir`, when set.
    pub(crate) migrations: Option<String>,
}

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
        .or_insert_with(|| read(&dir))
        .clone()
}

fn read(dir: &Path) -> Result<Metadata, String> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("cannot parse {}: {e}", manifest.display()))?;
    let section = table
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("sql-client"));
    let string = |key: &str| match section.and_then(|s| s.get(key)) {
        None => Ok(None),
        Some(toml::Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(format!(
            "[package.metadata.sql-client] {key} in {} must be a string",
            manifest.display()
        )),
    };
    Ok(Metadata {
        plugin: string("plugin")?,
        dialect: string("dialect")?,
        migrations: string("migrations")?,
        dir: dir.to_owned(),
        manifest,
    })
}
