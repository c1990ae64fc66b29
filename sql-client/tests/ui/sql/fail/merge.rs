use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", dialect = "postgres", "MERGE INTO analytics_db__events t USING analytics_db__users s ON t.user_id = s.id WHEN MATCHED THEN DELETE");
}
