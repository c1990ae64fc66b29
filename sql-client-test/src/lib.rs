//! `sql-client-test`: a running `sql-handler` with the crate's own migrations and a
//! connected [`SqlClient`], for a plugin's integration tests, in one line.
//!
//! Add it as a dev-dependency beside `tokio`:
//!
//! ```toml
//! [dev-dependencies]
//! sql-client-test = "0.1"
//! tokio = { version = "1", features = ["macros", "rt"] }
//! ```
//!
//! Then each test starts its own handler, on a fresh SQLite database migrated with the
//! files of `[package.metadata.sql-client] migrations` (default `migrations/`) for the
//! crate's `plugin`, behind its own `nats-server`:
//!
//! ```no_run
//! use sql_client::prelude::*;
//! use sql_client_test::TestHandler;
//!
//! #[derive(Debug, SqlRow)]
//! struct Score {
//!     player: String,
//!     points: i64,
//! }
//!
//! #[tokio::test]
//! async fn a_score_is_stored() -> Result<(), Box<dyn std::error::Error>> {
//!     let handler = TestHandler::start().await?;
//!     let client = handler.client();
//!
//!     client
//!         .insert(sql!("INSERT INTO kit_demo__scores (player, points) VALUES ($1, $2)", "ada", 3))
//!         .await?;
//!     let scores: Vec<Score> = client
//!         .select(sql!("SELECT player, points FROM kit_demo__scores"))
//!         .await?;
//!     assert_eq!(scores[0].points, 3);
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! Tests run in parallel, each with its own server and database, so they never see each
//! other's rows. [`TestHandler::builder`] picks another plugin or migrations folder, passes
//! the handler extra flags (a rate limit, a timeout) and, with the `postgres` feature,
//! runs the test on PostgreSQL instead.
//!
//! # What it needs
//!
//! `nats-server` on `PATH` (or `NATS_SERVER_BIN` naming it). Without it, [`TestHandler::start`]
//! fails with [`TestHandlerError::Nats`], whose message says how to install it.
//!
//! # Features
//!
//! - `postgres`: [`TestHandlerBuilder::postgres`]. Off by default, so a plugin whose tests
//!   use SQLite builds neither PostgreSQL's client nor a TLS stack; the handler's HTTP
//!   metrics endpoint is never built.

mod error;
mod handler;

pub use error::TestHandlerError;
pub use handler::{TestHandler, TestHandlerBuilder};
pub use sql_client::SqlClient;
