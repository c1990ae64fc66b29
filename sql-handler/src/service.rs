//! The NATS side: queue-group subscription, concurrent dispatch under a cap, replies, and
//! graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::{HeaderMap, Message, Subscriber};
use futures::StreamExt;
use sql_core::Policy;
use sql_core::wire::{self, CORRELATION_ID_HEADER, IDEMPOTENCY_KEY_HEADER, RequestError};
use tokio_util::task::TaskTracker;

use crate::admission::Admission;
use crate::config::{Config, DatabaseUrl, DatabaseUrlError};
use crate::discovery::{Discovery, Identity};
#[cfg(feature = "postgres")]
use crate::engine::postgres::{PgEngine, PgOptions, RequestLimits};
use crate::engine::sqlite::SqliteEngine;
use crate::engine::{Engine, OpenError};
use crate::failure::Failure;
use crate::metrics::Metrics;
#[cfg(feature = "metrics-http")]
use crate::metrics::MetricsServer;
use crate::migrations::{self, MigrationError};
use crate::pipeline::{Incoming, Pipeline};
use crate::rate_limit::PluginLimiter;
use crate::verdicts::Verdicts;

/// How long shutdown waits for the subscription to hand over its buffered requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the last replies to leave.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the handler could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database URL names nothing this handler can serve.
    #[error(transparent)]
    DatabaseUrl(#[from] DatabaseUrlError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] OpenError),
    /// The migrations folder is invalid.
    #[error(transparent)]
    Migrations(#[from] MigrationError),
    /// NATS could not be reached.
    #[error("cannot connect to NATS at {url}")]
    Connect {
        /// The configured URL.
        url: String,
        /// What async-nats said.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The server did not confirm the subscription in time.
    #[error("NATS did not confirm the subscription within {0:?}")]
    NotConfirmed(Duration),
    /// The subscription failed.
    #[error("cannot subscribe to {subject}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What async-nats said.
        #[source]
        source: async_nats::SubscribeError,
    },
    /// The metrics address cannot be listened on.
    #[error("cannot serve metrics on {addr}")]
    Metrics {
        /// The configured address.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The configuration asks for a part this build of the handler leaves out.
    #[error("{option} needs sql-handler's `{feature}` feature, which this build leaves out")]
    NotBuilt {
        /// The option that asks for it.
        option: &'static str,
        /// The cargo feature that builds it.
        feature: &'static str,
    },
}

/// A started handler: database open and migrated, subscribed and ready to serve.
///
/// # Examples
///
/// ```no_run
/// use clap::Parser;
/// use sql_handler::{Config, Handler};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = Config::try_parse_from(["sql-handler", "--database", "sqlite://app.db"])?;
/// let handler = Handler::start(&config).await?;
/// tokio::spawn(handler.serve(async { let _ = tokio::signal::ctrl_c().await; })).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Handler {
    client: async_nats::Client,
    subscriber: Subscriber,
    pipeline: Arc<Pipeline>,
    /// Requests arrive on `<subject_prefix>.<plugin>.execute`.
    subject_prefix: String,
    max_concurrency: usize,
    /// Answers `$SRV.PING`, `INFO` and `STATS`; taken at shutdown.
    discovery: Option<Discovery>,
    #[cfg(feature = "metrics-http")]
    metrics_server: Option<MetricsServer>,
}

impl Handler {
    /// Opens the database, applies migrations, connects to NATS and subscribes to
    /// `<prefix>.*.execute` in the queue group. When it returns, requests are being
    /// received.
    ///
    /// # Errors
    ///
    /// [`StartError`] when migrations are invalid or refused, the database cannot be
    /// opened, or NATS cannot be reached.
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        #[cfg(not(feature = "metrics-http"))]
        if config.metrics_addr().is_some() {
            return Err(StartError::NotBuilt {
                option: "--metrics-addr",
                feature: "metrics-http",
            });
        }
        let policy = Arc::new(Policy::default().with_functions(config.allow_functions()));
        let database = config.database()?;
        let dialect = database.dialect();
        let migrations = migrations::discover_all(config.migrations(), dialect)?;
        // The schema `sql!` checks against: a migration it cannot follow stops the handler
        // too, so the two never disagree about what a plugin's tables are.
        migrations::check_model(&migrations, dialect)?;
        let engine = match database {
            DatabaseUrl::Sqlite(path) => {
                let readers = (config.sqlite_readers(), config.sqlite_synchronous());
                let retention = config.idempotency_retention();
                // Opening and migrating does file I/O; keep it off the async workers.
                let opened = tokio::task::spawn_blocking(move || {
                    SqliteEngine::open(&path, readers, policy, &migrations)
                        .map(|engine| engine.with_idempotency_retention(retention))
                })
                .await
                .map_err(|e| {
                    StartError::Migrations(MigrationError::Failed {
                        migration: "(start-up)".to_owned(),
                        message: e.to_string(),
                    })
                })??;
                Engine::Sqlite(opened)
            }
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(url) => Engine::Postgres(
                PgEngine::open(
                    &url,
                    PgOptions {
                        connections: config.postgres_pool_size(),
                        ca_file: config.postgres_ca_file(),
                        limits: RequestLimits {
                            temp_file_limit_kb: config.postgres_temp_file_limit_kb(),
                            work_mem_kb: config.postgres_work_mem_kb(),
                        },
                    },
                    policy,
                    &migrations,
                )
                .await?
                .with_idempotency_retention(config.idempotency_retention()),
            ),
        };
        let metrics = Arc::new(Metrics::new());
        #[cfg(feature = "metrics-http")]
        let metrics_server = match config.metrics_addr() {
            Some(addr) => Some(
                MetricsServer::start(addr, Arc::clone(&metrics))
                    .await
                    .map_err(|source| StartError::Metrics { addr, source })?,
            ),
            None => None,
        };
        let client = connect_options(config)
            .connect(config.nats_urls())
            .await
            .map_err(|source| StartError::Connect {
                url: config
                    .nats_urls()
                    .into_iter()
                    .map(without_credentials)
                    .collect::<Vec<_>>()
                    .join(","),
                source,
            })?;
        let subject = wire::handler_subject(config.subject_prefix());
        let subscriber = client
            .queue_subscribe(subject.clone(), config.queue_group().to_owned())
            .await
            .map_err(|source| StartError::Subscribe {
                subject: subject.clone(),
                source,
            })?;
        let discovery = Discovery::start(
            &client,
            Identity {
                subject: subject.clone(),
                queue_group: config.queue_group().to_owned(),
                dialect,
            },
            Arc::clone(&metrics),
        )
        .await
        .map_err(|source| StartError::Subscribe {
            subject: "$SRV.*".to_owned(),
            source,
        })?;
        confirm_with_server(&client).await?;
        let max_payload = client.server_info().max_payload;
        tracing::info!(%subject, queue_group = config.queue_group(), max_payload, "sql-handler ready");
        Ok(Self {
            client,
            subscriber,
            pipeline: Arc::new(Pipeline {
                engine,
                verdicts: Verdicts::default(),
                max_payload,
                limiter: PluginLimiter::new(
                    config.rate_limit_per_minute(),
                    config.plugin_rate_limits(),
                    Instant::now(),
                ),
                metrics,
            }),
            subject_prefix: config.subject_prefix().to_owned(),
            max_concurrency: config.max_concurrency(),
            discovery: Some(discovery),
            #[cfg(feature = "metrics-http")]
            metrics_server,
        })
    }

    /// Serves requests until `shutdown` completes, then stops taking new ones, answers
    /// every request already received, stops the metrics endpoint (if any), and returns.
    ///
    /// Run it as a task of the runtime (`tokio::spawn`, as the example does) rather than
    /// in `block_on` itself: on a worker thread each received request reaches this loop,
    /// and its task, without a wake-up across threads (at one request in flight, about
    /// 50 µs less per request on the development machine).
    pub async fn serve(mut self, shutdown: impl Future<Output = ()>) {
        let tracker = TaskTracker::new();
        let admission = Admission::new(self.max_concurrency);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                message = self.subscriber.next() => match message {
                    Some(message) => self.dispatch(message, &admission, &tracker).await,
                    None => break,
                },
            }
        }
        tracing::info!("shutting down: finishing requests in flight");
        // Off the service listings first: this replica takes no new requests.
        if let Some(discovery) = self.discovery.take() {
            discovery.stop().await;
        }
        // Drain: the server stops sending, and requests already on their way to us are
        // still delivered and answered.
        if self.subscriber.drain().await.is_ok() {
            self.take_drained(&admission, &tracker).await;
        }
        tracker.close();
        tracker.wait().await;
        // Scrapes see the final counts until every request is answered.
        #[cfg(feature = "metrics-http")]
        if let Some(server) = self.metrics_server.take() {
            server.stop().await;
        }
        if !self.is_connected() {
            tracing::warn!(
                "NATS unreachable at shutdown; replies not yet sent are lost with the connection"
            );
            tracing::info!("sql-handler stopped");
            return;
        }
        // Bounded: with the server gone, async-nats would wait for a reconnect forever.
        match tokio::time::timeout(FLUSH_TIMEOUT, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not flush the last replies"),
            Err(_) => {
                tracing::warn!("NATS unreachable; the last replies may not have been delivered")
            }
        }
        tracing::info!("sql-handler stopped");
    }

    /// Dispatches the requests the subscription still delivers after `drain`, until the
    /// server confirms the unsubscribe, the connection is lost, or [`DRAIN_TIMEOUT`].
    async fn take_drained(&mut self, admission: &Arc<Admission>, tracker: &TaskTracker) {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        loop {
            match tokio::time::timeout(Duration::from_millis(200), self.subscriber.next()).await {
                Ok(Some(message)) => self.dispatch(message, admission, tracker).await,
                Ok(None) => return,
                Err(_) if !self.is_connected() => {
                    tracing::warn!("NATS connection lost while draining");
                    return;
                }
                Err(_) if Instant::now() >= deadline => {
                    tracing::warn!("subscription did not drain in time");
                    return;
                }
                Err(_) => {}
            }
        }
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Takes on `message` as a task, or refuses it here: a refusal is sent by this loop
    /// itself, so that a flood past the shares queues nowhere but in the connection's
    /// bounded buffers, and slows the loop down rather than piling up tasks.
    async fn dispatch(&self, message: Message, admission: &Arc<Admission>, tracker: &TaskTracker) {
        let received = Instant::now();
        let correlation_id = correlation_id(message.headers.as_ref());
        let idempotency_key = message
            .headers
            .as_ref()
            .and_then(|h| h.get(IDEMPOTENCY_KEY_HEADER))
            .map(|v| v.as_str().to_owned());
        // The identity, read once: it picks the admission share and the pipeline uses it.
        let plugin = wire::plugin_from_subject(&self.subject_prefix, &message.subject);
        let Some(reply_to) = message.reply.clone() else {
            // Nobody would read a reply, so nothing runs; the attempt is still audited.
            let failure = Failure::Request(RequestError::new(
                "reply",
                "a request needs a reply subject",
            ));
            let _ = self.pipeline.refuse(plugin.ok(), &failure, &correlation_id);
            return;
        };
        let client = self.client.clone();
        let pipeline = Arc::clone(&self.pipeline);
        let prefix = self.subject_prefix.clone();
        // The share is the subject's plugin's; subjects that name none share one.
        let sender = plugin.as_ref().map_or("", |plugin| plugin.name());
        match admission.admit(sender) {
            Ok(permit) => {
                // Boxed here, once: the request's future is about 9 kB, and unboxed it
                // would be copied again on each step of its way into the task.
                tracker.spawn(Box::pin(async move {
                    let handled = pipeline
                        .handle(&Incoming {
                            plugin: &plugin,
                            payload: &message.payload,
                            idempotency_key: idempotency_key.as_deref(),
                            correlation_id: &correlation_id,
                            received,
                        })
                        .await;
                    match (handled.stream, plugin) {
                        (Some(stream), Ok(plugin)) => {
                            let first = Reply {
                                to: reply_to,
                                correlation_id: &correlation_id,
                            };
                            // A stream is in flight, and keeps its share, until it ends.
                            serve_stream(&client, &prefix, &plugin, first, handled.body, stream)
                                .await;
                            drop(permit);
                        }
                        _ => {
                            drop(permit);
                            send(&client, reply_to, &correlation_id, handled.body).await;
                        }
                    }
                }));
            }
            Err(over) => {
                let handled =
                    pipeline.refuse(plugin.ok(), &Failure::Overloaded(over), &correlation_id);
                send(&client, reply_to, &correlation_id, handled.body).await;
            }
        }
    }

    /// The address the metrics endpoint listens on, when `--metrics-addr` is set: with port
    /// 0 in the configuration, the port actually bound. Always `None` without the
    /// `metrics-http` feature, whose absence makes `--metrics-addr` a start error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use clap::Parser;
    /// use sql_handler::{Config, Handler};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = Config::try_parse_from([
    ///     "sql-handler", "--database", "sqlite://app.db", "--metrics-addr", "127.0.0.1:0",
    /// ])?;
    /// let handler = Handler::start(&config).await?;
    /// let addr = handler.metrics_addr().ok_or("metrics are enabled")?;
    /// println!("scrape http://{addr}/metrics");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "metrics-http")]
        return self.metrics_server.as_ref().map(MetricsServer::addr);
        #[cfg(not(feature = "metrics-http"))]
        None
    }

    /// This replica's id in the NATS micro-service API: `$SRV.PING.sql-handler.<id>`
    /// reaches it alone, and `nats micro ls` shows it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use clap::Parser;
    /// use sql_handler::{Config, Handler};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = Config::try_parse_from(["sql-handler", "--database", "sqlite://app.db"])?;
    /// let handler = Handler::start(&config).await?;
    /// let subject = format!("$SRV.INFO.sql-handler.{}", handler.service_id());
    /// # let _ = subject;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn service_id(&self) -> &str {
        self.discovery.as_ref().map_or("", Discovery::id)
    }

    /// The NATS client the handler uses.
    #[must_use]
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

