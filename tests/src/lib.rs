#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test support: a failed set-up should stop the test loudly"
)]

//! Shared fixture of the end-to-end tests: a real `nats-server` on a free loopback port
//! and the real `sql-handler` serving a fresh database with the migrations in
//! `fixtures/migrations`. The tests themselves live in `tests/`.
//!
//! One set of tests runs against either backend, chosen by `SQL_TEST_BACKEND`
//! ([`backend()`]): `sqlite` (the default) serves a temporary SQLite file, `postgres` a new
//! database per [`TestDb`] in the cluster named by `SQL_TEST_POSTGRES_URL` (which
//! `scripts/test.sh` starts), or in a private cluster when that is unset.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_nats::HeaderMap;
use clap::Parser;
use serde_json::Value;
use sql_core::wire::{ErrorReply, Reply, SuccessReply};
use sql_handler::{Config, Handler};
use sql_test_harness::{NatsServer, TestDatabase};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for any one reply before failing instead of hanging.
pub const REPLY_WAIT: Duration = Duration::from_secs(20);

/// The folder of the test migrations.
#[must_use]
pub fn migrations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/migrations")
}

/// The variable choosing the backend the handlers serve: `sqlite` (the default) or
/// `postgres`.
pub const BACKEND_VAR: &str = "SQL_TEST_BACKEND";

/// The database engine behind the handlers of this test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file in a temporary folder (`--database sqlite://...`).
    Sqlite,
    /// A fresh PostgreSQL database (`--database postgres://...`).
    Postgres,
}

/// The backend named by `SQL_TEST_BACKEND`; `sqlite` when it is unset or empty.
///
/// # Panics
///
/// When the variable holds anything else, so that a typo never silently tests SQLite.
#[must_use]
pub fn backend() -> Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    *BACKEND.get_or_init(|| {
        let value = std::env::var_os(BACKEND_VAR).unwrap_or_default();
        match value.to_str() {
            Some("" | "sqlite") => Backend::Sqlite,
            Some("postgres") => Backend::Postgres,
            _ => panic!(
                "{BACKEND_VAR}={} is not a backend of these tests; expected \"sqlite\" (the default) or \"postgres\"",
                value.to_string_lossy()
            ),
        }
    })
}

/// The database a test's handlers serve, made for the [`backend()`] of the run: an SQLite
/// file in a temporary folder, or a fresh PostgreSQL database. Every handler started on
/// one `TestDb` serves the same database (a restart, or replicas sharing it); it lasts as
/// long as the `TestDb`.
#[derive(Debug)]
pub struct TestDb {
    dir: tempfile::TempDir,
    postgres: Option<TestDatabase>,
}

impl TestDb {
    /// Creates the folder and, on PostgreSQL, the database.
    ///
    /// # Panics
    ///
    /// When the folder or the database cannot be created.
    #[must_use]
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let postgres = match backend() {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDatabase::create()),
        };
        Self { dir, postgres }
    }

    /// The handler's `--database` value.
    #[must_use]
    pub fn url(&self) -> String {
        match &self.postgres {
            Some(database) => database.url().to_owned(),
            None => format!("sqlite://{}", self.dir.path().join("handler.db").display()),
        }
    }

    /// A temporary folder of the test's own (holding the database file on SQLite).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

/// A running handler with its NATS server and database.
#[derive(Debug)]
pub struct TestEnv {
    /// The NATS server.
    pub nats: NatsServer,
    /// A plain NATS client for sending requests.
    pub client: async_nats::Client,
    db: TestDb,
    shutdown: CancellationToken,
    served: Option<JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
}

impl TestEnv {
    /// Starts NATS and a handler with default settings.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts NATS and a handler with extra `sql-handler` flags.
    pub async fn start_with(extra_args: &[&str]) -> Self {
        capture_logs();
        let nats = NatsServer::start();
        let db = TestDb::new();
        let handler = start_handler(&nats, &db, extra_args).await;
        let metrics_addr = handler.metrics_addr();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let served = tokio::spawn(async move { handler.serve(token.cancelled_owned()).await });
        let client = async_nats::connect(nats.url())
            .await
            .expect("connect to nats");
        Self {
            nats,
            client,
            db,
            shutdown,
            served: Some(served),
            metrics_addr,
        }
    }

