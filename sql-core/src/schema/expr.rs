//! Expressions: every column reference resolved in the scopes around it, the placeholder
//! types their context gives, and the type and nullability of a value.
//!
//! The walk is sqlparser's [`Visitor`], so no expression form is missed; a subquery met on
//! the way is analysed as a query of its own (its names in its own scope, the outer ones
//! visible for correlation), and the walk skips its insides.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    InTarget, Query, UnaryOperator, Value, Visit, Visitor,
};

use super::analyze::{Analyzer, Col};
use super::error::NameError;
use super::suggest::closest;
use super::{Column, Nullability, SqlType};
use crate::Dialect;

/// A value's type, nullability and, when it is a column read as is, which column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Typed {
    pub(crate) ty: SqlType,
    pub(crate) nullability: Nullability,
    pub(crate) origin: Option<String>,
}

impl Typed {
    pub(crate) fn unknown() -> Self {
        Self::of(SqlType::Any, Nullability::Unknown)
    }

    fn of(ty: SqlType, nullability: Nullability) -> Self {
        Self {
            ty,
            nullability,
            origin: None,
        }
    }

    pub(crate) fn column(column: &Column, table: &str) -> Self {
        Self {
            ty: column.ty,
            nullability: if column.not_null {
                Nullability::NotNull
            } else {
                Nullability::Nullable
            },
            origin: Some(format!("{table}.{}", column.name)),
        }
    }

    /// The type of a value that is either `self` or `other` (UNION branches, CASE arms).
    pub(crate) fn union(&self, other: &Self) -> Self {
        let nullability = match (self.nullability, other.nullability) {
            (Nullability::Nullable, _) | (_, Nullability::Nullable) => Nullability::Nullable,
            (Nullability::NotNull, Nullability::NotNull) => Nullability::NotNull,
            _ => Nullability::Unknown,
        };
        Self {
            ty: widen(self.ty, other.ty),
            nullability,
            origin: (self.origin == other.origin)
                .then(|| self.origin.clone())
                .flatten(),
        }
    }
}

/// The common type of two numbers (or the same type); `Any` when they differ otherwise.
fn widen(a: SqlType, b: SqlType) -> SqlType {
    use SqlType::{Any, Integer, Numeric, Real};
    match (a, b) {
        _ if a == b => a,
        (Integer, Real) | (Real, Integer) => Real,
        (Integer | Real, Numeric) | (Numeric, Integer | Real) => Numeric,
        _ => Any,
    }
}

/// Resolves every column reference in `node`.
pub(super) fn check_node<V: Visit>(analyzer: &mut Analyzer<'_>, node: &V) -> Result<(), NameError> {
    let mut walk = Walk {
        analyzer,
        depth: 0,
        error: None,
    };
    let _ = node.visit(&mut walk);
    walk.error.map_or(Ok(()), Err)
}

/// Resolves every column reference in `expr`.
pub(super) fn check(analyzer: &mut Analyzer<'_>, expr: &Expr) -> Result<(), NameError> {
    check_node(analyzer, expr)
}

/// Checks `expr` and infers its type.
pub(super) fn type_of(analyzer: &mut Analyzer<'_>, expr: &Expr) -> Result<Typed, NameError> {
    check(analyzer, expr)?;
    Ok(infer(analyzer, expr))
}

/// `$n` when `expr` is a bare placeholder.
pub(super) fn placeholder(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Placeholder(p) => Some(p),
            _ => None,
        },
        Expr::Nested(inner) => placeholder(inner),
        _ => None,
    }
}

/// The name a result column of `expr` gets when it has no alias (as `result_columns`).
pub(super) fn column_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => {
            parts.last().map(|p| p.value.clone()).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

struct Walk<'a, 's> {
    analyzer: &'a mut Analyzer<'s>,
    /// How many queries deep the walk is; names inside a nested query were resolved by
    /// that query's own analysis.
    depth: usize,
    error: Option<NameError>,
}

impl Walk<'_, '_> {
    fn fail(&mut self, error: NameError) -> ControlFlow<()> {
        self.error = Some(error);
        ControlFlow::Break(())
    }
}

impl Visitor for Walk<'_, '_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if self.depth == 0
            && let Err(error) = self.analyzer.query(query)
        {
            return self.fail(error);
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        let resolved = match expr {
            Expr::Identifier(ident) => resolve(self.analyzer, None, ident).map(drop),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [.., qualifier, column] => {
                    resolve(self.analyzer, Some(qualifier), column).map(drop)
                }
                _ => Ok(()),
            },
            _ => {
                bind_from_context(self.analyzer, expr);
                Ok(())
            }
        };
        match resolved {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => self.fail(error),
        }
    }
}

