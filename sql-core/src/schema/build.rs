//! Replaying migrations into the model: each statement, in order, changes the tables the
//! way the database will. A statement that would change the shape of a table in a way
//! the model cannot follow is an error naming the file and line, never a silent gap.

use sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, ColumnDef, ColumnOption, CreateTable,
    CreateView, DataType, ObjectType, RenameTableNameKind, SqliteTableOption, Statement,
    TableConstraint, UserDefinedTypeRepresentation,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::analyze::last_part;
use super::types::{SqlType, is_serial};
use super::{Column, Relation, RelationKind, Schema};
use crate::Dialect;

/// A migration the model cannot follow, or one that does not fit the model (a view over a
/// column that does not exist, an ALTER of a table no earlier migration created).
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, Schema};
///
/// let err = Schema::from_migrations(Dialect::Sqlite, [
///     ("p/001_init.sql", "CREATE TABLE p__t (a TEXT);\n\nALTER TABLE p__u ADD COLUMN b TEXT;"),
/// ]).unwrap_err();
/// assert_eq!((err.file(), err.line()), ("p/001_init.sql", 3));
/// assert_eq!(err.to_string(), "p/001_init.sql:3: ALTER TABLE of `p__u`, which no earlier migration creates");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SchemaError {
    file: String,
    line: u64,
    message: String,
}

impl SchemaError {
    /// The migration, as labelled by the caller (`plugin/NNN_name.sql`).
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The 1-based line of the statement (or of the parse error).
    #[must_use]
    pub fn line(&self) -> u64 {
        self.line
    }

    /// What is wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The version and name of a migration file `NNN_name.sql`, or `None` when the name does
/// not have that form. The handler and `sql!` both read migration folders with this rule,
/// and apply the files in version order.
///
/// # Examples
///
/// ```
/// assert_eq!(sql_core::migration_file_name("002_add_score.sql"), Some((2, "add_score")));
/// assert_eq!(sql_core::migration_file_name("002-add.sql"), None);
/// assert_eq!(sql_core::migration_file_name("notes.txt"), None);
/// ```
#[must_use]
pub fn migration_file_name(file: &str) -> Option<(u32, &str)> {
    let stem = file.strip_suffix(".sql")?;
    let (digits, name) = stem.split_once('_')?;
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || !valid_name {
        return None;
    }
    Some((digits.parse().ok()?, name))
}

/// Whether a file of a migrations folder is a migration at all: `.sql` files are (and
/// must be named `NNN_name.sql`, [`migration_file_name`]); others, such as a README or a
/// `.gitkeep`, are not and are passed over. The handler and `sql!` both read folders
/// with this rule.
///
/// # Examples
///
/// ```
/// assert!(sql_core::is_migration_file("001_init.sql"));
/// assert!(sql_core::is_migration_file("1-init.sql"), "a migration, badly named");
/// assert!(!sql_core::is_migration_file("README.md"));
/// assert!(!sql_core::is_migration_file(".gitkeep"));
/// ```
#[must_use]
pub fn is_migration_file(file: &str) -> bool {
    file.ends_with(".sql")
}

/// The backend a plugin's migration subfolder is for: `sqlite/` or `postgres/`. A
/// plugin's migrations for a backend are the files of its folder and of that backend's
/// subfolder, in version order (a version is used once among them); the handler and
/// `sql!` both read folders this way.
///
/// # Examples
///
/// ```
/// use sql_core::{Dialect, migration_folder_dialect};
/// assert_eq!(migration_folder_dialect("postgres"), Some(Dialect::Postgres));
/// assert_eq!(migration_folder_dialect("001_init.sql"), None);
/// ```
#[must_use]
pub fn migration_folder_dialect(name: &str) -> Option<Dialect> {
    Dialect::from_name(name)
}

impl Schema {
    /// Replays `migrations` (`(label, sql)` pairs, in the order they apply) into a model.
    ///
    /// # Errors
    ///
    /// [`SchemaError`] naming the file and line of the first statement that does not parse,
    /// that the model cannot follow, or that does not fit the tables so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::{Dialect, Schema};
    ///
    /// let schema = Schema::from_migrations(Dialect::Sqlite, [
    ///     ("p/001_init.sql", "CREATE TABLE p__t (a TEXT NOT NULL, b INTEGER)"),
    ///     ("p/002_rename.sql", "ALTER TABLE p__t RENAME COLUMN b TO c; ALTER TABLE p__t DROP COLUMN a"),
    /// ])?;
    /// let names: Vec<_> = schema.relation("p__t").unwrap().columns().iter().map(|c| c.name()).collect();
    /// assert_eq!(names, ["c"]);
    /// # Ok::<(), sql_core::SchemaError>(())
    /// ```
    pub fn from_migrations<'a>(
        dialect: Dialect,
        migrations: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SchemaError> {
        let mut schema = Self::new(dialect);
        for (label, sql) in migrations {
            schema.apply(label, sql)?;
        }
        Ok(schema)
    }