    /// Stops the handler and starts a new one with `extra_args` on the same database and
    /// NATS server, as a restart of the service would.
    pub async fn restart(&mut self, extra_args: &[&str]) {
        self.stop().await;
        let handler = start_handler(&self.nats, &self.db, extra_args).await;
        self.metrics_addr = handler.metrics_addr();
        self.shutdown = CancellationToken::new();
        let token = self.shutdown.clone();
        self.served = Some(tokio::spawn(async move {
            handler.serve(token.cancelled_owned()).await;
        }));
    }

    /// Where the handler serves metrics, when started with `--metrics-addr`.
    #[must_use]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The test's temporary folder (holding the database file on SQLite).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.db.dir()
    }

    /// The database the handler serves.
    #[must_use]
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// Sends a JSON body as `plugin` and parses the reply.
    pub async fn request(&self, plugin: &str, body: &Value) -> Reply {
        let payload = serde_json::to_vec(body).expect("serialize");
        let message = self
            .request_raw(&format!("rosey.db.sql.{plugin}.execute"), payload, None)
            .await;
        Reply::from_slice(&message.payload).unwrap_or_else(|e| {
            panic!("reply is not a protocol reply ({e}): {:?}", message.payload)
        })
    }

    /// Sends raw bytes to any subject and returns the reply message.
    pub async fn request_raw(
        &self,
        subject: &str,
        payload: Vec<u8>,
        headers: Option<HeaderMap>,
    ) -> async_nats::Message {
        let request = async_nats::Request::new()
            .payload(payload.into())
            .timeout(Some(REPLY_WAIT));
        let request = match headers {
            Some(h) => request.headers(h),
            None => request,
        };
        tokio::time::timeout(
            REPLY_WAIT,
            self.client.send_request(subject.to_owned(), request),
        )
        .await
        .unwrap_or_else(|_| panic!("no reply within {REPLY_WAIT:?} on {subject}"))
        .unwrap_or_else(|e| panic!("request on {subject} failed: {e}"))
    }

    /// Sends `body` as `plugin` and expects a success reply.
    pub async fn ok(&self, plugin: &str, body: &Value) -> SuccessReply {
        match self.request(plugin, body).await {
            Reply::Success(reply) => reply,
            other => panic!("expected success for {body}, got {other:?}"),
        }
    }

    /// Sends `body` as `plugin` and expects an error reply.
    pub async fn err(&self, plugin: &str, body: &Value) -> ErrorReply {
        match self.request(plugin, body).await {
            Reply::Error(reply) => reply,
            other => panic!("expected an error for {body}, got {other:?}"),
        }
    }

    /// Stops the NATS server under the running handler.
    pub fn kill_nats(&mut self) {
        self.nats.kill();
    }

    /// Asks the handler to shut down and waits until it has.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(served) = self.served.take() {
            tokio::time::timeout(REPLY_WAIT, served)
                .await
                .expect("handler stops in time")
                .expect("handler task");
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A handler serving in a task of its own until [`Serving::stop`].
#[derive(Debug)]
pub struct Serving {
    shutdown: CancellationToken,
    served: JoinHandle<()>,
}

impl Serving {
    /// Serves `handler` until stopped.
    #[must_use]
    pub fn spawn(handler: Handler) -> Self {
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let served = tokio::spawn(async move { handler.serve(token.cancelled_owned()).await });
        Self { shutdown, served }
    }

    /// Asks the handler to shut down and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(REPLY_WAIT, self.served)
            .await
            .expect("handler stops in time")
            .expect("handler task");
    }
}

/// Starts a handler on `nats` serving `db`.
pub async fn start_handler(nats: &NatsServer, db: &TestDb, extra_args: &[&str]) -> Handler {
    start_handler_on(&nats.url(), db, extra_args).await
}