/// Gives a placeholder the type of what it is compared with.
fn bind_from_context(analyzer: &mut Analyzer<'_>, expr: &Expr) {
    let bind = |analyzer: &mut Analyzer<'_>, other: &Expr, value: &Expr, always_null: bool| {
        let Some(p) = placeholder(value) else { return };
        let typed = infer(analyzer, other);
        let accepts_null = always_null || typed.nullability != Nullability::NotNull;
        let what = typed.origin.clone().unwrap_or_else(|| other.to_string());
        analyzer.bind_param(p, what, typed.ty, accepts_null);
    };
    match expr {
        Expr::BinaryOp { left, op, right } if is_comparison(op) => {
            bind(analyzer, left, right, false);
            bind(analyzer, right, left, false);
        }
        Expr::IsDistinctFrom(left, right) | Expr::IsNotDistinctFrom(left, right) => {
            bind(analyzer, left, right, true);
            bind(analyzer, right, left, true);
        }
        Expr::In {
            expr,
            target: InTarget::List(items),
            ..
        } => {
            for item in items {
                bind(analyzer, expr, item, false);
            }
            // `IN ($1)` with a list argument is a list (PROTOCOL.md section 4).
            if let [item] = items.as_slice()
                && let Some(p) = placeholder(item)
            {
                analyzer.mark_list(p);
            }
        }
        Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. } => {
            bind(analyzer, left, right, false);
            if let Some(p) = placeholder(right) {
                analyzer.mark_list(p);
            }
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            bind(analyzer, expr, low, false);
            bind(analyzer, expr, high, false);
        }
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            if let Some(p) = placeholder(pattern) {
                let accepts_null = infer(analyzer, expr).nullability != Nullability::NotNull;
                analyzer.bind_param(
                    p,
                    format!("the pattern for {expr}"),
                    SqlType::Text,
                    accepts_null,
                );
            }
        }
        _ => {}
    }
}

fn is_comparison(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
    )
}

/// Names that parse as identifiers but are values.
fn is_keyword_value(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "current_timestamp"
            | "current_date"
            | "current_time"
            | "localtime"
            | "localtimestamp"
            | "current_user"
            | "session_user"
            | "current_role"
            | "current_catalog"
            | "current_schema"
            | "user"
    )
}

fn is_system_column(dialect: Dialect, name: &str) -> Option<Typed> {
    let lower = name.to_ascii_lowercase();
    match dialect {
        Dialect::Sqlite if matches!(lower.as_str(), "rowid" | "oid" | "_rowid_") => {
            Some(Typed::of(SqlType::Integer, Nullability::NotNull))
        }
        Dialect::Postgres
            if matches!(
                lower.as_str(),
                "ctid" | "xmin" | "xmax" | "cmin" | "cmax" | "tableoid"
            ) =>
        {
            Some(Typed::of(SqlType::Any, Nullability::NotNull))
        }
        _ => None,
    }
}

fn find<'c>(columns: &'c [Col], name: &str) -> Option<&'c Col> {
    columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// The column `qualifier.name` (or `name`) refers to in the scopes visible now.
