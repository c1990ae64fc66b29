//! One statement against the schema: the relations each clause can see, every column
//! reference resolved in them, INSERT shapes, and what the placeholders and result
//! columns are.
//!
//! Scopes follow SQL's: a SELECT sees the relations of its FROM (and, for correlated
//! subqueries, those of the queries around it), the CTEs of every enclosing WITH, and its
//! own select-list aliases (which SQLite lets WHERE and GROUP BY use, and both backends let
//! ORDER BY use). Where the backends differ the analysis takes the lenient side: it exists
//! to catch names that cannot work, never to refuse a statement the backend runs.

use sqlparser::ast::{
    AssignmentTarget, ConflictTarget, Cte, Delete, Expr, FromTable, GroupByExpr, Ident, Insert,
    JoinConstraint, JoinOperator, LimitClause, ObjectName, OnConflictAction, OnInsert, OrderByKind,
    Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableAlias,
    TableFactor, TableObject, TableWithJoins, Update, UpdateTableFromKind,
};
use sqlparser::parser::Parser;

use super::error::NameError;
use super::expr::{self, Typed};
use super::suggest::closest;
use super::{Nullability, Schema, SqlType};
use crate::Dialect;

/// What the analysis of one statement found.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, Schema, SqlType};
///
/// let schema = Schema::from_migrations(Dialect::Sqlite, [("p/001_a.sql", "CREATE TABLE p__t (id INTEGER PRIMARY KEY, name TEXT)")])?;
/// let analysis = schema.analyze("INSERT INTO p__t (id, name) VALUES ($1, $2)")?;
/// let name = analysis.param(2).unwrap();
/// assert_eq!((name.ty(), name.accepts_null(), name.column()), (SqlType::Text, true, "p__t.name"));
/// assert!(analysis.columns().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    params: Vec<Option<ParamUse>>,
    columns: Option<Vec<OutputColumn>>,
}

impl Analysis {
    /// What `$n` (1-based) is compared with or written to, when its context tells.
    #[must_use]
    pub fn param(&self, n: usize) -> Option<&ParamUse> {
        self.params.get(n.checked_sub(1)?)?.as_ref()
    }

    /// The result columns, in order; `None` for a statement that returns no rows.
    #[must_use]
    pub fn columns(&self) -> Option<&[OutputColumn]> {
        self.columns.as_deref()
    }
}

/// The column a placeholder stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamUse {
    column: String,
    ty: SqlType,
    accepts_null: bool,
    list: bool,
}

impl ParamUse {
    /// `table.column` (or the expression) the placeholder is compared with or written to.
    #[must_use]
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The type the value must have.
    #[must_use]
    pub fn ty(&self) -> SqlType {
        self.ty
    }

    /// Whether NULL (an `Option`) fits there.
    #[must_use]
    pub fn accepts_null(&self) -> bool {
        self.accepts_null
    }

    /// Whether a list of values fits there too: the only item of an `IN (...)` list, or
    /// the array of `= ANY(...)`.
    #[must_use]
    pub fn takes_list(&self) -> bool {
        self.list
    }
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputColumn {
    name: String,
    ty: SqlType,
    nullability: Nullability,
    /// `table.column` when the value is a column read as is.
    origin: Option<String>,
}

impl OutputColumn {
    /// The name the reply gives the column (an override suffix `!` or `?` removed).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its type; [`SqlType::Any`] when inference cannot tell.
    #[must_use]
    pub fn ty(&self) -> SqlType {
        self.ty
    }

    /// Whether it can be NULL.
    #[must_use]
    pub fn nullability(&self) -> Nullability {
        self.nullability
    }

    /// `table.column` when the value is a column read as is.
    #[must_use]
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }
}

impl Schema {
    /// Resolves every name in `sql` (one statement, already accepted by the policy) and
    /// infers its placeholders' and result columns' types.
    ///
    /// # Errors
    ///
    /// A [`NameError`] for the first unknown or ambiguous name, INSERT column or VALUES row
    /// that does not fit. A statement that does not parse is not this check's business: it
    /// gives an empty [`Analysis`].
    pub fn analyze(&self, sql: &str) -> Result<Analysis, NameError> {
        let Ok(statements) = Parser::parse_sql(crate::policy::parser_dialect(self.dialect), sql)
        else {
            return Ok(Analysis::default());
        };
        let [statement] = statements.as_slice() else {
            return Ok(Analysis::default());
        };
        self.analyze_statement(statement)
    }

