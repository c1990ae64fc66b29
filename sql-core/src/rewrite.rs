//! Edits of statement text that change only the tokens they target: every other byte,
//! strings and comments included, stays exactly as written.
//!
//! Two edits exist: removing sqlx's nullability override suffix from quoted names
//! (`AS "top!"` is sent as `AS "top"`), and turning `IN ($n)` with a list value into the
//! backend's form for a list (SQLite `IN (SELECT value FROM json_each($n))`, PostgreSQL
//! `= ANY($n)`).

use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::Dialect;

fn tokens(sql: &str, dialect: Dialect) -> Option<Vec<TokenWithSpan>> {
    Tokenizer::new(crate::policy::parser_dialect(dialect), sql)
        .tokenize_with_location()
        .ok()
}

/// Byte offsets of the start of each line.
fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(sql.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The byte offset of a tokenizer location (1-based line, 1-based column in characters).
fn offset(sql: &str, starts: &[usize], at: Location) -> Option<usize> {
    let line = usize::try_from(at.line).ok()?.checked_sub(1)?;
    let start = *starts.get(line)?;
    let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let rest = &sql[start..];
    Some(
        start
            + rest
                .char_indices()
                .nth(column)
                .map_or(rest.len(), |(i, _)| i),
    )
}

/// Applies `edits` (byte ranges, in order, not overlapping) to `sql`.
fn splice(sql: &str, edits: &[(std::ops::Range<usize>, String)]) -> String {
    let mut out = String::with_capacity(sql.len() + 32);
    let mut at = 0;
    for (range, text) in edits {
        out.push_str(&sql[at..range.start]);
        out.push_str(text);
        at = range.end;
    }
    out.push_str(&sql[at..]);
    out
}

/// `sql` with the override suffix removed from every double-quoted name ending in `!` or
/// `?`; `None` when there is none (or the text does not tokenize). Nothing else changes.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, strip_nullability_overrides};
///
/// let sent = strip_nullability_overrides(r#"SELECT 'it''s', max(id) AS "top!" FROM t"#, Dialect::Sqlite);
/// assert_eq!(sent.as_deref(), Some(r#"SELECT 'it''s', max(id) AS "top" FROM t"#));
/// assert_eq!(strip_nullability_overrides("SELECT '!\"' FROM t", Dialect::Sqlite), None);
/// ```
#[must_use]
pub fn strip_nullability_overrides(sql: &str, dialect: Dialect) -> Option<String> {
    if !sql.contains("!\"") && !sql.contains("?\"") {
        return None;
    }
    let starts = line_starts(sql);
    let mut edits = Vec::new();
    for token in tokens(sql, dialect)? {
        if let Token::Word(word) = &token.token
            && word.quote_style == Some('"')
            && word.value.ends_with(['!', '?'])
        {
            let start = offset(sql, &starts, token.span.start)?;
            let end = offset(sql, &starts, token.span.end)?;
            // The token is `"name!"`: drop the character before the closing quote.
            let text = &sql[start..end];
            let inner = text.strip_suffix('"')?;
            let mut kept = inner.to_owned();
            kept.pop();
            kept.push('"');
            edits.push((start..end, kept));
        }
    }
    (!edits.is_empty()).then(|| splice(sql, &edits))
}

/// `sql` with each `IN ($n)` whose `n` is in `lists` (a list argument, sent as a JSON
/// array) written in the backend's form for a list; `NOT IN` likewise. `None` when nothing
/// changes.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, expand_list_params};
///
/// let sql = "SELECT id FROM t WHERE id IN ($1) AND name NOT IN ( $2 ) AND n = $3";
/// assert_eq!(
///     expand_list_params(sql, Dialect::Sqlite, &[1, 2]).as_deref(),
///     Some("SELECT id FROM t WHERE id IN (SELECT value FROM json_each($1)) AND name NOT IN (SELECT value FROM json_each($2)) AND n = $3"),
/// );
/// assert_eq!(
///     expand_list_params(sql, Dialect::Postgres, &[1, 2]).as_deref(),
///     Some("SELECT id FROM t WHERE id = ANY($1) AND name <> ALL($2) AND n = $3"),
/// );
/// assert_eq!(expand_list_params(sql, Dialect::Sqlite, &[3]), None);
/// ```
#[must_use]
pub fn expand_list_params(sql: &str, dialect: Dialect, lists: &[usize]) -> Option<String> {
    if lists.is_empty() {
        return None;
    }
    let tokens = tokens(sql, dialect)?;
    // The significant tokens, with their index among all tokens.
    let significant: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .map(|(i, _)| i)
        .collect();
    let starts = line_starts(sql);
    let span_of = |from: usize, to: usize| -> Option<std::ops::Range<usize>> {
        Some(
            offset(sql, &starts, tokens[from].span.start)?
                ..offset(sql, &starts, tokens[to].span.end)?,
        )
    };
    let mut edits = Vec::new();
    for window in significant.windows(4) {
        let [kw, open, value, close] = [window[0], window[1], window[2], window[3]];
        let (Token::Word(word), Token::LParen, Token::Placeholder(p), Token::RParen) = (
            &tokens[kw].token,
            &tokens[open].token,
            &tokens[value].token,
            &tokens[close].token,
        ) else {
            continue;
        };
        let Some(n) = p.strip_prefix('$').and_then(|d| d.parse::<usize>().ok()) else {
            continue;
        };
        if !word.value.eq_ignore_ascii_case("IN")
            || word.quote_style.is_some()
            || !lists.contains(&n)
        {
            continue;
        }
        let negated = significant
            .iter()
            .position(|&i| i == kw)
            .and_then(|at| at.checked_sub(1))
            .map(|before| significant[before])
            .filter(|&i| matches!(&tokens[i].token, Token::Word(w) if w.value.eq_ignore_ascii_case("NOT") && w.quote_style.is_none()));
        match dialect {
            Dialect::Sqlite => {
                edits.push((
                    span_of(open, close)?,
                    format!("(SELECT value FROM json_each({p}))"),
                ));
            }
            Dialect::Postgres => {
                let from = negated.unwrap_or(kw);
                let form = if negated.is_some() { "<> ALL" } else { "= ANY" };
                edits.push((span_of(from, close)?, format!("{form}({p})")));
            }
        }
    }
    (!edits.is_empty()).then(|| splice(sql, &edits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_but_the_targets_stays_byte_for_byte() {
        let sql = "SELECT 'it''s é', \"a\"\"b\" AS \"x!\" -- c \"y?\"\n FROM t /* \"z!\" */ WHERE \"q?\" = 1";
        let out = strip_nullability_overrides(sql, Dialect::Sqlite).unwrap();
        assert_eq!(
            out,
            "SELECT 'it''s é', \"a\"\"b\" AS \"x\" -- c \"y?\"\n FROM t /* \"z!\" */ WHERE \"q\" = 1"
        );
        let lists = "SELECT 'IN ($1)' FROM t WHERE\n  é IN\n ($1) -- IN ($1)";
        assert_eq!(
            expand_list_params(lists, Dialect::Postgres, &[1]).unwrap(),
            "SELECT 'IN ($1)' FROM t WHERE\n  é = ANY($1) -- IN ($1)"
        );
        // Two placeholders in the list are no list argument.
        assert_eq!(
            expand_list_params("SELECT 1 WHERE a IN ($1, $2)", Dialect::Sqlite, &[1]),
            None
        );
    }
}
