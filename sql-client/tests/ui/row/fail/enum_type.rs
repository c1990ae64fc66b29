use sql_client::SqlRow;

#[derive(SqlRow)]
enum E {
    A,
}

fn main() {}