    pub(super) fn analyze_statement(&self, statement: &Statement) -> Result<Analysis, NameError> {
        let mut analyzer = Analyzer::new(self);
        let columns = match statement {
            Statement::Query(query) => Some(analyzer.query(query)?),
            Statement::Insert(insert) => analyzer.insert(insert)?,
            Statement::Update(update) => analyzer.update(update)?,
            Statement::Delete(delete) => analyzer.delete(delete)?,
            _ => None,
        };
        Ok(Analysis {
            params: analyzer.params,
            columns: columns.map(|cols| cols.into_iter().map(Col::into_output).collect()),
        })
    }
}

/// A column as a scope sees it.
#[derive(Debug, Clone)]
pub(super) struct Col {
    pub(super) name: String,
    pub(super) typed: Typed,
}

impl Col {
    fn into_output(self) -> OutputColumn {
        let (name, nullability) = split_override(&self.name, self.typed.nullability);
        OutputColumn {
            name,
            ty: self.typed.ty,
            nullability,
            origin: self.typed.origin,
        }
    }
}

/// sqlx's override, which users know: an alias ending in `!` is NOT NULL, one ending in
/// `?` is nullable; the suffix is not part of the name.
pub(super) fn split_override(name: &str, inferred: Nullability) -> (String, Nullability) {
    if let Some(base) = name.strip_suffix('!') {
        (base.to_owned(), Nullability::NotNull)
    } else if let Some(base) = name.strip_suffix('?') {
        (base.to_owned(), Nullability::Nullable)
    } else {
        (name.to_owned(), inferred)
    }
}

/// A relation visible in a scope.
#[derive(Debug, Clone)]
pub(super) struct Rel {
    /// The name the query refers to it by (alias, or table name).
    pub(super) name: String,
    /// `None` for a table-valued function: any column may be its.
    pub(super) columns: Option<Vec<Col>>,
    /// SQLite's `rowid`, PostgreSQL's system columns.
    pub(super) system_columns: bool,
}

/// The relations of one SELECT (or UPDATE, DELETE, RETURNING) and its select-list aliases.
#[derive(Debug, Default)]
pub(super) struct Frame {
    pub(super) rels: Vec<Rel>,
    pub(super) aliases: Vec<Col>,
    /// Columns merged by `USING` or `NATURAL`: an unqualified reference is not ambiguous.
    pub(super) merged: Vec<String>,
    /// Whether the SELECT groups (an aggregate then sees at least one row per group).
    pub(super) grouped: bool,
}

pub(super) struct Analyzer<'s> {
    pub(super) schema: &'s Schema,
    pub(super) frames: Vec<Frame>,
    /// The CTEs in scope, innermost WITH last.
    ctes: Vec<(String, Vec<Col>)>,
    pub(super) params: Vec<Option<ParamUse>>,
}

impl<'s> Analyzer<'s> {
    pub(super) fn new(schema: &'s Schema) -> Self {
        Self {
            schema,
            frames: Vec::new(),
            ctes: Vec::new(),
            params: Vec::new(),
        }
    }

    pub(super) fn dialect(&self) -> Dialect {
        self.schema.dialect
    }

    /// Records that `$n` stands for `column`; the first context found wins.
    pub(super) fn bind_param(
        &mut self,
        placeholder: &str,
        column: String,
        ty: SqlType,
        accepts_null: bool,
    ) {
        let Some(n) = placeholder
            .strip_prefix('$')
            .and_then(|d| d.parse::<usize>().ok())
            .filter(|n| *n >= 1 && *n <= crate::MAX_PLACEHOLDERS)
        else {
            return;
        };
        if ty == SqlType::Any {
            return;
        }
        if self.params.len() < n {
            self.params.resize(n, None);
        }
        let slot = &mut self.params[n - 1];
        if slot.is_none() {
            *slot = Some(ParamUse {
                column,
                ty,
                accepts_null,
                list: false,
            });
        }
    }

