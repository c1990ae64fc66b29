use sql_client::sql;

fn main() {
    let _ = sql!(plugin = "analytics-db", "SELECT e.id FROM analytics_db__events e LEFT JOIN quote_db__quotes q ON q.id = e.id");
}
