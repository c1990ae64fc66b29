//! The `sql-handler` binary: load the configuration (flags, environment, file), set up
//! logs, serve until SIGINT or SIGTERM, then finish the requests in flight and exit.

use sql_handler::{Config, ConfigError, Handler};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = match Config::load() {
        Ok(config) => config,
        // clap prints help, version and usage errors itself, with its exit codes.
        Err(ConfigError::Args(e)) => e.exit(),
        Err(e) => return Err(e.into()),
    };
    sql_handler::logging::init(config.log_format());
    let handler = Handler::start(&config).await?;
    handler.serve(shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the handler");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown signal received");
}
