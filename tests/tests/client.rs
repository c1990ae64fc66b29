//! The client end to end: every method against the real handler over a real NATS server,
//! concurrency, rate limits, audit records, timeouts and retries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::time::{Duration, Instant};

use sql_client::{
    Backoff, ClientConfig, Delete, Insert, ParamLogging, Query, RateLimiter, Row, Select,
    SqlClient, SqlError, SqlRow, Update,
};
use sql_client_tests::{
    Backend, TestDb, TestEnv, audit_records, backend, capture_logs, start_handler,
};
use sql_core::{Plugin, RateLimit};
use sql_test_harness::NatsServer;

const PLUGIN: &str = "analytics-db";

fn plugin() -> Plugin {
    Plugin::new(PLUGIN).unwrap()
}

async fn client_with(env: &TestEnv, config: ClientConfig) -> SqlClient {
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    SqlClient::with_config(nats, PLUGIN, config).unwrap()
}

fn select(sql: &'static str) -> Query<Select> {
    Query::checked(sql, &plugin()).unwrap()
}

#[derive(Debug, PartialEq)]
struct Event {
    id: i64,
    name: String,
}

impl SqlRow for Event {
    fn from_row(row: &Row) -> Result<Self, sql_client::RowError> {
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
        })
    }
}

#[tokio::test]
async fn every_method_end_to_end() {
    let env = TestEnv::start().await;
    let client = client_with(&env, ClientConfig::default()).await;

    let inserted = client
        .insert(
            Query::<Insert>::checked(
                "INSERT INTO analytics_db__events (id, user_id, name, n) VALUES ($1, $2, $3, $4)",
                &plugin(),
            )
            .unwrap()
            .bind(&10)
            .unwrap()
            .bind("carol")
            .unwrap()
            .bind("signup")
            .unwrap()
            .bind(&7)
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);

    let many = client
        .insert_many(
            Query::<Insert>::checked(
                "INSERT INTO analytics_db__events (id, user_id, name, n) VALUES ($1, $2, $3, $4)",
                &plugin(),
            )
            .unwrap(),
            vec![
                (11, "carol", "a", 1),
                (12, "carol", "b", 2),
                (13, "carol", "c", 3),
            ],
        )
        .await
        .unwrap();
    assert_eq!(many, 3);

    let events: Vec<Event> = client
        .select(
            select("SELECT id, name FROM analytics_db__events WHERE user_id = $1 ORDER BY id")
                .bind("carol")
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["signup", "a", "b", "c"]
    );

    let one: Option<Event> = client
        .select_one(
            select("SELECT id, name FROM analytics_db__events WHERE name = $1")
                .bind("signup")
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(one.map(|e| e.id), Some(events[0].id));
    let none: Option<Row> = client
        .select_one(
            select("SELECT id FROM analytics_db__events WHERE name = $1")
                .bind("nope")
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(none.is_none());

    let updated = client
        .update(
            Query::<Update>::checked(
                "UPDATE analytics_db__events SET n = n * 10 WHERE user_id = $1",
                &plugin(),
            )
            .unwrap()
            .bind("carol")
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(updated, 4);

    let result = client
        // PostgreSQL sums a bigint column as an exact numeric (a string in JSON).
        .execute(select("SELECT CAST(sum(n) AS BIGINT) AS total, count(*) AS c FROM analytics_db__events WHERE user_id = $1").bind("carol").unwrap())
        .await
        .unwrap();
    assert_eq!(result.len(), 1);
    assert_eq!(result.columns(), ["total", "c"]);
    let first = result.first().unwrap();
    assert_eq!(
        (
            first.get::<i64>("total").unwrap(),
            first.get::<i64>("c").unwrap()
        ),
        (130, 4)
    );
    assert!(!result.correlation_id().is_empty());

    let deleted = client
        .delete(
            Query::<Delete>::checked(
                "DELETE FROM analytics_db__events WHERE user_id = $1",
                &plugin(),
            )
            .unwrap()
            .bind("carol")
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(deleted, 4);

    let metrics = client.metrics();
    assert_eq!(metrics.queries, 8);
    assert_eq!(metrics.errors, 0);
    assert_eq!(metrics.rate_limit.used, 8);
    assert!(metrics.latency.p99_ms > 0.0);
}

#[tokio::test]
async fn insert_many_is_one_transaction() {
    let env = TestEnv::start().await;
    let client = client_with(&env, ClientConfig::default()).await;
    let query = || {
        Query::<Insert>::checked(
            "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, $2, $3)",
            &plugin(),
        )
        .unwrap()
    };
    // The third row collides with the first on (user_id, name).
    let err = client
        .insert_many(
            query(),
            [(10, "dave", "x"), (11, "dave", "y"), (12, "dave", "x")],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Execution(_)), "{err}");
    assert_eq!(err.details()["constraint_type"], "unique");
    assert_eq!(err.details()["batch_index"], 2);
    let count: Option<Row> = client
        .select_one(
            select("SELECT count(*) AS n FROM analytics_db__events WHERE user_id = $1")
                .bind("dave")
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(count.unwrap().get::<i64>("n").unwrap(), 0);
    // Rows of the wrong arity never leave the client.
    let err = client
        .insert_many(query(), vec![vec!["a", "b"]])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "PARAM_COUNT_MISMATCH");
    assert_eq!(err.detail().attempts(), 0);
}

#[tokio::test]
async fn fifty_concurrent_tasks_share_one_client() {
    let env = TestEnv::start().await;
    let client = client_with(
        &env,
        ClientConfig::default().rate_limit(RateLimit::per_minute(1000)),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..50_i64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("task-{i}");
            client
                .insert(
                    Query::<Insert>::checked(
                        "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, $2, $3)",
                        &plugin(),
                    )
                    .unwrap()
                    .bind(&(100 + i))
                    .unwrap()
                    .bind("erin")
                    .unwrap()
                    .bind(&name)
                    .unwrap(),
                )
                .await?;
            let rows: Vec<Row> = client
                .select(
                    select("SELECT name FROM analytics_db__events WHERE name = $1")
                        .bind(&name)
                        .unwrap(),
                )
                .await?;
            Ok::<_, SqlError>(rows.len())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 1);
    }
    let metrics = client.metrics();
    assert_eq!((metrics.queries, metrics.errors), (100, 0));
}

#[tokio::test]
async fn rate_limits_apply_to_real_queries_and_change_at_run_time() {
    let env = TestEnv::start().await;
    let limiter = RateLimiter::new(RateLimit::per_minute(5));
    let a = client_with(&env, ClientConfig::default().rate_limiter(limiter.clone())).await;
    let b = client_with(&env, ClientConfig::default().rate_limiter(limiter.clone())).await;
    for i in 0..5 {
        let client = if i % 2 == 0 { &a } else { &b };
        client.execute(select("SELECT 1 AS one")).await.unwrap();
    }
    let err = a.execute(select("SELECT 1 AS one")).await.unwrap_err();
    assert!(matches!(err, SqlError::RateLimit(_)), "{err}");
    assert_eq!(err.details()["limit"], 5);
    assert_eq!(err.details()["window_seconds"], 60);
    let retry_after = err.retry_after().unwrap();
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60));
    assert_eq!(
        err.detail().attempts(),
        0,
        "a rate-limited query is not sent"
    );
    let status = a.metrics().rate_limit;
    assert_eq!(
        (status.limit.max(), status.used, status.remaining),
        (5, 5, 0)
    );
    assert_eq!(a.metrics().rate_limited, 1);
    assert_eq!(a.metrics().errors, 1);

    limiter.set_limit(PLUGIN, RateLimit::per_minute(10));
    b.execute(select("SELECT 1 AS one")).await.unwrap();
    assert_eq!(b.metrics().rate_limit.remaining, 4);
}

