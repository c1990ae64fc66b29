use sql_client::{Row, SqlRow};

#[derive(SqlRow, Debug)]
struct Event {
    id: i64,
    r#type: String,
}

fn main() {
    let row = Row::new(vec!["id".into(), "type".into()].into(), vec!["seven".into(), "t".into()]);
    let err = Event::from_row(&row).unwrap_err().to_string();
    assert_eq!(err, "column 'id': expected i64 (an integer in range), found \"seven\"");
    let ok = Event::from_row(&Row::new(vec!["id".into(), "type".into()].into(), vec![1.into(), "t".into()])).unwrap();
    assert_eq!(ok.r#type, "t");
}
