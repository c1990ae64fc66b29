//! Generated statements against the policy's two promises: it never panics on any input,
//! and whatever it accepts references only the plugin's own tables.

use crate::{Dialect, Plugin, TableOwner, check};

/// A small deterministic generator (xorshift), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const FRAGMENTS: &[&str] = &[
    "SELECT",
    "INSERT INTO",
    "UPDATE",
    "DELETE FROM",
    "WITH",
    "RECURSIVE",
    "AS",
    "(",
    ")",
    ",",
    ";",
    "*",
    "FROM",
    "WHERE",
    "JOIN",
    "LEFT JOIN",
    "NATURAL JOIN",
    "CROSS JOIN",
    "ON",
    "USING",
    "UNION",
    "UNION ALL",
    "EXCEPT",
    "VALUES",
    "SET",
    "=",
    "IN",
    "EXISTS",
    "RETURNING",
    "ON CONFLICT",
    "DO UPDATE SET",
    "DO NOTHING",
    "ORDER BY",
    "GROUP BY",
    "HAVING",
    "LIMIT",
    "CASE WHEN",
    "THEN",
    "ELSE",
    "END",
    "$1",
    "$2",
    "$0",
    "?",
    ":x",
    "'$3'",
    "\"q\"",
    "--c\n",
    "/* c */",
    "1",
    "'text'",
    "x",
    "id",
    "analytics_db__t",
    "ANALYTICS_DB__T",
    "\"analytics_db__t\"",
    "quote_db__t",
    "\"quote_db__t\"",
    "`quote_db__t`",
    "[quote_db__t]",
    "main.analytics_db__t",
    "sqlite_master",
    "pg_catalog.pg_class",
    "information_schema.tables",
    "count(*)",
    "json_each('[1]')",
    "load_extension('x')",
    "lower(x)",
    "generate_series(1, 3)",
    "INTO",
    "DROP TABLE",
    "PRAGMA",
    "ATTACH",
    "t.x",
    "analytics_db__t.id",
    "quote_db__t.id",
    "NOT",
    "AND",
    "OR",
    "+",
    "||",
    "::text",
    "e",
    "q",
];

#[test]
fn generated_statements_never_panic_and_accepted_ones_stay_in_their_prefix() {
    let plugin = Plugin::new("analytics-db").unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for case in 0..20_000 {
        let len = 1 + (rng.next() % 24) as usize;
        let sql: Vec<&str> = (0..len).map(|_| rng.pick(FRAGMENTS)).collect();
        let sql = sql.join(" ");
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            if let Ok(verdict) = check(&sql, &plugin, dialect) {
                accepted += 1;
                for table in verdict.tables() {
                    assert_eq!(
                        plugin.owner_of(table),
                        TableOwner::Plugin,
                        "case {case} {dialect:?}: {sql}"
                    );
                }
                assert!(
                    !sql.to_ascii_lowercase().contains("quote_db__t ")
                        || !verdict.tables().contains("quote_db__t"),
                    "case {case}: {sql}"
                );
            }
        }
    }
    // Token soup rarely parses; the grammar test below covers the accepting side.
    assert!(accepted > 0, "no generated statement was accepted");
}

const TABLES: &[&str] = &[
    "analytics_db__t",
    "analytics_db__u",
    "ANALYTICS_DB__T",
    "\"analytics_db__u\"",
    "quote_db__t",
    "\"quote_db__t\"",
    "main.analytics_db__t",
    "sqlite_master",
    "pg_catalog.pg_class",
    "events",
    "w",
];

/// Statements from a small grammar: most parse, and tables are drawn at random from own,
/// foreign, qualified, system and CTE names.
fn statement(rng: &mut Rng, depth: u32) -> String {
    match rng.next() % 5 {
        0 if depth < 2 => format!(
            "WITH w AS ({}) {}",
            select(rng, depth + 1),
            select(rng, depth + 1)
        ),
        1 => format!(
            "UPDATE {} SET x = {} WHERE {}",
            rng.pick(TABLES),
            expr(rng, depth),
            cond(rng, depth)
        ),
        2 => format!(
            "DELETE FROM {} WHERE {}",
            rng.pick(TABLES),
            cond(rng, depth)
        ),
        3 => format!(
            "INSERT INTO {} (x) {}",
            rng.pick(TABLES),
            select(rng, depth + 1)
        ),
        _ => select(rng, depth),
    }
}

