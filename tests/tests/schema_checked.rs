//! What compiles against the schema must run: `sql!` calls checked against the same
//! migrations the handler under test applies (`[package.metadata.sql-client] migrations`
//! in this crate's Cargo.toml), run over a real NATS server on the backend of the run.
//!
//! Each call is checked twice, once per dialect, by `checked!`; the run uses the one of its
//! backend. The types of the arguments and of the structs' fields are the ones the schema
//! checks accept, so a false acceptance shows up here as a failure at run time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::float_cmp,
    reason = "test helpers fail loudly; the floats compared are stored exactly"
)]

use sql_client::{Blob, SqlClient, SqlRow, sql};
use sql_client_tests::{Backend, TestEnv, backend};

/// `sql!` checked as SQLite and as PostgreSQL; the backend of the run picks which runs.
macro_rules! checked {
    ($($tokens:tt)*) => {
        match backend() {
            Backend::Sqlite => sql!($($tokens)*),
            Backend::Postgres => sql!(dialect = "postgres", $($tokens)*),
        }
    };
}

async fn client(env: &TestEnv) -> SqlClient {
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    SqlClient::new(nats, "analytics-db").unwrap()
}

#[derive(Debug, PartialEq, SqlRow)]
struct Event {
    id: i64,
    name: String,
    n: Option<i64>,
    score: Option<f64>,
}

#[derive(Debug, PartialEq, SqlRow)]
struct FullEvent {
    id: i64,
    user_id: String,
    name: String,
    n: Option<i64>,
    score: Option<f64>,
    payload: Option<Vec<u8>>,
}

#[derive(Debug, PartialEq, SqlRow)]
struct Tagged {
    name: String,
    tag: Option<String>,
}

#[derive(Debug, PartialEq, SqlRow)]
struct PerUser {
    user_id: String,
    c: i64,
    top: i64,
}

#[derive(Debug, PartialEq, SqlRow)]
struct Best {
    best: f64,
}

#[derive(Debug, PartialEq, SqlRow)]
struct MaybeTop {
    top: Option<i64>,
}

#[derive(Debug, PartialEq, SqlRow)]
struct Name {
    name: String,
}

#[derive(Debug, PartialEq, SqlRow)]
struct Key {
    k: i64,
}

