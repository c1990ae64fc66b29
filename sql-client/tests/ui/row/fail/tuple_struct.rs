use sql_client::SqlRow;

#[derive(SqlRow)]
struct E(i64, String);

fn main() {}
