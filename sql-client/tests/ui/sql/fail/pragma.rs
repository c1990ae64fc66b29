use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "PRAGMA table_info(analytics_db__events)");
}
