//! One statement from text to verdict (PROTOCOL.md section 5): tokenize once, parse the
//! tokens, classify the single statement, then run the placeholder and reference checks.

use sqlparser::ast::{SetExpr, Statement};
use sqlparser::dialect::{Dialect as ParserDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, TokenizerError, Word};

use super::{Dialect, Policy, PolicyError, StatementKind, Verdict, placeholders, tables};
use crate::Plugin;

/// Checks one statement; see [`Policy::check`] for the order of the checks.
pub(super) fn check(
    policy: &Policy,
    sql: &str,
    plugin: &Plugin,
    dialect: Dialect,
) -> Result<Verdict, PolicyError> {
    let parser_dialect = parser_dialect(dialect);
    let tokens = Tokenizer::new(parser_dialect, sql)
        .tokenize_with_location()
        .map_err(tokenizer_error)?;
    let outline = Outline::of(&tokens);
    if outline.statement_count == 0 {
        return Err(PolicyError::Empty);
    }
    check_operator_chains(&tokens)?;
    let mut found_placeholders = placeholders::from_tokens(&tokens);
    let statements = Parser::new(parser_dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|err| outline.explain_parse_error(err))?;
    let statement = match statements.as_slice() {
        [statement] => statement,
        [] => return Err(PolicyError::Empty),
        several => {
            return Err(PolicyError::StackedQueries {
                count: several.len(),
            });
        }
    };
    let kind = classify(statement, &outline)?;
    let mut references = tables::walk(policy, plugin, dialect, statement);
    if let Some(err) = references.take_forbidden_statement() {
        return Err(err);
    }
    placeholders::add_from_statement(statement, &mut found_placeholders);
    let placeholders = placeholders::validate(&found_placeholders)?;
    let tables = references.into_tables()?;
    Ok(Verdict {
        kind,
        tables,
        placeholders,
    })
}

pub(crate) fn parser_dialect(dialect: Dialect) -> &'static dyn ParserDialect {
    match dialect {
        Dialect::Sqlite => &SQLiteDialect {},
        Dialect::Postgres => &PostgreSqlDialect {},
    }
}

/// The statement kind, from the parsed statement only: a leading comment or odd spacing
/// cannot hide a write. Every statement outside the allowlist is refused.
fn classify(statement: &Statement, outline: &Outline) -> Result<StatementKind, PolicyError> {
    match statement {
        Statement::Query(query) => match query.body.as_ref() {
            // `WITH ... INSERT/UPDATE/DELETE`: the body decides what the statement does.
            SetExpr::Insert(_) => Ok(StatementKind::Insert),
            SetExpr::Update(_) => Ok(StatementKind::Update),
            SetExpr::Delete(_) => Ok(StatementKind::Delete),
            SetExpr::Merge(_) => Err(forbidden("MERGE")),
            SetExpr::Select(_)
            | SetExpr::Query(_)
            | SetExpr::SetOperation { .. }
            | SetExpr::Values(_)
            | SetExpr::Table(_) => Ok(StatementKind::Select),
        },
        Statement::Insert(_) => Ok(StatementKind::Insert),
        Statement::Update(_) => Ok(StatementKind::Update),
        Statement::Delete(_) => Ok(StatementKind::Delete),
        Statement::Merge(_) => Err(forbidden("MERGE")),
        _ => Err(forbidden(&outline.leading_keywords)),
    }
}

fn forbidden(statement_type: &str) -> PolicyError {
    PolicyError::ForbiddenStatement {
        statement_type: statement_type.to_owned(),
    }
}

/// What the token stream tells before parsing: how many statements it holds and how the
/// first one begins. It names refused statements and explains parse errors.
#[derive(Debug)]
struct Outline {
    /// Statements separated by `;` that hold more than whitespace and comments.
    statement_count: usize,
    /// The first one's leading keywords, such as `PRAGMA` or `CREATE TABLE`.
    leading_keywords: String,
    /// Whether the first one begins like an allowed statement (`SELECT`, `WITH`, ...).
    starts_like_allowed: bool,
    /// Whether it holds a row-locking clause (`FOR UPDATE`, `FOR NO KEY UPDATE`, ...),
    /// some of which the parser does not know.
    locks_rows: bool,
}

