//! Log set-up for the binary: text for people or JSON lines for log collectors.

use tracing_subscriber::EnvFilter;

use crate::LogFormat;

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`info`).
///
/// # Examples
///
/// ```
/// sql_handler::logging::init(sql_handler::LogFormat::Json);
/// tracing::info!(target: "sql.audit", plugin = "demo", "recorded as one JSON line");
/// ```
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second call (as in tests) finds a subscriber already set; keeping the first is right.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        _ => builder.try_init(),
    };
}
