//! The PostgreSQL backend tested directly against a real server, without the parser check
//! in front of it: the plugin roles, the read-only transactions and the timeout must
//! stand on their own.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sql_core::value::SqlValue;
use sql_core::wire::TruncatedReason;
use sql_core::{Plugin, Policy};
use sql_test_harness::TestDatabase;

use super::PgEngine;
use crate::engine::{Claim, Claimed, Constraint, Denial, ExecError, Job, OpenError, Recorded};
use crate::migrations::{self, MigrationError};

const ANALYTICS: &str = "
CREATE TABLE analytics_db__events (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, n INTEGER, data BYTEA, score DOUBLE PRECISION);
CREATE TABLE analytics_db__tags (event_id BIGINT NOT NULL REFERENCES analytics_db__events(id), tag TEXT NOT NULL CHECK (length(tag) > 0));
CREATE INDEX analytics_db__tags_by_event ON analytics_db__tags(event_id);
CREATE VIEW analytics_db__named AS SELECT id, name FROM analytics_db__events;
INSERT INTO analytics_db__events (name, n) VALUES ('a', 1), ('b', 2), ('c', 3);
";
const QUOTES: &str = "
CREATE TABLE quote_db__quotes (id INTEGER PRIMARY KEY, text TEXT);
INSERT INTO quote_db__quotes VALUES (1, 'secret');
";

struct Fixture {
    db: TestDatabase,
    _dir: tempfile::TempDir,
    engine: PgEngine,
}

fn write_migration(root: &Path, plugin: &str, file: &str, sql: &str) {
    let dir = root.join("migrations").join(plugin);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(file), sql).unwrap();
}

fn options(connections: usize) -> super::PgOptions<'static> {
    super::PgOptions {
        connections,
        ca_file: None,
        limits: super::RequestLimits::default(),
    }
}

async fn open(db: &TestDatabase, root: &Path, pool: usize) -> Result<PgEngine, OpenError> {
    let found = migrations::discover(&root.join("migrations"), sql_core::Dialect::Postgres)?;
    PgEngine::open(db.url(), options(pool), Arc::new(Policy::default()), &found).await
}

async fn fixture_with_pool(pool: usize) -> Fixture {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "analytics-db", "001_init.sql", ANALYTICS);
    write_migration(dir.path(), "quote-db", "001_init.sql", QUOTES);
    let engine = open(&db, dir.path(), pool).await.unwrap();
    Fixture {
        db,
        _dir: dir,
        engine,
    }
}

async fn fixture() -> Fixture {
    fixture_with_pool(4).await
}

fn job(sql: &str, params: Vec<SqlValue>) -> Job {
    Job::for_test(sql, params)
}

fn rows_json(outcome: crate::engine::Outcome) -> serde_json::Value {
    crate::engine::sqlite::rows_as_json(outcome.rows)
}

async fn rows(f: &Fixture, sql: &str, params: Vec<SqlValue>) -> serde_json::Value {
    match f.engine.execute(job(sql, params)).await {
        Ok(outcome) => rows_json(outcome),
        Err(e) => panic!("{sql}: {e:?}"),
    }
}

/// A plain connection to `url`, beside the engine's pool.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// How many events `engine` sees (three after the fixture's migration).
async fn count_events(engine: &PgEngine) -> i64 {
    let outcome = engine
        .execute(job(
            "SELECT count(*) AS n FROM analytics_db__events",
            vec![],
        ))
        .await
        .unwrap();
    rows_json(outcome)[0]["n"].as_i64().unwrap()
}

/// How many events are named `name`.
async fn count_named(f: &Fixture, name: &str) -> i64 {
    let outcome = f
        .engine
        .execute(job(
            "SELECT count(*) AS n FROM analytics_db__events WHERE name = $1",
            vec![SqlValue::Text(name.to_owned())],
        ))
        .await
        .unwrap();
    rows_json(outcome)[0]["n"].as_i64().unwrap()
}