    /// Applies one migration file.
    ///
    /// # Errors
    ///
    /// As [`Schema::from_migrations`].
    pub fn apply(&mut self, label: &str, sql: &str) -> Result<(), SchemaError> {
        let fail = |line: u64, message: String| SchemaError {
            file: label.to_owned(),
            line,
            message,
        };
        let mut parser = Parser::new(crate::policy::parser_dialect(self.dialect))
            .try_with_sql(sql)
            .map_err(|e| parse_failure(label, &e))?;
        loop {
            while parser.consume_token(&Token::SemiColon) {}
            let next = parser.peek_token();
            if next.token == Token::EOF {
                return Ok(());
            }
            let line = next.span.start.line;
            let statement = parser
                .parse_statement()
                .map_err(|e| parse_failure(label, &e))?;
            self.statement(&statement)
                .map_err(|message| fail(line, message))?;
        }
    }

    fn statement(&mut self, statement: &Statement) -> Result<(), String> {
        match statement {
            Statement::CreateTable(create) => self.create_table(create),
            Statement::AlterTable(alter) => self.alter_table(alter),
            Statement::CreateView(view) => self.create_view(view),
            Statement::Drop {
                object_type,
                if_exists,
                names,
                ..
            } => {
                if matches!(
                    object_type,
                    ObjectType::Table | ObjectType::View | ObjectType::MaterializedView
                ) {
                    for name in names {
                        let key = last_part(name).to_ascii_lowercase();
                        if self.relations.remove(&key).is_none() && !if_exists {
                            return Err(format!(
                                "DROP of `{}`, which no earlier migration creates",
                                last_part(name)
                            ));
                        }
                    }
                }
                Ok(())
            }
            Statement::CreateType {
                name,
                representation,
            } => {
                let ty = match representation {
                    Some(UserDefinedTypeRepresentation::Enum { .. }) => SqlType::Text,
                    _ => SqlType::Any,
                };
                self.user_types
                    .insert(last_part(name).to_ascii_lowercase(), ty);
                Ok(())
            }
            Statement::CreateDomain(domain) => {
                let ty = self.column_type(&domain.data_type);
                self.user_types
                    .insert(last_part(&domain.name).to_ascii_lowercase(), ty);
                Ok(())
            }
            // Statements that change no table's columns.
            Statement::CreateIndex(_)
            | Statement::CreateSequence { .. }
            | Statement::CreateTrigger(_)
            | Statement::DropTrigger(_)
            | Statement::AlterIndex { .. }
            | Statement::Comment { .. }
            | Statement::Truncate(_)
            | Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_)
            | Statement::Query(_)
            | Statement::RefreshMaterializedView(_)
            | Statement::Analyze(_)
            | Statement::DropDomain(_) => Ok(()),
            other => Err(format!(
                "the schema checks cannot follow `{}`; migrations that change tables may use CREATE TABLE, ALTER TABLE (ADD, DROP, RENAME COLUMN, RENAME TO, ALTER COLUMN), CREATE VIEW and DROP",
                first_words(&other.to_string())
            )),
        }
    }

