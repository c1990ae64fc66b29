//! The test handler: its own `nats-server`, a fresh database, the real `sql-handler`
//! serving on them, and a client connected to it.

use std::path::{Path, PathBuf};

use clap::Parser as _;
use sql_client::{ClientConfig, SqlClient};
use sql_core::manifest::PackageMetadata;
use sql_test_harness::NatsServer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::TestHandlerError;

/// A running `sql-handler` for one test, with a [`SqlClient`] connected to it; everything
/// stops, and the database is removed, when it is dropped.
///
/// # Examples
///
/// ```no_run
/// use sql_client::prelude::*;
/// use sql_client_test::TestHandler;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let handler = TestHandler::start().await?;
/// let scores = handler
///     .client()
///     .execute(sql!("SELECT player FROM kit_demo__scores"))
///     .await?;
/// assert!(scores.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TestHandler {
    client: SqlClient,
    plugin: String,
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<()>>,
    database: Database,
    // Last: fields drop in order, and the handler stops before its server goes.
    nats: NatsServer,
}

/// The test's database, removed on drop.
#[derive(Debug)]
enum Database {
    Sqlite(tempfile::TempDir),
    #[cfg(feature = "postgres")]
    Postgres(sql_test_harness::TestDatabase),
}

impl Database {
    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("test.db").display()),
            #[cfg(feature = "postgres")]
            Self::Postgres(db) => db.url().to_owned(),
        }
    }
}

impl TestHandler {
    /// Starts a handler on a fresh SQLite database with the crate's migrations, and
    /// connects a client for the crate's plugin, both as its `Cargo.toml` declares them
    /// (`[package.metadata.sql-client]`).
    ///
    /// # Errors
    ///
    /// [`TestHandlerError`]: `nats-server` is missing (the message says how to install
    /// it), the crate declares no plugin, or the handler refuses a migration.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sql_client_test::TestHandlerError> {
    /// let handler = sql_client_test::TestHandler::start().await?;
    /// assert_eq!(handler.plugin(), "kit-demo");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start() -> Result<Self, TestHandlerError> {
        Self::builder().start().await
    }

    /// A builder, to name another plugin or migrations folder, give the handler flags, or
    /// run on PostgreSQL.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sql_client_test::TestHandlerError> {
    /// let handler = sql_client_test::TestHandler::builder()
    ///     .arg("--rate-limit-per-minute=5")
    ///     .start()
    ///     .await?;
    /// # let _ = handler;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> TestHandlerBuilder {
        TestHandlerBuilder::default()
    }

    /// The client, connected for the plugin.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let handler = sql_client_test::TestHandler::start().await?;
    /// assert_eq!(handler.client().plugin().name(), handler.plugin());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn client(&self) -> &SqlClient {
        &self.client
    }

    /// The plugin the client speaks for.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let handler = sql_client_test::TestHandler::builder().plugin("kit-demo").start().await?;
    /// assert_eq!(handler.plugin(), "kit-demo");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The URL of the test's `nats-server`, to connect more clients (another plugin, a
    /// second instance of this one).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::SqlClient;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let handler = sql_client_test::TestHandler::start().await?;
    /// let nats = sql_client::async_nats::connect(handler.nats_url()).await?;
    /// let other = SqlClient::new(nats, "other-plugin")?;
    /// # let _ = other;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn nats_url(&self) -> String {
        self.nats.url()
    }

    /// The handler's database: `sqlite://PATH`, or a `postgres://` URL as superuser, to
    /// look at the data behind the handler's back.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let handler = sql_client_test::TestHandler::start().await?;
    /// assert!(handler.database_url().starts_with("sqlite://"));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn database_url(&self) -> String {
        self.database.url()
    }

    /// Stops the handler as a shutdown signal would: it answers the requests it has
    /// received, then returns. Dropping the handler stops it without waiting.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let handler = sql_client_test::TestHandler::start().await?;
    /// handler.stop().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(serving) = self.serving.take() {
            let _ = serving.await;
        }
    }
}

impl Drop for TestHandler {
    fn drop(&mut self) {
        // The serving task ends with the runtime; telling it first lets it stop cleanly
        // when the runtime outlives this value.
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// How to start a [`TestHandler`]: by default, as the crate's `Cargo.toml` says.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use sql_client::ClientConfig;
///
/// # async fn run() -> Result<(), sql_client_test::TestHandlerError> {
/// let handler = sql_client_test::TestHandler::builder()
///     .plugin("kit-demo")
///     .migrations("tests/migrations")
///     .args(["--max-concurrency", "8"])
///     .client_config(ClientConfig::default().timeout(Duration::from_secs(2)))
///     .start()
///     .await?;
/// # let _ = handler;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct TestHandlerBuilder {
    plugin: Option<String>,
    migrations: Option<PathBuf>,
    args: Vec<String>,
    client_config: Option<ClientConfig>,
    #[cfg(feature = "postgres")]
    postgres: bool,
}

impl TestHandlerBuilder {
    /// The plugin the client speaks for, instead of the crate's `plugin`.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = sql_client_test::TestHandler::builder().plugin("quote-db");
    /// # let _ = builder;
    /// ```
    pub fn plugin(mut self, plugin: impl Into<String>) -> Self {
        self.plugin = Some(plugin.into());
        self
    }

