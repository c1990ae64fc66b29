use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "schema-db",
        "INSERT INTO schema_db__events (id, user_id, nam) VALUES ($1, $2, $3)", 1, "a", "b");
}