fn resolve(
    analyzer: &Analyzer<'_>,
    qualifier: Option<&Ident>,
    ident: &Ident,
) -> Result<Typed, NameError> {
    let name = ident.value.as_str();
    let dialect = analyzer.dialect();
    if let Some(qualifier) = qualifier {
        for frame in analyzer.frames.iter().rev() {
            if let Some(rel) = frame
                .rels
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(&qualifier.value))
            {
                let Some(columns) = &rel.columns else {
                    return Ok(Typed::unknown());
                };
                if let Some(col) = find(columns, name) {
                    return Ok(col.typed.clone());
                }
                if rel.system_columns
                    && let Some(typed) = is_system_column(dialect, name)
                {
                    return Ok(typed);
                }
                return Err(NameError::UnknownColumn {
                    table: Some(qualifier.value.clone()),
                    column: name.to_owned(),
                    suggestion: closest(name, columns.iter().map(|c| c.name.as_str())),
                    hint: None,
                });
            }
        }
        return Err(NameError::UnknownQualifier {
            qualifier: qualifier.value.clone(),
            column: name.to_owned(),
            suggestion: closest(
                &qualifier.value,
                analyzer
                    .frames
                    .iter()
                    .flat_map(|f| f.rels.iter().map(|r| r.name.as_str())),
            ),
        });
    }
    for frame in analyzer.frames.iter().rev() {
        let mut found: Vec<(&str, &Col)> = Vec::new();
        let mut opaque = false;
        for rel in &frame.rels {
            match &rel.columns {
                None => opaque = true,
                Some(columns) => {
                    if let Some(col) = find(columns, name) {
                        found.push((&rel.name, col));
                    }
                }
            }
        }
        match found.as_slice() {
            [(_, col)] => return Ok(col.typed.clone()),
            [(_, first), rest @ ..] => {
                if frame.merged.iter().any(|m| m.eq_ignore_ascii_case(name)) {
                    let typed = rest
                        .iter()
                        .fold(first.typed.clone(), |t, (_, c)| t.union(&c.typed));
                    return Ok(typed);
                }
                return Err(NameError::AmbiguousColumn {
                    column: name.to_owned(),
                    tables: found.iter().map(|(t, _)| (*t).to_owned()).collect(),
                });
            }
            [] => {}
        }
        if let Some(alias) = find(&frame.aliases, name) {
            return Ok(alias.typed.clone());
        }
        if opaque {
            return Ok(Typed::unknown());
        }
        if frame.rels.iter().any(|r| r.system_columns)
            && let Some(typed) = is_system_column(dialect, name)
        {
            return Ok(typed);
        }
    }
    if is_keyword_value(name) && ident.quote_style.is_none() {
        return Ok(Typed::unknown());
    }
    let candidates = analyzer.frames.iter().flat_map(|f| {
        f.rels
            .iter()
            .flat_map(|r| r.columns.iter().flatten())
            .chain(f.aliases.iter())
            .map(|c| c.name.as_str())
    });
    Err(NameError::UnknownColumn {
        table: None,
        column: name.to_owned(),
        suggestion: closest(name, candidates),
        hint: (dialect == Dialect::Sqlite && ident.quote_style == Some('"')).then_some(
            "a double-quoted name is a column name; write text in single quotes ('...')",
        ),
    })
}

