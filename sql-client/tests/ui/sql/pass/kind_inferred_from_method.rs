use sql_client::{sql, Query, Row, SqlClient, SqlError};

// The kind-specific methods infer a query's kind: no `Query::<Select>` needed.
async fn run(client: SqlClient) -> Result<(), SqlError> {
    let plugin = client.plugin().clone();
    let _: Vec<Row> = client
        .select(Query::checked("SELECT id FROM analytics_db__events WHERE user_id = $1", &plugin)?.bind("alice")?)
        .await?;
    let _ = client.select::<Row>(sql!(plugin = "analytics-db", "SELECT id FROM analytics_db__events")).await?;
    let _: Option<Row> = client.select_one(Query::checked("SELECT 1 AS one", &plugin)?).await?;
    client.insert(Query::checked("INSERT INTO analytics_db__events (name) VALUES ('x')", &plugin)?).await?;
    client
        .insert_many(Query::checked("INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)", &plugin)?, [vec!["a", "b"]])
        .await?;
    client.update(Query::checked("UPDATE analytics_db__events SET name = 'y'", &plugin)?).await?;
    client.delete(Query::checked("DELETE FROM analytics_db__events", &plugin)?).await?;
    Ok(())
}

fn main() {
    let _ = run;
}
