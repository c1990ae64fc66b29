//! NATS authorization (PROTOCOL.md section 8) with the shipped `deploy/nats-server.conf`:
//! each plugin publishes only its own subject and reads only its own inbox; a request the
//! server refuses fails at once with a permission error instead of a timeout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use sql_client::{ClientConfig, Credentials, Query, Row, Select, SqlClient, SqlError};
use sql_client_tests::{REPLY_WAIT, Serving, TestDb, capture_logs, start_handler};
use sql_core::Plugin;
use sql_test_harness::NatsServer;

const ANALYTICS_PASSWORD: &str = "test-analytics-password";
const QUOTE_PASSWORD: &str = "test-quote-password";
const HANDLER_PASSWORD: &str = "test-handler-password";

/// nats-server with the deployment's own configuration (the listen address and port are
/// overridden on the command line) and a handler logged in as `sql-handler`.
struct Deployment {
    nats: NatsServer,
    _db: TestDb,
    serving: Serving,
}

impl Deployment {
    async fn start() -> Self {
        Self::start_with_config(&deploy_config(), &[]).await
    }

    /// As [`Deployment::start`], with another configuration text and more variables.
    async fn start_with_config(config: &str, env: &[(&str, &str)]) -> Self {
        capture_logs();
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("nats-server.conf");
        std::fs::write(&file, config).unwrap();
        let file = file.display().to_string();
        let mut variables = vec![
            ("ANALYTICS_DB_PASSWORD", ANALYTICS_PASSWORD),
            ("QUOTE_DB_PASSWORD", QUOTE_PASSWORD),
            ("SQL_HANDLER_PASSWORD", HANDLER_PASSWORD),
        ];
        variables.extend_from_slice(env);
        let nats = NatsServer::start_with_env(&["-c", &file], &variables);
        let db = TestDb::new();
        let handler = start_handler(
            &nats,
            &db,
            &[
                "--nats-user",
                "sql-handler",
                "--nats-password",
                HANDLER_PASSWORD,
                "--nats-inbox-prefix",
                "_INBOX_sql-handler",
            ],
        )
        .await;
        Self {
            nats,
            _db: db,
            serving: Serving::spawn(handler),
        }
    }

    async fn client(&self, plugin: &str, password: &str, config: ClientConfig) -> SqlClient {
        tokio::time::timeout(
            REPLY_WAIT,
            sql_client::connect(
                self.nats.url(),
                plugin,
                Credentials::user_and_password(plugin, password),
                config,
            ),
        )
        .await
        .expect("connects in time")
        .expect("connects")
    }

    async fn stop(self) {
        self.serving.stop().await;
    }
}

/// The shipped `deploy/nats-server.conf`.
fn deploy_config() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats-server.conf");
    std::fs::read_to_string(path).unwrap()
}

fn select(plugin: &str, sql: &'static str) -> Query<Select> {
    Query::checked(sql, &Plugin::new(plugin).unwrap()).unwrap()
}