/// The handler's NATS connection settings: its name, credentials and private inbox prefix
/// (PROTOCOL.md section 8), and server errors (such as a permissions violation) in the log.
fn connect_options(config: &Config) -> async_nats::ConnectOptions {
    let mut options = async_nats::ConnectOptions::new()
        .name("sql-handler")
        .custom_inbox_prefix(config.nats_inbox_prefix())
        .event_callback(|event| async move {
            match event {
                async_nats::Event::ServerError(error) => {
                    tracing::warn!(%error, "NATS server reported an error");
                }
                other => tracing::info!(event = %other, "NATS connection event"),
            }
        });
    if let Some((user, password)) = config.nats_credentials() {
        options = options.user_and_password(user.to_owned(), password.to_owned());
    }
    if let Some(ca) = config.nats_ca_file() {
        options = options
            .add_root_certificates(ca.to_owned())
            .require_tls(true);
    }
    if let Some((cert, key)) = config.nats_client_certificate() {
        options = options
            .add_client_certificate(cert.to_owned(), key.to_owned())
            .require_tls(true);
    }
    options
}

/// Waits until the server has processed everything this connection sent so far.
///
/// async-nats's `flush` only empties the socket buffer; it does not wait for the server.
/// The server handles one connection's operations in order, so once a message we send to
/// our own inbox comes back, the subscription made before it is in effect and requests
/// published from now on reach us.
async fn confirm_with_server(client: &async_nats::Client) -> Result<(), StartError> {
    const WAIT: Duration = Duration::from_secs(10);
    let inbox = client.new_inbox();
    let confirmed = tokio::time::timeout(WAIT, async {
        let mut probe = client.subscribe(inbox.clone()).await.ok()?;
        client.publish(inbox, bytes::Bytes::new()).await.ok()?;
        client.flush().await.ok()?;
        let echoed = probe.next().await;
        let _ = probe.unsubscribe().await;
        echoed
    })
    .await;
    match confirmed {
        Ok(Some(_)) => Ok(()),
        _ => Err(StartError::NotConfirmed(WAIT)),
    }
}

