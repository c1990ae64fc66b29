use sql_client::{FromSqlValue, Row, SqlRow};

#[derive(SqlRow)]
struct Pair<T: FromSqlValue> {
    key: String,
    value: T,
}

fn main() {
    let row = Row::new(vec!["key".into(), "value".into()].into(), vec!["k".into(), 5.into()]);
    let pair: Pair<i64> = Pair::from_row(&row).unwrap();
    assert_eq!((pair.key.as_str(), pair.value), ("k", 5));
}
