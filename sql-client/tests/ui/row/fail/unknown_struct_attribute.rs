use sql_client::SqlRow;

#[derive(SqlRow)]
#[sql(rename = "x")]
struct E {
    id: i64,
}

fn main() {}
