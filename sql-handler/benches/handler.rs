//! What the handler adds to a query, on each backend, measured against baselines run in
//! the same process: a raw NATS echo (the transport's own cost) and the same query sent to
//! the database directly.
//!
//! Every variant sends `SELECT id, name, n FROM bench__events WHERE user_id = $1 AND n > $2`
//! with one request in flight. Handler overhead = full path − echo − direct query. The
//! PostgreSQL direct baseline is given twice: the bare prepared query, and the same inside
//! the transaction shape every request gets (`BEGIN READ ONLY`, `SET LOCAL ROLE`,
//! `SET LOCAL statement_timeout`, `COMMIT`), which is the price of the isolation.
//!
//! Run with `cargo bench -p sql-handler --bench handler` (needs `nats-server` and
//! PostgreSQL's binaries; uses `SQL_TEST_POSTGRES_URL` when set, else a private cluster).

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark report"
)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use sql_handler::{Config, Handler};
use sql_test_harness::{NatsServer, TestDatabase};

const WARMUP: usize = 300;
const ROUNDS: usize = 5;
const PER_ROUND: usize = 1000;
const SQL: &str = "SELECT id, name, n FROM bench__events WHERE user_id = $1 AND n > $2";
const MIGRATION: &str = "
CREATE TABLE bench__events (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL, n INTEGER NOT NULL);
CREATE INDEX bench__events_by_user ON bench__events (user_id);
INSERT INTO bench__events (id, user_id, name, n)
    SELECT g, 'u' || (g % 100), 'event ' || g, g % 7
    FROM (WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 1000) SELECT g FROM s) AS gs;
";
const ECHO: &[u8] = br#"{"rows":[{"id":7,"name":"event 7","n":0},{"id":107,"name":"event 107","n":2}],"row_count":2,"execution_time_ms":0.01,"truncated":false,"columns":["id","name","n"]}"#;

fn main() {
    let nats = NatsServer::start();
    let postgres = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations/bench");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(migrations.join("001_init.sql"), MIGRATION).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&nats, &postgres, dir.path()));
}

/// Starts an in-process handler on `database`, listening under `prefix`.
async fn start(nats: &NatsServer, database: &str, prefix: &str, dir: &Path) {
    let migrations = dir.join("migrations").display().to_string();
    let config = Config::try_parse_from([
        "sql-handler",
        "--nats-url",
        &nats.url(),
        "--database",
        database,
        "--migrations",
        &migrations,
        "--subject-prefix",
        prefix,
        "--rate-limit-per-minute",
        "100000000",
    ])
    .unwrap();
    let handler = Handler::start(&config).await.unwrap();
    tokio::spawn(handler.serve(std::future::pending()));
}

