use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "   SELECT id FROM analytics_db__events WHERE id = = 1");
}
