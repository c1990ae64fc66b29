//! The `sql-handler` binary: load the configuration (flags, environment, file), set up
//! logs, serve until SIGINT or SIGTERM, then finish the requests in flight and exit.

use std::process::ExitCode;
use std::time::Duration;

use sql_handler::{Command, Config, ConfigError, Handler};

/// How long the exit waits for statements still running after every request was answered
/// (one stuck past its deadline inside one SQLite step): none of them can commit, so the
/// process need not wait for them to end.
const EXIT_WAIT: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message and its causes, never a backtrace (which `RUST_BACKTRACE` would
            // add to a returned error): a refused start is the operator's to read.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = match Config::load() {
        Ok(config) => config,
        // clap prints help, version and usage errors itself, with its exit codes.
        Err(ConfigError::Args(e)) => e.exit(),
        Err(e) => return Err(e.into()),
    };
    if let Some(Command::Migrate(command)) = config.subcommand() {
        let report = sql_handler::migrate_tool::run(&config, command)?;
        // The command's output is its result: standard output, for scripts and CI.
        std::io::Write::write_all(&mut std::io::stdout().lock(), report.text.as_bytes())?;
        if !report.ok {
            anyhow::bail!("migrations need attention (see above)");
        }
        return Ok(());
    }
    // Dropped last, after the runtime: every line logged until then is written out.
    let _logs = sql_handler::logging::init(config.log_format());
    let runtime = tokio::runtime::Runtime::new()?;
    let served = runtime.block_on(async {
        let handler = Handler::start(&config).await?;
        // On a worker thread, not this one: the subscription's messages then wake the
        // serving loop, and it its request tasks, without a wake-up across threads each.
        tokio::spawn(handler.serve(shutdown_signal())).await?;
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(EXIT_WAIT);
    served
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
