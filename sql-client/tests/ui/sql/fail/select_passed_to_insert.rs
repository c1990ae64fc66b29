use sql_client::{sql, SqlClient};

async fn run(client: SqlClient) {
    let _ = client.insert(sql!(plugin = "analytics-db", "SELECT id FROM analytics_db__events")).await;
}

fn main() {}
