//! A 3-node NATS cluster on loopback: the node a client is connected to dies in the middle
//! of a stream of reads and writes; the client fails over to a surviving node, every query
//! of the stream succeeds (retried through transport failures and reply timeouts), and
//! every write is applied exactly once (its `Idempotency-Key` makes retries harmless).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sql_client::{Backoff, ClientConfig, Insert, Query, Row, Select, SqlClient};
use sql_client_tests::{
    REPLY_WAIT, Serving, TestDb, capture_logs, start_handler, start_handler_on,
};
use sql_core::{Plugin, RateLimit};
use sql_test_harness::NatsCluster;

const PLUGIN: &str = "analytics-db";
/// Concurrent streams, each of `OPS` queries; every `WRITE_EVERY`th query is a write.
const STREAMS: usize = 4;
const OPS: usize = 40;
const WRITE_EVERY: usize = 8;
/// Completed queries before the client's node is killed.
const KILL_AFTER: usize = 50;

fn plugin() -> Plugin {
    Plugin::new(PLUGIN).unwrap()
}

/// Short timeouts and many retries: a request lost with the dead node is sent again soon.
fn config() -> ClientConfig {
    ClientConfig::default()
        .timeout(Duration::from_millis(500))
        .reply_margin(Duration::from_millis(500))
        .max_retries(30)
        .backoff(Backoff::new(
            Duration::from_millis(20),
            Duration::from_millis(300),
        ))
        .rate_limit(RateLimit::per_minute(100_000))
}

fn count_query() -> Query<Select> {
    Query::checked(
        "SELECT count(*) AS n FROM analytics_db__events WHERE user_id = $1",
        &plugin(),
    )
    .unwrap()
    .bind("cluster")
    .unwrap()
}

