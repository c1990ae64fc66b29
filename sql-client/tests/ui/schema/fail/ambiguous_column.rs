use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "schema-db",
        "SELECT id FROM schema_db__events e JOIN schema_db__events f ON f.user_id = e.user_id");
}