impl Outline {
    fn of(tokens: &[TokenWithSpan]) -> Self {
        let mut statement_count = 0;
        let mut in_statement = false;
        for token in tokens {
            match token.token {
                Token::SemiColon => in_statement = false,
                Token::Whitespace(_) | Token::EOF => {}
                _ if !in_statement => {
                    in_statement = true;
                    statement_count += 1;
                }
                _ => {}
            }
        }
        let words: Vec<&Word> = tokens
            .iter()
            .map(|t| &t.token)
            .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
            .map_while(|t| match t {
                Token::Word(word) if word.quote_style.is_none() => Some(word),
                _ => None,
            })
            .take(4)
            .collect();
        Self {
            statement_count,
            leading_keywords: leading_keywords(&words),
            starts_like_allowed: words.first().is_none_or(|w| is_allowed_start(w)),
            locks_rows: locks_rows(tokens),
        }
    }

    /// Turns a parse error into the clearest refusal: several statements, a statement kind
    /// the parser does not know but the policy refuses anyway (`PRAGMA table_info(x)`,
    /// `DETACH`, `REINDEX`), or the parse error with its position.
    fn explain_parse_error(&self, err: ParserError) -> PolicyError {
        if self.statement_count > 1 {
            PolicyError::StackedQueries {
                count: self.statement_count,
            }
        } else if !self.starts_like_allowed {
            forbidden(&self.leading_keywords)
        } else if self.locks_rows {
            forbidden(LOCKING_READ)
        } else {
            parse_error(err)
        }
    }
}

/// The statement type of a read that locks rows, parsed or not.
pub(super) const LOCKING_READ: &str = "SELECT FOR UPDATE";

/// Statements of PostgreSQL or SQLite whose first word the parser has no keyword for: they
/// are refused as what they are rather than as a typo.
const UNPARSED_STATEMENT_WORDS: &[&str] = &["CHECKPOINT", "MOVE", "REASSIGN"];

fn is_allowed_start(word: &Word) -> bool {
    match word.keyword {
        Keyword::SELECT
        | Keyword::WITH
        | Keyword::VALUES
        | Keyword::INSERT
        | Keyword::REPLACE
        | Keyword::UPDATE
        | Keyword::DELETE => true,
        // Not a keyword at all: a typo such as `SELEC 1` is a parse error, not a kind.
        Keyword::NoKeyword => !UNPARSED_STATEMENT_WORDS
            .iter()
            .any(|w| w.eq_ignore_ascii_case(&word.value)),
        _ => false,
    }
}

/// Whether `FOR` is followed by a row-lock strength: `UPDATE`, `SHARE`, `NO KEY UPDATE` or
/// `KEY SHARE`. Elsewhere `FOR` is followed by a number (`substring(x FROM 1 FOR 2)`) or
/// another word.
fn locks_rows(tokens: &[TokenWithSpan]) -> bool {
    let words = tokens.iter().filter_map(|t| match &t.token {
        Token::Whitespace(_) => None,
        Token::Word(word) if word.quote_style.is_none() => Some(Some(word.keyword)),
        _ => Some(None),
    });
    let mut previous = None;
    for word in words {
        if previous == Some(Keyword::FOR)
            && matches!(
                word,
                Some(Keyword::UPDATE | Keyword::SHARE | Keyword::NO | Keyword::KEY)
            )
        {
            return true;
        }
        previous = word;
    }
    false
}

/// A short name for a refused statement from its first words: `DROP TABLE`, `PRAGMA`,
/// `CREATE VIRTUAL TABLE`, `SET`.
fn leading_keywords(words: &[&Word]) -> String {
    let upper: Vec<String> = words.iter().map(|w| w.value.to_ascii_uppercase()).collect();
    let Some(first) = upper.first() else {
        return "unknown".to_owned();
    };
    if !matches!(first.as_str(), "CREATE" | "ALTER" | "DROP") {
        return first.clone();
    }
    // Skip modifiers to reach the object kind: `CREATE OR REPLACE TEMP VIEW` is a CREATE VIEW.
    let mut name = vec![first.as_str()];
    let mut rest = upper.iter().skip(1).map(String::as_str).filter(|w| {
        !matches!(
            *w,
            "OR" | "REPLACE" | "TEMP" | "TEMPORARY" | "UNIQUE" | "UNLOGGED"
        )
    });
    if let Some(object) = rest.next() {
        name.push(object);
        if matches!(object, "VIRTUAL" | "MATERIALIZED")
            && let Some(next) = rest.next()
        {
            name.push(next);
        }
    }
    name.join(" ")
}

