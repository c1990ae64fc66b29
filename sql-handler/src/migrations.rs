//! Per-plugin migrations: `<dir>/<plugin>/NNN_name.sql`, applied once each, in order, at
//! start. They are how plugins get tables, since requests may not run DDL.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sql_core::{Dialect, Plugin, PluginNameError, Schema};

/// One migration file.
#[derive(Debug, Clone)]
pub(crate) struct Migration {
    pub(crate) plugin: Plugin,
    pub(crate) version: u32,
    pub(crate) name: String,
    pub(crate) sql: String,
    pub(crate) checksum: String,
}

impl Migration {
    /// `<plugin>/<file name>`, for messages.
    pub(crate) fn label(&self) -> String {
        format!("{}/{:03}_{}.sql", self.plugin, self.version, self.name)
    }
}

/// Why migrations could not be read or applied. The handler refuses to start on any of
/// these, naming the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The folder or a file could not be read.
    #[error("cannot read migrations at {path}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A sub-folder's name is not a valid plugin name.
    #[error("migration folder {path} is not named after a valid plugin")]
    BadPluginFolder {
        /// The folder.
        path: PathBuf,
        /// Why the name is invalid.
        #[source]
        source: PluginNameError,
    },
    /// A file's name does not have the form `NNN_name.sql`.
    #[error(
        "migration file {path} must be named NNN_name.sql (digits, '_', then a name of a-z, 0-9 and '_')"
    )]
    BadFileName {
        /// The file.
        path: PathBuf,
    },
    /// Two files of one plugin share a version number.
    #[error("plugin {plugin} has two migrations numbered {version}")]
    DuplicateVersion {
        /// The plugin.
        plugin: String,
        /// The shared version.
        version: u32,
    },
    /// A migration touches something outside its plugin's prefix, or uses a statement
    /// migrations may not run (PRAGMA, ATTACH, transaction control).
    #[error("migration {migration} was refused: {reason}")]
    Refused {
        /// `<plugin>/<file>`.
        migration: String,
        /// What it touched and what it may touch.
        reason: String,
    },
    /// A migration failed in the database.
    #[error("migration {migration} failed: {message}")]
    Failed {
        /// `<plugin>/<file>`.
        migration: String,
        /// The database's message.
        message: String,
    },
    /// A migration the schema model of `sql!` cannot follow, or that does not fit the
    /// tables its plugin's earlier migrations made.
    #[error("migration {migration}, line {line}: {message}")]
    Unmodelled {
        /// `<plugin>/<file>`.
        migration: String,
        /// The line of the statement.
        line: u64,
        /// What the model cannot follow.
        message: String,
    },
    /// An applied migration's file has changed since.
    #[error("migration {migration} was changed after it was applied; add a new migration instead")]
    Changed {
        /// `<plugin>/<file>`.
        migration: String,
    },
}

/// Reads every migration of several folders (one per plugin repository, say), as
/// [`discover`] reads one: a plugin's files may be spread over them, but each version is
/// used once.
///
/// # Errors
///
/// As [`discover`]; [`MigrationError::DuplicateVersion`] for a version found twice.
pub(crate) fn discover_all(
    dirs: &[std::path::PathBuf],
    dialect: Dialect,
) -> Result<Vec<Migration>, MigrationError> {
    let mut found = BTreeMap::new();
    for dir in dirs {
        for migration in discover(dir, dialect)? {
            let key = (migration.plugin.name().to_owned(), migration.version);
            if let Some(earlier) = found.insert(key, migration) {
                return Err(MigrationError::DuplicateVersion {
                    plugin: earlier.plugin.name().to_owned(),
                    version: earlier.version,
                });
            }
        }
    }
    Ok(found.into_values().collect())
}