#[tokio::test]
async fn audit_records_on_both_sides_share_the_correlation_id() {
    capture_logs();
    let env = TestEnv::start().await;
    let client = client_with(&env, ClientConfig::default()).await;
    let result = client
        .execute(
            select("SELECT id FROM analytics_db__events WHERE user_id = $1")
                .bind("secret-param-value")
                .unwrap(),
        )
        .await
        .unwrap();
    let records = audit_records(result.correlation_id());
    let client_record = records
        .iter()
        .find(|r| r.get("status").is_some())
        .expect("client audit record");
    let handler_record = records
        .iter()
        .find(|r| r.get("outcome").is_some())
        .expect("handler audit record");
    assert_eq!(client_record["plugin"], PLUGIN);
    assert_eq!(client_record["query_hash"], handler_record["query_hash"]);
    assert_eq!(
        client_record["query_hash"],
        sql_core::query_hash("SELECT id FROM analytics_db__events WHERE user_id = $1")
    );
    assert_eq!(client_record["status"], "success");
    assert_eq!(client_record["param_count"], 1);
    assert_eq!(client_record["row_count"], 0);
    assert_eq!(client_record["attempts"], 1);
    assert_eq!(client_record["truncated"], false);
    assert!(client_record["execution_time_ms"].as_f64().unwrap() > 0.0);
    assert!(client_record["timestamp_ms"].as_u64().unwrap() > 1_700_000_000_000);
    assert!(
        client_record["query_preview"]
            .as_str()
            .unwrap()
            .starts_with("SELECT id FROM")
    );
    for record in &records {
        assert!(
            !record.to_string().contains("secret-param-value"),
            "{record}"
        );
    }

    // Failed queries are audited too, with their code and message.
    let err = client
        .execute(Query::<Select>::__from_checked(
            "SELECT * FROM quote_db__quotes",
            0,
            vec![],
            None,
        ))
        .await
        .unwrap_err();
    let records = audit_records(err.detail().correlation_id());
    let client_record = records.iter().find(|r| r.get("status").is_some()).unwrap();
    assert_eq!(client_record["status"], "error");
    assert_eq!(client_record["error_code"], "NAMESPACE_VIOLATION");
    assert!(
        client_record["error_message"]
            .as_str()
            .unwrap()
            .contains("quote_db__quotes")
    );
}

