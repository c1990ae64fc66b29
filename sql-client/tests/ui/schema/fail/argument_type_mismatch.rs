use sql_client::sql;

fn main() {
    let user = String::from("alice");
    let _ = sql!(plugin = "schema-db", "SELECT name FROM schema_db__events WHERE id = $1", user);
}
