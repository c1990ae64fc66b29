use sql_client::{sql, SqlRow};

#[derive(SqlRow)]
struct Tagged {
    name: String,
    label: String,
}

fn main() {
    let _ = sql!(as Tagged, plugin = "schema-db",
        "SELECT e.name, t.label FROM schema_db__events e LEFT JOIN schema_db__tags t ON t.event_id = e.id");
}
