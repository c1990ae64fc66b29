use sql_client::SqlRow;

#[derive(SqlRow)]
struct E {
    #[sql(renamed = "x")]
    id: i64,
}

fn main() {}
