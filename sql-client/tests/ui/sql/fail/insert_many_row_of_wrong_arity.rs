use sql_client::{sql, SqlClient};

async fn run(client: SqlClient) {
    let _ = client
        .insert_many(
            sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)"),
            [("alice", "login", 3)],
        )
        .await;
}

fn main() {}
