//! The handler's own per-plugin rate limit over real NATS (PROTOCOL.md: `RATE_LIMIT`,
//! checked after the body and fields and before parse and policy).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use serde_json::json;
use sql_client_tests::{TestEnv, audit_records, with_correlation_id};
use sql_core::ErrorCode;
use sql_core::wire::Reply;

fn select() -> serde_json::Value {
    json!({"query": "SELECT 1 AS one"})
}

#[tokio::test]
async fn the_request_past_the_limit_is_refused_with_details_and_other_plugins_go_on() {
    let env = TestEnv::start_with(&["--rate-limit-per-minute", "5"]).await;
    for _ in 0..5 {
        env.ok("analytics-db", &select()).await;
    }
    let message = env
        .request_raw(
            "rosey.db.sql.analytics-db.execute",
            serde_json::to_vec(&select()).unwrap(),
            Some(with_correlation_id("limited-6")),
        )
        .await;
    let Reply::Error(err) = Reply::from_slice(&message.payload).unwrap() else {
        panic!("the 6th request should be refused");
    };
    assert_eq!(err.code(), Some(ErrorCode::RateLimit));
    assert_eq!(err.details["limit"], 5);
    assert_eq!(err.details["window_seconds"], 60);
    let retry_after = err.details["retry_after_ms"].as_u64().unwrap();
    assert!((1..=60_000).contains(&retry_after), "{retry_after}");
    assert_eq!(err.details["plugin"], "analytics-db");

    let audit = audit_records("limited-6");
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["outcome"], "RATE_LIMIT");
    assert_eq!(audit[0]["plugin"], "analytics-db");

    // Another plugin has its own window.
    for _ in 0..5 {
        env.ok("quote-db", &select()).await;
    }
}

#[tokio::test]
async fn the_limit_comes_after_body_checks_and_before_the_policy() {
    let env = TestEnv::start_with(&["--rate-limit-per-minute", "1"]).await;
    // A malformed body is refused before it can spend the quota...
    let err = env.err("analytics-db", &json!({"query": 42})).await;
    assert_eq!(err.code(), Some(ErrorCode::RequestValidationError));
    env.ok("analytics-db", &select()).await;
    // ...and still gets its own answer once the quota is spent.
    let err = env.err("analytics-db", &json!({"params": []})).await;
    assert_eq!(err.code(), Some(ErrorCode::RequestValidationError));
    // A statement the policy would refuse is refused by the limit first.
    let err = env
        .err(
            "analytics-db",
            &json!({"query": "SELECT * FROM quote_db__quotes"}),
        )
        .await;
    assert_eq!(err.code(), Some(ErrorCode::RateLimit));
}

#[tokio::test]
async fn a_plugin_override_applies_to_that_plugin_only() {
    let env = TestEnv::start_with(&[
        "--rate-limit-per-minute",
        "100",
        "--plugin-rate-limit",
        "quote-db=2",
    ])
    .await;
    env.ok("quote-db", &select()).await;
    env.ok("quote-db", &select()).await;
    let err = env.err("quote-db", &select()).await;
    assert_eq!(err.code(), Some(ErrorCode::RateLimit));
    assert_eq!(err.details["limit"], 2);
    for _ in 0..5 {
        env.ok("analytics-db", &select()).await;
    }
}
