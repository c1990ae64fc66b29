//! sqlx's nullability override, in the text sent: `AS "name!"` and `AS "name?"` tell the
//! compile-time check that a column is NOT NULL or nullable; the database must see plain
//! `"name"`, so that the reply's column is called what the struct reads.

use sqlparser::tokenizer::{Token, Tokenizer};

use crate::Dialect;

/// `sql` with the override suffix removed from every double-quoted name ending in `!` or
/// `?`; `None` when there is none (or the text does not tokenize).
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, strip_nullability_overrides};
///
/// let sent = strip_nullability_overrides(r#"SELECT max(id) AS "top!" FROM t"#, Dialect::Sqlite);
/// assert_eq!(sent.as_deref(), Some(r#"SELECT max(id) AS "top" FROM t"#));
/// assert_eq!(strip_nullability_overrides("SELECT '!\"' FROM t", Dialect::Sqlite), None);
/// ```
#[must_use]
pub fn strip_nullability_overrides(sql: &str, dialect: Dialect) -> Option<String> {
    if !sql.contains("!\"") && !sql.contains("?\"") {
        return None;
    }
    let mut tokens = Tokenizer::new(crate::policy::parser_dialect(dialect), sql)
        .tokenize()
        .ok()?;
    let mut changed = false;
    for token in &mut tokens {
        if let Token::Word(word) = token
            && word.quote_style == Some('"')
            && let Some(base) = word.value.strip_suffix(['!', '?'])
        {
            word.value = base.to_owned();
            changed = true;
        }
    }
    changed.then(|| tokens.iter().map(ToString::to_string).collect())
}
