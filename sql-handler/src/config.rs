//! Configuration from flags, environment variables and an optional TOML file
//! (`crate::config_file`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

pub use crate::config_file::ConfigError;
use sql_core::Plugin;
use sql_core::wire::{DEFAULT_QUEUE_GROUP, DEFAULT_SUBJECT_PREFIX};

/// `sql-handler`: executes plugins' policy-checked SQL received over NATS.
///
/// Every flag can also be set by the environment variable named in its help, or in the
/// TOML file of `--config` (keys are the flags' names); a flag wins over its variable,
/// which wins over the file.
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
    /// A TOML file of settings, keyed by the flags' names (`nats-url = "..."`, lists for
    /// repeated flags); flags and environment variables win over it.
    #[arg(long, env = "SQL_HANDLER_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// NATS server URL; several, comma-separated, for a cluster (the handler fails over
    /// between them).
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        hide_env_values = true
    )]
    nats_url: String,

    /// NATS user name (PROTOCOL.md section 8; see `deploy/nats-server.conf`).
    #[arg(
        long,
        env = "SQL_HANDLER_NATS_USER",
        requires = "nats_password",
        hide_env_values = true
    )]
    nats_user: Option<String>,

    /// NATS password of `--nats-user`; prefer the environment variable, which `ps` does
    /// not show.
    #[arg(
        long,
        env = "SQL_HANDLER_NATS_PASSWORD",
        requires = "nats_user",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    nats_password: Option<Secret>,

    /// CA certificates (PEM) the NATS servers' certificates must chain to; setting it
    /// requires TLS (`tls://` URLs require it too, verified against the system's roots).
    #[arg(long, env = "SQL_HANDLER_NATS_CA_FILE", value_name = "FILE")]
    nats_ca_file: Option<PathBuf>,

    /// Client certificate (PEM) for NATS servers that verify clients (with
    /// `--nats-client-key`).
    #[arg(
        long,
        env = "SQL_HANDLER_NATS_CLIENT_CERT",
        value_name = "FILE",
        requires = "nats_client_key"
    )]
    nats_client_cert: Option<PathBuf>,

    /// Private key (PEM) of `--nats-client-cert`.
    #[arg(
        long,
        env = "SQL_HANDLER_NATS_CLIENT_KEY",
        value_name = "FILE",
        requires = "nats_client_cert"
    )]
    nats_client_key: Option<PathBuf>,

    /// Prefix of the handler's own reply inboxes; a deployment with NATS permissions gives
    /// the handler a private one, such as `_INBOX_sql-handler`.
    #[arg(long, env = "SQL_HANDLER_NATS_INBOX_PREFIX", default_value = "_INBOX")]
    nats_inbox_prefix: String,

    /// Database URL: `sqlite://PATH` (the embedded default) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`.
    // Kept as text and parsed in `database()`: clap would echo a rejected value, and a
    // database URL may hold a password.
    #[arg(
        long,
        env = "SQL_HANDLER_DATABASE",
        default_value = "sqlite://sql-handler.db",
        hide_env_values = true,
        value_parser = parse_secret,
        global = true
    )]
    database: Secret,

    /// Folder of per-plugin migrations, `<dir>/<plugin>/NNN_name.sql`; repeat the flag (or
    /// separate with `:`) for several, such as one per plugin repository.
    #[arg(
        long,
        env = "SQL_HANDLER_MIGRATIONS",
        value_delimiter = ':',
        global = true
    )]
    migrations: Vec<PathBuf>,

    /// Subject prefix; requests arrive on `<prefix>.<plugin>.execute`.
    #[arg(long, env = "SQL_HANDLER_SUBJECT_PREFIX", default_value = DEFAULT_SUBJECT_PREFIX)]
    subject_prefix: String,

    /// NATS queue group shared by all handler replicas.
    #[arg(long, env = "SQL_HANDLER_QUEUE_GROUP", default_value = DEFAULT_QUEUE_GROUP)]
    queue_group: String,

    /// Requests in flight shared out between plugins: each may have this many divided by
    /// the number of plugins with requests in flight; beyond its share a plugin's
    /// requests get `OVERLOADED` (at most twice this many in flight in all).
    #[arg(long, env = "SQL_HANDLER_MAX_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_concurrency: u32,

    /// Read-only SQLite connections; this many reads run in parallel.
    #[arg(long, env = "SQL_HANDLER_SQLITE_READERS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    sqlite_readers: u32,

    /// How SQLite makes a write durable before its reply: `full` syncs the write-ahead
    /// log to disk at every commit, so an acknowledged write survives a power loss (the
    /// writes of one group commit share the sync); `normal` syncs at checkpoints only, so
    /// it survives a crash of the handler but not of the machine, for more writes per
    /// second.
    #[arg(long, env = "SQL_HANDLER_SQLITE_SYNCHRONOUS", value_enum, default_value_t = SqliteSynchronous::Full)]
    sqlite_synchronous: SqliteSynchronous,

    /// PostgreSQL connections in the pool; this many statements run in parallel, and one
    /// plugin may use all but one of them.
    #[arg(long, env = "SQL_HANDLER_POSTGRES_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(2..=1000))]
    postgres_pool_size: u32,

    /// Temporary disk space one PostgreSQL request may use (sorts, hashes and
    /// set-returning functions that spill), in PostgreSQL units (`kB`, `MB`, `GB`, `TB`);
    /// `-1` for no limit. Setting it needs superuser rights or, on PostgreSQL 15 and
    /// later, `GRANT SET ON PARAMETER temp_file_limit TO <the handler's role>`.
    #[arg(long, env = "SQL_HANDLER_POSTGRES_TEMP_FILE_LIMIT", default_value = "256MB", value_parser = parse_pg_memory, allow_hyphen_values = true)]
    postgres_temp_file_limit: PgMemory,

    /// Memory one sort or hash step of a PostgreSQL request may use before it spills to
    /// temporary files (`work_mem`), in PostgreSQL units.
    #[arg(long, env = "SQL_HANDLER_POSTGRES_WORK_MEM", default_value = "4MB", value_parser = parse_pg_memory_bounded)]
    postgres_work_mem: PgMemory,

    /// CA certificates (PEM) that PostgreSQL's server certificate must chain to when the
    /// URL says `sslmode=require`; without it, the system's roots.
    #[arg(long, env = "SQL_HANDLER_POSTGRES_CA_FILE", value_name = "FILE")]
    postgres_ca_file: Option<PathBuf>,

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

    /// Requests each plugin may send per minute (sliding window); beyond it `RATE_LIMIT`.
    #[arg(long, env = "SQL_HANDLER_RATE_LIMIT_PER_MINUTE", default_value_t = 6000, value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit_per_minute: u32,

    /// A plugin's own limit per minute, `PLUGIN=N` (repeat or comma-separate); 0 blocks it.
    #[arg(
        long = "plugin-rate-limit",
        env = "SQL_HANDLER_PLUGIN_RATE_LIMITS",
        value_delimiter = ',',
        value_name = "PLUGIN=N"
    )]
    plugin_rate_limits: Vec<PluginRateLimit>,

    /// How long an `Idempotency-Key`'s outcome is kept and replayed, in seconds (at least 600).
    #[arg(long, env = "SQL_HANDLER_IDEMPOTENCY_RETENTION_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(600..=31_536_000))]
    idempotency_retention_secs: u64,

    /// Without a command the handler serves; `migrate` runs the migration tooling.
    #[command(subcommand)]
    command: Option<Command>,

    /// Serve Prometheus metrics on `http://ADDR/metrics`: `HOST:PORT`, with an IP address or
    /// a host name such as `localhost` (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "SQL_HANDLER_METRICS_ADDR", value_parser = parse_listen_addr)]
    metrics_addr: Option<SocketAddr>,
}

