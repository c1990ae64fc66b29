use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (name) SELECT text FROM quote_db__quotes");
}
