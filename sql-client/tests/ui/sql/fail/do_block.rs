use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", dialect = "postgres", "DO $$ BEGIN PERFORM 1; END $$");
}
