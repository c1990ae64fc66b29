use sql_client::{sql, Insert, Query};

fn main() {
    let query: Query<Insert> = sql!(plugin = "analytics-db",
        "INSERT INTO analytics_db__events (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING id",
        1, "x");
    assert_eq!(query.params().len(), 2);
}
