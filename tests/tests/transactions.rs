//! Transactions of several statements (PROTOCOL.md section 9, `transaction`), end to end
//! on the configured backend: all applied or none, each statement's result returned, the
//! same policy, parameters, limits and audit per statement, one idempotency key for the
//! whole.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use async_nats::HeaderMap;
use serde_json::{Value, json};
use sql_client::{
    AnyQuery, ClientConfig, Insert, Query, RateLimiter, Select, SqlClient, SqlError, SqlResult,
    Update,
};
use sql_client_tests::{TestEnv, audit_records};
use sql_core::wire::{self, Reply};
use sql_core::{Plugin, RateLimit};

const PLUGIN: &str = "analytics-db";

fn plugin() -> Plugin {
    Plugin::new(PLUGIN).unwrap()
}

async fn client_with(env: &TestEnv, config: ClientConfig) -> SqlClient {
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    SqlClient::with_config(nats, PLUGIN, config).unwrap()
}

async fn client(env: &TestEnv) -> SqlClient {
    client_with(env, ClientConfig::default()).await
}

fn update(sql: &'static str, amount: i64, id: i64) -> Query<Update> {
    Query::checked(sql, &plugin())
        .unwrap()
        .bind(&amount)
        .unwrap()
        .bind(&id)
        .unwrap()
}

fn debit(amount: i64, id: i64) -> Query<Update> {
    update(
        "UPDATE analytics_db__events SET n = n - $1 WHERE id = $2",
        amount,
        id,
    )
}

fn credit(amount: i64, id: i64) -> Query<Update> {
    update(
        "UPDATE analytics_db__events SET n = n + $1 WHERE id = $2",
        amount,
        id,
    )
}

fn ledger(id: i64, name: &str) -> Query<Insert> {
    Query::checked(
        "INSERT INTO analytics_db__events (id, user_id, name, n) VALUES ($1, 'ledger', $2, 0)",
        &plugin(),
    )
    .unwrap()
    .bind(&id)
    .unwrap()
    .bind(name)
    .unwrap()
}

/// Each seeded event's `n`, by id (1, 2 and 3 hold 1, 2 and 3 after the migrations).
async fn balances(client: &SqlClient) -> Vec<(i64, Option<i64>)> {
    let result = client
        .execute(
            Query::<Select>::checked(
                "SELECT id, n FROM analytics_db__events ORDER BY id",
                &plugin(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    result
        .iter()
        .map(|row| (row.get("id").unwrap(), row.get("n").unwrap()))
        .collect()
}

#[tokio::test]
async fn every_statement_applies_together_and_returns_its_result() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let (taken, given, written, read) = client
        .transaction((
            debit(1, 2),
            credit(1, 3),
            ledger(100, "transfer"),
            // A read in the transaction sees what the statements before it wrote.
            Query::<Select>::checked(
                "SELECT n FROM analytics_db__events WHERE id IN (2, 3, 100) ORDER BY id",
                &plugin(),
            )
            .unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(
        (taken.row_count(), given.row_count(), written.row_count()),
        (1, 1, 1)
    );
    let seen: Vec<i64> = read.iter().map(|row| row.get("n").unwrap()).collect();
    assert_eq!(seen, [1, 4, 0]);
    assert_eq!(read.columns(), ["n"]);
    assert_eq!(read.len(), 3);
    assert!(!taken.correlation_id().is_empty());
    assert_eq!(taken.correlation_id(), read.correlation_id());
    let after = balances(&client).await;
    assert_eq!(after[..3], [(1, Some(1)), (2, Some(1)), (3, Some(4))]);
    assert_eq!(after[3], (100, Some(0)));

    // The handler audits each statement, with the transaction's outcome.
    let records = audit_records(taken.correlation_id());
    let mut handler: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("outcome").is_some())
        .collect();
    handler.sort_by_key(|r| r["statement_index"].as_u64());
    assert_eq!(handler.len(), 4, "{records:?}");
    for (index, record) in handler.iter().enumerate() {
        assert_eq!(record["statement_index"], index);
        assert_eq!(record["statement_count"], 4);
        assert_eq!(record["outcome"], "OK");
    }
    assert_eq!(handler[0]["kind"], "UPDATE");
    assert_eq!(handler[2]["kind"], "INSERT");
    assert_eq!(handler[3]["kind"], "SELECT");
    assert_eq!(handler[3]["rows"], 3);
    assert_eq!(
        handler[2]["query_hash"],
        sql_core::query_hash(
            "INSERT INTO analytics_db__events (id, user_id, name, n) VALUES ($1, 'ledger', $2, 0)"
        )
    );
    // And the client, one record per statement too.
    let client_side = records.iter().filter(|r| r.get("status").is_some()).count();
    assert_eq!(client_side, 4);
}

#[tokio::test]
async fn a_failing_statement_undoes_the_ones_before_it() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let before = balances(&client).await;
    // The third statement breaks UNIQUE (user_id, name): ('alice', 'login') exists.
    let duplicate = Query::<Insert>::checked(
        "INSERT INTO analytics_db__events (id, user_id, name) VALUES (200, 'alice', 'login')",
        &plugin(),
    )
    .unwrap();
    let err = client
        .transaction((debit(1, 1), ledger(101, "moved"), duplicate))
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Execution(_)), "{err}");
    assert_eq!(err.details()["statement_index"], 2, "{err}");
    assert_eq!(err.details()["constraint_type"], "unique");
    assert!(
        err.detail().query_preview().contains("VALUES (200"),
        "the failing statement's query: {err}"
    );
    assert_eq!(balances(&client).await, before, "nothing applied");

    // The audit records carry the transaction's outcome for every statement.
    let records = audit_records(err.detail().correlation_id());
    let handler: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("outcome").is_some())
        .collect();
    assert_eq!(handler.len(), 3);
    assert!(handler.iter().all(|r| r["outcome"] == "EXECUTION_ERROR"));
}

