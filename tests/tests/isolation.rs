//! A plugin can only ever touch its own tables: every class of cross-plugin attempt the
//! earlier Python validator missed is refused here, over a real NATS server, and the
//! other plugin's data is unchanged afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use serde_json::json;
use sql_client_tests::{Backend, TestEnv, backend};
use sql_core::ErrorCode;
use sql_core::wire::Reply;

const ATTACKER: &str = "analytics-db";

#[tokio::test]
async fn every_cross_plugin_class_is_refused() {
    let env = TestEnv::start().await;
    let q = "quote_db__quotes";
    let attempts = [
        format!("SELECT * FROM {q}"),
        format!("SELECT * FROM \"{q}\""),
        format!("SELECT * FROM `{q}`"),
        format!("SELECT * FROM {}", q.to_uppercase()),
        format!("SELECT * FROM main.{q}"),
        format!("SELECT e.id FROM analytics_db__events e JOIN {q} x ON x.id = e.id"),
        format!("SELECT e.id FROM analytics_db__events e INNER JOIN {q} x ON x.id = e.id"),
        format!("SELECT e.id FROM analytics_db__events e LEFT JOIN {q} x ON x.id = e.id"),
        format!("SELECT e.id FROM analytics_db__events e LEFT OUTER JOIN {q} x ON x.id = e.id"),
        format!("SELECT e.id FROM analytics_db__events e CROSS JOIN {q}"),
        format!("SELECT e.id FROM analytics_db__events e NATURAL JOIN {q}"),
        format!("SELECT e.id FROM analytics_db__events e, {q}"),
        format!("SELECT id FROM analytics_db__events WHERE id IN (SELECT id FROM {q})"),
        format!("SELECT id FROM analytics_db__events WHERE EXISTS (SELECT 1 FROM {q})"),
        format!("SELECT (SELECT text FROM {q} LIMIT 1) AS leaked FROM analytics_db__events"),
        format!(
            "SELECT CASE WHEN (SELECT count(*) FROM {q}) > 0 THEN 1 END AS c FROM analytics_db__events"
        ),
        format!(
            "SELECT user_id FROM analytics_db__events GROUP BY user_id HAVING count(*) > (SELECT count(*) FROM {q})"
        ),
        format!("SELECT id FROM analytics_db__events ORDER BY (SELECT id FROM {q})"),
        format!("SELECT * FROM (SELECT * FROM {q}) AS sub"),
        format!("SELECT name FROM analytics_db__events UNION SELECT text FROM {q}"),
        format!("SELECT name FROM analytics_db__events UNION ALL SELECT text FROM {q}"),
        format!("WITH x AS (SELECT * FROM {q}) SELECT * FROM x"),
        format!("WITH {q} AS (SELECT 1 AS id) DELETE FROM {q}"),
        format!("UPDATE {q} SET text = 'owned'"),
        format!("UPDATE analytics_db__events SET name = (SELECT text FROM {q} LIMIT 1)"),
        format!("UPDATE analytics_db__events SET n = 1 WHERE id IN (SELECT id FROM {q})"),
        format!("DELETE FROM {q}"),
        format!("DELETE FROM analytics_db__events WHERE id IN (SELECT id FROM {q})"),
        format!("INSERT INTO {q} (id, text) VALUES (2, 'planted')"),
        format!("INSERT INTO analytics_db__events (user_id, name) SELECT 'x', text FROM {q}"),
        format!(
            "INSERT INTO analytics_db__events (user_id, name) VALUES ('x', 'y') RETURNING (SELECT text FROM {q})"
        ),
        format!("REPLACE INTO {q} (id, text) VALUES (1, 'replaced')"),
        format!("INSERT OR REPLACE INTO {q} (id, text) VALUES (1, 'replaced')"),
        format!(
            "INSERT INTO analytics_db__events (id, user_id, name) VALUES (1, 'alice', 'login') \
             ON CONFLICT (user_id, name) DO UPDATE SET name = (SELECT text FROM {q})"
        ),
        "SELECT * FROM sqlite_master".to_owned(),
        "SELECT * FROM sqlite_schema".to_owned(),
        "SELECT * FROM temp.sqlite_master".to_owned(),
        "SELECT * FROM pragma_table_info('quote_db__quotes')".to_owned(),
        "SELECT count(*) FROM pragma_table_info('quote_db__quotes')".to_owned(),
        "SELECT count(*) FROM dbstat".to_owned(),
        format!("SELECT * FROM (SELECT 1 AS id) a FULL JOIN {q} USING (id)"),
        "ATTACH DATABASE 'x.db' AS x".to_owned(),
        "PRAGMA table_info(quote_db__quotes)".to_owned(),
        // PostgreSQL's ways in: schema-qualified names, its catalogs, its file functions.
        format!("SELECT * FROM public.{q}"),
        format!("SELECT * FROM \"public\".\"{q}\""),
        "SELECT * FROM pg_catalog.pg_tables".to_owned(),
        "SELECT * FROM pg_class".to_owned(),
        "SELECT * FROM information_schema.tables".to_owned(),
        "SELECT pg_read_file('/etc/passwd')".to_owned(),
        format!("SELECT query_to_xml('SELECT * FROM {q}', true, true, '')"),
        format!("COPY {q} TO STDOUT"),
        format!("/* looks harmless */ DELETE FROM {q}"),
        format!("-- comment\nDELETE FROM {q}"),
    ];
    for sql in &attempts {
        for allow_write in [false, true] {
            let reply = env
                .request(ATTACKER, &json!({"query": sql, "allow_write": allow_write}))
                .await;
            let Reply::Error(reply) = reply else {
                panic!("{sql} (allow_write {allow_write}) was not refused: {reply:?}")
            };
            let code = reply.code();
            assert!(
                matches!(
                    code,
                    Some(
                        ErrorCode::NamespaceViolation
                            | ErrorCode::SystemTableAccess
                            | ErrorCode::ForbiddenStatement
                            | ErrorCode::ForbiddenFunction
                            | ErrorCode::ParseError
                    )
                ),
                "{sql}: refused with an unexpected code {reply:?}"
            );
            // Nothing of the other plugin's data reaches the reply.
            assert!(!reply.message.contains("the secret quote"), "{sql}");
        }
    }
    // The victim's data is exactly as its migration left it.
    let reply = env
        .ok(
            "quote-db",
            &json!({"query": "SELECT id, text FROM quote_db__quotes"}),
        )
        .await;
    assert_eq!(
        reply.rows,
        vec![json!({"id": 1, "text": "the secret quote"})]
    );
}

