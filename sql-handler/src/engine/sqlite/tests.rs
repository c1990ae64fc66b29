//! The SQLite backend tested directly, without the parser check in front of it: the
//! engine-level guard must stand on its own.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sql_core::value::SqlValue;
use sql_core::wire::{RowFormat, TruncatedReason};
use sql_core::{Plugin, Policy};

use super::{SqliteEngine, rows_as_json};
use crate::engine::{Constraint, Denial, ExecError, Job, Outcome};
use crate::migrations::{self, MigrationError};

const SCHEMA: &str = "
CREATE TABLE analytics_db__events (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, n INTEGER, data BLOB, score REAL);
CREATE TABLE analytics_db__tags (event_id INTEGER NOT NULL REFERENCES analytics_db__events(id), tag TEXT NOT NULL);
CREATE INDEX analytics_db__tags_by_event ON analytics_db__tags(event_id);
CREATE VIEW analytics_db__named AS SELECT id, name FROM analytics_db__events;
INSERT INTO analytics_db__events (name, n) VALUES ('a', 1), ('b', 2), ('c', 3);
";

struct Fixture {
    _dir: tempfile::TempDir,
    engine: SqliteEngine,
}

fn write_migration(root: &Path, plugin: &str, file: &str, sql: &str) {
    let dir = root.join("migrations").join(plugin);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(file), sql).unwrap();
}

fn open(root: &Path) -> Result<SqliteEngine, crate::engine::OpenError> {
    let found = migrations::discover(&root.join("migrations"), sql_core::Dialect::Sqlite)?;
    SqliteEngine::open(
        &root.join("test.db"),
        (2, crate::SqliteSynchronous::Full),
        Arc::new(Policy::default()),
        &found,
    )
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "analytics-db", "001_init.sql", SCHEMA);
    write_migration(
        dir.path(),
        "quote-db",
        "001_init.sql",
        "CREATE TABLE quote_db__quotes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO quote_db__quotes VALUES (1, 'secret');",
    );
    let engine = open(dir.path()).unwrap();
    Fixture { _dir: dir, engine }
}

fn job(sql: &str, params: Vec<SqlValue>) -> Job {
    Job::for_test(sql, params)
}

async fn run(f: &Fixture, job: Job) -> Result<Outcome, ExecError> {
    f.engine.execute(job).await
}

async fn rows(f: &Fixture, sql: &str, params: Vec<SqlValue>) -> serde_json::Value {
    match run(f, job(sql, params)).await {
        Ok(outcome) => rows_as_json(outcome.rows),
        Err(e) => panic!("{sql}: {e:?}"),
    }
}

