use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "EXPLAIN QUERY PLAN SELECT id FROM analytics_db__events");
}
