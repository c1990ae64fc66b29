use sql_client::{sql, Delete, Query};

fn main() {
    let query: Query<Delete> = sql!(plugin = "analytics-db", dialect = "postgres",
        "DELETE FROM analytics_db__events e USING analytics_db__tags t WHERE t.event_id = e.id AND t.tag = $1", "old");
    assert_eq!(query.params().len(), 1);
}