#[tokio::test]
async fn plugin_roles_refuse_foreign_tables_without_the_parser() {
    let f = fixture().await;
    let cases = [
        "SELECT * FROM quote_db__quotes",
        "SELECT e.id FROM analytics_db__events e LEFT JOIN quote_db__quotes q ON q.id = e.id",
        "SELECT (SELECT text FROM quote_db__quotes) FROM analytics_db__events",
        "SELECT id FROM analytics_db__events WHERE id IN (SELECT id FROM quote_db__quotes)",
        "WITH x AS (SELECT * FROM quote_db__quotes) SELECT * FROM x",
        "SELECT name FROM analytics_db__events UNION SELECT text FROM quote_db__quotes",
        "UPDATE quote_db__quotes SET text = 'x'",
        "DELETE FROM quote_db__quotes",
        "INSERT INTO quote_db__quotes VALUES (2, 'x')",
        "UPDATE analytics_db__events SET name = q.text FROM quote_db__quotes q WHERE q.id = analytics_db__events.id",
        "SELECT * FROM _sql_handler_idempotency",
        "SELECT * FROM _sql_handler_migrations",
    ];
    for sql in cases {
        match f.engine.execute(job(sql, vec![])).await {
            Err(ExecError::Denied(Denial::ForeignTable(table), prefix)) => {
                assert!(!table.starts_with("analytics_db__"), "{sql}: {table}");
                assert_eq!(prefix, "analytics_db__");
            }
            other => panic!("{sql}: expected a denial, got {other:?}"),
        }
    }
    // The victim is untouched.
    let mut quotes = job("SELECT text FROM quote_db__quotes", vec![]);
    quotes.plugin = Plugin::new("quote-db").unwrap();
    let outcome = f.engine.execute(quotes).await.unwrap();
    assert_eq!(rows_json(outcome), json!([{"text": "secret"}]));
}

