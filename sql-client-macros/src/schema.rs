//! The plugin's schema at compile time: its migration files, replayed by `sql-core`'s
//! model exactly as the handler replays them, parsed once per compiler process and again
//! only when a file changes (an IDE's long-lived macro server sees edits too).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use sql_core::{Dialect, Schema};

use crate::manifest::Metadata;

/// A plugin's schema and the files it came from.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) schema: Schema,
    /// The folder, relative to the crate, for messages (`migrations/analytics-db`).
    pub(crate) folder: String,
    pub(crate) files: Vec<PathBuf>,
}

/// What a folder looked like when it was read: a changed file changes this.
type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

type Cache = HashMap<(PathBuf, Dialect), (Fingerprint, Result<Arc<Loaded>, String>)>;

/// The schema of `plugin` for `dialect`, or `None` when the crate has no migrations for it
/// (then `sql!` checks what it checks without a schema).
pub(crate) fn load(
    metadata: &Metadata,
    plugin: &str,
    dialect: Dialect,
) -> Result<Option<Arc<Loaded>>, String> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let root_name = metadata
        .migrations
        .as_deref()
        .unwrap_or(sql_core::manifest::DEFAULT_MIGRATIONS);
    let folder = metadata.migrations_root().join(plugin);
    if !folder.is_dir() {
        return match &metadata.migrations {
            // Named explicitly: a missing folder is a mistake worth reporting.
            Some(_) => Err(format!(
                "[package.metadata.sql-client] migrations = {root_name:?}, but {} is not a folder; it must hold one folder per plugin ({root_name}/{plugin}/NNN_name.sql)",
                folder.display()
            )),
            None => Ok(None),
        };
    }
    let files = list(&folder, dialect)?;
    let fingerprint: Fingerprint = files
        .iter()
        .map(|(_, path)| {
            let meta = std::fs::metadata(path).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            (path.clone(), modified, meta.map_or(0, |m| m.len()))
        })
        .collect();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    let key = (folder.clone(), dialect);
    if let Some((seen, loaded)) = cache.get(&key)
        && *seen == fingerprint
    {
        return loaded.clone().map(Some);
    }
    let relative = format!("{root_name}/{plugin}");
    let loaded = replay(&folder, &relative, &files, dialect).map(Arc::new);
    cache.insert(key, (fingerprint, loaded.clone()));
    loaded.map(Some)
}

/// The `.sql` files of `folder` and of its `dialect` subfolder (`sqlite/`, `postgres/`), in
/// version order, with the handler's naming rule and layout.
fn list(folder: &Path, dialect: Dialect) -> Result<Vec<(u32, PathBuf)>, String> {
    let read = |dir: &Path| -> Result<Vec<PathBuf>, String> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        entries
            .map(|entry| {
                entry
                    .map(|e| e.path())
                    .map_err(|e| format!("cannot read {}: {e}", dir.display()))
            })
            .collect()
    };
    let mut paths = Vec::new();
    for path in read(folder)? {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match sql_core::migration_folder_dialect(name) {
            Some(own) if path.is_dir() && own == dialect => paths.extend(read(&path)?),
            Some(_) if path.is_dir() => {}
            _ => paths.push(path),
        }
    }
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            return Err(format!(
                "{} is a folder in a plugin's migrations; only sqlite/ and postgres/ may be",
                path.display()
            ));
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // A README, a `.gitkeep`: no migrations, as the handler reads them too.
        if !sql_core::is_migration_file(name) {
            continue;
        }
        let Some((version, _)) = sql_core::migration_file_name(name) else {
            return Err(format!(
                "migration file {} must be named NNN_name.sql (digits, '_', then a name of a-z, 0-9 and '_'), as the handler requires",
                path.display()
            ));
        };
        files.push((version, path));
    }
    files.sort();
    if let Some(pair) = files.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!(
            "two migrations of {} are numbered {}: {} and {}",
            folder.display(),
            pair[0].0,
            pair[0].1.display(),
            pair[1].1.display()
        ));
    }
    Ok(files)
}

fn replay(
    folder: &Path,
    relative: &str,
    files: &[(u32, PathBuf)],
    dialect: Dialect,
) -> Result<Loaded, String> {
    let mut sources = Vec::with_capacity(files.len());
    for (_, path) in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // `001_init.sql`, or `postgres/002_ids.sql` for a backend's own file.
        let name = path
            .strip_prefix(folder)
            .unwrap_or(path)
            .display()
            .to_string();
        sources.push((format!("{relative}/{name}"), text));
    }
    let schema = Schema::from_migrations(
        dialect,
        sources.iter().map(|(label, text)| (label.as_str(), text.as_str())),
    )
    .map_err(|e| {
        format!(
            "migration {}:{} cannot be checked: {}; sql! reads the schema from the plugin's migrations (see docs/queries.md)",
            e.file(),
            e.line(),
            e.message()
        )
    })?;
    Ok(Loaded {
        schema,
        folder: relative.to_owned(),
        files: files.iter().map(|(_, path)| path.clone()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dialect_reads_the_portable_files_and_its_own_subfolder() {
        let root = std::env::temp_dir().join(format!("sql-macros-layout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sqlite")).unwrap();
        std::fs::create_dir_all(root.join("postgres")).unwrap();
        std::fs::write(root.join("001_init.sql"), "").unwrap();
        std::fs::write(root.join("sqlite/002_ids.sql"), "").unwrap();
        std::fs::write(root.join("postgres/002_ids.sql"), "").unwrap();
        std::fs::write(root.join("postgres/003_more.sql"), "").unwrap();
        // Not migrations, as the handler reads them too.
        std::fs::write(root.join("README.md"), "").unwrap();
        std::fs::write(root.join("sqlite/.gitkeep"), "").unwrap();
        let names = |dialect| {
            list(&root, dialect)
                .unwrap()
                .into_iter()
                .map(|(_, p)| p.strip_prefix(&root).unwrap().display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Dialect::Sqlite),
            ["001_init.sql", "sqlite/002_ids.sql"]
        );
        assert_eq!(
            names(Dialect::Postgres),
            [
                "001_init.sql",
                "postgres/002_ids.sql",
                "postgres/003_more.sql"
            ]
        );
        std::fs::write(root.join("postgres/001_again.sql"), "").unwrap();
        assert!(
            list(&root, Dialect::Postgres)
                .unwrap_err()
                .contains("numbered 1")
        );
        std::fs::write(root.join("4-more.sql"), "").unwrap();
        assert!(
            list(&root, Dialect::Sqlite)
                .unwrap_err()
                .contains("NNN_name.sql")
        );
        std::fs::remove_file(root.join("4-more.sql")).unwrap();
        std::fs::create_dir(root.join("mysql")).unwrap();
        assert!(
            list(&root, Dialect::Sqlite)
                .unwrap_err()
                .contains("only sqlite/ and postgres/")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