/// Reads every migration below `dir` for a `dialect` backend, sorted by plugin, then
/// version: `<dir>/<plugin>/NNN_name.sql`, and `<dir>/<plugin>/<sqlite|postgres>/NNN_name.sql`
/// for one backend only (the layout `sql!` reads too).
///
/// # Errors
///
/// [`MigrationError`] for an unreadable folder, a badly named folder or file, or a
/// duplicate version.
pub(crate) fn discover(dir: &Path, dialect: Dialect) -> Result<Vec<Migration>, MigrationError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| MigrationError::Io { path, source }
    };
    let mut found = BTreeMap::new();
    let mut folders: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(dir))?;
    folders.sort_by_key(fs::DirEntry::file_name);
    for folder in folders {
        let path = folder.path();
        if !path.is_dir() {
            continue;
        }
        let name = folder.file_name().to_string_lossy().into_owned();
        let plugin = Plugin::new(&name).map_err(|source| MigrationError::BadPluginFolder {
            path: path.clone(),
            source,
        })?;
        // Portable files in the plugin's folder, and those of this backend's subfolder.
        let mut files = Vec::new();
        for entry in fs::read_dir(&path).map_err(io(&path))? {
            let file = entry.map_err(io(&path))?.path();
            let folder_name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            match sql_core::migration_folder_dialect(folder_name) {
                Some(folder_dialect) if file.is_dir() => {
                    if folder_dialect == dialect {
                        for inner in fs::read_dir(&file).map_err(io(&file))? {
                            files.push(inner.map_err(io(&file))?.path());
                        }
                    }
                }
                _ => files.push(file),
            }
        }
        // A README, a `.gitkeep`: not migrations (a folder other than sqlite/ and
        // postgres/ still is an error, below).
        files.retain(|file| {
            file.is_dir()
                || file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(sql_core::is_migration_file)
        });
        for file in files {
            let (version, name) = parse_file_name(&file)
                .ok_or_else(|| MigrationError::BadFileName { path: file.clone() })?;
            let sql = fs::read_to_string(&file).map_err(io(&file))?;
            let checksum = Sha256::digest(sql.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let migration = Migration {
                plugin: plugin.clone(),
                version,
                name,
                sql,
                checksum,
            };
            if found
                .insert((plugin.name().to_owned(), version), migration)
                .is_some()
            {
                return Err(MigrationError::DuplicateVersion {
                    plugin: plugin.name().to_owned(),
                    version,
                });
            }
        }
    }
    Ok(found.into_values().collect())
}

/// The version and name of a migration file, by the rule `sql!` reads folders with too.
/// Replays each plugin's migrations, in order, into the schema model `sql!` checks
/// queries against (`sql_core::Schema`).
///
/// # Errors
///
/// [`MigrationError::Unmodelled`] for the first statement the model cannot follow.
pub(crate) fn check_model(
    migrations: &[Migration],
    dialect: Dialect,
) -> Result<(), MigrationError> {
    // `discover` sorts by plugin, then version.
    for plugin_migrations in migrations.chunk_by(|a, b| a.plugin == b.plugin) {
        let labels: Vec<String> = plugin_migrations.iter().map(Migration::label).collect();
        Schema::from_migrations(
            dialect,
            labels
                .iter()
                .zip(plugin_migrations)
                .map(|(label, m)| (label.as_str(), m.sql.as_str())),
        )
        .map_err(|e| MigrationError::Unmodelled {
            migration: e.file().to_owned(),
            line: e.line(),
            message: e.message().to_owned(),
        })?;
    }
    Ok(())
}

