use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "Analytics DB", "SELECT 1");
}
