//! Idempotent writes over real NATS (PROTOCOL.md section 2, `Idempotency-Key`): a write is
//! applied at most once per (plugin, key), and every repeat gets the first reply.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use serde_json::{Value, json};
use sql_client_tests::{
    REPLY_WAIT, TestEnv, audit_records, with_correlation_id, with_idempotency_key,
};
use sql_core::ErrorCode;
use sql_core::wire::{CORRELATION_ID_HEADER, IDEMPOTENCY_KEY_HEADER, Reply};

const PLUGIN: &str = "analytics-db";
const SUBJECT: &str = "rosey.db.sql.analytics-db.execute";

/// About a second of work inside an INSERT that adds one row `id` named `name`.
fn slow_insert(id: i64, name: &str, iterations: u32) -> Value {
    json!({
        "query": format!(
            "INSERT INTO analytics_db__events (id, user_id, name, n) \
             SELECT $1, 'idem', $2, count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
             SELECT x + 1 FROM c WHERE x < {iterations}) SELECT x FROM c) AS s"
        ),
        "params": [id, name],
        "allow_write": true,
        "timeout_ms": 30000
    })
}

/// A write of row `id` named `name`. The tables' ids are plain INTEGER PRIMARY KEYs (the
/// same DDL on SQLite and PostgreSQL), which only SQLite fills in by itself: every insert
/// names its id.
fn insert(id: i64, name: &str) -> Value {
    json!({
        "query": "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, 'idem', $2)",
        "params": [id, name],
        "allow_write": true
    })
}

fn key_headers(key: &str, correlation_id: &str) -> HeaderMap {
    let mut headers = with_idempotency_key(key);
    headers.insert(CORRELATION_ID_HEADER, correlation_id);
    headers
}

/// Sends `body` as `plugin` with `key` and returns the raw reply body.
async fn send_keyed(env: &TestEnv, plugin: &str, body: &Value, key: &str) -> Vec<u8> {
    let mut headers = HeaderMap::new();
    headers.insert(IDEMPOTENCY_KEY_HEADER, key);
    env.request_raw(
        &format!("rosey.db.sql.{plugin}.execute"),
        serde_json::to_vec(body).unwrap(),
        Some(headers),
    )
    .await
    .payload
    .to_vec()
}

async fn count(env: &TestEnv, name: &str) -> i64 {
    let reply = env
        .ok(
            PLUGIN,
            &json!({"query": "SELECT count(*) AS n FROM analytics_db__events WHERE user_id = 'idem' AND name = $1", "params": [name]}),
        )
        .await;
    reply.rows[0]["n"].as_i64().unwrap()
}

fn parse(body: &[u8]) -> Reply {
    Reply::from_slice(body).unwrap_or_else(|e| panic!("not a reply ({e}): {body:?}"))
}

