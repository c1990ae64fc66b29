//! The PostgreSQL backend: a `deadpool-postgres` pool shared fairly by all plugins
//! (`crate::engine::slots`), and every request in its own transaction under
//! its plugin's role, with a statement timeout at its deadline, read-only for reads, over
//! the extended protocol only (PROTOCOL.md section 5).

mod claim;
mod errors;
mod migrate;
mod roles;
mod run;
mod tls;
mod values;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use sql_core::Policy;

pub(crate) use claim::ClaimedWrite;

use self::roles::Roles;
pub(crate) use self::run::RequestLimits;
use self::run::{Bounded, End, bounded, request_settings, statements};
use self::tls::Tls;
use crate::engine::purge::{DEFAULT_RETENTION, PurgeSchedule};
use crate::engine::slots::FairSlots;
use crate::engine::{Claim, Claimed, ExecError, Job, OpenError, Outcome};
use crate::migrations::Migration;

/// How long start-up waits for its first connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements kept per connection before the cache is emptied: plugins send
/// few distinct statements, but nothing stops one from sending many.
const STATEMENT_CACHE_LIMIT: usize = 512;

/// Connection settings beyond the URL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PgOptions<'a> {
    /// Connections in the pool.
    pub(crate) connections: usize,
    /// CA certificates (PEM) to verify the server with under `sslmode=require`.
    pub(crate) ca_file: Option<&'a std::path::Path>,
    /// What each request may use besides time.
    pub(crate) limits: RequestLimits,
}

/// The PostgreSQL engine.
#[derive(Debug)]
pub(crate) struct PgEngine {
    pool: Pool,
    tls: Tls,
    policy: Arc<Policy>,
    roles: Roles,
    limits: RequestLimits,
    /// Plugins' fair shares of the pool's connections (`crate::engine::slots`).
    slots: Arc<FairSlots>,
    retention: Duration,
    purge: PurgeSchedule,
}

/// The migrations the database at `url` records as applied, without changing it: none
/// when its table does not exist yet.
pub(crate) async fn applied_migrations(
    url: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<Vec<crate::engine::Applied>, OpenError> {
    let config = parse_url(url)?;
    let target = describe_target(&config);
    let failed = |message: String| OpenError::Postgres {
        target: target.clone(),
        message,
    };
    let tls = Tls::for_config(&config, ca_file).map_err(failed)?;
    let connected = match &tls {
        Tls::Off => connect_one(&config, tokio_postgres::NoTls).await,
        Tls::Rustls(connector) => connect_one(&config, connector.clone()).await,
    };
    let client = connected.map_err(failed)?;
    let rows = client
        .query(
            "SELECT plugin, version, name, checksum FROM _sql_handler_migrations",
            &[],
        )
        .await;
    match rows {
        Ok(rows) => rows
            .iter()
            .map(|row| {
                let version: i32 = row.get(1);
                Ok(crate::engine::Applied {
                    plugin: row.get(0),
                    version: u32::try_from(version).map_err(|e| failed(e.to_string()))?,
                    name: row.get(2),
                    checksum: row.get(3),
                })
            })
            .collect(),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            Ok(Vec::new())
        }
        Err(e) => Err(failed(migrate::describe(&e))),
    }
}

/// The connection settings of `url`.
fn parse_url(url: &str) -> Result<tokio_postgres::Config, OpenError> {
    url.parse().map_err(|_| OpenError::Postgres {
        // The URL may hold a password: do not repeat it.
        target: "(the configured URL)".to_owned(),
        message: "not a valid postgres:// URL".to_owned(),
    })
}

