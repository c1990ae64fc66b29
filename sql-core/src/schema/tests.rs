//! The schema model against statements a plugin writes: what resolves, what is refused
//! with which message, and what the placeholders and result columns are.

use super::*;

const MIGRATION: &str = "
CREATE TABLE p__events (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    n BIGINT,
    score DOUBLE PRECISION,
    payload BYTEA,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (user_id, name)
);
CREATE TABLE p__tags (
    event_id INTEGER NOT NULL REFERENCES p__events(id),
    tag TEXT NOT NULL,
    weight REAL
);
CREATE INDEX p__tags_by_event ON p__tags (event_id);
CREATE VIEW p__named AS SELECT e.id, e.name AS title, t.tag FROM p__events e LEFT JOIN p__tags t ON t.event_id = e.id;
";

fn schema(dialect: Dialect) -> Schema {
    Schema::from_migrations(dialect, [("p/001_init.sql", MIGRATION)]).unwrap()
}

fn both() -> [Schema; 2] {
    [schema(Dialect::Sqlite), schema(Dialect::Postgres)]
}

#[test]
fn statements_that_resolve() {
    let ok = [
        "SELECT id, name FROM p__events WHERE user_id = $1",
        "SELECT e.id, t.tag FROM p__events e JOIN p__tags t ON t.event_id = e.id",
        "SELECT p__events.id FROM p__events",
        "SELECT id, tag FROM p__events JOIN p__tags ON event_id = id",
        "SELECT * FROM p__events",
        "SELECT e.* FROM p__events e",
        "SELECT title, tag FROM p__named WHERE id = $1",
        "WITH recent AS (SELECT id, name FROM p__events) SELECT name FROM recent WHERE id > 1",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT x FROM c",
        "SELECT d.k FROM (SELECT id AS k FROM p__events) d",
        "SELECT id FROM p__events e WHERE EXISTS (SELECT 1 FROM p__tags t WHERE t.event_id = e.id)",
        "SELECT id FROM p__events WHERE id IN (SELECT event_id FROM p__tags)",
        "SELECT name, count(*) AS c FROM p__events GROUP BY name HAVING count(*) > 1 ORDER BY c DESC",
        "SELECT name AS label FROM p__events ORDER BY label",
        "SELECT id FROM p__events UNION SELECT event_id FROM p__tags ORDER BY id",
        "SELECT user_id FROM p__events JOIN p__events AS o USING (user_id)",
        "SELECT row_number() OVER (PARTITION BY user_id ORDER BY id) AS r FROM p__events",
        "INSERT INTO p__events (id, user_id, name) VALUES ($1, $2, $3)",
        "INSERT INTO p__events (id, user_id, name) VALUES (1, 'a', 'b') ON CONFLICT (user_id, name) DO UPDATE SET n = excluded.n + 1",
        "INSERT INTO p__tags (event_id, tag) SELECT id, name FROM p__events",
        "INSERT INTO p__tags (event_id, tag) VALUES (1, 'a') RETURNING event_id, tag",
        "UPDATE p__events SET n = n + 1, score = $1 WHERE id = $2 RETURNING id, n",
        "UPDATE p__events AS e SET n = 1 WHERE e.id = 3",
        "DELETE FROM p__events WHERE id = $1 RETURNING name",
        "SELECT CURRENT_TIMESTAMP, id FROM p__events",
        "SELECT id FROM p__events LIMIT $1 OFFSET $2",
        "SELECT coalesce(n, 0) AS n FROM p__events",
        "SELECT CASE WHEN n > 1 THEN 'many' ELSE 'few' END AS size FROM p__events",
        "VALUES (1, 'a')",
    ];
    for schema in both() {
        for sql in ok {
            if let Err(e) = schema.analyze(sql) {
                panic!("{sql} on {:?}: {e}", schema.dialect());
            }
        }
    }
    let sqlite = schema(Dialect::Sqlite);
    for sql in [
        "SELECT rowid, name FROM p__events",
        "SELECT key, value FROM p__events, json_each(p__events.name)",
        "SELECT name AS label FROM p__events WHERE label = 'x'",
        "INSERT INTO p__events (user_id, name) VALUES ('a', 'b') RETURNING id",
    ] {
        if let Err(e) = sqlite.analyze(sql) {
            panic!("{sql}: {e}");
        }
    }
    let postgres = schema(Dialect::Postgres);
    for sql in [
        "SELECT ctid, name FROM p__events",
        "SELECT g FROM generate_series(1, 3) AS g",
        "DELETE FROM p__events e USING p__tags t WHERE t.event_id = e.id AND t.tag = $1",
        "UPDATE p__events SET n = t.weight FROM p__tags t WHERE t.event_id = p__events.id",
    ] {
        if let Err(e) = postgres.analyze(sql) {
            panic!("{sql}: {e}");
        }
    }
}