#[tokio::test]
async fn slow_queries_are_logged_with_sanitized_parameters_and_aggregated() {
    capture_logs();
    let env = TestEnv::start().await;
    let long = "x".repeat(500);
    for logging in [ParamLogging::default(), ParamLogging::Redacted] {
        let client = client_with(
            &env,
            ClientConfig::default()
                .slow_query_threshold(Duration::from_millis(1))
                .slow_query_params(logging),
        )
        .await;
        let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT count(*) AS n, $1 AS tag FROM c";
        let mut correlation_ids = Vec::new();
        for _ in 0..2 {
            let result = client
                .execute(select(slow).bind(&long).unwrap())
                .await
                .unwrap();
            correlation_ids.push(result.correlation_id().to_owned());
        }
        let slow_records = sql_client_tests::log_records(|r| {
            r["target"] == "sql.slow" && r["correlation_id"] == correlation_ids[0].as_str()
        });
        assert_eq!(slow_records.len(), 1, "{slow_records:?}");
        let record = &slow_records[0];
        assert_eq!(record["full_query"], slow, "the full query");
        let params = &record["params"];
        match logging {
            ParamLogging::Redacted => assert_eq!(params, &serde_json::json!(["<redacted>"])),
            _ => assert_eq!(
                params,
                &serde_json::json!([format!("{}...", "x".repeat(100))]),
                "cut past 100 characters, as the specification's _sanitize_params"
            ),
        }
        // The audit record's fields too (FR-6).
        for field in [
            "plugin",
            "query_hash",
            "query_preview",
            "param_count",
            "row_count",
            "execution_time_ms",
            "truncated",
            "status",
            "correlation_id",
        ] {
            assert!(record.get(field).is_some(), "{field} missing from {record}");
        }
        assert_eq!(record["status"], "success");
        assert_eq!(record["param_count"], 1);
        let metrics = client.metrics();
        assert_eq!(metrics.slow_queries, 2);
        let stats = &metrics.slow_query_stats[0];
        assert_eq!(stats.query_hash, sql_core::query_hash(slow));
        assert_eq!(stats.count, 2);
        assert!(stats.max_ms >= stats.mean_ms && stats.mean_ms > 1.0);
    }
}

