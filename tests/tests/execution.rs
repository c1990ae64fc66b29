//! What the handler returns when a statement runs: values per PROTOCOL.md section 4, row
//! formats, writes with RETURNING, batches, truncation, and concurrency.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::time::{Duration, Instant};

use serde_json::json;
use sql_client_tests::{Backend, TestEnv, backend};
use sql_core::ErrorCode;
use sql_core::wire::{Reply, TruncatedReason};

const PLUGIN: &str = "analytics-db";

#[tokio::test]
async fn select_with_parameters_in_both_row_formats() {
    let env = TestEnv::start().await;
    let query = "SELECT id, name, score FROM analytics_db__events WHERE user_id = $1 ORDER BY id";
    let reply = env
        .ok(PLUGIN, &json!({"query": query, "params": ["alice"]}))
        .await;
    assert_eq!(reply.columns, ["id", "name", "score"]);
    assert_eq!(reply.row_count, 2);
    assert!(!reply.truncated);
    assert_eq!(
        reply.rows,
        vec![
            json!({"id": 1, "name": "login", "score": 0.5}),
            json!({"id": 2, "name": "click", "score": 1.5})
        ]
    );
    assert!(reply.execution_time_ms >= 0.0);

    let reply = env
        .ok(
            PLUGIN,
            &json!({"query": query, "params": ["alice"], "row_format": "arrays"}),
        )
        .await;
    assert_eq!(
        reply.rows,
        vec![json!([1, "login", 0.5]), json!([2, "click", 1.5])]
    );

    // Placeholders bind by number even when they appear out of order or repeat.
    let reply = env
        .ok(
            PLUGIN,
            &json!({"query": "SELECT $2 AS b, $1 AS a, $2 || $1 AS ba", "params": ["x", "y"]}),
        )
        .await;
    assert_eq!(reply.rows, vec![json!({"b": "y", "a": "x", "ba": "yx"})]);
}

#[tokio::test]
async fn values_round_trip_per_protocol() {
    let env = TestEnv::start().await;
    let insert = json!({
        "query": "INSERT INTO analytics_db__events (id, user_id, name, n, score, payload) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, n, score, payload",
        "params": [10, "carol", "blob", 9_007_199_254_740_993_i64, 2.25, {"$blob": "AAEC/w=="}],
        "allow_write": true
    });
    let reply = env.ok(PLUGIN, &insert).await;
    assert_eq!(reply.row_count, 1);
    assert_eq!(reply.rows[0]["id"], 10);
    assert_eq!(reply.rows[0]["score"], 2.25);
    assert_eq!(
        reply.rows[0]["n"],
        json!(9_007_199_254_740_993_i64),
        "integers stay exact beyond 2^53"
    );
    assert_eq!(reply.rows[0]["payload"], "AAEC/w==");

    // Each engine makes an infinite double its own way: SQLite rounds an out-of-range
    // literal to infinity, while PostgreSQL reads `1e999` as an exact numeric and refuses
    // to round it to a double, so it needs the 'Infinity' spelling. The CAST gives the
    // boolean parameter its type (PostgreSQL infers text for a bare `$1` in a select
    // list); it comes back as SQLite's 1 or PostgreSQL's true (PROTOCOL.md section 4).
    let (infinity, flag) = match backend() {
        Backend::Sqlite => ("1e999", json!(1)),
        Backend::Postgres => ("CAST('Infinity' AS DOUBLE PRECISION)", json!(true)),
    };
    let query = format!(
        "SELECT {infinity} AS inf, -{infinity} AS ninf, NULL AS nil, CAST($1 AS BOOLEAN) AS flag, $2 AS doc"
    );
    let reply = env
        .ok(
            PLUGIN,
            &json!({"query": query, "params": [true, {"a": [1]}]}),
        )
        .await;
    assert_eq!(
        reply.rows,
        vec![json!({"inf": null, "ninf": null, "nil": null, "flag": flag, "doc": "{\"a\":[1]}"})]
    );
}

#[tokio::test]
async fn writes_report_affected_rows_and_returning_rows() {
    let env = TestEnv::start().await;
    let reply = env
        .ok(PLUGIN, &json!({"query": "UPDATE analytics_db__events SET n = n + 10 WHERE user_id = $1", "params": ["alice"], "allow_write": true}))
        .await;
    assert_eq!(reply.row_count, 2);
    assert!(reply.rows.is_empty());

    let reply = env
        .ok(PLUGIN, &json!({"query": "DELETE FROM analytics_db__tags WHERE tag = $1 RETURNING event_id", "params": ["web"], "allow_write": true}))
        .await;
    assert_eq!(reply.row_count, 2);
    assert_eq!(reply.columns, ["event_id"]);
    assert_eq!(reply.rows.len(), 2);

    let reply = env
        .ok(
            PLUGIN,
            // PostgreSQL sums a bigint column as an exact numeric (a string in JSON).
            &json!({"query": "SELECT CAST(sum(n) AS BIGINT) AS s FROM analytics_db__events"}),
        )
        .await;
    assert_eq!(reply.rows, vec![json!({"s": 26})]);
}