#[tokio::test]
async fn identity_comes_from_the_subject_only() {
    let env = TestEnv::start().await;
    // A plugin name in the body or headers changes nothing.
    let reply = env
        .err(
            ATTACKER,
            &json!({"query": "SELECT * FROM quote_db__quotes", "plugin": "quote-db"}),
        )
        .await;
    assert_eq!(reply.code(), Some(ErrorCode::NamespaceViolation));
    assert_eq!(reply.details["expected_prefix"], "analytics_db__");
    // The owner reads its own table, case-insensitively.
    let reply = env
        .ok(
            "quote-db",
            &json!({"query": "SELECT count(*) AS n FROM QUOTE_DB__QUOTES"}),
        )
        .await;
    assert_eq!(reply.rows, vec![json!({"n": 1})]);
}

/// `analytics_db` spells the prefix `analytics_db__` too, but it is not a plugin name: only
/// `analytics-db` owns those tables, on every path into the handler and the client.
#[tokio::test]
async fn the_underscore_spelling_reaches_nothing() {
    let env = TestEnv::start().await;
    let snapshot =
        json!({"query": "SELECT id, user_id, name FROM analytics_db__events ORDER BY id"});
    let before = env.ok("analytics-db", &snapshot).await.rows;
    assert!(!before.is_empty(), "the fixture has events to protect");
    let attempts = [
        "SELECT * FROM analytics_db__events",
        "UPDATE analytics_db__events SET name = 'owned'",
        "DELETE FROM analytics_db__events",
        "INSERT INTO analytics_db__events (user_id, name) VALUES ('mallory', 'planted')",
    ];
    for alias in ["analytics_db", "analytics_db-x", "analytics-db_"] {
        for sql in attempts {
            let reply = env
                .err(alias, &json!({"query": sql, "allow_write": true}))
                .await;
            assert_eq!(
                reply.code(),
                Some(ErrorCode::RequestValidationError),
                "{alias}: {sql}: {reply:?}"
            );
            assert_eq!(reply.details["field"], "subject", "{alias}: {reply:?}");
        }
    }
    let reply = env.err("analytics_db", &json!({"query": "SELECT 1"})).await;
    assert!(
        reply.message.contains("\"analytics-db\""),
        "the refusal names the right spelling: {}",
        reply.message
    );
    assert_eq!(env.ok("analytics-db", &snapshot).await.rows, before);

    // The client refuses the spelling before anything is sent.
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    let err = sql_client::SqlClient::new(nats, "analytics_db").unwrap_err();
    assert_eq!(err.code(), "REQUEST_VALIDATION_ERROR", "{err}");
    assert!(err.to_string().contains("analytics-db"), "{err}");
}