fn error_of(body: &[u8]) -> sql_core::wire::ErrorReply {
    match parse(body) {
        Reply::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Waits (bounded) until the request with this correlation id has its audit record.
async fn audit_of(correlation_id: &str) -> Value {
    let deadline = Instant::now() + REPLY_WAIT;
    loop {
        if let Some(record) = audit_records(correlation_id).pop() {
            return record;
        }
        assert!(
            Instant::now() < deadline,
            "no audit record for {correlation_id}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_same_key_twice_applies_once_and_replays_the_first_reply() {
    let env = TestEnv::start().await;
    let body = json!({
        "query": "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, 'idem', $2) RETURNING id, name",
        "params": [10, "twice"],
        "allow_write": true
    });
    let first = send_keyed(&env, PLUGIN, &body, "key-twice").await;
    let second = send_keyed(&env, PLUGIN, &body, "key-twice").await;
    match parse(&first) {
        Reply::Success(reply) => assert_eq!(reply.row_count, 1),
        other => panic!("first attempt failed: {other:?}"),
    }
    assert_eq!(
        first, second,
        "the repeat gets the first reply byte for byte"
    );
    assert_eq!(count(&env, "twice").await, 1);

    // A new key is a new write: this one breaks the unique constraints (id, and
    // (user_id, name)).
    let third = send_keyed(&env, PLUGIN, &body, "key-twice-2").await;
    assert_eq!(error_of(&third).details["constraint_type"], "unique");
}

#[tokio::test]
async fn a_retry_after_a_lost_reply_is_applied_exactly_once() {
    let env = TestEnv::start().await;
    let body = slow_insert(10, "lost-reply", 3_000_000);
    let payload = serde_json::to_vec(&body).unwrap();
    // The sender gives up long before the handler finishes: its reply is lost to it.
    let first = env
        .client
        .send_request(
            SUBJECT.to_owned(),
            async_nats::Request::new()
                .payload(payload.clone().into())
                .headers(key_headers("key-lost", "lost-1"))
                .timeout(Some(Duration::from_millis(50))),
        )
        .await;
    assert!(
        matches!(&first, Err(e) if e.kind() == async_nats::RequestErrorKind::TimedOut),
        "the first attempt should time out at the sender: {first:?}"
    );
    // The retry, with the same key, while the first attempt may still be running.
    let retry = env
        .request_raw(SUBJECT, payload, Some(key_headers("key-lost", "lost-2")))
        .await;
    match parse(&retry.payload) {
        Reply::Success(reply) => assert_eq!(reply.row_count, 1),
        other => panic!("the retry failed: {other:?}"),
    }
    assert_eq!(count(&env, "lost-reply").await, 1, "applied exactly once");
    // Whichever ran first applied the write; the other was answered from its record.
    let replayed: Vec<bool> = [audit_of("lost-1").await, audit_of("lost-2").await]
        .iter()
        .map(|r| r["replayed"].as_bool().unwrap())
        .collect();
    assert_eq!(replayed.iter().filter(|r| **r).count(), 1, "{replayed:?}");
}

#[tokio::test]
async fn concurrent_duplicates_apply_once() {
    let env = TestEnv::start().await;
    let body = slow_insert(10, "concurrent", 300_000);
    let sends = (0..4).map(|_| send_keyed(&env, PLUGIN, &body, "key-concurrent"));
    let replies = futures::future::join_all(sends).await;
    assert!(
        matches!(parse(&replies[0]), Reply::Success(_)),
        "{:?}",
        parse(&replies[0])
    );
    for reply in &replies[1..] {
        assert_eq!(reply, &replies[0], "every duplicate gets the one reply");
    }
    assert_eq!(count(&env, "concurrent").await, 1);
}

#[tokio::test]
async fn a_key_survives_a_handler_restart() {
    let mut env = TestEnv::start().await;
    let body = insert(10, "restart");
    let first = send_keyed(&env, PLUGIN, &body, "key-restart").await;
    assert!(matches!(parse(&first), Reply::Success(_)));
    env.restart(&[]).await;
    let again = send_keyed(&env, PLUGIN, &body, "key-restart").await;
    assert_eq!(first, again);
    assert_eq!(count(&env, "restart").await, 1);
}

#[tokio::test]
async fn a_key_used_for_another_request_is_refused() {
    let env = TestEnv::start().await;
    let first = send_keyed(&env, PLUGIN, &insert(10, "reuse-a"), "key-reuse").await;
    assert!(matches!(parse(&first), Reply::Success(_)));
    let other = send_keyed(&env, PLUGIN, &insert(11, "reuse-b"), "key-reuse").await;
    let err = error_of(&other);
    assert_eq!(err.code(), Some(ErrorCode::RequestValidationError));
    assert_eq!(err.details["field"], "Idempotency-Key");
    assert!(err.message.contains("another request"), "{}", err.message);
    assert_eq!(count(&env, "reuse-b").await, 0);
    assert_eq!(count(&env, "reuse-a").await, 1);
    // Keys belong to one plugin: another plugin may use the same one for its own write.
    let quote = send_keyed(
        &env,
        "quote-db",
        &json!({"query": "INSERT INTO quote_db__quotes (id, text) VALUES (2, 'q')", "allow_write": true}),
        "key-reuse",
    )
    .await;
    assert!(
        matches!(parse(&quote), Reply::Success(_)),
        "{:?}",
        parse(&quote)
    );
}

/// A keyed write refused before it runs gets its own error, and that refusal is recorded
/// like any definitive outcome: the repeat is the first reply byte for byte (its
/// `correlation_id` is the first attempt's, though each attempt gets a new one), and the
/// key stays bound to the refused request.
#[tokio::test]
async fn refusals_before_the_write_runs_are_recorded_and_replayed() {
    let env = TestEnv::start().await;
    let insert_sql = "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, 'idem', $2)";
    let cases = [
        (
            json!({"query": insert_sql, "params": [20, "refused"]}),
            ErrorCode::PermissionDenied,
        ),
        (
            json!({"query": insert_sql, "params": [20], "allow_write": true}),
            ErrorCode::ParamCountMismatch,
        ),
        (
            json!({"query": insert_sql, "params": [20, {"$blob": "not base64!"}], "allow_write": true}),
            ErrorCode::ParamTypeError,
        ),
        (
            json!({"query": "INSERT INTO quote_db__quotes (id, text) VALUES (20, 'planted')", "allow_write": true}),
            ErrorCode::NamespaceViolation,
        ),
        (
            json!({"query": "DROP TABLE analytics_db__events", "allow_write": true}),
            ErrorCode::ForbiddenStatement,
        ),
        (
            json!({"query": "INSERT INTO analytics_db__events (id VALUES", "allow_write": true}),
            ErrorCode::ParseError,
        ),
    ];
    for (i, (body, code)) in cases.iter().enumerate() {
        let key = format!("key-refused-{i}");
        let first = send_keyed(&env, PLUGIN, body, &key).await;
        assert_eq!(error_of(&first).code(), Some(*code), "{body}");
        let again = send_keyed(&env, PLUGIN, body, &key).await;
        assert_eq!(
            String::from_utf8_lossy(&first),
            String::from_utf8_lossy(&again),
            "{body}: the repeat replays the recorded refusal"
        );
        // The key is spent on the refused request: a corrected one needs a new key.
        let fixed = send_keyed(&env, PLUGIN, &insert(20 + i as i64, "fixed"), &key).await;
        let err = error_of(&fixed);
        assert_eq!(err.details["field"], "Idempotency-Key", "{body}: {err:?}");
    }
    assert_eq!(count(&env, "refused").await, 0);
    assert_eq!(count(&env, "fixed").await, 0);
}

#[tokio::test]
async fn a_unique_violation_is_replayed_even_after_the_conflict_is_gone() {
    let env = TestEnv::start().await;
    env.ok(PLUGIN, &insert(10, "conflict")).await;
    // Another id, the same (user_id, name).
    let first = send_keyed(&env, PLUGIN, &insert(11, "conflict"), "key-conflict").await;
    let err = error_of(&first);
    assert_eq!(err.code(), Some(ErrorCode::ExecutionError));
    assert_eq!(err.details["constraint_type"], "unique");
    env.ok(
        PLUGIN,
        &json!({"query": "DELETE FROM analytics_db__events WHERE user_id = 'idem' AND name = 'conflict'", "allow_write": true}),
    )
    .await;
    // The retry would now succeed, but the sender was told it failed: it stays failed.
    let again = send_keyed(&env, PLUGIN, &insert(11, "conflict"), "key-conflict").await;
    assert_eq!(first, again);
    assert_eq!(count(&env, "conflict").await, 0);
}

#[tokio::test]
async fn a_timed_out_write_is_not_recorded_so_its_retry_can_succeed() {
    let env = TestEnv::start().await;
    // The work is read from a row, so the same request can be slow once and fast later.
    env.ok(
        PLUGIN,
        &json!({"query": "INSERT INTO analytics_db__events (id, user_id, name, n) VALUES (10, 'idem', 'work', 100000000)", "allow_write": true}),
    )
    .await;
    let body = json!({
        "query": "INSERT INTO analytics_db__events (id, user_id, name, n) \
                  SELECT $1, 'idem', $2, count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
                  SELECT x + 1 FROM c WHERE x < (SELECT n FROM analytics_db__events \
                  WHERE user_id = 'idem' AND name = 'work')) SELECT x FROM c) AS s",
        "params": [11, "timeout"],
        "allow_write": true,
        "timeout_ms": 200
    });
    let first = send_keyed(&env, PLUGIN, &body, "key-timeout").await;
    assert_eq!(error_of(&first).code(), Some(ErrorCode::Timeout));
    assert_eq!(count(&env, "timeout").await, 0);
    env.ok(
        PLUGIN,
        &json!({"query": "UPDATE analytics_db__events SET n = 10 WHERE user_id = 'idem' AND name = 'work'", "allow_write": true}),
    )
    .await;
    let mut retry = body.clone();
    retry["timeout_ms"] = json!(30000);
    let again = send_keyed(&env, PLUGIN, &retry, "key-timeout").await;
    match parse(&again) {
        Reply::Success(reply) => assert_eq!(reply.row_count, 1),
        other => panic!("the retry after a timeout should run: {other:?}"),
    }
    assert_eq!(count(&env, "timeout").await, 1);
}

#[tokio::test]
async fn an_invalid_key_is_refused_and_reads_ignore_a_valid_one() {
    let env = TestEnv::start().await;
    for bad in ["k".repeat(129), "cl\u{e9}-1".to_owned()] {
        let reply = send_keyed(&env, PLUGIN, &insert(10, "bad-key"), &bad).await;
        let err = error_of(&reply);
        assert_eq!(
            err.code(),
            Some(ErrorCode::RequestValidationError),
            "{bad:?}"
        );
        assert_eq!(err.details["field"], "Idempotency-Key", "{bad:?}");
    }
    assert_eq!(count(&env, "bad-key").await, 0);

    let read =
        json!({"query": "SELECT count(*) AS n FROM analytics_db__events WHERE user_id = 'idem'"});
    let before = send_keyed(&env, PLUGIN, &read, "key-read").await;
    env.ok(PLUGIN, &insert(11, "read-after")).await;
    let after = send_keyed(&env, PLUGIN, &read, "key-read").await;
    assert_ne!(before, after, "a read runs again");
}

#[tokio::test]
async fn plugins_cannot_reach_the_idempotency_records() {
    let env = TestEnv::start().await;
    send_keyed(&env, PLUGIN, &insert(10, "private"), "key-private").await;
    for query in [
        "SELECT * FROM _sql_handler_idempotency",
        "DELETE FROM _sql_handler_idempotency",
    ] {
        let err = env
            .err(PLUGIN, &json!({"query": query, "allow_write": true}))
            .await;
        assert!(
            matches!(
                err.code(),
                Some(ErrorCode::NamespaceViolation | ErrorCode::SystemTableAccess)
            ),
            "{query}: {err:?}"
        );
    }
    let reply = env
        .request_raw(
            SUBJECT,
            serde_json::to_vec(&insert(10, "private")).unwrap(),
            Some(with_correlation_id("no-key")),
        )
        .await;
    // Without the key the same write is a new one, refused here by the unique constraint.
    assert_eq!(
        error_of(&reply.payload).details["constraint_type"],
        "unique"
    );
}
