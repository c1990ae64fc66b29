use sql_client::SqlRow;

#[derive(SqlRow)]
struct E {
    #[sql(nope)]
    id: i64,
    #[sql(skip, default)]
    name: String,
}

fn main() {}