#[tokio::test]
async fn a_timeout_maps_to_the_timeout_kind_and_honours_timeout_ms() {
    let env = TestEnv::start().await;
    let client = client_with(
        &env,
        ClientConfig::default().timeout(Duration::from_millis(400)),
    )
    .await;
    let runaway = select(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    );
    let started = Instant::now();
    let err = client.execute(runaway).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, SqlError::Timeout(_)), "{err}");
    assert_eq!(err.code(), "TIMEOUT");
    assert_eq!(err.details()["timeout_ms"], 400);
    assert_eq!(
        err.detail().attempts(),
        1,
        "a query that ran out of time is not retried"
    );
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_millis(1400),
        "{elapsed:?}"
    );

    // A per-query timeout wins over the client's.
    let started = Instant::now();
    let err = client
        .execute(select("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c").timeout(Duration::from_millis(150)))
        .await
        .unwrap_err();
    assert_eq!(err.details()["timeout_ms"], 150);
    assert!(started.elapsed() < Duration::from_millis(1000));
}

#[tokio::test]
async fn a_read_is_retried_until_a_handler_appears() {
    let nats = NatsServer::start();
    let client = SqlClient::with_config(
        async_nats::connect(nats.url()).await.unwrap(),
        PLUGIN,
        ClientConfig::default()
            .max_retries(20)
            .backoff(Backoff::new(
                Duration::from_millis(100),
                Duration::from_millis(300),
            )),
    )
    .unwrap();
    let query = client.execute(select("SELECT count(*) AS n FROM analytics_db__events"));
    let db = TestDb::new();
    let late_handler = async {
        // Let the first attempts find no responders.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let handler = start_handler(&nats, &db, &[]).await;
        let token = tokio_util::sync::CancellationToken::new();
        let stop = token.clone();
        let served = tokio::spawn(handler.serve(stop.cancelled_owned()));
        (token, served)
    };
    let (result, (token, served)) = tokio::join!(query, late_handler);
    let result = result.unwrap();
    assert_eq!(result.first().unwrap().get::<i64>("n").unwrap(), 3);
    assert!(client.metrics().retries >= 1);
    token.cancel();
    served.await.unwrap();
}

#[tokio::test]
async fn exhausted_retries_say_how_many_attempts_were_made() {
    let nats = NatsServer::start();
    let client = SqlClient::with_config(
        async_nats::connect(nats.url()).await.unwrap(),
        PLUGIN,
        ClientConfig::default().max_retries(2).backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(20),
        )),
    )
    .unwrap();
    let err = client.execute(select("SELECT 1 AS one")).await.unwrap_err();
    assert!(matches!(err, SqlError::Transport(_)), "{err}");
    assert_eq!(err.detail().attempts(), 3);
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert!(
        err.to_string()
            .contains("no sql-handler is listening on rosey.db.sql.analytics-db.execute"),
        "{err}"
    );
    assert_eq!(client.metrics().retries, 2);
}

#[tokio::test]
async fn validation_errors_are_never_retried() {
    let env = TestEnv::start().await;
    let client = client_with(&env, ClientConfig::default()).await;
    // Bypass the local check so that the handler is the one refusing.
    for sql in [
        "SELECT * FROM quote_db__quotes",
        "SELECT load_extension('x')",
        "DROP TABLE analytics_db__events",
    ] {
        let err = client
            .execute(Query::<Select>::__from_checked(sql, 0, vec![], None))
            .await
            .unwrap_err();
        assert!(
            matches!(err, SqlError::Permission(_) | SqlError::Validation(_)),
            "{sql}: {err}"
        );
        assert_eq!(err.detail().attempts(), 1, "{sql}");
    }
    assert_eq!(client.metrics().retries, 0);
    // A query checked for another plugin never leaves the client.
    let other = Query::<Select>::checked(
        "SELECT * FROM quote_db__quotes",
        &Plugin::new("quote-db").unwrap(),
    )
    .unwrap();
    let err = client.execute(other).await.unwrap_err();
    assert_eq!(err.detail().attempts(), 0);
}