/// A command other than serving.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// The migrations of `--migrations`: what is applied, whether they are valid, the
    /// next file.
    #[command(subcommand)]
    Migrate(MigrateCommand),
}

/// `sql-handler migrate ...`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
#[non_exhaustive]
pub enum MigrateCommand {
    /// Each plugin's migrations against `--database`: applied, pending, changed since
    /// applied, or applied but no longer found. Exits non-zero when one changed or is
    /// missing (the handler would refuse to start).
    Status,
    /// Parses and checks every migration for both backends without applying it to the
    /// database: the schema model `sql!` uses, and on SQLite the engine's own guard on a
    /// throw-away database. Exits non-zero on any problem, for CI.
    Check,
    /// Creates the plugin's next numbered migration file in the first `--migrations`
    /// folder, and prints its path.
    New {
        /// The plugin, such as `analytics-db`.
        plugin: String,
        /// What the migration does, in a-z, 0-9 and `_`, such as `add_score`.
        name: String,
    },
}

impl Config {
    /// The command to run instead of serving, when one was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use sql_handler::{Command, Config, MigrateCommand};
    ///
    /// let config = Config::try_parse_from(["sql-handler", "migrate", "check", "--migrations", "m"])?;
    /// assert_eq!(config.subcommand(), Some(&Command::Migrate(MigrateCommand::Check)));
    /// assert!(Config::try_parse_from(["sql-handler"])?.subcommand().is_none());
    /// # Ok::<(), clap::Error>(())
    /// ```
    #[must_use]
    pub fn subcommand(&self) -> Option<&Command> {
        self.command.as_ref()
    }