    /// The folder holding one folder of migrations per plugin, instead of the crate's
    /// `migrations`; a relative path is taken from the crate's folder.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = sql_client_test::TestHandler::builder().migrations("db/migrations");
    /// # let _ = builder;
    /// ```
    pub fn migrations(mut self, folder: impl Into<PathBuf>) -> Self {
        self.migrations = Some(folder.into());
        self
    }

    /// One more flag for the handler, as its command line takes it
    /// (`--rate-limit-per-minute=5`); `sql-handler --help` lists them.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = sql_client_test::TestHandler::builder().arg("--rate-limit-per-minute=10");
    /// # let _ = builder;
    /// ```
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// More flags for the handler, as [`TestHandlerBuilder::arg`].
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = sql_client_test::TestHandler::builder().args(["--max-concurrency", "8"]);
    /// # let _ = builder;
    /// ```
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The client's settings (timeout, retries, rate limit, logging).
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::ClientConfig;
    ///
    /// let builder = sql_client_test::TestHandler::builder()
    ///     .client_config(ClientConfig::default().max_retries(0));
    /// # let _ = builder;
    /// ```
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.client_config = Some(config);
        self
    }

    /// Runs on a fresh PostgreSQL database (migrated from the folders' `postgres/` files)
    /// instead of SQLite: created in the cluster `SQL_TEST_POSTGRES_URL` names (a
    /// superuser URL), or in a private cluster started for the test when it is unset.
    ///
    /// # Panics
    ///
    /// At [`TestHandlerBuilder::start`], when that cluster cannot be reached or started
    /// (PostgreSQL's binaries are found with `pg_config`), or the database cannot be
    /// created; the message says why.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sql_client_test::TestHandlerError> {
    /// let handler = sql_client_test::TestHandler::builder().postgres().start().await?;
    /// assert!(handler.database_url().starts_with("postgres://"));
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "postgres")]
    pub fn postgres(mut self) -> Self {
        self.postgres = true;
        self
    }

    /// Starts `nats-server`, creates the database, starts the handler on them, and
    /// connects the client.
    ///
    /// # Errors
    ///
    /// As [`TestHandler::start`], and [`TestHandlerError::Flags`] when the handler refuses
    /// a flag given with [`TestHandlerBuilder::arg`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), sql_client_test::TestHandlerError> {
    /// let handler = sql_client_test::TestHandler::builder().start().await?;
    /// # let _ = handler;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(self) -> Result<TestHandler, TestHandlerError> {
        let (plugin, migrations) = self.plugin_and_migrations()?;
        let nats = NatsServer::try_start_with_env(&[], &[])?;
        let database = self.database()?;
        let mut args = vec![
            "sql-handler".to_owned(),
            format!("--nats-url={}", nats.url()),
            format!("--database={}", database.url()),
        ];
        if let Some(folder) = migrations {
            args.push(format!("--migrations={}", folder.display()));
        }
        // A commit need not survive a power cut in a test; its fsync would slow every
        // write. The test's own flag wins.
        if !self
            .args
            .iter()
            .any(|a| a.starts_with("--sqlite-synchronous"))
        {
            args.push("--sqlite-synchronous=normal".to_owned());
        }
        args.extend(self.args);
        let config = sql_handler::Config::try_parse_from(args).map_err(TestHandlerError::Flags)?;
        let handler = sql_handler::Handler::start(&config).await?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(handler.serve(async move {
            let _ = stopped.await;
        }));
        let connection = sql_client::async_nats::connect(nats.url()).await?;
        let client =
            SqlClient::with_config(connection, &plugin, self.client_config.unwrap_or_default())?;
        Ok(TestHandler {
            client,
            plugin,
            shutdown: Some(shutdown),
            serving: Some(serving),
            database,
            nats,
        })
    }

    /// The plugin and the migrations folder: the builder's, else the crate's. A folder
    /// the crate does not name and does not have means no migrations.
    fn plugin_and_migrations(&self) -> Result<(String, Option<PathBuf>), TestHandlerError> {
        let metadata = match std::env::var_os("CARGO_MANIFEST_DIR") {
            Some(dir) => Some(PackageMetadata::read(Path::new(&dir))?),
            None => None,
        };
        let plugin = match (&self.plugin, &metadata) {
            (Some(plugin), _) => plugin.clone(),
            (None, Some(metadata)) => {
                metadata
                    .plugin
                    .clone()
                    .ok_or_else(|| TestHandlerError::NoPlugin {
                        manifest: metadata.manifest.clone(),
                    })?
            }
            (None, None) => return Err(TestHandlerError::NoManifestDir),
        };
        let migrations = match (&self.migrations, &metadata) {
            (Some(folder), Some(metadata)) => Some(metadata.dir.join(folder)),
            (Some(folder), None) if folder.is_absolute() => Some(folder.clone()),
            (Some(_), None) => return Err(TestHandlerError::NoManifestDir),
            (None, Some(metadata)) => {
                let root = metadata.migrations_root();
                // Named in Cargo.toml: the handler reports a missing folder.
                (metadata.migrations.is_some() || root.is_dir()).then_some(root)
            }
            (None, None) => None,
        };
        Ok((plugin, migrations))
    }

    fn database(&self) -> Result<Database, TestHandlerError> {
        #[cfg(feature = "postgres")]
        if self.postgres {
            return Ok(Database::Postgres(sql_test_harness::TestDatabase::create()));
        }
        tempfile::Builder::new()
            .prefix("sql-client-test-")
            .tempdir()
            .map(Database::Sqlite)
            .map_err(TestHandlerError::TempDir)
    }
}
