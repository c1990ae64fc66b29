//! A grammar of SQLite statements aimed at the policy's accepting side.
//!
//! Random token soup almost never parses (see `sql-core/src/policy/fuzz_tests.rs`), so it
//! says nothing about what the policy lets through. These statements are built to parse,
//! to prepare against the schema of [`super::oracle`] and, mostly, to be accepted: they
//! read and write the plugin's tables through CTEs, subqueries in every clause, joins of
//! every kind, set operations, upserts, `RETURNING`, views and table-valued functions,
//! spelled with quoting and case tricks. Now and then a source is another plugin's table,
//! an unprefixed table, a near-miss prefix or a system table, and CTEs and aliases are
//! named like those, so that a policy that loses track of a name has something to accept.
//!
//! Every decision comes from [`Choices`]: a seeded generator in the test, the fuzzer's
//! bytes in the `policy_vs_sqlite` fuzz target. Alternative 0 of every decision is the
//! shortest one, so once the bytes run out the statement closes quickly.

/// Where the generator's decisions come from.
pub(crate) trait Choices {
    /// A number in `0..n`, for `n >= 1`.
    fn below(&mut self, n: usize) -> usize;
}

/// Decisions read from bytes, one byte each, and 0 once they run out: any input is a
/// statement, and libFuzzer's mutations of the bytes are mutations of the statement's
/// shape.
#[derive(Debug)]
pub(crate) struct ByteChoices<'a> {
    bytes: &'a [u8],
}

impl<'a> ByteChoices<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
}

impl Choices for ByteChoices<'_> {
    fn below(&mut self, n: usize) -> usize {
        match self.bytes.split_first() {
            Some((first, rest)) => {
                self.bytes = rest;
                usize::from(*first) % n.max(1)
            }
            None => 0,
        }
    }
}

/// One statement drawn from the grammar.
pub(crate) fn statement(choices: &mut impl Choices) -> String {
    let mut generator = Generator {
        choices,
        next_alias: 0,
        placeholders: 0,
        ctes: Vec::new(),
        outer: Vec::new(),
    };
    generator.statement()
}

/// How deep subqueries nest; deeper statements add little and slow the test down.
const MAX_DEPTH: u32 = 3;

/// The plugin's own tables and views, with their columns (see `oracle::SCHEMA`).
const OWN: &[(&str, &[&str])] = &[
    ("analytics_db__events", &["id", "user_id", "name", "n"]),
    ("analytics_db__tags", &["id", "event_id", "name", "n"]),
    ("analytics_db__recent", &["id", "name", "n"]),
    ("Analytics_DB__Mixed", &["id", "name"]),
];

/// Own tables that can be written to (the view cannot), with the columns an `INSERT` may
/// list and the conflict targets an upsert may name.
const WRITABLE: &[(&str, &[&str], &[&str])] = &[
    ("analytics_db__events", &["user_id", "name", "n"], &["(id)"]),
    (
        "analytics_db__tags",
        &["event_id", "name", "n"],
        &["(event_id, name)", "(id)"],
    ),
    ("Analytics_DB__Mixed", &["id", "name"], &["(id)"]),
];

/// Tables and views the plugin does not own, each a way to get the prefix rule wrong:
/// another plugin's table and view, an unprefixed table, a near-miss prefix and system
/// tables.
const FOREIGN: &[(&str, &[&str])] = &[
    ("quote_db__quotes", &["id", "text"]),
    ("quote_db__recent", &["id", "text"]),
    ("events", &["id", "name"]),
    ("analytics_db_events", &["id", "name"]),
    ("sqlite_master", &["name", "type", "rootpage"]),
    ("sqlite_sequence", &["name", "seq"]),
    ("sqlite_stat1", &["tbl", "idx", "stat"]),
];

/// Names for CTEs and subquery aliases: plain ones, and ones that shadow a real table of
/// either owner, which SQLite resolves to the CTE or alias and never to the table.
const SHADOW_NAMES: &[&str] = &[
    "quote_db__quotes",
    "Quote_DB__Quotes",
    "\"quote_db__recent\"",
    "events",
    "analytics_db_events",
    "analytics_db__tags",
    "sqlite_sequence",
    "sqlite_master",
];

