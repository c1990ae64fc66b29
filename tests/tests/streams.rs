//! Streamed reads (PROTOCOL.md section 2, `stream`) end to end on the configured backend:
//! a million rows through the client, the chunks on the wire with their bounds, the
//! stream's own subject, its refusals and its cancel.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::time::Duration;

use futures::TryStreamExt as _;
use serde_json::{Value, json};
use sql_client::{ClientConfig, Query, Row, Select, SqlClient, SqlError, SqlRow};
use sql_client_tests::{TestEnv, audit_records};
use sql_core::Plugin;
use sql_core::wire::{self, Reply, SuccessReply};

const PLUGIN: &str = "analytics-db";

fn plugin() -> Plugin {
    Plugin::new(PLUGIN).unwrap()
}

async fn client(env: &TestEnv) -> SqlClient {
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    SqlClient::with_config(nats, PLUGIN, ClientConfig::default()).unwrap()
}

/// `n` numbered rows, on either backend.
fn numbers(n: u32) -> String {
    format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT x FROM c"
    )
}

struct Number {
    x: i64,
}

impl SqlRow for Number {
    fn from_row(row: &Row) -> Result<Self, sql_client::RowError> {
        Ok(Self { x: row.get("x")? })
    }
}

#[tokio::test]
async fn a_million_rows_arrive_in_order_through_the_client() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let query = Query::<Select>::checked(numbers(1_000_000), &plugin())
        .unwrap()
        .timeout(Duration::from_secs(30));
    let rows = client.select_stream::<Number>(query);
    let mut rows = std::pin::pin!(rows);
    let mut expected = 1;
    while let Some(row) = rows.try_next().await.unwrap() {
        assert_eq!(row.x, expected);
        expected += 1;
    }
    assert_eq!(expected, 1_000_001, "every row, none cut");

    // Audited once on each side, with every row.
    let records = sql_client_tests::log_records(|r| {
        r["target"] == "sql.audit" && r["query_hash"] == sql_core::query_hash(&numbers(1_000_000))
    });
    let client_side: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("status").is_some())
        .collect();
    let handler_side: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("outcome").is_some())
        .collect();
    assert_eq!(client_side.len(), 1, "{client_side:?}");
    assert_eq!(client_side[0]["row_count"], 1_000_000);
    assert_eq!(client_side[0]["status"], "success");
    assert_eq!(handler_side.len(), 1, "{handler_side:?}");
    assert_eq!(handler_side[0]["rows"], 1_000_000);
    assert_eq!(handler_side[0]["outcome"], "OK");
}

#[tokio::test]
async fn a_small_result_is_one_chunk_and_errors_come_as_items() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let names: Vec<Row> = client
        .select_stream(
            Query::<Select>::checked(
                "SELECT name FROM analytics_db__events WHERE user_id = $1 ORDER BY id",
                &plugin(),
            )
            .unwrap()
            .bind("alice")
            .unwrap(),
        )
        .try_collect()
        .await
        .unwrap();
    let names: Vec<String> = names.iter().map(|r| r.get("name").unwrap()).collect();
    assert_eq!(names, ["login", "click"]);

    // A refusal before sending, and the handler's, are the stream's one item.
    let refused: Vec<Result<Row, SqlError>> = client
        .select_stream(Query::<Select>::__from_checked(
            "SELECT * FROM quote_db__quotes",
            0,
            vec![],
            None,
        ))
        .collect_all()
        .await;
    assert_eq!(refused.len(), 1);
    let err = refused.into_iter().next().unwrap().unwrap_err();
    assert_eq!(err.code(), "NAMESPACE_VIOLATION");

    // A row that does not convert ends the stream with a decode error naming it.
    let err = client
        .select_stream::<Number>(
            Query::<Select>::checked("SELECT name AS x FROM analytics_db__events", &plugin())
                .unwrap(),
        )
        .try_collect::<Vec<_>>()
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SqlError::Decode(_)), "{err}");
    assert!(err.message().contains("column 'x'"), "{err}");
}

/// Collects every item, errors included.
trait CollectAll: futures::Stream + Sized {
    async fn collect_all(self) -> Vec<Self::Item> {
        futures::StreamExt::collect(self).await
    }
}

impl<S: futures::Stream> CollectAll for S {}

fn success(message: &async_nats::Message) -> SuccessReply {
    match Reply::from_slice(&message.payload).unwrap() {
        Reply::Success(reply) => reply,
        other => panic!("expected a chunk, got {other:?}"),
    }
}

