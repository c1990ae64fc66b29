//! NATS over TLS: the handler and a plugin verify a TLS-only `nats-server` against its CA
//! (`--nats-ca-file`, and `add_root_certificates` on the plugin's connect options), and
//! queries run as usual; a handler that cannot verify the server does not start.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use clap::Parser;
use sql_client::{ClientConfig, Credentials, Query, Row, Select, SqlClient};
use sql_client_tests::{REPLY_WAIT, Serving, TestDb, capture_logs, migrations_dir, start_handler};
use sql_core::Plugin;
use sql_handler::{Config, Handler, StartError};
use sql_test_harness::NatsServer;

#[tokio::test]
async fn handler_and_plugin_talk_over_verified_tls() {
    capture_logs();
    let nats = NatsServer::start_with_tls();
    let ca = nats.ca_file().unwrap().display().to_string();
    let db = TestDb::new();
    let handler = start_handler(&nats, &db, &["--nats-ca-file", &ca]).await;
    let serving = Serving::spawn(handler);

    let plugin = Plugin::new("analytics-db").unwrap();
    let (options, violations) = sql_client::connect_options(&plugin, Credentials::none());
    let connection = options
        .add_root_certificates(ca.clone().into())
        .require_tls(true)
        .connect(nats.url())
        .await
        .unwrap();
    let client = SqlClient::with_config(
        connection,
        plugin.name(),
        ClientConfig::default().permission_violations(violations),
    )
    .unwrap();
    let query: Query<Select> = Query::checked(
        "SELECT name FROM analytics_db__events WHERE user_id = $1 ORDER BY id",
        &plugin,
    )
    .unwrap()
    .bind("alice")
    .unwrap();
    let rows: Vec<Row> = client.select(query).await.unwrap().into_iter().collect();
    let names: Vec<String> = rows.iter().map(|r| r.get("name").unwrap()).collect();
    assert_eq!(names, ["login", "click"]);

    serving.stop().await;
}

#[tokio::test]
async fn a_handler_that_cannot_verify_the_server_does_not_start() {
    let nats = NatsServer::start_with_tls();
    let db = TestDb::new();
    let migrations = migrations_dir().display().to_string();
    let config = Config::try_parse_from([
        "sql-handler",
        "--nats-url",
        &nats.url(),
        "--database",
        &db.url(),
        "--migrations",
        &migrations,
    ])
    .unwrap();
    let started = tokio::time::timeout(REPLY_WAIT, Handler::start(&config))
        .await
        .expect("start-up gives up in time");
    match started {
        Err(StartError::Connect { source, .. }) => {
            let cause = format!("{source} {source:?}").to_lowercase();
            assert!(
                cause.contains("tls") || cause.contains("certificate"),
                "{cause}"
            );
        }
        Err(other) => panic!("expected a connection error, got {other}"),
        Ok(_) => panic!("the handler started without verifying the server"),
    }
}
