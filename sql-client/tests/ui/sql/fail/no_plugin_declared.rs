use sql_client::sql;

fn main() {
    let _ = sql!("SELECT id FROM analytics_db__events");
}
