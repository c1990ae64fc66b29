use sql_client::sql;

fn main() {
    // 002_rename.sql renamed `tag` to `label`.
    let _ = sql!(plugin = "schema-db", "SELECT t.tag FROM schema_db__tags t WHERE t.event_id = $1", 1);
}