/// One connection, its connection task spawned, by [`CONNECT_TIMEOUT`].
async fn connect_one<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> Result<tokio_postgres::Client, String>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls))
        .await
        .map_err(|_| format!("no connection within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| migrate::describe(&e))?;
    tokio::spawn(connection);
    Ok(client)
}

impl PgEngine {
    /// Connects with a pool of `connections`, creates the handler's tables and the
    /// plugins' roles, and applies `migrations`.
    pub(crate) async fn open(
        url: &str,
        options: PgOptions<'_>,
        policy: Arc<Policy>,
        migrations: &[Migration],
    ) -> Result<Self, OpenError> {
        let config = parse_url(url)?;
        let target = describe_target(&config);
        let tls =
            Tls::for_config(&config, options.ca_file).map_err(|message| OpenError::Postgres {
                target: target.clone(),
                message,
            })?;
        // A connection goes back to the pool only after its transaction ended (see
        // `run::bounded`), so a liveness check is enough.
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &tls {
            Tls::Off => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
            Tls::Rustls(connector) => {
                Manager::from_config(config, connector.clone(), manager_config)
            }
        };
        let connections = options.connections.max(2);
        let pool = Pool::builder(manager)
            .max_size(connections)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| OpenError::Postgres {
                target: target.clone(),
                message: e.to_string(),
            })?;
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, pool.get())
            .await
            .map_err(|_| OpenError::Postgres {
                target: target.clone(),
                message: format!("no connection within {CONNECT_TIMEOUT:?}"),
            })?
            .map_err(|e| OpenError::Postgres {
                target: target.clone(),
                message: pool_error(&e),
            })?;
        let plugins = migrate::prepare(&mut conn, &target, migrations).await?;
        check_limits(&mut conn, &options.limits, &target).await?;
        let roles = Roles::default();
        for plugin in &plugins {
            roles.insert(plugin);
        }
        Ok(Self {
            pool,
            tls,
            policy,
            roles,
            limits: options.limits,
            slots: FairSlots::with_default_reserve(connections),
            retention: DEFAULT_RETENTION,
            purge: PurgeSchedule::default(),
        })
    }

    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Sets how long idempotency records are kept (default one day).
    #[must_use]
    pub(crate) fn with_idempotency_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Runs `job` in a transaction of its own.
    pub(crate) async fn execute(&self, job: Job) -> Result<Outcome, ExecError> {
        let timeout_ms = job.timeout_ms;
        let slot = self
            .slots
            .acquire(job.plugin.name(), job.deadline)
            .await
            .map_err(|_| ExecError::Timeout { timeout_ms })?;
        let conn = self.connection(job.deadline, timeout_ms).await?;
        let role = self.role(&conn, &job.plugin, timeout_ms).await?;
        let cancel = conn.cancel_token();
        let read_only = !(job.writes_any() && job.allow_write);
        let ran = {
            let work = async {
                let settings = request_settings(&role, &job, &self.limits)?;
                // The transaction opens in the same message as its settings (see
                // `run::statement`): one round trip for the whole request.
                let (mode, end) = if read_only {
                    ("READ ONLY", End::Rollback)
                } else {
                    ("READ WRITE", End::Commit)
                };
                let prelude = format!("START TRANSACTION {mode}; {settings}");
                let started = Instant::now();
                let ran = statements(&conn, &conn.statement_cache, &job, &prelude, end).await?;
                Ok((ran, started.elapsed()))
            };
            bounded(work, job.deadline, (&cancel, &self.tls), timeout_ms).await
        };
        match ran {
            Bounded::Finished(Ok(((ran, then), execution_time))) => {
                if ran.unfinished {
                    run::retire(conn, slot, Some((cancel, self.tls.clone())));
                }
                Ok(Outcome {
                    rows: ran.rows,
                    row_count: ran.row_count,
                    execution_time,
                    then,
                })
            }
            Bounded::Finished(Err(e)) => {
                if job.chunks.is_some() {
                    // A stream stopped mid-read (its client gone, its deadline): the server
                    // may still be sending its rows.
                    run::retire(conn, slot, Some((cancel, self.tls.clone())));
                }
                Err(e)
            }
            Bounded::Abandoned => {
                run::abandon(conn, slot);
                Err(ExecError::Timeout { timeout_ms })
            }
        }
    }

    /// Looks up an idempotent write's key and, on first use, opens its transaction.
    pub(crate) async fn claim(&self, claim: Claim) -> Result<Claimed, ExecError> {
        let timeout_ms = claim.timeout_ms;
        // The claim's transaction holds its slot until it ends, in the claim's task.
        let slot = self
            .slots
            .acquire(claim.plugin.name(), claim.deadline)
            .await
            .map_err(|_| ExecError::Timeout { timeout_ms })?;
        let conn = self.connection(claim.deadline, timeout_ms).await?;
        let role = self.role(&conn, &claim.plugin, timeout_ms).await?;
        let purge = self.purge.due(Instant::now());
        claim::claim(
            (conn, slot),
            claim,
            role,
            (self.tls.clone(), self.limits),
            self.retention,
            purge,
        )
        .await
    }

    /// A pooled connection, waiting at most until `deadline`.
    async fn connection(
        &self,
        deadline: Instant,
        timeout_ms: u32,
    ) -> Result<deadpool_postgres::Object, ExecError> {
        let conn = tokio::time::timeout_at(deadline.into(), self.pool.get())
            .await
            .map_err(|_| ExecError::Timeout { timeout_ms })?
            .map_err(|e| ExecError::Execution {
                message: format!(
                    "the database is unavailable right now ({}); try again",
                    pool_error(&e)
                ),
                constraint: None,
                transient: true,
                batch_index: None,
            })?;
        if conn.statement_cache.size() > STATEMENT_CACHE_LIMIT {
            conn.statement_cache.clear();
        }
        Ok(conn)
    }

    /// The role `plugin`'s statements run under.
    async fn role(
        &self,
        conn: &deadpool_postgres::Object,
        plugin: &sql_core::Plugin,
        timeout_ms: u32,
    ) -> Result<String, ExecError> {
        self.roles
            .for_plugin(conn, plugin)
            .await
            .map_err(|e| errors::map(&e, timeout_ms, plugin.table_prefix()))
    }
}

/// Makes sure the handler's role may apply the request limits, so that start-up fails with
/// the fix instead of every request failing.
async fn check_limits(
    conn: &mut deadpool_postgres::Client,
    limits: &RequestLimits,
    target: &str,
) -> Result<(), OpenError> {
    let failed = |message: String| OpenError::Postgres {
        target: target.to_owned(),
        message,
    };
    let tx = conn
        .transaction()
        .await
        .map_err(|e| failed(migrate::describe(&e)))?;
    match tx.batch_execute(&limits.settings()).await {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) => {
            Err(failed(
                "the handler's role may not set temp_file_limit, which bounds each request's \
                 temporary files; as a superuser, run GRANT SET ON PARAMETER temp_file_limit TO \
                 <the handler's role> (PostgreSQL 15 or later), connect as a superuser, or start \
                 with --postgres-temp-file-limit=-1 to leave the server's own limit"
                    .to_owned(),
            ))
        }
        Err(e) => Err(failed(migrate::describe(&e))),
    }
}

/// `host:port/database` of a configuration, for messages: never the user or password.
fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = config.get_hosts().first().map_or_else(
        || "localhost".to_owned(),
        |h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        },
    );
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default)");
    format!("{host}:{port}/{db}")
}

/// A pool failure in words, without connection details.
fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => migrate::describe(e),
        other => other.to_string(),
    }
}
