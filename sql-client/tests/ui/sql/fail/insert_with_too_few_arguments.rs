use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)", "alice");
}
