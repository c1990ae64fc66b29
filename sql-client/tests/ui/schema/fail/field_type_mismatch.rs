use sql_client::{sql, SqlRow};

#[derive(SqlRow)]
struct Event {
    id: String,
}

fn main() {
    let _ = sql!(as Event, plugin = "schema-db", "SELECT id FROM schema_db__events");
}