    /// The configuration of this process: its command line, its environment and the file
    /// of `--config` or `SQL_HANDLER_CONFIG`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Args`] for invalid flags or values (and `--help`, `--version`, which
    /// `clap::Error::exit` prints); the other variants for a file that cannot be read or
    /// names an unknown setting.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(std::env::args_os())
    }

    /// As [`Config::load`], with these arguments (the program name first).
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_handler::Config;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let file = dir.path().join("sql-handler.toml");
    /// std::fs::write(&file, "max-concurrency = 16\nsqlite-readers = 2\n")?;
    /// let config = Config::load_from([
    ///     "sql-handler".as_ref(),
    ///     "--config".as_ref(),
    ///     file.as_os_str(),
    ///     "--max-concurrency".as_ref(),
    ///     "8".as_ref(),
    /// ])?;
    /// assert_eq!(config.max_concurrency(), 8); // the flag wins
    /// assert_eq!(config.sqlite_readers(), 2); // from the file
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_from<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString>,
    {
        crate::config_file::load(args.into_iter().map(Into::into).collect())
    }

    /// The NATS server URL as configured (comma-separated when there are several).
    #[must_use]
    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    /// Every configured NATS server URL, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use sql_handler::Config;
    ///
    /// let config = Config::try_parse_from(["sql-handler", "--nats-url", "nats://a:4222, nats://b:4222"])?;
    /// assert_eq!(config.nats_urls(), ["nats://a:4222", "nats://b:4222"]);
    /// # Ok::<(), clap::Error>(())
    /// ```
    #[must_use]
    pub fn nats_urls(&self) -> Vec<&str> {
        self.nats_url
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .collect()
    }

    /// The NATS user and password, when set.
    #[must_use]
    pub fn nats_credentials(&self) -> Option<(&str, &str)> {
        match (&self.nats_user, &self.nats_password) {
            (Some(user), Some(password)) => Some((user, password.expose())),
            _ => None,
        }
    }

    /// The CA certificates for TLS to NATS, when configured.
    #[must_use]
    pub fn nats_ca_file(&self) -> Option<&std::path::Path> {
        self.nats_ca_file.as_deref()
    }

    /// The client certificate and key for NATS, when configured.
    #[must_use]
    pub fn nats_client_certificate(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        self.nats_client_cert
            .as_deref()
            .zip(self.nats_client_key.as_deref())
    }

    /// The prefix of the handler's own reply inboxes (default `_INBOX`).
    #[must_use]
    pub fn nats_inbox_prefix(&self) -> &str {
        &self.nats_inbox_prefix
    }

    /// The database to serve.
    ///
    /// # Errors
    ///
    /// [`DatabaseUrlError`] for a URL this handler cannot serve; the message names only its
    /// scheme.
    pub fn database(&self) -> Result<DatabaseUrl, DatabaseUrlError> {
        self.database.expose().parse()
    }

    /// The migrations folders, none when none is configured.
    #[must_use]
    pub fn migrations(&self) -> &[PathBuf] {
        &self.migrations
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

    /// How SQLite syncs commits to disk (`--sqlite-synchronous`).
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// use sql_handler::{Config, SqliteSynchronous};
    ///
    /// let config = Config::try_parse_from(["sql-handler", "--database", "sqlite://app.db"])?;
    /// assert_eq!(config.sqlite_synchronous(), SqliteSynchronous::Full);
    /// # Ok::<(), clap::Error>(())
    /// ```
    #[must_use]
    pub fn sqlite_synchronous(&self) -> SqliteSynchronous {
        self.sqlite_synchronous
    }

    /// The number of PostgreSQL connections in the pool.
    #[must_use]
    pub fn postgres_pool_size(&self) -> usize {
        self.postgres_pool_size as usize
    }

    /// `temp_file_limit` of each PostgreSQL request in kB; `None` for no limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// let config = sql_handler::Config::try_parse_from(["sql-handler", "--postgres-temp-file-limit", "1GB"])?;
    /// assert_eq!(config.postgres_temp_file_limit_kb(), Some(1024 * 1024));
    /// let config = sql_handler::Config::try_parse_from(["sql-handler", "--postgres-temp-file-limit", "-1"])?;
    /// assert_eq!(config.postgres_temp_file_limit_kb(), None);
    /// # Ok::<(), clap::Error>(())
    /// ```
    #[must_use]
    pub fn postgres_temp_file_limit_kb(&self) -> Option<u64> {
        self.postgres_temp_file_limit.0
    }

    /// `work_mem` of each PostgreSQL request in kB.
    ///
    /// # Examples
    ///
    /// ```
    /// use clap::Parser;
    /// let config = sql_handler::Config::try_parse_from(["sql-handler"])?;
    /// assert_eq!(config.postgres_work_mem_kb(), 4096);
    /// # Ok::<(), clap::Error>(())
    /// ```
    #[must_use]
    pub fn postgres_work_mem_kb(&self) -> u64 {
        // `parse_pg_memory_bounded` refuses `-1`.
        self.postgres_work_mem.0.unwrap_or(4096)
    }

    /// The CA certificates for TLS to PostgreSQL, when configured.
    #[must_use]
    pub fn postgres_ca_file(&self) -> Option<&std::path::Path> {
        self.postgres_ca_file.as_deref()
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

    /// Requests per minute allowed to a plugin without its own limit.
    #[must_use]
    pub fn rate_limit_per_minute(&self) -> u32 {
        self.rate_limit_per_minute
    }

    /// Plugins with their own limit; a later entry for the same plugin wins.
    #[must_use]
    pub fn plugin_rate_limits(&self) -> &[PluginRateLimit] {
        &self.plugin_rate_limits
    }

    /// How long idempotency records are kept.
    #[must_use]
    pub fn idempotency_retention(&self) -> Duration {
        Duration::from_secs(self.idempotency_retention_secs)
    }

    /// Where to serve metrics, when enabled.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }
}

/// A secret from a flag or the environment: `Debug` never shows it, so printing the
/// configuration cannot leak it.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl Secret {
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An address to listen on: `IP:PORT`, or `HOST:PORT` with a name the system resolves
/// (an IPv4 address of it first, as `localhost` is usually meant).
fn parse_listen_addr(value: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    if !value.contains(':') {
        return Err(format!(
            "'{value}' has no port: give HOST:PORT, such as 127.0.0.1:9187"
        ));
    }
    let resolved: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(value)
        .map_err(|e| format!("cannot resolve '{value}': {e}"))?
        .collect();
    resolved
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| resolved.first())
        .copied()
        .ok_or_else(|| format!("'{value}' resolves to no address"))
}

