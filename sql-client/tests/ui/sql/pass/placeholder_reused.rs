use sql_client::sql;

fn main() {
    let query = sql!(plugin = "analytics-db",
        "SELECT id FROM analytics_db__events WHERE user_id = $1 OR name = $1 OR '$2' = 'literal' -- $3", "x");
    assert_eq!(query.params().len(), 1);
}