    /// Marks `$n`, already bound, as a place that takes a list (`IN ($n)`, `= ANY($n)`).
    pub(super) fn mark_list(&mut self, placeholder: &str) {
        let n = placeholder
            .strip_prefix('$')
            .and_then(|d| d.parse::<usize>().ok());
        if let Some(Some(param)) = n.and_then(|n| self.params.get_mut(n.checked_sub(1)?)) {
            param.list = true;
        }
    }

    /// A query's result columns, with every name in it checked.
    pub(super) fn query(&mut self, query: &Query) -> Result<Vec<Col>, NameError> {
        let ctes_before = self.ctes.len();
        let result = self.query_in_scope(query);
        self.ctes.truncate(ctes_before);
        result
    }

    fn query_in_scope(&mut self, query: &Query) -> Result<Vec<Col>, NameError> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.cte(cte, with.recursive)?;
            }
        }
        let (columns, frame) = self.set_expr(&query.body)?;
        // ORDER BY sees the body's relations and its output names.
        let mut frame = frame.unwrap_or_default();
        frame.aliases.extend(columns.iter().cloned());
        self.frames.push(frame);
        let result = self.order_and_limit(query);
        self.frames.pop();
        result.map(|()| columns)
    }

    fn order_and_limit(&mut self, query: &Query) -> Result<(), NameError> {
        if let Some(order_by) = &query.order_by
            && let OrderByKind::Expressions(items) = &order_by.kind
        {
            for item in items {
                expr::check(self, &item.expr)?;
            }
        }
        let limits: Vec<&Expr> = match &query.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => limit
                .iter()
                .chain(offset.as_ref().map(|o| &o.value))
                .collect(),
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => vec![offset, limit],
            None => Vec::new(),
        };
        for limit in limits {
            if let Some(placeholder) = expr::placeholder(limit) {
                self.bind_param(
                    placeholder,
                    "LIMIT/OFFSET".to_owned(),
                    SqlType::Integer,
                    false,
                );
            }
            expr::check(self, limit)?;
        }
        Ok(())
    }

    fn cte(&mut self, cte: &Cte, recursive: bool) -> Result<(), NameError> {
        let name = cte.alias.name.value.clone();
        let renamed: Vec<String> = cte
            .alias
            .columns
            .iter()
            .map(|c| c.name.value.clone())
            .collect();
        if recursive {
            // The recursive part reads the CTE itself: its columns come from the first
            // branch of the UNION (or from the declared column list).
            let seed = match cte.query.body.as_ref() {
                SetExpr::SetOperation { left, .. } => self.set_expr(left).map(|(cols, _)| cols),
                _ => Ok(Vec::new()),
            };
            let seed = seed.unwrap_or_default();
            let seed = if renamed.is_empty() {
                seed
            } else {
                rename(seed, &renamed, Nullability::Unknown)
            };
            // Rows produced by recursion are unknown territory for nullability.
            let seed = seed
                .into_iter()
                .map(|mut c| {
                    c.typed.nullability = Nullability::Unknown;
                    c
                })
                .collect();
            self.ctes.push((name.clone(), seed));
        }
        let columns = self.query(&cte.query)?;
        let columns = if renamed.is_empty() {
            columns
        } else {
            rename(columns, &renamed, Nullability::Unknown)
        };
        if recursive {
            self.ctes.pop();
        }
        self.ctes.push((name, columns));
        Ok(())
    }

    /// A set expression's columns, and the frame of its SELECT for ORDER BY.
    fn set_expr(&mut self, body: &SetExpr) -> Result<(Vec<Col>, Option<Frame>), NameError> {
        match body {
            SetExpr::Select(select) => self.select(select).map(|(c, f)| (c, Some(f))),
            SetExpr::Query(query) => self.query(query).map(|c| (c, None)),
            SetExpr::SetOperation { left, right, .. } => {
                let (left, _) = self.set_expr(left)?;
                let (right, _) = self.set_expr(right)?;
                let merged = left
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut col)| {
                        if let Some(other) = right.get(i) {
                            col.typed = col.typed.union(&other.typed);
                        }
                        col
                    })
                    .collect();
                Ok((merged, None))
            }
            SetExpr::Values(values) => {
                let mut columns: Vec<Col> = Vec::new();
                for row in &values.rows {
                    for (i, value) in row.content.iter().enumerate() {
                        let typed = expr::type_of(self, value)?;
                        match columns.get_mut(i) {
                            Some(col) => col.typed = col.typed.union(&typed),
                            None => columns.push(Col {
                                name: format!("column{}", i + 1),
                                typed,
                            }),
                        }
                    }
                }
                Ok((columns, None))
            }
            SetExpr::Insert(statement)
            | SetExpr::Update(statement)
            | SetExpr::Delete(statement) => {
                let columns = match statement {
                    Statement::Insert(insert) => self.insert(insert)?,
                    Statement::Update(update) => self.update(update)?,
                    Statement::Delete(delete) => self.delete(delete)?,
                    _ => None,
                };
                Ok((columns.unwrap_or_default(), None))
            }
            SetExpr::Table(table) => {
                let Some(name) = &table.table_name else {
                    return Ok((Vec::new(), None));
                };
                let rel = self.named_relation(&ObjectName::from(vec![name.clone()]), None)?;
                Ok((rel.columns.unwrap_or_default(), None))
            }
            _ => Ok((Vec::new(), None)),
        }
    }

    fn select(&mut self, select: &Select) -> Result<(Vec<Col>, Frame), NameError> {
        let mut frame = Frame {
            grouped: match &select.group_by {
                GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
                GroupByExpr::All(_) => true,
            },
            ..Frame::default()
        };
        for table in &select.from {
            self.add_from_item(table, &mut frame)?;
        }
        // Select-list aliases, so that WHERE (SQLite), GROUP BY and HAVING may use them.
        // Their types are filled in below, once the relations are in scope.
        frame.aliases = select
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(Col {
                    name: alias.value.clone(),
                    typed: Typed::unknown(),
                }),
                _ => None,
            })
            .collect();
        self.frames.push(frame);
        let result = self.select_in_frame(select);
        let frame = self.frames.pop().unwrap_or_default();
        result.map(|columns| (columns, frame))
    }

    fn select_in_frame(&mut self, select: &Select) -> Result<Vec<Col>, NameError> {
        // Join conditions and table-function arguments, which the FROM walk skipped.
        for table in &select.from {
            self.check_from_expressions(table)?;
        }
        let mut columns = Vec::new();
        for item in &select.projection {
            columns.extend(self.select_item(item)?);
        }
        for expr in select
            .selection
            .iter()
            .chain(select.having.iter())
            .chain(select.qualify.iter())
        {
            expr::check(self, expr)?;
        }
        if let GroupByExpr::Expressions(exprs, _) = &select.group_by {
            for expr in exprs {
                expr::check(self, expr)?;
            }
        }
        for window in &select.named_window {
            expr::check_node(self, window)?;
        }
        Ok(columns)
    }

    fn select_item(&mut self, item: &SelectItem) -> Result<Vec<Col>, NameError> {
        match item {
            SelectItem::UnnamedExpr(value) => {
                let typed = expr::type_of(self, value)?;
                Ok(vec![Col {
                    name: expr::column_name(value),
                    typed,
                }])
            }
            SelectItem::ExprWithAlias { expr: value, alias } => {
                let typed = expr::type_of(self, value)?;
                Ok(vec![Col {
                    name: alias.value.clone(),
                    typed,
                }])
            }
            SelectItem::Wildcard(_) => Ok(self
                .frames
                .last()
                .map(|frame| {
                    frame
                        .rels
                        .iter()
                        .flat_map(|rel| rel.columns.iter().flatten().cloned())
                        .collect()
                })
                .unwrap_or_default()),
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
                let qualifier = last_part(name);
                let frame = self.frames.last();
                let rel = frame.and_then(|f| {
                    f.rels
                        .iter()
                        .find(|r| r.name.eq_ignore_ascii_case(&qualifier))
                });
                match rel {
                    Some(rel) => Ok(rel.columns.clone().unwrap_or_default()),
                    None => Err(NameError::UnknownQualifier {
                        suggestion: closest(
                            &qualifier,
                            frame
                                .into_iter()
                                .flat_map(|f| f.rels.iter().map(|r| r.name.as_str())),
                        ),
                        qualifier,
                        column: "*".to_owned(),
                    }),
                }
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Adds the relations of one FROM item (with its joins) to `frame`.
    fn add_from_item(
        &mut self,
        table: &TableWithJoins,
        frame: &mut Frame,
    ) -> Result<(), NameError> {
        self.table_factor(&table.relation, frame)?;
        for join in &table.joins {
            let before = frame.rels.len();
            self.table_factor(&join.relation, frame)?;
            let (left_nullable, right_nullable) = match &join.join_operator {
                JoinOperator::Left(_) | JoinOperator::LeftOuter(_) | JoinOperator::OuterApply => {
                    (false, true)
                }
                JoinOperator::Right(_) | JoinOperator::RightOuter(_) => (true, false),
                JoinOperator::FullOuter(_) => (true, true),
                _ => (false, false),
            };
            let (left, right) = frame.rels.split_at_mut(before);
            if left_nullable {
                left.iter_mut().for_each(make_nullable);
            }
            if right_nullable {
                right.iter_mut().for_each(make_nullable);
            }
            match join_constraint(&join.join_operator) {
                Some(JoinConstraint::Using(names)) => {
                    frame.merged.extend(names.iter().map(last_part));
                }
                Some(JoinConstraint::Natural) => {
                    let (left, right) = frame.rels.split_at(before);
                    let common: Vec<String> = right
                        .iter()
                        .flat_map(|r| r.columns.iter().flatten())
                        .filter(|c| {
                            left.iter()
                                .flat_map(|r| r.columns.iter().flatten())
                                .any(|l| l.name.eq_ignore_ascii_case(&c.name))
                        })
                        .map(|c| c.name.clone())
                        .collect();
                    frame.merged.extend(common);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn table_factor(&mut self, factor: &TableFactor, frame: &mut Frame) -> Result<(), NameError> {
        match factor {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                if args.is_some() {
                    // A table-valued function (`json_each(...)`, `generate_series(...)`).
                    frame.rels.push(Rel {
                        name: alias
                            .as_ref()
                            .map_or_else(|| last_part(name), |a| a.name.value.clone()),
                        columns: None,
                        system_columns: false,
                    });
                    return Ok(());
                }
                let rel = self.named_relation(name, alias.as_ref())?;
                frame.rels.push(rel);
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let columns = self.query(subquery)?;
                let (name, columns) = match alias {
                    Some(alias) => (alias.name.value.clone(), aliased(columns, alias)),
                    None => (String::new(), columns),
                };
                frame.rels.push(Rel {
                    name,
                    columns: Some(columns),
                    system_columns: false,
                });
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.add_from_item(table_with_joins, frame)?,
            other => {
                // UNNEST, table functions and the like: their columns are not modelled.
                let name = match other {
                    TableFactor::TableFunction { alias, .. }
                    | TableFactor::Function { alias, .. }
                    | TableFactor::UNNEST { alias, .. } => {
                        alias.as_ref().map(|a| a.name.value.clone())
                    }
                    _ => None,
                };
                frame.rels.push(Rel {
                    name: name.unwrap_or_default(),
                    columns: None,
                    system_columns: false,
                });
            }
        }
        Ok(())
    }

    /// The expressions inside a FROM item that name columns: join conditions and the
    /// arguments of table-valued functions.
    fn check_from_expressions(&mut self, table: &TableWithJoins) -> Result<(), NameError> {
        self.factor_expressions(&table.relation)?;
        for join in &table.joins {
            self.factor_expressions(&join.relation)?;
            if let Some(JoinConstraint::On(on)) = join_constraint(&join.join_operator) {
                expr::check(self, on)?;
            }
        }
        Ok(())
    }

    fn factor_expressions(&mut self, factor: &TableFactor) -> Result<(), NameError> {
        match factor {
            TableFactor::Table {
                args: Some(args), ..
            } => expr::check_node(self, args),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.check_from_expressions(table_with_joins),
            TableFactor::Table { .. } | TableFactor::Derived { .. } => Ok(()),
            other => expr::check_node(self, other),
        }
    }

    /// A table, view or CTE by name, as `alias` (or its own name) in the query.
    fn named_relation(
        &self,
        name: &ObjectName,
        alias: Option<&TableAlias>,
    ) -> Result<Rel, NameError> {
        let table = last_part(name);
        let cte = self
            .ctes
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(&table))
            .map(|(_, cols)| cols.clone());
        let (columns, system_columns) = match cte {
            Some(cols) => (cols, false),
            None => match self.schema.relation(&table) {
                Some(relation) => (
                    relation_columns(relation),
                    self.has_system_columns(relation),
                ),
                None => {
                    return Err(NameError::UnknownTable {
                        suggestion: closest(
                            &table,
                            self.schema
                                .relations
                                .values()
                                .map(|r| r.name.as_str())
                                .chain(self.ctes.iter().map(|(n, _)| n.as_str())),
                        ),
                        table,
                    });
                }
            },
        };
        Ok(match alias {
            Some(alias) => Rel {
                name: alias.name.value.clone(),
                columns: Some(aliased(columns, alias)),
                system_columns,
            },
            None => Rel {
                name: table,
                columns: Some(columns),
                system_columns,
            },
        })
    }

    /// The written table of an INSERT, UPDATE or DELETE: a real table, never a CTE.
    fn target(&self, name: &ObjectName) -> Result<&'s super::Relation, NameError> {
        let table = last_part(name);
        self.schema
            .relation(&table)
            .ok_or_else(|| NameError::UnknownTable {
                suggestion: closest(
                    &table,
                    self.schema.relations.values().map(|r| r.name.as_str()),
                ),
                table,
            })
    }

    fn target_rel(&self, relation: &super::Relation, alias: Option<&Ident>) -> Rel {
        Rel {
            name: alias.map_or_else(|| relation.name.clone(), |a| a.value.clone()),
            columns: Some(relation_columns(relation)),
            system_columns: self.has_system_columns(relation),
        }
    }

    /// Whether `rowid` (SQLite) or the system columns (PostgreSQL) can be read from it.
    fn has_system_columns(&self, relation: &super::Relation) -> bool {
        relation.kind == super::RelationKind::Table
            && (relation.rowid || self.dialect() == Dialect::Postgres)
    }

    /// The column `name` of a written table, checked.
    fn target_column<'r>(
        relation: &'r super::Relation,
        name: &str,
    ) -> Result<&'r super::Column, NameError> {
        let column = relation
            .column(name)
            .ok_or_else(|| NameError::NoSuchTargetColumn {
                table: relation.name.clone(),
                column: name.to_owned(),
                suggestion: closest(name, relation.columns.iter().map(|c| c.name.as_str())),
            })?;
        if column.generated {
            return Err(NameError::GeneratedColumn {
                table: relation.name.clone(),
                column: column.name.clone(),
            });
        }
        Ok(column)
    }

    fn insert(&mut self, insert: &Insert) -> Result<Option<Vec<Col>>, NameError> {
        let TableObject::TableName(name) = &insert.table else {
            return Ok(None);
        };
        let relation = self.target(name)?;
        let written: Vec<&super::Column> = if insert.columns.is_empty() {
            relation.columns.iter().filter(|c| !c.generated).collect()
        } else {
            insert
                .columns
                .iter()
                .map(|c| Self::target_column(relation, &last_part(c)))
                .collect::<Result<_, _>>()?
        };
        let missing: Vec<String> = relation
            .columns
            .iter()
            .filter(|c| c.not_null && !c.has_default && !c.generated)
            .filter(|c| !written.iter().any(|w| w.name == c.name))
            .map(|c| c.name.clone())
            .collect();
        // `INSERT ... DEFAULT VALUES` has no source and writes no column.
        let default_values = insert.source.is_none() && insert.assignments.is_empty();
        if let Some(source) = &insert.source {
            self.insert_source(relation, &written, source)?;
        }
        if !missing.is_empty() && (insert.source.is_some() || default_values) {
            return Err(NameError::MissingColumns {
                table: relation.name.clone(),
                columns: missing,
            });
        }
        let target = self.target_rel(relation, insert.table_alias.as_ref().map(|a| &a.alias));
        if let Some(OnInsert::OnConflict(conflict)) = &insert.on {
            if let Some(ConflictTarget::Columns { columns, .. }) = &conflict.conflict_target {
                for column in columns {
                    Self::known_column(relation, &column.value)?;
                }
            }
            if let OnConflictAction::DoUpdate(update) = &conflict.action {
                let mut excluded = self.target_rel(relation, None);
                excluded.name = "excluded".to_owned();
                self.frames.push(Frame {
                    rels: vec![target.clone(), excluded],
                    ..Frame::default()
                });
                let result = self
                    .assignments(relation, &update.assignments)
                    .and_then(|()| {
                        update
                            .selection
                            .iter()
                            .try_for_each(|e| expr::check(self, e))
                    });
                self.frames.pop();
                result?;
            }
        }
        self.returning(vec![target], insert.returning.as_deref())
    }

    fn insert_source(
        &mut self,
        relation: &super::Relation,
        written: &[&super::Column],
        source: &Query,
    ) -> Result<(), NameError> {
        if let SetExpr::Values(values) = source.body.as_ref()
            && source.with.is_none()
        {
            for (i, row) in values.rows.iter().enumerate() {
                if row.content.len() != written.len() {
                    return Err(NameError::ValuesArity {
                        row: i + 1,
                        expected: written.len(),
                        found: row.content.len(),
                    });
                }
                for (value, column) in row.content.iter().zip(written) {
                    if let Some(placeholder) = expr::placeholder(value) {
                        self.bind_param(
                            placeholder,
                            format!("{}.{}", relation.name, column.name),
                            column.ty,
                            column.accepts_null(),
                        );
                    }
                    expr::check(self, value)?;
                }
            }
            return Ok(());
        }
        let columns = self.query(source)?;
        let has_wildcard = matches!(source.body.as_ref(), SetExpr::Select(s)
            if s.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..))));
        if !has_wildcard && !columns.is_empty() && columns.len() != written.len() {
            return Err(NameError::ValuesArity {
                row: 1,
                expected: written.len(),
                found: columns.len(),
            });
        }
        Ok(())
    }

    fn known_column(relation: &super::Relation, name: &str) -> Result<(), NameError> {
        match relation.column(name) {
            Some(_) => Ok(()),
            None if matches!(
                name.to_ascii_lowercase().as_str(),
                "rowid" | "oid" | "_rowid_"
            ) =>
            {
                Ok(())
            }
            None => Err(NameError::NoSuchTargetColumn {
                table: relation.name.clone(),
                column: name.to_owned(),
                suggestion: closest(name, relation.columns.iter().map(|c| c.name.as_str())),
            }),
        }
    }

    /// `SET col = value, ...`: each target exists and each value's names resolve in the
    /// current frame; a placeholder takes its column's type.
    fn assignments(
        &mut self,
        relation: &super::Relation,
        assignments: &[sqlparser::ast::Assignment],
    ) -> Result<(), NameError> {
        for assignment in assignments {
            let targets: Vec<&ObjectName> = match &assignment.target {
                AssignmentTarget::ColumnName(name) => vec![name],
                AssignmentTarget::Tuple(names) => names.iter().collect(),
            };
            for target in &targets {
                let column = Self::target_column(relation, &last_part(target))?;
                if targets.len() == 1
                    && let Some(placeholder) = expr::placeholder(&assignment.value)
                {
                    self.bind_param(
                        placeholder,
                        format!("{}.{}", relation.name, column.name),
                        column.ty,
                        column.accepts_null(),
                    );
                }
            }
            expr::check(self, &assignment.value)?;
        }
        Ok(())
    }

    fn update(&mut self, update: &Update) -> Result<Option<Vec<Col>>, NameError> {
        let TableFactor::Table { name, alias, .. } = &update.table.relation else {
            return Ok(None);
        };
        let relation = self.target(name)?;
        let mut frame = Frame::default();
        frame
            .rels
            .push(self.target_rel(relation, alias.as_ref().map(|a| &a.name)));
        for join in &update.table.joins {
            self.table_factor(&join.relation, &mut frame)?;
        }
        if let Some(UpdateTableFromKind::BeforeSet(from) | UpdateTableFromKind::AfterSet(from)) =
            &update.from
        {
            for table in from {
                self.add_from_item(table, &mut frame)?;
            }
        }
        let target = frame.rels[0].clone();
        self.frames.push(frame);
        let result = self.update_in_frame(relation, update);
        self.frames.pop();
        result?;
        self.returning(vec![target], update.returning.as_deref())
    }

    fn update_in_frame(
        &mut self,
        relation: &super::Relation,
        update: &Update,
    ) -> Result<(), NameError> {
        if let Some(UpdateTableFromKind::BeforeSet(from) | UpdateTableFromKind::AfterSet(from)) =
            &update.from
        {
            for table in from {
                self.check_from_expressions(table)?;
            }
        }
        self.assignments(relation, &update.assignments)?;
        update
            .selection
            .iter()
            .try_for_each(|e| expr::check(self, e))
    }

    fn delete(&mut self, delete: &Delete) -> Result<Option<Vec<Col>>, NameError> {
        let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
        let mut frame = Frame::default();
        for table in from {
            if let TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } = &table.relation
            {
                let relation = self.target(name)?;
                frame
                    .rels
                    .push(self.target_rel(relation, alias.as_ref().map(|a| &a.name)));
            } else {
                self.table_factor(&table.relation, &mut frame)?;
            }
        }
        for table in delete.using.iter().flatten() {
            self.add_from_item(table, &mut frame)?;
        }
        let targets = frame.rels.iter().take(from.len()).cloned().collect();
        self.frames.push(frame);
        let result = delete
            .using
            .iter()
            .flatten()
            .try_for_each(|t| self.check_from_expressions(t))
            .and_then(|()| {
                delete
                    .selection
                    .iter()
                    .try_for_each(|e| expr::check(self, e))
            });
        self.frames.pop();
        result?;
        self.returning(targets, delete.returning.as_deref())
    }

    fn returning(
        &mut self,
        rels: Vec<Rel>,
        returning: Option<&[SelectItem]>,
    ) -> Result<Option<Vec<Col>>, NameError> {
        let Some(items) = returning else {
            return Ok(None);
        };
        self.frames.push(Frame {
            rels,
            ..Frame::default()
        });
        let result = items
            .iter()
            .map(|item| self.select_item(item))
            .collect::<Result<Vec<_>, _>>();
        self.frames.pop();
        result.map(|cols| Some(cols.into_iter().flatten().collect()))
    }
}