/// On PostgreSQL every relation has a row type, and casts are resolved without any
/// privilege check: type names, `regclass` literals and row-type casts are table
/// references, so nothing about another plugin's or the handler's relations (existence,
/// oid, column names) reaches the reply.
#[tokio::test]
async fn casts_reveal_nothing_about_other_relations() {
    let env = TestEnv::start().await;
    let attempts = [
        "SELECT 'quote_db__quotes'::regclass::text AS t",
        "SELECT CAST('quote_db__quotes' AS regclass)::oid AS t",
        "SELECT regclass 'quote_db__quotes' AS t",
        "SELECT 'quote_db__quotes'::regtype::text AS t",
        "SELECT to_jsonb('(1,x)'::quote_db__quotes) AS t",
        "SELECT to_jsonb(NULL::quote_db__quotes) AS t",
        "SELECT row_to_json(NULL::\"quote_db__quotes\") AS t",
        "SELECT NULL::quote_db__quotes AS t",
        "SELECT NULL::public.quote_db__quotes AS t",
        "SELECT to_jsonb(NULL::_sql_handler_idempotency) AS t",
        "SELECT '_sql_handler_migrations'::regclass::oid AS t",
        "SELECT i::regclass::text AS t FROM generate_series(1, 100000) i",
        "SELECT to_jsonb(NULL::pg_authid) AS t",
        "WITH quote_db__quotes AS (SELECT 1 AS id) SELECT to_jsonb(NULL::quote_db__quotes) AS t",
    ];
    for sql in attempts {
        let reply = env.request(ATTACKER, &json!({"query": sql})).await;
        let Reply::Error(reply) = reply else {
            panic!("{sql} was not refused: {reply:?}")
        };
        if backend() == Backend::Postgres {
            assert!(
                matches!(
                    reply.code(),
                    Some(
                        ErrorCode::NamespaceViolation
                            | ErrorCode::SystemTableAccess
                            | ErrorCode::ForbiddenFunction
                    )
                ),
                "{sql}: refused by the policy, before the database could answer: {reply:?}"
            );
        }
        let text = serde_json::to_string(&reply.details).unwrap() + &reply.message;
        for leak in [
            "\"text\"",
            "fingerprint",
            "checksum",
            "rolpassword",
            "oid\":",
        ] {
            assert!(
                !text.contains(leak),
                "{sql}: the reply reveals {leak}: {text}"
            );
        }
    }
    // The plugin's own row type stays usable.
    if backend() == Backend::Postgres {
        let reply = env
            .ok(
                ATTACKER,
                &json!({"query": "SELECT to_jsonb(NULL::analytics_db__events) IS NULL AS t"}),
            )
            .await;
        assert_eq!(reply.rows, vec![json!({"t": true})]);
    }
}
