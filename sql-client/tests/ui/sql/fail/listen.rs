use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", dialect = "postgres", "LISTEN analytics_events");
}
