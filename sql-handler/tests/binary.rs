//! The `sql-handler` binary as an operator runs it: flags, start-up refusals, and a
//! graceful stop on SIGTERM with a request in flight.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sql_core::wire::Reply;
use sql_test_harness::NatsServer;

const BIN: &str = env!("CARGO_BIN_EXE_sql-handler");

#[test]
fn help_lists_every_setting_with_its_environment_variable() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--nats-url",
        "NATS_URL",
        "--database",
        "sqlite://sql-handler.db",
        "--migrations",
        "--subject-prefix",
        "--queue-group",
        "--max-concurrency",
        "--log-format",
        "--allow-function",
        "--rate-limit-per-minute",
        "SQL_HANDLER_RATE_LIMIT_PER_MINUTE",
        "--plugin-rate-limit",
        "SQL_HANDLER_PLUGIN_RATE_LIMITS",
        "--idempotency-retention-secs",
        "SQL_HANDLER_IDEMPOTENCY_RETENTION_SECS",
        "--metrics-addr",
        "SQL_HANDLER_METRICS_ADDR",
        "postgres://",
        "--postgres-pool-size",
        "SQL_HANDLER_POSTGRES_POOL_SIZE",
        "--nats-user",
        "--nats-inbox-prefix",
        "--config",
        "SQL_HANDLER_CONFIG",
        "--postgres-ca-file",
        "--nats-ca-file",
        "--nats-client-cert",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

/// Runs the binary with `args` and `env`, expects it to refuse to start, and returns what
/// it printed on stderr.
fn refused(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> String {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("SQL_HANDLER_DATABASE");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{args:?} started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_migration_touching_another_prefix_stops_the_start_with_a_clear_message() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("migrations/analytics-db/001_init.sql"),
        "CREATE TABLE quote_db__stolen (a);",
    );
    let output = Command::new(BIN)
        .args(["--nats-url", &nats.url(), "--migrations"])
        .arg(dir.path().join("migrations"))
        .arg("--database")
        .arg(format!("sqlite://{}", dir.path().join("h.db").display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("analytics-db/001_init.sql")
            && stderr.contains("quote_db__stolen")
            && stderr.contains("analytics_db__"),
        "{stderr}"
    );
}

#[test]
fn a_migration_the_schema_model_cannot_follow_stops_the_start_naming_file_and_line() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("migrations/analytics-db/001_init.sql"),
        "CREATE TABLE analytics_db__a (x TEXT);",
    );
    // A valid statement for SQLite, but it alters a table no migration created.
    write(
        &dir.path().join("migrations/analytics-db/002_more.sql"),
        "-- a second table\n\nALTER TABLE analytics_db__b ADD COLUMN y TEXT;",
    );
    let db = dir.path().join("h.db");
    let output = Command::new(BIN)
        .args(["--nats-url", &nats.url(), "--migrations"])
        .arg(dir.path().join("migrations"))
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("analytics-db/002_more.sql, line 3")
            && stderr.contains("ALTER TABLE of `analytics_db__b`"),
        "{stderr}"
    );
    // Refused before anything was applied.
    assert!(
        !db.exists() || std::fs::metadata(&db).unwrap().len() == 0,
        "the database was touched"
    );
}

