//! The handler's Prometheus endpoint (`--metrics-addr`), scraped over HTTP after real
//! requests over NATS.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use serde_json::json;
use sql_client_tests::{TestEnv, http_get, metric_value, with_idempotency_key};

#[tokio::test]
async fn counters_by_plugin_and_outcome_after_a_few_requests() {
    let mut env = TestEnv::start_with(&[
        "--metrics-addr",
        "127.0.0.1:0",
        "--plugin-rate-limit",
        "quote-db=2",
    ])
    .await;
    let addr = env.metrics_addr().expect("metrics enabled");
    assert_ne!(addr.port(), 0, "the bound port is reported");

    // Three successful reads of 3, 3 and 2 rows.
    let all = json!({"query": "SELECT id FROM analytics_db__events"});
    env.ok("analytics-db", &all).await;
    env.ok("analytics-db", &all).await;
    env.ok(
        "analytics-db",
        &json!({"query": "SELECT id FROM analytics_db__events WHERE user_id = 'alice'"}),
    )
    .await;
    // A policy refusal, a bad subject, and a rate-limited request.
    env.err(
        "analytics-db",
        &json!({"query": "SELECT * FROM quote_db__quotes"}),
    )
    .await;
    env.request_raw(
        "rosey.db.sql.Bad_Name.execute",
        br#"{"query": "SELECT 1"}"#.to_vec(),
        None,
    )
    .await;
    env.ok("quote-db", &json!({"query": "SELECT 1 AS one"}))
        .await;
    env.ok("quote-db", &json!({"query": "SELECT 1 AS one"}))
        .await;
    env.err("quote-db", &json!({"query": "SELECT 1 AS one"}))
        .await;
    // An idempotent write and its replay.
    let write = serde_json::to_vec(&json!({
        "query": "INSERT INTO analytics_db__tags (event_id, tag) VALUES (1, 'm')",
        "allow_write": true
    }))
    .unwrap();
    for _ in 0..2 {
        env.request_raw(
            "rosey.db.sql.analytics-db.execute",
            write.clone(),
            Some(with_idempotency_key("metrics-write")),
        )
        .await;
    }

    let response = http_get(addr, "/metrics").await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        response.content_type
    );
    let text = response.body;
    let value = |name: &str, labels: &[(&str, &str)]| {
        metric_value(&text, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
    };
    let analytics = [("plugin", "analytics-db")];
    let quote = [("plugin", "quote-db")];
    let ok = |plugin| [("plugin", plugin), ("outcome", "OK")];
    assert_eq!(
        value("sql_handler_requests_total", &ok("analytics-db")),
        5.0
    );
    assert_eq!(
        value(
            "sql_handler_requests_total",
            &[
                ("plugin", "analytics-db"),
                ("outcome", "NAMESPACE_VIOLATION")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            "sql_handler_requests_total",
            &[("plugin", ""), ("outcome", "REQUEST_VALIDATION_ERROR")]
        ),
        1.0
    );
    assert_eq!(value("sql_handler_requests_total", &ok("quote-db")), 2.0);
    assert_eq!(
        value(
            "sql_handler_requests_total",
            &[("plugin", "quote-db"), ("outcome", "RATE_LIMIT")]
        ),
        1.0
    );
    assert_eq!(value("sql_handler_rate_limited_total", &quote), 1.0);
    assert_eq!(value("sql_handler_rows_returned_total", &analytics), 8.0);
    assert_eq!(value("sql_handler_rows_returned_total", &quote), 2.0);
    assert_eq!(
        value("sql_handler_idempotent_replays_total", &analytics),
        1.0
    );
    assert_eq!(
        value("sql_handler_request_duration_seconds_count", &analytics),
        6.0
    );
    assert_eq!(value("sql_handler_in_flight", &[]), 0.0);
    assert!(
        !text.contains("Bad_Name"),
        "invalid subjects never become label values"
    );

    assert_eq!(http_get(addr, "/").await.status, 404);
    assert_eq!(http_get(addr, "/metrics/extra").await.status, 404);

    // The endpoint stops with the handler.
    env.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn metrics_are_off_unless_configured() {
    let env = TestEnv::start().await;
    assert_eq!(env.metrics_addr(), None);
}