/// Table-valued functions the policy allows, with the columns used from them.
const TABLE_FUNCTIONS: &[(&str, &[&str])] = &[
    ("json_each('[1, 2, 3]')", &["key", "value", "type"]),
    (
        "json_tree('{\"a\": [1, {\"b\": 2}]}')",
        &["key", "value", "path"],
    ),
    ("json_each('{\"x\": 1}', '$')", &["key", "value", "atom"]),
];

/// A FROM item as the rest of the query refers to it.
#[derive(Debug, Clone)]
struct Source {
    /// The qualifier for its columns: the alias, or the table name as written.
    qualifier: String,
    columns: Vec<&'static str>,
}

/// What a CTE name means inside the statement: a relation with the columns `id`, `name`.
#[derive(Debug, Clone, Copy)]
struct Cte {
    name: &'static str,
}

/// Result columns of the generated queries, in order: `width` columns use the first
/// `width` names, so that set operations, CTEs, derived tables and `INSERT ... SELECT`
/// line up.
const RESULT_NAMES: &[&str] = &["id", "name", "n"];

struct Generator<'c, C: Choices> {
    choices: &'c mut C,
    next_alias: usize,
    /// The highest `$n` used so far; a new placeholder is at most one more, so the
    /// statement never has a gap.
    placeholders: usize,
    /// CTEs visible at this point, innermost last.
    ctes: Vec<Cte>,
    /// Sources of the enclosing queries, for correlated references.
    outer: Vec<Vec<Source>>,
}

