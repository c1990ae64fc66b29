use sql_client::{sql, SqlClient};

async fn run(client: SqlClient) {
    let template = sql!(plugin = "schema-db",
        "INSERT INTO schema_db__events (id, user_id, name) VALUES ($1, $2, $3)");
    // `user_id` is TEXT: an integer does not fit it.
    let _ = client.insert_many(template, [(1, 2, "login")]).await;
}

fn main() {
    let _ = run;
}
