use sql_client::sql;

fn main() {
    // `id` is INTEGER: a list of strings does not fit it.
    let ids = vec![String::from("1")];
    let _ = sql!(plugin = "schema-db", "SELECT name FROM schema_db__events WHERE id IN ($1)", &ids);
}