#[tokio::test]
async fn a_refused_statement_runs_nothing() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let before = balances(&client).await;
    let foreign = AnyQuery::from(Query::<Select>::__from_checked(
        "SELECT * FROM quote_db__quotes",
        0,
        vec![],
        None,
    ));
    let err = client
        .transaction(vec![AnyQuery::from(debit(1, 1)), foreign])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NAMESPACE_VIOLATION");
    assert_eq!(err.details()["statement_index"], 1);
    assert_eq!(err.details()["table"], "quote_db__quotes");
    assert_eq!(balances(&client).await, before);

    // A parameter count mismatch is found before sending, and names its statement.
    let short = Query::<Update>::checked(
        "UPDATE analytics_db__events SET n = $1 WHERE id = $2",
        &plugin(),
    )
    .unwrap()
    .bind(&1)
    .unwrap();
    let err = client.transaction((debit(1, 1), short)).await.unwrap_err();
    assert_eq!(err.code(), "PARAM_COUNT_MISMATCH");
    assert_eq!(err.details()["statement_index"], 1);
    assert_eq!(err.detail().attempts(), 0);
}

#[tokio::test]
async fn the_wire_rules_of_a_transaction() {
    let env = TestEnv::start().await;
    let statement = |query: &str, params: Value| json!({"query": query, "params": params});
    let update = "UPDATE analytics_db__events SET n = n + 1 WHERE id = $1";

    // A write needs allow_write, per statement.
    let err = env
        .err(
            PLUGIN,
            &json!({"query": "", "transaction": [
                statement("SELECT 1 AS one", json!([])),
                statement(update, json!([1])),
            ]}),
        )
        .await;
    assert_eq!(err.error, "PERMISSION_DENIED");
    assert_eq!(err.details["statement_index"], 1);

    // A statement beside the transaction would run alone on a handler without the ext.
    let err = env
        .err(
            PLUGIN,
            &json!({"query": "DELETE FROM analytics_db__events", "allow_write": true,
                "transaction": [statement(update, json!([1]))]}),
        )
        .await;
    assert_eq!(err.error, "REQUEST_VALIDATION_ERROR");
    assert_eq!(err.details["field"], "query");

    // What a handler without the ext sees of a client's transaction: no statement.
    let err = env
        .err(PLUGIN, &json!({"query": wire::TRANSACTION_QUERY}))
        .await;
    assert_eq!(err.error, "EMPTY_QUERY");

    // A parameter of the wrong type names the statement and the parameter.
    let err = env
        .err(
            PLUGIN,
            &json!({"query": "", "allow_write": true, "transaction": [
                statement(update, json!([1])),
                statement(update, json!([{"$blob": "***"}])),
            ]}),
        )
        .await;
    assert_eq!(err.error, "PARAM_TYPE_ERROR");
    assert_eq!(err.details["statement_index"], 1);
    assert_eq!(err.details["index"], 1);

    // The reply: `results`, one per statement; the envelope sums the row counts.
    let reply = env
        .ok(
            PLUGIN,
            &json!({"query": "", "allow_write": true, "row_format": "arrays", "transaction": [
                statement(update, json!([1])),
                statement("SELECT id, n FROM analytics_db__events WHERE id = $1", json!([1])),
            ]}),
        )
        .await;
    let results = reply.results.expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].row_count, 1);
    assert_eq!(results[1].rows, [json!([1, 2])]);
    assert_eq!(results[1].columns, ["id", "n"]);
    assert_eq!(reply.row_count, 2);
    assert!(reply.rows.is_empty());
}