#[test]
fn an_unsupported_database_url_is_refused_without_echoing_secrets() {
    let stderr = refused(
        &["--database".as_ref(), "mysql://root:hunter2@db/x".as_ref()],
        &[],
    );
    assert!(
        stderr.contains("mysql") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

/// A database file whose folder is missing is refused naming the folder, not with
/// SQLite's "unable to open database file".
#[test]
fn a_missing_database_folder_is_named() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/app.db");
    let stderr = refused(
        &[
            "--nats-url".as_ref(),
            nats.url().as_ref(),
            "--database".as_ref(),
            format!("sqlite://{}", db.display()).as_ref(),
        ],
        &[],
    );
    assert!(
        stderr.contains(&format!(
            "its folder {} does not exist",
            dir.path().join("data").display()
        )),
        "{stderr}"
    );
}

/// `migrate check` is for CI: success with a summary, or a non-zero exit naming the file.
#[test]
fn migrate_check_exits_non_zero_on_a_bad_migration() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("migrations");
    write(
        &folder.join("analytics-db/001_init.sql"),
        "CREATE TABLE analytics_db__t (a INTEGER);",
    );
    let check = || {
        Command::new(BIN)
            .args(["migrate", "check", "--migrations"])
            .arg(&folder)
            .output()
            .unwrap()
    };
    let good = check();
    assert!(good.status.success(), "{good:?}");
    assert!(
        String::from_utf8_lossy(&good.stdout).contains("pass"),
        "{good:?}"
    );
    write(
        &folder.join("analytics-db/002_bad.sql"),
        "CREATE TABLE quote_db__t (a INTEGER);",
    );
    let bad = check();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("002_bad.sql"), "{stderr}");
}