#[tokio::test]
async fn typed_reads_of_the_seeded_rows() {
    let env = TestEnv::start().await;
    let client = client(&env).await;

    let alice: Vec<Event> = client
        .select(checked!(as Event,
            "SELECT id, name, n, score FROM analytics_db__events WHERE user_id = $1 ORDER BY id", "alice"))
        .await
        .unwrap();
    assert_eq!(
        alice,
        [
            Event {
                id: 1,
                name: "login".into(),
                n: Some(1),
                score: Some(0.5)
            },
            Event {
                id: 2,
                name: "click".into(),
                n: Some(2),
                score: Some(1.5)
            },
        ]
    );

    // `*` expands to the table's columns, checked against every field.
    let bob: Option<FullEvent> = client
        .select_one(checked!(as FullEvent, "SELECT * FROM analytics_db__events WHERE id = $1", 3))
        .await
        .unwrap();
    assert_eq!(
        bob,
        Some(FullEvent {
            id: 3,
            user_id: "bob".into(),
            name: "login".into(),
            n: Some(3),
            score: None,
            payload: None,
        })
    );

    // The right side of a LEFT JOIN is nullable: `tag` reads into an Option.
    let tagged: Vec<Tagged> = client
        .select(checked!(as Tagged,
            "SELECT e.name, t.tag FROM analytics_db__events e LEFT JOIN analytics_db__tags t ON t.event_id = e.id AND t.tag = $1 ORDER BY e.id",
            "web"))
        .await
        .unwrap();
    let tags: Vec<Option<&str>> = tagged.iter().map(|t| t.tag.as_deref()).collect();
    assert_eq!(tags, [Some("web"), Some("web"), None]);

    // Under GROUP BY, max of a NOT NULL column is never NULL.
    let per_user: Vec<PerUser> = client
        .select(checked!(as PerUser,
            "SELECT user_id, count(*) AS c, max(id) AS top FROM analytics_db__events GROUP BY user_id ORDER BY user_id"))
        .await
        .unwrap();
    assert_eq!(
        per_user,
        [
            PerUser {
                user_id: "alice".into(),
                c: 2,
                top: 2
            },
            PerUser {
                user_id: "bob".into(),
                c: 1,
                top: 3
            },
        ]
    );

    // Without GROUP BY an aggregate over no rows is NULL; the override says it is not.
    let none: Vec<MaybeTop> = client
        .select(checked!(as MaybeTop, "SELECT max(n) AS top FROM analytics_db__events WHERE user_id = $1", "nobody"))
        .await
        .unwrap();
    assert_eq!(none, [MaybeTop { top: None }]);
    let best: Vec<Best> = client
        .select(checked!(as Best, r#"SELECT max(score) AS "best!" FROM analytics_db__events"#))
        .await
        .unwrap();
    assert_eq!(best, [Best { best: 1.5 }]);
}

#[tokio::test]
async fn placeholders_typed_by_their_context() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let names = |rows: Vec<Name>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();

    let recent = client
        .select(checked!(as Name,
            "WITH recent AS (SELECT id, name FROM analytics_db__events WHERE id > $1) SELECT name FROM recent ORDER BY name",
            1_i64))
        .await
        .unwrap();
    assert_eq!(names(recent), ["click", "login"]);

    let keys: Vec<Key> = client
        .select(checked!(as Key,
            "SELECT d.k FROM (SELECT id AS k FROM analytics_db__events) d WHERE d.k = $1", 2_u32))
        .await
        .unwrap();
    assert_eq!(keys, [Key { k: 2 }]);

    let listed = client
        .select(checked!(as Name,
            "SELECT name FROM analytics_db__events WHERE id IN ($1, $2) ORDER BY id", 1_i32, 3_i64))
        .await
        .unwrap();
    assert_eq!(names(listed), ["login", "login"]);

    let between = client
        .select(checked!(as Name,
            "SELECT name FROM analytics_db__events WHERE score BETWEEN $1 AND $2 ORDER BY id", 1.0_f64, 2.0_f32))
        .await
        .unwrap();
    assert_eq!(names(between), ["click"]);

    let pattern = String::from("cl%");
    let liked = client
        .select(checked!(as Name,
            "SELECT name FROM analytics_db__events WHERE name LIKE $1", &pattern))
        .await
        .unwrap();
    assert_eq!(names(liked), ["click"]);

    let page = client
        .select(checked!(as Name,
            "SELECT name FROM analytics_db__events ORDER BY id LIMIT $1 OFFSET $2", 1_i64, 1_i64))
        .await
        .unwrap();
    assert_eq!(names(page), ["click"]);

    let correlated = client
        .select(checked!(as Name,
            "SELECT e.name FROM analytics_db__events e WHERE EXISTS (SELECT 1 FROM analytics_db__tags t WHERE t.event_id = e.id AND t.tag = $1) ORDER BY e.id",
            "app"))
        .await
        .unwrap();
    assert_eq!(names(correlated), ["login"]);
}

#[tokio::test]
async fn typed_writes_round_trip() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let nothing: Option<i64> = None;

    // Option for nullable columns, Blob for the blob column, the id named (only SQLite
    // fills in an omitted INTEGER PRIMARY KEY, and the PostgreSQL check says so).
    let inserted = client
        .insert(checked!(
            "INSERT INTO analytics_db__events (id, user_id, name, n, score, payload) VALUES ($1, $2, $3, $4, $5, $6)",
            10, "carol", "signup", nothing, Some(2.5), Blob(vec![7u8, 8])))
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    let carol: Option<FullEvent> = client
        .select_one(checked!(as FullEvent, "SELECT * FROM analytics_db__events WHERE user_id = $1", "carol"))
        .await
        .unwrap();
    assert_eq!(
        carol,
        Some(FullEvent {
            id: 10,
            user_id: "carol".into(),
            name: "signup".into(),
            n: None,
            score: Some(2.5),
            payload: Some(vec![7, 8]),
        })
    );

    // NULL into a nullable column; `true` into an INTEGER column is 1.
    let no_score: Option<f64> = None;
    let updated = client
        .update(checked!(
            "UPDATE analytics_db__events SET score = $1, n = $2 WHERE id = $3",
            no_score,
            true,
            10
        ))
        .await
        .unwrap();
    assert_eq!(updated, 1);
    let after: Option<Event> = client
        .select_one(checked!(as Event, "SELECT id, name, n, score FROM analytics_db__events WHERE id = $1", 10))
        .await
        .unwrap();
    assert_eq!(
        after,
        Some(Event {
            id: 10,
            name: "signup".into(),
            n: Some(1),
            score: None
        })
    );

    // An upsert reads `excluded`, and its RETURNING columns are typed like a SELECT's.
    let upserted = client
        .execute(checked!(
            "INSERT INTO analytics_db__events (id, user_id, name, n) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, name) DO UPDATE SET n = excluded.n RETURNING id, n",
            11,
            "carol",
            "signup",
            5
        ))
        .await
        .unwrap();
    assert_eq!(upserted.rows().len(), 1);
    assert_eq!(upserted.rows()[0].get::<i64>("id").unwrap(), 10);
    assert_eq!(upserted.rows()[0].get::<i64>("n").unwrap(), 5);

    let template = checked!("INSERT INTO analytics_db__tags (event_id, tag) VALUES ($1, $2)");
    let rows = client
        .insert_many(template, [(10, "mobile"), (10, "beta")])
        .await
        .unwrap();
    assert_eq!(rows, 2);

    let deleted = client
        .execute(checked!(
            "DELETE FROM analytics_db__tags WHERE event_id = $1 AND tag = $2 RETURNING tag",
            10,
            "beta"
        ))
        .await
        .unwrap();
    assert_eq!(deleted.rows()[0].get::<String>("tag").unwrap(), "beta");
    let left = client
        .delete(checked!(
            "DELETE FROM analytics_db__tags WHERE event_id = $1",
            10
        ))
        .await
        .unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn list_arguments_are_one_request_on_both_backends() {
    let env = TestEnv::start().await;
    let client = client(&env).await;
    let names = |rows: Vec<Name>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();

    let ids = vec![1_i64, 3];
    let listed = client
        .select(checked!(as Name, "SELECT name FROM analytics_db__events WHERE id IN ($1) ORDER BY id", &ids))
        .await
        .unwrap();
    assert_eq!(names(listed), ["login", "login"]);

    let others = client
        .select(checked!(as Name, "SELECT name FROM analytics_db__events WHERE id NOT IN ($1) ORDER BY id", [1_i64, 3]))
        .await
        .unwrap();
    assert_eq!(names(others), ["click"]);

    let users: &[&str] = &["alice", "nobody"];
    let by_user = client
        .select(checked!(as Name, "SELECT name FROM analytics_db__events WHERE user_id IN ($1) ORDER BY id", users))
        .await
        .unwrap();
    assert_eq!(names(by_user), ["login", "click"]);

    let none: Vec<i64> = Vec::new();
    let empty: Vec<Name> = client
        .select(checked!(as Name, "SELECT name FROM analytics_db__events WHERE id IN ($1)", none))
        .await
        .unwrap();
    assert!(empty.is_empty());

    // One value still works in the same place.
    let one = client
        .select(checked!(as Name, "SELECT name FROM analytics_db__events WHERE id IN ($1)", 2_i64))
        .await
        .unwrap();
    assert_eq!(names(one), ["click"]);

    // SQL built at run time gets the same treatment.
    let dynamic = sql_client::Query::<sql_client::Select>::checked_for(
        "SELECT name FROM analytics_db__events WHERE id IN ($1) ORDER BY id",
        &sql_core::Plugin::new("analytics-db").unwrap(),
        match backend() {
            Backend::Sqlite => sql_core::Dialect::Sqlite,
            Backend::Postgres => sql_core::Dialect::Postgres,
        },
    )
    .unwrap()
    .bind(&[2_i64, 3])
    .unwrap();
    let rows: Vec<Name> = client.select(dynamic).await.unwrap();
    assert_eq!(names(rows), ["click", "login"]);

    if backend() == Backend::Postgres {
        let any = client
            .select(sql!(as Name, dialect = "postgres",
                "SELECT name FROM analytics_db__events WHERE id = ANY($1) AND user_id <> ALL($2) ORDER BY id",
                vec![1_i64, 2, 3], ["bob"]))
            .await
            .unwrap();
        assert_eq!(names(any), ["login", "click"]);
    }
}
