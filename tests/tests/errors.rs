//! Every error code this handler produces, over a real NATS server, with its details; and
//! a reply for every malformed request.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use serde_json::{Value, json};
use sql_client_tests::{Backend, TestEnv, backend, with_correlation_id};
use sql_core::ErrorCode;
use sql_core::wire::{ErrorReply, Reply};

const PLUGIN: &str = "analytics-db";

fn assert_common(reply: &ErrorReply, code: ErrorCode, context: &str) {
    assert_eq!(reply.code(), Some(code), "{context}: {reply:?}");
    for key in ["plugin", "query_preview", "param_count", "correlation_id"] {
        assert!(
            reply.details.contains_key(key),
            "{context}: details lack {key}: {reply:?}"
        );
    }
    assert!(!reply.message.is_empty(), "{context}");
}

#[tokio::test]
async fn each_error_code_with_its_details() {
    let env = TestEnv::start().await;
    // Each backend's own catalog (the policy refuses both names on either backend).
    let catalog = match backend() {
        Backend::Sqlite => "sqlite_master",
        Backend::Postgres => "pg_tables",
    };
    // (body, code, expected detail fields)
    let cases: Vec<(Value, ErrorCode, Value)> = vec![
        (
            json!({"query": 5}),
            ErrorCode::RequestValidationError,
            json!({"field": "query"}),
        ),
        (
            json!({"query": "SELECT 1", "timeout_ms": 50}),
            ErrorCode::RequestValidationError,
            json!({"field": "timeout_ms"}),
        ),
        (
            json!({"query": "SELECT 1", "max_rows": true}),
            ErrorCode::RequestValidationError,
            json!({"field": "max_rows"}),
        ),
        (
            json!({"query": "SELECT 1", "allow_write": "yes"}),
            ErrorCode::RequestValidationError,
            json!({"field": "allow_write"}),
        ),
        (
            json!({"query": "SELECT 1", "params": "x"}),
            ErrorCode::RequestValidationError,
            json!({"field": "params"}),
        ),
        (
            json!({"query": "SELECT 1", "row_format": "csv"}),
            ErrorCode::RequestValidationError,
            json!({"field": "row_format"}),
        ),
        (
            json!({"query": "x".repeat(65_537)}),
            ErrorCode::RequestValidationError,
            json!({"field": "query"}),
        ),
        (
            json!({"query": "  -- nothing\n ; "}),
            ErrorCode::EmptyQuery,
            json!({}),
        ),
        (
            json!({"query": "SELECT id\nFROM analytics_db__events\nWHERE id = = 1"}),
            ErrorCode::ParseError,
            json!({"line": 3}),
        ),
        (
            json!({"query": "SELECT 1; DELETE FROM analytics_db__events"}),
            ErrorCode::StackedQueries,
            json!({}),
        ),
        (
            json!({"query": "DROP TABLE analytics_db__events"}),
            ErrorCode::ForbiddenStatement,
            json!({}),
        ),
        (
            json!({"query": "/* hello */ CREATE TABLE analytics_db__x (a INTEGER)"}),
            ErrorCode::ForbiddenStatement,
            json!({}),
        ),
        (
            json!({"query": "SELECT load_extension('evil')"}),
            ErrorCode::ForbiddenFunction,
            json!({"function": "load_extension"}),
        ),
        (
            json!({"query": "SELECT * FROM quote_db__quotes"}),
            ErrorCode::NamespaceViolation,
            json!({"table": "quote_db__quotes", "expected_prefix": "analytics_db__"}),
        ),
        (
            json!({"query": format!("SELECT * FROM {catalog}")}),
            ErrorCode::SystemTableAccess,
            json!({"table": catalog}),
        ),
        (
            json!({"query": "SELECT * FROM analytics_db__events WHERE id = $1 AND n = $2", "params": [1]}),
            ErrorCode::ParamCountMismatch,
            json!({"expected": 2, "provided": 1}),
        ),
        (
            json!({"query": "SELECT * FROM analytics_db__events WHERE id = $1 AND n = $3", "params": [1, 2, 3]}),
            ErrorCode::InvalidPlaceholder,
            json!({}),
        ),
        (
            json!({"query": "SELECT $0", "params": [1]}),
            ErrorCode::InvalidPlaceholder,
            json!({"placeholder": "$0"}),
        ),
        (
            json!({"query": "SELECT $1 AS b", "params": [{"$blob": "***"}]}),
            ErrorCode::ParamTypeError,
            json!({"index": 1}),
        ),
        (
            json!({"query": "DELETE FROM analytics_db__events WHERE id = 1"}),
            ErrorCode::PermissionDenied,
            json!({"permission": "allow_write"}),
        ),
        (
            json!({"query": "INSERT INTO analytics_db__events (id, user_id, name) VALUES (1, 'x', 'y')", "allow_write": true}),
            ErrorCode::ExecutionError,
            json!({"constraint_type": "unique"}),
        ),
        (
            json!({"query": "INSERT INTO analytics_db__events (id, user_id, name) VALUES (50, NULL, 'y')", "allow_write": true}),
            ErrorCode::ExecutionError,
            json!({"constraint_type": "not_null"}),
        ),
        (
            json!({"query": "INSERT INTO analytics_db__tags (event_id, tag) VALUES (1, '')", "allow_write": true}),
            ErrorCode::ExecutionError,
            json!({"constraint_type": "check"}),
        ),
        (
            json!({"query": "INSERT INTO analytics_db__tags (event_id, tag) VALUES (999, 'x')", "allow_write": true}),
            ErrorCode::ExecutionError,
            json!({"constraint_type": "foreign_key"}),
        ),
        (
            json!({"query": "SELECT nope FROM analytics_db__events"}),
            ErrorCode::ExecutionError,
            json!({}),
        ),
        (
            json!({"query": "SELECT e.id, t.event_id AS id FROM analytics_db__events e JOIN analytics_db__tags t ON t.event_id = e.id"}),
            ErrorCode::DuplicateColumn,
            json!({"column": "id"}),
        ),
        (
            json!({"query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", "timeout_ms": 200}),
            ErrorCode::Timeout,
            json!({"timeout_ms": 200}),
        ),
    ];
    for (body, code, expected) in cases {
        let reply = env.err(PLUGIN, &body).await;
        let context = body.to_string();
        let context = &context[..context.len().min(200)];
        assert_common(&reply, code, context);
        assert_eq!(reply.details["plugin"], PLUGIN, "{context}");
        for (key, value) in expected.as_object().unwrap() {
            assert_eq!(
                &reply.details[key], value,
                "{context}: details.{key} in {reply:?}"
            );
        }
    }
}