fn select(rng: &mut Rng, depth: u32) -> String {
    let mut sql = format!("SELECT {} FROM {}", expr(rng, depth), rng.pick(TABLES));
    if rng.next().is_multiple_of(3) {
        let join = rng.pick(&["JOIN", "LEFT JOIN", "CROSS JOIN", "NATURAL JOIN", ","]);
        sql.push_str(&format!(" {join} {}", rng.pick(TABLES)));
    }
    if rng.next().is_multiple_of(2) {
        sql.push_str(&format!(" WHERE {}", cond(rng, depth)));
    }
    if rng.next().is_multiple_of(4) {
        sql.push_str(&format!(
            " UNION SELECT {} FROM {}",
            expr(rng, depth),
            rng.pick(TABLES)
        ));
    }
    sql
}

fn expr(rng: &mut Rng, depth: u32) -> String {
    match rng.next() % 6 {
        0 if depth < 3 => format!("({})", select(rng, depth + 1)),
        1 => rng
            .pick(&[
                "count(*)",
                "lower(x)",
                "load_extension('x')",
                "coalesce(x, 1)",
            ])
            .to_owned(),
        2 => "$1".to_owned(),
        _ => rng.pick(&["x", "1", "'t'", "id"]).to_owned(),
    }
}

fn cond(rng: &mut Rng, depth: u32) -> String {
    match rng.next() % 4 {
        0 if depth < 3 => format!("x IN ({})", select(rng, depth + 1)),
        1 if depth < 3 => format!("EXISTS ({})", select(rng, depth + 1)),
        _ => format!("x = {}", expr(rng, depth)),
    }
}

#[test]
fn grammar_statements_are_accepted_only_within_the_prefix() {
    let plugin = Plugin::new("analytics-db").unwrap();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..5_000 {
        let sql = statement(&mut rng, 0);
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            match check(&sql, &plugin, dialect) {
                Ok(verdict) => {
                    accepted += 1;
                    for table in verdict.tables() {
                        assert_eq!(
                            plugin.owner_of(table),
                            TableOwner::Plugin,
                            "case {case} {dialect:?}: {sql}"
                        );
                    }
                    // Every table named in an accepted statement is the plugin's or the CTE.
                    for name in TABLES.iter().filter(|t| sql.contains(*t)) {
                        let bare = name.trim_matches('"').to_ascii_lowercase();
                        assert!(
                            bare.starts_with("analytics_db__") && !bare.contains('.')
                                || bare == "w",
                            "case {case} {dialect:?} accepted {name}: {sql}"
                        );
                    }
                }
                Err(_) => refused += 1,
            }
        }
    }
    assert!(
        accepted > 500 && refused > 500,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn templated_statements_with_a_foreign_table_anywhere_are_refused() {
    let plugin = Plugin::new("analytics-db").unwrap();
    let templates = [
        "SELECT id FROM {}",
        "SELECT id FROM analytics_db__t WHERE id IN (SELECT id FROM {})",
        "SELECT (SELECT 1 FROM {}) AS x FROM analytics_db__t",
        "SELECT a.id FROM analytics_db__t a JOIN {} b ON a.id = b.id",
        "WITH w AS (SELECT id FROM {}) SELECT id FROM w",
        "SELECT id FROM analytics_db__t UNION SELECT id FROM {}",
        "UPDATE {} SET x = 1",
        "UPDATE analytics_db__t SET x = (SELECT x FROM {})",
        "DELETE FROM {} WHERE id = 1",
        "INSERT INTO {} (id) VALUES (1)",
        "INSERT INTO analytics_db__t (id) SELECT id FROM {}",
        "SELECT id FROM analytics_db__t WHERE EXISTS (SELECT 1 FROM {} WHERE {}.id = analytics_db__t.id)",
    ];
    let foreign = [
        "quote_db__t",
        "\"quote_db__t\"",
        "QUOTE_DB__T",
        "main.quote_db__t",
        "sqlite_master",
        "other",
    ];
    for template in templates {
        for table in foreign {
            let sql = template.replace("{}", table);
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                assert!(
                    check(&sql, &plugin, dialect).is_err(),
                    "{dialect:?} accepted: {sql}"
                );
            }
        }
    }
}
