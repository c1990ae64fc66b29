use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "schema-db",
        "INSERT INTO schema_db__events (id, user_id, name) VALUES (1, $1)", "a");
}