#[test]
fn mistakes_are_named_with_the_likely_fix() {
    let cases = [
        (
            "SELECT nmae FROM p__events",
            "unknown column `nmae` (did you mean `name`?)",
        ),
        (
            "SELECT id FROM p__event",
            "unknown table `p__event` (did you mean `p__events`?)",
        ),
        (
            "SELECT e.nmae FROM p__events e",
            "unknown column `e.nmae` (did you mean `name`?)",
        ),
        (
            "SELECT x.id FROM p__events e",
            "`x.id` names no table or alias in scope",
        ),
        (
            "SELECT p__events.id FROM p__events e",
            "`p__events.id` names no table or alias in scope",
        ),
        (
            "SELECT id FROM p__events JOIN p__tags ON event_id = id JOIN p__events f ON f.id = event_id",
            "column `id` is ambiguous: p__events and f have it; qualify it (`p__events.id`)",
        ),
        (
            "SELECT id FROM p__events WHERE usr_id = $1",
            "unknown column `usr_id` (did you mean `user_id`?)",
        ),
        (
            "SELECT id FROM p__events GROUP BY nam",
            "unknown column `nam` (did you mean `name`?)",
        ),
        (
            "SELECT id FROM p__events ORDER BY scor",
            "unknown column `scor` (did you mean `score`?)",
        ),
        (
            "SELECT id FROM p__events e WHERE EXISTS (SELECT 1 FROM p__tags t WHERE t.evnt_id = e.id)",
            "unknown column `t.evnt_id` (did you mean `event_id`?)",
        ),
        (
            "SELECT id FROM p__events WHERE id IN (SELECT evt FROM p__tags)",
            "unknown column `evt`",
        ),
        (
            "WITH r AS (SELECT id FROM p__events) SELECT name FROM r",
            "unknown column `name`",
        ),
        (
            "SELECT d.name FROM (SELECT id FROM p__events) d",
            "unknown column `d.name`",
        ),
        (
            "SELECT titel FROM p__named",
            "unknown column `titel` (did you mean `title`?)",
        ),
        (
            "SELECT e.id FROM p__events e JOIN p__tags t ON t.evnt = e.id",
            "unknown column `t.evnt`",
        ),
        (
            "INSERT INTO p__events (user_id, nmae) VALUES ($1, $2)",
            "table `p__events` has no column `nmae` (did you mean `name`?)",
        ),
        (
            "INSERT INTO p__events (id, user_id) VALUES (1, $1)",
            "the INSERT leaves out `name` of `p__events`, which is NOT NULL without a default; give it a value",
        ),
        (
            "INSERT INTO p__events (user_id, name) VALUES ($1)",
            "row 1 of the INSERT has 1 value for 2 columns",
        ),
        (
            "INSERT INTO p__events (user_id, name) VALUES ('a', 'b'), ('c')",
            "row 2 of the INSERT has 1 value for 2 columns",
        ),
        (
            "INSERT INTO p__tags (event_id, tag) SELECT id FROM p__events",
            "row 1 of the INSERT has 1 value for 2 columns",
        ),
        (
            "UPDATE p__events SET nam = $1",
            "table `p__events` has no column `nam` (did you mean `name`?)",
        ),
        (
            "UPDATE p__events SET n = 1 WHERE idd = 2",
            "unknown column `idd` (did you mean `id`?)",
        ),
        (
            "DELETE FROM p__events WHERE nme = $1",
            "unknown column `nme` (did you mean `name`?)",
        ),
        (
            "DELETE FROM p__events RETURNING nme",
            "unknown column `nme` (did you mean `name`?)",
        ),
        (
            "INSERT INTO p__tags (event_id, tag) VALUES (1, 'a') RETURNING tg",
            "unknown column `tg`",
        ),
        (
            "INSERT INTO p__events (id, user_id, name) VALUES (1, 'a', 'b') ON CONFLICT (user_id, nam) DO NOTHING",
            "table `p__events` has no column `nam`",
        ),
        (
            "INSERT INTO p__events (id, user_id, name) VALUES (1, 'a', 'b') ON CONFLICT (user_id, name) DO UPDATE SET n = excluded.nn",
            "unknown column `excluded.nn` (did you mean `n`?)",
        ),
        (
            "SELECT id FROM p__events LIMIT (SELECT max(x) FROM p__tags)",
            "unknown column `x`",
        ),
    ];
    for schema in both() {
        for (sql, expected) in cases {
            match schema.analyze(sql) {
                Ok(_) => panic!("{sql} on {:?} was accepted", schema.dialect()),
                Err(e) => assert!(
                    e.to_string().starts_with(expected),
                    "{sql} on {:?}: {e}",
                    schema.dialect()
                ),
            }
        }
    }
    // Only SQLite fills in an omitted INTEGER PRIMARY KEY.
    assert!(
        schema(Dialect::Sqlite)
            .analyze("INSERT INTO p__events (user_id, name) VALUES ($1, $2)")
            .is_ok()
    );
    let err = schema(Dialect::Postgres)
        .analyze("INSERT INTO p__events (user_id, name) VALUES ($1, $2)")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the INSERT leaves out `id` of `p__events`, which is NOT NULL without a default; give it a value"
    );
    let err = schema(Dialect::Sqlite)
        .analyze("SELECT id FROM p__events WHERE name = \"alice\"")
        .unwrap_err();
    assert!(
        err.to_string().contains("write text in single quotes"),
        "{err}"
    );
}