/// A refused start prints its message and causes, and no backtrace even when
/// `RUST_BACKTRACE` asks for one.
#[test]
fn a_refused_start_prints_the_message_alone() {
    let stderr = refused(
        &["--database".as_ref(), "mysql://db/x".as_ref()],
        &[("RUST_BACKTRACE", "1")],
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    assert!(!stderr.contains("Stack"), "{stderr}");
    assert!(stderr.lines().count() <= 3, "{stderr}");
}

/// The binary serving a fresh SQLite database in `dir` over `nats`, its stderr piped,
/// once it answers a query; and a client connection.
async fn serving(nats: &NatsServer, dir: &Path) -> (tokio::process::Child, async_nats::Client) {
    serving_with(nats, dir, "json").await
}

/// [`serving`], writing logs in `log_format`.
async fn serving_with(
    nats: &NatsServer,
    dir: &Path,
    log_format: &str,
) -> (tokio::process::Child, async_nats::Client) {
    write(
        &dir.join("migrations/analytics-db/001_init.sql"),
        "CREATE TABLE analytics_db__t (a INTEGER);",
    );
    let child = tokio::process::Command::new(BIN)
        .args([
            "--nats-url",
            &nats.url(),
            "--log-format",
            log_format,
            "--migrations",
        ])
        .arg(dir.join("migrations"))
        .arg("--database")
        .arg(format!("sqlite://{}", dir.join("h.db").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let client = async_nats::connect(nats.url()).await.unwrap();
    // Wait until the handler serves (it answers a trivial query).
    let started = Instant::now();
    loop {
        let probe = client
            .request(
                "rosey.db.sql.analytics-db.execute",
                br#"{"query": "SELECT 1"}"#.to_vec().into(),
            )
            .await;
        if probe.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "handler never became ready: {probe:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, client)
}

/// Waits for `child` to exit, expects success, and returns what it wrote on stderr.
async fn exited_cleanly(child: &mut tokio::process::Child) -> String {
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        pipe.read_to_string(&mut stderr).await.unwrap();
    }
    stderr
}

fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// A stream whose handler dies between chunks ends with `STREAM_LOST`, at once, after
/// the rows that came.
#[tokio::test]
async fn a_stream_whose_handler_dies_ends_with_a_clear_error() {
    use futures::TryStreamExt as _;

    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, client) = serving(&nats, dir.path()).await;
    let client = sql_client::SqlClient::new(client, "analytics-db").unwrap();
    let query = sql_client::Query::<sql_client::Select>::checked(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT x FROM c",
        client.plugin(),
    )
    .unwrap()
    .timeout(Duration::from_secs(20));
    let rows = client.select_stream::<sql_client::Row>(query);
    let mut rows = std::pin::pin!(rows);
    let first = rows.try_next().await.unwrap().unwrap();
    assert_eq!(first.get::<i64>("x").unwrap(), 1);
    signal(&child, "-KILL");
    child.wait().await.unwrap();
    let started = Instant::now();
    let mut came = 1;
    let err = loop {
        match rows.try_next().await {
            Ok(Some(_)) => came += 1,
            Ok(None) => panic!("the stream ended without its rows after {came}"),
            Err(err) => break err,
        }
    };
    assert!(came < 200_000, "{came}");
    assert_eq!(err.code(), "STREAM_LOST", "{err}");
    assert!(matches!(err, sql_client::SqlError::Transport(_)), "{err}");
    assert!(err.message().contains("cannot resume"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "told at once, not at the deadline: {:?}",
        started.elapsed()
    );
}

/// Text logs to something that is not a terminal (a file, a collector) carry no colour
/// codes.
#[tokio::test]
async fn text_logs_off_a_terminal_have_no_colour_codes() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _client) = serving_with(&nats, dir.path(), "text").await;
    signal(&child, "-TERM");
    let stderr = exited_cleanly(&mut child).await;
    assert!(stderr.contains("sql-handler ready"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[tokio::test]
async fn sigterm_answers_the_request_in_flight_then_exits_cleanly() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, client) = serving(&nats, dir.path()).await;

    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    let slow = br#"{"query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) AS n FROM c", "timeout_ms": 30000}"#;
    client
        .publish_with_reply(
            "rosey.db.sql.analytics-db.execute",
            inbox.clone(),
            slow.to_vec().into(),
        )
        .await
        .unwrap();
    // Round trip through the server so that the request has reached the handler's
    // connection before the signal.
    let echo_subject = client.new_inbox();
    let mut echo = client.subscribe(echo_subject.clone()).await.unwrap();
    client.publish(echo_subject, "".into()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), echo.next())
        .await
        .unwrap()
        .unwrap();

    signal(&child, "-TERM");

    let message = tokio::time::timeout(Duration::from_secs(30), replies.next())
        .await
        .unwrap()
        .unwrap();
    match Reply::from_slice(&message.payload) {
        Ok(Reply::Success(reply)) => assert_eq!(reply.rows[0]["n"], 3_000_000),
        other => panic!(
            "in-flight request not completed: {other:?} {:?}",
            message.status
        ),
    }
    let stderr = exited_cleanly(&mut child).await;
    // JSON log lines, one of them the audit record of the slow query.
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("\"target\":\"sql.audit\"") && l.contains("\"outcome\":\"OK\"")),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_postgres_server_stops_the_start_without_echoing_secrets() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let stderr = refused(
        &[
            "--database".as_ref(),
            "postgres://handler:hunter2@127.0.0.1:1/app".as_ref(),
        ],
        &[],
    );
    assert!(
        stderr.contains("127.0.0.1:1/app")
            && stderr.contains("refused")
            && !stderr.contains("hunter2"),
        "{stderr}"
    );
    let stderr = refused(
        &[
            "--database".as_ref(),
            "postgres://handler:hunter2@127.0.0.1:notaport/app".as_ref(),
        ],
        &[],
    );
    assert!(
        stderr.contains("postgres://") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

#[test]
fn a_configuration_file_is_read_and_the_environment_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sql-handler.toml");
    write(
        &file,
        "database = \"mysql://root:hunter2@db/x\"\nmax-concurrency = 8\n",
    );
    let stderr = refused(&["--config".as_ref(), file.as_os_str()], &[]);
    assert!(
        stderr.contains("mysql") && !stderr.contains("hunter2"),
        "the file's database is used: {stderr}"
    );

    let file_var = file.display().to_string();
    let stderr = refused(
        &[],
        &[
            ("SQL_HANDLER_CONFIG", &file_var),
            ("SQL_HANDLER_DATABASE", "postgres://u:pw@127.0.0.1:1/app"),
        ],
    );
    assert!(
        stderr.contains("127.0.0.1:1/app") && !stderr.contains("mysql"),
        "the environment wins over the file: {stderr}"
    );

    write(&file, "max-concurency = 8\n");
    let stderr = refused(&["--config".as_ref(), file.as_os_str()], &[]);
    assert!(stderr.contains("'max-concurency'"), "{stderr}");
}
