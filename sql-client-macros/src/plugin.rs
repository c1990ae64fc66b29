//! Which plugin a crate's queries belong to: declared once in its `Cargo.toml`,
//!
//! ```toml
//! [package.metadata.sql-client]
//! plugin = "analytics-db"
//! ```
//!
//! read once per compiler process and cached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The declared plugin, and the manifest it came from (so that the expansion can make the
/// compiler track that file).
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub(crate) plugin: String,
    pub(crate) manifest: PathBuf,
}

const HOW_TO_DECLARE: &str = "declare the plugin once in this crate's Cargo.toml:\n\n    [package.metadata.sql-client]\n    plugin = \"your-plugin\"\n\nor name it in the call: sql!(plugin = \"your-plugin\", \"SELECT ...\")";

/// The plugin declared by the crate being compiled.
pub(crate) fn declared() -> Result<Declared, String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Result<Declared, String>>>> = OnceLock::new();
    // Cargo sets this for every crate it compiles; it is how a proc macro finds the
    // manifest of the crate that invokes it.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| {
            format!("CARGO_MANIFEST_DIR is not set (not built by cargo?); {HOW_TO_DECLARE}")
        })?;
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    cache
        .entry(dir.clone())
        .or_insert_with(|| read(&dir.join("Cargo.toml")))
        .clone()
}

fn read(manifest: &Path) -> Result<Declared, String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("cannot parse {}: {e}", manifest.display()))?;
    let plugin = table
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("sql-client"))
        .and_then(|s| s.get("plugin"));
    match plugin {
        Some(toml::Value::String(name)) => Ok(Declared {
            plugin: name.clone(),
            manifest: manifest.to_owned(),
        }),
        Some(_) => Err(format!(
            "[package.metadata.sql-client] plugin in {} must be a string",
            manifest.display()
        )),
        None => Err(format!(
            "no plugin is declared for this crate; {HOW_TO_DECLARE}"
        )),
    }
}
