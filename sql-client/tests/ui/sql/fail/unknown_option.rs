use sql_client::sql;

fn main() {
    let _ = sql!(plugins = "analytics-db", "SELECT 1");
}