    fn create_table(&mut self, create: &CreateTable) -> Result<(), String> {
        let name = last_part(&create.name);
        let key = name.to_ascii_lowercase();
        if self.relations.contains_key(&key) {
            return if create.if_not_exists {
                Ok(())
            } else {
                Err(format!("table `{name}` already exists"))
            };
        }
        let options = &create.sqlite_table_options.options;
        let rowid = !options.contains(&SqliteTableOption::WithoutRowid);
        let strict = options.contains(&SqliteTableOption::Strict);
        let mut columns = if let Some(query) = &create.query {
            self.analyze_statement(&Statement::Query(query.clone()))
                .map_err(|e| format!("CREATE TABLE `{name}` AS: {e}"))?
                .columns()
                .unwrap_or_default()
                .iter()
                .map(|c| Column::derived(c, false))
                .collect()
        } else {
            Vec::new()
        };
        let mut primary_key: Vec<String> = Vec::new();
        for def in &create.columns {
            let (column, pk) = self.column(def);
            if pk {
                primary_key.push(column.name.clone());
            }
            columns.push(column);
        }
        for constraint in &create.constraints {
            if let TableConstraint::PrimaryKey(pk) = constraint {
                primary_key.extend(pk.columns.iter().map(|c| c.column.expr.to_string()));
            }
        }
        let mut relation = Relation {
            name,
            kind: RelationKind::Table,
            columns,
            rowid,
        };
        self.mark_primary_key(&mut relation, &primary_key, strict || !rowid);
        self.relations.insert(key, relation);
        Ok(())
    }

    /// Primary-key columns are NOT NULL on PostgreSQL, in SQLite's STRICT and WITHOUT
    /// ROWID tables, and for SQLite's rowid alias (`INTEGER PRIMARY KEY`), which also
    /// fills itself in.
    fn mark_primary_key(&self, relation: &mut Relation, key: &[String], strict: bool) {
        let postgres = self.dialect == Dialect::Postgres;
        let rowid_alias = !postgres && relation.rowid && key.len() == 1;
        for name in key {
            let name = name.trim_matches('"');
            if let Some(column) = relation.column_mut(name) {
                if postgres || strict {
                    column.not_null = true;
                }
                if rowid_alias && column.declared.eq_ignore_ascii_case("INTEGER") {
                    column.not_null = true;
                    column.has_default = true;
                    column.rowid_alias = true;
                }
            }
        }
    }

    fn column_type(&self, data_type: &DataType) -> SqlType {
        let declared = declared(data_type);
        match SqlType::from_declared(&declared, self.dialect) {
            SqlType::Any => self
                .user_types
                .get(&declared.to_ascii_lowercase())
                .copied()
                .unwrap_or(SqlType::Any),
            ty => ty,
        }
    }

    /// One column definition, and whether it declares itself the primary key.
    fn column(&self, def: &ColumnDef) -> (Column, bool) {
        let declared = declared(&def.data_type);
        let mut column = Column {
            name: def.name.value.clone(),
            ty: self.column_type(&def.data_type),
            not_null: false,
            has_default: false,
            generated: false,
            rowid_alias: false,
            declared,
        };
        if self.dialect == Dialect::Postgres && is_serial(&column.declared) {
            column.not_null = true;
            column.has_default = true;
        }
        let mut primary_key = false;
        for option in &def.options {
            match &option.option {
                ColumnOption::NotNull => column.not_null = true,
                ColumnOption::Null => column.not_null = false,
                ColumnOption::Default(_) => column.has_default = true,
                ColumnOption::PrimaryKey(_) => primary_key = true,
                ColumnOption::Generated {
                    generation_expr: Some(_),
                    ..
                } => column.generated = true,
                // An identity column fills itself in and is never NULL.
                ColumnOption::Generated { .. } | ColumnOption::Identity(_) => {
                    column.has_default = true;
                    column.not_null = true;
                }
                ColumnOption::DialectSpecific(tokens)
                    if tokens
                        .iter()
                        .any(|t| t.to_string().eq_ignore_ascii_case("AUTOINCREMENT")) =>
                {
                    column.has_default = true;
                }
                _ => {}
            }
        }
        (column, primary_key)
    }

