use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "schema-db", "SELECT id, nmae FROM schema_db__events");
}
