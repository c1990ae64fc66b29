use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "/* setup */ CREATE TABLE analytics_db__x (a INTEGER)");
}