/// The URL with any `user:password@` removed, for messages.
fn without_credentials(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
        _ => url.to_owned(),
    }
}

fn correlation_id(headers: Option<&HeaderMap>) -> String {
    headers
        .and_then(|h| h.get(CORRELATION_ID_HEADER))
        .map(|v| v.as_str())
        .filter(|v| wire::is_valid_header_value(v))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Where a stream's first chunk goes.
struct Reply<'a> {
    to: async_nats::Subject,
    correlation_id: &'a str,
}

/// Serves a stream after its first chunk: each chunk goes to the request for it, sent on
/// the stream's own subject (PROTOCOL.md section 2, `stream`), until the last, a cancel,
/// or the deadline.
///
/// The subject is subscribed to before the first chunk is sent, so the client's request
/// for the second always finds it; it names the plugin, which the NATS permissions
/// reserve to that plugin's user, and an id nobody else learns.
async fn serve_stream(
    client: &async_nats::Client,
    prefix: &str,
    plugin: &sql_core::Plugin,
    first: Reply<'_>,
    body: Vec<u8>,
    mut stream: Box<crate::pipeline::Streaming<'_>>,
) {
    let correlation_id = first.correlation_id;
    let subject = wire::stream_subject(prefix, plugin, stream.id());
    let mut requests = match client.subscribe(subject).await {
        Ok(requests) => requests,
        Err(e) => {
            tracing::error!(correlation_id, error = %e, "cannot subscribe to a stream's subject");
            let failure = Failure::Exec(crate::engine::ExecError::Internal(format!(
                "cannot serve the stream: {e}"
            )));
            send(client, first.to, correlation_id, stream.refusal(&failure)).await;
            stream.end(Some(failure.code())).await;
            return;
        }
    };
    send(client, first.to, correlation_id, body).await;
    // At the deadline the stream ends: its statement, waiting on a chunk nobody took, is
    // told at once, before the engine would give it up as stuck.
    let outcome = loop {
        let next = tokio::time::timeout_at(stream.deadline().into(), requests.next());
        let message = match next.await {
            Ok(Some(message)) => message,
            // The client stopped asking: the stream ends at its deadline.
            Err(_) => break Some(sql_core::ErrorCode::Timeout),
            Ok(None) => break Some(sql_core::ErrorCode::InternalError),
        };
        let next = serde_json::from_slice::<wire::StreamNext>(&message.payload);
        let Some(reply_to) = message.reply else {
            // A cancel needs no answer; anything else without a reply subject is ignored.
            if matches!(next, Ok(wire::StreamNext::Cancel { .. })) {
                break None;
            }
            continue;
        };
        let body = match next {
            Ok(wire::StreamNext::Chunk { seq }) if seq == stream.next_seq() => stream.next().await,
            Ok(wire::StreamNext::Cancel { .. }) => {
                send(client, reply_to, correlation_id, b"{}".to_vec()).await;
                break None;
            }
            Ok(wire::StreamNext::Chunk { seq }) => {
                stream.refusal(&Failure::Request(RequestError::new(
                    "seq",
                    format!(
                        "the stream's next chunk is {}, not {seq}",
                        stream.next_seq()
                    ),
                )))
            }
            other => stream.refusal(&Failure::Request(RequestError::new(
                "body",
                format!(
                    "a stream takes {{\"seq\": n}} or {{\"cancel\": true}}{}",
                    other.err().map(|e| format!(": {e}")).unwrap_or_default()
                ),
            ))),
        };
        send(client, reply_to, correlation_id, body).await;
        if stream.is_done() {
            break None;
        }
    };
    let _ = requests.unsubscribe().await;
    stream.end(outcome).await;
}

async fn send(
    client: &async_nats::Client,
    reply_to: async_nats::Subject,
    correlation_id: &str,
    body: Vec<u8>,
) {
    let mut headers = HeaderMap::new();
    headers.insert(CORRELATION_ID_HEADER, correlation_id);
    if let Err(e) = client
        .publish_with_headers(reply_to, headers, body.into())
        .await
    {
        tracing::error!(correlation_id, error = %e, "could not send reply");
    }
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn credentials_never_reach_messages() {
        assert_eq!(
            without_credentials("nats://u:secret@h:4222"),
            "nats://***@h:4222"
        );
        assert_eq!(without_credentials("nats://h:4222"), "nats://h:4222");
    }
}
