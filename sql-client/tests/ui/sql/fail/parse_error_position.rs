use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "SELECT id\nFROM analytics_db__events\nWHERE id = = 1");
}