/// Polls until `client` gets an answer through the cluster (routes and interest spread
/// asynchronously after start-up).
async fn wait_until_served(client: &SqlClient) {
    let deadline = Instant::now() + REPLY_WAIT;
    loop {
        match client.select::<Row>(count_query()).await {
            Ok(_) => return,
            Err(err) => assert!(
                Instant::now() < deadline,
                "the cluster does not serve queries: {err}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `STREAMS` concurrent streams of reads and writes through `client`, calls `kill`
/// once `KILL_AFTER` queries have completed, and returns the number of writes, all of
/// which succeeded. Panics naming the query when one fails.
async fn run_streams(client: &SqlClient, kill: impl FnOnce()) -> usize {
    let done = Arc::new(AtomicUsize::new(0));
    let kill_now = Arc::new(tokio::sync::Notify::new());
    let mut streams = Vec::new();
    for stream in 0..STREAMS {
        let client = client.clone();
        let done = Arc::clone(&done);
        let kill_now = Arc::clone(&kill_now);
        streams.push(tokio::spawn(async move {
            let mut writes = 0;
            for op in 0..OPS {
                if op % WRITE_EVERY == WRITE_EVERY - 1 {
                    // Each write its own id: the retry of a write repeats it.
                    let id = i64::try_from(1000 + stream * OPS + op).unwrap();
                    let insert = Query::<Insert>::checked(
                        "INSERT INTO analytics_db__events (id, user_id, name, n) VALUES ($1, $2, $3, $4)",
                        &plugin(),
                    )
                    .unwrap()
                    .bind(&id)
                    .unwrap()
                    .bind("cluster")
                    .unwrap()
                    .bind(&format!("s{stream}-op{op}"))
                    .unwrap()
                    .bind(&i64::try_from(op).unwrap())
                    .unwrap();
                    let inserted = client
                        .insert(insert)
                        .await
                        .unwrap_or_else(|e| panic!("stream {stream} write {op}: {e}"));
                    assert_eq!(inserted, 1, "stream {stream} write {op}");
                    writes += 1;
                } else {
                    client
                        .select::<Row>(
                            Query::checked(
                                "SELECT id, name FROM analytics_db__events WHERE user_id = $1",
                                &plugin(),
                            )
                            .unwrap()
                            .bind("alice")
                            .unwrap(),
                        )
                        .await
                        .unwrap_or_else(|e| panic!("stream {stream} read {op}: {e}"));
                }
                if done.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                    kill_now.notify_one();
                }
            }
            writes
        }));
    }
    tokio::time::timeout(REPLY_WAIT, kill_now.notified())
        .await
        .expect("the stream gets under way");
    kill();
    let killed_at = done.load(Ordering::SeqCst);
    let mut writes = 0;
    for stream in streams {
        writes += tokio::time::timeout(REPLY_WAIT * 2, stream)
            .await
            .expect("the stream finishes in time")
            .expect("every query of the stream succeeds");
    }
    assert!(
        killed_at < STREAMS * OPS,
        "the node was killed before the stream ended"
    );
    assert_eq!(writes, STREAMS * (OPS / WRITE_EVERY));
    writes
}

/// Checks that the table holds exactly `writes` rows of the streams.
async fn assert_applied_once(client: &SqlClient, writes: usize) {
    let count: Option<Row> = client.select_one(count_query()).await.unwrap();
    assert_eq!(
        count.unwrap().get::<i64>("n").unwrap(),
        i64::try_from(writes).unwrap(),
        "every write applied exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_survives_the_loss_of_its_node_mid_stream() {
    capture_logs();
    let mut cluster = NatsCluster::start(3);
    let db = TestDb::new();
    let handler = start_handler(cluster.node(1), &db, &[]).await;
    let serving = Serving::spawn(handler);

    // Node 3 reaches the handler on node 2 only through a direct route, which it learns
    // from the seed: once it is served, the mesh survives the seed's loss.
    let probe = async_nats::connect(cluster.node(2).url()).await.unwrap();
    wait_until_served(&SqlClient::with_config(probe, PLUGIN, config()).unwrap()).await;

    let first_port = cluster.node(0).port();
    let nats = async_nats::ConnectOptions::new()
        .retain_servers_order()
        .connect(cluster.urls())
        .await
        .unwrap();
    assert_eq!(nats.server_info().port, first_port, "starts on node 1");
    let client = SqlClient::with_config(nats.clone(), PLUGIN, config()).unwrap();
    wait_until_served(&client).await;

    let writes = run_streams(&client, || cluster.node_mut(0).kill()).await;
    assert_ne!(
        nats.server_info().port,
        first_port,
        "the client moved to a surviving node"
    );
    assert!(
        nats.statistics().connects.load(Ordering::Relaxed) >= 2,
        "the client reconnected"
    );

    // The requests in flight when the node died lost their replies and were sent again.
    assert!(client.metrics().retries > 0, "nothing was retried");
    assert_applied_once(&client, writes).await;

    serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_fails_over_between_its_urls() {
    capture_logs();
    let mut cluster = NatsCluster::start(3);
    let db = TestDb::new();
    // The handler may use node 2 or 3; the client stays on node 1.
    let handler_urls = format!("{},{}", cluster.node(1).url(), cluster.node(2).url());
    let handler = start_handler_on(&handler_urls, &db, &[]).await;
    let handler_nats = handler.client().clone();
    let serving = Serving::spawn(handler);
    let handler_port = handler_nats.server_info().port;
    let handler_node = (1..3)
        .find(|&i| cluster.node(i).port() == handler_port)
        .expect("the handler is on node 2 or 3");

    let nats = async_nats::connect(cluster.node(0).url()).await.unwrap();
    let client = SqlClient::with_config(nats, PLUGIN, config()).unwrap();
    wait_until_served(&client).await;

    let writes = run_streams(&client, || cluster.node_mut(handler_node).kill()).await;
    assert_ne!(
        handler_nats.server_info().port,
        handler_port,
        "the handler moved to its other URL"
    );
    assert_applied_once(&client, writes).await;

    serving.stop().await;
}
