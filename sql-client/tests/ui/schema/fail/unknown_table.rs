use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "schema-db", "SELECT id FROM schema_db__event");
}