#[tokio::test]
async fn batch_runs_in_one_transaction() {
    let env = TestEnv::start().await;
    let insert = "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, $2, $3)";
    let reply = env
        .ok(PLUGIN, &json!({"query": insert, "batch": [[10, "dave", "a"], [11, "dave", "b"], [12, "dave", "c"]], "allow_write": true}))
        .await;
    assert_eq!(reply.row_count, 3);

    // The third entry collides with the first on (user_id, name): nothing of this batch
    // is written.
    let reply = env
        .err(PLUGIN, &json!({"query": insert, "batch": [[20, "erin", "a"], [21, "erin", "b"], [22, "erin", "a"]], "allow_write": true}))
        .await;
    assert_eq!(reply.code(), Some(ErrorCode::ExecutionError));
    assert_eq!(reply.details["constraint_type"], "unique");
    assert_eq!(reply.details["batch_index"], 2);
    let count = env
        .ok(PLUGIN, &json!({"query": "SELECT count(*) AS n FROM analytics_db__events WHERE user_id = $1", "params": ["erin"]}))
        .await;
    assert_eq!(count.rows, vec![json!({"n": 0})]);

    // Each entry must match the placeholders.
    let reply = env
        .err(
            PLUGIN,
            &json!({"query": insert, "batch": [[30, "frank", "a"], [31, "frank"]], "allow_write": true}),
        )
        .await;
    assert_eq!(reply.code(), Some(ErrorCode::ParamCountMismatch));
    assert_eq!(reply.details["batch_index"], 1);
}

#[tokio::test]
async fn truncation_by_max_rows_and_by_payload_size() {
    let env = TestEnv::start().await;
    let counter = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT x FROM c";
    let reply = env
        .ok(PLUGIN, &json!({"query": counter, "max_rows": 5}))
        .await;
    assert_eq!(reply.rows.len(), 5);
    assert_eq!(reply.row_count, 5);
    assert!(reply.truncated);
    assert_eq!(reply.truncated_reason, Some(TruncatedReason::MaxRows));

    // 100,000 rows of ~1 KB cannot fit in NATS's 1 MiB max_payload: the handler stops
    // adding rows in time and still replies. (A literal pads the rows: SQLite has no
    // repeat() and PostgreSQL no printf().)
    let wide = format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) \
         SELECT x, '{}' AS pad FROM c",
        "z".repeat(1000)
    );
    let message = env
        .request_raw(
            "rosey.db.sql.analytics-db.execute",
            serde_json::to_vec(&json!({"query": wide, "max_rows": 100_000})).unwrap(),
            None,
        )
        .await;
    let max_payload = env.client.server_info().max_payload;
    assert!(
        message.payload.len() <= max_payload,
        "{} > {max_payload}",
        message.payload.len()
    );
    let Ok(Reply::Success(reply)) = Reply::from_slice(&message.payload) else {
        panic!("expected a success reply")
    };
    assert!(reply.truncated);
    assert_eq!(reply.truncated_reason, Some(TruncatedReason::MaxBytes));
    assert!(
        reply.rows.len() > 500 && reply.rows.len() < 1100,
        "{}",
        reply.rows.len()
    );
    assert_eq!(reply.row_count, reply.rows.len() as u64);
}

#[tokio::test]
async fn a_slow_query_does_not_delay_another_plugins_fast_one() {
    let env = TestEnv::start().await;
    let slow = json!({
        "query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        "timeout_ms": 4000
    });
    let slow_started = Instant::now();
    let (slow_reply, fast_elapsed) = tokio::join!(env.request(PLUGIN, &slow), async {
        // Give the slow query a head start so that it is running, then time fast ones.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        for _ in 0..10 {
            let reply = env.ok("quote-db", &json!({"query": "SELECT text FROM quote_db__quotes WHERE id = $1", "params": [1]})).await;
            assert_eq!(reply.rows.len(), 1);
        }
        started.elapsed()
    });
    let slow_elapsed = slow_started.elapsed();
    assert!(
        matches!(slow_reply, Reply::Error(ref e) if e.code() == Some(ErrorCode::Timeout)),
        "{slow_reply:?}"
    );
    // Ten fast queries finished long before the slow one ended.
    assert!(
        fast_elapsed < Duration::from_secs(2),
        "fast queries took {fast_elapsed:?}"
    );
    assert!(slow_elapsed >= Duration::from_secs(4));
}

#[tokio::test]
async fn timeout_is_enforced_inside_the_database_and_the_handler_recovers() {
    let env = TestEnv::start().await;
    let runaway = json!({
        "query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c",
        "timeout_ms": 500
    });
    let started = Instant::now();
    let reply = env.err(PLUGIN, &runaway).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.code(), Some(ErrorCode::Timeout));
    assert_eq!(reply.details["timeout_ms"], 500);
    // PROTOCOL.md: within 100 ms of the deadline (plus the NATS round trip, which is
    // well under a millisecond here; the margin keeps a busy machine from flaking).
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_millis(900),
        "{elapsed:?}"
    );
    // Every reader connection is usable afterwards.
    for _ in 0..8 {
        let reply = env
            .ok(
                PLUGIN,
                &json!({"query": "SELECT count(*) AS n FROM analytics_db__events"}),
            )
            .await;
        assert_eq!(reply.rows, vec![json!({"n": 3})]);
    }
}

