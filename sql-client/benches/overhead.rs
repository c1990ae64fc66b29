//! Client overhead per query (NFR-2: under 5 ms), measured against the transport itself.
//!
//! A trivial responder answers every request with the same small success reply. The same
//! run times raw `async-nats` requests and `SqlClient::execute` calls to it, one at a time,
//! so the difference is what the client adds: the checks, the rate limiter, JSON encoding
//! and decoding, headers, audit records and metrics.
//!
//! Run with `cargo bench -p sql-client --bench overhead` (needs `nats-server` on PATH).

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark report"
)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use sql_client::{ClientConfig, Query, Select, SqlClient};
use sql_core::{Plugin, RateLimit};

const WARMUP: usize = 500;
const ROUNDS: usize = 5;
const PER_ROUND: usize = 2000;

const REPLY: &[u8] = br#"{"rows":[{"id":1,"name":"login","n":2}],"row_count":1,"execution_time_ms":0.01,"truncated":false,"columns":["id","name","n"]}"#;
const SQL: &str = "SELECT id, name, n FROM bench__events WHERE user_id = $1 AND n > $2";

fn main() {
    let nats = sql_test_harness::NatsServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&nats.url()));
}

async fn run(url: &str) {
    let responder = async_nats::connect(url).await.unwrap();
    let mut requests = responder
        .subscribe("rosey.db.sql.bench.execute")
        .await
        .unwrap();
    let echo = responder.clone();
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            if let Some(reply) = message.reply {
                let _ = echo.publish(reply, REPLY.into()).await;
            }
        }
    });
    responder.flush().await.unwrap();

    let nats = async_nats::connect(url).await.unwrap();
    let config = ClientConfig::default().rate_limit(RateLimit::per_minute(u32::MAX));
    let client = SqlClient::with_config(nats.clone(), "bench", config).unwrap();
    let plugin = Plugin::new("bench").unwrap();
    let query = Query::<Select>::checked(SQL, &plugin)
        .unwrap()
        .bind("alice")
        .unwrap()
        .bind(&1)
        .unwrap();
    let raw_body =
        serde_json::to_vec(&serde_json::json!({"query": SQL, "params": ["alice", 1]})).unwrap();

    let raw = || {
        let nats = nats.clone();
        let body = raw_body.clone();
        async move {
            nats.request("rosey.db.sql.bench.execute", body.into())
                .await
                .unwrap();
        }
    };
    let with_client = || {
        let client = client.clone();
        let query = query.clone();
        async move {
            client.execute(query).await.unwrap();
        }
    };
    let checked_each_time = || {
        let client = client.clone();
        let plugin = plugin.clone();
        async move {
            let query = Query::<Select>::checked(SQL, &plugin)
                .unwrap()
                .bind("alice")
                .unwrap()
                .bind(&1)
                .unwrap();
            client.execute(query).await.unwrap();
        }
    };

    // Interleave request by request, so that drift of the machine (other processes, CPU
    // frequency) affects every variant alike.
    let mut results: [(&str, Vec<Duration>); 3] = [
        ("raw async-nats request", Vec::new()),
        ("SqlClient::execute", Vec::new()),
        ("Query::checked + execute", Vec::new()),
    ];
    for i in 0..WARMUP + ROUNDS * PER_ROUND {
        let timed = [
            time_one(&raw).await,
            time_one(&with_client).await,
            time_one(&checked_each_time).await,
        ];
        if i >= WARMUP {
            for ((_, samples), took) in results.iter_mut().zip(timed) {
                samples.push(took);
            }
        }
    }
    println!(
        "{} sequential requests per variant, one in flight, interleaved, client and responder in one process\n",
        ROUNDS * PER_ROUND
    );
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10}",
        "variant", "mean µs", "p50 µs", "p95 µs", "p99 µs"
    );
    let mut means = Vec::new();
    let mut medians = Vec::new();
    for (name, samples) in &mut results {
        samples.sort();
        let mean = samples.iter().sum::<Duration>() / u32::try_from(samples.len()).unwrap();
        means.push(mean);
        let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
        medians.push(p(0.50));
        println!(
            "{name:<28} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            micros(mean),
            micros(p(0.50)),
            micros(p(0.95)),
            micros(p(0.99))
        );
    }
    println!(
        "\nclient overhead per query: {:.1} µs mean, {:.1} µs p50 (execute); {:.1} µs mean, {:.1} µs p50 (with a run-time policy check); NFR-2 budget: 5000 µs",
        micros(means[1]) - micros(means[0]),
        micros(medians[1]) - micros(medians[0]),
        micros(means[2]) - micros(means[0]),
        micros(medians[2]) - micros(medians[0]),
    );

    // The same with every audit record formatted as a JSON line (written to a sink), as a
    // deployment that ships them to a SIEM would.
    tracing_subscriber::fmt()
        .event_format(sql_core::json_log::JsonLines::new())
        .with_writer(std::io::sink)
        .init();
    let mut logged: [(&str, Vec<Duration>); 2] = [
        ("raw async-nats request", Vec::new()),
        ("execute + JSON audit log", Vec::new()),
    ];
    for _ in 0..ROUNDS * PER_ROUND {
        logged[0].1.push(time_one(&raw).await);
        logged[1].1.push(time_one(&with_client).await);
    }
    let mean = |samples: &[Duration]| {
        micros(samples.iter().sum::<Duration>() / u32::try_from(samples.len()).unwrap())
    };
    println!(
        "with JSON audit logging: raw {:.1} µs, client {:.1} µs, overhead {:.1} µs per query",
        mean(&logged[0].1),
        mean(&logged[1].1),
        mean(&logged[1].1) - mean(&logged[0].1),
    );
}

async fn time_one<F, Fut>(f: &F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    f().await;
    started.elapsed()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
