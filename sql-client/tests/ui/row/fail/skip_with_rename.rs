use sql_client::SqlRow;

#[derive(SqlRow)]
struct E {
    #[sql(skip, rename = "a")]
    id: i64,
}

fn main() {}
