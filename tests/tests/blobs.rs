//! Blobs and text end to end. Both arrive as JSON strings, blobs base64-encoded; the
//! reply's `blob_columns` and `blob_values` (PROTOCOL.md section 3) tell the client which
//! strings are blobs, so a text value is never base64-decoded into `Vec<u8>` and a blob is
//! never read as its base64 text, in both row formats, on both backends.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use serde_json::json;
use sql_client::{
    Blob, ClientConfig, Insert, Query, RowError, Select, SqlClient, SqlError, SqlRow,
};
use sql_client_tests::{Backend, TestEnv, backend};
use sql_core::Plugin;
use sql_core::wire::RowFormat;

const PLUGIN: &str = "analytics-db";
const FORMATS: [RowFormat; 2] = [RowFormat::Objects, RowFormat::Arrays];

fn plugin() -> Plugin {
    Plugin::new(PLUGIN).unwrap()
}

async fn client(env: &TestEnv) -> SqlClient {
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    SqlClient::with_config(nats, PLUGIN, ClientConfig::default()).unwrap()
}

/// What an insert binds to the payload column.
enum Payload {
    /// `{"$blob": ...}`: bytes.
    Bytes(Vec<u8>),
    /// A JSON string: text (PostgreSQL converts it to the column's type, bytea).
    Text(&'static str),
}

/// Inserts event `id` with `name` and `payload`.
async fn insert(client: &SqlClient, id: i64, name: &str, payload: Payload) {
    let query = Query::<Insert>::checked(
        "INSERT INTO analytics_db__events (id, user_id, name, payload) VALUES ($1, $2, $3, $4)",
        &plugin(),
    )
    .unwrap()
    .bind(&id)
    .unwrap()
    .bind(&format!("user-{id}"))
    .unwrap()
    .bind(name)
    .unwrap();
    let query = match payload {
        Payload::Bytes(bytes) => query.bind(&Blob(bytes)),
        Payload::Text(text) => query.bind(text),
    }
    .unwrap();
    assert_eq!(client.insert(query).await.unwrap(), 1);
}

/// `SELECT name, payload` of event 10 (name "abcd", which is valid base64, and payload
/// bytes 0, 1, 255), in `format`.
fn event_10(format: RowFormat) -> Query<Select> {
    Query::<Select>::checked(
        "SELECT name, payload FROM analytics_db__events WHERE id = $1",
        &plugin(),
    )
    .unwrap()
    .bind(&10)
    .unwrap()
    .row_format(format)
}

async fn with_event_10() -> (TestEnv, SqlClient) {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    insert(&client, 10, "abcd", Payload::Bytes(vec![0, 1, 255])).await;
    (env, client)
}

#[derive(Debug, SqlRow)]
struct NameAsBytes {
    #[allow(dead_code, reason = "never read: decoding it must fail")]
    name: Vec<u8>,
}

#[derive(Debug, SqlRow)]
struct PayloadAsText {
    #[allow(dead_code, reason = "never read: decoding it must fail")]
    payload: String,
}

#[derive(Debug, PartialEq, SqlRow)]
struct Event {
    name: String,
    payload: Option<Vec<u8>>,
}

fn decode_message(err: SqlError) -> String {
    match err {
        SqlError::Decode(detail) => detail.message().to_owned(),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_text_column_read_into_bytes_is_an_error_naming_the_column() {
    let (_env, client) = with_event_10().await;
    for format in FORMATS {
        // "abcd" is valid base64 for three bytes: without the reply's blob marks it
        // used to decode silently.
        let result = client.execute(event_10(format)).await.unwrap();
        let row = result.first().expect("event 10");
        assert_eq!(
            row.get::<Vec<u8>>("name"),
            Err(RowError::NotABlob {
                column: "name".into()
            }),
            "{format:?}"
        );
        assert!(row.get::<Option<Vec<u8>>>("name").is_err(), "{format:?}");
        assert_eq!(row.get::<String>("name").unwrap(), "abcd", "{format:?}");

        let err = client
            .select::<NameAsBytes>(event_10(format))
            .await
            .unwrap_err();
        assert_eq!(
            decode_message(err),
            "column 'name' holds text, not a blob",
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn a_blob_column_read_into_bytes_gives_the_bytes() {
    let (env, client) = with_event_10().await;
    for format in FORMATS {
        let events: Vec<Event> = client.select(event_10(format)).await.unwrap();
        assert_eq!(
            events,
            [Event {
                name: "abcd".into(),
                payload: Some(vec![0, 1, 255])
            }],
            "{format:?}"
        );

        // The seeded events have no payload: NULL reads as None in a blob column.
        let seeded: Vec<Event> = client
            .select(
                Query::<Select>::checked(
                    "SELECT name, payload FROM analytics_db__events WHERE id < 10 ORDER BY id",
                    &plugin(),
                )
                .unwrap()
                .row_format(format),
            )
            .await
            .unwrap();
        assert_eq!(seeded.len(), 3, "{format:?}");
        assert!(seeded.iter().all(|e| e.payload.is_none()), "{seeded:?}");

        // On the wire: the column is marked, nothing is listed value by value.
        let reply = env
            .ok(
                PLUGIN,
                &json!({"query": "SELECT name, payload FROM analytics_db__events WHERE id = 10",
                        "row_format": format}),
            )
            .await;
        assert_eq!(reply.blob_columns, Some(vec![1]), "{format:?}");
        assert!(reply.blob_values.is_empty(), "{format:?}");
    }
}

#[tokio::test]
async fn a_blob_column_read_into_text_is_an_error_not_base64() {
    let (_env, client) = with_event_10().await;
    for format in FORMATS {
        let err = client
            .select::<PayloadAsText>(event_10(format))
            .await
            .unwrap_err();
        assert_eq!(
            decode_message(err),
            "column 'payload' holds a blob; read it into Vec<u8>",
            "{format:?}"
        );
        // Raw access still sees the base64 text.
        let result = client.execute(event_10(format)).await.unwrap();
        assert_eq!(
            result.first().unwrap().value("payload"),
            Some(&json!("AAH/")),
            "{format:?}"
        );
    }
}

/// SQLite keeps a storage class per value, so a column declared BYTEA can hold text in
/// one row and a blob in the next: the blob is listed in `blob_values` and each value
/// reads as what it is. PostgreSQL converts the text to bytea on insert, so there the
/// column holds only blobs.
#[tokio::test]
async fn a_column_mixing_blobs_and_text_marks_each_blob() {
    let (env, client) = with_event_10().await;
    insert(&client, 11, "text payload", Payload::Text("abcd")).await;
    let sql = "SELECT id, payload FROM analytics_db__events WHERE id >= 10 ORDER BY id";
    for format in FORMATS {
        let reply = env
            .ok(PLUGIN, &json!({"query": sql, "row_format": format}))
            .await;
        let result = client
            .execute(
                Query::<Select>::checked(sql, &plugin())
                    .unwrap()
                    .row_format(format),
            )
            .await
            .unwrap();
        let (blob, text) = (&result.rows()[0], &result.rows()[1]);
        assert_eq!(blob.get::<Vec<u8>>("payload").unwrap(), [0, 1, 255]);
        match backend() {
            Backend::Sqlite => {
                assert_eq!(reply.blob_columns, Some(vec![]), "{format:?}");
                assert_eq!(reply.blob_values, [[0, 1]], "{format:?}");
                assert_eq!(
                    text.get::<Vec<u8>>("payload"),
                    Err(RowError::NotABlob {
                        column: "payload".into()
                    }),
                    "{format:?}"
                );
                assert_eq!(text.get::<String>("payload").unwrap(), "abcd");
                assert!(matches!(
                    blob.get::<String>("payload"),
                    Err(RowError::UnexpectedBlob { .. })
                ));
            }
            Backend::Postgres => {
                assert_eq!(reply.blob_columns, Some(vec![1]), "{format:?}");
                assert!(reply.blob_values.is_empty(), "{format:?}");
                assert_eq!(text.get::<Vec<u8>>("payload").unwrap(), b"abcd");
            }
        }
    }
}
