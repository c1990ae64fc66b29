use sql_client::sql;

fn main() {
    let query = sql!(plugin = "analytics-db", r#"
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $1)
        SELECT x, row_number() OVER (ORDER BY x DESC) AS r FROM c
    "#, 10);
    assert!(query.sql().contains("RECURSIVE"));
}