// A parser that cannot fail, so clap never echoes the value in an error.
#[allow(clippy::unnecessary_wraps, reason = "clap's value_parser signature")]
fn parse_secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret(value.to_owned()))
}

/// A PostgreSQL memory setting in kB; `None` is PostgreSQL's `-1`, no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PgMemory(Option<u64>);

/// Largest setting accepted: PostgreSQL's own bound for these settings (`INT_MAX` kB).
const MAX_PG_MEMORY_KB: u64 = i32::MAX as u64;

/// Reads a PostgreSQL memory value: a whole number with an optional unit `kB` (the
/// default), `MB`, `GB` or `TB`, as in `postgresql.conf`, or `-1` for no limit.
fn parse_pg_memory(value: &str) -> Result<PgMemory, String> {
    let value = value.trim();
    if value == "-1" {
        return Ok(PgMemory(None));
    }
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let factor = match unit.trim() {
        "" | "kB" => 1,
        "MB" => 1024,
        "GB" => 1024 * 1024,
        "TB" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown unit {other:?}; use kB, MB, GB or TB (PostgreSQL's units), or -1 for no limit"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|kb| (64..=MAX_PG_MEMORY_KB).contains(kb))
        .map(|kb| PgMemory(Some(kb)))
        .ok_or_else(|| format!("expected a size from 64kB to {MAX_PG_MEMORY_KB}kB, such as 256MB"))
}

/// [`parse_pg_memory`] without `-1`: `work_mem` always has a value.
fn parse_pg_memory_bounded(value: &str) -> Result<PgMemory, String> {
    match parse_pg_memory(value)? {
        PgMemory(None) => {
            Err("expected a size such as 4MB; work_mem cannot be unlimited".to_owned())
        }
        some => Ok(some),
    }
}

/// One plugin's own request limit, written `PLUGIN=N` (requests per minute).
///
/// # Examples
///
/// ```
/// use sql_handler::PluginRateLimit;
///
/// let limit: PluginRateLimit = "analytics-db=100".parse()?;
/// assert_eq!(limit.plugin().name(), "analytics-db");
/// assert_eq!(limit.per_minute(), 100);
/// assert!("Bad Name=1".parse::<PluginRateLimit>().is_err());
/// assert!("analytics-db=many".parse::<PluginRateLimit>().is_err());
/// # Ok::<(), sql_handler::PluginRateLimitError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRateLimit {
    plugin: Plugin,
    per_minute: u32,
}

impl PluginRateLimit {
    /// The plugin.
    #[must_use]
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Requests allowed per minute.
    #[must_use]
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }
}

