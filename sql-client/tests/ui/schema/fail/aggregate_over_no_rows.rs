use sql_client::{sql, SqlRow};

#[derive(SqlRow)]
struct Top {
    top: i64,
}

fn main() {
    let _ = sql!(as Top, plugin = "schema-db", "SELECT max(id) AS top FROM schema_db__events");
}
