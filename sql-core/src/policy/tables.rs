//! The walk over one parsed statement (PROTOCOL.md section 5): every table reference, every
//! function call and every statement hidden inside a query.
//!
//! The walk is sqlparser's [`Visitor`], so every place the AST can hold a table is reached
//! without hand-written recursion: `pre_visit_relation` sees each table name wherever it
//! stands, `pre_visit_table_factor` sees table-valued functions, `pre_visit_expr` sees
//! function calls and `pre_visit_query` / `post_visit_query` keep the CTE scopes.
//!
//! Write targets (`INSERT INTO x`, `UPDATE x`, `DELETE FROM x`) are checked once more,
//! without the CTE exemption: in SQLite `WITH quote_db__t AS (SELECT 1) DELETE FROM
//! quote_db__t` deletes from the real table, and `DELETE`'s multi-table list is no relation
//! to the visitor at all.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    DataType, Expr, FromTable, Function, Ident, InTarget, ObjectName, ObjectNamePart, Query,
    Select, SetExpr, Statement, TableAlias, TableFactor, TableObject, TableWithJoins, Value, Visit,
    Visitor,
};

use super::types::{self, TypeUse};
use super::{Dialect, Policy, PolicyError};
use crate::{Plugin, TableOwner};

/// What the walk found: the plugin's tables and the first problem of each class.
///
/// The classes are kept apart so [`References::into_tables`] can report them in the order
/// [`Policy::check`] documents, independent of where in the text each one stands.
#[derive(Debug, Default)]
pub(super) struct References {
    tables: BTreeSet<String>,
    forbidden_statement: Option<PolicyError>,
    system_table: Option<PolicyError>,
    foreign_table: Option<PolicyError>,
    forbidden_function: Option<PolicyError>,
}

impl References {
    /// A write or statement kind hidden inside the statement (`SELECT ... INTO`, a
    /// data-modifying CTE): the first problem class [`Policy::check`] reports.
    pub(super) fn take_forbidden_statement(&mut self) -> Option<PolicyError> {
        self.forbidden_statement.take()
    }

    /// The plugin's tables, lower-cased, or the first system table, foreign table or
    /// forbidden function found, in that order.
    pub(super) fn into_tables(self) -> Result<BTreeSet<String>, PolicyError> {
        match (
            self.system_table,
            self.foreign_table,
            self.forbidden_function,
        ) {
            (Some(err), _, _) | (None, Some(err), _) | (None, None, Some(err)) => Err(err),
            (None, None, None) => Ok(self.tables),
        }
    }
}

/// Walks `statement`, an allowed top-level statement, and collects its references.
pub(super) fn walk(
    policy: &Policy,
    plugin: &Plugin,
    dialect: Dialect,
    statement: &Statement,
) -> References {
    let mut walker = Walker {
        policy,
        plugin,
        dialect,
        allowed_statements: allowed_statements(statement),
        scopes: Vec::new(),
        function_names: Vec::new(),
        found: References::default(),
    };
    // A break only means a forbidden statement was found; it is recorded in `found`.
    let _ = statement.visit(&mut walker);
    walker.found
}

/// The statements that may appear in the walk: the top-level one and, for `WITH ...
/// INSERT/UPDATE/DELETE`, its body. Any other statement is nested inside a query.
fn allowed_statements(statement: &Statement) -> Vec<*const Statement> {
    let mut allowed = vec![std::ptr::from_ref(statement)];
    if let Statement::Query(query) = statement
        && let SetExpr::Insert(body) | SetExpr::Update(body) | SetExpr::Delete(body) =
            query.body.as_ref()
    {
        allowed.push(std::ptr::from_ref(body));
    }
    allowed
}

/// The CTE names one `WITH` binds and how many of them are visible right now.
///
/// Names are visible to the CTE bodies after them, to a recursive CTE's own body, and to
/// the query body. A later sibling is never visible, even where PostgreSQL would allow it
/// (`WITH RECURSIVE`): refusing such a query is safe, exempting a real table is not.
#[derive(Debug)]
struct Scope {
    /// Normalised name and body of each CTE, in order.
    ctes: Vec<(String, *const Query)>,
    recursive: bool,
    visible: usize,
}