    fn create_view(&mut self, view: &CreateView) -> Result<(), String> {
        let name = last_part(&view.name);
        let key = name.to_ascii_lowercase();
        if self.relations.contains_key(&key) && !view.or_replace && !view.if_not_exists {
            return Err(format!("view `{name}` already exists"));
        }
        let analysis = self
            .analyze_statement(&Statement::Query(view.query.clone()))
            .map_err(|e| format!("view `{name}`: {e}"))?;
        let mut columns: Vec<Column> = analysis
            .columns()
            .unwrap_or_default()
            .iter()
            .map(|c| Column::derived(c, c.nullability() == super::Nullability::NotNull))
            .collect();
        for (column, renamed) in columns.iter_mut().zip(&view.columns) {
            column.name.clone_from(&renamed.name.value);
        }
        self.relations.insert(
            key,
            Relation {
                name,
                kind: RelationKind::View,
                columns,
                rowid: false,
            },
        );
        Ok(())
    }

    fn alter_table(&mut self, alter: &AlterTable) -> Result<(), String> {
        let name = last_part(&alter.name);
        let key = name.to_ascii_lowercase();
        let Some(mut relation) = self.relations.remove(&key) else {
            return if alter.if_exists {
                Ok(())
            } else {
                Err(format!(
                    "ALTER TABLE of `{name}`, which no earlier migration creates"
                ))
            };
        };
        let result = alter
            .operations
            .iter()
            .try_for_each(|op| self.alter_operation(&mut relation, op));
        // On failure the relation goes back unchanged in name, so a later message can
        // still find it.
        let new_key = relation.name.to_ascii_lowercase();
        match result {
            Ok(()) if new_key != key && self.relations.contains_key(&new_key) => {
                let taken = relation.name.clone();
                self.relations.insert(key, relation);
                Err(format!(
                    "cannot rename `{name}` to `{taken}`: that name is taken"
                ))
            }
            Ok(()) => {
                self.relations.insert(new_key, relation);
                Ok(())
            }
            Err(e) => {
                self.relations.insert(key, relation);
                Err(e)
            }
        }
    }

