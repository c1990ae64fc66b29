//! The test handler against a real `nats-server` and the real handler, as a plugin's own
//! tests use it: this crate declares plugin `kit-demo` and `tests/migrations`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use sql_client::prelude::*;
use sql_client::{ClientConfig, SqlError};
use sql_client_test::{TestHandler, TestHandlerError};

#[derive(Debug, SqlRow)]
struct Score {
    player: String,
    points: i64,
}

#[tokio::test]
async fn runs_the_crates_migrations_for_its_plugin() {
    let handler = TestHandler::start().await.unwrap();
    assert_eq!(handler.plugin(), "kit-demo");
    let client = handler.client();
    let added = client
        .insert(sql!(
            "INSERT INTO kit_demo__scores (player, points) VALUES ($1, $2)",
            "ada",
            3
        ))
        .await
        .unwrap();
    assert_eq!(added, 1);
    let scores: Vec<Score> = client
        .select(sql!("SELECT player, points FROM kit_demo__scores"))
        .await
        .unwrap();
    assert_eq!(scores.len(), 1);
    assert_eq!((scores[0].player.as_str(), scores[0].points), ("ada", 3));
    assert!(handler.database_url().starts_with("sqlite://"));
    handler.stop().await;
}

#[tokio::test]
async fn each_handler_has_its_own_server_and_database() {
    let first = TestHandler::start().await.unwrap();
    let second = TestHandler::start().await.unwrap();
    assert_ne!(first.nats_url(), second.nats_url());
    assert_ne!(first.database_url(), second.database_url());
    first
        .client()
        .insert(sql!(
            "INSERT INTO kit_demo__scores (player) VALUES ($1)",
            "grace"
        ))
        .await
        .unwrap();
    let seen = second
        .client()
        .execute(sql!("SELECT player FROM kit_demo__scores"))
        .await
        .unwrap();
    assert!(seen.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn the_handler_takes_the_tests_flags() {
    let handler = TestHandler::builder()
        .arg("--rate-limit-per-minute=2")
        .client_config(ClientConfig::default().max_retries(0))
        .start()
        .await
        .unwrap();
    let query = || sql!("SELECT COUNT(*) AS n FROM kit_demo__scores");
    handler.client().execute(query()).await.unwrap();
    handler.client().execute(query()).await.unwrap();
    let refused = handler.client().execute(query()).await.unwrap_err();
    assert!(matches!(refused, SqlError::RateLimit(_)), "{refused:?}");
}

#[tokio::test]
async fn a_flag_the_handler_does_not_know_is_a_typed_error() {
    let error = TestHandler::builder()
        .arg("--no-such-flag")
        .start()
        .await
        .unwrap_err();
    assert!(matches!(error, TestHandlerError::Flags(_)), "{error:?}");
    assert!(error.to_string().contains("refused its flags"), "{error}");
}

#[tokio::test]
async fn a_migration_the_handler_refuses_stops_the_start_and_is_named() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("kit-demo")).unwrap();
    std::fs::write(
        folder.path().join("kit-demo/001_foreign.sql"),
        "CREATE TABLE quote_db__quotes (id INTEGER PRIMARY KEY);",
    )
    .unwrap();
    let error = TestHandler::builder()
        .migrations(folder.path())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(error, TestHandlerError::Handler(_)), "{error:?}");
    let chain = format!("{error}: {}", std::error::Error::source(&error).unwrap());
    assert!(chain.contains("001_foreign.sql"), "{chain}");
}

#[tokio::test]
async fn another_plugin_is_refused_the_crates_tables() {
    let handler = TestHandler::builder()
        .plugin("other-plugin")
        .start()
        .await
        .unwrap();
    assert_eq!(handler.client().plugin().name(), "other-plugin");
    let refused = Query::<Select>::checked(
        "SELECT player FROM kit_demo__scores",
        handler.client().plugin(),
    )
    .unwrap_err();
    assert!(matches!(refused, SqlError::Permission(_)), "{refused:?}");
}
