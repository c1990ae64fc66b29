use sql_client::{sql, Insert, Query, Rows, SqlClient};

#[allow(dead_code)]
async fn run(client: SqlClient) -> Result<u64, sql_client::SqlError> {
    let template: Query<Insert, Rows<2>> =
        sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)");
    client.insert_many(template.clone(), [("alice", "login"), ("bob", "logout")]).await?;
    client.insert_many(template.clone(), [["carol", "x"]]).await?;
    // A Vec's length is only known at run time; it is checked before sending.
    client.insert_many(template, vec![vec!["dave", "y"]]).await
}

fn main() {
    let template = sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name) VALUES ($1, $2)");
    assert_eq!(template.placeholders(), 2);
    assert!(template.params().is_empty());
}
