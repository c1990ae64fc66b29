use sql_client::{sql, Query, Select};

fn main() {
    let user = String::from("alice");
    let query: Query<Select> = sql!(plugin = "analytics-db",
        "SELECT id, name FROM analytics_db__events WHERE user_id = $1 AND n > $2", user, 3);
    // Arguments are borrowed: `user` is still ours.
    assert_eq!(user, "alice");
    assert_eq!(query.params(), [serde_json::json!("alice"), serde_json::json!(3)]);
    assert_eq!(query.placeholders(), 2);
    assert_eq!(query.plugin().map(|p| p.name()), Some("analytics-db"));
}
