//! Table-driven tests of the policy: one case per line, each failure names its SQL.
//!
//! The plugin is `analytics-db` (prefix `analytics_db__`); `quote-db` plays the other
//! plugin whose tables must stay out of reach.

use std::collections::BTreeSet;

use super::*;
use crate::ErrorCode;

use Expect::{Allow, Empty, Func, Ns, Parse, Ph, Refused, Stacked, Stmt, Sys};
use On::{Both, Lite, Pg};
use StatementKind::{Delete, Insert, Select, Update};

const PREFIX: &str = "analytics_db__";
const EV: &str = "analytics_db__events";
const US: &str = "analytics_db__users";
const AR: &str = "analytics_db__archive";
const QQ: &str = "quote_db__quotes";

/// Which dialects a case runs under.
#[derive(Debug, Clone, Copy)]
enum On {
    Lite,
    Pg,
    Both,
}

impl On {
    fn dialects(self) -> &'static [Dialect] {
        match self {
            Lite => &[Dialect::Sqlite],
            Pg => &[Dialect::Postgres],
            Both => &[Dialect::Sqlite, Dialect::Postgres],
        }
    }
}

/// The expected outcome, with the one detail that matters for each code.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Allowed: kind, the plugin's tables, `n` of `$1..$n`.
    Allow(StatementKind, &'static [&'static str], usize),
    /// `NAMESPACE_VIOLATION` for `table`.
    Ns(&'static str),
    /// `SYSTEM_TABLE_ACCESS` for `table`.
    Sys(&'static str),
    /// `FORBIDDEN_FUNCTION` for `function`.
    Func(&'static str),
    /// `FORBIDDEN_STATEMENT` with `statement_type`.
    Stmt(&'static str),
    /// `INVALID_PLACEHOLDER` for `placeholder`.
    Ph(&'static str),
    /// `STACKED_QUERIES` with `statement_count`.
    Stacked(usize),
    /// `EMPTY_QUERY`.
    Empty,
    /// `PARSE_ERROR`.
    Parse,
    /// Any refusal: for statements whose exact code depends on the parser.
    Refused,
}

fn plugin() -> Plugin {
    Plugin::new("analytics-db").unwrap()
}

fn check_case(policy: &Policy, dialect: Dialect, sql: &str, expect: Expect) {
    let result = policy.check(sql, &plugin(), dialect);
    let ctx = format!("{dialect:?}: {sql:?} gave {result:?}, expected {expect:?}");
    let detail = |key: &str| -> serde_json::Value {
        let err = result.as_ref().expect_err(&ctx);
        err.details().get(key).cloned().unwrap_or_default()
    };
    let code = result.as_ref().err().map(PolicyError::code);
    match expect {
        Allow(kind, tables, n) => {
            let verdict = result.as_ref().expect(&ctx);
            assert_eq!(verdict.kind(), kind, "{ctx}");
            assert_eq!(verdict.writes(), kind != Select, "{ctx}");
            let want: BTreeSet<String> = tables.iter().map(|t| (*t).to_owned()).collect();
            assert_eq!(verdict.tables(), &want, "{ctx}");
            assert_eq!(verdict.placeholders(), n, "{ctx}");
        }
        Ns(table) => {
            assert_eq!(code, Some(ErrorCode::NamespaceViolation), "{ctx}");
            assert_eq!(detail("table"), table, "{ctx}");
            assert_eq!(detail("expected_prefix"), PREFIX, "{ctx}");
        }
        Sys(table) => {
            assert_eq!(code, Some(ErrorCode::SystemTableAccess), "{ctx}");
            assert_eq!(detail("table"), table, "{ctx}");
        }
        Func(function) => {
            assert_eq!(code, Some(ErrorCode::ForbiddenFunction), "{ctx}");
            assert_eq!(detail("function"), function, "{ctx}");
        }
        Stmt(statement_type) => {
            assert_eq!(code, Some(ErrorCode::ForbiddenStatement), "{ctx}");
            assert_eq!(detail("statement_type"), statement_type, "{ctx}");
        }
        Ph(placeholder) => {
            assert_eq!(code, Some(ErrorCode::InvalidPlaceholder), "{ctx}");
            assert_eq!(detail("placeholder"), placeholder, "{ctx}");
        }
        Stacked(count) => {
            assert_eq!(code, Some(ErrorCode::StackedQueries), "{ctx}");
            assert_eq!(detail("statement_count"), count, "{ctx}");
        }
        Empty => assert_eq!(code, Some(ErrorCode::EmptyQuery), "{ctx}"),
        Parse => assert_eq!(code, Some(ErrorCode::ParseError), "{ctx}"),
        Refused => assert!(result.is_err(), "{ctx}"),
    }
}

fn run(cases: &[(On, &str, Expect)]) {
    let policy = Policy::default();
    for (on, sql, expect) in cases {
        for dialect in on.dialects() {
            check_case(&policy, *dialect, sql, *expect);
        }
    }
}

#[test]
#[rustfmt::skip]
fn allowed_statements() {
    run(&[
        (Both, "SELECT * FROM analytics_db__events WHERE user_id = $1", Allow(Select, &[EV], 1)),
        (Both, "SELECT 1", Allow(Select, &[], 0)),
        (Both, "SELECT 1;", Allow(Select, &[], 0)),
        (Both, "SELECT 1 ;  -- done\n", Allow(Select, &[], 0)),
        (Both, "VALUES (1, 2), (3, $1)", Allow(Select, &[], 1)),
        (Both, "select count(*) from Analytics_DB__Events", Allow(Select, &[EV], 0)),
        (Both, "SELECT * FROM ANALYTICS_DB__EVENTS", Allow(Select, &[EV], 0)),
        (Both, r#"SELECT * FROM "analytics_db__events""#, Allow(Select, &[EV], 0)),
        (Lite, "SELECT * FROM `analytics_db__events`", Allow(Select, &[EV], 0)),
        (Lite, "SELECT * FROM [analytics_db__events]", Allow(Select, &[EV], 0)),
        (Both, "SELECT e.id, u.name FROM analytics_db__events e JOIN analytics_db__users u ON u.id = e.user_id WHERE e.id > $1 AND u.name = $2", Allow(Select, &[EV, US], 2)),
        (Both, "SELECT * FROM analytics_db__events NATURAL JOIN analytics_db__users", Allow(Select, &[EV, US], 0)),
        (Both, "SELECT * FROM analytics_db__events e LEFT JOIN analytics_db__users u ON u.id = e.user_id", Allow(Select, &[EV, US], 0)),
        (Both, "SELECT id FROM analytics_db__events UNION SELECT id FROM analytics_db__users", Allow(Select, &[EV, US], 0)),
        (Both, "SELECT id FROM analytics_db__events INTERSECT SELECT id FROM analytics_db__users", Allow(Select, &[EV, US], 0)),
        (Both, "SELECT id FROM analytics_db__events EXCEPT SELECT id FROM analytics_db__users", Allow(Select, &[EV, US], 0)),
        (Both, "SELECT (SELECT max(n) FROM analytics_db__users) FROM analytics_db__events", Allow(Select, &[EV, US], 0)),
        (Both, "SELECT x FROM (SELECT 1 AS x) AS sub", Allow(Select, &[], 0)),
        (Both, "SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY ts DESC) AS rn, lag(n) OVER w FROM analytics_db__events WINDOW w AS (ORDER BY ts)", Allow(Select, &[EV], 0)),
        (Both, "SELECT CASE WHEN n > 0 THEN 'pos' ELSE 'neg' END, coalesce(a, b), lower(name), round(avg(n), 2) FROM analytics_db__events GROUP BY 1, 2, 3 HAVING count(*) > $1 ORDER BY 1 LIMIT $2 OFFSET $3", Allow(Select, &[EV], 3)),
        (Both, "SELECT * FROM analytics_db__events WHERE id IN ($1, $2) AND name LIKE $3", Allow(Select, &[EV], 3)),
        (Both, "WITH recent AS (SELECT * FROM analytics_db__events WHERE ts > $1) SELECT count(*) FROM recent", Allow(Select, &[EV], 1)),
        (Both, "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT x FROM b", Allow(Select, &[], 0)),
        (Both, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1) SELECT x FROM n", Allow(Select, &[], 1)),
        // A CTE named like another plugin's table is read, not the table.
        (Both, "WITH quote_db__quotes AS (SELECT 1 AS x) SELECT x FROM quote_db__quotes", Allow(Select, &[], 0)),
        (Lite, r#"WITH "Quote_db__quotes" AS (SELECT 1 AS x) SELECT x FROM quote_db__quotes"#, Allow(Select, &[], 0)),
        (Lite, "SELECT value FROM analytics_db__events, json_each(analytics_db__events.tags)", Allow(Select, &[EV], 0)),
        (Lite, "SELECT * FROM json_each($1) AS j, json_tree($2)", Allow(Select, &[], 2)),
        (Lite, "SELECT 1 WHERE 2 IN json_each($1)", Allow(Select, &[], 1)),
        (Lite, "SELECT strftime('%Y', ts), json_extract(data, '$.a'), typeof(n), iif(n, 1, 2) FROM analytics_db__events", Allow(Select, &[EV], 0)),
        (Pg, "SELECT * FROM generate_series(1, $1) AS g(n)", Allow(Select, &[], 1)),
        (Pg, "SELECT u.x FROM unnest($1::int[]) AS u(x)", Allow(Select, &[], 1)),
        (Pg, "SELECT key, value FROM analytics_db__events e, jsonb_each(e.data)", Allow(Select, &[EV], 0)),
        (Pg, "SELECT jsonb_array_elements($1::jsonb)", Allow(Select, &[], 1)),
        (Pg, "SELECT date_trunc('day', ts), to_char(ts, 'YYYY'), now(), $1::jsonb ->> 'a' FROM analytics_db__events", Allow(Select, &[EV], 1)),
        (Pg, "SELECT ARRAY(SELECT id FROM analytics_db__users), gen_random_uuid()", Allow(Select, &[US], 0)),
        (Both, "INSERT INTO analytics_db__events (user_id, kind) VALUES ($1, $2)", Allow(Insert, &[EV], 2)),
        // Column names are not tables, whatever they look like.
        (Both, "INSERT INTO analytics_db__events (quote_db__quotes) VALUES (1)", Allow(Insert, &[EV], 0)),
        (Both, "INSERT INTO analytics_db__events (id, n) VALUES ($1, 1) ON CONFLICT (id) DO UPDATE SET n = analytics_db__events.n + excluded.n", Allow(Insert, &[EV], 1)),
        (Both, "INSERT INTO analytics_db__events (id) VALUES ($1) ON CONFLICT DO NOTHING", Allow(Insert, &[EV], 1)),
        (Lite, "INSERT OR REPLACE INTO analytics_db__events (id) VALUES ($1)", Allow(Insert, &[EV], 1)),
        (Lite, "INSERT OR IGNORE INTO analytics_db__events (id) VALUES ($1)", Allow(Insert, &[EV], 1)),
        (Lite, "REPLACE INTO analytics_db__events (id) VALUES ($1)", Allow(Insert, &[EV], 1)),
        (Both, "INSERT INTO analytics_db__events (id) VALUES ($1) RETURNING id", Allow(Insert, &[EV], 1)),
        (Both, "INSERT INTO analytics_db__events DEFAULT VALUES", Allow(Insert, &[EV], 0)),
        (Both, "INSERT INTO analytics_db__archive SELECT * FROM analytics_db__events WHERE ts < $1", Allow(Insert, &[AR, EV], 1)),
        (Both, "WITH x AS (SELECT 1 AS v) INSERT INTO analytics_db__events (n) SELECT v FROM x", Allow(Insert, &[EV], 0)),
        (Both, "UPDATE analytics_db__events SET n = n + 1 WHERE id = $1", Allow(Update, &[EV], 1)),
        (Both, "UPDATE analytics_db__events SET n = u.n FROM analytics_db__users u WHERE u.id = analytics_db__events.user_id", Allow(Update, &[EV, US], 0)),
        (Both, "UPDATE analytics_db__events SET n = 0 RETURNING id", Allow(Update, &[EV], 0)),
        (Both, "WITH t AS (SELECT 2 AS v) UPDATE analytics_db__events SET n = (SELECT v FROM t)", Allow(Update, &[EV], 0)),
        (Both, "DELETE FROM analytics_db__events WHERE id = $1", Allow(Delete, &[EV], 1)),
        (Both, "DELETE FROM analytics_db__events WHERE id = $1 RETURNING *", Allow(Delete, &[EV], 1)),
        (Pg, "DELETE FROM analytics_db__events e USING analytics_db__users u WHERE u.id = e.user_id AND u.banned", Allow(Delete, &[EV, US], 0)),
        (Both, "WITH old AS (SELECT id FROM analytics_db__events WHERE ts < $1) DELETE FROM analytics_db__events WHERE id IN (SELECT id FROM old)", Allow(Delete, &[EV], 1)),
        // A leading comment does not hide a write.
        (Both, "/* x */ DELETE FROM analytics_db__events", Allow(Delete, &[EV], 0)),
        (Both, "-- x\nDELETE FROM analytics_db__events", Allow(Delete, &[EV], 0)),
        (Both, "  \n-- a\n/* b */ UPDATE analytics_db__events SET n = 1", Allow(Update, &[EV], 0)),
    ]);
}

#[test]
#[rustfmt::skip]
fn foreign_and_system_tables() {
    run(&[
        (Both, "SELECT * FROM quote_db__quotes", Ns(QQ)),
        (Both, "SELECT e.* FROM analytics_db__events e LEFT JOIN quote_db__quotes q ON q.id = e.id", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events e LEFT OUTER JOIN quote_db__quotes q ON q.id = e.id", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events e RIGHT JOIN quote_db__quotes q ON q.id = e.id", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events e FULL OUTER JOIN quote_db__quotes q ON q.id = e.id", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events e INNER JOIN quote_db__quotes q ON q.id = e.id", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events CROSS JOIN quote_db__quotes", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events NATURAL JOIN quote_db__quotes", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events JOIN quote_db__quotes USING (id)", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events, quote_db__quotes", Ns(QQ)),
        (Both, "SELECT * FROM (analytics_db__events JOIN quote_db__quotes ON true)", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events WHERE id IN (SELECT id FROM quote_db__quotes)", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events WHERE EXISTS (SELECT 1 FROM quote_db__quotes)", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events WHERE n = (SELECT max(n) FROM quote_db__quotes)", Ns(QQ)),
        (Both, "SELECT (SELECT price FROM quote_db__quotes LIMIT 1) FROM analytics_db__events", Ns(QQ)),
        (Both, "SELECT n FROM analytics_db__events GROUP BY n HAVING count(*) > (SELECT count(*) FROM quote_db__quotes)", Ns(QQ)),
        (Both, "SELECT CASE WHEN EXISTS (SELECT 1 FROM quote_db__quotes) THEN 1 ELSE 0 END FROM analytics_db__events", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events ORDER BY (SELECT count(*) FROM quote_db__quotes)", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events LIMIT (SELECT count(*) FROM quote_db__quotes)", Ns(QQ)),
        (Both, "SELECT coalesce((SELECT price FROM quote_db__quotes), 0)", Ns(QQ)),
        (Both, "SELECT * FROM (SELECT * FROM quote_db__quotes) AS s", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events e JOIN analytics_db__users u ON u.id IN (SELECT id FROM quote_db__quotes)", Ns(QQ)),
        (Lite, "SELECT 1 WHERE 1 IN quote_db__quotes", Ns(QQ)),
        (Both, "SELECT id FROM analytics_db__events UNION SELECT id FROM quote_db__quotes", Ns(QQ)),
        (Both, "SELECT id FROM analytics_db__events UNION ALL SELECT id FROM analytics_db__users EXCEPT SELECT id FROM quote_db__quotes", Ns(QQ)),
        (Both, "SELECT id FROM analytics_db__events INTERSECT SELECT id FROM quote_db__quotes", Ns(QQ)),
        (Both, "WITH c AS (SELECT * FROM quote_db__quotes) SELECT * FROM c", Ns(QQ)),
        // A later sibling's name is not in scope in an earlier CTE body.
        (Both, "WITH a AS (SELECT * FROM quote_db__quotes), quote_db__quotes AS (SELECT 1) SELECT * FROM a", Ns(QQ)),
        // A CTE of a subquery does not cover a reference outside it.
        (Both, "SELECT * FROM (WITH quote_db__quotes AS (SELECT 1) SELECT * FROM quote_db__quotes) AS s, quote_db__quotes", Ns(QQ)),
        // PostgreSQL keeps quoted names exact: this CTE does not bind `quote_db__quotes`.
        (Pg, r#"WITH "Quote_db__quotes" AS (SELECT 1 AS x) SELECT x FROM quote_db__quotes"#, Ns(QQ)),
        (Both, r#"SELECT * FROM "quote_db__quotes""#, Ns(QQ)),
        (Lite, "SELECT * FROM `quote_db__quotes`", Ns(QQ)),
        (Lite, "SELECT * FROM [quote_db__quotes]", Ns(QQ)),
        (Both, "SELECT * FROM QUOTE_DB__QUOTES", Ns("QUOTE_DB__QUOTES")),
        (Both, "SELECT * FROM analytics_db_events", Ns("analytics_db_events")),
        (Both, "SELECT * FROM analytics_db__", Ns("analytics_db__")),
        (Both, "SELECT * FROM main.analytics_db__events", Ns("main.analytics_db__events")),
        (Lite, "SELECT * FROM temp.analytics_db__events", Ns("temp.analytics_db__events")),
        (Pg, "SELECT * FROM public.analytics_db__events", Ns("public.analytics_db__events")),
        (Pg, r#"SELECT * FROM "quote_db".quotes"#, Ns("quote_db.quotes")),
        (Lite, "SELECT * FROM sqlite_master", Sys("sqlite_master")),
        (Lite, "SELECT * FROM SQLITE_SCHEMA", Sys("SQLITE_SCHEMA")),
        (Lite, "SELECT * FROM sqlite_temp_master", Sys("sqlite_temp_master")),
        (Lite, "SELECT * FROM main.sqlite_master", Sys("main.sqlite_master")),
        (Lite, "SELECT name FROM analytics_db__events WHERE name IN (SELECT name FROM sqlite_schema)", Sys("sqlite_schema")),
        (Pg, "SELECT * FROM pg_catalog.pg_class", Sys("pg_catalog.pg_class")),
        (Pg, "SELECT * FROM pg_user", Sys("pg_user")),
        (Pg, "SELECT * FROM information_schema.tables", Sys("information_schema.tables")),
        (Pg, "SELECT * FROM analytics_db__events e JOIN pg_roles r ON true", Sys("pg_roles")),
        // System tables are reported before foreign ones, wherever they stand.
        (Both, "SELECT * FROM quote_db__quotes, sqlite_master", Sys("sqlite_master")),
    ]);
}

#[test]
#[rustfmt::skip]
fn write_targets_and_write_sources() {
    run(&[
        (Both, "INSERT INTO quote_db__quotes (a) VALUES (1)", Ns(QQ)),
        (Both, "INSERT INTO analytics_db__events SELECT * FROM quote_db__quotes", Ns(QQ)),
        (Both, "INSERT INTO analytics_db__events (id) VALUES ((SELECT id FROM quote_db__quotes))", Ns(QQ)),
        (Both, "INSERT INTO analytics_db__events (id) VALUES (1) RETURNING (SELECT max(id) FROM quote_db__quotes)", Ns(QQ)),
        (Both, "INSERT INTO analytics_db__events (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET n = (SELECT n FROM quote_db__quotes)", Ns(QQ)),
        (Lite, "REPLACE INTO quote_db__quotes (id) VALUES (1)", Ns(QQ)),
        (Lite, "INSERT OR REPLACE INTO main.analytics_db__events (id) VALUES (1)", Ns("main.analytics_db__events")),
        (Lite, "INSERT INTO sqlite_master VALUES (1)", Sys("sqlite_master")),
        (Both, "UPDATE quote_db__quotes SET price = 0", Ns(QQ)),
        (Both, r#"UPDATE "quote_db__quotes" SET price = 0"#, Ns(QQ)),
        (Both, "UPDATE analytics_db__events SET n = (SELECT price FROM quote_db__quotes)", Ns(QQ)),
        (Both, "UPDATE analytics_db__events SET n = q.price FROM quote_db__quotes q WHERE q.id = analytics_db__events.id", Ns(QQ)),
        (Both, "UPDATE analytics_db__events SET n = 1 WHERE id IN (SELECT id FROM quote_db__quotes)", Ns(QQ)),
        (Both, "UPDATE analytics_db__events SET n = 1 RETURNING (SELECT 1 FROM quote_db__quotes)", Ns(QQ)),
        (Both, "DELETE FROM quote_db__quotes", Ns(QQ)),
        (Both, "DELETE FROM quote_db__quotes WHERE id = $1", Ns(QQ)),
        (Pg, "DELETE FROM analytics_db__events USING quote_db__quotes q WHERE q.id = analytics_db__events.id", Ns(QQ)),
        (Both, "DELETE FROM analytics_db__events WHERE id IN (SELECT id FROM quote_db__quotes)", Ns(QQ)),
        (Both, "DELETE FROM analytics_db__events RETURNING (SELECT 1 FROM quote_db__quotes)", Ns(QQ)),
        // A CTE name never exempts a write target: SQLite writes to the real table.
        (Both, "WITH quote_db__quotes AS (SELECT 1) DELETE FROM quote_db__quotes", Ns(QQ)),
        (Both, "WITH quote_db__quotes AS (SELECT 1 AS id) INSERT INTO quote_db__quotes SELECT id FROM quote_db__quotes", Ns(QQ)),
        (Both, "WITH quote_db__quotes AS (SELECT 1) UPDATE quote_db__quotes SET price = 0", Ns(QQ)),
        // ... but the plugin's own table of the same name as a CTE is fine to write.
        (Both, "WITH analytics_db__events AS (SELECT 1 AS id) DELETE FROM analytics_db__events WHERE id IN (SELECT id FROM analytics_db__events)", Allow(Delete, &[EV], 0)),
    ]);
}

#[test]
#[rustfmt::skip]
fn statement_kinds() {
    run(&[
        (Both, "DROP TABLE analytics_db__events", Stmt("DROP TABLE")),
        (Both, "/* hi */ DROP TABLE quote_db__quotes", Stmt("DROP TABLE")),
        (Both, "CREATE TABLE analytics_db__x (a INT)", Stmt("CREATE TABLE")),
        (Both, "CREATE TEMP VIEW v AS SELECT 1", Stmt("CREATE VIEW")),
        (Both, "CREATE UNIQUE INDEX i ON analytics_db__events (a)", Stmt("CREATE INDEX")),
        (Both, "ALTER TABLE analytics_db__events ADD COLUMN b INT", Stmt("ALTER TABLE")),
        (Lite, "CREATE VIRTUAL TABLE analytics_db__f USING fts5(a)", Stmt("CREATE VIRTUAL TABLE")),
        (Lite, "CREATE TRIGGER tr AFTER INSERT ON analytics_db__events BEGIN DELETE FROM quote_db__quotes; END", Refused),
        (Lite, "PRAGMA table_info(analytics_db__events)", Stmt("PRAGMA")),
        (Lite, "PRAGMA foo", Stmt("PRAGMA")),
        (Lite, "PRAGMA writable_schema = 1", Stmt("PRAGMA")),
        (Lite, "ATTACH DATABASE '/tmp/x.db' AS x", Stmt("ATTACH")),
        (Lite, "ATTACH $1 AS x", Stmt("ATTACH")),
        (Lite, "DETACH x", Stmt("DETACH")),
        (Both, "VACUUM", Stmt("VACUUM")),
        (Both, "ANALYZE", Stmt("ANALYZE")),
        (Both, "REINDEX", Stmt("REINDEX")),
        (Pg, "TRUNCATE analytics_db__events", Stmt("TRUNCATE")),
        (Pg, "COPY analytics_db__events TO STDOUT", Stmt("COPY")),
        (Pg, "COPY analytics_db__events FROM '/etc/passwd'", Stmt("COPY")),
        (Both, "BEGIN", Stmt("BEGIN")),
        (Both, "COMMIT", Stmt("COMMIT")),
        (Both, "ROLLBACK", Stmt("ROLLBACK")),
        (Both, "SAVEPOINT a", Stmt("SAVEPOINT")),
        (Both, "RELEASE a", Stmt("RELEASE")),
        (Both, "EXPLAIN SELECT 1", Stmt("EXPLAIN")),
        (Lite, "EXPLAIN QUERY PLAN SELECT * FROM analytics_db__events", Stmt("EXPLAIN")),
        (Pg, "SET search_path = quote_db", Stmt("SET")),
        (Pg, "SET LOCAL ROLE quote_db", Stmt("SET")),
        (Pg, "RESET ROLE", Stmt("RESET")),
        (Pg, "GRANT SELECT ON analytics_db__events TO public", Stmt("GRANT")),
        (Pg, "CALL analytics_db__p()", Stmt("CALL")),
        (Pg, "LISTEN x", Stmt("LISTEN")),
        (Pg, "NOTIFY x", Stmt("NOTIFY")),
        (Pg, "DO $$ BEGIN END $$", Stmt("DO")),
        (Pg, "PREPARE p AS SELECT 1", Stmt("PREPARE")),
        (Pg, "SHOW search_path", Stmt("SHOW")),
        // Statements the parser does not know are still named for what they are.
        (Pg, "CHECKPOINT", Stmt("CHECKPOINT")),
        (Pg, "REASSIGN OWNED BY sqlh_x TO sqlh_y", Stmt("REASSIGN")),
        (Pg, "MOVE NEXT FROM c", Stmt("MOVE")),
        (Pg, "SELECT * FROM analytics_db__events FOR NO KEY UPDATE", Stmt("SELECT FOR UPDATE")),
        (Pg, "SELECT * FROM analytics_db__events FOR KEY SHARE", Stmt("SELECT FOR UPDATE")),
        (Pg, "SELECT * FROM analytics_db__events FOR UPDATE", Stmt("SELECT FOR UPDATE")),
        (Pg, "WITH a AS (SELECT 1) SELECT * FROM a FOR NO KEY UPDATE SKIP LOCKED", Stmt("SELECT FOR UPDATE")),
        (Both, "SELEC 1", Parse),
        (Pg, "SELECT substring(name FROM 1 FOR 2) FROM analytics_db__events", Allow(Select, &[EV], 0)),
        // SQLite's JSON operators, which its engine reports as functions named after them.
        (Lite, "SELECT data -> '$.a', data ->> '$.b' FROM analytics_db__events", Allow(Select, &[EV], 0)),
        (Pg, "MERGE INTO analytics_db__events t USING analytics_db__users s ON t.id = s.id WHEN MATCHED THEN DELETE", Stmt("MERGE")),
        // PostgreSQL type names: a relation's row type is a table reference, and the
        // object-identifier types are catalog lookups.
        (Pg, "SELECT 'quote_db__quotes'::regclass::text", Ns("quote_db__quotes")),
        (Pg, "SELECT CAST('quote_db__quotes' AS regclass)::oid", Ns("quote_db__quotes")),
        (Pg, "SELECT regclass 'quote_db__quotes'", Ns("quote_db__quotes")),
        (Pg, "SELECT 'Quote_DB__Quotes'::regtype", Ns("quote_db__quotes")),
        (Pg, "SELECT 'public.quote_db__quotes'::regclass", Ns("public.quote_db__quotes")),
        (Pg, "SELECT '\"quote_db__quotes\"'::regclass", Ns("\"quote_db__quotes\"")),
        (Pg, "SELECT 'pg_authid'::regclass", Sys("pg_authid")),
        (Pg, "SELECT 'analytics_db__events'::regclass::oid", Allow(Select, &[EV], 0)),
        (Pg, "SELECT 16384::regclass::text", Func("regclass")),
        (Pg, "SELECT $1::regclass", Func("regclass")),
        (Pg, "SELECT ('quote_db' || '__quotes')::regclass", Func("regclass")),
        (Pg, "SELECT 'x'::text::regclass", Func("regclass")),
        (Pg, "SELECT 'sqlh_quote-db'::regrole", Func("regrole")),
        (Pg, "SELECT 'public'::regnamespace::oid", Func("regnamespace")),
        (Pg, "SELECT 'now'::regproc", Func("regproc")),
        (Pg, "SELECT ARRAY['quote_db__quotes']::regclass[]", Func("regclass")),
        (Pg, "SELECT to_jsonb('(1,x)'::quote_db__quotes)", Ns("quote_db__quotes")),
        (Pg, "SELECT NULL::quote_db__quotes", Ns("quote_db__quotes")),
        (Pg, "SELECT row_to_json(NULL::\"quote_db__quotes\")", Ns("quote_db__quotes")),
        (Pg, "SELECT NULL::public.quote_db__quotes", Ns("public.quote_db__quotes")),
        (Pg, "SELECT NULL::_sql_handler_idempotency", Ns("_sql_handler_idempotency")),
        (Pg, "SELECT NULL::quote_db__quotes[]", Ns("quote_db__quotes")),
        (Pg, "SELECT CAST(NULL AS quote_db__quotes)", Ns("quote_db__quotes")),
        (Pg, "SELECT quote_db__quotes '(1,x)'", Ns("quote_db__quotes")),
        (Pg, "SELECT NULL::pg_authid", Sys("pg_authid")),
        (Pg, "SELECT x FROM generate_series(1, 2) AS g(x quote_db__quotes)", Refused),
        // A CTE never binds a type name: the catalog's relation is what PostgreSQL casts to.
        (Pg, "WITH quote_db__quotes AS (SELECT 1 AS id) SELECT NULL::quote_db__quotes FROM quote_db__quotes", Ns("quote_db__quotes")),
        (Pg, "SELECT to_jsonb(NULL::analytics_db__events)", Allow(Select, &[EV], 0)),
        (Pg, "SELECT $1::inet, $2::int4range, $3::money, $4::tsvector, $5::oid, $6::name, $7::timestamptz, $8::numeric(10, 2), $9::varchar(3)[]", Allow(Select, &[], 9)),
        (Pg, "SELECT $1::int4, $2::float8, $3::bool, $4::bytea, $5::uuid, $6::jsonb, $7::interval, $8::date, $9::text[]", Allow(Select, &[], 9)),
        // SQLite type names pick an affinity and name nothing.
        (Lite, "SELECT CAST(x AS quote_db__quotes) FROM analytics_db__events", Allow(Select, &[EV], 0)),
        // Writes hidden in reads.
        (Both, "SELECT * INTO analytics_db__copy FROM analytics_db__events", Stmt("SELECT INTO")),
        (Pg, "SELECT * FROM (SELECT * INTO analytics_db__copy FROM analytics_db__events) s", Refused),
        (Pg, "WITH d AS (DELETE FROM analytics_db__events RETURNING *) SELECT * FROM d", Stmt("data-modifying CTE")),
        (Pg, "WITH i AS (INSERT INTO analytics_db__events (id) VALUES (1) RETURNING id) SELECT * FROM i", Stmt("data-modifying CTE")),
        (Pg, "WITH u AS (UPDATE analytics_db__events SET n = 1 RETURNING id) SELECT * FROM u", Stmt("data-modifying CTE")),
        (Pg, "SELECT * FROM (WITH d AS (DELETE FROM analytics_db__events RETURNING *) SELECT * FROM d) AS s", Stmt("data-modifying CTE")),
        (Pg, "WITH d AS (DELETE FROM analytics_db__events RETURNING *) DELETE FROM analytics_db__users", Stmt("data-modifying CTE")),
        (Pg, "SELECT * FROM analytics_db__events FOR UPDATE", Stmt("SELECT FOR UPDATE")),
        (Pg, "TABLE quote_db__quotes", Refused),
        (Pg, "SELECT 1 UNION TABLE quote_db__quotes", Ns(QQ)),
        (Pg, "SELECT 1 UNION TABLE pg_catalog.pg_authid", Sys("pg_catalog.pg_authid")),
    ]);
}

#[test]
#[rustfmt::skip]
fn stacked_empty_and_parse_errors() {
    run(&[
        (Both, "SELECT 1; DROP TABLE x", Stacked(2)),
        (Both, "SELECT 1; SELECT 2;", Stacked(2)),
        (Both, "SELECT 1;;SELECT 2; SELECT 3", Stacked(3)),
        (Both, "DELETE FROM analytics_db__events; SELECT 1", Stacked(2)),
        (Lite, "SELECT 1; PRAGMA table_info(x)", Stacked(2)),
        (Both, "SELECT 1 -- ; DROP TABLE x", Allow(Select, &[], 0)),
        (Both, "SELECT ';DROP TABLE x' FROM analytics_db__events", Allow(Select, &[EV], 0)),
        (Both, "", Empty),
        (Both, "  ", Empty),
        (Both, ";", Empty),
        (Both, "\n\t;;\n", Empty),
        (Both, "-- c", Empty),
        (Both, "/* c */ ;", Empty),
        (Both, "SELECT FROM WHERE", Parse),
        (Both, "SELEC 1", Parse),
        (Both, "SELECT 'abc", Parse),
        (Both, "SELECT * FROM analytics_db__events WHERE (", Parse),
    ]);
}

#[test]
#[rustfmt::skip]
fn placeholders() {
    run(&[
        (Both, "SELECT '$1' FROM analytics_db__events", Allow(Select, &[EV], 0)),
        (Both, r#"SELECT "$1" FROM analytics_db__events"#, Allow(Select, &[EV], 0)),
        (Both, "SELECT 1 -- $1\n", Allow(Select, &[], 0)),
        (Both, "SELECT /* $1 */ 1", Allow(Select, &[], 0)),
        (Both, "SELECT $1, $1, $2", Allow(Select, &[], 2)),
        (Both, "SELECT $2, $1", Allow(Select, &[], 2)),
        (Both, "SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10", Allow(Select, &[], 10)),
        (Both, "SELECT $1, $3", Ph("$2")),
        (Both, "SELECT $2", Ph("$1")),
        (Both, "SELECT $0", Ph("$0")),
        (Both, "SELECT $01", Ph("$01")),
        (Both, "SELECT $name", Ph("$name")),
        (Both, "SELECT $1001", Ph("$1001")),
        (Lite, "SELECT ?", Ph("?")),
        (Lite, "SELECT * FROM analytics_db__events WHERE id = ?1", Ph("?1")),
        (Lite, "SELECT :name", Ph(":name")),
        (Lite, "SELECT @x", Ph("@x")),
        (Pg, "SELECT :name", Ph(":name")),
        // PostgreSQL's `?` is the jsonb key operator; alone it does not parse.
        (Pg, "SELECT ?", Parse),
        // The placeholder check comes before the table check.
        (Both, "SELECT * FROM quote_db__quotes WHERE id = $2", Ph("$1")),
    ]);
}

#[test]
#[rustfmt::skip]
fn functions() {
    run(&[
        (Both, "SELECT load_extension('/tmp/x.so')", Func("load_extension")),
        (Both, "SELECT LOAD_EXTENSION('/tmp/x.so')", Func("load_extension")),
        (Both, r#"SELECT "load_extension"('/tmp/x.so')"#, Func("load_extension")),
        (Both, "SELECT readfile('/etc/passwd')", Func("readfile")),
        (Both, "SELECT writefile('/tmp/x', 'y')", Func("writefile")),
        (Both, "SELECT sqlite_version()", Func("sqlite_version")),
        (Both, "SELECT pg_sleep(10)", Func("pg_sleep")),
        (Both, "SELECT randomblob(1000000000)", Func("randomblob")),
        (Both, "SELECT zeroblob(1000000000)", Func("zeroblob")),
        (Both, "SELECT current_setting('is_superuser')", Func("current_setting")),
        (Both, "SELECT set_config('role', 'x', false)", Func("set_config")),
        (Both, "SELECT dblink_exec('x', 'DROP TABLE y')", Func("dblink_exec")),
        (Both, "SELECT lo_import('/etc/passwd')", Func("lo_import")),
        (Both, "SELECT query_to_xml('SELECT * FROM quote_db__quotes', true, true, '')", Func("query_to_xml")),
        (Both, "SELECT foo(1)", Func("foo")),
        (Pg, "SELECT nextval('s')", Func("nextval")),
        (Both, "SELECT main.lower('x')", Func("main.lower")),
        (Pg, "SELECT pg_catalog.lower('x')", Func("pg_catalog.lower")),
        (Both, "SELECT * FROM analytics_db__events WHERE id IN (SELECT load_extension('x'))", Func("load_extension")),
        (Both, "SELECT * FROM analytics_db__events ORDER BY randomblob(10)", Func("randomblob")),
        (Both, "SELECT CASE WHEN n > 0 THEN readfile('x') END FROM analytics_db__events", Func("readfile")),
        (Both, "SELECT sum(foo(n)) OVER (ORDER BY n) FROM analytics_db__events", Func("foo")),
        (Both, "SELECT * FROM analytics_db__events LIMIT foo(1)", Func("foo")),
        (Both, "INSERT INTO analytics_db__events (id) VALUES (readfile('x'))", Func("readfile")),
        (Both, "UPDATE analytics_db__events SET n = foo(n)", Func("foo")),
        (Both, "DELETE FROM analytics_db__events WHERE foo(id)", Func("foo")),
        (Lite, "SELECT * FROM pragma_table_info('analytics_db__events')", Func("pragma_table_info")),
        (Lite, "SELECT * FROM analytics_db__events WHERE name IN pragma_table_list()", Func("pragma_table_list")),
        (Pg, "SELECT * FROM pg_ls_dir('.')", Func("pg_ls_dir")),
        (Pg, "SELECT * FROM LATERAL foo(1)", Refused),
        // Tables are reported before functions.
        (Both, "SELECT foo(1) FROM quote_db__quotes", Ns(QQ)),
    ]);
}

#[test]
fn parse_errors_carry_line_and_column() {
    let err = check(
        "SELECT id\nFROM analytics_db__events\nWHERE id = = 1",
        &plugin(),
        Dialect::Sqlite,
    )
    .unwrap_err();
    let PolicyError::Parse {
        message,
        line,
        column,
    } = &err
    else {
        panic!("expected a parse error, got {err:?}");
    };
    assert_eq!((*line, *column), (Some(3), Some(12)), "{err:?}");
    assert!(!message.contains("Line:"), "position left in {message:?}");
    assert_eq!(err.details()["line"], 3);

    let err = check("SELECT 1,\n  'open", &plugin(), Dialect::Postgres).unwrap_err();
    let PolicyError::Parse { line, column, .. } = &err else {
        panic!("expected a parse error, got {err:?}");
    };
    assert_eq!((*line, *column), (Some(2), Some(3)), "{err:?}");
}

#[test]
fn placeholder_limit() {
    let list = |n: usize| {
        (1..=n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let sql = format!("SELECT {}", list(MAX_PLACEHOLDERS));
        let verdict = check(&sql, &plugin(), dialect).unwrap();
        assert_eq!(verdict.placeholders(), MAX_PLACEHOLDERS, "{dialect:?}");
        let sql = format!("SELECT {}", list(MAX_PLACEHOLDERS + 1));
        check_case(&Policy::default(), dialect, &sql, Ph("$1001"));
    }
}

#[test]
fn invalid_placeholder_reasons_say_the_fix() {
    let reason = |sql: &str| match check(sql, &plugin(), Dialect::Sqlite) {
        Err(PolicyError::InvalidPlaceholder { reason, .. }) => reason,
        other => panic!("{sql:?} gave {other:?}"),
    };
    assert_eq!(
        reason("SELECT $1, $3"),
        "placeholders must be $1..$n without gaps; $2 is missing"
    );
    assert!(reason("SELECT ?").contains("$1"));
    assert!(reason("SELECT :a").contains("$1"));
}

#[test]
fn deployment_functions_extend_but_never_override() {
    let policy = Policy::default().with_functions(["Haversine", "load_extension", "pg_sleep"]);
    let lite = Dialect::Sqlite;
    check_case(
        &policy,
        lite,
        "SELECT haversine(a, b) FROM analytics_db__events",
        Allow(Select, &[EV], 0),
    );
    check_case(
        &policy,
        lite,
        "SELECT load_extension('x')",
        Func("load_extension"),
    );
    check_case(&policy, lite, "SELECT pg_sleep(1)", Func("pg_sleep"));
    check_case(
        &Policy::default(),
        lite,
        "SELECT haversine(a, b) FROM analytics_db__events",
        Func("haversine"),
    );
}

/// Positions a table can stand in; `{T}` is replaced by the table under test.
#[rustfmt::skip]
const TABLE_POSITIONS: &[(On, &str)] = &[
    (Both, "SELECT * FROM {T}"),
    (Both, "SELECT * FROM {T} AS x"),
    (Both, "SELECT * FROM analytics_db__events e JOIN {T} x ON x.id = e.id"),
    (Both, "SELECT * FROM analytics_db__events e LEFT JOIN {T} x ON x.id = e.id"),
    (Both, "SELECT * FROM analytics_db__events e CROSS JOIN {T}"),
    (Both, "SELECT * FROM analytics_db__events NATURAL JOIN {T}"),
    (Both, "SELECT * FROM analytics_db__events, {T}"),
    (Both, "SELECT * FROM analytics_db__events WHERE id IN (SELECT id FROM {T})"),
    (Both, "SELECT * FROM analytics_db__events WHERE NOT EXISTS (SELECT 1 FROM {T})"),
    (Both, "SELECT (SELECT count(*) FROM {T})"),
    (Both, "SELECT n FROM analytics_db__events GROUP BY n HAVING n > (SELECT 1 FROM {T})"),
    (Both, "SELECT CASE WHEN 1 = 1 THEN (SELECT 1 FROM {T}) END"),
    (Both, "SELECT * FROM analytics_db__events ORDER BY (SELECT 1 FROM {T})"),
    (Both, "SELECT * FROM analytics_db__events LIMIT (SELECT 1 FROM {T})"),
    (Both, "SELECT * FROM (SELECT * FROM (SELECT * FROM {T}) a) b"),
    (Both, "SELECT 1 UNION SELECT 1 FROM {T}"),
    (Both, "WITH c AS (SELECT * FROM {T}) SELECT * FROM c"),
    (Both, "WITH c AS (SELECT 1) SELECT * FROM c, {T}"),
    (Both, "INSERT INTO {T} (id) VALUES (1)"),
    (Both, "INSERT INTO analytics_db__events SELECT * FROM {T}"),
    (Both, "INSERT INTO analytics_db__events (id) VALUES (1) RETURNING (SELECT 1 FROM {T})"),
    (Both, "INSERT INTO analytics_db__events (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET n = (SELECT 1 FROM {T})"),
    (Both, "UPDATE {T} SET n = 1"),
    (Both, "UPDATE analytics_db__events SET n = (SELECT 1 FROM {T})"),
    (Both, "UPDATE analytics_db__events SET n = 1 FROM {T}"),
    (Both, "DELETE FROM {T}"),
    (Both, "DELETE FROM analytics_db__events WHERE id IN (SELECT id FROM {T})"),
    (Pg, "DELETE FROM analytics_db__events USING {T}"),
    (Both, "WITH c AS (SELECT 1) DELETE FROM {T}"),
    (Lite, "SELECT 1 WHERE 1 IN {T}"),
    (Pg, "SELECT 1 UNION TABLE {T}"),
];

/// Every position, filled with the plugin's own table, another plugin's table in several
/// spellings, a qualified name and a system table: only the first is allowed.
#[test]
fn every_position_checks_every_spelling() {
    let policy = Policy::default();
    for (on, template) in TABLE_POSITIONS {
        for dialect in on.dialects() {
            let fill = |table: &str| template.replace("{T}", table);
            let own = fill("analytics_db__other");
            let verdict = policy
                .check(&own, &plugin(), *dialect)
                .unwrap_or_else(|e| panic!("{dialect:?}: {own:?} gave {e:?}"));
            assert!(
                verdict.tables().contains("analytics_db__other"),
                "{dialect:?}: {own:?}"
            );
            check_case(&policy, *dialect, &fill("quote_db__quotes"), Ns(QQ));
            check_case(
                &policy,
                *dialect,
                &fill("Quote_DB__Quotes"),
                Ns("Quote_DB__Quotes"),
            );
            check_case(&policy, *dialect, &fill(r#""quote_db__quotes""#), Ns(QQ));
            check_case(&policy, *dialect, &fill("/* c */ quote_db__quotes"), Ns(QQ));
            check_case(
                &policy,
                *dialect,
                &fill("s.analytics_db__other"),
                Ns("s.analytics_db__other"),
            );
            let system = match dialect {
                Dialect::Sqlite => "sqlite_master",
                Dialect::Postgres => "pg_authid",
            };
            check_case(&policy, *dialect, &fill(system), Sys(system));
        }
    }
}

/// Positions a function call can stand in; `{F}` is replaced by the call under test.
#[rustfmt::skip]
const FUNCTION_POSITIONS: &[(On, &str)] = &[
    (Both, "SELECT {F}"),
    (Both, "SELECT * FROM analytics_db__events WHERE {F} = 1"),
    (Both, "SELECT * FROM analytics_db__events ORDER BY {F}"),
    (Both, "SELECT count(*) FROM analytics_db__events GROUP BY n HAVING max({F}) > 0"),
    (Both, "SELECT CASE WHEN n = 1 THEN {F} ELSE 0 END FROM analytics_db__events"),
    (Both, "SELECT * FROM analytics_db__events WHERE id IN (SELECT {F})"),
    (Both, "SELECT * FROM (SELECT {F} AS x) s"),
    (Both, "WITH c AS (SELECT {F} AS x) SELECT x FROM c"),
    (Both, "SELECT 1 UNION SELECT {F}"),
    (Both, "INSERT INTO analytics_db__events (id) VALUES ({F})"),
    (Both, "INSERT INTO analytics_db__events (id) VALUES (1) RETURNING {F}"),
    (Both, "UPDATE analytics_db__events SET n = {F}"),
    (Both, "DELETE FROM analytics_db__events WHERE id = {F}"),
    (Both, "SELECT coalesce(lower(upper({F})), 'x')"),
];

#[test]
fn every_function_position_is_checked() {
    let policy = Policy::default();
    for (on, template) in FUNCTION_POSITIONS {
        for dialect in on.dialects() {
            let fill = |call: &str| template.replace("{F}", call);
            let fine = fill("abs(1)");
            assert!(
                policy.check(&fine, &plugin(), *dialect).is_ok(),
                "{dialect:?}: {fine:?}"
            );
            for (call, name) in [
                ("load_extension('x')", "load_extension"),
                ("foo(1)", "foo"),
                ("main.abs(1)", "main.abs"),
            ] {
                check_case(&policy, *dialect, &fill(call), Func(name));
            }
        }
    }
}

#[test]
#[rustfmt::skip]
fn dialect_corners() {
    run(&[
        (Pg, "SELECT * FROM analytics_db__events WHERE id = ANY (SELECT id FROM quote_db__quotes)", Ns(QQ)),
        (Pg, "SELECT * FROM analytics_db__events e, LATERAL (SELECT * FROM quote_db__quotes) x", Ns(QQ)),
        (Pg, "SELECT * FROM analytics_db__events e JOIN LATERAL generate_series(1, e.n) g ON true", Allow(Select, &[EV], 0)),
        (Pg, "SELECT * FROM analytics_db__events e JOIN LATERAL pg_ls_dir('.') g ON true", Func("pg_ls_dir")),
        (Pg, "SELECT * FROM ONLY quote_db__quotes", Ns(QQ)),
        (Pg, "SELECT * FROM analytics_db__events WHERE EXISTS (TABLE quote_db__quotes)", Ns(QQ)),
        (Pg, "WITH t AS (TABLE quote_db__quotes) SELECT * FROM t", Ns(QQ)),
        (Pg, "UPDATE analytics_db__events SET (a, b) = (SELECT a, b FROM quote_db__quotes)", Ns(QQ)),
        (Pg, "SELECT count(*) FILTER (WHERE n IN (SELECT 1 FROM quote_db__quotes)) FROM analytics_db__events", Ns(QQ)),
        (Pg, "SELECT array_agg(n ORDER BY (SELECT 1 FROM quote_db__quotes)) FROM analytics_db__events", Ns(QQ)),
        (Pg, "SELECT * FROM analytics_db__events WINDOW w AS (PARTITION BY (SELECT 1 FROM quote_db__quotes))", Ns(QQ)),
        (Both, "SELECT * FROM analytics_db__events WHERE a IN (VALUES ((SELECT 1 FROM quote_db__quotes)))", Ns(QQ)),
        (Lite, "INSERT INTO analytics_db__events VALUES (1) ON CONFLICT DO UPDATE SET n = 1 WHERE n IN (SELECT 1 FROM quote_db__quotes)", Ns(QQ)),
        (Lite, "WITH d AS (DELETE FROM analytics_db__events RETURNING *) SELECT * FROM d", Stmt("data-modifying CTE")),
        (Pg, "SELECT * FROM analytics_db__events FOR SHARE", Stmt("SELECT FOR UPDATE")),
        (Pg, "SELECT * FROM xmltable('/x' PASSING $1 COLUMNS a int)", Stmt("XMLTABLE")),
        (Pg, "SELECT * FROM json_to_record($1) AS x(a int)", Func("json_to_record")),
        (Pg, "COMMENT ON TABLE analytics_db__events IS 'x'", Stmt("COMMENT")),
        (Pg, "SELECT current_user", Func("current_user")),
        (Pg, "SELECT txid_current()", Func("txid_current")),
        (Pg, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY n), ROW(1, 2) FROM analytics_db__events", Allow(Select, &[EV], 0)),
        (Pg, "SELECT DISTINCT ON (a) a FROM analytics_db__events GROUP BY ROLLUP (a) FETCH FIRST 1 ROWS ONLY", Allow(Select, &[EV], 0)),
        (Pg, "SELECT CAST(x AS INT), EXTRACT(year FROM ts), SUBSTRING(a FROM 1 FOR 2), TRIM(a), POSITION('a' IN b) FROM analytics_db__events", Allow(Select, &[EV], 0)),
        (Both, "SELECT CURRENT_TIMESTAMP, CURRENT_DATE", Allow(Select, &[], 0)),
        // PostgreSQL: `?` is the jsonb key operator and dollar-quoted text is a string.
        (Pg, "SELECT $1::jsonb ? 'k'", Allow(Select, &[], 1)),
        (Pg, "SELECT $$ $1 $$, $t$ $2 $t$, E'$3'", Allow(Select, &[], 0)),
        (Lite, "SELECT * FROM analytics_db__events WHERE x = $1abc", Ph("$1abc")),
        (Lite, "SELECT * FROM analytics_db__events INDEXED BY quote_db__idx", Allow(Select, &[EV], 0)),
        (Lite, "UPDATE OR REPLACE analytics_db__events SET n = 1", Allow(Update, &[EV], 0)),
        (Both, "SELECT * FROM \u{ff41}nalytics_db__events", Ns("\u{ff41}nalytics_db__events")),
        (Both, "SELECT * FROM analytics_db__events WHERE x = (WITH c AS (SELECT 1) SELECT * FROM c)", Allow(Select, &[EV], 0)),
    ]);
}

/// Deep input must give an error, not overflow the stack (which aborts the process).
#[test]
fn deep_input_is_refused_not_overflowed() {
    let long_chain = format!("SELECT {}1", "1+".repeat(32_000));
    let parens = format!("SELECT {}1{}", "(".repeat(300), ")".repeat(300));
    let unions = vec!["SELECT 1"; 5_000].join(" UNION ");
    let ors = format!(
        "SELECT 1 FROM analytics_db__events WHERE {}",
        vec!["a = 1"; 5_000].join(" OR ")
    );
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        for sql in [&long_chain, &parens, &unions, &ors] {
            check_case(&Policy::default(), dialect, sql, Parse);
        }
        let fine = format!("SELECT {}1", "1+".repeat(200));
        check_case(&Policy::default(), dialect, &fine, Allow(Select, &[], 0));
        let wide = format!("SELECT {}", vec!["1+1"; 5_000].join(", "));
        check_case(&Policy::default(), dialect, &wide, Allow(Select, &[], 0));
    }
}