/// Longest run of operators one nesting level may chain (`a OR b OR ...`, `1 + 1 + ...`).
///
/// The parser builds such a run iteratively into a tree as deep as the run is long, and
/// walking or dropping that tree recurses once per level: 32,000 levels fit in a 64 KiB
/// query and overflow a 2 MiB thread stack, which aborts the process. Parenthesised
/// nesting is bounded by the parser's own recursion limit instead.
const MAX_OPERATOR_RUN: usize = 256;

/// Refuses a statement with more than [`MAX_OPERATOR_RUN`] operators chained at one
/// parenthesis level. A comma ends a run, since comma-separated items are siblings.
fn check_operator_chains(tokens: &[TokenWithSpan]) -> Result<(), PolicyError> {
    let mut runs = vec![0_usize];
    for token in tokens {
        match &token.token {
            Token::LParen => runs.push(0),
            // An unbalanced `)` is the parser's to report; the outermost level stays.
            Token::RParen if runs.len() > 1 => {
                runs.pop();
            }
            Token::Comma | Token::SemiColon => {
                if let Some(run) = runs.last_mut() {
                    *run = 0;
                }
            }
            other if chains(other) => {
                let run = runs.last_mut().map_or(0, |run| {
                    *run += 1;
                    *run
                });
                if run > MAX_OPERATOR_RUN {
                    return Err(PolicyError::Parse {
                        message: format!(
                            "more than {MAX_OPERATOR_RUN} operators in a row; use IN (...) or split the expression"
                        ),
                        line: Some(token.span.start.line),
                        column: Some(token.span.start.column),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether a token links two parts of a chain. Anything not known to be a name, literal or
/// separator counts, so an operator added to a later sqlparser is counted too.
fn chains(token: &Token) -> bool {
    match token {
        Token::Word(word) => {
            word.quote_style.is_none()
                && matches!(
                    word.keyword,
                    Keyword::AND
                        | Keyword::OR
                        | Keyword::IS
                        | Keyword::COLLATE
                        | Keyword::UNION
                        | Keyword::INTERSECT
                        | Keyword::EXCEPT
                        | Keyword::LIKE
                        | Keyword::ILIKE
                        | Keyword::GLOB
                        | Keyword::REGEXP
                        | Keyword::MATCH
                        | Keyword::BETWEEN
                )
        }
        Token::EOF
        | Token::Number(..)
        | Token::Char(_)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_)
        | Token::Placeholder(_)
        | Token::Whitespace(_)
        | Token::Period
        | Token::Comma
        | Token::SemiColon
        | Token::LParen
        | Token::RParen
        | Token::RBracket => false,
        _ => true,
    }
}

fn tokenizer_error(err: TokenizerError) -> PolicyError {
    let known = err.location.line > 0;
    PolicyError::Parse {
        message: err.message,
        line: known.then_some(err.location.line),
        column: known.then_some(err.location.column),
    }
}

/// sqlparser's errors are text with the position at the end (`... at Line: 1, Column: 8`);
/// the position is split off into fields.
fn parse_error(err: ParserError) -> PolicyError {
    let text = match err {
        ParserError::TokenizerError(text) | ParserError::ParserError(text) => text,
        ParserError::RecursionLimitExceeded => {
            return PolicyError::Parse {
                message: "the query is nested too deeply".to_owned(),
                line: None,
                column: None,
            };
        }
    };
    match split_position(&text) {
        Some((message, line, column)) => PolicyError::Parse {
            message: message.to_owned(),
            line: Some(line),
            column: Some(column),
        },
        None => PolicyError::Parse {
            message: text,
            line: None,
            column: None,
        },
    }
}

/// A parse error's message and line, for callers that report positions themselves.
pub(crate) fn parse_error_position(err: &ParserError) -> (String, Option<u64>) {
    match parse_error(err.clone()) {
        PolicyError::Parse { message, line, .. } => (message, line),
        other => (other.to_string(), None),
    }
}

fn split_position(text: &str) -> Option<(&str, u64, u64)> {
    let (message, position) = text.rsplit_once(" at Line: ")?;
    let (line, column) = position.split_once(", Column: ")?;
    Some((
        message,
        line.trim().parse().ok()?,
        column.trim().parse().ok()?,
    ))
}