/// A `--plugin-rate-limit` value that is not `PLUGIN=N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginRateLimitError {
    /// No `=` between the plugin and the number.
    #[error("expected PLUGIN=N, got {0:?}")]
    Shape(String),
    /// The plugin name breaks PROTOCOL.md section 1.
    #[error("invalid plugin name {0:?}")]
    Plugin(String),
    /// The limit is not a whole number that fits 32 bits.
    #[error("invalid requests-per-minute {0:?}; expected a whole number")]
    Number(String),
}

impl FromStr for PluginRateLimit {
    type Err = PluginRateLimitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, number) = s
            .split_once('=')
            .ok_or_else(|| PluginRateLimitError::Shape(s.to_owned()))?;
        let plugin = Plugin::new(name.trim())
            .map_err(|_| PluginRateLimitError::Plugin(name.trim().to_owned()))?;
        let per_minute = number
            .trim()
            .parse()
            .map_err(|_| PluginRateLimitError::Number(number.trim().to_owned()))?;
        Ok(Self { plugin, per_minute })
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

/// When SQLite syncs a commit to disk (its `PRAGMA synchronous`, in WAL mode).
///
/// # Examples
///
/// ```
/// use clap::Parser;
/// use sql_handler::{Config, SqliteSynchronous};
///
/// let config = Config::try_parse_from([
///     "sql-handler", "--database", "sqlite://app.db", "--sqlite-synchronous", "normal",
/// ])?;
/// assert_eq!(config.sqlite_synchronous(), SqliteSynchronous::Normal);
/// # Ok::<(), clap::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum SqliteSynchronous {
    /// At every commit: an acknowledged write survives a power loss.
    Full,
    /// At checkpoints: an acknowledged write survives a crash of the handler, and the last
    /// ones may be lost with the machine.
    Normal,
}