async fn denial(f: &Fixture, sql: &str) -> Denial {
    match run(f, job(sql, vec![])).await {
        Err(ExecError::Denied(denial, _)) => denial,
        other => panic!("{sql}: expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn guard_refuses_foreign_and_system_tables_without_the_parser() {
    let f = fixture();
    let foreign = Denial::ForeignTable("quote_db__quotes".into());
    let cases = [
        ("SELECT * FROM quote_db__quotes", foreign.clone()),
        (
            "SELECT e.id FROM analytics_db__events e LEFT JOIN quote_db__quotes q ON q.id = e.id",
            foreign.clone(),
        ),
        (
            "SELECT (SELECT text FROM quote_db__quotes) FROM analytics_db__events",
            foreign.clone(),
        ),
        (
            "SELECT id FROM analytics_db__events WHERE id IN (SELECT id FROM quote_db__quotes)",
            foreign.clone(),
        ),
        (
            "WITH x AS (SELECT * FROM quote_db__quotes) SELECT * FROM x",
            foreign.clone(),
        ),
        (
            "SELECT name FROM analytics_db__events UNION SELECT text FROM quote_db__quotes",
            foreign.clone(),
        ),
        ("DELETE FROM quote_db__quotes", foreign.clone()),
        ("UPDATE quote_db__quotes SET text = 'x'", foreign.clone()),
        (
            "INSERT INTO quote_db__quotes (id, text) VALUES (2, 'x')",
            foreign.clone(),
        ),
        (
            "INSERT INTO analytics_db__events (name) SELECT text FROM quote_db__quotes",
            foreign.clone(),
        ),
        (
            "UPDATE analytics_db__events SET name = (SELECT text FROM quote_db__quotes)",
            foreign.clone(),
        ),
        ("SELECT * FROM main.quote_db__quotes", foreign.clone()),
        (
            "SELECT * FROM sqlite_master",
            Denial::SystemTable("sqlite_master".into()),
        ),
        (
            "SELECT * FROM sqlite_schema",
            Denial::SystemTable("sqlite_master".into()),
        ),
        (
            "SELECT * FROM analytics_db__events WHERE load_extension('x') IS NULL",
            Denial::Function("load_extension".into()),
        ),
        (
            "SELECT sqlite_version()",
            Denial::Function("sqlite_version".into()),
        ),
        (
            "SELECT randomblob(10)",
            Denial::Function("randomblob".into()),
        ),
        (
            "PRAGMA table_info(analytics_db__events)",
            Denial::Action("PRAGMA"),
        ),
        (
            "CREATE TABLE analytics_db__new (a)",
            Denial::Action("schema changes outside migrations"),
        ),
        (
            "DROP TABLE analytics_db__events",
            Denial::Action("schema changes outside migrations"),
        ),
    ];
    for (sql, expected) in cases {
        assert_eq!(denial(&f, sql).await, expected, "{sql}");
    }
    // Table-valued pragma functions are refused whichever way SQLite reports them.
    assert!(
        run(
            &f,
            job(
                "SELECT * FROM pragma_table_info('analytics_db__events')",
                vec![]
            )
        )
        .await
        .is_err()
    );
    // ATTACH is off at two levels: the guard and a limit of zero attached databases.
    assert!(
        run(&f, job("ATTACH DATABASE 'other.db' AS other", vec![]))
            .await
            .is_err()
    );
    // The foreign table is intact.
    let secret = f
        .engine
        .with_writer(|c| {
            c.query_row("SELECT count(*) FROM quote_db__quotes", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .await
        .unwrap();
    assert_eq!(secret, 1);
}

#[tokio::test]
async fn guard_allows_what_plugins_legitimately_write() {
    let f = fixture();
    let cases = [
        "SELECT e.name, t.tag FROM analytics_db__events e LEFT JOIN analytics_db__tags t ON t.event_id = e.id",
        "SELECT * FROM (SELECT id FROM analytics_db__events) AS sub",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT x FROM c",
        "WITH other__t AS (SELECT 1 AS v) SELECT v FROM other__t",
        "SELECT value FROM json_each('[1,2,3]')",
        "SELECT name, row_number() OVER (ORDER BY n DESC) AS r FROM analytics_db__events",
        "SELECT count(*) AS c, max(n) AS m, group_concat(name) AS g FROM analytics_db__events",
        "SELECT * FROM analytics_db__named",
        "SELECT name FROM analytics_db__events WHERE name LIKE 'a%' AND n BETWEEN 0 AND 9",
        "SELECT lower(name), coalesce(n, 0), datetime('now') IS NOT NULL FROM ANALYTICS_DB__EVENTS",
    ];
    for sql in cases {
        rows(&f, sql, vec![]).await;
    }
    let writes = [
        "INSERT INTO analytics_db__events (name, n) VALUES ('d', 4) ON CONFLICT(name) DO UPDATE SET n = excluded.n",
        "INSERT OR REPLACE INTO analytics_db__events (name, n) VALUES ('e', 5)",
        "REPLACE INTO analytics_db__events (name, n) VALUES ('f', 6)",
        "UPDATE analytics_db__events SET n = n + 1 WHERE id IN (SELECT event_id FROM analytics_db__tags)",
        "DELETE FROM analytics_db__events WHERE name = 'zzz'",
    ];
    for sql in writes {
        run(&f, job(sql, vec![]))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
}

#[tokio::test]
async fn a_cte_named_like_a_foreign_table_cannot_redirect_a_write() {
    let f = fixture();
    let sql = "WITH quote_db__quotes AS (SELECT 1 AS id) DELETE FROM quote_db__quotes";
    assert_eq!(
        denial(&f, sql).await,
        Denial::ForeignTable("quote_db__quotes".into())
    );
}

#[tokio::test]
async fn writes_need_allow_write_even_when_classified_as_reads() {
    let f = fixture();
    // As if the parser had called this a read: the engine's read-only flag decides.
    let mut j = job("DELETE FROM analytics_db__events", vec![]);
    j.writes = false;
    j.allow_write = false;
    assert!(matches!(run(&f, j).await, Err(ExecError::PermissionDenied)));
    // Even with allow_write, a read connection cannot write.
    let mut j = job("DELETE FROM analytics_db__events", vec![]);
    j.writes = false;
    assert!(matches!(run(&f, j).await, Err(ExecError::Execution { .. })));
    assert_eq!(
        rows(&f, "SELECT count(*) AS c FROM analytics_db__events", vec![]).await,
        json!([{"c": 3}])
    );
}

#[tokio::test]
async fn parameters_bind_by_name_and_values_encode_per_protocol() {
    let f = fixture();
    let got = rows(
        &f,
        "SELECT $2 AS b, $1 AS a, $1 AS again",
        vec![SqlValue::Text("one".into()), SqlValue::Integer(2)],
    )
    .await;
    assert_eq!(got, json!([{"b": 2, "a": "one", "again": "one"}]));

    let got = rows(
        &f,
        "SELECT $1 AS big, $2 AS blob, 1e999 AS inf, $3 AS t, $4 AS n, $5 AS j, 0.5 AS half",
        vec![
            SqlValue::Integer(i64::MAX),
            SqlValue::Blob(vec![0, 1, 255]),
            SqlValue::Bool(true),
            SqlValue::Null,
            SqlValue::Json("[1]".into()),
        ],
    )
    .await;
    assert_eq!(
        got,
        json!([{"big": i64::MAX, "blob": "AAH/", "inf": null, "t": 1, "n": null, "j": "[1]", "half": 0.5}])
    );
    // Placeholders SQLite would accept but the protocol does not would bind NULL silently.
    assert_eq!(denial(&f, "SELECT ?").await, Denial::Placeholder);
}

#[tokio::test]
async fn row_formats_and_duplicate_columns() {
    let f = fixture();
    let mut j = job(
        "SELECT id, name FROM analytics_db__events ORDER BY id LIMIT 2",
        vec![],
    );
    j.row_format = RowFormat::Arrays;
    let outcome = run(&f, j).await.unwrap();
    assert_eq!(outcome.rows.columns_for_test(), ["id", "name"]);
    assert_eq!(rows_as_json(outcome.rows), json!([[1, "a"], [2, "b"]]));

    let dup = job("SELECT id, id FROM analytics_db__events", vec![]);
    assert!(
        matches!(run(&f, dup).await, Err(ExecError::DuplicateColumn { column }) if column == "id")
    );
    let mut dup_arrays = job("SELECT id, id FROM analytics_db__events", vec![]);
    dup_arrays.row_format = RowFormat::Arrays;
    assert!(run(&f, dup_arrays).await.is_ok());
}

#[tokio::test]
async fn truncation_by_rows_and_by_bytes() {
    let f = fixture();
    let mut j = job(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
        vec![],
    );
    j.max_rows = 10;
    let outcome = run(&f, j).await.unwrap();
    assert_eq!(outcome.row_count, 10);
    assert_eq!(outcome.rows.truncated(), Some(TruncatedReason::MaxRows));

    let mut j = job(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, printf('%.100c', 'y') AS pad FROM c",
        vec![],
    );
    j.max_rows = 100_000;
    j.byte_budget = 10_000;
    let outcome = run(&f, j).await.unwrap();
    assert_eq!(outcome.rows.truncated(), Some(TruncatedReason::MaxBytes));
    assert!(
        outcome.row_count > 50 && outcome.row_count < 100,
        "{}",
        outcome.row_count
    );
}

#[tokio::test]
async fn a_runaway_query_times_out_near_the_deadline_and_the_connection_recovers() {
    let f = fixture();
    let mut j = job(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c",
        vec![],
    );
    j.timeout_ms = 200;
    j.deadline = Instant::now() + Duration::from_millis(200);
    let deadline = j.deadline;
    let result = run(&f, j).await;
    let late = Instant::now().saturating_duration_since(deadline);
    assert!(
        matches!(result, Err(ExecError::Timeout { timeout_ms: 200 })),
        "{result:?}"
    );
    assert!(
        late < Duration::from_millis(100),
        "answered {late:?} after the deadline"
    );
    // Both readers still work.
    for _ in 0..4 {
        assert_eq!(
            rows(&f, "SELECT 1 AS one", vec![]).await,
            json!([{"one": 1}])
        );
    }
}

/// A function that sleeps inside one SQLite step, where no deadline check can reach it:
/// the stand-in for any built-in call that runs long on its own.
fn install_sleep(conn: &rusqlite::Connection) {
    conn.create_scalar_function(
        "test_sleep_ms",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_UTF8,
        |ctx| {
            let ms: i64 = ctx.get(0)?;
            std::thread::sleep(Duration::from_millis(ms.unsigned_abs()));
            Ok(ms)
        },
    )
    .unwrap();
}

/// An engine whose connections have `test_sleep_ms` (allowed by its policy).
async fn fixture_with_sleep(readers: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "analytics-db", "001_init.sql", SCHEMA);
    let found =
        migrations::discover(&dir.path().join("migrations"), sql_core::Dialect::Sqlite).unwrap();
    let engine = SqliteEngine::open(
        &dir.path().join("test.db"),
        (readers, crate::SqliteSynchronous::Full),
        Arc::new(Policy::default().with_functions(["test_sleep_ms"])),
        &found,
    )
    .unwrap();
    engine.readers().for_each_idle(install_sleep);
    engine.with_writer(|conn| install_sleep(conn)).await;
    Fixture { _dir: dir, engine }
}

fn timed(sql: &str, timeout_ms: u32) -> Job {
    let mut j = job(sql, vec![]);
    j.timeout_ms = timeout_ms;
    j.deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
    j
}

/// A statement stuck inside one step is answered TIMEOUT by its deadline all the same, and
/// its reader's slot goes back at once (a fresh connection stands in for the stuck one), so
/// other requests do not wait for it. One plugin gets one such detached connection; a
/// second stuck statement of the same plugin keeps its slot until it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_stuck_in_one_step_is_answered_and_gives_its_reader_back() {
    let f = fixture_with_sleep(2).await;
    let started = Instant::now();
    let stuck = timed("SELECT test_sleep_ms(1500) AS s", 200);
    let deadline = stuck.deadline;
    let result = run(&f, stuck).await;
    let late = Instant::now().saturating_duration_since(deadline);
    assert!(
        matches!(result, Err(ExecError::Timeout { timeout_ms: 200 })),
        "{result:?}"
    );
    assert!(
        late < Duration::from_millis(300),
        "answered {late:?} after the deadline"
    );
    assert_eq!(f.engine.readers().detached(), 1);
    // Both readers serve others while the stuck statement sleeps on.
    let (a, b) = tokio::join!(
        rows(&f, "SELECT count(*) AS n FROM analytics_db__events", vec![]),
        rows(&f, "SELECT count(*) AS n FROM analytics_db__events", vec![]),
    );
    assert_eq!((a.clone(), b), (json!([{"n": 3}]), json!([{"n": 3}])));
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    // The same plugin's second stuck statement is answered too, but keeps its slot.
    let second = timed("SELECT test_sleep_ms(600) AS s", 150);
    let deadline = second.deadline;
    let result = run(&f, second).await;
    assert!(
        matches!(result, Err(ExecError::Timeout { .. })),
        "{result:?}"
    );
    assert!(Instant::now().saturating_duration_since(deadline) < Duration::from_millis(300));
    assert_eq!(f.engine.readers().detached(), 1);
    // When the statements end, the detached connection is closed and the pool is whole.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(f.engine.readers().detached(), 0);
    for _ in 0..4 {
        assert_eq!(
            rows(&f, "SELECT 1 AS one", vec![]).await,
            json!([{"one": 1}])
        );
    }
}

/// A write stuck inside one step is answered TIMEOUT by its deadline, and then never
/// commits, though its statement goes on to finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_write_answered_timeout_never_commits() {
    let f = fixture_with_sleep(2).await;
    let stuck = timed(
        "INSERT INTO analytics_db__events (name, n) VALUES ('late', test_sleep_ms(700))",
        150,
    );
    let deadline = stuck.deadline;
    let result = run(&f, stuck).await;
    assert!(
        matches!(result, Err(ExecError::Timeout { .. })),
        "{result:?}"
    );
    assert!(Instant::now().saturating_duration_since(deadline) < Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        rows(
            &f,
            "SELECT count(*) AS n FROM analytics_db__events WHERE name = 'late'",
            vec![]
        )
        .await,
        json!([{"n": 0}])
    );
    // The writer is free again.
    let ok = run(
        &f,
        job(
            "INSERT INTO analytics_db__events (name) VALUES ('after')",
            vec![],
        ),
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn batch_is_all_or_nothing() {
    let f = fixture();
    let mut j = job(
        "INSERT INTO analytics_db__events (name, n) VALUES ($1, $2)",
        vec![],
    );
    j.executions = vec![
        vec![SqlValue::Text("x1".into()), SqlValue::Integer(1)],
        vec![SqlValue::Text("x2".into()), SqlValue::Integer(2)],
        vec![SqlValue::Text("a".into()), SqlValue::Integer(3)],
    ];
    match run(&f, j).await {
        Err(ExecError::Execution {
            constraint: Some(Constraint::Unique),
            batch_index: Some(2),
            ..
        }) => {}
        other => panic!("expected a unique violation at entry 2, got {other:?}"),
    }
    assert_eq!(
        rows(&f, "SELECT count(*) AS c FROM analytics_db__events", vec![]).await,
        json!([{"c": 3}])
    );

    let mut j = job(
        "INSERT INTO analytics_db__events (name) VALUES ($1) RETURNING id, name",
        vec![],
    );
    j.executions = vec![
        vec![SqlValue::Text("y1".into())],
        vec![SqlValue::Text("y2".into())],
    ];
    let outcome = run(&f, j).await.unwrap();
    assert_eq!(outcome.row_count, 2);
    assert_eq!(
        rows_as_json(outcome.rows),
        json!([{"id": 4, "name": "y1"}, {"id": 5, "name": "y2"}])
    );
}

#[tokio::test]
async fn constraint_kinds_are_reported() {
    let f = fixture();
    let cases = [
        (
            "INSERT INTO analytics_db__events (name) VALUES ('a')",
            Constraint::Unique,
        ),
        (
            "INSERT INTO analytics_db__events (name) VALUES (NULL)",
            Constraint::NotNull,
        ),
        (
            "INSERT INTO analytics_db__tags (event_id, tag) VALUES (999, 'x')",
            Constraint::ForeignKey,
        ),
    ];
    for (sql, expected) in cases {
        match run(&f, job(sql, vec![])).await {
            Err(ExecError::Execution { constraint, .. }) => {
                assert_eq!(constraint, Some(expected), "{sql}")
            }
            other => panic!("{sql}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn readers_do_not_wait_for_the_writer() {
    let f = fixture();
    // Another connection (as another process would) holds the write lock with an
    // uncommitted change.
    let path = f._dir.path().join("test.db");
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE; UPDATE analytics_db__events SET n = 100;")
            .unwrap();
        held_tx.send(()).unwrap();
        release_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        conn.execute_batch("COMMIT").unwrap();
    });
    held_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let started = Instant::now();
    let got = rows(&f, "SELECT sum(n) AS s FROM analytics_db__events", vec![]).await;
    let waited = started.elapsed();
    release_tx.send(()).unwrap();
    writer.join().unwrap();
    // The reader saw the last committed state without waiting for the open write.
    assert_eq!(got, json!([{"s": 6}]));
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!(
        rows(&f, "SELECT sum(n) AS s FROM analytics_db__events", vec![]).await,
        json!([{"s": 300}])
    );
}

#[tokio::test]
async fn count_over_a_cte_is_allowed_but_not_over_a_foreign_table() {
    let f = fixture();
    let got = rows(
        &f,
        "WITH c(x) AS (VALUES (1), (2)) SELECT count(*) AS n FROM c",
        vec![],
    )
    .await;
    assert_eq!(got, json!([{"n": 2}]));
    assert_eq!(
        denial(&f, "SELECT count(*) FROM quote_db__quotes").await,
        Denial::ForeignTable("quote_db__quotes".into())
    );
    // A CTE that shadows a real foreign table's name stays refused: the guard cannot
    // tell them apart, and refusing is the safe side.
    assert!(
        run(
            &f,
            job(
                "WITH quote_db__quotes AS (SELECT 1) SELECT count(*) FROM quote_db__quotes",
                vec![]
            )
        )
        .await
        .is_err()
    );
}

#[test]
fn migrations_apply_once_in_order_and_refuse_foreign_objects() {
    let dir = tempfile::tempdir().unwrap();
    write_migration(
        dir.path(),
        "analytics-db",
        "001_init.sql",
        "CREATE TABLE analytics_db__t (a INTEGER);",
    );
    write_migration(
        dir.path(),
        "analytics-db",
        "002_seed.sql",
        "INSERT INTO analytics_db__t VALUES (1);",
    );
    write_migration(
        dir.path(),
        "quote-db",
        "001_init.sql",
        "CREATE TABLE quote_db__quotes (id INTEGER PRIMARY KEY, t TEXT);",
    );
    drop(open(dir.path()).unwrap());
    // Applied once: re-opening would fail on CREATE TABLE and double the seed otherwise.
    drop(open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM analytics_db__t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);

    // A changed file is refused.
    write_migration(
        dir.path(),
        "analytics-db",
        "002_seed.sql",
        "INSERT INTO analytics_db__t VALUES (2);",
    );
    let err = open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("analytics-db/002_seed.sql") && err.contains("changed"),
        "{err}"
    );
    write_migration(
        dir.path(),
        "analytics-db",
        "002_seed.sql",
        "INSERT INTO analytics_db__t VALUES (1);",
    );

    let refused = [
        (
            "CREATE TABLE quote_db__stolen (a);",
            "'quote_db__stolen' is outside the plugin's prefix 'analytics_db__'",
        ),
        (
            "CREATE INDEX analytics_db__i ON quote_db__quotes(id);",
            "outside the plugin's prefix",
        ),
        (
            "INSERT INTO quote_db__quotes VALUES (9, 'x');",
            "'quote_db__quotes'",
        ),
        ("PRAGMA writable_schema = 1;", "PRAGMA"),
        ("ATTACH DATABASE 'x.db' AS x;", "ATTACH"),
        ("DROP TABLE sqlite_master;", "system object"),
    ];
    for (sql, expected) in refused {
        write_migration(dir.path(), "analytics-db", "003_bad.sql", sql);
        let err = open(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                crate::engine::OpenError::Migration(MigrationError::Refused { .. })
            ) && text.contains("analytics-db/003_bad.sql")
                && text.contains(expected),
            "{sql}: {text}"
        );
    }
    // Nothing of the refused migrations stayed behind.
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'quote_db__stolen' OR name = 'analytics_db__i'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 0);
}

#[tokio::test]
async fn one_plugins_slow_reads_never_take_every_reader() {
    let f = fixture(); // two readers: each plugin may hold one
    let slow = |plugin: &str| {
        let mut j = job(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            vec![],
        );
        j.plugin = Plugin::new(plugin).unwrap();
        j.timeout_ms = 3000;
        j.deadline = Instant::now() + Duration::from_millis(3000);
        j
    };
    let other = async {
        // Let the slow reads start and take what they can.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut fast = job("SELECT 1 AS one", vec![]);
        fast.plugin = Plugin::new("quote-db").unwrap();
        let started = Instant::now();
        let outcome = run(&f, fast).await;
        (outcome.is_ok(), started.elapsed())
    };
    let (a, b, (ok, waited)) = tokio::join!(
        run(&f, slow("analytics-db")),
        run(&f, slow("analytics-db")),
        other
    );
    assert!(ok);
    assert!(
        waited < Duration::from_secs(1),
        "the other plugin waited {waited:?}"
    );
    // Both slow reads ran out of time: the second one waited for its plugin's only slot.
    assert!(
        matches!(a, Err(ExecError::Timeout { .. })) && matches!(b, Err(ExecError::Timeout { .. }))
    );
}

fn claim(key: &str, fingerprint: &str) -> crate::engine::Claim {
    crate::engine::Claim {
        plugin: Plugin::new("analytics-db").unwrap(),
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
        deadline: Instant::now() + Duration::from_secs(10),
        timeout_ms: 10_000,
    }
}

async fn count_named(f: &Fixture, name: &str) -> serde_json::Value {
    let outcome = run(
        f,
        job(
            "SELECT count(*) AS n FROM analytics_db__events WHERE name = $1",
            vec![SqlValue::Text(name.to_owned())],
        ),
    )
    .await
    .unwrap();
    rows_as_json(outcome.rows)[0]["n"].clone()
}

#[tokio::test]
async fn a_claimed_write_commits_with_its_record_and_is_replayed() {
    use crate::engine::{Claimed, Recorded};
    let f = fixture();
    let Claimed::Fresh(mut session) = f.engine.claim(claim("k1", "fp")).await.unwrap() else {
        panic!("first use of the key");
    };
    let insert = job(
        "INSERT INTO analytics_db__events (name) VALUES ($1)",
        vec![SqlValue::Text("claimed".into())],
    );
    assert_eq!(session.execute(insert).await.unwrap().row_count, 1);
    let recorded = Recorded {
        body: b"{\"first\":true}".to_vec(),
        outcome: None,
    };
    session.finish(Some(recorded.clone())).await.unwrap();
    assert_eq!(count_named(&f, "claimed").await, json!(1));

    match f.engine.claim(claim("k1", "fp")).await.unwrap() {
        Claimed::Replay(replay) => assert_eq!(replay, recorded),
        other => panic!("expected a replay, got {other:?}"),
    }
    assert!(matches!(
        f.engine.claim(claim("k1", "other")).await.unwrap(),
        Claimed::Reused
    ));
}

#[tokio::test]
async fn a_failed_claimed_write_is_undone_and_an_unrecorded_one_leaves_no_trace() {
    use crate::engine::{Claimed, Recorded};
    let f = fixture();
    // A failing statement after a successful one in the same session: only the failure's
    // own changes are undone (none), and the record commits.
    let Claimed::Fresh(mut session) = f.engine.claim(claim("k2", "fp")).await.unwrap() else {
        panic!("first use of the key");
    };
    let duplicate = job(
        "INSERT INTO analytics_db__events (name) VALUES ($1)",
        vec![SqlValue::Text("a".into())],
    );
    let err = session.execute(duplicate).await.unwrap_err();
    assert!(matches!(
        err,
        ExecError::Execution {
            constraint: Some(Constraint::Unique),
            ..
        }
    ));
    session
        .finish(Some(Recorded {
            body: b"{\"error\":\"EXECUTION_ERROR\"}".to_vec(),
            outcome: Some(sql_core::ErrorCode::ExecutionError),
        }))
        .await
        .unwrap();
    assert!(matches!(
        f.engine.claim(claim("k2", "fp")).await.unwrap(),
        Claimed::Replay(Recorded {
            outcome: Some(sql_core::ErrorCode::ExecutionError),
            ..
        })
    ));

    // Finished without a record (a transient outcome): the write and the key are gone.
    let Claimed::Fresh(mut session) = f.engine.claim(claim("k3", "fp")).await.unwrap() else {
        panic!("first use of the key");
    };
    let insert = job(
        "INSERT INTO analytics_db__events (name) VALUES ($1)",
        vec![SqlValue::Text("rolled-back".into())],
    );
    session.execute(insert).await.unwrap();
    session.finish(None).await.unwrap();
    assert_eq!(count_named(&f, "rolled-back").await, json!(0));
    assert!(matches!(
        f.engine.claim(claim("k3", "fp")).await.unwrap(),
        Claimed::Fresh(_)
    ));
}

/// Own-table SQL that SQLite reports in unusual ways runs: its JSON operators are
/// functions named `->` and `->>` to the authorizer, and `FULL JOIN ... USING` reads the
/// columns of a subquery's or CTE's alias as if it were a table. Names that are virtual
/// tables stay refused, with or without columns.
#[tokio::test]
async fn own_table_sql_is_not_refused_for_how_sqlite_reports_it() {
    let f = fixture();
    let allowed = [
        (
            "SELECT '{\"a\":1}' -> '$.a' AS x, '{\"a\":1}' ->> 'a' AS y",
            json!([{"x": "1", "y": 1}]),
        ),
        (
            "SELECT count(*) AS n FROM (SELECT id FROM analytics_db__events) a \
             FULL JOIN analytics_db__events b USING (id)",
            json!([{"n": 3}]),
        ),
        (
            "WITH c AS (SELECT id FROM analytics_db__events WHERE n < 3) \
             SELECT count(*) AS n FROM c FULL JOIN (SELECT id FROM analytics_db__events) b USING (id)",
            json!([{"n": 3}]),
        ),
    ];
    for (sql, expected) in allowed {
        assert_eq!(rows(&f, sql, vec![]).await, expected, "{sql}");
    }
    for sql in [
        "SELECT count(*) FROM dbstat",
        "SELECT * FROM dbstat",
        "SELECT count(*) FROM pragma_table_info('quote_db__quotes')",
        "SELECT * FROM pragma_module_list",
        "SELECT * FROM (SELECT id FROM analytics_db__events) a FULL JOIN quote_db__quotes q USING (id)",
    ] {
        let denied = denial(&f, sql).await;
        assert!(
            matches!(
                denied,
                Denial::ForeignTable(_) | Denial::SystemTable(_) | Denial::Action(_)
            ),
            "{sql}: {denied:?}"
        );
    }
}

/// The first migration of the ALTER TABLE tests: an AUTOINCREMENT key (so a rename moves
/// its `sqlite_sequence` row), and an index, a view and a trigger over the columns that
/// the second migration renames, which SQLite rewrites with them.
const ITEMS: &str = "
CREATE TABLE analytics_db__items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, n INTEGER, note TEXT);
CREATE INDEX analytics_db__items_by_name ON analytics_db__items(name);
CREATE VIEW analytics_db__item_names AS SELECT id, name AS label FROM analytics_db__items;
CREATE TRIGGER analytics_db__items_len AFTER INSERT ON analytics_db__items
BEGIN UPDATE analytics_db__items SET n = length(new.name) WHERE id = new.id; END;
INSERT INTO analytics_db__items (name, note) VALUES ('a', 'x'), ('bb', 'y');
";

const QUOTES: &str = "CREATE TABLE quote_db__quotes (id INTEGER PRIMARY KEY, text TEXT); \
                      INSERT INTO quote_db__quotes VALUES (1, 'secret');";

/// Applies [`ITEMS`] (and quote-db's table), then, on a second start as a later
/// deployment would, `second` as analytics-db's next migration.
fn evolve(
    second: &str,
) -> (
    tempfile::TempDir,
    Result<SqliteEngine, crate::engine::OpenError>,
) {
    let dir = tempfile::tempdir().unwrap();
    write_migration(dir.path(), "analytics-db", "001_items.sql", ITEMS);
    write_migration(dir.path(), "quote-db", "001_init.sql", QUOTES);
    drop(open(dir.path()).unwrap());
    write_migration(dir.path(), "analytics-db", "002_alter.sql", second);
    let engine = open(dir.path());
    (dir, engine)
}

/// One schema change: the migration, a request in the new shape (the trigger fills `n`
/// with the name's length), what reading it all back returns, and a request in the old
/// shape that must now fail.
struct Evolution {
    migration: &'static str,
    write: &'static str,
    read: &'static str,
    expected: serde_json::Value,
    stale: Option<&'static str>,
}

#[tokio::test]
async fn migrations_rename_drop_and_add_columns_and_rename_own_tables() {
    let cases = [
        Evolution {
            migration: "ALTER TABLE analytics_db__items RENAME COLUMN name TO title;",
            write: "INSERT INTO analytics_db__items (title) VALUES ('ccc')",
            // INDEXED BY fails unless the index now covers `title`.
            read: "SELECT i.title, v.label, i.n FROM analytics_db__items i \
                   INDEXED BY analytics_db__items_by_name \
                   JOIN analytics_db__item_names v USING (id) WHERE i.title > '' ORDER BY i.id",
            expected: json!([
                {"title": "a", "label": "a", "n": 1},
                {"title": "bb", "label": "bb", "n": 2},
                {"title": "ccc", "label": "ccc", "n": 3},
            ]),
            stale: Some("SELECT name FROM analytics_db__items"),
        },
        Evolution {
            migration: "ALTER TABLE analytics_db__items RENAME TO analytics_db__things;",
            write: "INSERT INTO analytics_db__things (name) VALUES ('ccc')",
            read: "SELECT t.id, v.label, t.n FROM analytics_db__things t \
                   INDEXED BY analytics_db__items_by_name \
                   JOIN analytics_db__item_names v USING (id) WHERE t.name > '' ORDER BY t.id",
            expected: json!([
                {"id": 1, "label": "a", "n": 1},
                {"id": 2, "label": "bb", "n": 2},
                {"id": 3, "label": "ccc", "n": 3},
            ]),
            stale: Some("SELECT name FROM analytics_db__items"),
        },
        Evolution {
            migration: "ALTER TABLE analytics_db__items DROP COLUMN note;",
            write: "INSERT INTO analytics_db__items (name) VALUES ('ccc')",
            read: "SELECT * FROM analytics_db__items ORDER BY id",
            expected: json!([
                {"id": 1, "name": "a", "n": 1},
                {"id": 2, "name": "bb", "n": 2},
                {"id": 3, "name": "ccc", "n": 3},
            ]),
            stale: Some("SELECT note FROM analytics_db__items"),
        },
        Evolution {
            migration: "ALTER TABLE analytics_db__items ADD COLUMN tag TEXT NOT NULL DEFAULT 'none';",
            write: "INSERT INTO analytics_db__items (name, tag) VALUES ('ccc', 'new')",
            read: "SELECT v.label, i.tag, i.n FROM analytics_db__items i \
                   JOIN analytics_db__item_names v USING (id) ORDER BY i.id",
            expected: json!([
                {"label": "a", "tag": "none", "n": 1},
                {"label": "bb", "tag": "none", "n": 2},
                {"label": "ccc", "tag": "new", "n": 3},
            ]),
            stale: None,
        },
        // A CHECK makes SQLite test the existing rows with pragma_quick_check.
        Evolution {
            migration: "ALTER TABLE analytics_db__items ADD COLUMN score REAL NOT NULL DEFAULT 0 \
                        CHECK (abs(score) < 100);",
            write: "INSERT INTO analytics_db__items (name, score) VALUES ('ccc', 5)",
            read: "SELECT name, score FROM analytics_db__items ORDER BY id",
            expected: json!([
                {"name": "a", "score": 0.0},
                {"name": "bb", "score": 0.0},
                {"name": "ccc", "score": 5.0},
            ]),
            stale: Some("INSERT INTO analytics_db__items (name, score) VALUES ('d', 500)"),
        },
        // Several changes in one file, other statements between them.
        Evolution {
            migration: "ALTER TABLE analytics_db__items RENAME COLUMN name TO title;
                        CREATE INDEX analytics_db__items_by_n ON analytics_db__items(n);
                        ALTER TABLE analytics_db__items RENAME TO analytics_db__things;
                        UPDATE analytics_db__things SET title = upper(title);
                        ALTER TABLE analytics_db__things DROP COLUMN note;",
            write: "INSERT INTO analytics_db__things (title) VALUES ('ccc')",
            read: "SELECT * FROM analytics_db__things ORDER BY id",
            expected: json!([
                {"id": 1, "title": "A", "n": 1},
                {"id": 2, "title": "BB", "n": 2},
                {"id": 3, "title": "ccc", "n": 3},
            ]),
            stale: Some("SELECT title FROM analytics_db__items"),
        },
    ];
    for case in cases {
        let sql = case.migration;
        let (dir, engine) = evolve(sql);
        let f = Fixture {
            _dir: dir,
            engine: engine.unwrap_or_else(|e| panic!("{sql}: {e}")),
        };
        run(&f, job(case.write, vec![]))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {}: {e:?}", case.write));
        assert_eq!(rows(&f, case.read, vec![]).await, case.expected, "{sql}");
        if let Some(stale) = case.stale {
            let outcome = run(&f, job(stale, vec![])).await;
            assert!(
                matches!(outcome, Err(ExecError::Execution { .. })),
                "{sql}: {stale}: {outcome:?}"
            );
        }
    }
}

#[test]
fn migrations_may_not_rename_outside_the_prefix_or_alter_foreign_tables() {
    let refused = [
        (
            "ALTER TABLE analytics_db__items RENAME TO quote_db__items;",
            "it renames 'analytics_db__items' to 'quote_db__items', outside the plugin's prefix 'analytics_db__'",
        ),
        (
            "ALTER TABLE analytics_db__items RENAME TO x;",
            "to 'x', outside",
        ),
        (
            "ALTER TABLE analytics_db__items RENAME TO \"quote_db__items\";",
            "to 'quote_db__items', outside",
        ),
        (
            "ALTER TABLE analytics_db__items RENAME TO [quote_db__items];",
            "to 'quote_db__items', outside",
        ),
        // SQLite takes a string literal for the name too.
        (
            "ALTER TABLE analytics_db__items RENAME TO 'quote_db__items';",
            "to 'quote_db__items', outside",
        ),
        (
            "alter table /* c */ main.analytics_db__items rename to quote_db__x;",
            "to 'quote_db__x', outside",
        ),
        // The whole file is undone, the first change included.
        (
            "ALTER TABLE analytics_db__items RENAME COLUMN name TO title;
             ALTER TABLE analytics_db__items RENAME TO x;",
            "to 'x', outside",
        ),
        (
            "ALTER TABLE quote_db__quotes RENAME COLUMN text TO body;",
            "'quote_db__quotes' is outside the plugin's prefix 'analytics_db__'",
        ),
        (
            "ALTER TABLE quote_db__quotes DROP COLUMN text;",
            "'quote_db__quotes' is outside",
        ),
        (
            "ALTER TABLE quote_db__quotes ADD COLUMN x INTEGER;",
            "'quote_db__quotes' is outside",
        ),
        (
            "ALTER TABLE quote_db__quotes RENAME TO analytics_db__stolen;",
            "'quote_db__quotes' is outside",
        ),
        (
            "ALTER TABLE _sql_handler_migrations RENAME TO analytics_db__m;",
            "'_sql_handler_migrations' is outside",
        ),
        // SQLite's ALTER TABLE functions only inside an own table's ALTER TABLE: not in
        // the statement after one, nor in any other.
        (
            "ALTER TABLE analytics_db__items RENAME COLUMN name TO title;
             INSERT INTO analytics_db__items (title)
             VALUES (sqlite_rename_test('main', 'x', 'table', 'a', 0, 'b', 0));",
            "function sqlite_rename_test() is not allowed",
        ),
        (
            "INSERT INTO analytics_db__items (name) VALUES (sqlite_drop_column(1, 'x', 0));",
            "function sqlite_drop_column() is not allowed",
        ),
        (
            "SELECT * FROM pragma_quick_check('quote_db__quotes');",
            "pragma_quick_check",
        ),
        // What SQLite stores from ADD COLUMN without asking the authorizer.
        (
            "ALTER TABLE analytics_db__items ADD COLUMN z AS (zeroblob(n));",
            "column z calls zeroblob(), which is not allowed",
        ),
        (
            "ALTER TABLE analytics_db__items ADD COLUMN z INTEGER CHECK (length(randomblob(n)) > 0);",
            "calls randomblob()",
        ),
        (
            "ALTER TABLE analytics_db__items ADD COLUMN q INTEGER REFERENCES quote_db__quotes(id);",
            "column q references 'quote_db__quotes', outside the plugin's prefix",
        ),
    ];
    for (sql, expected) in refused {
        let (dir, engine) = evolve(sql);
        let err = engine.err();
        let text = err.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(
            matches!(
                err,
                Some(crate::engine::OpenError::Migration(
                    MigrationError::Refused { .. }
                ))
            ) && text.contains("analytics-db/002_alter.sql")
                && text.contains(expected),
            "{sql}: {err:?}"
        );
        // Nothing of it stayed behind.
        let conn = rusqlite::Connection::open(dir.path().join("test.db")).unwrap();
        let columns = |table: &str| -> String {
            conn.query_row(
                "SELECT group_concat(name, ',') FROM pragma_table_info(?1)",
                [table],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(columns("analytics_db__items"), "id,name,n,note", "{sql}");
        assert_eq!(columns("quote_db__quotes"), "id,text", "{sql}");
        let names = |query: &str| -> String { conn.query_row(query, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            names(
                "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite%' AND name NOT LIKE '\\_sql\\_handler%' ESCAPE '\\' \
                 ORDER BY name)"
            ),
            "analytics_db__item_names,analytics_db__items,analytics_db__items_by_name,\
             analytics_db__items_len,quote_db__quotes",
            "{sql}"
        );
        assert_eq!(
            names("SELECT group_concat(name, ',') FROM sqlite_sequence"),
            "analytics_db__items",
            "{sql}"
        );
    }
}

/// SQLite's ALTER TABLE helpers are refused by the guard in a request, whatever the
/// statement; SQLite would refuse them too, but only after the authorizer allowed them.
#[tokio::test]
async fn requests_may_not_call_sqlites_alter_table_functions() {
    let f = fixture();
    let calls = [
        (
            "SELECT sqlite_rename_table('main', 'table', 'analytics_db__events', \
             'CREATE TABLE analytics_db__events (id)', 'analytics_db__events', 'quote_db__x', 0)",
            "sqlite_rename_table",
        ),
        (
            "SELECT sqlite_rename_column('CREATE TABLE analytics_db__events (n)', 'table', \
             'analytics_db__events', 'main', 'analytics_db__events', 0, 'm', 0, 0)",
            "sqlite_rename_column",
        ),
        (
            "SELECT sqlite_rename_test('main', 'CREATE TABLE x (a)', 'table', 'x', 0, 'x', 0)",
            "sqlite_rename_test",
        ),
        (
            "SELECT name FROM analytics_db__events WHERE sqlite_rename_quotefix('main', name) IS NULL",
            "sqlite_rename_quotefix",
        ),
        (
            "UPDATE analytics_db__events SET name = sqlite_drop_column(1, name, 0)",
            "sqlite_drop_column",
        ),
    ];
    for (sql, function) in calls {
        assert_eq!(
            denial(&f, sql).await,
            Denial::Function(function.into()),
            "{sql}"
        );
    }
    for sql in [
        "ALTER TABLE analytics_db__events RENAME COLUMN n TO m",
        "ALTER TABLE analytics_db__events RENAME TO analytics_db__e",
        "ALTER TABLE analytics_db__events DROP COLUMN score",
        "ALTER TABLE analytics_db__events ADD COLUMN z TEXT",
    ] {
        assert_eq!(
            denial(&f, sql).await,
            Denial::Action("schema changes outside migrations"),
            "{sql}"
        );
    }
}

#[tokio::test]
async fn a_statement_prepared_for_one_plugin_never_serves_another() {
    let f = fixture();
    let sql = "SELECT text FROM quote_db__quotes WHERE id = 1";
    let as_owner = |n: usize| {
        let mut job = job(sql, vec![]);
        job.plugin = Plugin::new("quote-db").unwrap();
        (n, job)
    };
    // Prepared and cached on every reader by its owner (two readers, so run it often).
    for (_, job) in (0..4).map(as_owner) {
        let outcome = run(&f, job).await.unwrap();
        assert_eq!(rows_as_json(outcome.rows), json!([{"text": "secret"}]));
    }
    // The same text from another plugin, with no parser check in front: refused each time.
    for _ in 0..4 {
        assert_eq!(
            denial(&f, sql).await,
            Denial::ForeignTable("quote_db__quotes".into())
        );
    }
    // Its owner still gets the cached statement's rows.
    let outcome = run(&f, as_owner(0).1).await.unwrap();
    assert_eq!(rows_as_json(outcome.rows), json!([{"text": "secret"}]));
}

#[tokio::test]
async fn a_cached_statement_prepared_again_after_a_schema_change_is_guarded_again() {
    let f = fixture();
    let sql = "SELECT count(*) AS n FROM analytics_db__events";
    for _ in 0..4 {
        assert_eq!(rows(&f, sql, vec![]).await, json!([{"n": 3}]));
    }
    // Another process (here the writer, unguarded) changes the schema under the cached
    // statements: SQLite prepares them again, and a guard that now refuses must see it.
    f.engine
        .with_writer(|conn| {
            conn.execute_batch(
                "DROP VIEW analytics_db__named; ALTER TABLE analytics_db__events RENAME TO quote_db__stolen; CREATE VIEW analytics_db__events AS SELECT * FROM quote_db__stolen;",
            )
            .unwrap()
        })
        .await;
    for _ in 0..4 {
        assert_eq!(
            denial(&f, sql).await,
            Denial::ForeignTable("quote_db__stolen".into())
        );
    }
}

#[tokio::test]
async fn a_read_that_outruns_the_in_place_budget_is_run_again_in_the_pool() {
    let f = fixture();
    // Millions of steps: far past the in-place budget, well inside the deadline.
    let sql = "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 300000) \
               SELECT count(*) AS n FROM s";
    let key = super::statement_key(&job(sql, vec![]));
    assert_eq!(rows(&f, sql, vec![]).await, json!([{"n": 300000}]));
    assert!(
        f.engine.inline.allows(&key, current_version(&f).await),
        "its first run found only step-bounded functions"
    );
    // Now tried in place, stopped at the budget, and answered from the pool.
    for _ in 0..3 {
        assert_eq!(rows(&f, sql, vec![]).await, json!([{"n": 300000}]));
    }
}

#[tokio::test]
async fn a_read_calling_a_function_whose_one_call_can_run_long_never_runs_in_place() {
    let f = fixture();
    let cases = [
        "SELECT json_extract('{\"a\": 1}', '$.a') AS v FROM analytics_db__events",
        "SELECT max(id, n) AS v FROM analytics_db__events",
        "SELECT date('now', '+1 day') AS v FROM analytics_db__events",
        // Through a view: the authorizer sees what the view calls.
        "SELECT * FROM analytics_db__late",
    ];
    f.engine
        .with_writer(|conn| {
            conn.execute_batch(
                "CREATE VIEW analytics_db__late AS SELECT datetime(n, 'unixepoch') AS at FROM analytics_db__events",
            )
            .unwrap()
        })
        .await;
    for sql in cases {
        run(&f, job(sql, vec![])).await.unwrap();
        let key = super::statement_key(&job(sql, vec![]));
        assert!(
            !f.engine.inline.allows(&key, current_version(&f).await),
            "{sql} was allowed in place"
        );
    }
    let plain = "SELECT id, upper(name) AS name FROM analytics_db__events WHERE id = 1";
    run(&f, job(plain, vec![])).await.unwrap();
    let key = super::statement_key(&job(plain, vec![]));
    assert!(f.engine.inline.allows(&key, current_version(&f).await));
}

async fn current_version(f: &Fixture) -> i64 {
    f.engine
        .with_writer(|conn| super::schema_version(conn).unwrap())
        .await
}

/// Writes that queue behind a busy writer share a transaction (`group_commit`), and each
/// still stands alone: the failing one gets its error, the one answered TIMEOUT never
/// commits (its stuck step makes SQLite drop the whole transaction, and the others run
/// again), and every other one is committed when it is told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_committed_together_still_succeed_or_fail_alone() {
    let f = Arc::new(fixture_with_sleep(2).await);
    let insert = |name: &str| {
        job(
            &format!("INSERT INTO analytics_db__events (name, n) VALUES ('{name}', 1)"),
            vec![],
        )
    };
    // Holds the writer while the others queue.
    let first = {
        let f = Arc::clone(&f);
        tokio::spawn(async move {
            run(
                &f,
                job(
                    "INSERT INTO analytics_db__events (name, n) VALUES ('first', test_sleep_ms(300))",
                    vec![],
                ),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut queued = Vec::new();
    for i in 0..12 {
        let job = match i {
            4 => insert("a"), // already there: UNIQUE
            7 => timed(
                "INSERT INTO analytics_db__events (name, n) VALUES ('stuck', test_sleep_ms(600))",
                200,
            ),
            _ => insert(&format!("w{i}")),
        };
        let f = Arc::clone(&f);
        queued.push((i, tokio::spawn(async move { run(&f, job).await })));
    }
    assert!(first.await.unwrap().is_ok());
    for (i, handle) in queued {
        let result = handle.await.unwrap();
        match i {
            4 => assert!(
                matches!(
                    result,
                    Err(ExecError::Execution {
                        constraint: Some(Constraint::Unique),
                        ..
                    })
                ),
                "{result:?}"
            ),
            7 => assert!(
                matches!(result, Err(ExecError::Timeout { .. })),
                "{result:?}"
            ),
            _ => assert_eq!(result.unwrap().row_count, 1, "write {i}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        rows(
            &f,
            "SELECT name FROM analytics_db__events WHERE name LIKE 'w%' OR name IN ('first', 'stuck') ORDER BY name",
            vec![]
        )
        .await,
        json!([
            {"name": "first"}, {"name": "w0"}, {"name": "w1"}, {"name": "w10"}, {"name": "w11"},
            {"name": "w2"}, {"name": "w3"}, {"name": "w5"}, {"name": "w6"}, {"name": "w8"},
            {"name": "w9"}
        ])
    );
}

/// Each read runs in a read transaction of its own (`begin_read`): whatever ended the
/// previous read on a reader (a result, a cut at max_rows, an error, a timeout, in place
/// or in the pool), the next one sees every write acknowledged before it.
#[tokio::test]
async fn every_read_sees_the_writes_acknowledged_before_it() {
    let f = fixture();
    let count = "SELECT count(*) AS n FROM analytics_db__events";
    for round in 0..6_i64 {
        let mut insert = job(
            "INSERT INTO analytics_db__events (name) VALUES ($1)",
            vec![SqlValue::Text(format!("round {round}"))],
        );
        insert.writes = true;
        insert.allow_write = true;
        run(&f, insert).await.unwrap();
        // Reads ended every way, on both readers, the statement's first runs in the pool
        // and the later ones in place.
        let mut cut = job("SELECT id FROM analytics_db__events", vec![]);
        cut.max_rows = 1;
        let _ = run(&f, cut).await.unwrap();
        let _ = run(
            &f,
            job("SELECT no_such_column FROM analytics_db__events", vec![]),
        )
        .await
        .unwrap_err();
        let mut slow = job(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            vec![],
        );
        slow.timeout_ms = 20;
        slow.deadline = Instant::now() + Duration::from_millis(20);
        let _ = run(&f, slow).await.unwrap_err();
        let (a, b) = tokio::join!(rows(&f, count, vec![]), rows(&f, count, vec![]));
        assert_eq!(a, json!([{"n": 4 + round}]));
        assert_eq!(b, a);
    }
}

/// A streamed read (`Job::chunks`) fills a chunk, hands it over, fills the next and then
/// waits for its consumer: the rows it holds stay bounded whatever the result's size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_waits_for_its_consumer_and_stops_without_one() {
    let f = fixture();
    let streamed = |n: u32| {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let mut j = job(
            &format!(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT x FROM c"
            ),
            vec![],
        );
        j.byte_budget = 4096;
        j.max_rows = usize::MAX;
        j.chunks = Some(sender);
        (j, receiver)
    };

    let (j, mut chunks) = streamed(100_000);
    let running = run(&f, j);
    tokio::pin!(running);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut running)
            .await
            .is_err(),
        "with no chunk taken, the statement waits"
    );
    let mut rows = 0;
    let mut count = 0;
    let last = loop {
        tokio::select! {
            biased;
            Some(chunk) = chunks.recv() => {
                assert!(chunk.len() > 0 && chunk.truncated().is_some());
                rows += chunk.len();
                count += 1;
            }
            outcome = &mut running => break outcome.unwrap(),
        }
    };
    while let Ok(chunk) = chunks.try_recv() {
        rows += chunk.len();
        count += 1;
    }
    rows += last.rows.len();
    assert_eq!(rows, 100_000, "every row, in {count} chunks and the last");
    assert!(count > 100, "{count}");
    assert_eq!(last.rows.truncated(), None);

    // Its consumer gone, a stream stops at the next full chunk instead of at its end.
    let (j, chunks) = streamed(10_000_000);
    drop(chunks);
    let started = Instant::now();
    let err = run(&f, j).await.unwrap_err();
    assert!(matches!(err, ExecError::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