#[tokio::test]
async fn a_role_reset_is_refused_by_the_database() {
    let f = fixture().await;
    for sql in [
        "SELECT set_config('role', 'none', true)",
        "SELECT set_config('role', 'postgres', false)",
    ] {
        let err = f.engine.execute(job(sql, vec![])).await.unwrap_err();
        assert!(
            matches!(err, ExecError::Denied(Denial::Function(ref f), _) if f.starts_with("set_config")),
            "{sql}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_plugin_without_migrations_reaches_no_table() {
    let f = fixture().await;
    let mut select = job("SELECT 40 + 2 AS n", vec![]);
    select.plugin = Plugin::new("newcomer").unwrap();
    assert_eq!(
        rows_json(f.engine.execute(select).await.unwrap()),
        json!([{"n": 42}])
    );
    let mut foreign = job("SELECT * FROM analytics_db__events", vec![]);
    foreign.plugin = Plugin::new("newcomer").unwrap();
    assert!(matches!(
        f.engine.execute(foreign).await,
        Err(ExecError::Denied(Denial::ForeignTable(_), _))
    ));
}

#[tokio::test]
async fn reads_run_read_only_even_when_misclassified() {
    let f = fixture().await;
    for sql in [
        "WITH d AS (DELETE FROM analytics_db__events RETURNING id) SELECT count(*) FROM d",
        "SELECT nextval('analytics_db__events_id_seq')",
    ] {
        let mut read = job(sql, vec![]);
        read.writes = false;
        read.allow_write = false;
        let err = f.engine.execute(read).await.unwrap_err();
        assert!(
            matches!(
                err,
                ExecError::PermissionDenied | ExecError::Execution { .. }
            ),
            "{sql}: {err:?}"
        );
    }
    assert_eq!(
        rows(&f, "SELECT count(*) AS n FROM analytics_db__events", vec![]).await,
        json!([{"n": 3}])
    );
}

#[tokio::test]
async fn writes_return_rows_and_counts() {
    let f = fixture().await;
    let outcome = f
        .engine
        .execute(job(
            "INSERT INTO analytics_db__events (name, n) VALUES ($1, $2), ($3, $4) RETURNING name, n",
            vec![
                SqlValue::Text("d".into()),
                SqlValue::Integer(4),
                SqlValue::Text("e".into()),
                SqlValue::Integer(5),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(outcome.row_count, 2);
    assert_eq!(
        rows_json(outcome),
        json!([{"name": "d", "n": 4}, {"name": "e", "n": 5}])
    );
    let outcome = f
        .engine
        .execute(job("UPDATE analytics_db__events SET n = n + 1", vec![]))
        .await
        .unwrap();
    assert_eq!(outcome.row_count, 5);
}

#[tokio::test]
async fn reads_fetch_at_most_max_rows_plus_one() {
    let f = fixture().await;
    let mut read = job("SELECT g FROM generate_series(1, 100000) AS g", vec![]);
    read.max_rows = 10;
    let outcome = f.engine.execute(read).await.unwrap();
    assert_eq!(outcome.row_count, 10);
    assert_eq!(outcome.rows.truncated(), Some(TruncatedReason::MaxRows));
    let mut write = job("UPDATE analytics_db__events SET n = n RETURNING id", vec![]);
    write.max_rows = 1;
    let outcome = f.engine.execute(write).await.unwrap();
    assert_eq!(outcome.row_count, 3, "a write completes past max_rows");
    assert_eq!(outcome.rows.len(), 1);
}

/// A read cut at its limit is answered with the rows it has while the server is still
/// producing more: its connection leaves the pool and the statement is cancelled, so
/// nothing keeps running for the rest of its time limit and the pool serves on.
#[tokio::test]
async fn a_read_cut_at_its_limit_is_stopped_on_the_server() {
    let f = fixture_with_pool(2).await;
    for _ in 0..4 {
        // A row every millisecond for about 2 minutes, unless stopped (the server sends
        // them 8 kB at a time).
        let mut read = job(
            "SELECT g, pg_sleep(0.001) AS s FROM generate_series(1, 100000) AS g",
            vec![],
        );
        read.max_rows = 3;
        read.timeout_ms = 600_000;
        read.deadline = Instant::now() + Duration::from_secs(600);
        let outcome = f.engine.execute(read).await.unwrap();
        assert_eq!(outcome.row_count, 3);
        assert_eq!(outcome.rows.truncated(), Some(TruncatedReason::MaxRows));
    }
    let observer = connect(f.db.url()).await;
    let mut running = i64::MAX;
    for _ in 0..100 {
        running = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT g, pg_sleep%' AND state = 'active'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(running, 0, "cut reads still running on the server");
    assert_eq!(count_events(&f.engine).await, 3);
}

#[tokio::test]
async fn a_runaway_query_is_cancelled_at_the_deadline_and_the_pool_recovers() {
    let f = fixture_with_pool(2).await;
    for _ in 0..3 {
        let mut slow = job(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c",
            vec![],
        );
        slow.timeout_ms = 200;
        slow.deadline = Instant::now() + Duration::from_millis(200);
        let deadline = slow.deadline;
        let err = f.engine.execute(slow).await.unwrap_err();
        let late = Instant::now().saturating_duration_since(deadline);
        assert!(
            matches!(err, ExecError::Timeout { timeout_ms: 200 }),
            "{err:?}"
        );
        assert!(
            late < Duration::from_millis(100),
            "TIMEOUT {late:?} after the deadline"
        );
    }
    // Every pooled connection still works, and none still runs the cancelled query.
    let (a, b) = tokio::join!(
        rows(&f, "SELECT count(*) AS n FROM analytics_db__events", vec![]),
        rows(
            &f,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE 'WITH RECURSIVE%' AND state = 'active'",
            vec![]
        ),
    );
    assert_eq!(a, json!([{"n": 3}]));
    assert_eq!(b, json!([{"n": 0}]));
}

/// Some built-in functions never look at PostgreSQL's cancel flag inside their loops
/// (`ltrim` with a long set of characters is quadratic and has none): the request is still
/// answered by its deadline, the connection leaves the pool until the server is done
/// with it, and its slot goes back at once, one such slot per plugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_ignores_the_cancel_is_answered_and_its_slot_detached() {
    let f = fixture_with_pool(2).await;
    // About a few seconds of work on this machine; a cancel cannot stop it.
    let runaway = "SELECT length(ltrim(repeat('a', 40000), repeat('b', 20000) || 'a')) AS n";
    let mut slow = job(runaway, vec![]);
    slow.timeout_ms = 200;
    slow.deadline = Instant::now() + Duration::from_millis(200);
    let deadline = slow.deadline;
    let err = f.engine.execute(slow).await.unwrap_err();
    let late = Instant::now().saturating_duration_since(deadline);
    assert!(matches!(err, ExecError::Timeout { .. }), "{err:?}");
    assert!(
        late < Duration::from_millis(150),
        "TIMEOUT {late:?} after the deadline"
    );
    let still_running = Instant::now() < deadline + Duration::from_millis(500);
    if still_running {
        assert_eq!(
            f.engine.slots.detached(),
            1,
            "the stuck connection's slot is back"
        );
    }
    // Both slots serve at once, the stuck backend notwithstanding.
    let started = Instant::now();
    let (a, b) = tokio::join!(
        rows(&f, "SELECT count(*) AS n FROM analytics_db__events", vec![]),
        rows(&f, "SELECT count(*) AS n FROM analytics_db__events", vec![]),
    );
    assert_eq!((a, b), (json!([{"n": 3}]), json!([{"n": 3}])));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // Once the server is done, the detached connection is closed and forgotten.
    let until = Instant::now() + Duration::from_secs(60);
    while f.engine.slots.detached() > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(f.engine.slots.detached(), 0);
}

#[tokio::test]
async fn a_batch_is_all_or_nothing() {
    let f = fixture().await;
    let mut batch = job(
        "INSERT INTO analytics_db__events (name, n) VALUES ($1, $2)",
        vec![],
    );
    batch.executions = vec![
        vec![SqlValue::Text("x".into()), SqlValue::Integer(1)],
        vec![SqlValue::Text("a".into()), SqlValue::Integer(2)],
    ];
    match f.engine.execute(batch).await {
        Err(ExecError::Execution {
            constraint: Some(Constraint::Unique),
            batch_index: Some(1),
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(count_named(&f, "x").await, 0);
}

#[tokio::test]
async fn constraint_kinds_and_parameter_errors_are_reported() {
    let f = fixture().await;
    let cases: [(&str, Vec<SqlValue>, Constraint); 4] = [
        (
            "INSERT INTO analytics_db__events (name) VALUES ('a')",
            vec![],
            Constraint::Unique,
        ),
        (
            "INSERT INTO analytics_db__tags VALUES (999, 'x')",
            vec![],
            Constraint::ForeignKey,
        ),
        (
            "INSERT INTO analytics_db__events (name) VALUES (NULL)",
            vec![],
            Constraint::NotNull,
        ),
        (
            "INSERT INTO analytics_db__tags VALUES (1, '')",
            vec![],
            Constraint::Check,
        ),
    ];
    for (sql, params, expected) in cases {
        match f.engine.execute(job(sql, params)).await {
            Err(ExecError::Execution {
                constraint: Some(found),
                message,
                ..
            }) => {
                assert_eq!(found, expected, "{sql}");
                // The primary message only: PostgreSQL's detail ("Key (name)=(a) already
                // exists", the failing row) stays out of replies.
                assert!(
                    !message.contains("Key (") && !message.contains("Failing row"),
                    "{sql}: {message}"
                );
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
    let err = f
        .engine
        .execute(job(
            "SELECT id FROM analytics_db__events WHERE n = $1",
            vec![SqlValue::Text("not a number".into())],
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExecError::ParamType { index: 1, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn migrations_are_refused_outside_the_prefix_and_apply_once() {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "quote-db", "001_init.sql", QUOTES);
    write_migration(dir.path(), "analytics-db", "001_init.sql", ANALYTICS);
    open(&db, dir.path(), 2).await.unwrap();
    // Applied once: opening again changes nothing.
    open(&db, dir.path(), 2).await.unwrap();

    let refused = [
        (
            "002_peek.sql",
            "INSERT INTO analytics_db__events (name) SELECT text FROM quote_db__quotes",
        ),
        ("002_name.sql", "CREATE TABLE stray (id INTEGER)"),
        ("002_role.sql", "SET ROLE NONE"),
        ("002_tx.sql", "COMMIT"),
        (
            "002_grant.sql",
            "GRANT SELECT ON analytics_db__events TO PUBLIC",
        ),
        (
            "002_alter.sql",
            "ALTER TABLE quote_db__quotes ADD COLUMN x INTEGER",
        ),
    ];
    for (file, sql) in refused {
        let case = tempfile::tempdir().unwrap();
        write_migration(case.path(), "quote-db", "001_init.sql", QUOTES);
        write_migration(case.path(), "analytics-db", "001_init.sql", ANALYTICS);
        write_migration(case.path(), "analytics-db", file, sql);
        match open(&db, case.path(), 2).await {
            Err(OpenError::Migration(MigrationError::Refused { migration, reason })) => {
                assert!(migration.contains(file), "{migration}");
                assert!(!reason.is_empty());
            }
            other => panic!("{sql}: expected a refusal, got {:?}", other.err()),
        }
    }
}

/// The three ALTER TABLE forms that SQLite needed the guard to learn (and ADD COLUMN) run
/// on PostgreSQL under the plugin's role, which owns the tables.
#[tokio::test]
async fn migrations_rename_drop_and_add_columns_and_rename_own_tables() {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "quote-db", "001_init.sql", QUOTES);
    write_migration(dir.path(), "analytics-db", "001_init.sql", ANALYTICS);
    open(&db, dir.path(), 2).await.unwrap();
    write_migration(
        dir.path(),
        "analytics-db",
        "002_evolve.sql",
        "ALTER TABLE analytics_db__events RENAME COLUMN name TO title;
         ALTER TABLE analytics_db__events DROP COLUMN data;
         ALTER TABLE analytics_db__events ADD COLUMN tag TEXT NOT NULL DEFAULT 'none';
         ALTER TABLE analytics_db__tags RENAME TO analytics_db__labels;
         INSERT INTO analytics_db__labels (event_id, tag) VALUES (1, 'x');",
    );
    let f = Fixture {
        engine: open(&db, dir.path(), 2).await.unwrap(),
        db,
        _dir: dir,
    };
    assert_eq!(
        rows(
            &f,
            "SELECT e.title, e.tag, v.name, count(l.tag) AS labels FROM analytics_db__events e \
             JOIN analytics_db__named v USING (id) LEFT JOIN analytics_db__labels l ON l.event_id = e.id \
             GROUP BY e.id, e.title, e.tag, v.name ORDER BY e.id",
            vec![]
        )
        .await,
        json!([
            {"title": "a", "tag": "none", "name": "a", "labels": 1},
            {"title": "b", "tag": "none", "name": "b", "labels": 0},
            {"title": "c", "tag": "none", "name": "c", "labels": 0},
        ])
    );
    for stale in [
        "SELECT name FROM analytics_db__events",
        "SELECT data FROM analytics_db__events",
        "SELECT count(*) FROM analytics_db__tags",
    ] {
        let outcome = f.engine.execute(job(stale, vec![])).await;
        assert!(
            matches!(outcome, Err(ExecError::Execution { .. })),
            "{stale}: {outcome:?}"
        );
    }
}

/// Renaming an own table out of the prefix leaves the role owning a relation named
/// outside it, which the check after the migration refuses, naming the new name; another
/// plugin's table cannot be altered at all.
#[tokio::test]
async fn migrations_may_not_rename_outside_the_prefix_or_alter_foreign_tables() {
    let db = TestDatabase::create();
    let refused = [
        (
            "ALTER TABLE analytics_db__events RENAME TO quote_db__events",
            "'quote_db__events', outside the plugin's prefix 'analytics_db__'",
        ),
        (
            "ALTER TABLE analytics_db__tags RENAME TO x",
            "'x', outside the plugin's prefix",
        ),
        (
            "ALTER TABLE analytics_db__events RENAME COLUMN name TO title; \
             ALTER TABLE analytics_db__events RENAME TO \"Quote_db__events\"",
            "'Quote_db__events', outside",
        ),
        (
            "ALTER TABLE quote_db__quotes RENAME TO analytics_db__stolen",
            "must be owner",
        ),
        (
            "ALTER TABLE quote_db__quotes RENAME COLUMN text TO body",
            "must be owner",
        ),
        (
            "ALTER TABLE quote_db__quotes DROP COLUMN text",
            "must be owner",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "quote-db", "001_init.sql", QUOTES);
    write_migration(dir.path(), "analytics-db", "001_init.sql", ANALYTICS);
    open(&db, dir.path(), 2).await.unwrap();
    for (sql, expected) in refused {
        // Never applied, so each case may replace the last.
        write_migration(dir.path(), "analytics-db", "002_rename.sql", sql);
        match open(&db, dir.path(), 2).await {
            Err(OpenError::Migration(MigrationError::Refused { migration, reason })) => {
                assert!(migration.contains("002_rename.sql"), "{migration}");
                assert!(reason.contains(expected), "{sql}: {reason}");
            }
            other => panic!("{sql}: expected a refusal, got {:?}", other.err()),
        }
        // Rolled back: the tables keep their names and columns.
        let client = connect(db.url()).await;
        let names: Vec<String> = client
            .query(
                "SELECT c.relname || '.' || a.attname FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid \
                 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' \
                   AND a.attnum > 0 AND NOT a.attisdropped AND c.relname NOT LIKE '\\_sql\\_handler%' \
                 ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(
            names,
            [
                "analytics_db__events.data",
                "analytics_db__events.id",
                "analytics_db__events.n",
                "analytics_db__events.name",
                "analytics_db__events.score",
                "analytics_db__tags.event_id",
                "analytics_db__tags.tag",
                "quote_db__quotes.id",
                "quote_db__quotes.text",
            ],
            "{sql}"
        );
    }
}

#[tokio::test]
async fn a_claimed_write_commits_with_its_record_and_is_replayed() {
    let f = fixture().await;
    let claim = |key: &str, fingerprint: &str| Claim {
        plugin: Plugin::new("analytics-db").unwrap(),
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
        deadline: Instant::now() + Duration::from_secs(10),
        timeout_ms: 10_000,
    };
    let Claimed::Fresh(mut session) = f.engine.claim(claim("k1", "f1")).await.unwrap() else {
        panic!("first use is fresh");
    };
    let outcome = session
        .execute(job(
            "INSERT INTO analytics_db__events (name) VALUES ('once')",
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(outcome.row_count, 1);
    session
        .finish(Some(Recorded {
            body: b"{\"rows\":[]}".to_vec(),
            outcome: None,
        }))
        .await
        .unwrap();
    match f.engine.claim(claim("k1", "f1")).await.unwrap() {
        Claimed::Replay(recorded) => assert_eq!(recorded.body, b"{\"rows\":[]}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.engine.claim(claim("k1", "other")).await.unwrap(),
        Claimed::Reused
    ));
    // A failed statement leaves nothing, and an unrecorded session nothing either.
    let Claimed::Fresh(mut session) = f.engine.claim(claim("k2", "f2")).await.unwrap() else {
        panic!("fresh");
    };
    assert!(
        session
            .execute(job(
                "INSERT INTO analytics_db__events (name) VALUES ('a')",
                vec![]
            ))
            .await
            .is_err()
    );
    session.finish(None).await.unwrap();
    assert!(matches!(
        f.engine.claim(claim("k2", "f2")).await.unwrap(),
        Claimed::Fresh(_)
    ));
    assert_eq!(count_named(&f, "once").await, 1);
}

#[tokio::test]
async fn the_cancel_request_alone_stops_a_statement_at_the_deadline() {
    let db = TestDatabase::create();
    let client = connect(db.url()).await;
    assert_cancel_stops_a_sleep(&client, &super::tls::Tls::Off).await;
}

/// With no statement timeout, only `bounded`'s cancel request (sent the way `tls` says)
/// can stop a 30 s sleep; it must, within 100 ms of the deadline, and leave the
/// connection usable.
async fn assert_cancel_stops_a_sleep(client: &tokio_postgres::Client, tls: &super::tls::Tls) {
    let cancel = client.cancel_token();
    let deadline = Instant::now() + Duration::from_millis(200);
    let work = async {
        client
            .batch_execute("SELECT pg_sleep(30)")
            .await
            .map_err(|e| super::errors::map(&e, 200, "analytics_db__"))
    };
    let outcome = super::run::bounded(work, deadline, (&cancel, tls), 200).await;
    let late = Instant::now().saturating_duration_since(deadline);
    assert!(matches!(
        outcome,
        super::run::Bounded::Finished(Err(ExecError::Timeout { timeout_ms: 200 }))
    ));
    assert!(
        late < Duration::from_millis(100),
        "stopped {late:?} after the deadline"
    );
    let row = client.query_one("SELECT 1 + 1", &[]).await.unwrap();
    assert_eq!(
        row.get::<_, i32>(0),
        2,
        "the connection is usable afterwards"
    );
}

/// The deployment of the README: the handler logs in as a role that owns the database and
/// may create roles, not as a superuser.
#[tokio::test]
async fn a_handler_without_superuser_rights_sets_up_and_isolates() {
    let db = TestDatabase::create();
    let name = db.url().rsplit('/').next().unwrap().to_owned();
    let handler_role = format!("handler_{name}");
    let admin = connect(db.url()).await;
    admin
        .batch_execute(&format!(
            "CREATE ROLE {handler_role} LOGIN CREATEROLE; ALTER DATABASE {name} OWNER TO {handler_role}"
        ))
        .await
        .unwrap();
    let url = db
        .url()
        .replacen("postgres@", &format!("{handler_role}@"), 1);
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "analytics-db", "001_init.sql", ANALYTICS);
    write_migration(dir.path(), "quote-db", "001_init.sql", QUOTES);
    let found =
        migrations::discover(&dir.path().join("migrations"), sql_core::Dialect::Postgres).unwrap();
    // Without the right to set temp_file_limit, start-up names the fix.
    let err = PgEngine::open(&url, options(2), Arc::new(Policy::default()), &found)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("GRANT SET ON PARAMETER temp_file_limit"),
        "{err}"
    );
    admin
        .batch_execute(&format!(
            "GRANT SET ON PARAMETER temp_file_limit TO {handler_role}"
        ))
        .await
        .unwrap();
    let engine = PgEngine::open(&url, options(2), Arc::new(Policy::default()), &found)
        .await
        .unwrap();
    assert_eq!(count_events(&engine).await, 3);
    // The limits hold under the plugin's role, which cannot lift them.
    let outcome = engine
        .execute(job(
            "SELECT current_setting('temp_file_limit') AS t",
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(rows_json(outcome), json!([{"t": "256MB"}]));
    assert!(
        engine
            .execute(job(
                "SELECT set_config('temp_file_limit', '-1', true)",
                vec![],
            ))
            .await
            .is_err()
    );
    assert!(matches!(
        engine
            .execute(job("SELECT * FROM quote_db__quotes", vec![]))
            .await,
        Err(ExecError::Denied(Denial::ForeignTable(_), _))
    ));
}

/// A set-returning function in FROM materialises its whole result before the first row:
/// the request's temp_file_limit stops it long before its timeout, and the error is not
/// transient (a retry would only fill the disk again). work_mem is the configured one.
#[tokio::test]
async fn temporary_files_and_memory_are_bounded_per_request() {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "analytics-db", "001_init.sql", ANALYTICS);
    let found =
        migrations::discover(&dir.path().join("migrations"), sql_core::Dialect::Postgres).unwrap();
    let limits = super::RequestLimits {
        temp_file_limit_kb: Some(1024),
        work_mem_kb: 64,
    };
    let engine = PgEngine::open(
        db.url(),
        super::PgOptions {
            limits,
            ..options(2)
        },
        Arc::new(Policy::default()),
        &found,
    )
    .await
    .unwrap();
    let mut runaway = job("SELECT g FROM generate_series(1, 1e10) g", vec![]);
    runaway.max_rows = 10;
    let started = Instant::now();
    let err = engine.execute(runaway).await.unwrap_err();
    match &err {
        ExecError::Execution {
            message, transient, ..
        } => {
            assert!(message.contains("temp_file_limit"), "{message}");
            assert!(!transient, "{err:?}");
        }
        other => panic!("expected the temp_file_limit error, got {other:?}"),
    }
    // 1 MB of temporary files is written in milliseconds; the timeout is ten seconds.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let outcome = engine
        .execute(job(
            "SELECT current_setting('temp_file_limit') AS t, current_setting('work_mem') AS w",
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(rows_json(outcome), json!([{"t": "1MB", "w": "64kB"}]));
    // The pool is fine afterwards.
    assert_eq!(count_events(&engine).await, 3);
}

/// Lock conflicts are reported as transient, so that the client may retry them.
#[tokio::test]
async fn lock_timeouts_and_deadlocks_are_transient() {
    let db = TestDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "analytics-db", "001_init.sql", ANALYTICS);
    let engine = open(&db, dir.path(), 2).await.unwrap();
    let mut other = connect(db.url()).await;

    // Another transaction holds row 2.
    let tx = other.transaction().await.unwrap();
    tx.batch_execute(
        "SET LOCAL deadlock_timeout = '30s'; SELECT 1 FROM analytics_db__events WHERE id = 2 FOR UPDATE",
    )
    .await
    .unwrap();
    let mut nowait = job(
        "SELECT id FROM analytics_db__events WHERE id = 2 FOR UPDATE NOWAIT",
        vec![],
    );
    nowait.writes = true;
    nowait.allow_write = true;
    match engine.execute(nowait).await {
        Err(ExecError::Execution {
            transient: true, ..
        }) => {}
        other => panic!("lock not available: {other:?}"),
    }

    // The request locks row 1 and waits for row 2; the other transaction then waits for
    // row 1. The request's side detects the deadlock first (1 s against 30 s).
    let update = engine.execute(job(
        "UPDATE analytics_db__events SET n = n + 1 WHERE id IN (1, 2)",
        vec![],
    ));
    let other_side = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.batch_execute("UPDATE analytics_db__events SET n = n WHERE id = 1")
            .await
            .unwrap();
        tx.rollback().await.unwrap();
    };
    let (result, ()) = tokio::join!(update, other_side);
    match result {
        Err(ExecError::Execution {
            transient: true,
            message,
            ..
        }) => assert!(message.contains("deadlock"), "{message}"),
        other => panic!("deadlock: {other:?}"),
    }
}

/// A table changed by a migration of another replica under a cached statement: the first
/// attempt is transient, the retry prepares the statement afresh.
#[tokio::test]
async fn a_statement_cached_before_a_schema_change_recovers_on_retry() {
    let f = fixture_with_pool(2).await;
    let sql = "SELECT * FROM analytics_db__tags";
    for _ in 0..2 {
        // Both pooled connections cache it.
        let (a, b) = tokio::join!(rows(&f, sql, vec![]), rows(&f, sql, vec![]));
        assert_eq!(a, b);
    }
    let admin = connect(f.db.url()).await;
    admin
        .batch_execute("ALTER TABLE analytics_db__tags ADD COLUMN note TEXT")
        .await
        .unwrap();
    let mut recovered = false;
    for _ in 0..4 {
        match f.engine.execute(job(sql, vec![])).await {
            Ok(outcome) => {
                let columns = outcome.rows.finish().columns;
                assert!(columns.contains(&"note".to_owned()), "{columns:?}");
                recovered = true;
            }
            Err(ExecError::Execution {
                transient: true, ..
            }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(recovered, "the statement was prepared again");
}

/// `sslmode=require` connects over TLS and verifies the server against the given CA; a
/// server the roots do not vouch for is refused at start with a clear message.
#[tokio::test]
async fn sslmode_require_uses_verified_tls() {
    let cluster = sql_test_harness::PgCluster::start_with_tls();
    let ca = cluster.ca_file().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "analytics-db", "001_init.sql", ANALYTICS);
    let found =
        migrations::discover(&dir.path().join("migrations"), sql_core::Dialect::Postgres).unwrap();
    let url = format!("{}?sslmode=require", cluster.url());
    let verified = super::PgOptions {
        ca_file: Some(&ca),
        ..options(2)
    };
    let engine = PgEngine::open(&url, verified, Arc::new(Policy::default()), &found)
        .await
        .unwrap();
    assert_eq!(count_events(&engine).await, 3);

    let admin = connect(&cluster.url()).await;
    let encrypted: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE s.ssl AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted >= 1, "the handler's connections use TLS");

    // The cancel request goes over TLS too: with no statement timeout, only it can stop
    // the sleep.
    let config: tokio_postgres::Config = url.parse().unwrap();
    let tls = super::tls::Tls::for_config(&config, Some(&ca)).unwrap();
    let super::tls::Tls::Rustls(connector) = tls.clone() else {
        panic!("sslmode=require uses rustls");
    };
    let (client, connection) = config.connect(connector).await.unwrap();
    tokio::spawn(connection);
    assert_cancel_stops_a_sleep(&client, &tls).await;

    // The system's roots do not know the throw-away CA.
    let unverified = options(2);
    let err = PgEngine::open(&url, unverified, Arc::new(Policy::default()), &found)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("certificate") || message.contains("CA"),
        "{message}"
    );
}

/// The start's warning about `set_config` follows the privilege itself: after a
/// superuser's start (which revokes it) plugin roles cannot execute it, and granting it
/// back is seen.
#[tokio::test]
async fn set_config_is_checked_by_its_privilege() {
    let f = fixture().await;
    let client = connect(f.db.url()).await;
    assert!(
        !super::migrate::set_config_reachable(&client).await.unwrap(),
        "a superuser's start revokes it"
    );
    client
        .batch_execute(
            "GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) TO PUBLIC",
        )
        .await
        .unwrap();
    assert!(super::migrate::set_config_reachable(&client).await.unwrap());
    client
        .batch_execute(
            "REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC",
        )
        .await
        .unwrap();
}

/// The handler's tables are created on every start without a notice each
/// ("relation ... already exists, skipping") in the log.
#[tokio::test]
async fn the_bookkeeping_tables_are_made_again_without_notices() {
    let f = fixture().await;
    let (client, mut connection) = tokio_postgres::connect(f.db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let (notices, mut received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = futures::StreamExt::next(&mut messages).await {
            if let tokio_postgres::AsyncMessage::Notice(notice) = message {
                let _ = notices.send(notice.message().to_owned());
            }
        }
    });
    // The fixture's start made them; this is the second start's batch.
    client
        .batch_execute(&format!("BEGIN; {} COMMIT;", super::migrate::SCHEMA))
        .await
        .unwrap();
    // Without the setting the same batch does notify: the check can fail.
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS _sql_handler_migrations (x int)")
        .await
        .unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), received.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.contains("already exists"), "{first}");
    assert!(
        received.try_recv().is_err(),
        "only the unsilenced statement notified"
    );
}

/// `sql-handler migrate status` reads what a start recorded, and nothing before one.
#[tokio::test]
async fn applied_migrations_are_read_back() {
    let f = fixture().await;
    let applied = super::applied_migrations(f.db.url(), None).await.unwrap();
    let mut seen: Vec<(String, u32)> = applied
        .iter()
        .map(|a| (a.plugin.clone(), a.version))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [("analytics-db".to_owned(), 1), ("quote-db".to_owned(), 1)]
    );
    assert!(
        applied
            .iter()
            .all(|a| a.checksum.len() == 64 && a.name == "init")
    );
    let empty = TestDatabase::create();
    assert!(
        super::applied_migrations(empty.url(), None)
            .await
            .unwrap()
            .is_empty()
    );
}