#[test]
fn placeholders_take_the_type_of_their_context() {
    for schema in both() {
        let analysis = schema
            .analyze(
                "SELECT id FROM p__events WHERE user_id = $1 AND n > $2 AND $3 = score AND id IN ($4, $5) AND created_at BETWEEN $6 AND $7 AND name LIKE $8 LIMIT $9",
            )
            .unwrap();
        let expected = [
            (1, SqlType::Text, false, "p__events.user_id"),
            (2, SqlType::Integer, true, "p__events.n"),
            (3, SqlType::Real, true, "p__events.score"),
            (4, SqlType::Integer, false, "p__events.id"),
            (5, SqlType::Integer, false, "p__events.id"),
            (6, SqlType::Timestamp, false, "p__events.created_at"),
            (7, SqlType::Timestamp, false, "p__events.created_at"),
            (8, SqlType::Text, false, "the pattern for name"),
            (9, SqlType::Integer, false, "LIMIT/OFFSET"),
        ];
        for (n, ty, null, column) in expected {
            let p = analysis.param(n).unwrap_or_else(|| panic!("${n} untyped"));
            assert_eq!(
                (p.ty(), p.accepts_null(), p.column()),
                (ty, null, column),
                "${n}"
            );
        }

        let insert = schema
            .analyze("INSERT INTO p__events (id, user_id, name, payload) VALUES ($1, $2, $3, $4)")
            .unwrap();
        let sqlite = schema.dialect() == Dialect::Sqlite;
        // SQLite's rowid alias takes NULL on INSERT (it picks the next id).
        assert_eq!(insert.param(1).map(ParamUse::accepts_null), Some(sqlite));
        assert_eq!(insert.param(4).map(ParamUse::ty), Some(SqlType::Blob));
        assert!(!insert.param(2).unwrap().accepts_null());

        let update = schema
            .analyze("UPDATE p__events SET score = $1, name = $2 WHERE lower(user_id) = $3")
            .unwrap();
        assert_eq!(
            update.param(1).map(|p| (p.ty(), p.accepts_null())),
            Some((SqlType::Real, true))
        );
        assert_eq!(
            update.param(2).map(|p| (p.ty(), p.accepts_null())),
            Some((SqlType::Text, false))
        );
        assert_eq!(update.param(3).map(ParamUse::ty), Some(SqlType::Text));

        // Nothing to go by: no type.
        let free = schema
            .analyze("SELECT $1 AS x, id FROM p__events WHERE $2")
            .unwrap();
        assert!(free.param(1).is_none() && free.param(2).is_none());
    }
}

