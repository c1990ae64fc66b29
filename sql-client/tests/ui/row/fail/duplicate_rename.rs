use sql_client::SqlRow;

#[derive(SqlRow)]
struct E {
    #[sql(rename = "a", rename = "b")]
    id: i64,
}

fn main() {}
