//! The shared vocabulary of `sql-client` and `sql-handler`: the SQL policy, the wire types
//! and the value conversion rules. No I/O, no async.
//!
//! The compile-time `sql!` check, the client's check of dynamic SQL and the handler's
//! check all call [`check`], so there is exactly one policy.
//!
//! ```
//! use sql_core::{check, Dialect, ErrorCode, Plugin, StatementKind};
//!
//! let plugin = Plugin::new("analytics-db")?;
//!
//! let verdict = check("SELECT * FROM analytics_db__events WHERE user_id = $1", &plugin, Dialect::Sqlite)?;
//! assert_eq!(verdict.kind(), StatementKind::Select);
//! assert_eq!(verdict.placeholders(), 1);
//!
//! let refused = check(
//!     "SELECT e.* FROM analytics_db__events e LEFT JOIN quote_db__quotes q ON q.id = e.id",
//!     &plugin,
//!     Dialect::Sqlite,
//! );
//! assert_eq!(refused.unwrap_err().code(), ErrorCode::NamespaceViolation);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod code;
mod columns;
#[cfg(feature = "json-log")]
pub mod json_log;
#[cfg(feature = "manifest")]
pub mod manifest;
mod plugin;
mod policy;
mod query_text;
mod rate_limit;
mod rewrite;
mod schema;
mod strict_json;
pub mod value;
pub mod wire;

pub use code::{ALL_ERROR_CODES, ErrorCode, UnknownErrorCode};
pub use columns::result_columns;
pub use plugin::{MAX_PLUGIN_NAME_LEN, Plugin, PluginNameError, TableOwner, is_system_name};
pub use policy::{
    Dialect, MAX_PLACEHOLDERS, Policy, PolicyError, StatementKind, Verdict, check,
    placeholder_count,
};
pub use query_text::{AUDIT_PREVIEW_CHARS, audit_preview, query_hash, query_preview};
pub use rate_limit::{RateLimit, RateLimited, RateStatus, SlidingWindows};
pub use rewrite::{expand_list_params, strip_nullability_overrides};
pub use schema::{
    Analysis, Column, NameError, Nullability, OutputColumn, ParamUse, Relation, RelationKind,
    Schema, SchemaError, SqlType, is_migration_file, migration_file_name, migration_folder_dialect,
};
