use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "SAVEPOINT before_import");
}
