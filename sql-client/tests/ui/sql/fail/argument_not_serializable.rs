use sql_client::sql;

struct Secret;

fn main() {
    let _ = sql!(plugin = "analytics-db", "SELECT id FROM analytics_db__events WHERE user_id = $1", Secret);
}