    fn alter_operation(
        &self,
        relation: &mut Relation,
        op: &AlterTableOperation,
    ) -> Result<(), String> {
        let table = relation.name.clone();
        let missing = |column: &str| format!("table `{table}` has no column `{column}`");
        match op {
            AlterTableOperation::AddColumn {
                column_def,
                if_not_exists,
                ..
            } => {
                if relation.column(&column_def.name.value).is_some() {
                    return if *if_not_exists {
                        Ok(())
                    } else {
                        Err(format!(
                            "table `{table}` already has a column `{}`",
                            column_def.name.value
                        ))
                    };
                }
                let (column, primary_key) = self.column(column_def);
                let column_name = column.name.clone();
                relation.columns.push(column);
                if primary_key {
                    self.mark_primary_key(relation, &[column_name], false);
                }
                Ok(())
            }
            AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                ..
            } => {
                for column in column_names {
                    let before = relation.columns.len();
                    relation
                        .columns
                        .retain(|c| !c.name.eq_ignore_ascii_case(&column.value));
                    if relation.columns.len() == before && !if_exists {
                        return Err(missing(&column.value));
                    }
                }
                Ok(())
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                if relation.column(&new_column_name.value).is_some() {
                    return Err(format!(
                        "table `{table}` already has a column `{}`",
                        new_column_name.value
                    ));
                }
                let column = relation
                    .column_mut(&old_column_name.value)
                    .ok_or_else(|| missing(&old_column_name.value))?;
                column.name.clone_from(&new_column_name.value);
                Ok(())
            }
            AlterTableOperation::RenameTable { table_name } => {
                let (RenameTableNameKind::To(new) | RenameTableNameKind::As(new)) = table_name;
                relation.name = last_part(new);
                Ok(())
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                let column = relation
                    .column_mut(&column_name.value)
                    .ok_or_else(|| missing(&column_name.value))?;
                match op {
                    AlterColumnOperation::SetNotNull => column.not_null = true,
                    AlterColumnOperation::DropNotNull => column.not_null = false,
                    AlterColumnOperation::SetDefault { .. } => column.has_default = true,
                    AlterColumnOperation::DropDefault => column.has_default = false,
                    AlterColumnOperation::SetDataType { data_type, .. } => {
                        column.declared = declared(data_type);
                        column.ty = self.column_type(data_type);
                    }
                    AlterColumnOperation::AddGenerated { .. } => {
                        column.has_default = true;
                        column.not_null = true;
                    }
                    AlterColumnOperation::GenericOptions { .. } => {}
                }
                Ok(())
            }
            AlterTableOperation::AddConstraint { constraint, .. } => {
                if let TableConstraint::PrimaryKey(pk) = constraint {
                    let key: Vec<String> = pk
                        .columns
                        .iter()
                        .map(|c| c.column.expr.to_string())
                        .collect();
                    self.mark_primary_key(relation, &key, false);
                }
                Ok(())
            }
            // Constraints, triggers, row security and ownership change no column.
            AlterTableOperation::DropConstraint { .. }
            | AlterTableOperation::RenameConstraint { .. }
            | AlterTableOperation::DropPrimaryKey { .. }
            | AlterTableOperation::DropForeignKey { .. }
            | AlterTableOperation::EnableRowLevelSecurity
            | AlterTableOperation::DisableRowLevelSecurity
            | AlterTableOperation::ForceRowLevelSecurity
            | AlterTableOperation::NoForceRowLevelSecurity
            | AlterTableOperation::EnableTrigger { .. }
            | AlterTableOperation::DisableTrigger { .. }
            | AlterTableOperation::EnableAlwaysTrigger { .. }
            | AlterTableOperation::EnableReplicaTrigger { .. }
            | AlterTableOperation::ReplicaIdentity { .. }
            | AlterTableOperation::SetLogged
            | AlterTableOperation::SetUnlogged => Ok(()),
            other => Err(format!(
                "the schema checks cannot follow `ALTER TABLE {table} {}`",
                first_words(&other.to_string())
            )),
        }
    }
}

impl Column {
    /// A column of a view or of `CREATE TABLE ... AS`: a result column of its query.
    fn derived(output: &super::OutputColumn, not_null: bool) -> Self {
        Self {
            name: output.name().to_owned(),
            declared: String::new(),
            ty: output.ty(),
            not_null,
            has_default: false,
            generated: false,
            rowid_alias: false,
        }
    }
}

/// The declared type as written; empty for SQLite's typeless columns.
fn declared(data_type: &DataType) -> String {
    match data_type {
        DataType::Unspecified => String::new(),
        other => other.to_string(),
    }
}

fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_failure(label: &str, error: &sqlparser::parser::ParserError) -> SchemaError {
    let (message, line) = match crate::policy::parse_error_position(error) {
        (message, Some(line)) => (message, line),
        (message, None) => (message, 1),
    };
    SchemaError {
        file: label.to_owned(),
        line,
        message: format!("does not parse: {message}"),
    }
}
