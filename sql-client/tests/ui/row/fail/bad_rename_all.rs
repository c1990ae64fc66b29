use sql_client::SqlRow;

#[derive(SqlRow)]
#[sql(rename_all = "camel")]
struct E {
    user_id: i64,
}

fn main() {}
