use sql_client::{sql, Delete, Insert, Query, Select, Update};

fn kinds(_: Query<Select>, _: Query<Insert>, _: Query<Update>, _: Query<Delete>) {}

fn main() {
    kinds(
        sql!(plugin = "analytics-db", "WITH recent AS (SELECT id FROM analytics_db__events) SELECT id FROM recent"),
        sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)", "a", "b"),
        sql!(plugin = "analytics-db", "UPDATE analytics_db__events SET n = n + 1 WHERE id = $1", 1),
        sql!(plugin = "analytics-db", "/* cleanup */ DELETE FROM analytics_db__events WHERE id = $1", 1),
    );
}