/// Own-table SQL that the engine reports in unusual ways is not refused: SQLite's JSON
/// operators (functions named `->` and `->>` to its authorizer) and `FULL JOIN ... USING`
/// of a subquery (whose alias SQLite reports as a table read).
#[tokio::test]
async fn json_operators_and_full_join_using_a_subquery_run() {
    let env = TestEnv::start().await;
    let json_sql = match backend() {
        Backend::Sqlite => {
            r#"SELECT '{"a":{"b":2}}' -> '$.a' AS a, '{"a":{"b":2}}' ->> '$.a.b' AS b"#
        }
        Backend::Postgres => {
            r#"SELECT ('{"a":{"b":2}}'::jsonb -> 'a')::text AS a, '{"a":{"b":2}}'::jsonb #>> '{a,b}' AS b"#
        }
    };
    let reply = env.ok("analytics-db", &json!({"query": json_sql})).await;
    let a = reply.rows[0]["a"]
        .as_str()
        .unwrap_or_default()
        .replace(' ', "");
    assert_eq!(a, r#"{"b":2}"#);
    assert!(
        reply.rows[0]["b"] == json!(2) || reply.rows[0]["b"] == json!("2"),
        "{reply:?}"
    );
    let reply = env
        .ok(
            "analytics-db",
            &json!({"query": "SELECT count(*) AS n FROM (SELECT id FROM analytics_db__events) a \
                              FULL JOIN analytics_db__events b USING (id)"}),
        )
        .await;
    let all = env
        .ok(
            "analytics-db",
            &json!({"query": "SELECT count(*) AS n FROM analytics_db__events"}),
        )
        .await;
    assert_eq!(reply.rows, all.rows);
}

/// One long call of a built-in function is stopped by the request's deadline too, not
/// only a long series of steps: string functions over a few hundred KB, whose work grows
/// with the product of their arguments' lengths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_long_built_in_call_is_stopped_by_the_deadline() {
    let env = TestEnv::start().await;
    let calls: &[&str] = match backend() {
        Backend::Sqlite => &[
            "SELECT instr(printf('%.*c', 400000, 'a') || 'b', printf('%.*c', 200000, 'a') || 'b') AS r",
            "SELECT length(replace(printf('%.*c', 400000, 'a'), printf('%.*c', 2000, 'a') || 'b', 'x')) AS r",
            "SELECT printf('%.*c', 400000, 'a') LIKE '%' || printf('%.*c', 3000, 'a') || 'b%' AS r",
            "SELECT printf('%.*c', 400000, 'a') GLOB '*' || printf('%.*c', 3000, 'a') || 'b*' AS r",
            "SELECT length(ltrim(printf('%.*c', 400000, 'a'), printf('%.*c', 200000, 'b') || 'a')) AS r",
            "SELECT printf('%.*c', 300000, 'a') LIKE replace(printf('%.*c', 40, 'x'), 'x', '%a') || 'b' AS r",
            // Linear, but over 16 MB: the override's own deadline check stops it.
            "SELECT printf('%.*c', 16000000, 'a') LIKE '%' || replace(printf('%.*c', 2000, 'x'), 'x', 'a_') || 'b%' AS r",
            // No override: one step of seconds, answered by the deadline all the same.
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) \
             SELECT length(json_patch((SELECT json_group_object('k' || x, x) FROM c), \
             (SELECT json_group_object('k' || x, json_object('a', x)) FROM c))) AS r",
        ],
        Backend::Postgres => &[
            "SELECT strpos(repeat('a', 400000) || 'b', repeat('a', 200000) || 'b') AS r",
            "SELECT length(replace(repeat('a', 400000), repeat('a', 2000) || 'b', 'x')) AS r",
            "SELECT repeat('a', 400000) LIKE '%' || repeat('a', 3000) || 'b%' AS r",
            // Quadratic, and blind to the cancel request: sized to end within seconds.
            "SELECT length(ltrim(repeat('a', 40000), repeat('b', 20000) || 'a')) AS r",
            "SELECT repeat('a', 300000) LIKE repeat('%a', 40) || 'b' AS r",
        ],
    };
    for sql in calls {
        let started = Instant::now();
        let reply = env
            .request(PLUGIN, &json!({"query": sql, "timeout_ms": 200}))
            .await;
        let elapsed = started.elapsed();
        match &reply {
            Reply::Error(e) if e.code() == Some(ErrorCode::Timeout) => {}
            // Fast enough to finish: allowed, it is only the bound that matters.
            Reply::Success(_) => {}
            other => panic!("{sql}: {other:?}"),
        }
        eprintln!("{elapsed:>10.1?}  {sql}");
        // 200 ms, the protocol's 100 ms, and room for a busy machine and the NATS trips.
        assert!(
            elapsed < Duration::from_millis(700),
            "{sql}: answered after {elapsed:?}"
        );
    }
    // The handler is fine afterwards.
    env.ok(PLUGIN, &json!({"query": "SELECT 1 AS one"})).await;
}
