use sql_client::SqlRow;

#[derive(SqlRow)]
struct Inner {
    id: i64,
}

#[derive(SqlRow)]
struct E {
    #[sql(flatten, json)]
    inner: Inner,
}

fn main() {}
