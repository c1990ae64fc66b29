//! `sql-handler`: the service that executes plugins' SQL received over NATS.
//!
//! It subscribes to `rosey.db.sql.*.execute` in a queue group, takes the plugin's identity
//! from the subject, checks each request against the shared `sql-core` policy, and runs it
//! on SQLite with the same rules enforced again inside the engine (an authorizer, the
//! statement's read-only flag, a deadline that interrupts the statement). Every request
//! gets a reply (PROTOCOL.md) and one audit record on the `sql.audit` tracing target.
//!
//! Writes carrying an `Idempotency-Key` are applied at most once per (plugin, key), with the
//! key recorded in the write's own transaction; each plugin has a request limit per minute;
//! `--metrics-addr` serves Prometheus metrics on `/metrics`. Every replica answers the NATS
//! micro-service API (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`) as `sql-handler`, so
//! `nats micro ls` lists it.
//!
//! # Features
//!
//! - `postgres` (default): the PostgreSQL backend, `--database postgres://...`.
//! - `metrics-http` (default): the `/metrics` endpoint of `--metrics-addr`.
//!
//! Without them the handler serves SQLite alone and builds neither PostgreSQL's client and
//! TLS stack nor an HTTP server, as a plugin's tests do through `sql-client-test`; a
//! `postgres://` URL or `--metrics-addr` is then refused, naming the feature.
//!
//! The binary is a thin `main` over this library; tests start the same [`Handler`]:
//!
//! ```no_run
//! use clap::Parser;
//! use sql_handler::{Config, Handler};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::try_parse_from([
//!     "sql-handler",
//!     "--nats-url", "nats://127.0.0.1:4222",
//!     "--database", "sqlite://app.db",
//!     "--migrations", "migrations",
//! ])?;
//! let handler = Handler::start(&config).await?;
//! handler.serve(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(())
//! # }
//! ```

mod admission;
mod audit;
mod config;
mod config_file;
mod discovery;
mod engine;
mod failure;
mod idempotency;
pub mod logging;
mod metrics;
pub mod migrate_tool;
mod migrations;
mod pipeline;
mod rate_limit;
mod rows;
mod service;
mod verdicts;

pub use config::{
    Command, Config, ConfigError, DatabaseUrl, DatabaseUrlError, LogFormat, MigrateCommand,
    PluginRateLimit, PluginRateLimitError, SqliteSynchronous,
};
pub use engine::OpenError;
pub use migrations::MigrationError;
pub use service::{Handler, StartError};
