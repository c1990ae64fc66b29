use sql_client::{sql, SqlClient};

async fn run(client: SqlClient) {
    let _ = client.delete(sql!(plugin = "analytics-db", "UPDATE analytics_db__events SET name = $1 WHERE id = $2", "x", 1)).await;
}

fn main() {}
