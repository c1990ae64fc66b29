use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", dialect = "postgres", "COPY analytics_db__events TO STDOUT");
}
