use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "SELECT frobnicate(id) FROM analytics_db__events");
}