#[tokio::test]
async fn one_idempotency_key_covers_the_whole_transaction() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let before = balances(&client).await;
    let body = serde_json::to_vec(&json!({"query": "", "allow_write": true, "transaction": [
        {"query": "UPDATE analytics_db__events SET n = n + 10 WHERE id = $1", "params": [1]},
        {"query": "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, 'key', 'once')", "params": [300]},
    ]}))
    .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(wire::IDEMPOTENCY_KEY_HEADER, "transfer-300");
    let subject = wire::subject(wire::DEFAULT_SUBJECT_PREFIX, &plugin());
    let first = env
        .request_raw(&subject, body.clone(), Some(headers.clone()))
        .await;
    let again = env.request_raw(&subject, body, Some(headers)).await;
    assert_eq!(
        first.payload, again.payload,
        "the first reply, byte for byte"
    );
    let Reply::Success(reply) = Reply::from_slice(&first.payload).unwrap() else {
        panic!("a success: {:?}", first.payload)
    };
    assert_eq!(reply.results.map(|r| r.len()), Some(2));
    let after = balances(&client).await;
    assert_eq!(after[0], (1, before[0].1.map(|n| n + 10)), "applied once");
    assert_eq!(after.iter().filter(|(id, _)| *id == 300).count(), 1);
}

#[tokio::test]
async fn each_statement_counts_against_the_rate_limit() {
    let env = TestEnv::start().await;
    let limiter = RateLimiter::new(RateLimit::per_minute(3));
    let client = client_with(&env, ClientConfig::default().rate_limiter(limiter)).await;
    let before = balances(&client).await;
    assert_eq!(client.metrics().rate_limit.used, 1);
    let err = client
        .transaction(vec![
            AnyQuery::from(debit(1, 1)),
            AnyQuery::from(debit(1, 2)),
            AnyQuery::from(credit(2, 3)),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::RateLimit(_)), "{err}");
    assert_eq!(
        client.metrics().rate_limit.used,
        1,
        "all or none: a refused transaction counts nothing"
    );
    let results: Vec<SqlResult> = client
        .transaction(vec![
            AnyQuery::from(debit(1, 1)),
            AnyQuery::from(credit(1, 2)),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(client.metrics().rate_limit.used, 3);
    assert!(
        client.execute(debit(1, 1)).await.is_err(),
        "the limit is spent"
    );
    assert_eq!(
        balances_unlimited(&env).await[..2],
        [
            (1, before[0].1.map(|n| n - 1)),
            (2, before[1].1.map(|n| n + 1))
        ]
    );
}

/// [`balances`] through a client of its own limiter.
async fn balances_unlimited(env: &TestEnv) -> Vec<(i64, Option<i64>)> {
    balances(&client(env).await).await
}
