use sql_client::{sql, Blob, SqlRow};

#[derive(SqlRow)]
#[allow(dead_code)]
struct Event {
    id: i64,
    name: String,
    score: Option<f64>,
}

#[derive(SqlRow)]
#[allow(dead_code)]
struct Tagged {
    name: String,
    label: Option<String>,
    top: i64,
}

fn main() {
    let user = String::from("alice");
    let n: Option<i64> = None;
    let all = sql!(as Event, plugin = "schema-db", "SELECT * FROM schema_db__events WHERE user_id = $1 AND n = $2", &user, n);
    assert_eq!(all.params().len(), 2);
    let _ = sql!(as Tagged, plugin = "schema-db",
        r#"SELECT e.name, t.label, max(e.id) AS "top!" FROM schema_db__events e LEFT JOIN schema_db__tags t ON t.event_id = e.id GROUP BY e.name, t.label"#);
    let written = sql!(plugin = "schema-db",
        "INSERT INTO schema_db__events (id, user_id, name, score, payload) VALUES ($1, $2, $3, $4, $5)",
        1, "alice", "login", 0.5, Blob(vec![1u8]));
    assert_eq!(written.params().len(), 5);
    // `true` is 0/1 in an INTEGER column; a serde_json::Value skips the check.
    let _ = sql!(plugin = "schema-db", "UPDATE schema_db__events SET n = $1 WHERE id = $2", true, serde_json::json!(1));
    // A list for `IN ($1)`: a slice, an array or a Vec of fitting values, or one value.
    let ids = vec![1_i64, 2];
    let listed = sql!(plugin = "schema-db", "SELECT name FROM schema_db__events WHERE id IN ($1) AND user_id NOT IN ($2)", &ids, ["x", "y"]);
    assert_eq!(listed.params()[0], serde_json::json!([1, 2]));
    let _ = sql!(plugin = "schema-db", "SELECT name FROM schema_db__events WHERE id IN ($1)", 3);
    // The override suffix is not sent.
    let top = sql!(plugin = "schema-db", r#"SELECT max(id) AS "top!" FROM schema_db__events"#);
    assert_eq!(top.sql(), r#"SELECT max(id) AS "top" FROM schema_db__events"#);
}

#[allow(dead_code)]
async fn rows(client: sql_client::SqlClient) -> Result<u64, sql_client::SqlError> {
    // A template's rows are typed by its columns: `n` takes None, `id` an integer.
    let template = sql!(plugin = "schema-db", "INSERT INTO schema_db__events (id, user_id, name, n) VALUES ($1, $2, $3, $4)");
    client.insert_many(template.clone(), [(1, "alice", "login", None::<i64>), (2, "bob", "x", Some(3))]).await?;
    let typed: sql_client::Query<sql_client::Insert, sql_client::Rows<4, _>> = template;
    client.insert_many(typed, vec![vec![serde_json::json!(3), "c".into(), "y".into(), serde_json::Value::Null]]).await
}
