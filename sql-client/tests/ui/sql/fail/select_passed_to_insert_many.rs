use sql_client::{sql, SqlClient};

async fn run(client: SqlClient) {
    let _ = client
        .insert_many(sql!(plugin = "analytics-db", "SELECT id FROM analytics_db__events"), [(1,)])
        .await;
}

fn main() {}
