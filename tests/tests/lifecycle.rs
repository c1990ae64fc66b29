//! Graceful shutdown and audit records of the real handler.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use futures::StreamExt;
use serde_json::json;
use sql_client_tests::{REPLY_WAIT, TestEnv, audit_records, round_trip, with_correlation_id};
use sql_core::wire::Reply;

#[tokio::test]
async fn shutdown_answers_requests_in_flight_then_stops_taking_new_ones() {
    let mut env = TestEnv::start().await;
    let inbox = env.client.new_inbox();
    let mut replies = env.client.subscribe(inbox.clone()).await.unwrap();
    // About a second of work that succeeds.
    let body = json!({
        "query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) AS n FROM c",
        "timeout_ms": 30000
    });
    env.client
        .publish_with_reply(
            "rosey.db.sql.analytics-db.execute",
            inbox,
            serde_json::to_vec(&body).unwrap().into(),
        )
        .await
        .unwrap();
    // Once the server has the request, it is routed to the handler before the handler's
    // unsubscribe, so it must be answered.
    round_trip(&env.client).await;
    env.stop().await;

    let message = tokio::time::timeout(REPLY_WAIT, replies.next())
        .await
        .expect("reply in time")
        .expect("reply");
    assert!(
        message.status.is_none(),
        "status reply {:?} {:?}",
        message.status,
        message.description
    );
    match Reply::from_slice(&message.payload).unwrap() {
        Reply::Success(reply) => assert_eq!(reply.rows, vec![json!({"n": 3_000_000})]),
        other => panic!("the in-flight request was not completed: {other:?}"),
    }
    // Nobody serves the subject any more.
    let after = env
        .client
        .request(
            "rosey.db.sql.analytics-db.execute",
            br#"{"query": "SELECT 1"}"#.to_vec().into(),
        )
        .await;
    assert!(
        matches!(&after, Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders),
        "{after:?}"
    );
}

#[tokio::test]
async fn one_audit_record_per_request_without_parameter_values() {
    let env = TestEnv::start().await;
    let query = "SELECT id, name FROM analytics_db__events WHERE user_id = $1";
    let message = env
        .request_raw(
            "rosey.db.sql.analytics-db.execute",
            serde_json::to_vec(&json!({"query": query, "params": ["supersecret-param"]})).unwrap(),
            Some(with_correlation_id("audit-ok-1")),
        )
        .await;
    assert!(matches!(
        Reply::from_slice(&message.payload),
        Ok(Reply::Success(_))
    ));
    let records = audit_records("audit-ok-1");
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["plugin"], "analytics-db");
    assert_eq!(record["query_hash"], sql_core::query_hash(query));
    assert_eq!(record["kind"], "SELECT");
    assert_eq!(record["param_count"], 1);
    assert_eq!(record["rows"], 0);
    assert_eq!(record["outcome"], "OK");
    assert!(record["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert!(record["timestamp"].is_string());
    assert!(!record.to_string().contains("supersecret-param"));

    env.request_raw(
        "rosey.db.sql.analytics-db.execute",
        serde_json::to_vec(&json!({"query": "SELECT * FROM quote_db__quotes WHERE id = $1", "params": ["supersecret-param"]}))
            .unwrap(),
        Some(with_correlation_id("audit-refused-1")),
    )
    .await;
    let records = audit_records("audit-refused-1");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "NAMESPACE_VIOLATION");
    assert_eq!(records[0]["plugin"], "analytics-db");

    // Even a body that is not JSON is audited.
    env.request_raw(
        "rosey.db.sql.analytics-db.execute",
        b"\xff".to_vec(),
        Some(with_correlation_id("audit-junk-1")),
    )
    .await;
    let records = audit_records("audit-junk-1");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "REQUEST_VALIDATION_ERROR");
}

#[tokio::test]
async fn shutdown_does_not_hang_when_nats_is_gone() {
    let mut env = TestEnv::start().await;
    env.kill_nats();
    // `stop` fails the test if the handler does not return within REPLY_WAIT.
    env.stop().await;
}

#[tokio::test]
async fn a_request_without_reply_subject_runs_nothing_but_is_audited() {
    let env = TestEnv::start().await;
    env.client
        .publish_with_headers(
            "rosey.db.sql.analytics-db.execute",
            with_correlation_id("audit-no-reply-1"),
            br#"{"query": "DELETE FROM analytics_db__events", "allow_write": true}"#
                .to_vec()
                .into(),
        )
        .await
        .unwrap();
    round_trip(&env.client).await;
    let deadline = std::time::Instant::now() + REPLY_WAIT;
    let records = loop {
        let records = audit_records("audit-no-reply-1");
        if !records.is_empty() || std::time::Instant::now() > deadline {
            break records;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["outcome"], "REQUEST_VALIDATION_ERROR");
    let left = env
        .ok(
            "analytics-db",
            &json!({"query": "SELECT count(*) AS n FROM analytics_db__events"}),
        )
        .await;
    assert_eq!(left.rows, vec![json!({"n": 3})]);
}
