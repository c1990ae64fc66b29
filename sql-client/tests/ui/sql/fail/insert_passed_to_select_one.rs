use sql_client::{sql, Row, SqlClient};

async fn run(client: SqlClient) {
    let _ = client
        .select_one::<Row>(sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (name) VALUES ($1) RETURNING id", "x"))
        .await;
}

fn main() {}
