use sql_client::{sql, SqlClient};

async fn run(client: SqlClient) {
    // Without arguments an INSERT is a row template for insert_many, not a statement to run.
    let _ = client
        .insert(sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)"))
        .await;
}

fn main() {}
