use sql_client::{Row, SqlRow};

#[derive(SqlRow, Debug, PartialEq, Default)]
struct Audit {
    created_by: String,
}

#[derive(SqlRow, Debug)]
#[sql(rename_all = "camelCase")]
struct Event {
    event_id: i64,
    #[sql(rename = "label")]
    name: String,
    active: bool,
    score: Option<f64>,
    payload: Vec<u8>,
    #[sql(json)]
    tags: Vec<String>,
    #[sql(try_from = "i64")]
    count: u8,
    #[sql(default)]
    missing: i32,
    #[sql(skip)]
    cache: Option<String>,
    #[sql(flatten)]
    audit: Audit,
}

fn main() {
    let row = Row::new(
        ["eventId", "label", "active", "score", "payload", "tags", "count", "createdBy", "created_by"]
            .map(String::from).to_vec().into(),
        vec![7.into(), "login".into(), 0.into(), serde_json::Value::Null, "AAE=".into(), "[\"a\"]".into(), 200.into(),
             "x".into(), "admin".into()],
    );
    let event = Event::from_row(&row).unwrap();
    assert_eq!((event.event_id, event.name.as_str(), event.active), (7, "login", false));
    assert_eq!((event.score, event.payload, event.tags), (None, vec![0, 1], vec!["a".to_owned()]));
    assert_eq!((event.count, event.missing, event.cache), (200, 0, None));
    assert_eq!(event.audit, Audit { created_by: "admin".into() });

    let too_big = Row::new(["eventId", "label", "active", "score", "payload", "tags", "count", "created_by"]
            .map(String::from).to_vec().into(),
        vec![7.into(), "l".into(), 1.into(), 1.5.into(), "".into(), "[]".into(), 300.into(), "a".into()]);
    let err = Event::from_row(&too_big).unwrap_err().to_string();
    assert!(err.contains("column 'count'"), "{err}");
}