/// The type and nullability of `expr`, whose names were checked.
pub(super) fn infer(analyzer: &mut Analyzer<'_>, expr: &Expr) -> Typed {
    let dialect = analyzer.dialect();
    match expr {
        Expr::Identifier(ident) => {
            resolve(analyzer, None, ident).unwrap_or_else(|_| Typed::unknown())
        }
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [.., qualifier, column] => {
                resolve(analyzer, Some(qualifier), column).unwrap_or_else(|_| Typed::unknown())
            }
            _ => Typed::unknown(),
        },
        Expr::Value(value) => match &value.value {
            Value::Number(n, _) if n.contains(['.', 'e', 'E']) => {
                Typed::of(SqlType::Real, Nullability::NotNull)
            }
            Value::Number(..) => Typed::of(SqlType::Integer, Nullability::NotNull),
            Value::SingleQuotedString(_)
            | Value::EscapedStringLiteral(_)
            | Value::DollarQuotedString(_)
            | Value::NationalStringLiteral(_) => Typed::of(SqlType::Text, Nullability::NotNull),
            Value::HexStringLiteral(_) => Typed::of(SqlType::Blob, Nullability::NotNull),
            Value::Boolean(_) => Typed::of(SqlType::Boolean, Nullability::NotNull),
            Value::Null => Typed::of(SqlType::Any, Nullability::Nullable),
            _ => Typed::unknown(),
        },
        Expr::Nested(inner) => {
            let mut typed = infer(analyzer, inner);
            typed.origin = None;
            typed
        }
        Expr::Cast {
            expr, data_type, ..
        } => Typed::of(
            SqlType::from_declared(&data_type.to_string(), dialect),
            infer(analyzer, expr).nullability,
        ),
        Expr::UnaryOp { op, expr } => {
            let inner = infer(analyzer, expr);
            match op {
                UnaryOperator::Not => Typed::of(SqlType::Boolean, inner.nullability),
                UnaryOperator::Minus | UnaryOperator::Plus => {
                    Typed::of(inner.ty, inner.nullability)
                }
                _ => Typed::of(SqlType::Any, inner.nullability),
            }
        }
        Expr::BinaryOp { left, op, right } => {
            let (l, r) = (infer(analyzer, left), infer(analyzer, right));
            let nullability = Nullability::all([l.nullability, r.nullability]);
            let ty = match op {
                op if is_comparison(op) => SqlType::Boolean,
                BinaryOperator::And | BinaryOperator::Or | BinaryOperator::Xor => SqlType::Boolean,
                BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide
                | BinaryOperator::Modulo => match widen(l.ty, r.ty) {
                    t @ (SqlType::Integer | SqlType::Real | SqlType::Numeric) => t,
                    _ => SqlType::Any,
                },
                BinaryOperator::StringConcat => SqlType::Text,
                BinaryOperator::LongArrow if dialect == Dialect::Postgres => SqlType::Text,
                _ => return Typed::unknown(),
            };
            Typed::of(ty, nullability)
        }
        Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::Exists { .. } => Typed::of(SqlType::Boolean, Nullability::NotNull),
        Expr::In { expr, target, .. } => {
            let mut parts = vec![infer(analyzer, expr).nullability];
            match target {
                InTarget::List(items) => {
                    parts.extend(items.iter().map(|i| infer(analyzer, i).nullability))
                }
                _ => parts.push(Nullability::Unknown),
            }
            Typed::of(SqlType::Boolean, Nullability::all(parts))
        }
        Expr::Between {
            expr, low, high, ..
        } => {
            let parts = [expr, low, high].map(|e| infer(analyzer, e).nullability);
            Typed::of(SqlType::Boolean, Nullability::all(parts))
        }
        Expr::Like { expr, pattern, .. }
        | Expr::ILike { expr, pattern, .. }
        | Expr::SimilarTo { expr, pattern, .. } => {
            let parts = [expr, pattern].map(|e| infer(analyzer, e).nullability);
            Typed::of(SqlType::Boolean, Nullability::all(parts))
        }
        Expr::Subquery(query) => match analyzer
            .query(query)
            .ok()
            .and_then(|cols| cols.into_iter().next())
        {
            // No row makes a scalar subquery NULL.
            Some(col) => Typed::of(col.typed.ty, Nullability::Nullable),
            None => Typed::unknown(),
        },
        Expr::Case {
            conditions,
            else_result,
            ..
        } => {
            let mut arms = conditions
                .iter()
                .map(|c| infer(analyzer, &c.result))
                .collect::<Vec<_>>();
            match else_result {
                Some(e) => arms.push(infer(analyzer, e)),
                None => arms.push(Typed::of(SqlType::Any, Nullability::Nullable)),
            }
            let first = arms.first().cloned().unwrap_or_else(Typed::unknown);
            let mut typed = arms.iter().skip(1).fold(first, |t, a| {
                // `ELSE NULL` does not make the arms' type unknown.
                if a.ty == SqlType::Any && a.nullability == Nullability::Nullable {
                    Typed {
                        nullability: Nullability::Nullable,
                        ..t
                    }
                } else {
                    t.union(a)
                }
            });
            typed.origin = None;
            typed
        }
        Expr::Function(function) => function_type(analyzer, function),
        _ => Typed::unknown(),
    }
}

