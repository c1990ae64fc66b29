use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", dialect = "postgres", "SELECT * FROM xmltable('/x' PASSING $1 COLUMNS a int)", "<x/>");
}