struct Walker<'a> {
    policy: &'a Policy,
    plugin: &'a Plugin,
    dialect: Dialect,
    /// Compared by address: the visitor hands out references into the same tree.
    allowed_statements: Vec<*const Statement>,
    scopes: Vec<Scope>,
    /// Names of table-valued functions, which the visitor also reports as relations.
    function_names: Vec<*const ObjectName>,
    found: References,
}

impl Visitor for Walker<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if !self
            .allowed_statements
            .contains(&std::ptr::from_ref(statement))
        {
            let statement_type = match statement {
                Statement::Insert(_)
                | Statement::Update(_)
                | Statement::Delete(_)
                | Statement::Merge(_) => "data-modifying CTE",
                _ => "nested statement",
            };
            return self.forbid(statement_type);
        }
        match statement {
            Statement::Insert(insert) => match &insert.table {
                TableObject::TableName(name) => self.check_write_target(name),
                _ => return self.forbid("INSERT INTO FUNCTION"),
            },
            Statement::Update(update) => {
                self.check_write_targets(std::slice::from_ref(&update.table))?
            }
            Statement::Delete(delete) => {
                for name in &delete.tables {
                    self.check_write_target(name);
                }
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                self.check_write_targets(from)?;
            }
            // The top-level query: nothing is written here.
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.check_query_clauses(query)?;
        if let Some(scope) = self.scopes.last_mut()
            && let Some(index) = scope
                .ctes
                .iter()
                .position(|(_, body)| std::ptr::eq(*body, query))
        {
            scope.visible = if scope.recursive { index + 1 } else { index };
        }
        let ctes = query.with.as_ref().map_or_else(Vec::new, |with| {
            with.cte_tables
                .iter()
                .map(|cte| {
                    (
                        self.cte_key(&cte.alias.name),
                        std::ptr::from_ref(cte.query.as_ref()),
                    )
                })
                .collect()
        });
        let recursive = query.with.as_ref().is_some_and(|with| with.recursive);
        self.scopes.push(Scope {
            ctes,
            recursive,
            visible: 0,
        });
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        // `TABLE name` holds plain identifiers, not a relation the visitor reports. It is
        // checked here, where the query's own CTEs are all visible.
        if let Some(scope) = self.scopes.last_mut() {
            scope.visible = scope.ctes.len();
        }
        self.check_table_commands(&query.body);
        self.scopes.pop();
        if let Some(scope) = self.scopes.last_mut()
            && let Some(index) = scope
                .ctes
                .iter()
                .position(|(_, body)| std::ptr::eq(*body, query))
        {
            scope.visible = index + 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        if select.into.is_some() {
            // PostgreSQL's `SELECT ... INTO t` creates and fills a table.
            return self.forbid("SELECT INTO");
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let Some(alias) = alias_of(factor) {
            // `f(...) AS x(a some_type)`: a column definition names a type.
            for column in &alias.columns {
                if let Some(data_type) = &column.data_type {
                    self.check_type(data_type, None);
                }
            }
        }
        match factor {
            // A plain table: `pre_visit_relation` checks its name, as it does every name.
            TableFactor::Table { args: None, .. } => {}
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => {
                self.check_table_function(name);
            }
            TableFactor::UNNEST { .. } => self.check_table_function_name("unnest"),
            TableFactor::Derived { .. } | TableFactor::NestedJoin { .. } => {}
            TableFactor::TableFunction { .. } => return self.forbid("TABLE() function"),
            TableFactor::JsonTable { .. } | TableFactor::OpenJsonTable { .. } => {
                return self.forbid("JSON_TABLE");
            }
            TableFactor::XmlTable { .. } => return self.forbid("XMLTABLE"),
            TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. }
            | TableFactor::UnpivotExpr { .. } => {
                return self.forbid("PIVOT");
            }
            TableFactor::MatchRecognize { .. } => return self.forbid("MATCH_RECOGNIZE"),
            // Dialect extensions of other databases: refused until someone needs one.
            _ => return self.forbid("FROM item"),
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        if !self.function_names.contains(&std::ptr::from_ref(relation)) {
            self.check_read(relation);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(function) => self.check_function(function),
            // SQLite's `x IN json_each(...)` names a table-valued function, which the
            // visitor then reports as a relation.
            Expr::In {
                target:
                    InTarget::Table {
                        name,
                        args: Some(_),
                    },
                ..
            } => self.check_table_function(name),
            Expr::Cast {
                data_type, expr, ..
            } => self.check_type(data_type, string_literal(expr)),
            Expr::Convert {
                data_type: Some(data_type),
                expr,
                ..
            } => self.check_type(data_type, string_literal(expr)),
            Expr::TypedString(typed) => match &typed.value.value {
                Value::SingleQuotedString(text) => self.check_type(&typed.data_type, Some(text)),
                _ => self.check_type(&typed.data_type, None),
            },
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The alias of a `FROM` item that can carry one.
fn alias_of(factor: &TableFactor) -> Option<&TableAlias> {
    match factor {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. }
        | TableFactor::NestedJoin { alias, .. } => alias.as_ref(),
        _ => None,
    }
}

/// The text of `expr` when it is a plain string literal.
fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

impl Walker<'_> {
    fn forbid(&mut self, statement_type: &str) -> ControlFlow<()> {
        self.found.forbidden_statement = Some(PolicyError::ForbiddenStatement {
            statement_type: statement_type.to_owned(),
        });
        ControlFlow::Break(())
    }

    /// Refuses query clauses of other dialects and locking reads. `FOR UPDATE` takes row
    /// locks that a read-only transaction refuses, and with one statement per request it
    /// protects nothing.
    fn check_query_clauses(&mut self, query: &Query) -> ControlFlow<()> {
        if !query.locks.is_empty() {
            return self.forbid(super::statement::LOCKING_READ);
        }
        if query.for_clause.is_some()
            || query.format_clause.is_some()
            || query.settings.is_some()
            || !query.pipe_operators.is_empty()
        {
            return self.forbid("query clause");
        }
        ControlFlow::Continue(())
    }

    /// Checks PostgreSQL's `TABLE name` in a query body or either side of a set operation.
    fn check_table_commands(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Table(table) => {
                let parts: Vec<Ident> = [&table.schema_name, &table.table_name]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                self.check_parts(&parts, "TABLE", true);
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.check_table_commands(left);
                self.check_table_commands(right);
            }
            // Nested queries are queries of their own; the rest hold no `TABLE` command.
            _ => {}
        }
    }

    /// Checks every table named in an `UPDATE` or `DELETE` target list as a write target.
    fn check_write_targets(&mut self, targets: &[TableWithJoins]) -> ControlFlow<()> {
        let factors = targets
            .iter()
            .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)));
        for factor in factors {
            match factor {
                TableFactor::Table { name, .. } => self.check_write_target(name),
                // SQLite and PostgreSQL write only to named tables.
                _ => return self.forbid("write to a derived table"),
            }
        }
        ControlFlow::Continue(())
    }

    fn check_write_target(&mut self, name: &ObjectName) {
        self.check_name(name, false);
    }

    fn check_read(&mut self, name: &ObjectName) {
        self.check_name(name, true);
    }

    fn check_name(&mut self, name: &ObjectName, cte_exempt: bool) {
        let parts: Option<Vec<Ident>> =
            name.0.iter().map(|part| part.as_ident().cloned()).collect();
        match parts {
            Some(parts) => self.check_parts(&parts, &name.to_string(), cte_exempt),
            // `ObjectNamePart::Function` (Snowflake's `IDENTIFIER(...)`) names a table at run
            // time: never one we can vouch for.
            None => self.foreign(name.to_string()),
        }
    }

    /// The prefix rule for one table reference, given as its name parts.
    fn check_parts(&mut self, parts: &[Ident], written: &str, cte_exempt: bool) {
        match parts {
            [ident] => {
                if cte_exempt && self.is_cte_in_scope(ident) {
                    return;
                }
                match self.plugin.owner_of(&ident.value) {
                    TableOwner::Plugin => {
                        self.found.tables.insert(ident.value.to_ascii_lowercase());
                    }
                    TableOwner::System => self.system(ident.value.clone()),
                    TableOwner::Foreign => self.foreign(ident.value.clone()),
                }
            }
            [] => self.foreign(written.to_owned()),
            _ => {
                let joined = parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                if parts.iter().any(|p| crate::is_system_name(&p.value)) {
                    self.system(joined);
                } else {
                    self.foreign(joined);
                }
            }
        }
    }

    /// A type name on PostgreSQL: a relation's row type is a table reference, and an
    /// object-identifier cast is a catalog lookup (see [`types`]).
    fn check_type(&mut self, data_type: &DataType, literal: Option<&str>) {
        if self.dialect != Dialect::Postgres {
            return;
        }
        for found in types::uses(data_type, literal) {
            match found {
                TypeUse::Relation(parts) => {
                    let written = parts
                        .iter()
                        .map(|p| p.value.as_str())
                        .collect::<Vec<_>>()
                        .join(".");
                    // Never a CTE: PostgreSQL looks type names up in the catalog only.
                    self.check_parts(&parts, &written, false);
                }
                TypeUse::NamedByLiteral(text) => match types::literal_name(text) {
                    Some(ident) => self.check_parts(&[ident], text, false),
                    None => self.foreign(text.to_owned()),
                },
                TypeUse::Lookup(type_name) => {
                    self.found
                        .forbidden_function
                        .get_or_insert(PolicyError::ForbiddenFunction {
                            function: type_name,
                        });
                }
            }
        }
    }

    fn system(&mut self, table: String) {
        self.found
            .system_table
            .get_or_insert(PolicyError::SystemTableAccess { table });
    }

    fn foreign(&mut self, table: String) {
        let expected_prefix = self.plugin.table_prefix().to_owned();
        self.found
            .foreign_table
            .get_or_insert(PolicyError::NamespaceViolation {
                table,
                expected_prefix,
            });
    }

    fn check_function(&mut self, function: &Function) {
        let allowed = match function_name(&function.name) {
            Some(name) => self.policy.allows_function(&name),
            // `main.f()` or `pg_catalog.f()`: a schema-qualified call escapes the list.
            None => false,
        };
        if !allowed {
            self.forbidden_function(&function.name);
        }
    }

    /// A table-valued function in `FROM` (or SQLite's `IN f(...)`): not a table, so its
    /// name is kept from the relation check and checked against the table-function list.
    fn check_table_function(&mut self, name: &ObjectName) {
        self.function_names.push(std::ptr::from_ref(name));
        match function_name(name) {
            Some(lower) => self.check_table_function_name(&lower),
            None => self.forbidden_function(name),
        }
    }

    fn check_table_function_name(&mut self, lower: &str) {
        if !self.policy.allows_table_function(lower) {
            self.found
                .forbidden_function
                .get_or_insert(PolicyError::ForbiddenFunction {
                    function: lower.to_owned(),
                });
        }
    }

    fn forbidden_function(&mut self, name: &ObjectName) {
        let function = name
            .0
            .iter()
            .map(|part| match part {
                ObjectNamePart::Identifier(ident) => ident.value.to_ascii_lowercase(),
                ObjectNamePart::Function(_) => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join(".");
        self.found
            .forbidden_function
            .get_or_insert(PolicyError::ForbiddenFunction { function });
    }

    fn is_cte_in_scope(&self, ident: &Ident) -> bool {
        let key = self.cte_key(ident);
        self.scopes.iter().any(|scope| {
            scope
                .ctes
                .iter()
                .take(scope.visible)
                .any(|(name, _)| *name == key)
        })
    }

    /// How the dialect compares the identifier with a CTE name. PostgreSQL folds unquoted
    /// names to lower case and keeps quoted ones exact, so `"Quote_db__t"` does not bind
    /// `quote_db__t`; SQLite ignores ASCII case everywhere.
    fn cte_key(&self, ident: &Ident) -> String {
        match self.dialect {
            Dialect::Postgres if ident.quote_style.is_some() => ident.value.clone(),
            _ => ident.value.to_ascii_lowercase(),
        }
    }
}

/// The lower-cased name of an unqualified function, `None` for a qualified one.
fn function_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident.value.to_ascii_lowercase()),
        _ => None,
    }
}