#[tokio::test]
async fn each_plugin_gets_its_own_queries_answered() {
    let deployment = Deployment::start().await;
    let analytics = deployment
        .client("analytics-db", ANALYTICS_PASSWORD, ClientConfig::default())
        .await;
    let rows: Vec<Row> = analytics
        .select(select(
            "analytics-db",
            "SELECT id FROM analytics_db__events ORDER BY id",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let quotes = deployment
        .client("quote-db", QUOTE_PASSWORD, ClientConfig::default())
        .await;
    let quote: Option<Row> = quotes
        .select_one(select(
            "quote-db",
            "SELECT text FROM quote_db__quotes WHERE id = 1",
        ))
        .await
        .unwrap();
    assert_eq!(
        quote.unwrap().get::<String>("text").unwrap(),
        "the secret quote"
    );
    deployment.stop().await;
}

/// A streamed read works under the deployment's permissions, and its subject is its
/// plugin's alone: another plugin's user cannot ask for its chunks.
#[tokio::test]
async fn streams_are_served_and_stay_their_plugins() {
    use futures::TryStreamExt as _;

    let deployment = Deployment::start().await;
    let analytics = deployment
        .client("analytics-db", ANALYTICS_PASSWORD, ClientConfig::default())
        .await;
    let query = Query::<Select>::checked(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000) SELECT x FROM c",
        &Plugin::new("analytics-db").unwrap(),
    )
    .unwrap();
    let count = analytics
        .select_stream::<Row>(query)
        .try_fold(0_u64, |n, _| async move { Ok(n + 1) })
        .await
        .unwrap();
    assert_eq!(
        count, 100_000,
        "several chunks, each asked for on the stream's subject"
    );

    // Another plugin's user, publishing on analytics-db's stream subjects.
    let (events, mut refused) = tokio::sync::mpsc::unbounded_channel();
    let nats = async_nats::ConnectOptions::with_user_and_password(
        "quote-db".to_owned(),
        QUOTE_PASSWORD.to_owned(),
    )
    .custom_inbox_prefix("_INBOX_quote-db")
    .event_callback(move |event| {
        let _ = events.send(event.to_string());
        async {}
    })
    .connect(deployment.nats.url())
    .await
    .unwrap();
    let subject = "rosey.db.sql.analytics-db.stream.0123456789abcdef";
    nats.publish(subject, r#"{"seq": 1}"#.into()).await.unwrap();
    nats.flush().await.unwrap();
    let violation = tokio::time::timeout(REPLY_WAIT, async {
        while let Some(event) = refused.recv().await {
            if event.contains("Permissions Violation") {
                return event;
            }
        }
        String::new()
    })
    .await
    .expect("the server refuses in time");
    assert!(violation.contains(subject), "{violation}");
    deployment.stop().await;
}

#[tokio::test]
async fn a_request_on_another_plugins_subject_is_refused_at_once() {
    let deployment = Deployment::start().await;
    let plugin = Plugin::new("analytics-db").unwrap();
    let (options, violations) = sql_client::connect_options(
        &plugin,
        Credentials::user_and_password("analytics-db", ANALYTICS_PASSWORD),
    );
    let nats = tokio::time::timeout(REPLY_WAIT, options.connect(deployment.nats.url()))
        .await
        .unwrap()
        .unwrap();
    // Plugin A's connection, pretending to be plugin B.
    let timeout = Duration::from_secs(10);
    let impostor = SqlClient::with_config(
        nats,
        "quote-db",
        ClientConfig::default()
            .timeout(timeout)
            .permission_violations(violations),
    )
    .unwrap();
    let started = Instant::now();
    let err = tokio::time::timeout(
        REPLY_WAIT,
        impostor.select::<Row>(select("quote-db", "SELECT text FROM quote_db__quotes")),
    )
    .await
    .expect("an answer in time")
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, SqlError::Permission(_)), "{err}");
    assert_eq!(err.code(), "NATS_PERMISSION_DENIED");
    assert!(
        err.message().contains("rosey.db.sql.quote-db.execute"),
        "{err}"
    );
    assert_eq!(err.details()["subject"], "rosey.db.sql.quote-db.execute");
    assert_eq!(err.details()["operation"], "publish");
    assert_eq!(
        err.detail().attempts(),
        1,
        "a permission error is not retried"
    );
    assert!(
        elapsed < timeout / 5,
        "took {elapsed:?}; the query's timeout is {timeout:?}"
    );
    deployment.stop().await;
}

/// A raw connection as plugin `analytics-db`, with the connection's events.
async fn analytics_with_events(
    deployment: &Deployment,
) -> (
    async_nats::Client,
    tokio::sync::mpsc::UnboundedReceiver<async_nats::Event>,
) {
    let (events_tx, events) = tokio::sync::mpsc::unbounded_channel();
    let nats = async_nats::ConnectOptions::new()
        .user_and_password("analytics-db".to_owned(), ANALYTICS_PASSWORD.to_owned())
        .custom_inbox_prefix("_INBOX_analytics-db")
        .event_callback(move |event| {
            let _ = events_tx.send(event);
            async {}
        })
        .connect(deployment.nats.url())
        .await
        .unwrap();
    (nats, events)
}

/// The server's next report of a refused subscription.
async fn subscription_refused(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<async_nats::Event>,
) -> String {
    tokio::time::timeout(REPLY_WAIT, async {
        while let Some(event) = events.recv().await {
            if let async_nats::Event::ServerError(async_nats::ServerError::Other(message)) = event
                && message.contains("Permissions Violation for Subscription")
            {
                return message;
            }
        }
        panic!("the event channel closed");
    })
    .await
    .expect("the server reports the refused subscription")
}