#[test]
fn result_columns_carry_type_and_nullability() {
    use Nullability::{NotNull, Nullable, Unknown};
    type Expected = &'static [(&'static str, SqlType, Nullability)];
    let cases: &[(&str, Expected)] = &[
        (
            "SELECT id, name, n, score FROM p__events",
            &[
                ("id", SqlType::Integer, NotNull),
                ("name", SqlType::Text, NotNull),
                ("n", SqlType::Integer, Nullable),
                ("score", SqlType::Real, Nullable),
            ],
        ),
        (
            "SELECT e.name, t.tag FROM p__events e LEFT JOIN p__tags t ON t.event_id = e.id",
            &[
                ("name", SqlType::Text, NotNull),
                ("tag", SqlType::Text, Nullable),
            ],
        ),
        (
            "SELECT e.name, t.tag FROM p__tags t RIGHT JOIN p__events e ON t.event_id = e.id",
            &[
                ("name", SqlType::Text, NotNull),
                ("tag", SqlType::Text, Nullable),
            ],
        ),
        (
            "SELECT count(*) AS c, max(id) AS top, sum(n) AS total FROM p__events",
            &[
                ("c", SqlType::Integer, NotNull),
                ("top", SqlType::Integer, Nullable),
                ("total", SqlType::Integer, Nullable),
            ],
        ),
        (
            "SELECT user_id, max(id) AS top FROM p__events GROUP BY user_id",
            &[
                ("user_id", SqlType::Text, NotNull),
                ("top", SqlType::Integer, NotNull),
            ],
        ),
        (
            "SELECT coalesce(n, 0) AS n, n + 1 AS m, name || '!' AS loud, lower(name) AS low, abs(n) AS a FROM p__events",
            &[
                ("n", SqlType::Integer, NotNull),
                ("m", SqlType::Integer, Nullable),
                ("loud", SqlType::Text, NotNull),
                ("low", SqlType::Text, NotNull),
                ("a", SqlType::Integer, Nullable),
            ],
        ),
        (
            "SELECT (SELECT count(*) FROM p__tags) AS c, CAST(n AS TEXT) AS t, 1 AS one, 'x' AS s, NULL AS nothing FROM p__events",
            &[
                ("c", SqlType::Integer, Nullable),
                ("t", SqlType::Text, Nullable),
                ("one", SqlType::Integer, NotNull),
                ("s", SqlType::Text, NotNull),
                ("nothing", SqlType::Any, Nullable),
            ],
        ),
        (
            "SELECT id, title, tag FROM p__named",
            &[
                ("id", SqlType::Integer, NotNull),
                ("title", SqlType::Text, NotNull),
                ("tag", SqlType::Text, Nullable),
            ],
        ),
        (
            r#"SELECT max(id) AS "top!", name AS "maybe?", json_extract(name, '$') AS j FROM p__events"#,
            &[
                ("top", SqlType::Integer, NotNull),
                ("maybe", SqlType::Text, Nullable),
                ("j", SqlType::Any, Unknown),
            ],
        ),
        (
            "SELECT CASE WHEN n > 1 THEN 'a' END AS c, CASE WHEN n > 1 THEN 'a' ELSE 'b' END AS d FROM p__events",
            &[
                ("c", SqlType::Text, Nullable),
                ("d", SqlType::Text, NotNull),
            ],
        ),
        (
            "UPDATE p__events SET n = 1 RETURNING id, n",
            &[
                ("id", SqlType::Integer, NotNull),
                ("n", SqlType::Integer, Nullable),
            ],
        ),
    ];
    let sqlite = schema(Dialect::Sqlite);
    for (sql, expected) in cases {
        let analysis = sqlite.analyze(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let columns: Vec<(&str, SqlType, Nullability)> = analysis
            .columns()
            .unwrap()
            .iter()
            .map(|c| (c.name(), c.ty(), c.nullability()))
            .collect();
        assert_eq!(columns.as_slice(), *expected, "{sql}");
    }
    // The same statement, PostgreSQL's types: sum of integers is NUMERIC there.
    let postgres = schema(Dialect::Postgres);
    let sum = postgres
        .analyze("SELECT sum(id) AS s FROM p__events")
        .unwrap();
    assert_eq!(sum.columns().unwrap()[0].ty(), SqlType::Numeric);
    let star = postgres.analyze("SELECT * FROM p__tags").unwrap();
    let names: Vec<&str> = star
        .columns()
        .unwrap()
        .iter()
        .map(OutputColumn::name)
        .collect();
    assert_eq!(names, ["event_id", "tag", "weight"]);
}

