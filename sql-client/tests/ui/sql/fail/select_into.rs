use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "SELECT * INTO analytics_db__copy FROM analytics_db__events");
}