#[tokio::test]
async fn a_plugin_cannot_intercept_requests() {
    let deployment = Deployment::start().await;
    let (snoop, mut events) = analytics_with_events(&deployment).await;
    let mut intercepted = snoop
        .queue_subscribe("rosey.db.sql.*.execute", "sql-handlers".to_owned())
        .await
        .unwrap();
    let refused = subscription_refused(&mut events).await;
    assert!(refused.contains("\"rosey.db.sql.*.execute\""), "{refused}");
    // Every request still reaches the real handler, none the impostor.
    let quotes = deployment
        .client("quote-db", QUOTE_PASSWORD, ClientConfig::default())
        .await;
    for _ in 0..5 {
        let rows: Vec<Row> = quotes
            .select(select("quote-db", "SELECT text FROM quote_db__quotes"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
    }
    let leaked = tokio::time::timeout(Duration::from_millis(300), intercepted.next()).await;
    assert!(
        !matches!(leaked, Ok(Some(_))),
        "plugin A received a request: {leaked:?}"
    );
    deployment.stop().await;
}

#[tokio::test]
async fn a_plugin_cannot_read_another_plugins_replies() {
    let deployment = Deployment::start().await;
    let (snoop, mut events) = analytics_with_events(&deployment).await;
    let mut stolen = snoop
        .subscribe("_INBOX_quote-db.>")
        .await
        .expect("the client accepts the subscription; the server refuses it");
    // The server answers the SUB with a permissions violation.
    let refused = subscription_refused(&mut events).await;
    assert!(refused.contains("\"_INBOX_quote-db.>\""), "{refused}");

    // Plugin B's replies are published on `_INBOX_quote-db.…`; none reaches A.
    let quotes = deployment
        .client("quote-db", QUOTE_PASSWORD, ClientConfig::default())
        .await;
    for _ in 0..3 {
        let rows: Vec<Row> = quotes
            .select(select("quote-db", "SELECT text FROM quote_db__quotes"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
    }
    let leaked = tokio::time::timeout(Duration::from_millis(300), stolen.next()).await;
    assert!(
        !matches!(leaked, Ok(Some(_))),
        "plugin A read plugin B's reply: {leaked:?}"
    );
    deployment.stop().await;
}

#[tokio::test]
async fn connections_without_the_right_password_are_refused() {
    let deployment = Deployment::start().await;
    let anonymous = tokio::time::timeout(REPLY_WAIT, async_nats::connect(deployment.nats.url()))
        .await
        .expect("an answer in time");
    assert!(anonymous.is_err(), "an anonymous connection was accepted");
    let wrong = tokio::time::timeout(
        REPLY_WAIT,
        sql_client::connect(
            deployment.nats.url(),
            "analytics-db",
            Credentials::user_and_password("analytics-db", QUOTE_PASSWORD),
            ClientConfig::default(),
        ),
    )
    .await
    .expect("an answer in time");
    assert!(
        matches!(wrong, Err(sql_client::ConnectError::Nats { .. })),
        "{wrong:?}"
    );
    deployment.stop().await;
}

/// The operator user the configuration's comment describes, uncommented, can list the
/// handlers through the micro-service API; a plugin's user cannot ask them.
#[tokio::test]
async fn the_documented_operator_user_lists_the_handlers() {
    let config = deploy_config();
    let (head, example) = config
        .split_once("such as:\n")
        .expect("the operator example");
    let (block, tail) = example.split_once("  ]\n}").expect("the end of the users");
    let uncommented: String = block
        .lines()
        .map(|line| line.replacen("# ", "", 1) + "\n")
        .collect();
    let config = format!("{head}\n{uncommented}  ]\n}}{tail}");
    let deployment =
        Deployment::start_with_config(&config, &[("OPS_PASSWORD", "test-ops-password")]).await;

    let ops = async_nats::ConnectOptions::with_user_and_password(
        "ops".to_owned(),
        "test-ops-password".to_owned(),
    )
    .connect(deployment.nats.url())
    .await
    .unwrap();
    let answer = tokio::time::timeout(REPLY_WAIT, ops.request("$SRV.PING.sql-handler", "".into()))
        .await
        .expect("an answer in time")
        .expect("the handler answers");
    let pong: async_nats::service::PingResponse = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(pong.name, "sql-handler");

    let plugin = async_nats::ConnectOptions::with_user_and_password(
        "analytics-db".to_owned(),
        ANALYTICS_PASSWORD.to_owned(),
    )
    .custom_inbox_prefix("_INBOX_analytics-db")
    .connect(deployment.nats.url())
    .await
    .unwrap();
    // Allowed, the answer would take milliseconds; refused, nothing comes.
    let request = async_nats::Request::new().timeout(Some(Duration::from_secs(2)));
    let refused = tokio::time::timeout(
        REPLY_WAIT,
        plugin.send_request("$SRV.PING.sql-handler".to_owned(), request),
    )
    .await
    .expect("refused in time");
    assert!(refused.is_err(), "a plugin got an answer: {refused:?}");
    deployment.stop().await;
}

/// A handler upgraded under a configuration written before discovery (no `$SRV.>` for its
/// user) still starts and serves: only its micro-service answers are missing.
#[tokio::test]
async fn without_the_discovery_permission_the_handler_still_serves() {
    let config = deploy_config().replace(", \"$SRV.>\"", "");
    assert!(
        config.contains("\"rosey.db.sql.*.stream.*\", \"_INBOX_sql-handler.>\"] }"),
        "the handler's subscribe permissions changed shape"
    );
    let deployment = Deployment::start_with_config(&config, &[]).await;
    let analytics = deployment
        .client("analytics-db", ANALYTICS_PASSWORD, ClientConfig::default())
        .await;
    let rows: Vec<Row> = analytics
        .select(select(
            "analytics-db",
            "SELECT id FROM analytics_db__events",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    deployment.stop().await;
}