#[test]
fn migrations_evolve_the_model() {
    let files = [
        (
            "p/001_init.sql",
            "CREATE TABLE p__t (id INTEGER PRIMARY KEY, a TEXT NOT NULL, b TEXT);",
        ),
        (
            "p/002_more.sql",
            "ALTER TABLE p__t ADD COLUMN c INTEGER NOT NULL DEFAULT 0;\nALTER TABLE p__t RENAME COLUMN b TO bee;",
        ),
        (
            "p/003_rename.sql",
            "ALTER TABLE p__t RENAME TO p__u; ALTER TABLE p__u DROP COLUMN a;",
        ),
        (
            "p/004_view.sql",
            "CREATE VIEW p__v (x, y) AS SELECT id, bee FROM p__u; CREATE TABLE p__gone (a INT); DROP TABLE p__gone;",
        ),
    ];
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let schema = Schema::from_migrations(dialect, files).unwrap();
        assert!(schema.relation("p__t").is_none() && schema.relation("p__gone").is_none());
        let u = schema.relation("p__u").unwrap();
        let names: Vec<&str> = u.columns().iter().map(Column::name).collect();
        assert_eq!(names, ["id", "bee", "c"]);
        assert!(u.column("c").unwrap().has_default());
        let v = schema.relation("p__v").unwrap();
        assert_eq!(v.kind(), RelationKind::View);
        assert_eq!(
            v.columns().iter().map(Column::name).collect::<Vec<_>>(),
            ["x", "y"]
        );
        assert!(schema.analyze("SELECT bee, c FROM p__u").is_ok());
        assert!(schema.analyze("SELECT b FROM p__u").is_err());
    }

    let postgres = Schema::from_migrations(
        Dialect::Postgres,
        [(
            "p/001.sql",
            "CREATE TYPE mood AS ENUM ('a', 'b');
             CREATE TABLE p__t (
                 id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 s SERIAL,
                 m mood NOT NULL,
                 total NUMERIC GENERATED ALWAYS AS (id * 2) STORED,
                 k TEXT,
                 PRIMARY KEY (k)
             );
             ALTER TABLE p__t ALTER COLUMN k DROP NOT NULL, ALTER COLUMN m SET DEFAULT 'a';",
        )],
    )
    .unwrap();
    let t = postgres.relation("p__t").unwrap();
    let id = t.column("id").unwrap();
    assert!(id.not_null() && id.has_default());
    assert!(t.column("s").unwrap().has_default());
    assert_eq!(t.column("m").unwrap().ty(), SqlType::Text);
    assert!(t.column("m").unwrap().has_default());
    assert!(t.column("total").unwrap().generated());
    assert!(!t.column("k").unwrap().not_null());
    // Only the generated column may not be written; everything else has a default.
    assert!(postgres.analyze("INSERT INTO p__t DEFAULT VALUES").is_ok());
    let generated = postgres
        .analyze("INSERT INTO p__t (total) VALUES (1)")
        .unwrap_err();
    assert_eq!(
        generated.to_string(),
        "column `total` of `p__t` is generated; it cannot be written"
    );

    let sqlite = Schema::from_migrations(
        Dialect::Sqlite,
        [(
            "p/001.sql",
            "CREATE TABLE p__a (id INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT PRIMARY KEY);
             CREATE TABLE p__b (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
             CREATE TABLE p__c (id INT PRIMARY KEY, name TEXT);",
        )],
    );
    // Two primary keys in one table do not parse as SQLite allows them? They do parse;
    // SQLite itself refuses the table, so the model need not be right about it.
    let _ = sqlite;
    let sqlite = Schema::from_migrations(
        Dialect::Sqlite,
        [(
            "p/001.sql",
            "CREATE TABLE p__b (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
             CREATE TABLE p__c (id INT PRIMARY KEY, name TEXT);",
        )],
    )
    .unwrap();
    let b = sqlite.relation("p__b").unwrap();
    assert!(b.column("k").unwrap().not_null());
    assert_eq!(b.column("v").unwrap().ty(), SqlType::Any);
    assert!(sqlite.analyze("SELECT rowid FROM p__b").is_err());
    // `INT PRIMARY KEY` is no rowid alias: it may be NULL and has no default.
    let c = sqlite.relation("p__c").unwrap().column("id").unwrap();
    assert!(!c.not_null() && !c.has_default());
}

