use sql_client::sql;

fn main() {
    let bytes = vec![1u8, 2];
    let _ = sql!(plugin = "schema-db", "UPDATE schema_db__events SET payload = $1 WHERE id = $2", bytes, 1);
}