async fn run(nats: &NatsServer, postgres: &TestDatabase, dir: &Path) {
    let sqlite_path = dir.join("bench.db");
    start(
        nats,
        &format!("sqlite://{}", sqlite_path.display()),
        "bench.sqlite",
        dir,
    )
    .await;
    start(nats, postgres.url(), "bench.postgres", dir).await;

    let responder = async_nats::connect(nats.url()).await.unwrap();
    let mut echoes = responder.subscribe("bench.echo").await.unwrap();
    let publisher = responder.clone();
    tokio::spawn(async move {
        while let Some(message) = echoes.next().await {
            if let Some(reply) = message.reply {
                let _ = publisher.publish(reply, ECHO.into()).await;
            }
        }
    });
    responder.flush().await.unwrap();

    let client = async_nats::connect(nats.url()).await.unwrap();
    let body = bytes::Bytes::from(
        serde_json::to_vec(&serde_json::json!({"query": SQL, "params": ["u7", 1]})).unwrap(),
    );
    let request = |subject: &'static str| {
        let client = client.clone();
        let body = body.clone();
        move || {
            let client = client.clone();
            let body = body.clone();
            async move {
                let reply = client.request(subject, body).await.unwrap();
                assert!(
                    reply.payload.starts_with(b"{\"rows\":[{"),
                    "{:?}",
                    reply.payload
                );
            }
        }
    };
    let echo = request("bench.echo");
    let via_sqlite = request("bench.sqlite.bench.execute");
    let via_postgres = request("bench.postgres.bench.execute");

    let sqlite = Arc::new(Mutex::new(
        rusqlite::Connection::open(&sqlite_path).unwrap(),
    ));
    let sqlite_direct = || {
        let sqlite = Arc::clone(&sqlite);
        async move {
            let conn = sqlite.lock().unwrap();
            let mut statement = conn.prepare_cached(SQL).unwrap();
            let rows = statement
                .query_map(rusqlite::params!["u7", 1], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
                .unwrap()
                .count();
            assert!(rows > 0);
        }
    };

    let (pg, connection) = tokio_postgres::connect(postgres.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let statement = pg.prepare(SQL).await.unwrap();
    let pg = Arc::new(tokio::sync::Mutex::new(pg));
    let postgres_direct = || {
        let pg = Arc::clone(&pg);
        let statement = statement.clone();
        async move {
            let pg = pg.lock().await;
            let rows = pg.query(&statement, &[&"u7", &1i32]).await.unwrap();
            assert!(!rows.is_empty());
        }
    };
    let postgres_transaction = || {
        let pg = Arc::clone(&pg);
        let statement = statement.clone();
        async move {
            let mut pg = pg.lock().await;
            let tx = pg
                .build_transaction()
                .read_only(true)
                .start()
                .await
                .unwrap();
            tx.batch_execute("SET LOCAL ROLE \"sqlh_bench\"; SET LOCAL statement_timeout = 10000")
                .await
                .unwrap();
            let rows = tx.query(&statement, &[&"u7", &1i32]).await.unwrap();
            assert!(!rows.is_empty());
            tx.commit().await.unwrap();
        }
    };

    let mut results: Vec<(&str, Vec<Duration>)> = [
        "NATS echo (transport)",
        "SQLite, direct",
        "SQLite, through the handler",
        "PostgreSQL, direct query",
        "PostgreSQL, direct, in the request's transaction",
        "PostgreSQL, through the handler",
    ]
    .into_iter()
    .map(|name| (name, Vec::new()))
    .collect();
    for round in 0..=ROUNDS {
        // Round 0 warms every path up; the rounds interleave so drift affects all alike.
        let n = if round == 0 { WARMUP } else { PER_ROUND };
        let timed = [
            time(n, &echo).await,
            time(n, &sqlite_direct).await,
            time(n, &via_sqlite).await,
            time(n, &postgres_direct).await,
            time(n, &postgres_transaction).await,
            time(n, &via_postgres).await,
        ];
        if round > 0 {
            for ((_, samples), new) in results.iter_mut().zip(timed) {
                samples.extend(new);
            }
        }
    }

    println!(
        "{} sequential queries per variant, one in flight, all in one process\n",
        ROUNDS * PER_ROUND
    );
    println!(
        "{:<50} {:>9} {:>9} {:>9}",
        "variant", "mean µs", "p50 µs", "p99 µs"
    );
    let mut means = Vec::new();
    for (name, samples) in &mut results {
        samples.sort();
        let mean = micros(samples.iter().sum::<Duration>()) / samples.len() as f64;
        means.push(mean);
        let p =
            |q: f64| micros(samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]);
        println!("{name:<50} {mean:>9.1} {:>9.1} {:>9.1}", p(0.50), p(0.99));
    }
    let [echo, sqlite_direct, sqlite_full, pg_direct, pg_tx, pg_full] = means[..] else {
        unreachable!("six variants")
    };
    println!(
        "\nhandler overhead (full path − echo − direct): SQLite {:.1} µs; PostgreSQL {:.1} µs over the bare query, {:.1} µs over the request's transaction",
        sqlite_full - echo - sqlite_direct,
        pg_full - echo - pg_direct,
        pg_full - echo - pg_tx,
    );
    println!(
        "full path / (echo + direct): SQLite {:.2}x, PostgreSQL {:.2}x (against the request's transaction)",
        sqlite_full / (echo + sqlite_direct),
        pg_full / (echo + pg_tx),
    );
}

async fn time<F, Fut>(n: usize, f: &F) -> Vec<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f().await;
        samples.push(started.elapsed());
    }
    samples
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
