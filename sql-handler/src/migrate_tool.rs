//! `sql-handler migrate status | check | new`: the migrations of `--migrations`, looked at
//! without serving. Every command reads the folders with the handler's own rules
//! (`crate::migrations`), so what it reports is what a start would do.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sql_core::{Dialect, Plugin, Policy};

use crate::config::{Config, DatabaseUrl, DatabaseUrlError, MigrateCommand, SqliteSynchronous};
use crate::engine::{Applied, OpenError};
use crate::migrations::{self, Migration, MigrationError};

/// Why a migrate command could not run, or what it found wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// `--database` names nothing this handler serves.
    #[error(transparent)]
    Database(#[from] DatabaseUrlError),
    /// A migrations folder or file is invalid, or a check refused a migration.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// The database could not be read.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// `migrate new` was given no folder, or a plugin or name that breaks the rules.
    #[error("{0}")]
    Usage(String),
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What a command printed, and whether it found everything in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The text for standard output.
    pub text: String,
    /// False when the command found a problem (a changed or missing migration): the
    /// process then exits non-zero.
    pub ok: bool,
}

/// Runs `command` with `config`'s database and migrations folders.
///
/// # Errors
///
/// [`MigrateError`] when the command cannot run or, for `check`, a migration is invalid.
///
/// # Examples
///
/// ```
/// use clap::Parser;
/// use sql_handler::{Command, Config, migrate_tool};
///
/// let dir = std::env::temp_dir().join(format!("sql-handler-doc-{}", std::process::id()));
/// let folder = dir.join("migrations");
/// let config = Config::try_parse_from([
///     "sql-handler", "migrate", "new", "analytics-db", "init", "--migrations",
///     folder.to_str().unwrap(),
/// ])?;
/// let Some(Command::Migrate(command)) = config.subcommand() else { unreachable!() };
/// let report = migrate_tool::run(&config, command)?;
/// assert!(report.text.contains("analytics-db/001_init.sql"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run(config: &Config, command: &MigrateCommand) -> Result<Report, MigrateError> {
    match command {
        MigrateCommand::Status => status(config),
        MigrateCommand::Check => check(config),
        MigrateCommand::New { plugin, name } => new(config, plugin, name),
    }
}

/// How one migration stands against the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Applied,
    Pending,
    /// Applied with another checksum: the file changed since.
    Changed,
    /// Applied, but its file is gone.
    Missing,
}

impl Standing {
    fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Pending => "pending",
            Self::Changed => "changed",
            Self::Missing => "missing",
        }
    }
}

fn status(config: &Config) -> Result<Report, MigrateError> {
    let database = config.database()?;
    let dialect = database.dialect();
    let found = migrations::discover_all(config.migrations(), dialect)?;
    let applied = match &database {
        DatabaseUrl::Sqlite(path) => crate::engine::sqlite::applied_migrations(path)?,
        #[cfg(feature = "postgres")]
        DatabaseUrl::Postgres(url) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| MigrateError::Usage(format!("cannot start the async runtime: {e}")))?;
            runtime.block_on(crate::engine::postgres::applied_migrations(
                url,
                config.postgres_ca_file(),
            ))?
        }
    };
    Ok(status_report(&found, &applied))
}

/// Each plugin's migrations, files and records together, in version order.
fn status_report(found: &[Migration], applied: &[Applied]) -> Report {
    let mut rows: BTreeMap<(String, u32), (String, Standing)> = BTreeMap::new();
    let recorded: BTreeMap<(&str, u32), &Applied> = applied
        .iter()
        .map(|a| ((a.plugin.as_str(), a.version), a))
        .collect();
    for migration in found {
        let key = (migration.plugin.name(), migration.version);
        let standing = match recorded.get(&key) {
            None => Standing::Pending,
            Some(a) if a.checksum == migration.checksum => Standing::Applied,
            Some(_) => Standing::Changed,
        };
        rows.insert(
            (migration.plugin.name().to_owned(), migration.version),
            (migration.label(), standing),
        );
    }
    for a in applied {
        rows.entry((a.plugin.clone(), a.version))
            .or_insert_with(|| {
                (
                    format!("{}/{:03}_{}.sql", a.plugin, a.version, a.name),
                    Standing::Missing,
                )
            });
    }
    let mut text = String::new();
    let mut counts = [0usize; 4];
    for (label, standing) in rows.values() {
        counts[*standing as usize] += 1;
        let _ = writeln!(text, "{:<8} {label}", standing.as_str());
    }
    let [applied, pending, changed, missing] = counts;
    let _ = writeln!(
        text,
        "{applied} applied, {pending} pending, {changed} changed, {missing} missing"
    );
    if changed + missing > 0 {
        let _ = writeln!(
            text,
            "the handler refuses to start while a migration is changed or missing"
        );
    }
    Report {
        text,
        ok: changed + missing == 0,
    }
}

