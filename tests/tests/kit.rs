//! `sql-client-test` as this crate's own plugin tests would use it: it reads this crate's
//! `[package.metadata.sql-client]` (plugin `analytics-db`, `fixtures/migrations`) and runs
//! on the backend of the run, so the PostgreSQL run covers `TestHandlerBuilder::postgres`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use sql_client::prelude::*;
use sql_client_test::{TestHandler, TestHandlerBuilder};
use sql_client_tests::{Backend, backend};

#[derive(Debug, SqlRow)]
struct Event {
    id: i64,
    name: String,
}

fn on_the_runs_backend(builder: TestHandlerBuilder) -> TestHandlerBuilder {
    match backend() {
        Backend::Sqlite => builder,
        Backend::Postgres => builder.postgres(),
    }
}

#[tokio::test]
async fn a_plugin_test_gets_a_migrated_database_and_a_client() {
    let handler = on_the_runs_backend(TestHandler::builder())
        .start()
        .await
        .unwrap();
    let scheme = match backend() {
        Backend::Sqlite => "sqlite://",
        Backend::Postgres => "postgres://",
    };
    assert!(
        handler.database_url().starts_with(scheme),
        "{}",
        handler.database_url()
    );
    assert_eq!(handler.plugin(), "analytics-db");
    let client = handler.client();
    client
        .insert(sql!(
            "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, $2, $3)",
            9001,
            "u-kit",
            "signup"
        ))
        .await
        .unwrap();
    let events: Vec<Event> = client
        .select(sql!(
            "SELECT id, name FROM analytics_db__events WHERE user_id = $1",
            "u-kit"
        ))
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].id, events[0].name.as_str()), (9001, "signup"));
    handler.stop().await;
}

#[tokio::test]
async fn the_crates_seed_migration_ran_and_a_new_handler_starts_from_it_again() {
    let count = || sql!("SELECT id, name FROM analytics_db__events");
    let first = on_the_runs_backend(TestHandler::builder())
        .start()
        .await
        .unwrap();
    let seeded = first.client().execute(count()).await.unwrap().len();
    first
        .client()
        .insert(sql!(
            "INSERT INTO analytics_db__events (id, user_id, name) VALUES ($1, $2, $3)",
            9002,
            "u-kit",
            "extra"
        ))
        .await
        .unwrap();
    drop(first);
    let second = on_the_runs_backend(TestHandler::builder())
        .start()
        .await
        .unwrap();
    assert_eq!(
        second.client().execute(count()).await.unwrap().len(),
        seeded
    );
}