fn arguments(function: &Function) -> Vec<&Expr> {
    match &function.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                }
                | FunctionArg::ExprNamed {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What the functions whose result inference can know return. Anything else is unknown.
fn function_type(analyzer: &mut Analyzer<'_>, function: &Function) -> Typed {
    use Nullability::{NotNull, Nullable};
    use SqlType::{Any, Blob, Integer, Numeric, Real, Text};
    let dialect = analyzer.dialect();
    let postgres = dialect == Dialect::Postgres;
    let name = function
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_ascii_lowercase())
        .unwrap_or_default();
    let args: Vec<Typed> = arguments(function)
        .into_iter()
        .map(|e| infer(analyzer, e))
        .collect();
    let first = args.first().cloned().unwrap_or_else(Typed::unknown);
    let all = Nullability::all(args.iter().map(|a| a.nullability));
    // An aggregate over a group (or a window frame, which holds the current row) sees at
    // least one row; over a whole table it may see none and give NULL.
    let grouped = function.over.is_some() || analyzer.frames.last().is_some_and(|f| f.grouped);
    let aggregate = |inner: Nullability| {
        if grouped && inner == NotNull {
            NotNull
        } else {
            Nullable
        }
    };
    let typed = |ty, nullability| Typed::of(ty, nullability);
    match name.as_str() {
        "count" => typed(Integer, NotNull),
        "sum" => {
            let ty = match first.ty {
                Integer if postgres => Numeric,
                t @ (Integer | Real | Numeric) => t,
                _ => Any,
            };
            typed(ty, aggregate(first.nullability))
        }
        "total" => typed(Real, NotNull),
        "avg" => {
            let ty = match first.ty {
                Real => Real,
                _ if !postgres => Real,
                Integer | Numeric => Numeric,
                _ => Any,
            };
            typed(ty, aggregate(first.nullability))
        }
        "min" | "max" if args.len() == 1 => typed(first.ty, aggregate(first.nullability)),
        "min" | "max" | "greatest" | "least" => {
            let ty = args.iter().skip(1).fold(first.ty, |t, a| widen(t, a.ty));
            typed(ty, if postgres { Nullability::Unknown } else { all })
        }
        "group_concat" | "string_agg" => typed(Text, aggregate(first.nullability)),
        "coalesce" | "ifnull" => {
            let ty = args.iter().skip(1).fold(first.ty, |t, a| widen(t, a.ty));
            let nullability = if args.iter().any(|a| a.nullability == NotNull) {
                NotNull
            } else if args.iter().all(|a| a.nullability == Nullable) {
                Nullable
            } else {
                Nullability::Unknown
            };
            typed(ty, nullability)
        }
        "nullif" => typed(first.ty, Nullable),
        "lower" | "upper" | "trim" | "ltrim" | "rtrim" | "substr" | "substring" | "replace"
        | "hex" | "quote" | "reverse" | "left" | "right" | "lpad" | "rpad" | "initcap" => {
            typed(Text, all)
        }
        "concat" | "concat_ws" | "typeof" => typed(Text, NotNull),
        "length" | "char_length" | "character_length" | "octet_length" | "instr" | "unicode"
        | "strpos" => typed(Integer, all),
        "abs" => typed(first.ty, all),
        "round" => typed(
            if postgres && first.ty != Real {
                Numeric
            } else {
                Real
            },
            all,
        ),
        "random" => typed(if postgres { Real } else { Integer }, NotNull),
        "randomblob" | "zeroblob" => typed(Blob, all),
        "row_number" | "rank" | "dense_rank" | "ntile" => typed(Integer, NotNull),
        "lag" | "lead" | "first_value" | "last_value" | "nth_value" => typed(first.ty, Nullable),
        "now" | "transaction_timestamp" | "statement_timestamp" | "clock_timestamp" if postgres => {
            typed(SqlType::TimestampTz, NotNull)
        }
        "current_timestamp" => typed(if postgres { SqlType::TimestampTz } else { Text }, NotNull),
        "current_date" => typed(if postgres { SqlType::Date } else { Text }, NotNull),
        "current_time" => typed(if postgres { SqlType::Time } else { Text }, NotNull),
        // SQLite's date functions give NULL for input they cannot read.
        "date" | "time" | "datetime" | "strftime" if !postgres => typed(Text, Nullable),
        "julianday" if !postgres => typed(Real, Nullable),
        "unixepoch" if !postgres => typed(Integer, Nullable),
        "gen_random_uuid" if postgres => typed(SqlType::Uuid, NotNull),
        _ => Typed::unknown(),
    }
}
