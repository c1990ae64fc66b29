use sql_client::{sql, SqlRow};

#[derive(SqlRow)]
struct Event {
    id: i64,
    #[sql(rename = "label")]
    name: String,
    #[sql(default)]
    score: Option<f64>,
}

fn main() {
    // `score` has a default, so the select list may leave it out.
    let query = sql!(plugin = "analytics-db", as Event, "SELECT e.id, e.name AS label FROM analytics_db__events e");
    assert!(query.sql().starts_with("SELECT"));
}
