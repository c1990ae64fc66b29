//! Why a test handler did not start.

use std::path::PathBuf;

/// Why [`crate::TestHandler`] did not start; each message says what to do.
///
/// Its `Debug` is the message and its causes, as a test that returns the error with `?`
/// prints it.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TestHandlerError {
    /// `CARGO_MANIFEST_DIR` is unset, so the crate's `Cargo.toml` cannot be found: the test
    /// was not run by cargo, and names neither its plugin nor its migrations.
    #[error(
        "CARGO_MANIFEST_DIR is not set, so the crate's Cargo.toml cannot be found; run the test with `cargo test`, or name the plugin and the migrations folder on TestHandler::builder()"
    )]
    NoManifestDir,
    /// The crate's `Cargo.toml` cannot be read.
    #[error(transparent)]
    Manifest(#[from] sql_core::manifest::ManifestError),
    /// Neither the crate's `Cargo.toml` nor the builder names the plugin.
    #[error(
        "no plugin to test: declare it in {}\n\n    [package.metadata.sql-client]\n    plugin = \"your-plugin\"\n\nor name it with TestHandler::builder().plugin(\"your-plugin\")",
        manifest.display()
    )]
    NoPlugin {
        /// The manifest read.
        manifest: PathBuf,
    },
    /// `nats-server` did not start; the message says how to install it.
    #[error(transparent)]
    Nats(#[from] sql_test_harness::ServerError),
    /// A temporary folder for the database could not be created.
    #[error("cannot create a temporary folder for the test database")]
    TempDir(#[source] std::io::Error),
    /// The handler refused its flags (those given with [`crate::TestHandlerBuilder::arg`]).
    #[error("the handler refused its flags: {0}")]
    Flags(#[source] clap::Error),
    /// The handler did not start: a migration it refuses, most often.
    #[error("the handler did not start")]
    Handler(#[from] sql_handler::StartError),
    /// The test's client could not connect to its `nats-server`.
    #[error("cannot connect the client to the test's nats-server")]
    Connect(#[from] async_nats::ConnectError),
    /// The client refused the plugin name.
    #[error("the client refused the plugin name")]
    Client(#[from] sql_client::SqlError),
}

impl std::fmt::Debug for TestHandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
