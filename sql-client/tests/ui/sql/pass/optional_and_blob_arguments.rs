use sql_client::{sql, Blob};

fn main() {
    let nothing: Option<i64> = None;
    let bytes = vec![0u8, 255];
    let query = sql!(plugin = "analytics-db",
        "INSERT INTO analytics_db__files (size, data, meta) VALUES ($1, $2, $3)", nothing, Blob(&bytes), serde_json::json!({"k": 1}));
    assert_eq!(query.params()[0], serde_json::Value::Null);
    assert_eq!(query.params()[1], serde_json::json!({"$blob": "AP8="}));
    assert_eq!(query.params()[2], serde_json::json!({"k": 1}));
}
