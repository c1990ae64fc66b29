use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "UPDATE quote_db__quotes SET text = $1", "x");
}
