use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", dialect = "postgres", "WITH d AS (DELETE FROM analytics_db__events RETURNING id) SELECT id FROM d");
}
