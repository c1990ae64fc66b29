//! The quickstart plugin: it inserts, selects, updates and deletes notes through a running
//! `sql-handler`, printing what comes back.
//!
//! Run it with everything it needs started for you: `scripts/quickstart.sh`.
//! Or against your own NATS server and handler: `NATS_URL=nats://127.0.0.1:4222 cargo run -p example-quickstart`.
//!
//! It speaks the wire protocol with `sql-core`'s types, checking each statement with the
//! same policy the handler applies before sending it.

#![allow(
    clippy::print_stdout,
    reason = "printing results is this example's job"
)]

use std::error::Error;
use std::time::Duration;

use serde_json::{Value, json};
use sql_core::wire::{self, Reply, Request, SuccessReply};
use sql_core::{Dialect, Plugin};

type BoxError = Box<dyn Error + Send + Sync>;

/// A minimal plugin-side caller: checks locally, sends, and turns error replies into errors.
struct Notes {
    nats: async_nats::Client,
    plugin: Plugin,
}

impl Notes {
    async fn run(
        &self,
        query: &str,
        params: Value,
        allow_write: bool,
    ) -> Result<SuccessReply, BoxError> {
        // The same policy the handler applies: mistakes fail here, before the network.
        sql_core::check(query, &self.plugin, Dialect::Sqlite)?;
        self.send(query, params, allow_write).await
    }

    /// Sends without the local check, as a plugin that skips the library would.
    async fn send(
        &self,
        query: &str,
        params: Value,
        allow_write: bool,
    ) -> Result<SuccessReply, BoxError> {
        let mut request = Request::new(query);
        request.params = params.as_array().cloned().unwrap_or_default();
        request.allow_write = allow_write;
        let subject = wire::subject(wire::DEFAULT_SUBJECT_PREFIX, &self.plugin);
        let body = serde_json::to_vec(&request)?;
        let message = self
            .nats
            .send_request(
                subject,
                async_nats::Request::new()
                    .payload(body.into())
                    .timeout(Some(Duration::from_millis(
                        u64::from(request.timeout_ms) + 1000,
                    ))),
            )
            .await?;
        match Reply::from_slice(&message.payload)? {
            Reply::Success(reply) => Ok(reply),
            Reply::Error(reply) => Err(format!("{}: {}", reply.error, reply.message).into()),
            _ => Err("unknown reply shape".into()),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let nats = async_nats::connect(&url).await?;
    let notes = Notes {
        nats,
        plugin: Plugin::new("quickstart")?,
    };

    let inserted = notes
        .run(
            "INSERT INTO quickstart__notes (author, body) VALUES ($1, $2), ($3, $4) RETURNING id",
            json!(["ada", "compile-time checked SQL", "grace", "over NATS"]),
            true,
        )
        .await?;
    println!(
        "inserted {} notes: ids {:?}",
        inserted.row_count,
        ids(&inserted)
    );

    let updated = notes
        .run(
            "UPDATE quickstart__notes SET stars = stars + $1 WHERE author = $2",
            json!([5, "ada"]),
            true,
        )
        .await?;
    println!("updated {} note(s)", updated.row_count);

    let rows = notes
        .run(
            "SELECT id, author, body, stars FROM quickstart__notes ORDER BY id",
            json!([]),
            false,
        )
        .await?;
    println!(
        "{} row(s), {:.2} ms in the database:",
        rows.row_count, rows.execution_time_ms
    );
    println!("  {}", rows.columns.join(" | "));
    for row in &rows.rows {
        let cells: Vec<String> = rows.columns.iter().map(|c| row[c].to_string()).collect();
        println!("  {}", cells.join(" | "));
    }

    let deleted = notes
        .run(
            "DELETE FROM quickstart__notes WHERE stars = $1",
            json!([0]),
            true,
        )
        .await?;
    println!("deleted {} note(s)", deleted.row_count);

    // The handler refuses what the policy refuses, even when a caller skips the local check.
    let refused = notes
        .send("SELECT * FROM other_plugin__secrets", json!([]), false)
        .await
        .err()
        .map(|e| e.to_string());
    println!(
        "the handler, asked for another plugin's table: {}",
        refused.as_deref().unwrap_or("allowed?!")
    );

    let left = notes
        .run(
            "SELECT count(*) AS notes FROM quickstart__notes",
            json!([]),
            false,
        )
        .await?;
    println!(
        "notes left: {}",
        left.rows
            .first()
            .map_or(Value::Null, |r| r["notes"].clone())
    );
    Ok(())
}

fn ids(reply: &SuccessReply) -> Vec<i64> {
    reply.rows.iter().filter_map(|r| r["id"].as_i64()).collect()
}
