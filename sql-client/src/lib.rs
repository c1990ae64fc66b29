//! The runtime library plugins depend on.
//!
//! For now it re-exports the shared policy so a plugin can check dynamic SQL the same way
//! the handler does:
//!
//! ```
//! use sql_client::core::{check, Dialect, Plugin};
//!
//! let plugin = Plugin::new("analytics-db")?;
//! let verdict = check("SELECT id FROM analytics_db__events WHERE user_id = $1", &plugin, Dialect::Sqlite)?;
//! assert_eq!(verdict.placeholders(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use sql_core as core;