impl SqliteSynchronous {
    /// The pragma's value.
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
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
///
/// let pg: DatabaseUrl = "postgres://handler:s3cret@db:5432/app".parse()?;
/// assert!(matches!(pg, DatabaseUrl::Postgres(_)));
/// assert!(!format!("{pg:?}").contains("s3cret"));
/// # Ok::<(), sql_handler::DatabaseUrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseUrl {
    /// An SQLite file, created when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database, as a `postgres://user:password@host:port/database` URL
    /// (libpq's key=value form works too after the scheme is stripped). Needs the
    /// `postgres` feature (on by default).
    #[cfg(feature = "postgres")]
    Postgres(String),
}

impl DatabaseUrl {
    /// The SQL dialect of the backend.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_handler::DatabaseUrl;
    ///
    /// let url: DatabaseUrl = "sqlite://app.db".parse()?;
    /// assert_eq!(url.dialect(), sql_core::Dialect::Sqlite);
    /// # Ok::<(), sql_handler::DatabaseUrlError>(())
    /// ```
    #[must_use]
    pub fn dialect(&self) -> sql_core::Dialect {
        match self {
            Self::Sqlite(_) => sql_core::Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => sql_core::Dialect::Postgres,
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            // The URL may hold a password.
            #[cfg(feature = "postgres")]
            Self::Postgres(_) => f.write_str("Postgres(***)"),
        }
    }
}

