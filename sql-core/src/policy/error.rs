//! Why a statement is refused by the policy.

use serde_json::{Map, Value, json};

use crate::ErrorCode;

/// Why the policy refuses a statement. Each variant maps to one wire code
/// ([`PolicyError::code`]) and carries the fields of that code's `details`
/// ([`PolicyError::details`]).
///
/// # Examples
///
/// ```
/// use sql_core::{check, Dialect, ErrorCode, Plugin, PolicyError};
///
/// let plugin = Plugin::new("analytics-db")?;
/// let err = check("SELECT * FROM quote_db__quotes", &plugin, Dialect::Sqlite).unwrap_err();
/// assert_eq!(err.code(), ErrorCode::NamespaceViolation);
/// assert_eq!(err.details()["table"], "quote_db__quotes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The text holds nothing but whitespace, comments or `;`.
    #[error("the query is empty")]
    Empty,
    /// The SQL does not parse.
    #[error("the query does not parse: {message}")]
    Parse {
        /// The parser's explanation, without position.
        message: String,
        /// 1-based line of the problem, when known.
        line: Option<u64>,
        /// 1-based column of the problem, when known.
        column: Option<u64>,
    },
    /// More than one statement.
    #[error("the query holds {count} statements; send exactly one")]
    StackedQueries {
        /// How many statements were found.
        count: usize,
    },
    /// A statement kind outside PROTOCOL.md section 5, or a write hidden in a read.
    #[error(
        "{statement_type} statements are not allowed; only SELECT, INSERT, UPDATE and DELETE are"
    )]
    ForbiddenStatement {
        /// What was found, such as `DROP`, `PRAGMA`, `SELECT INTO` or `data-modifying CTE`.
        statement_type: String,
    },
    /// A function outside the allowlist.
    #[error("function {function}() is not allowed")]
    ForbiddenFunction {
        /// The function's name, lower-cased.
        function: String,
    },
    /// A table outside the plugin's prefix, or a qualified name.
    #[error("table '{table}' is outside the plugin's tables (prefix '{expected_prefix}')")]
    NamespaceViolation {
        /// The table as written (schema parts joined with `.`).
        table: String,
        /// The prefix the plugin's tables start with.
        expected_prefix: String,
    },
    /// A system table or schema.
    #[error("system table '{table}' is not accessible")]
    SystemTableAccess {
        /// The table as written.
        table: String,
    },
    /// `$0`, a gap in `$1..$n`, more than the allowed number, or a placeholder form other
    /// than `$n` (`?`, `:name`, `@name`).
    #[error("invalid placeholder {placeholder}: {reason}")]
    InvalidPlaceholder {
        /// The placeholder as written, such as `$0` or `$3`.
        placeholder: String,
        /// What is wrong with it and how to fix it.
        reason: String,
    },
}

impl PolicyError {
    /// The wire code of this error.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::{ErrorCode, PolicyError};
    /// assert_eq!(PolicyError::Empty.code(), ErrorCode::EmptyQuery);
    /// ```
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Empty => ErrorCode::EmptyQuery,
            Self::Parse { .. } => ErrorCode::ParseError,
            Self::StackedQueries { .. } => ErrorCode::StackedQueries,
            Self::ForbiddenStatement { .. } => ErrorCode::ForbiddenStatement,
            Self::ForbiddenFunction { .. } => ErrorCode::ForbiddenFunction,
            Self::NamespaceViolation { .. } => ErrorCode::NamespaceViolation,
            Self::SystemTableAccess { .. } => ErrorCode::SystemTableAccess,
            Self::InvalidPlaceholder { .. } => ErrorCode::InvalidPlaceholder,
        }
    }

    /// The code-specific fields of the reply's `details` (PROTOCOL.md section 3).
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::PolicyError;
    /// let err = PolicyError::ForbiddenFunction { function: "load_extension".into() };
    /// assert_eq!(err.details()["function"], "load_extension");
    /// ```
    #[must_use]
    pub fn details(&self) -> Map<String, Value> {
        let value = match self {
            Self::Empty => json!({}),
            Self::Parse { line, column, .. } => {
                let mut map = Map::new();
                if let Some(line) = line {
                    map.insert("line".into(), json!(line));
                }
                if let Some(column) = column {
                    map.insert("column".into(), json!(column));
                }
                Value::Object(map)
            }
            Self::StackedQueries { count } => json!({ "statement_count": count }),
            Self::ForbiddenStatement { statement_type } => {
                json!({ "statement_type": statement_type })
            }
            Self::ForbiddenFunction { function } => json!({ "function": function }),
            Self::NamespaceViolation {
                table,
                expected_prefix,
            } => {
                json!({ "table": table, "expected_prefix": expected_prefix })
            }
            Self::SystemTableAccess { table } => json!({ "table": table }),
            Self::InvalidPlaceholder { placeholder, .. } => json!({ "placeholder": placeholder }),
        };
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}
