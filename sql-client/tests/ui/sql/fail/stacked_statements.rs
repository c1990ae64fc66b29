use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "SELECT 1; DELETE FROM analytics_db__events");
}