/// Starts a handler connected to `nats_urls` (one URL, or several comma-separated for a
/// cluster) serving `db`, with the test migrations.
pub async fn start_handler_on(nats_urls: &str, db: &TestDb, extra_args: &[&str]) -> Handler {
    let database = db.url();
    let migrations = migrations_dir();
    let mut args = vec![
        "sql-handler".to_owned(),
        "--nats-url".to_owned(),
        nats_urls.to_owned(),
        "--database".to_owned(),
        database,
        "--migrations".to_owned(),
        migrations.display().to_string(),
        // Commits synced at checkpoints only: the tests check what the handler answers,
        // not power-loss durability, and a sync per commit would tie their timing to the
        // disk's backlog (a test build leaves gigabytes to write back).
        "--sqlite-synchronous=normal".to_owned(),
    ];
    args.extend(extra_args.iter().map(|a| (*a).to_owned()));
    let config = Config::try_parse_from(args).expect("valid handler flags");
    Handler::start(&config)
        .await
        .unwrap_or_else(|e| panic!("the handler did not start on {:?}: {e:?}", backend()))
}

/// Log lines captured from every handler in this test process, as JSON.
fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

#[derive(Clone)]
struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a JSON log subscriber that records into memory, as the handler's
/// `--log-format json` does to stderr.
pub fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let writer = BufferWriter(Arc::clone(log_buffer()));
        let _ = tracing_subscriber::fmt()
            .event_format(sql_client::JsonLines::new())
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .try_init();
    });
}

/// Every captured log record (as JSON) that `keep` accepts.
#[must_use]
pub fn log_records(keep: impl Fn(&Value) -> bool) -> Vec<Value> {
    let text = {
        let buffer = log_buffer().lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buffer).into_owned()
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| keep(record))
        .collect()
}

/// Every captured `sql.audit` record with this correlation id.
#[must_use]
pub fn audit_records(correlation_id: &str) -> Vec<Value> {
    let text = {
        let buffer = log_buffer().lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buffer).into_owned()
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| {
            record["target"] == "sql.audit" && record["correlation_id"] == correlation_id
        })
        .collect()
}

/// Waits until the server has processed everything `client` sent so far: async-nats's
/// `flush` only empties the socket buffer, but a message to our own inbox comes back only
/// after the server has handled what was sent before it.
pub async fn round_trip(client: &async_nats::Client) {
    use futures::StreamExt;
    let inbox = client.new_inbox();
    let mut probe = client
        .subscribe(inbox.clone())
        .await
        .expect("subscribe probe");
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .expect("publish probe");
    tokio::time::timeout(REPLY_WAIT, probe.next())
        .await
        .expect("probe returns in time")
        .expect("probe message");
}

/// Headers carrying an idempotency key.
#[must_use]
pub fn with_idempotency_key(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(sql_core::wire::IDEMPOTENCY_KEY_HEADER, key);
    headers
}

/// An HTTP response as the tests need it.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, when present.
    pub content_type: Option<String>,
    /// The body as text.
    pub body: String,
}

/// Sends `GET path` to `addr` over HTTP/1.0 and reads the whole response. A test client
/// only: it reads a `Connection: close` response to its end.
pub async fn http_get(addr: SocketAddr, path: &str) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(
                format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .expect("send request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read response");
        raw
    };
    let raw = tokio::time::timeout(REPLY_WAIT, exchange)
        .await
        .expect("HTTP response in time");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.trim().to_owned());
    HttpResponse {
        status,
        content_type,
        body: body.to_owned(),
    }
}

/// The value of the sample `name` whose labels are exactly `labels`, in a Prometheus
/// text exposition.
#[must_use]
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (sample, label_text) = match series.split_once('{') {
                Some((sample, rest)) => (sample, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if sample != name {
                return None;
            }
            let mut found: Vec<(&str, &str)> = label_text
                .split(',')
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    Some((k, v.strip_prefix('"')?.strip_suffix('"')?))
                })
                .collect();
            let mut wanted = labels.to_vec();
            found.sort_unstable();
            wanted.sort_unstable();
            (found == wanted).then(|| value.parse().ok()).flatten()
        })
}

/// Headers carrying a correlation id.
#[must_use]
pub fn with_correlation_id(id: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(sql_core::wire::CORRELATION_ID_HEADER, id);
    headers
}

/// The README's Rust blocks, compiled as doctests of this crate (whose `sql!` calls are
/// checked against the same `analytics-db` schema), so the README cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
