//! The quickstart plugin: it inserts, selects, updates and deletes notes through a running
//! `sql-handler` with `SqlClient`, and prints the rows and its metrics.
//!
//! Run it with everything it needs started for you: `scripts/quickstart.sh`.
//! Against your own NATS server and handler:
//! `NATS_URL=nats://127.0.0.1:4222 cargo run -p example-quickstart`.
//!
//! Every `sql!` below is checked when this crate compiles, for the plugin declared in its
//! `Cargo.toml` (`[package.metadata.sql-client] plugin = "quickstart"`).

#![allow(
    clippy::print_stdout,
    reason = "printing results is this example's job"
)]

use sql_client::prelude::*;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A note, as the plugin sees it.
#[derive(Debug, SqlRow)]
struct Note {
    id: i64,
    author: String,
    body: String,
    stars: i64,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let nats = async_nats::connect(&url).await?;
    let client = SqlClient::new(nats, "quickstart")?;

    let added = client
        .insert_many(
            sql!("INSERT INTO quickstart__notes (author, body) VALUES ($1, $2)"),
            [
                ("ada", "checked SQL, one policy"),
                ("grace", "over NATS"),
                ("linus", "to be deleted"),
            ],
        )
        .await?;
    println!("inserted {added} notes in one transaction");

    let author = "ada";
    let starred = client
        .update(sql!(
            "UPDATE quickstart__notes SET stars = stars + $1 WHERE author = $2",
            5,
            author
        ))
        .await?;
    println!("starred {starred} note(s)");

    let deleted = client
        .delete(sql!(
            "DELETE FROM quickstart__notes WHERE author = $1",
            "linus"
        ))
        .await?;
    println!("deleted {deleted} note(s)");

    let notes: Vec<Note> = client
        .select(sql!(as Note, "SELECT id, author, body, stars FROM quickstart__notes ORDER BY id"))
        .await?;
    println!("{} note(s):", notes.len());
    for note in &notes {
        println!(
            "  #{} {:<6} {:<26} {} star(s)",
            note.id, note.author, note.body, note.stars
        );
    }

    let best: Option<Row> = client
        .select_one(sql!(
            "SELECT author, stars FROM quickstart__notes WHERE stars >= $1 ORDER BY stars DESC",
            1
        ))
        .await?;
    if let Some(best) = best {
        println!(
            "most starred: {} ({} stars)",
            best.get::<String>("author")?,
            best.get::<i64>("stars")?
        );
    }

    // SQL only known at run time goes through the same policy before it is sent.
    match Query::<Select>::checked("SELECT * FROM other_plugin__secrets", client.plugin()) {
        Err(err) => println!("refused before sending: {err}"),
        Ok(_) => return Err("another plugin's table was accepted".into()),
    }

    let metrics = client.metrics();
    println!(
        "metrics: {} queries, {} errors, {} retries, latency p50 {:.2} ms / p99 {:.2} ms, rate limit {} of {} left",
        metrics.queries,
        metrics.errors,
        metrics.retries,
        metrics.latency.p50_ms,
        metrics.latency.p99_ms,
        metrics.rate_limit.remaining,
        metrics.rate_limit.limit.max(),
    );
    Ok(())
}
