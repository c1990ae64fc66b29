//! Configuration from flags and environment variables.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Parser, ValueEnum};
use sql_core::wire::{DEFAULT_QUEUE_GROUP, DEFAULT_SUBJECT_PREFIX};

/// `sql-handler`: executes plugins' policy-checked SQL received over NATS.
///
/// Every flag can also be set by the environment variable named in its help.
///
/// # Examples
///
/// ```
/// use clap::Parser;
/// use sql_handler::Config;
///
/// let config = Config::try_parse_from(["sql-handler", "--database", "sqlite:///tmp/x.db", "--max-concurrency", "8"])?;
/// assert_eq!(config.max_concurrency(), 8);
/// # Ok::<(), clap::Error>(())
/// ```
#[derive(Debug, Clone, Parser)]
#[command(name = "sql-handler", version, about, long_about = None)]
pub struct Config {
    /// NATS server URL.
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    nats_url: String,

    /// Database URL: `sqlite://PATH` (the embedded default).
    // Kept as text and parsed in `database()`: clap would echo a rejected value, and a
    // database URL may hold a password.
    #[arg(
        long,
        env = "SQL_HANDLER_DATABASE",
        default_value = "sqlite://sql-handler.db",
        hide_env_values = true
    )]
    database: String,

    /// Folder of per-plugin migrations, `<dir>/<plugin>/NNN_name.sql`.
    #[arg(long, env = "SQL_HANDLER_MIGRATIONS")]
    migrations: Option<PathBuf>,

    /// Subject prefix; requests arrive on `<prefix>.<plugin>.execute`.
    #[arg(long, env = "SQL_HANDLER_SUBJECT_PREFIX", default_value = DEFAULT_SUBJECT_PREFIX)]
    subject_prefix: String,

    /// NATS queue group shared by all handler replicas.
    #[arg(long, env = "SQL_HANDLER_QUEUE_GROUP", default_value = DEFAULT_QUEUE_GROUP)]
    queue_group: String,

    /// Most requests executed at once; beyond it requests get `OVERLOADED`.
    #[arg(long, env = "SQL_HANDLER_MAX_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_concurrency: u32,

    /// Read-only SQLite connections; this many reads run in parallel.
    #[arg(long, env = "SQL_HANDLER_SQLITE_READERS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    sqlite_readers: u32,

    /// Extra functions to allow beyond the built-in allowlist (repeat or comma-separate).
    #[arg(
        long = "allow-function",
        env = "SQL_HANDLER_ALLOW_FUNCTIONS",
        value_delimiter = ','
    )]
    allow_functions: Vec<String>,

    /// Log output: `text` for people, `json` for log collectors (one object per line).
    #[arg(long, env = "SQL_HANDLER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

impl Config {
    /// The NATS server URL.
    #[must_use]
    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    /// The database to serve.
    ///
    /// # Errors
    ///
    /// [`DatabaseUrlError`] for a URL this handler cannot serve; the message names only its
    /// scheme.
    pub fn database(&self) -> Result<DatabaseUrl, DatabaseUrlError> {
        self.database.parse()
    }

    /// The migrations folder, when one is configured.
    #[must_use]
    pub fn migrations(&self) -> Option<&std::path::Path> {
        self.migrations.as_deref()
    }

    /// The subject prefix.
    #[must_use]
    pub fn subject_prefix(&self) -> &str {
        &self.subject_prefix
    }

    /// The queue group.
    #[must_use]
    pub fn queue_group(&self) -> &str {
        &self.queue_group
    }

    /// The concurrency cap.
    #[must_use]
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency as usize
    }

    /// The number of SQLite reader connections.
    #[must_use]
    pub fn sqlite_readers(&self) -> usize {
        self.sqlite_readers as usize
    }

    /// Functions added to the allowlist.
    #[must_use]
    pub fn allow_functions(&self) -> &[String] {
        &self.allow_functions
    }

    /// The log format.
    #[must_use]
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the data lives.
///
/// # Examples
///
/// ```
/// use sql_handler::DatabaseUrl;
///
/// let url: DatabaseUrl = "sqlite://data/app.db".parse()?;
/// assert_eq!(url, DatabaseUrl::Sqlite("data/app.db".into()));
/// assert!("mysql://x".parse::<DatabaseUrl>().is_err());
/// # Ok::<(), sql_handler::DatabaseUrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseUrl {
    /// An SQLite file, created when missing.
    Sqlite(PathBuf),
}

/// A database URL this handler cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DatabaseUrlError(String);

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("sqlite://") {
            if path.is_empty() || path == ":memory:" {
                return Err(DatabaseUrlError(
                    "sqlite:// needs a file path (readers and the writer share one database file)"
                        .to_owned(),
                ));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Err(DatabaseUrlError(
                "PostgreSQL is not supported by this build yet; use sqlite://PATH".to_owned(),
            ));
        }
        // Name only the scheme: the rest may hold a password.
        let scheme = s.split_once("://").map_or("(none)", |(scheme, _)| scheme);
        Err(DatabaseUrlError(format!(
            "unsupported database URL scheme {scheme:?}; expected sqlite://PATH"
        )))
    }
}
