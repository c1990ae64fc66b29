//! Run a plugin's parameterized SQL through `sql-handler` over NATS, with the mistakes
//! caught before they run.
//!
//! Every query is checked by the same policy as the handler's (`sql-core`), typed by its
//! statement kind, rate limited per plugin, sent with a correlation id (and an idempotency
//! key for writes), retried when that is safe, audited on the `sql.audit` tracing target,
//! logged on `sql.slow` when slow, and counted in [`SqlClient::metrics`].
//!
//! ```no_run
//! use sql_client::prelude::*;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let client = SqlClient::new(nats, "analytics-db")?;
//!
//! let insert = Query::<Insert>::checked("INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)", client.plugin())?
//!     .bind("alice")?
//!     .bind("login")?;
//! client.insert(insert).await?;
//!
//! let select = Query::<Select>::checked("SELECT id, name FROM analytics_db__events WHERE user_id = $1", client.plugin())?
//!     .bind("alice")?;
//! let rows: Vec<Row> = client.select(select).await?;
//! println!("{} events, metrics: {:?}", rows.len(), client.metrics());
//! # Ok(())
//! # }
//! ```
//!
//! # Audit logs as JSON
//!
//! The records are `tracing` events; for one JSON object per line (for a SIEM), install
//! `tracing-subscriber` with its `json` feature:
//!
//! ```no_run
//! tracing_subscriber::fmt().json().flatten_event(true).init();
//! ```
//!
//! Filter with `RUST_LOG=sql.audit=info,sql.slow=warn` to keep just those targets.

mod audit;
mod client;
mod decode;
mod error;
mod metrics;
mod options;
mod query;
mod rate_limit;
mod result;
mod retry;
mod row;

pub use audit::ParamLogging;
pub use client::SqlClient;
pub use decode::{Expected, FromSqlValue};
pub use error::{ErrorDetail, Result, SqlError};
pub use metrics::{LatencySummary, MetricsSnapshot, SlowQueryStats};
pub use options::ClientConfig;
pub use query::{Blob, Delete, Insert, Kind, ParamRow, Query, Select, Update};
pub use rate_limit::RateLimiter;
pub use result::SqlResult;
pub use retry::Backoff;
pub use row::{Row, RowError, SqlRow};
/// The shared policy, wire types and value rules.
pub use sql_core as core;

/// What a plugin needs, in one `use`.
pub mod prelude {
    pub use crate::{
        Blob, ClientConfig, Delete, Insert, Query, RateLimiter, Row, RowError, Select, SqlClient,
        SqlError, SqlResult, SqlRow, Update,
    };
    pub use sql_core::{Plugin, RateLimit};
}
