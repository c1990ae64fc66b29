use sql_client::sql;

fn main() {
    // `analytics_db` would share the tables of `analytics-db`: only the `-` spelling is a name.
    let _ = sql!(plugin = "analytics_db", "SELECT * FROM analytics_db__events");
}
