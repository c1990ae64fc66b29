use sql_client::{sql, SqlRow};

#[derive(SqlRow)]
struct Event {
    id: i64,
    score: f64,
}

fn main() {
    let _ = sql!(as Event, plugin = "schema-db", "SELECT id, score FROM schema_db__events");
}
