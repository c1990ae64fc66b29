use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "schema-db",
        "WITH recent AS (SELECT id FROM schema_db__events) SELECT name FROM recent");
}