#[test]
fn migrations_the_model_cannot_follow_name_file_and_line() {
    let cases = [
        (
            "CREATE TABLE p__t (a TEXT);\nALTER TABLE p__u ADD COLUMN b TEXT;",
            2,
            "ALTER TABLE of `p__u`, which no earlier migration creates",
        ),
        (
            "CREATE TABLE p__t (a TEXT);\n\n  ALTER TABLE p__t DROP COLUMN b;",
            3,
            "table `p__t` has no column `b`",
        ),
        (
            "CREATE TABLE p__t (a TEXT);\nCREATE VIEW p__v AS SELECT b FROM p__t;",
            2,
            "view `p__v`: unknown column `b`",
        ),
        (
            "CREATE TABLE p__t (a TEXT);\nCREATE TABLE p__t (b TEXT);",
            2,
            "table `p__t` already exists",
        ),
        (
            "CREATE TABLE p__t (a TEXT,\n b TEXT,,);",
            2,
            "does not parse",
        ),
        (
            "CREATE TABLE p__t (a TEXT);\nALTER TABLE p__t RENAME COLUMN a TO a2;\nALTER TABLE p__t RENAME COLUMN a TO a3;",
            3,
            "table `p__t` has no column `a`",
        ),
        (
            "CREATE TABLE p__t (a TEXT);\nDROP TABLE p__x;",
            2,
            "DROP of `p__x`",
        ),
    ];
    for (sql, line, message) in cases {
        let err = Schema::from_migrations(Dialect::Sqlite, [("p/001_init.sql", sql)]).unwrap_err();
        assert_eq!(err.file(), "p/001_init.sql", "{sql}");
        assert_eq!(err.line(), line, "{sql}: {err}");
        assert!(err.message().starts_with(message), "{sql}: {err}");
    }
    let err = Schema::from_migrations(Dialect::Postgres, [("p/001.sql", "CREATE TABLE p__t (a TEXT);\nCREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql;")])
        .unwrap_err();
    assert_eq!(err.line(), 2);
    assert!(err.message().contains("cannot follow"), "{err}");
    // IF EXISTS / IF NOT EXISTS make repeats harmless, as in the database.
    assert!(Schema::from_migrations(Dialect::Postgres, [(
        "p/001.sql",
        "CREATE TABLE IF NOT EXISTS p__t (a TEXT); CREATE TABLE IF NOT EXISTS p__t (a TEXT); DROP TABLE IF EXISTS p__x; ALTER TABLE IF EXISTS p__x ADD COLUMN b TEXT;",
    )])
    .is_ok());
}