#[tokio::test]
async fn rows_that_do_not_fit_name_the_column() {
    let env = TestEnv::start().await;
    let client = client_with(&env, ClientConfig::default()).await;
    let err = client
        .select::<Event>(select("SELECT id, user_id FROM analytics_db__events"))
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::Decode(_)), "{err}");
    assert!(err.message().contains("no column 'name'"), "{err}");
    let err = client
        .select::<Event>(select("SELECT name AS id, name FROM analytics_db__events WHERE name = 'login' AND user_id = 'alice'"))
        .await
        .unwrap_err();
    assert!(
        err.message()
            .contains("column 'id': expected i64 (an integer in range), found \"login\""),
        "{err}"
    );
}

#[tokio::test]
async fn metrics_export_as_prometheus_text() {
    let env = TestEnv::start().await;
    let client = client_with(&env, ClientConfig::default()).await;
    client.execute(select("SELECT 1 AS one")).await.unwrap();
    let _ = client
        .execute(Query::<Select>::__from_checked(
            "SELECT * FROM sqlite_master",
            0,
            vec![],
            None,
        ))
        .await;
    let text = client.prometheus_text();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .unwrap_or_else(|| panic!("{series} missing in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        value("sql_client_queries_total{plugin=\"analytics-db\"}"),
        2.0
    );
    assert_eq!(
        value("sql_client_errors_total{plugin=\"analytics-db\"}"),
        1.0
    );
    assert_eq!(
        value("sql_client_rate_limit_used{plugin=\"analytics-db\"}"),
        2.0
    );
    // The latency as a histogram, which aggregates across instances; no quantile gauges.
    assert_eq!(
        value("sql_client_query_duration_seconds_count{plugin=\"analytics-db\"}"),
        2.0
    );
    assert!(value("sql_client_query_duration_seconds_sum{plugin=\"analytics-db\"}") > 0.0);
    assert!(!text.contains("quantile"), "{text}");

    // Registered in the plugin's own registry beside another client's.
    let other = SqlClient::new(
        async_nats::connect(env.nats.url()).await.unwrap(),
        "quote-db",
    )
    .unwrap();
    let mut registry = sql_client::prometheus_client::registry::Registry::default();
    client.register_metrics(&mut registry);
    other.register_metrics(&mut registry);
    let mut both = String::new();
    sql_client::prometheus_client::encoding::text::encode(&mut both, &registry).unwrap();
    assert!(
        both.contains("sql_client_queries_total{plugin=\"analytics-db\"} 2"),
        "{both}"
    );
    assert!(
        both.contains("sql_client_queries_total{plugin=\"quote-db\"} 0"),
        "{both}"
    );
}

/// A relay between clients and a handler listening on another prefix; it loses the reply
/// to the first request it forwards, as a network would.
async fn lossy_relay(nats: async_nats::Client) -> tokio::task::JoinHandle<()> {
    use futures::StreamExt;
    let mut requests = nats.subscribe("rosey.db.sql.*.execute").await.unwrap();
    sql_client_tests::round_trip(&nats).await;
    tokio::spawn(async move {
        let mut forwarded = 0;
        while let Some(message) = requests.next().await {
            forwarded += 1;
            let target = message.subject.replacen("rosey.db.sql.", "real.", 1);
            let headers = message.headers.clone().unwrap_or_default();
            let reply = nats
                .request_with_headers(target, headers, message.payload.clone())
                .await
                .unwrap();
            if forwarded == 1 {
                continue; // the handler ran it; its reply is lost
            }
            if let Some(reply_to) = message.reply {
                nats.publish_with_headers(
                    reply_to,
                    reply.headers.unwrap_or_default(),
                    reply.payload,
                )
                .await
                .unwrap();
            }
        }
    })
}

#[tokio::test]
async fn a_write_whose_reply_is_lost_is_retried_and_applied_once() {
    let env = TestEnv::start_with(&["--subject-prefix", "real"]).await;
    let relay = lossy_relay(async_nats::connect(env.nats.url()).await.unwrap()).await;
    let client = client_with(
        &env,
        ClientConfig::default()
            .timeout(Duration::from_millis(300))
            .reply_margin(Duration::from_millis(200))
            .backoff(Backoff::new(
                Duration::from_millis(10),
                Duration::from_millis(50),
            )),
    )
    .await;
    let inserted = client
        .insert(
            Query::<Insert>::checked(
                "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, $2, $3)",
                &plugin(),
            )
            .unwrap()
            .bind(&10)
            .unwrap()
            .bind("frank")
            .unwrap()
            .bind("once")
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    assert_eq!(
        client.metrics().retries,
        1,
        "the first reply was lost, so the write was sent twice"
    );
    relay.abort();
    // Count through the handler directly.
    let message = env
        .request_raw(
            "real.analytics-db.execute",
            br#"{"query": "SELECT count(*) AS n FROM analytics_db__events WHERE user_id = 'frank'"}"#.to_vec(),
            None,
        )
        .await;
    let Ok(sql_core::wire::Reply::Success(count)) =
        sql_core::wire::Reply::from_slice(&message.payload)
    else {
        panic!("count failed: {:?}", message.payload)
    };
    assert_eq!(
        count.rows,
        vec![serde_json::json!({"n": 1})],
        "applied exactly once"
    );
}

#[derive(Debug, PartialEq, sql_client::SqlRow)]
struct Stamped {
    id: i64,
    at: chrono::DateTime<chrono::Utc>,
    day: chrono::NaiveDate,
    flag: bool,
    payload: Option<Vec<u8>>,
    #[sql(json)]
    tags: Vec<String>,
}

#[tokio::test]
async fn derived_rows_decode_in_both_row_formats_with_dates_and_blobs() {
    use sql_client::{Blob, sql};
    let env = TestEnv::start().await;
    let client = client_with(&env, ClientConfig::default()).await;
    let now = chrono::DateTime::<chrono::Utc>::from_timestamp(1_795_687_200, 123_456_789).unwrap();
    client
        .insert(sql!(
            "INSERT INTO analytics_db__events (id, user_id, name, payload) VALUES ($1, $2, $3, $4)",
            10,
            "gina",
            now,
            Blob(vec![0u8, 1, 255])
        ))
        .await
        .unwrap();
    // Each engine's JSON array constructor: SQLite's json_array() returns JSON text,
    // PostgreSQL's json_build_array() a json value (embedded in the reply); PostgreSQL 15
    // has no json_array(). `n IS NULL` is SQLite's 1 or PostgreSQL's true.
    let query = match backend() {
        // SQLite's date() is NULL for text it cannot read: `"day!"` says this one is not
        // (sqlx's override; the database sees `"day"`).
        Backend::Sqlite => sql!(as Stamped,
            "SELECT id, name AS at, date('2026-11-26') AS \"day!\", n IS NULL AS flag, payload, json_array('a', 'b') AS tags \
             FROM analytics_db__events WHERE user_id = $1", "gina"),
        Backend::Postgres => sql!(as Stamped, dialect = "postgres",
            "SELECT id, name AS at, date('2026-11-26') AS \"day!\", n IS NULL AS flag, payload, json_build_array('a', 'b') AS tags \
             FROM analytics_db__events WHERE user_id = $1", "gina"),
    };
    let objects: Vec<Stamped> = client.select(query.clone()).await.unwrap();
    let arrays: Vec<Stamped> = client
        .select(query.row_format(sql_core::wire::RowFormat::Arrays))
        .await
        .unwrap();
    assert_eq!(objects, arrays);
    let row = &objects[0];
    assert_eq!(row.at, now, "a chrono argument round-trips exactly");
    assert_eq!(row.day.to_string(), "2026-11-26");
    assert!(row.flag);
    assert_eq!(row.payload.as_deref(), Some(&[0u8, 1, 255][..]));
    assert_eq!(row.tags, ["a", "b"]);
}