/// A relation's columns as a scope sees them.
fn relation_columns(relation: &super::Relation) -> Vec<Col> {
    relation
        .columns
        .iter()
        .map(|c| Col {
            name: c.name.clone(),
            typed: Typed::column(c, &relation.name),
        })
        .collect()
}

fn make_nullable(rel: &mut Rel) {
    for col in rel.columns.iter_mut().flatten() {
        col.typed.nullability = Nullability::Nullable;
    }
}

fn join_constraint(operator: &JoinOperator) -> Option<&JoinConstraint> {
    match operator {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c)
        | JoinOperator::StraightJoin(c) => Some(c),
        _ => None,
    }
}

/// The columns of a relation renamed by `AS alias(a, b, ...)`.
fn aliased(columns: Vec<Col>, alias: &TableAlias) -> Vec<Col> {
    if alias.columns.is_empty() {
        return columns;
    }
    let names: Vec<String> = alias.columns.iter().map(|c| c.name.value.clone()).collect();
    rename(columns, &names, Nullability::Unknown)
}

/// Renames the first columns; names beyond the columns known get unknown values.
fn rename(columns: Vec<Col>, names: &[String], fill: Nullability) -> Vec<Col> {
    let mut columns = columns.into_iter();
    names
        .iter()
        .map(|name| match columns.next() {
            Some(mut col) => {
                col.name.clone_from(name);
                col
            }
            None => Col {
                name: name.clone(),
                typed: Typed {
                    nullability: fill,
                    ..Typed::unknown()
                },
            },
        })
        .collect()
}

/// The last part of a possibly qualified name, unquoted.
pub(super) fn last_part(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(|ident| ident.value.clone())
        .unwrap_or_default()
}
