//! The quickstart plugin's own tests, as any plugin writes them: `sql-client-test` starts a
//! handler with this crate's migrations on a fresh SQLite database, and a client for its
//! plugin (`quickstart`, from `Cargo.toml`).

use sql_client::prelude::*;
use sql_client_test::TestHandler;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, SqlRow)]
struct Note {
    author: String,
    stars: i64,
}

#[tokio::test]
async fn starring_a_note_adds_to_its_stars() -> TestResult {
    let handler = TestHandler::start().await?;
    let client = handler.client();

    client
        .insert(sql!(
            "INSERT INTO quickstart__notes (author, body) VALUES ($1, $2)",
            "ada",
            "first"
        ))
        .await?;
    let starred = client
        .update(sql!(
            "UPDATE quickstart__notes SET stars = stars + $1 WHERE author = $2",
            5,
            "ada"
        ))
        .await?;
    assert_eq!(starred, 1);

    let notes: Vec<Note> = client
        .select(sql!("SELECT author, stars FROM quickstart__notes"))
        .await?;
    assert_eq!(notes.len(), 1);
    assert_eq!((notes[0].author.as_str(), notes[0].stars), ("ada", 5));
    Ok(())
}

#[tokio::test]
async fn every_test_starts_from_the_migrations_alone() -> TestResult {
    let handler = TestHandler::start().await?;
    let notes = handler
        .client()
        .execute(sql!("SELECT id FROM quickstart__notes"))
        .await?;
    assert!(notes.is_empty(), "{notes:?}");
    Ok(())
}