fn error(message: &async_nats::Message) -> sql_core::wire::ErrorReply {
    match Reply::from_slice(&message.payload).unwrap() {
        Reply::Error(reply) => reply,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn chunks_on_the_wire_are_bounded_asked_for_in_order_and_cancellable() {
    let env = TestEnv::start().await;
    let subject = wire::subject(wire::DEFAULT_SUBJECT_PREFIX, &plugin());
    let body =
        json!({"query": numbers(20_000), "stream": {"chunk_bytes": 4096}, "row_format": "arrays"});
    let first = env
        .request_raw(&subject, serde_json::to_vec(&body).unwrap(), None)
        .await;
    let chunk = success(&first);
    let position = chunk.stream.clone().expect("a stream");
    assert_eq!((position.seq, position.done), (0, false));
    assert!(!chunk.rows.is_empty());
    assert!(first.payload.len() < 4096 + 1024, "{}", first.payload.len());
    assert_eq!(chunk.row_count, chunk.rows.len() as u64);
    assert_eq!(chunk.columns, ["x"]);
    let stream_subject =
        wire::stream_subject(wire::DEFAULT_SUBJECT_PREFIX, &plugin(), &position.id);
    let mut seen = chunk.rows.len();

    // Out of order: refused, and the stream goes on.
    let wrong = env
        .request_raw(&stream_subject, br#"{"seq": 5}"#.to_vec(), None)
        .await;
    let refusal = error(&wrong);
    assert_eq!(refusal.error, "REQUEST_VALIDATION_ERROR");
    assert_eq!(refusal.details["field"], "seq");

    for seq in 1..4 {
        let next = env
            .request_raw(
                &stream_subject,
                json!({"seq": seq}).to_string().into_bytes(),
                None,
            )
            .await;
        let chunk = success(&next);
        assert_eq!(chunk.stream.as_ref().map(|p| p.seq), Some(seq));
        assert!(next.payload.len() < 4096 + 1024);
        assert_eq!(chunk.rows[0], json!([seen + 1]), "in order");
        seen += chunk.rows.len();
    }

    // A cancel ends it: the stream's subject has no responder any more.
    let cancelled = env
        .request_raw(&stream_subject, br#"{"cancel": true}"#.to_vec(), None)
        .await;
    assert_eq!(cancelled.payload.as_ref(), b"{}");
    let gone = tokio::time::timeout(
        Duration::from_secs(5),
        env.client
            .request(stream_subject, br#"{"seq": 4}"#.to_vec().into()),
    )
    .await
    .unwrap();
    assert!(
        matches!(&gone, Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders),
        "{gone:?}"
    );
    let correlation_id = first
        .headers
        .as_ref()
        .and_then(|h| h.get(wire::CORRELATION_ID_HEADER))
        .map(|v| v.as_str().to_owned())
        .unwrap();
    // Audited once the statement has stopped, just after the subject went.
    let started = std::time::Instant::now();
    let handler = loop {
        let records = audit_records(&correlation_id);
        if let Some(record) = records.into_iter().find(|r| r.get("outcome").is_some()) {
            break record;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no audit record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(handler["rows"], seen, "the rows it sent");
    assert_eq!(handler["outcome"], "OK", "a cancel is the client's choice");
}

#[tokio::test]
async fn only_a_single_read_is_streamed() {
    let env = TestEnv::start().await;
    for (body, field) in [
        (
            json!({"query": "UPDATE analytics_db__events SET n = 1", "allow_write": true, "stream": true}),
            "stream",
        ),
        (
            json!({"query": "", "transaction": [{"query": "SELECT 1"}], "stream": true}),
            "stream",
        ),
        (
            json!({"query": "SELECT 1", "stream": {"chunk_bytes": 10}}),
            "stream",
        ),
        (json!({"query": "SELECT 1", "stream": 1}), "stream"),
    ] {
        let err = env.err(PLUGIN, &body).await;
        assert_eq!(err.error, "REQUEST_VALIDATION_ERROR", "{body}");
        assert_eq!(err.details["field"], field, "{body}");
    }
    // A result that fits one chunk is that chunk, done.
    let reply = env
        .ok(PLUGIN, &json!({"query": "SELECT 1 AS one", "stream": true}))
        .await;
    let position = reply.stream.expect("a stream");
    assert!(position.done);
    assert_eq!(reply.rows, [json!({"one": 1})]);
}

/// The query's timeout bounds the whole stream, the consumer's pauses included.
#[tokio::test]
async fn a_consumer_too_slow_for_the_timeout_gets_timeout() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let query = Query::<Select>::checked(numbers(200_000), &plugin())
        .unwrap()
        .timeout(Duration::from_secs(2));
    let rows = client.select_stream::<Number>(query);
    let mut rows = std::pin::pin!(rows);
    assert_eq!(rows.try_next().await.unwrap().unwrap().x, 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let err = loop {
        match rows.try_next().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the stream ended as if complete"),
            Err(err) => break err,
        }
    };
    assert!(matches!(err, SqlError::Timeout(_)), "{err}");
    assert_eq!(err.code(), "TIMEOUT");
    // The handler stopped the statement and audited the stream as timed out.
    let started = std::time::Instant::now();
    loop {
        let records = audit_records(err.detail().correlation_id());
        if let Some(record) = records.iter().find(|r| r.get("outcome").is_some()) {
            assert_eq!(record["outcome"], "TIMEOUT");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no audit record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
