use sql_client::{sql, SqlClient};

async fn run(client: SqlClient) {
    let _ = client.update(sql!(plugin = "analytics-db", "DELETE FROM analytics_db__events WHERE id = $1", 1)).await;
}

fn main() {}
