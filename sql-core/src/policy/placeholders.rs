//! Placeholders (PROTOCOL.md section 4): only `$1..$n`, without gaps, at most
//! [`MAX_PLACEHOLDERS`].
//!
//! They are read from the token stream, where the tokenizer has already set string
//! literals, quoted identifiers and comments apart, so `'$1'` is no placeholder. The
//! parser turns some token pairs into placeholders the tokenizer does not mark (`:name`,
//! `@name` under SQLite), so the parsed statement's values are read as well.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Statement, Value, ValueWithSpan, Visit, Visitor};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::{MAX_PLACEHOLDERS, PolicyError};

/// How many distinct placeholders `sql` holds as written, whether or not the policy
/// accepts it: the parameter count of an audit record for a statement refused before it
/// could run. 0 when the text does not tokenize.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, placeholder_count};
///
/// let sql = "SELECT * FROM quote_db__quotes WHERE id = $1 OR id = $2 OR note = '$3'";
/// assert_eq!(placeholder_count(sql, Dialect::Sqlite), 2);
/// ```
#[must_use]
pub fn placeholder_count(sql: &str, dialect: crate::Dialect) -> usize {
    sqlparser::tokenizer::Tokenizer::new(super::parser_dialect(dialect), sql)
        .tokenize_with_location()
        .map_or(0, |tokens| from_tokens(&tokens).len())
}

/// The placeholders of the token stream, as written, in order of appearance.
pub(super) fn from_tokens(tokens: &[TokenWithSpan]) -> Vec<String> {
    let mut found = Vec::new();
    for token in tokens {
        if let Token::Placeholder(text) = &token.token {
            push_new(&mut found, text);
        }
    }
    found
}

/// Adds the placeholders of the parsed statement that the token stream did not show.
pub(super) fn add_from_statement(statement: &Statement, found: &mut Vec<String>) {
    let mut collector = Collector { found };
    // The collector never breaks, so the walk always runs to the end.
    let _ = statement.visit(&mut collector);
}

/// Checks that the placeholders are exactly `$1..$n` and returns `n`.
///
/// Problems are reported in order of appearance: a form other than `$n` first, then `$0`,
/// a leading zero or a number past [`MAX_PLACEHOLDERS`], then the first gap.
pub(super) fn validate(found: &[String]) -> Result<usize, PolicyError> {
    let mut used = BTreeSet::new();
    for text in found {
        used.insert(index_of(text)?);
    }
    let n = used.last().copied().unwrap_or(0);
    match (1..=n).find(|k| !used.contains(k)) {
        Some(missing) => Err(invalid(
            &format!("${missing}"),
            format!("placeholders must be $1..$n without gaps; ${missing} is missing"),
        )),
        None => Ok(n),
    }
}

/// The number of one placeholder, or why it is not a valid `$n`.
fn index_of(text: &str) -> Result<usize, PolicyError> {
    let digits = match text.strip_prefix('$') {
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits,
        _ => {
            return Err(invalid(
                text,
                "only numbered placeholders $1, $2, ... are allowed; ?, ?NNN, :name, @name and $name are not"
                    .to_owned(),
            ));
        }
    };
    if digits.bytes().all(|b| b == b'0') {
        return Err(invalid(
            text,
            "placeholders are numbered from $1".to_owned(),
        ));
    }
    if digits.starts_with('0') {
        // SQLite binds `$01` by name, as a parameter other than `$1`: a silent NULL.
        return Err(invalid(
            text,
            "write placeholders without leading zeros, such as $1".to_owned(),
        ));
    }
    match digits.parse::<usize>() {
        Ok(n) if n <= MAX_PLACEHOLDERS => Ok(n),
        _ => Err(invalid(
            text,
            format!("a statement may use at most {MAX_PLACEHOLDERS} placeholders"),
        )),
    }
}

fn invalid(placeholder: &str, reason: String) -> PolicyError {
    PolicyError::InvalidPlaceholder {
        placeholder: placeholder.to_owned(),
        reason,
    }
}

fn push_new(found: &mut Vec<String>, text: &str) {
    if !found.iter().any(|seen| seen == text) {
        found.push(text.to_owned());
    }
}

/// Gathers `Value::Placeholder`s of a parsed statement.
struct Collector<'a> {
    found: &'a mut Vec<String>,
}

impl Visitor for Collector<'_> {
    type Break = ();

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<()> {
        if let Value::Placeholder(text) = &value.value {
            push_new(self.found, text);
        }
        ControlFlow::Continue(())
    }
}