fn check(config: &Config) -> Result<Report, MigrateError> {
    let mut text = String::new();
    let policy = Arc::new(Policy::default().with_functions(config.allow_functions()));
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let found = migrations::discover_all(config.migrations(), dialect)?;
        // The schema model `sql!` builds: what it cannot follow stops a start too.
        migrations::check_model(&found, dialect)?;
        let mut checks = "the schema model";
        if dialect == Dialect::Sqlite {
            // The engine's own guard (tables of the plugin's prefix only, no PRAGMA, ...)
            // on a database made for this check alone.
            apply_to_scratch(&found, policy.clone())?;
            checks = "the schema model and the engine's guard";
        }
        let plugins = found
            .iter()
            .map(|m| m.plugin.name())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let _ = writeln!(
            text,
            "{:?}: {} migrations of {plugins} plugins pass {checks}",
            dialect,
            found.len()
        );
    }
    Ok(Report { text, ok: true })
}

/// Applies `found` to a fresh SQLite database that is removed afterwards.
fn apply_to_scratch(found: &[Migration], policy: Arc<Policy>) -> Result<(), MigrateError> {
    let dir = std::env::temp_dir().join(format!(
        "sql-handler-migrate-check-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).map_err(|source| MigrateError::Write {
        path: dir.clone(),
        source,
    })?;
    let opened = crate::engine::sqlite::SqliteEngine::open(
        &dir.join("check.db"),
        (1, SqliteSynchronous::Normal),
        policy,
        found,
    );
    let _ = std::fs::remove_dir_all(&dir);
    opened.map(drop).map_err(|e| match e {
        OpenError::Migration(e) => MigrateError::Migration(e),
        other => MigrateError::Open(other),
    })
}

fn new(config: &Config, plugin: &str, name: &str) -> Result<Report, MigrateError> {
    let Some(folder) = config.migrations().first() else {
        return Err(MigrateError::Usage(
            "migrate new writes into the first --migrations folder; give one".to_owned(),
        ));
    };
    let plugin = Plugin::new(plugin).map_err(|e| MigrateError::Usage(e.to_string()))?;
    if sql_core::migration_file_name(&format!("1_{name}.sql")).is_none() {
        return Err(MigrateError::Usage(format!(
            "'{name}' cannot name a migration: use a-z, 0-9 and '_', such as add_score"
        )));
    }
    let dir = folder.join(plugin.name());
    let last = last_version(folder, &plugin)?;
    let path = dir.join(format!("{:03}_{name}.sql", last + 1));
    std::fs::create_dir_all(&dir).map_err(|source| MigrateError::Write {
        path: dir.clone(),
        source,
    })?;
    let body = format!(
        "-- {}: {name}. Tables start with {}; applied once, in version order.\n",
        plugin.name(),
        plugin.table_prefix()
    );
    write_new(&path, &body)?;
    Ok(Report {
        text: format!("{}\n", path.display()),
        ok: true,
    })
}

/// The highest version of `plugin` in `folder`, for either backend; 0 when none.
fn last_version(folder: &Path, plugin: &Plugin) -> Result<u32, MigrateError> {
    if !folder.join(plugin.name()).is_dir() {
        return Ok(0);
    }
    let mut last = 0;
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        for migration in migrations::discover(folder, dialect)? {
            if migration.plugin == *plugin {
                last = last.max(migration.version);
            }
        }
    }
    Ok(last)
}

