//! The names of a statement's result columns, when the text alone determines them: what
//! the typed `sql!(as Row, ...)` form compares with the fields a row type needs.

use sqlparser::ast::{Expr, SelectItem, SetExpr, Statement};
use sqlparser::parser::Parser;

use crate::Dialect;

/// The result column names of `sql`, in order: aliases, column names (the last part of a
/// qualified name), or an expression's text as SQLite names it. `None` when they cannot be
/// known from the text: `*`, a statement that does not parse or returns no rows.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, result_columns};
///
/// let columns = result_columns("SELECT e.id, name, count(*) AS n FROM t e", Dialect::Sqlite);
/// assert_eq!(columns, Some(vec!["id".to_owned(), "name".to_owned(), "n".to_owned()]));
/// assert_eq!(result_columns("SELECT * FROM t", Dialect::Sqlite), None);
/// ```
#[must_use]
pub fn result_columns(sql: &str, dialect: Dialect) -> Option<Vec<String>> {
    let statements = Parser::parse_sql(crate::policy::parser_dialect(dialect), sql).ok()?;
    let [statement] = statements.as_slice() else {
        return None;
    };
    let items = match statement {
        Statement::Query(query) => select_items(&query.body)?,
        Statement::Insert(insert) => insert.returning.as_deref()?,
        Statement::Update(update) => update.returning.as_deref()?,
        Statement::Delete(delete) => delete.returning.as_deref()?,
        _ => return None,
    };
    items.iter().map(column_name).collect()
}

fn select_items(body: &SetExpr) -> Option<&[SelectItem]> {
    match body {
        SetExpr::Select(select) => Some(&select.projection),
        // The first branch of a set operation names the columns.
        SetExpr::SetOperation { left, .. } => select_items(left),
        SetExpr::Query(query) => select_items(&query.body),
        _ => None,
    }
}

fn column_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(ident.value.clone()),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
            parts.last().map(|p| p.value.clone())
        }
        SelectItem::UnnamedExpr(expr) => Some(expr.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("SELECT a, b AS c, t.d FROM t", Some(&["a", "c", "d"])),
            ("SELECT \"Quoted\" FROM t", Some(&["Quoted"])),
            ("SELECT a FROM t UNION SELECT b FROM u", Some(&["a"])),
            ("SELECT t.* FROM t", None),
            (
                "INSERT INTO t (a) VALUES (1) RETURNING id, a AS x",
                Some(&["id", "x"]),
            ),
            ("DELETE FROM t", None),
            ("SELECT 1; SELECT 2", None),
            ("not sql", None),
        ];
        for (sql, expected) in cases {
            let expected =
                expected.map(|cols| cols.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>());
            assert_eq!(result_columns(sql, Dialect::Sqlite), expected, "{sql}");
        }
    }
}
