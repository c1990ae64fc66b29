use sql_client::{sql, SqlRow};

#[derive(SqlRow)]
struct Event {
    id: i64,
    name: String,
}

fn main() {
    let _ = sql!(plugin = "analytics-db", as Event, "SELECT * FROM analytics_db__events");
}