#[tokio::test]
async fn parse_errors_carry_line_and_column_and_previews_are_capped() {
    let env = TestEnv::start().await;
    let reply = env
        .err(
            PLUGIN,
            &json!({"query": "SELECT id\nFROM analytics_db__events\nWHERE id = = 1"}),
        )
        .await;
    assert_eq!(reply.details["line"], 3);
    assert!(
        reply.details["column"].as_u64().is_some_and(|c| c > 1),
        "{reply:?}"
    );

    let long = format!("SELECT {} FROM quote_db__quotes", "1, ".repeat(200) + "1");
    let reply = env.err(PLUGIN, &json!({"query": long})).await;
    assert_eq!(
        reply.details["query_preview"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        200
    );
    assert_eq!(reply.details["param_count"], 0);
}

#[tokio::test]
async fn correlation_ids_are_echoed_or_made() {
    let env = TestEnv::start().await;
    let message = env
        .request_raw(
            "rosey.db.sql.analytics-db.execute",
            br#"{"query": "SELECT * FROM quote_db__quotes"}"#.to_vec(),
            Some(with_correlation_id("req-123")),
        )
        .await;
    let header = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Correlation-Id"))
        .map(|v| v.as_str().to_owned());
    assert_eq!(header.as_deref(), Some("req-123"));
    let Reply::Error(reply) = Reply::from_slice(&message.payload).unwrap() else {
        panic!("expected an error")
    };
    assert_eq!(reply.details["correlation_id"], "req-123");

    // Without one (or with an invalid one) the handler makes one and still echoes it.
    let message = env
        .request_raw(
            "rosey.db.sql.analytics-db.execute",
            br#"{"query": "SELECT 1 AS one"}"#.to_vec(),
            Some(with_correlation_id("bad\u{7f}id")),
        )
        .await;
    let made = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Correlation-Id"))
        .map(|v| v.as_str().to_owned());
    assert!(made.is_some_and(|id| id.len() >= 16 && id != "bad\u{7f}id"));
}

#[tokio::test]
async fn malformed_requests_always_get_a_reply() {
    let env = TestEnv::start().await;
    let junk: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("array", b"[1, 2]".to_vec()),
        ("string", b"\"SELECT 1\"".to_vec()),
        ("null", b"null".to_vec()),
        ("number", b"42".to_vec()),
        ("empty", Vec::new()),
        ("invalid utf-8", vec![0xff, 0xfe, b'{', 0x80]),
        ("truncated json", br#"{"query": "SELECT"#.to_vec()),
        ("1 MB of junk", junk),
    ];
    for (what, body) in bodies {
        let message = env
            .request_raw("rosey.db.sql.analytics-db.execute", body, None)
            .await;
        let reply = match Reply::from_slice(&message.payload) {
            Ok(Reply::Error(reply)) => reply,
            other => panic!("{what}: {other:?}"),
        };
        assert_common(&reply, ErrorCode::RequestValidationError, what);
        assert_eq!(reply.details["field"], "body", "{what}");
    }
}

/// A body must mean one thing to every reader: a key sent twice is refused before anything
/// runs, and `null` is a wrong type for every field.
#[tokio::test]
async fn ambiguous_bodies_are_refused_and_run_nothing() {
    let env = TestEnv::start().await;
    let count = json!({"query": "SELECT count(*) AS n FROM analytics_db__events"});
    let before = env.ok(PLUGIN, &count).await.rows;
    let bodies: Vec<(&str, &[u8], &str)> = vec![
        (
            "allow_write twice",
            br#"{"query": "DELETE FROM analytics_db__events", "allow_write": false, "allow_write": true}"#,
            "body",
        ),
        (
            "query twice",
            br#"{"query": "SELECT 1", "query": "DELETE FROM analytics_db__events", "allow_write": true}"#,
            "body",
        ),
        (
            "a parameter object with a key twice",
            br#"{"query": "SELECT $1 AS b", "params": [{"$blob": "AA==", "$blob": "AQ=="}]}"#,
            "body",
        ),
        ("null params", br#"{"query": "SELECT 1", "params": null}"#, "params"),
        ("null timeout_ms", br#"{"query": "SELECT 1", "timeout_ms": null}"#, "timeout_ms"),
        ("null max_rows", br#"{"query": "SELECT 1", "max_rows": null}"#, "max_rows"),
        (
            "null batch",
            br#"{"query": "DELETE FROM analytics_db__events", "batch": null, "allow_write": true}"#,
            "batch",
        ),
        ("null row_format", br#"{"query": "SELECT 1", "row_format": null}"#, "row_format"),
        ("null allow_write", br#"{"query": "SELECT 1", "allow_write": null}"#, "allow_write"),
    ];
    for (what, body, field) in bodies {
        let message = env
            .request_raw("rosey.db.sql.analytics-db.execute", body.to_vec(), None)
            .await;
        let reply = match Reply::from_slice(&message.payload) {
            Ok(Reply::Error(reply)) => reply,
            other => panic!("{what}: {other:?}"),
        };
        assert_common(&reply, ErrorCode::RequestValidationError, what);
        assert_eq!(reply.details["field"], field, "{what}: {reply:?}");
    }
    assert_eq!(
        env.ok(PLUGIN, &count).await.rows,
        before,
        "nothing was deleted"
    );
}

/// Statements the parser cannot read but whose kind is recognisable are refused as what
/// they are, not as a typo.
#[tokio::test]
async fn unknown_statements_are_forbidden_not_parse_errors() {
    let env = TestEnv::start().await;
    for (sql, statement_type) in [
        ("CHECKPOINT", "CHECKPOINT"),
        ("REASSIGN OWNED BY sqlh_a TO sqlh_b", "REASSIGN"),
        ("MOVE NEXT FROM c", "MOVE"),
        (
            "SELECT * FROM analytics_db__events FOR NO KEY UPDATE",
            "SELECT FOR UPDATE",
        ),
        (
            "SELECT * FROM analytics_db__events FOR KEY SHARE",
            "SELECT FOR UPDATE",
        ),
    ] {
        let reply = env
            .err(PLUGIN, &json!({"query": sql, "allow_write": true}))
            .await;
        assert_common(&reply, ErrorCode::ForbiddenStatement, sql);
        assert_eq!(reply.details["statement_type"], statement_type, "{sql}");
    }
}

#[tokio::test]
async fn bad_subjects_get_a_reply_naming_the_subject() {
    let env = TestEnv::start().await;
    for plugin in ["Bad", "a__b", "a_b", "a--b", "-x", &"a".repeat(65)] {
        let subject = format!("rosey.db.sql.{plugin}.execute");
        let message = env
            .request_raw(&subject, br#"{"query": "SELECT 1"}"#.to_vec(), None)
            .await;
        let Ok(Reply::Error(reply)) = Reply::from_slice(&message.payload) else {
            panic!("{subject}: no error reply")
        };
        assert_common(&reply, ErrorCode::RequestValidationError, &subject);
        assert_eq!(reply.details["field"], "subject", "{subject}");
    }
}

#[tokio::test]
async fn overloaded_when_at_the_concurrency_cap() {
    let env = TestEnv::start_with(&["--max-concurrency", "1"]).await;
    let slow = json!({
        "query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        "timeout_ms": 3000
    });
    let (slow_reply, fast_reply) = tokio::join!(env.request(PLUGIN, &slow), async {
        // Keep asking until the slow query holds the only slot; each answer is immediate.
        for _ in 0..200 {
            if let Reply::Error(reply) = env
                .request(PLUGIN, &json!({"query": "SELECT 1 AS one"}))
                .await
                && reply.code() == Some(ErrorCode::Overloaded)
            {
                return Some(reply);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        None
    });
    let overloaded = fast_reply.expect("an OVERLOADED reply while the slow query runs");
    assert_eq!(overloaded.details["transient"], true);
    assert!(matches!(slow_reply, Reply::Error(e) if e.code() == Some(ErrorCode::Timeout)));
}

#[tokio::test]
async fn hostile_nesting_gets_a_reply_and_the_handler_survives() {
    let env = TestEnv::start().await;
    let queries = [
        // A flat chain the parser turns into a tree as deep as it is long.
        format!("SELECT {}1", "1+".repeat(30_000)),
        format!(
            "SELECT 1 FROM analytics_db__events WHERE {}1",
            "n = 1 OR ".repeat(6_000)
        ),
        // Deep parentheses hit the parser's recursion limit.
        format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000)),
        format!(
            "SELECT * FROM {}analytics_db__events{}",
            "(SELECT * FROM ".repeat(3_000),
            ")".repeat(3_000)
        ),
    ];
    for query in &queries {
        let reply = env.err(PLUGIN, &json!({"query": query})).await;
        assert_eq!(
            reply.code(),
            Some(ErrorCode::ParseError),
            "{}",
            &query[..60]
        );
    }
    let reply = env
        .ok(
            PLUGIN,
            &json!({"query": "SELECT count(*) AS n FROM analytics_db__events"}),
        )
        .await;
    assert_eq!(reply.rows, vec![json!({"n": 3})]);
}
