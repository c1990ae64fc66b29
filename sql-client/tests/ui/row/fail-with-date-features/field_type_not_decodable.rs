use sql_client::SqlRow;

#[derive(SqlRow)]
struct E {
    id: i64,
    tags: std::collections::HashMap<String, i64>,
}

fn main() {}