fn write_new(path: &Path, body: &str) -> Result<(), MigrateError> {
    use std::io::Write as _;
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        file.write_all(body.as_bytes())
    };
    write().map_err(|source| MigrateError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use clap::Parser;

    use super::*;
    use crate::config::Command;

    fn run_args(args: &[&str]) -> Result<Report, MigrateError> {
        let config =
            Config::try_parse_from(std::iter::once("sql-handler").chain(args.iter().copied()))
                .unwrap();
        let Some(Command::Migrate(command)) = config.subcommand() else {
            panic!("not a migrate command: {args:?}")
        };
        run(&config, command)
    }

    /// A temporary folder holding `migrations/analytics-db/001_init.sql` with `sql`: the
    /// folder's guard, the migrations folder and the plugin's.
    fn one_migration(sql: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("migrations");
        let plugin = folder.join("analytics-db");
        std::fs::create_dir_all(&plugin).unwrap();
        std::fs::write(plugin.join("001_init.sql"), sql).unwrap();
        (dir, folder, plugin)
    }

    #[test]
    fn new_numbers_files_after_either_backends_last() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("migrations");
        let folder_arg = folder.to_str().unwrap();
        let first = run_args(&[
            "migrate",
            "new",
            "analytics-db",
            "init",
            "--migrations",
            folder_arg,
        ])
        .unwrap();
        assert!(
            first.text.trim().ends_with("analytics-db/001_init.sql"),
            "{}",
            first.text
        );
        std::fs::create_dir_all(folder.join("analytics-db/postgres")).unwrap();
        std::fs::write(folder.join("analytics-db/postgres/007_pg_only.sql"), "").unwrap();
        let next = run_args(&[
            "migrate",
            "new",
            "analytics-db",
            "add_score",
            "--migrations",
            folder_arg,
        ])
        .unwrap();
        assert!(
            next.text.trim().ends_with("analytics-db/008_add_score.sql"),
            "{}",
            next.text
        );
        let written =
            std::fs::read_to_string(folder.join("analytics-db/008_add_score.sql")).unwrap();
        assert!(written.contains("analytics_db__"), "{written}");
        for (plugin, name) in [("analytics_db", "x"), ("analytics-db", "Add-Score")] {
            assert!(matches!(
                run_args(&["migrate", "new", plugin, name, "--migrations", folder_arg]),
                Err(MigrateError::Usage(_))
            ));
        }
        assert!(matches!(
            run_args(&["migrate", "new", "analytics-db", "x"]),
            Err(MigrateError::Usage(_))
        ));
    }

    #[test]
    fn check_passes_good_folders_and_names_the_bad_file() {
        let (_dir, folder, plugin) = one_migration(
            "CREATE TABLE analytics_db__events (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        );
        std::fs::write(plugin.join("README.md"), "# not a migration").unwrap();
        let folder_arg = folder.to_str().unwrap();
        let report = run_args(&["migrate", "check", "--migrations", folder_arg]).unwrap();
        assert!(report.ok);
        assert!(
            report
                .text
                .contains("Sqlite: 1 migrations of 1 plugins pass"),
            "{}",
            report.text
        );
        assert!(
            report.text.contains("Postgres: 1 migrations"),
            "{}",
            report.text
        );

        std::fs::write(
            plugin.join("002_foreign.sql"),
            "CREATE TABLE quote_db__stolen (id INTEGER);",
        )
        .unwrap();
        let err = run_args(&["migrate", "check", "--migrations", folder_arg]).unwrap_err();
        assert!(err.to_string().contains("002_foreign.sql"), "{err}");
    }

    #[test]
    fn status_compares_files_with_the_database() {
        let (dir, folder, plugin) = one_migration("CREATE TABLE analytics_db__a (id INTEGER);");
        let db = dir.path().join("app.db");
        let database = format!("sqlite://{}", db.display());
        let folder_arg = folder.to_str().unwrap();
        let args = [
            "migrate",
            "status",
            "--migrations",
            folder_arg,
            "--database",
            &database,
        ];
        // Nothing applied yet: no database file, which status does not create.
        let report = run_args(&args).unwrap();
        assert!(
            report.text.contains("pending  analytics-db/001_init.sql"),
            "{}",
            report.text
        );
        assert!(!db.exists());

        let found = migrations::discover(&folder, Dialect::Sqlite).unwrap();
        drop(
            crate::engine::sqlite::SqliteEngine::open(
                &db,
                (1, SqliteSynchronous::Normal),
                Arc::new(Policy::default()),
                &found,
            )
            .unwrap(),
        );
        std::fs::write(
            plugin.join("002_more.sql"),
            "CREATE TABLE analytics_db__b (id INTEGER);",
        )
        .unwrap();
        let report = run_args(&args).unwrap();
        assert!(report.ok);
        assert!(
            report.text.contains("applied  analytics-db/001_init.sql"),
            "{}",
            report.text
        );
        assert!(
            report.text.contains("pending  analytics-db/002_more.sql"),
            "{}",
            report.text
        );
        assert!(
            report
                .text
                .contains("1 applied, 1 pending, 0 changed, 0 missing"),
            "{}",
            report.text
        );

        std::fs::write(
            plugin.join("001_init.sql"),
            "CREATE TABLE analytics_db__a (id TEXT);",
        )
        .unwrap();
        std::fs::remove_file(plugin.join("002_more.sql")).unwrap();
        let report = run_args(&args).unwrap();
        assert!(!report.ok);
        assert!(
            report.text.contains("changed  analytics-db/001_init.sql"),
            "{}",
            report.text
        );
    }
}
