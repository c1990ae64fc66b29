use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", dialect = "postgres", "GRANT SELECT ON analytics_db__events TO public");
}
