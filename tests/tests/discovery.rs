//! The NATS micro-service API: every replica answers `$SRV.PING`, `$SRV.INFO` and
//! `$SRV.STATS` with the response types async-nats's own `service` module reads (and the
//! `nats micro` commands show), without changing the request subject or queue group.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::service::{Info, PingResponse, Stats};
use futures::StreamExt as _;
use serde_json::json;
use sql_client_tests::{Backend, Serving, TestDb, backend, start_handler};
use sql_test_harness::NatsServer;

/// How long a broadcast request collects answers, as `nats micro ls` waits for replicas.
const GATHER: Duration = Duration::from_millis(500);

/// Sends an empty request to `subject` and gathers every answer that arrives in [`GATHER`].
async fn gather(client: &async_nats::Client, subject: &str) -> Vec<async_nats::Message> {
    let inbox = client.new_inbox();
    let mut answers = client.subscribe(inbox.clone()).await.unwrap();
    client
        .publish_with_reply(subject.to_owned(), inbox, bytes::Bytes::new())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let mut gathered = Vec::new();
    let deadline = tokio::time::Instant::now() + GATHER;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, answers.next()).await {
        gathered.push(message);
    }
    gathered
}

#[tokio::test]
async fn every_replica_answers_ping_with_its_own_id() {
    let nats = NatsServer::start();
    let db = TestDb::new();
    let first = start_handler(&nats, &db, &[]).await;
    let second = start_handler(&nats, &db, &[]).await;
    let ids: BTreeSet<String> = [first.service_id(), second.service_id()]
        .map(str::to_owned)
        .into();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let (first, second) = (Serving::spawn(first), Serving::spawn(second));
    let client = async_nats::connect(nats.url()).await.unwrap();

    for subject in ["$SRV.PING", "$SRV.PING.sql-handler"] {
        let pongs: Vec<PingResponse> = gather(&client, subject)
            .await
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect();
        let answered: BTreeSet<String> = pongs.iter().map(|p| p.id.clone()).collect();
        assert_eq!(answered, ids, "{subject}");
        for pong in &pongs {
            assert_eq!(pong.kind, "io.nats.micro.v1.ping_response");
            assert_eq!(pong.name, "sql-handler");
            assert_eq!(pong.version, env!("CARGO_PKG_VERSION"));
        }
    }
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn info_names_the_request_subject_and_queue_group() {
    let nats = NatsServer::start();
    let db = TestDb::new();
    let handler = start_handler(&nats, &db, &["--queue-group", "replicas-a"]).await;
    let id = handler.service_id().to_owned();
    let serving = Serving::spawn(handler);
    let client = async_nats::connect(nats.url()).await.unwrap();

    let answers = gather(&client, &format!("$SRV.INFO.sql-handler.{id}")).await;
    assert_eq!(answers.len(), 1);
    let info: Info = serde_json::from_slice(&answers[0].payload).unwrap();
    assert_eq!(info.kind, "io.nats.micro.v1.info_response");
    assert_eq!(
        (info.name.as_str(), info.id.as_str()),
        ("sql-handler", id.as_str())
    );
    assert_eq!(info.endpoints.len(), 1);
    assert_eq!(info.endpoints[0].name, "execute");
    assert_eq!(info.endpoints[0].subject, "rosey.db.sql.*.execute");
    assert_eq!(info.endpoints[0].queue_group, "replicas-a");
    let database = match backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(
        info.metadata.get("database").map(String::as_str),
        Some(database)
    );
    serving.stop().await;
}

#[tokio::test]
async fn stats_count_the_requests_and_the_last_error() {
    let nats = NatsServer::start();
    let db = TestDb::new();
    let handler = start_handler(&nats, &db, &[]).await;
    let id = handler.service_id().to_owned();
    let serving = Serving::spawn(handler);
    let client = async_nats::connect(nats.url()).await.unwrap();
    let request = |body: serde_json::Value| {
        let client = client.clone();
        async move {
            client
                .request(
                    "rosey.db.sql.analytics-db.execute",
                    serde_json::to_vec(&body).unwrap().into(),
                )
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        request(json!({"query": "SELECT id FROM analytics_db__events", "params": []})).await;
    }
    request(json!({"query": "SELEC nonsense", "params": []})).await;

    let answers = gather(&client, &format!("$SRV.STATS.sql-handler.{id}")).await;
    assert_eq!(answers.len(), 1);
    let stats: Stats = serde_json::from_slice(&answers[0].payload).unwrap();
    assert_eq!(stats.kind, "io.nats.micro.v1.stats_response");
    let endpoint = &stats.endpoints[0];
    assert_eq!((endpoint.requests, endpoint.errors), (4, 1));
    assert!(endpoint.processing_time > Duration::ZERO);
    assert!(endpoint.average_processing_time <= endpoint.processing_time);
    let last = endpoint.last_error.as_ref().expect("a last error");
    assert_eq!((last.code, last.status.as_str()), (400, "PARSE_ERROR"));
    serving.stop().await;
}

#[tokio::test]
async fn a_stopped_replica_leaves_the_listing() {
    let nats = NatsServer::start();
    let db = TestDb::new();
    let staying = start_handler(&nats, &db, &[]).await;
    let leaving = start_handler(&nats, &db, &[]).await;
    let staying_id = staying.service_id().to_owned();
    let (staying, leaving) = (Serving::spawn(staying), Serving::spawn(leaving));
    let client = async_nats::connect(nats.url()).await.unwrap();
    assert_eq!(gather(&client, "$SRV.PING").await.len(), 2);

    leaving.stop().await;
    let pongs = gather(&client, "$SRV.PING").await;
    assert_eq!(pongs.len(), 1);
    let pong: PingResponse = serde_json::from_slice(&pongs[0].payload).unwrap();
    assert_eq!(pong.id, staying_id);
    staying.stop().await;
}
