use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "schema-db",
        "INSERT INTO schema_db__events (id, user_id) VALUES ($1, $2)", 1, "a");
}
