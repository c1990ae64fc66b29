use sql_client::sql;

fn main() {
    let user: Option<&str> = None;
    let _ = sql!(plugin = "schema-db", "SELECT name FROM schema_db__events WHERE user_id = $1", user);
}