/// A database URL this handler cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DatabaseUrlError(String);

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `sqlite://PATH` (`sqlite:///abs/path` for an absolute one) and the short
        // `sqlite:PATH` that sqlx also takes.
        if let Some(path) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            if path.is_empty() || path == ":memory:" {
                return Err(DatabaseUrlError(
                    "sqlite:// needs a file path (readers and the writer share one database file)"
                        .to_owned(),
                ));
            }
            if let Some((file, options)) = path.split_once('?') {
                return Err(DatabaseUrlError(format!(
                    "sqlite:// takes a file path without options (?{options}): the handler \
                     opens {file} read-write, creates it when missing, and sets its own modes \
                     (WAL, --sqlite-synchronous)"
                )));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            #[cfg(not(feature = "postgres"))]
            return Err(DatabaseUrlError(
                "postgres:// needs sql-handler's `postgres` feature, which this build leaves out"
                    .to_owned(),
            ));
            #[cfg(feature = "postgres")]
            if s.parse::<tokio_postgres::Config>().is_err() {
                // Not the parser's message: it may quote the password.
                return Err(DatabaseUrlError(
                    "the postgres:// URL is not valid; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
                        .to_owned(),
                ));
            }
            #[cfg(feature = "postgres")]
            return Ok(Self::Postgres(s.to_owned()));
        }
        // Name only the scheme: the rest may hold a password.
        let scheme = s.split_once("://").map_or("(none)", |(scheme, _)| scheme);
        Err(DatabaseUrlError(format!(
            "unsupported database URL scheme {scheme:?}; expected sqlite://PATH or postgres://..."
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("sql-handler").chain(args.iter().copied()))
    }

    #[test]
    fn limits_retention_and_metrics_have_defaults() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.rate_limit_per_minute(), 6000);
        assert!(config.plugin_rate_limits().is_empty());
        assert_eq!(config.idempotency_retention(), Duration::from_secs(86_400));
        assert_eq!(config.metrics_addr(), None);
    }

    #[test]
    fn postgres_memory_settings_read_postgres_units() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.postgres_temp_file_limit_kb(), Some(256 * 1024));
        assert_eq!(config.postgres_work_mem_kb(), 4096);
        let cases = [
            ("64", Some(Some(64))),
            ("512kB", Some(Some(512))),
            ("2MB", Some(Some(2048))),
            ("1GB", Some(Some(1024 * 1024))),
            ("1TB", Some(Some(1024 * 1024 * 1024))),
            ("-1", Some(None)),
            ("3", None),
            ("1mb", None),
            ("1.5GB", None),
            ("", None),
            ("3000TB", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_pg_memory(value).ok().map(|m| m.0),
                expected,
                "{value:?}"
            );
        }
        assert!(parse(&["--postgres-work-mem", "-1"]).is_err());
        let config = parse(&[
            "--postgres-temp-file-limit",
            "-1",
            "--postgres-work-mem",
            "64MB",
        ])
        .unwrap();
        assert_eq!(config.postgres_temp_file_limit_kb(), None);
        assert_eq!(config.postgres_work_mem_kb(), 64 * 1024);
    }

    #[test]
    fn plugin_limits_repeat_or_comma_separate() {
        let config = parse(&[
            "--plugin-rate-limit",
            "analytics-db=100,quote-db=0",
            "--plugin-rate-limit",
            "other=7",
            "--metrics-addr",
            "127.0.0.1:0",
            "--idempotency-retention-secs",
            "600",
        ])
        .unwrap();
        let limits: Vec<(&str, u32)> = config
            .plugin_rate_limits()
            .iter()
            .map(|l| (l.plugin().name(), l.per_minute()))
            .collect();
        assert_eq!(
            limits,
            [("analytics-db", 100), ("quote-db", 0), ("other", 7)]
        );
        assert_eq!(config.metrics_addr(), Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(config.idempotency_retention(), Duration::from_secs(600));
    }

    #[test]
    fn several_migrations_folders() {
        let config = parse(&["--migrations", "a", "--migrations", "b:c"]).unwrap();
        assert_eq!(
            config.migrations(),
            [PathBuf::from("a"), PathBuf::from("b"), PathBuf::from("c")]
        );
        assert!(parse(&[]).unwrap().migrations().is_empty());
    }

    #[test]
    fn sqlite_url_forms() {
        let sqlite = |url: &str| url.parse::<DatabaseUrl>();
        assert_eq!(
            sqlite("sqlite://data/app.db"),
            Ok(DatabaseUrl::Sqlite("data/app.db".into()))
        );
        assert_eq!(
            sqlite("sqlite:///var/x.db"),
            Ok(DatabaseUrl::Sqlite("/var/x.db".into()))
        );
        assert_eq!(
            sqlite("sqlite:/x.db"),
            Ok(DatabaseUrl::Sqlite("/x.db".into()))
        );
        assert_eq!(
            sqlite("sqlite:x.db"),
            Ok(DatabaseUrl::Sqlite("x.db".into()))
        );
        let err = sqlite("sqlite://x.db?mode=rwc").unwrap_err().to_string();
        assert!(err.contains("without options (?mode=rwc)"), "{err}");
        assert!(sqlite("sqlite::memory:").is_err());
        assert!(sqlite("sqlite://").is_err());
    }

    #[test]
    fn the_metrics_address_takes_host_names() {
        let by_name = parse(&["--metrics-addr", "localhost:9187"]).unwrap();
        let addr = by_name.metrics_addr().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() == 9187, "{addr}");
        let v6 = parse(&["--metrics-addr", "[::1]:9187"]).unwrap();
        assert_eq!(v6.metrics_addr(), Some("[::1]:9187".parse().unwrap()));
        let err = parse(&["--metrics-addr", "localhost"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no port"), "{err}");
    }

    #[test]
    fn nats_credentials_urls_and_inbox() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.nats_credentials(), None);
        assert_eq!(config.nats_inbox_prefix(), "_INBOX");
        assert_eq!(config.nats_urls(), ["nats://127.0.0.1:4222"]);
        let config = parse(&[
            "--nats-url",
            "nats://a:1,nats://b:2",
            "--nats-user",
            "sql-handler",
            "--nats-password",
            "hunter2",
            "--nats-inbox-prefix",
            "_INBOX_sql-handler",
        ])
        .unwrap();
        assert_eq!(config.nats_urls(), ["nats://a:1", "nats://b:2"]);
        assert_eq!(config.nats_credentials(), Some(("sql-handler", "hunter2")));
        assert_eq!(config.nats_inbox_prefix(), "_INBOX_sql-handler");
        assert!(!format!("{config:?}").contains("hunter2"));
        // A user without a password (or the reverse) is a mistake, not anonymous access.
        assert!(parse(&["--nats-user", "u"]).is_err());
        assert!(parse(&["--nats-password", "p"]).is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--idempotency-retention-secs", "599"][..],
            &["--rate-limit-per-minute", "0"],
            &["--plugin-rate-limit", "analytics-db"],
            &["--plugin-rate-limit", "Analytics=1"],
            &["--plugin-rate-limit", "analytics-db=-1"],
            &["--metrics-addr", "localhost"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
