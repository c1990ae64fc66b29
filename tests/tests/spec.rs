//! The client against the specification's letter, end to end: results that do not fit are
//! never cut silently, `len()` is the row count, audit and slow-query records carry the
//! specification's fields, and replies of a handler that predates the `columns` ext read
//! as the rows they are.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use futures::StreamExt as _;
use serde_json::{Value, json};
use sql_client::{ClientConfig, Query, Row, Select, SqlClient, SqlError, SqlRow, Update};
use sql_client_tests::{TestEnv, audit_records, log_records};
use sql_core::Plugin;
use sql_test_harness::NatsServer;

const PLUGIN: &str = "analytics-db";

fn plugin() -> Plugin {
    Plugin::new(PLUGIN).unwrap()
}

async fn client(env: &TestEnv) -> SqlClient {
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    SqlClient::with_config(nats, PLUGIN, ClientConfig::default()).unwrap()
}

/// A read of `n` numbered rows, each with `pad` characters of text, on either backend.
fn numbers(n: u32, pad: usize) -> Query<Select> {
    let sql = format!(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) \
         SELECT x, '{}' AS pad FROM c",
        "p".repeat(pad)
    );
    Query::checked(sql, &plugin()).unwrap()
}

#[tokio::test]
async fn a_result_cut_by_the_default_max_rows_is_an_error_not_fewer_rows() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let err = client.select::<Row>(numbers(20_000, 0)).await.unwrap_err();
    assert!(matches!(err, SqlError::Truncated(_)), "{err}");
    assert_eq!(err.code(), "RESULT_TRUNCATED");
    assert_eq!(err.details()["rows_returned"], 10_000);
    assert_eq!(err.details()["reason"], "max_rows");
    assert_eq!(err.details()["max_rows"], 10_000);
    assert!(err.message().contains("set max_rows"), "{err}");
    assert!(!err.detail().correlation_id().is_empty());

    // Asked for at most that many: the cut is what was asked for.
    let first: Vec<Row> = client
        .select(numbers(20_000, 0).max_rows(50))
        .await
        .unwrap();
    assert_eq!(first.len(), 50);
    // Asked for more than there are: all of them.
    let all: Vec<Row> = client
        .select(numbers(20_000, 0).max_rows(20_000))
        .await
        .unwrap();
    assert_eq!(all.len(), 20_000);
    assert_eq!(all[19_999].get::<i64>("x").unwrap(), 20_000);

    // execute hands the cut result back as it is, marked.
    let cut = client.execute(numbers(20_000, 0)).await.unwrap();
    assert!(cut.truncated());
    assert_eq!(cut.rows().len(), 10_000);

    // select_one asks for one row: that cut is not an error.
    let one: Option<Row> = client.select_one(numbers(20_000, 0)).await.unwrap();
    assert_eq!(one.unwrap().get::<i64>("x").unwrap(), 1);
}

#[tokio::test]
async fn a_result_cut_by_the_reply_size_is_an_error_even_under_max_rows() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    // About 2.7 MB of rows: more than one NATS reply (1 MB by default) holds.
    for query in [numbers(9_000, 300), numbers(9_000, 300).max_rows(9_000)] {
        let err = client.select::<Row>(query).await.unwrap_err();
        assert!(matches!(err, SqlError::Truncated(_)), "{err}");
        assert_eq!(err.details()["reason"], "max_bytes");
        let came = err.details()["rows_returned"].as_u64().unwrap();
        assert!(came > 0 && came < 9_000, "{came}");
        assert!(
            err.message().contains(&format!("only {came} rows")),
            "{err}"
        );
    }
    let cut = client.execute(numbers(9_000, 300)).await.unwrap();
    assert!(cut.truncated());
    assert_eq!(
        cut.truncated_reason(),
        Some(sql_core::wire::TruncatedReason::MaxBytes)
    );
}

#[tokio::test]
async fn len_is_the_row_count_and_rows_are_counted_apart() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let update = Query::<Update>::checked(
        "UPDATE analytics_db__events SET n = n + 1 WHERE user_id = $1",
        &plugin(),
    )
    .unwrap()
    .bind("alice")
    .unwrap();
    let result = client.execute(update).await.unwrap();
    assert!(result.row_count() > 0);
    assert_eq!(result.len() as u64, result.row_count());
    assert!(!result.is_empty());
    assert_eq!(result.rows().len(), 0, "no RETURNING, no rows");
}

/// The client's audit records (`status` is the client's field) for `correlation_id`.
fn client_record(correlation_id: &str) -> Value {
    audit_records(correlation_id)
        .into_iter()
        .find(|r| r.get("status").is_some())
        .expect("the client's audit record")
}

