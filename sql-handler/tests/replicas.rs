//! Two `sql-handler` processes in one queue group on one PostgreSQL database: both serve,
//! and when one is killed (SIGKILL) in the middle of a stream of reads and writes, no
//! read is lost (the client retries it on the survivor) and every write is applied
//! exactly once (its `Idempotency-Key` is recorded in the write's own transaction, so a
//! retry finds the record or, if the dead replica never committed, runs it).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sql_client::{Backoff, ClientConfig, Insert, Query, Row, Select, SqlClient};
use sql_core::{Plugin, RateLimit};
use sql_test_harness::{NatsServer, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_sql-handler");
const PLUGIN: &str = "analytics-db";
const STREAMS: usize = 4;
const OPS: usize = 60;
const WRITE_EVERY: usize = 3;
/// Completed queries before one replica is killed.
const KILL_AFTER: usize = 60;
const WAIT: Duration = Duration::from_secs(30);

/// One handler process with its log file.
struct Replica {
    child: Child,
    log: PathBuf,
}

impl Replica {
    fn start(nats: &NatsServer, database: &str, migrations: &Path, log: PathBuf) -> Self {
        let child = Command::new(BIN)
            .args(["--nats-url", &nats.url(), "--database", database])
            .arg("--migrations")
            .arg(migrations)
            .args(["--log-format", "json", "--postgres-pool-size", "4"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        while !self.log().contains("sql-handler ready") {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the handler exited with {status}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Requests this replica answered, from its audit records.
    fn served(&self) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains("\"sql.audit\""))
            .count()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn plugin() -> Plugin {
    Plugin::new(PLUGIN).unwrap()
}

fn read() -> Query<Select> {
    Query::checked(
        "SELECT count(*) AS n FROM analytics_db__events WHERE user_id = $1",
        &plugin(),
    )
    .unwrap()
    .bind("replicas")
    .unwrap()
}

fn write(name: &str) -> Query<Insert> {
    Query::checked(
        "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)",
        &plugin(),
    )
    .unwrap()
    .bind("replicas")
    .unwrap()
    .bind(name)
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_replicas_serve_and_losing_one_loses_nothing() {
    let db = TestDatabase::create();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir_all(migrations.join(PLUGIN)).unwrap();
    std::fs::write(
        migrations.join(PLUGIN).join("001_init.sql"),
        "CREATE TABLE analytics_db__events (id BIGSERIAL PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL);",
    )
    .unwrap();
    // Started together: the migration runs once, the other replica waits for its lock.
    let mut replicas = [
        Replica::start(&nats, db.url(), &migrations, dir.path().join("a.log")),
        Replica::start(&nats, db.url(), &migrations, dir.path().join("b.log")),
    ];
    for replica in &mut replicas {
        replica.wait_ready();
    }

    let config = ClientConfig::default()
        .timeout(Duration::from_millis(1000))
        .reply_margin(Duration::from_millis(500))
        .max_retries(20)
        .backoff(Backoff::new(
            Duration::from_millis(20),
            Duration::from_millis(200),
        ))
        .rate_limit(RateLimit::per_minute(100_000));
    let nats_client = async_nats::connect(nats.url()).await.unwrap();
    let client = SqlClient::with_config(nats_client, PLUGIN, config).unwrap();

    for _ in 0..40 {
        client.select::<Row>(read()).await.unwrap();
    }
    let (a, b) = (replicas[0].served(), replicas[1].served());
    assert!(a > 0 && b > 0, "both replicas serve: {a} and {b} requests");

    let done = Arc::new(AtomicUsize::new(0));
    let kill_now = Arc::new(tokio::sync::Notify::new());
    let mut streams = Vec::new();
    for stream in 0..STREAMS {
        let client = client.clone();
        let done = Arc::clone(&done);
        let kill_now = Arc::clone(&kill_now);
        streams.push(tokio::spawn(async move {
            let mut names = Vec::new();
            for op in 0..OPS {
                if op % WRITE_EVERY == 0 {
                    let name = format!("s{stream}-op{op}");
                    let inserted = client
                        .insert(write(&name))
                        .await
                        .unwrap_or_else(|e| panic!("write {name}: {e}"));
                    assert_eq!(inserted, 1, "write {name}");
                    names.push(name);
                } else {
                    client
                        .select::<Row>(read())
                        .await
                        .unwrap_or_else(|e| panic!("stream {stream} read {op}: {e}"));
                }
                if done.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                    kill_now.notify_one();
                }
            }
            names
        }));
    }
    tokio::time::timeout(WAIT, kill_now.notified())
        .await
        .expect("the stream gets under way");
    replicas[0].child.kill().unwrap();
    let killed_at = done.load(Ordering::SeqCst);
    let mut written = Vec::new();
    for stream in streams {
        written.extend(
            tokio::time::timeout(WAIT * 2, stream)
                .await
                .expect("the stream finishes in time")
                .expect("every query of the stream succeeds"),
        );
    }
    assert!(killed_at < STREAMS * OPS, "killed before the stream ended");
    assert_eq!(written.len(), STREAMS * OPS.div_ceil(WRITE_EVERY));

    // Exactly once: one row per write, none missing, none doubled.
    let rows: Vec<Row> = client
        .select(
            Query::checked(
                "SELECT name, count(*) AS n FROM analytics_db__events WHERE user_id = $1 GROUP BY name",
                &plugin(),
            )
            .unwrap()
            .bind("replicas")
            .unwrap(),
        )
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(rows.len(), written.len(), "every write is there");
    for row in &rows {
        assert_eq!(
            row.get::<i64>("n").unwrap(),
            1,
            "{} applied once",
            row.get::<String>("name").unwrap()
        );
    }
    let after = replicas[1].served();
    assert!(after > b, "the survivor served the rest");
}
