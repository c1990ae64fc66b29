use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "DROP TABLE analytics_db__events");
}