#[tokio::test]
async fn error_records_carry_their_type_and_refusals_before_sending_their_query() {
    let env = TestEnv::start().await;
    let client = client(&env).await;

    // Refused by the handler.
    let err = client
        .execute(Query::<Select>::__from_checked(
            "SELECT * FROM quote_db__quotes",
            0,
            vec![],
            None,
        ))
        .await
        .unwrap_err();
    let record = client_record(err.detail().correlation_id());
    assert_eq!(record["level"], "ERROR");
    assert_eq!(record["error_type"], "Permission");
    assert_eq!(record["error_code"], "NAMESPACE_VIOLATION");

    // Refused before sending: a parameter count mismatch, with its real query.
    let sql = "SELECT id FROM analytics_db__events WHERE user_id = $1 AND n = $2";
    let query = Query::<Select>::checked(sql, &plugin())
        .unwrap()
        .bind("alice")
        .unwrap();
    let err = client.execute(query).await.unwrap_err();
    assert_eq!(err.code(), "PARAM_COUNT_MISMATCH");
    let record = client_record(err.detail().correlation_id());
    assert_eq!(record["query_hash"], sql_core::query_hash(sql));
    assert_eq!(record["query_preview"], sql);
    assert_eq!(record["param_count"], 1);
    assert_eq!(record["attempts"], 0);
    assert_eq!(record["error_type"], "Validation");

    // Refused before sending: checked for another plugin.
    let foreign_sql = "SELECT * FROM quote_db__quotes WHERE id = $1";
    let foreign = Query::<Select>::checked(foreign_sql, &Plugin::new("quote-db").unwrap())
        .unwrap()
        .bind(&1)
        .unwrap();
    let err = client.execute(foreign).await.unwrap_err();
    let record = client_record(err.detail().correlation_id());
    assert_eq!(record["error_code"], "NAMESPACE_VIOLATION");
    assert_eq!(record["query_hash"], sql_core::query_hash(foreign_sql));
    assert_eq!(record["param_count"], 1);

    // Refused by Query::checked: another plugin's table, in a statement no other test
    // sends, so its record is this one.
    let probe = "SELECT secret FROM quote_db__quotes WHERE owner = $1 AND id = $2 /* spec probe */";
    let err = Query::<Select>::checked(probe, &plugin()).unwrap_err();
    assert_eq!(err.code(), "NAMESPACE_VIOLATION");
    let records = log_records(|r| {
        r["target"] == "sql.audit" && r["query_hash"] == sql_core::query_hash(probe).as_str()
    });
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["plugin"], PLUGIN);
    assert_eq!(record["status"], "error");
    assert_eq!(record["error_type"], "Permission");
    assert_eq!(record["query_preview"], probe);
    assert_eq!(record["param_count"], 2);
}

#[tokio::test]
async fn audit_previews_and_hashes_follow_the_specifications_python() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    // Over 100 characters, with a final capital sigma and a U+001F separator: Python's
    // `query[:100] + "..."` and `" ".join(q.split()).lower()` (hash from Python 3.11).
    let sql = "SELECT id, name, n FROM analytics_db__events WHERE user_id = $1 AND name <> 'ΟΔΟΣ\u{1f}ΣΑΣ' AND name <> 'a long enough tail to pass one hundred'";
    assert!(sql.chars().count() > 100);
    let result = client
        .execute(
            Query::<Select>::checked(sql, &plugin())
                .unwrap()
                .bind("alice")
                .unwrap(),
        )
        .await
        .unwrap();
    let records = audit_records(result.correlation_id());
    let client_side = records.iter().find(|r| r.get("status").is_some()).unwrap();
    let handler_side = records.iter().find(|r| r.get("outcome").is_some()).unwrap();
    let preview: String = sql.chars().take(100).collect::<String>() + "...";
    assert_eq!(client_side["query_preview"], preview.as_str());
    assert_eq!(handler_side["query_preview"], preview.as_str());
    assert_eq!(client_side["query_hash"], python_hash(sql));
    assert_eq!(handler_side["query_hash"], client_side["query_hash"]);
}

/// The specification's hash of the query above, computed by Python 3.11.
fn python_hash(sql: &str) -> &'static str {
    assert!(sql.ends_with("one hundred'"));
    "4711e4e5b30ab06b"
}

/// Replies as a handler from before the `columns` ext sends them: object rows, no
/// `columns`, no blob marks.
async fn old_handler(nats: &NatsServer) -> tokio::task::JoinHandle<()> {
    let responder = async_nats::connect(nats.url()).await.unwrap();
    let mut requests = responder
        .subscribe(sql_core::wire::subject("rosey.db.sql", &plugin()))
        .await
        .unwrap();
    responder.flush().await.unwrap();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            // Written out: a `json!` object would sort the keys.
            let body = br#"{"rows": [{"user_id": "alice", "name": "login", "id": 2},
                {"user_id": "bob", "name": "logout", "id": 1}],
                "row_count": 2, "execution_time_ms": 0.4, "truncated": false}"#;
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, body.as_slice().into()).await;
            }
        }
    })
}

#[derive(Debug, PartialEq)]
struct Event {
    user_id: String,
    name: String,
    id: i64,
}

impl SqlRow for Event {
    fn from_row(row: &Row) -> Result<Self, sql_client::RowError> {
        Ok(Self {
            user_id: row.get("user_id")?,
            name: row.get("name")?,
            id: row.get("id")?,
        })
    }
}

#[tokio::test]
async fn replies_without_columns_are_read_from_their_keys_in_order() {
    let nats = NatsServer::start();
    let responder = old_handler(&nats).await;
    let client = SqlClient::new(async_nats::connect(nats.url()).await.unwrap(), PLUGIN).unwrap();
    let query = || {
        Query::<Select>::checked(
            "SELECT user_id, name, id FROM analytics_db__events",
            &plugin(),
        )
        .unwrap()
    };
    let result = client.execute(query()).await.unwrap();
    assert_eq!(
        result.columns(),
        ["user_id", "name", "id"],
        "the keys' order"
    );
    assert_eq!(
        result.rows()[0].values(),
        &[json!("alice"), json!("login"), json!(2)]
    );
    let events: Vec<Event> = client.select(query()).await.unwrap();
    assert_eq!(
        events[1],
        Event {
            user_id: "bob".into(),
            name: "logout".into(),
            id: 1
        }
    );
    let first: Option<Row> = client.select_one(query()).await.unwrap();
    assert_eq!(first.unwrap().get::<String>("name").unwrap(), "login");
    responder.abort();
}