fn parse_file_name(path: &Path) -> Option<(u32, String)> {
    let (version, name) = sql_core::migration_file_name(path.file_name()?.to_str()?)?;
    Some((version, name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let cases = [
            ("001_init.sql", Some((1, "init"))),
            ("12_add_index.sql", Some((12, "add_index"))),
            ("001-init.sql", None),
            ("init.sql", None),
            ("001_.sql", None),
            ("001_Init.sql", None),
            ("001_init.txt", None),
            ("x01_init.sql", None),
        ];
        for (file, expected) in cases {
            let parsed = parse_file_name(Path::new(file));
            assert_eq!(parsed, expected.map(|(v, n)| (v, n.to_owned())), "{file}");
        }
    }

    #[test]
    fn discovers_in_order_and_rejects_bad_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("analytics-db");
        fs::create_dir(&plugin).unwrap();
        fs::write(plugin.join("002_more.sql"), "SELECT 2;").unwrap();
        fs::write(plugin.join("001_init.sql"), "SELECT 1;").unwrap();
        let found = discover(dir.path(), Dialect::Sqlite).unwrap();
        let labels: Vec<_> = found.iter().map(Migration::label).collect();
        assert_eq!(
            labels,
            ["analytics-db/001_init.sql", "analytics-db/002_more.sql"]
        );

        fs::write(plugin.join("02_again.sql"), "SELECT 2;").unwrap();
        assert!(matches!(
            discover(dir.path(), Dialect::Sqlite),
            Err(MigrationError::DuplicateVersion { version: 2, .. })
        ));
        fs::remove_file(plugin.join("02_again.sql")).unwrap();

        // Files other than `.sql` are no migrations: passed over, in a backend's folder too.
        fs::write(plugin.join("README.md"), "# notes").unwrap();
        fs::write(plugin.join(".gitkeep"), "").unwrap();
        fs::create_dir(plugin.join("sqlite")).unwrap();
        fs::write(plugin.join("sqlite/NOTES.txt"), "").unwrap();
        assert_eq!(discover(dir.path(), Dialect::Sqlite).unwrap().len(), 2);
        // A `.sql` file badly named is a mistake.
        fs::write(plugin.join("3-more.sql"), "SELECT 3;").unwrap();
        assert!(matches!(
            discover(dir.path(), Dialect::Sqlite),
            Err(MigrationError::BadFileName { .. })
        ));
        fs::remove_file(plugin.join("3-more.sql")).unwrap();
        fs::remove_dir_all(plugin.join("sqlite")).unwrap();

        fs::create_dir(dir.path().join("Bad_Name")).unwrap();
        assert!(matches!(
            discover(dir.path(), Dialect::Sqlite),
            Err(MigrationError::BadPluginFolder { .. })
        ));
        fs::remove_dir(dir.path().join("Bad_Name")).unwrap();

        // The `_` spelling of a plugin would own the tables of the `-` spelling.
        fs::create_dir(dir.path().join("analytics_db")).unwrap();
        assert!(matches!(
            discover(dir.path(), Dialect::Sqlite),
            Err(MigrationError::BadPluginFolder {
                source: PluginNameError::Underscore { .. },
                ..
            })
        ));
    }

    #[test]
    fn several_folders_are_read_together() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        fs::create_dir_all(a.path().join("analytics-db")).unwrap();
        fs::create_dir_all(b.path().join("quote-db")).unwrap();
        fs::create_dir_all(b.path().join("analytics-db")).unwrap();
        fs::write(a.path().join("analytics-db/001_init.sql"), "SELECT 1;").unwrap();
        fs::write(b.path().join("quote-db/001_init.sql"), "SELECT 2;").unwrap();
        fs::write(b.path().join("analytics-db/002_more.sql"), "SELECT 3;").unwrap();
        let dirs = [a.path().to_owned(), b.path().to_owned()];
        let found = discover_all(&dirs, Dialect::Sqlite).unwrap();
        let labels: Vec<_> = found.iter().map(Migration::label).collect();
        assert_eq!(
            labels,
            [
                "analytics-db/001_init.sql",
                "analytics-db/002_more.sql",
                "quote-db/001_init.sql"
            ]
        );
        fs::write(b.path().join("analytics-db/001_again.sql"), "SELECT 4;").unwrap();
        assert!(matches!(
            discover_all(&dirs, Dialect::Sqlite),
            Err(MigrationError::DuplicateVersion { version: 1, .. })
        ));
        assert!(discover_all(&[], Dialect::Sqlite).unwrap().is_empty());
    }

    #[test]
    fn a_backend_reads_the_portable_files_and_its_own_subfolder() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("analytics-db");
        fs::create_dir_all(plugin.join("sqlite")).unwrap();
        fs::create_dir_all(plugin.join("postgres")).unwrap();
        fs::write(plugin.join("001_init.sql"), "SELECT 1;").unwrap();
        fs::write(plugin.join("sqlite/002_ids.sql"), "SELECT 2;").unwrap();
        fs::write(plugin.join("postgres/002_ids.sql"), "SELECT 3;").unwrap();
        fs::write(plugin.join("postgres/003_more.sql"), "SELECT 4;").unwrap();
        let sqls = |dialect| {
            discover(dir.path(), dialect)
                .unwrap()
                .into_iter()
                .map(|m| m.sql)
                .collect::<Vec<_>>()
        };
        assert_eq!(sqls(Dialect::Sqlite), ["SELECT 1;", "SELECT 2;"]);
        assert_eq!(
            sqls(Dialect::Postgres),
            ["SELECT 1;", "SELECT 3;", "SELECT 4;"]
        );
        // A version is used once among a backend's files.
        fs::write(plugin.join("postgres/001_again.sql"), "SELECT 5;").unwrap();
        assert!(matches!(
            discover(dir.path(), Dialect::Postgres),
            Err(MigrationError::DuplicateVersion { version: 1, .. })
        ));
        assert_eq!(sqls(Dialect::Sqlite).len(), 2);
        // Any other folder is a mistake.
        fs::create_dir(plugin.join("mysql")).unwrap();
        assert!(matches!(
            discover(dir.path(), Dialect::Sqlite),
            Err(MigrationError::BadFileName { .. })
        ));
    }
}