impl<C: Choices> Generator<'_, C> {
    fn below(&mut self, n: usize) -> usize {
        self.choices.below(n)
    }

    /// True one time in `n`; false once the bytes run out.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) + 1 == n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn alias(&mut self) -> String {
        self.next_alias += 1;
        format!("t{}", self.next_alias)
    }

    /// Blank space between two tokens, now and then a comment.
    fn gap(&mut self) -> &'static str {
        self.pick(&[" ", " ", " ", " ", " ", "\n", " /* c */ ", " -- c\n", "\t"])
    }

    /// A keyword in one of the cases SQL allows.
    fn keyword(&mut self, word: &str) -> String {
        match self.below(6) {
            1 => word.to_ascii_lowercase(),
            2 => {
                let mut out = word.to_ascii_lowercase();
                if let Some(first) = out.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                out
            }
            _ => word.to_owned(),
        }
    }

    /// A table or CTE name written in one of the spellings SQLite reads as that name.
    fn spell(&mut self, name: &str) -> String {
        if name.starts_with('"') {
            return name.to_owned();
        }
        match self.below(10) {
            1 => name.to_ascii_uppercase(),
            2 => name.to_ascii_lowercase(),
            3 => format!("\"{name}\""),
            4 => format!("`{name}`"),
            5 => format!("[{name}]"),
            6 => name
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect(),
            _ => name.to_owned(),
        }
    }

    fn placeholder(&mut self) -> String {
        let n = 1 + self.below(self.placeholders + 1);
        self.placeholders = self.placeholders.max(n);
        format!("${n}")
    }

    fn statement(&mut self) -> String {
        match self.below(12) {
            0..=4 => self.query(2, 0),
            5 | 6 => self.insert(),
            7 | 8 => self.update(),
            9 | 10 => self.delete(),
            _ => self.values(2, 0),
        }
    }

    /// `WITH ...` before a write: its CTEs are visible in the write.
    fn write_prefix(&mut self) -> (String, usize) {
        if self.one_in(3) {
            let before = self.ctes.len();
            let with = self.with_clause(0);
            (with, before)
        } else {
            (String::new(), self.ctes.len())
        }
    }

    fn insert(&mut self) -> String {
        let (with, ctes_before) = self.write_prefix();
        let (table, columns, targets) = self.pick(WRITABLE);
        let verb = match self.below(6) {
            1 => "INSERT OR IGNORE INTO",
            2 => "INSERT OR REPLACE INTO",
            // TODO(finding: `WITH ... REPLACE INTO` does not parse): sqlparser 0.64 takes
            // no REPLACE after WITH, which SQLite runs; refused, so not generated.
            3 if with.is_empty() => "REPLACE INTO",
            _ => "INSERT INTO",
        };
        let written = self.spell(table);
        let width = 1 + self.below(columns.len().min(RESULT_NAMES.len()));
        let listed = columns[..width].join(", ");
        let body = match self.below(4) {
            1 | 2 => {
                // SQLite needs a WHERE in `INSERT ... SELECT ... ON CONFLICT`: without it
                // `ON` would start a join constraint.
                let query = self.query(width, 1);
                format!("SELECT * FROM ({query}) WHERE true")
            }
            3 if verb == "INSERT INTO" && self.one_in(4) => "DEFAULT VALUES".to_owned(),
            _ => self.values(width, 1),
        };
        let mut sql = if body == "DEFAULT VALUES" {
            format!("{with}{verb} {written} {body}")
        } else {
            format!("{with}{verb} {written} ({listed}){}{body}", self.gap())
        };
        if verb == "INSERT INTO" && body != "DEFAULT VALUES" && self.one_in(2) {
            let source = Source {
                qualifier: written.clone(),
                columns: columns.to_vec(),
            };
            sql.push_str(&self.upsert(targets, &source, columns));
        }
        let source = Source {
            qualifier: written,
            columns: columns.to_vec(),
        };
        sql.push_str(&self.returning(&source));
        self.ctes.truncate(ctes_before);
        sql
    }

    fn upsert(&mut self, targets: &[&str], table: &Source, columns: &[&'static str]) -> String {
        if self.one_in(3) {
            return " ON CONFLICT DO NOTHING".to_owned();
        }
        let target = self.pick(targets);
        let column = self.pick(columns);
        let excluded = Source {
            qualifier: "excluded".to_owned(),
            columns: columns.to_vec(),
        };
        let scope = vec![table.clone(), excluded];
        let value = self.expr(&scope, 1);
        let mut sql = format!(" ON CONFLICT {target} DO UPDATE SET {column} = {value}");
        if self.one_in(2) {
            let cond = self.cond(&scope, 1);
            sql.push_str(&format!(" WHERE {cond}"));
        }
        sql
    }

    /// `RETURNING`, whose columns SQLite takes only unqualified.
    fn returning(&mut self, target: &Source) -> String {
        let target = &Source {
            qualifier: String::new(),
            columns: target.columns.clone(),
        };
        match self.below(5) {
            1 => " RETURNING *".to_owned(),
            2 => {
                let scope = vec![target.clone()];
                let a = self.column(&scope);
                let b = self.expr(&scope, 1);
                format!(" RETURNING {a}, {b} AS x")
            }
            3 => {
                let sub = self.scalar_subquery(std::slice::from_ref(target), 1);
                format!(" RETURNING id, {sub} AS x")
            }
            _ => String::new(),
        }
    }

    /// A table to write, as written in the statement (aliased one time in `alias_odds`),
    /// its columns as the statement sees them, and its writable columns.
    fn write_target(&mut self, alias_odds: usize) -> (String, Source, &'static [&'static str]) {
        let (table, columns, _) = self.pick(WRITABLE);
        let written = self.spell(table);
        let (target, qualifier) = if self.one_in(alias_odds) {
            let alias = self.alias();
            (format!("{written} AS {alias}"), alias)
        } else {
            (written.clone(), written)
        };
        let me = Source {
            qualifier,
            columns: columns.iter().copied().chain(["id"]).collect(),
        };
        (target, me, columns)
    }

    fn update(&mut self) -> String {
        let (with, ctes_before) = self.write_prefix();
        let (target, me, columns) = self.write_target(2);
        let mut scope = vec![me.clone()];
        let from = if self.one_in(3) {
            let (from, sources) = self.sources_clause(1);
            scope.extend(sources);
            format!(" FROM {from}")
        } else {
            String::new()
        };
        let or = self.pick(&["", "", "", " OR IGNORE", " OR REPLACE"]);
        let mut sets = Vec::new();
        for _ in 0..1 + self.below(2) {
            let column = self.pick(columns);
            let value = self.expr(&scope, 1);
            sets.push(format!("{column} = {value}"));
        }
        let mut sql = format!(
            "{with}{}{or} {target}{}{} {}{from}",
            self.keyword("UPDATE"),
            self.gap(),
            self.keyword("SET"),
            sets.join(", ")
        );
        if self.below(4) != 0 {
            let cond = self.cond(&scope, 1);
            sql.push_str(&format!(" WHERE {cond}"));
        }
        sql.push_str(&self.returning(&me));
        self.ctes.truncate(ctes_before);
        sql
    }

    fn delete(&mut self) -> String {
        let (with, ctes_before) = self.write_prefix();
        let (target, me, _) = self.write_target(3);
        let mut sql = format!("{with}{} {target}", self.keyword("DELETE FROM"));
        if self.below(4) != 0 {
            let cond = self.cond(std::slice::from_ref(&me), 1);
            sql.push_str(&format!("{}WHERE {cond}", self.gap()));
        }
        sql.push_str(&self.returning(&me));
        self.ctes.truncate(ctes_before);
        sql
    }

    fn values(&mut self, width: usize, depth: u32) -> String {
        let rows = 1 + self.below(3);
        let scope: Vec<Source> = Vec::new();
        let rows: Vec<String> = (0..rows)
            .map(|_| {
                let items: Vec<String> = (0..width).map(|_| self.expr(&scope, depth)).collect();
                format!("({})", items.join(", "))
            })
            .collect();
        format!("{} {}", self.keyword("VALUES"), rows.join(", "))
    }

    /// A query with `width` result columns named from [`RESULT_NAMES`].
    fn query(&mut self, width: usize, depth: u32) -> String {
        let ctes_before = self.ctes.len();
        let with = if depth < MAX_DEPTH && self.one_in(4) {
            self.with_clause(depth)
        } else {
            String::new()
        };
        let mut sql = with;
        let compound = depth < MAX_DEPTH && self.one_in(4);
        sql.push_str(&self.core(width, depth, !compound));
        if compound {
            for _ in 0..1 + self.below(2) {
                let op = self.pick(&["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
                let op = self.keyword(op);
                let gap = self.gap();
                let right = if self.one_in(5) {
                    self.values(width, depth + 1)
                } else {
                    self.core(width, depth + 1, false)
                };
                sql.push_str(&format!("{gap}{op}{gap}{right}"));
            }
            if self.one_in(2) {
                sql.push_str(" ORDER BY 1");
            }
        }
        if self.one_in(4) {
            let scope: Vec<Source> = Vec::new();
            let limit = match self.below(4) {
                // A subquery in LIMIT is a place a table can hide, too.
                1 if depth < MAX_DEPTH => self.scalar_subquery(&scope, depth + 1),
                2 => self.placeholder(),
                _ => "10".to_owned(),
            };
            sql.push_str(&format!(" LIMIT {limit}"));
            if self.one_in(3) {
                sql.push_str(" OFFSET 1");
            }
        }
        self.ctes.truncate(ctes_before);
        sql
    }

    fn with_clause(&mut self, depth: u32) -> String {
        let recursive = self.one_in(4);
        let mut parts = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for _ in 0..1 + self.below(2) {
            let name = if self.one_in(3) {
                self.pick(SHADOW_NAMES)
            } else {
                self.pick(&["c1", "c2", "c3"])
            };
            // SQLite refuses a WITH that binds one name twice.
            if names.iter().any(|n| {
                n.trim_matches('"')
                    .eq_ignore_ascii_case(name.trim_matches('"'))
            }) {
                continue;
            }
            names.push(name);
            let written = self.spell(name);
            let columns = if self.one_in(3) { "(id, name)" } else { "" };
            // TODO(finding: `AS MATERIALIZED` does not parse): sqlparser 0.64's SQLite
            // dialect refuses the hint, which SQLite 3.35+ takes; rare, so that the
            // statements it spoils do not crowd out the rest.
            let materialized = if self.one_in(40) {
                self.pick(&["MATERIALIZED ", "NOT MATERIALIZED "])
            } else {
                ""
            };
            let body = if recursive && self.one_in(2) {
                // The name is visible in its own body only here.
                let reference = self.spell(name);
                format!(
                    "SELECT 1 AS id, 'a' AS name UNION ALL SELECT id + 1, name FROM {reference} WHERE id < 3"
                )
            } else {
                self.query(2, depth + 1)
            };
            parts.push(format!("{written}{columns} AS {materialized}({body})"));
            // Visible to the CTEs after it and to the body of the query.
            self.ctes.push(Cte { name });
        }
        let keyword = if recursive { "WITH RECURSIVE" } else { "WITH" };
        format!(
            "{} {}{}",
            self.keyword(keyword),
            parts.join(", "),
            self.gap()
        )
    }

    /// One `SELECT` without `WITH`, `ORDER BY` of a compound or `LIMIT`.
    fn core(&mut self, width: usize, depth: u32, may_order: bool) -> String {
        let distinct = if self.one_in(6) { "DISTINCT " } else { "" };
        if self.below(5) == 0 {
            // No FROM: only constants, placeholders, correlated columns and subqueries.
            let items: Vec<String> = (0..width)
                .map(|i| {
                    let value = self.expr(&[], depth);
                    format!("{value} AS {}", RESULT_NAMES[i])
                })
                .collect();
            return format!("{} {distinct}{}", self.keyword("SELECT"), items.join(", "));
        }
        let (from, sources) = self.sources_clause(depth);
        let aggregate = self.one_in(4);
        let window = !aggregate && self.one_in(6);
        let named_window = window && self.one_in(2);
        let items: Vec<String> = (0..width)
            .map(|i| {
                let value = if aggregate && self.below(3) != 0 {
                    self.aggregate(&sources)
                } else if window && i == 0 {
                    self.window(&sources, named_window)
                } else {
                    self.expr(&sources, depth)
                };
                format!("{value} AS {}", RESULT_NAMES[i])
            })
            .collect();
        let (select, gap, from_keyword) =
            (self.keyword("SELECT"), self.gap(), self.keyword("FROM"));
        let mut sql = format!(
            "{select}{gap}{distinct}{}{gap}{from_keyword} {from}",
            items.join(", ")
        );
        if self.below(3) != 0 {
            let cond = self.cond(&sources, depth);
            sql.push_str(&format!("{}{} {cond}", self.gap(), self.keyword("WHERE")));
        }
        if aggregate && self.one_in(2) {
            let key = if depth < MAX_DEPTH && self.one_in(4) {
                self.scalar_subquery(&sources, depth + 1)
            } else {
                self.column(&sources)
            };
            sql.push_str(&format!(" GROUP BY {key}"));
            if self.one_in(2) {
                let count = self.aggregate(&sources);
                let bound = if depth < MAX_DEPTH && self.one_in(2) {
                    self.scalar_subquery(&sources, depth + 1)
                } else {
                    "0".to_owned()
                };
                sql.push_str(&format!(" HAVING {count} > {bound}"));
            }
        }
        if named_window {
            let column = self.column(&sources);
            sql.push_str(&format!(" WINDOW w AS (ORDER BY {column})"));
        }
        if may_order && self.one_in(3) {
            let key = if depth < MAX_DEPTH && self.one_in(2) {
                self.scalar_subquery(&sources, depth + 1)
            } else {
                self.column(&sources)
            };
            let direction = self.pick(&["", " DESC", " ASC NULLS LAST"]);
            sql.push_str(&format!(" ORDER BY {key}{direction}"));
        }
        sql
    }

    /// A FROM clause and the sources it brings into scope.
    fn sources_clause(&mut self, depth: u32) -> (String, Vec<Source>) {
        let (mut sql, first) = self.source(depth, true);
        let mut sources = vec![first];
        for _ in 0..self.below(4).saturating_sub(1) {
            let (item, source) = self.source(depth, false);
            let mut op = self.pick(&[
                ",",
                " JOIN",
                " INNER JOIN",
                " LEFT JOIN",
                " LEFT OUTER JOIN",
                " RIGHT JOIN",
                " FULL JOIN",
                " FULL OUTER JOIN",
                " CROSS JOIN",
                " NATURAL JOIN",
                " NATURAL LEFT JOIN",
                " NATURAL FULL JOIN",
            ]);
            if op.contains("NATURAL") && sources.len() > 1 {
                // A natural join after the first may find a column on several tables
                // to its left, which SQLite calls ambiguous.
                op = " CROSS JOIN";
            }
            let constraint = if op == "," || op.contains("NATURAL") || op.contains("CROSS") {
                String::new()
            } else if source.columns.contains(&"id")
                // With more tables on the left, `id` may be ambiguous there.
                && sources.len() == 1
                && sources[0].columns.contains(&"id")
                && self.one_in(2)
            {
                " USING (id)".to_owned()
            } else {
                let mut visible = sources.clone();
                visible.push(source.clone());
                let cond = self.cond(&visible, depth);
                format!(" ON {cond}")
            };
            sql.push_str(&format!("{op} {item}{constraint}"));
            sources.push(source);
        }
        (sql, sources)
    }

    /// One FROM item. Only the first of a clause may stand without an alias, so that two
    /// unaliased items never share a qualifier.
    fn source(&mut self, depth: u32, first: bool) -> (String, Source) {
        let choice = if depth >= MAX_DEPTH {
            self.below(2) * 4
        } else {
            self.below(9)
        };
        match choice {
            1 | 2 if !self.ctes.is_empty() => {
                let Cte { name } = self.pick(&self.ctes.clone());
                let written = self.spell(name);
                self.aliased(written, vec!["id", "name"], first)
            }
            3 => {
                let alias = self.aliased_name();
                let query = self.query(2, depth + 1);
                (
                    format!("({query}) AS {alias}"),
                    Source {
                        qualifier: alias,
                        columns: vec!["id", "name"],
                    },
                )
            }
            5 => {
                let (function, columns) = self.pick(TABLE_FUNCTIONS);
                let alias = self.alias();
                (
                    format!("{function} AS {alias}"),
                    Source {
                        qualifier: alias,
                        columns: columns.to_vec(),
                    },
                )
            }
            6 if self.one_in(5) => {
                let (table, columns) = self.pick(FOREIGN);
                let written = self.spell(table);
                self.aliased(written, columns.to_vec(), first)
            }
            _ => {
                let (table, columns) = self.pick(OWN);
                let written = self.spell(table);
                self.aliased(written, columns.to_vec(), first)
            }
        }
    }

    /// An alias for a derived table: usually `tN`, sometimes the name of a real table.
    fn aliased_name(&mut self) -> String {
        if self.one_in(4) {
            let name = self.pick(SHADOW_NAMES);
            self.spell(name)
        } else {
            self.alias()
        }
    }

    fn aliased(
        &mut self,
        written: String,
        columns: Vec<&'static str>,
        first: bool,
    ) -> (String, Source) {
        if first && self.one_in(3) {
            let source = Source {
                qualifier: written.clone(),
                columns,
            };
            return (written, source);
        }
        let alias = self.alias();
        let keyword = if self.one_in(3) { " " } else { " AS " };
        (
            format!("{written}{keyword}{alias}"),
            Source {
                qualifier: alias,
                columns,
            },
        )
    }

    /// A column of a source in scope, qualified, sometimes of an enclosing query.
    fn column(&mut self, scope: &[Source]) -> String {
        let outer = self.outer.last().cloned().unwrap_or_default();
        let from = if !outer.is_empty() && (scope.is_empty() || self.one_in(4)) {
            outer
        } else {
            scope.to_vec()
        };
        if from.is_empty() {
            return "1".to_owned();
        }
        let source = &from[self.below(from.len())];
        let column = source.columns[self.below(source.columns.len())];
        let column = match self.below(6) {
            1 => format!("\"{column}\""),
            2 => column.to_ascii_uppercase(),
            _ => column.to_owned(),
        };
        if source.qualifier.is_empty() {
            column
        } else {
            format!("{}.{column}", source.qualifier)
        }
    }

    fn literal(&mut self) -> String {
        self.pick(&[
            "1",
            "0",
            "'a'",
            "NULL",
            "2.5",
            "x'00'",
            "'{\"a\": 1}'",
            "-3",
        ])
        .to_owned()
    }

    /// A scalar expression over `scope`.
    fn expr(&mut self, scope: &[Source], depth: u32) -> String {
        let choice = if depth >= MAX_DEPTH {
            self.below(3)
        } else {
            self.below(14)
        };
        match choice {
            0 => self.literal(),
            1 | 2 => self.column(scope),
            3 => self.placeholder(),
            4 | 5 => {
                let call = self.pick(&[
                    "lower({a})",
                    "upper({a})",
                    "abs({a})",
                    "length({a})",
                    "coalesce({a}, {b})",
                    "ifnull({a}, {b})",
                    "nullif({a}, {b})",
                    "typeof({a})",
                    "substr({a}, 1, 2)",
                    "round({a})",
                    "printf('%s-%s', {a}, {b})",
                    "json_extract({a}, '$.a')",
                    "json_array({a}, {b})",
                    "json_object('k', {a})",
                    "trim({a})",
                    "replace({a}, 'a', 'b')",
                    "instr({a}, 'a')",
                    "hex({a})",
                    "quote({a})",
                    "max({a}, {b})",
                    "min({a}, {b})",
                    "iif({a}, {b}, 0)",
                    "likely({a})",
                    "date('now')",
                    "strftime('%Y', 'now')",
                    "concat({a}, {b})",
                    "format('%d', {a})",
                ]);
                self.fill(call, scope, depth + 1)
            }
            6 => {
                let a = self.expr(scope, depth + 1);
                let b = self.expr(scope, depth + 1);
                let op = self.pick(&["+", "-", "*", "||", "%", "&", "<<"]);
                format!("({a} {op} {b})")
            }
            7 => {
                let cond = self.cond(scope, depth + 1);
                let a = self.expr(scope, depth + 1);
                let b = self.expr(scope, depth + 1);
                format!("CASE WHEN {cond} THEN {a} ELSE {b} END")
            }
            8 | 9 => self.scalar_subquery(scope, depth + 1),
            10 => {
                let a = self.expr(scope, depth + 1);
                let ty = self.pick(&["INTEGER", "TEXT", "REAL", "BLOB", "NUMERIC"]);
                format!("CAST({a} AS {ty})")
            }
            11 => {
                let a = self.expr(scope, depth + 1);
                let op = self.pick(&["->", "->>"]);
                format!("({a} {op} '$.a')")
            }
            12 => {
                let a = self.expr(scope, depth + 1);
                format!("({a} COLLATE NOCASE)")
            }
            _ => {
                let a = self.column(scope);
                format!("-{a}")
            }
        }
    }

    /// `template` with each `{a}` and `{b}` replaced by an expression. Only the holes the
    /// template has are generated: an expression made and then dropped could hold the
    /// only use of a placeholder, leaving a gap.
    fn fill(&mut self, template: &str, scope: &[Source], depth: u32) -> String {
        let mut out = template.to_owned();
        for hole in ["{a}", "{b}"] {
            if out.contains(hole) {
                let value = self.expr(scope, depth);
                out = out.replacen(hole, &value, 1);
            }
        }
        out
    }

    fn aggregate(&mut self, scope: &[Source]) -> String {
        let column = self.column(scope);
        let call = self.pick(&[
            "count(*)",
            "count({c})",
            "count(DISTINCT {c})",
            "sum({c})",
            "max({c})",
            "min({c})",
            "avg({c})",
            "total({c})",
            "group_concat({c})",
            "json_group_array({c})",
        ]);
        call.replace("{c}", &column)
    }

    /// A window function call; `named` ones use the query's `WINDOW w`.
    fn window(&mut self, scope: &[Source], named: bool) -> String {
        let a = self.column(scope);
        let b = self.column(scope);
        let call = self.pick(&[
            "row_number()",
            "rank()",
            "dense_rank()",
            "sum({a})",
            "lag({a})",
            "first_value({a})",
            "count(*)",
        ]);
        let call = call.replace("{a}", &a);
        if named {
            return format!("{call} OVER w");
        }
        match self.below(3) {
            1 => format!("{call} OVER (PARTITION BY {a} ORDER BY {b})"),
            2 => format!("{call} OVER (ORDER BY {b} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"),
            _ => format!("{call} OVER (ORDER BY {b})"),
        }
    }

    /// `(SELECT one column ...)`, which may refer to the columns of `scope`.
    fn scalar_subquery(&mut self, scope: &[Source], depth: u32) -> String {
        self.outer.push(scope.to_vec());
        let query = self.query(1, depth.max(1));
        self.outer.pop();
        format!("({query})")
    }

    /// A subquery of any width for EXISTS, correlated with `scope`.
    fn subquery(&mut self, scope: &[Source], depth: u32, width: usize) -> String {
        self.outer.push(scope.to_vec());
        let query = self.query(width, depth.max(1));
        self.outer.pop();
        query
    }

    /// A condition over `scope`.
    fn cond(&mut self, scope: &[Source], depth: u32) -> String {
        let choice = if depth >= MAX_DEPTH {
            0
        } else {
            self.below(11)
        };
        match choice {
            0 | 1 => {
                let a = self.expr(scope, depth + 1);
                let b = self.expr(scope, depth + 1);
                let op = self.pick(&["=", "<>", "<", ">=", "IS", "IS NOT", "!=", "=="]);
                format!("{a} {op} {b}")
            }
            2 => {
                let a = self.expr(scope, depth + 1);
                let b = self.expr(scope, depth + 1);
                format!("{a} IN ({b}, 1)")
            }
            3 => {
                let a = self.expr(scope, depth + 1);
                let query = self.subquery(scope, depth + 1, 1);
                let not = self.pick(&["", "NOT "]);
                format!("{a} {not}IN ({query})")
            }
            4 => {
                let query = self.subquery(scope, depth + 1, 2);
                let not = self.pick(&["", "NOT "]);
                format!("{not}EXISTS ({query})")
            }
            5 => {
                let a = self.cond(scope, depth + 1);
                let b = self.cond(scope, depth + 1);
                let op = self.pick(&["AND", "OR"]);
                format!("({a} {op} {b})")
            }
            6 => {
                let a = self.cond(scope, depth + 1);
                format!("NOT ({a})")
            }
            7 => {
                let a = self.expr(scope, depth + 1);
                let b = self.expr(scope, depth + 1);
                let c = self.expr(scope, depth + 1);
                format!("{a} BETWEEN {b} AND {c}")
            }
            8 => {
                let a = self.expr(scope, depth + 1);
                let op = self.pick(&["LIKE 'a%'", "GLOB 'a*'", "IS NULL", "IS NOT NULL"]);
                format!("{a} {op}")
            }
            9 => {
                let a = self.expr(scope, depth + 1);
                let (function, _) = self.pick(TABLE_FUNCTIONS);
                format!("{a} IN (SELECT value FROM {function})")
            }
            _ => {
                let a = self.expr(scope, depth + 1);
                let query = self.scalar_subquery(scope, depth + 1);
                format!("{a} = {query}")
            }
        }
    }
}
