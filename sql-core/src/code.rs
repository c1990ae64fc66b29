//! The error codes of the wire protocol (PROTOCOL.md section 3).

use std::fmt;
use std::str::FromStr;

/// One error code of PROTOCOL.md section 3, as carried in an error reply's `error` field.
///
/// Callers branch on the code, never on message text.
///
/// # Examples
///
/// ```
/// use sql_core::ErrorCode;
///
/// assert_eq!(ErrorCode::NamespaceViolation.as_str(), "NAMESPACE_VIOLATION");
/// assert_eq!("TIMEOUT".parse::<ErrorCode>(), Ok(ErrorCode::Timeout));
/// // The older peer's code for parameter errors maps to its successor.
/// assert_eq!("PARAM_ERROR".parse::<ErrorCode>(), Ok(ErrorCode::ParamTypeError));
/// assert!("NO_SUCH_CODE".parse::<ErrorCode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Bad subject, body or request field.
    RequestValidationError,
    /// Nothing but whitespace, comments or `;`.
    EmptyQuery,
    /// The SQL does not parse.
    ParseError,
    /// More than one statement.
    StackedQueries,
    /// A statement kind outside PROTOCOL.md section 5.
    ForbiddenStatement,
    /// A function outside the allowlist.
    ForbiddenFunction,
    /// A table outside the plugin's prefix.
    NamespaceViolation,
    /// A system table or schema.
    SystemTableAccess,
    /// Parameters given differ from placeholders used.
    ParamCountMismatch,
    /// `$0`, a gap, or a placeholder form other than `$n`.
    InvalidPlaceholder,
    /// A parameter value that cannot be bound.
    ParamTypeError,
    /// A write without `allow_write`.
    PermissionDenied,
    /// The query ran past `timeout_ms` and was cancelled.
    Timeout,
    /// The database refused the statement.
    ExecutionError,
    /// Two result columns share a name in the objects row format.
    DuplicateColumn,
    /// The plugin's quota is spent.
    RateLimit,
    /// The handler is at its concurrency cap or draining.
    Overloaded,
    /// A bug in the handler.
    InternalError,
}

/// Every code, in PROTOCOL.md order.
pub const ALL_ERROR_CODES: [ErrorCode; 18] = [
    ErrorCode::RequestValidationError,
    ErrorCode::EmptyQuery,
    ErrorCode::ParseError,
    ErrorCode::StackedQueries,
    ErrorCode::ForbiddenStatement,
    ErrorCode::ForbiddenFunction,
    ErrorCode::NamespaceViolation,
    ErrorCode::SystemTableAccess,
    ErrorCode::ParamCountMismatch,
    ErrorCode::InvalidPlaceholder,
    ErrorCode::ParamTypeError,
    ErrorCode::PermissionDenied,
    ErrorCode::Timeout,
    ErrorCode::ExecutionError,
    ErrorCode::DuplicateColumn,
    ErrorCode::RateLimit,
    ErrorCode::Overloaded,
    ErrorCode::InternalError,
];

impl ErrorCode {
    /// The code as written on the wire.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sql_core::ErrorCode::Overloaded.as_str(), "OVERLOADED");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RequestValidationError => "REQUEST_VALIDATION_ERROR",
            Self::EmptyQuery => "EMPTY_QUERY",
            Self::ParseError => "PARSE_ERROR",
            Self::StackedQueries => "STACKED_QUERIES",
            Self::ForbiddenStatement => "FORBIDDEN_STATEMENT",
            Self::ForbiddenFunction => "FORBIDDEN_FUNCTION",
            Self::NamespaceViolation => "NAMESPACE_VIOLATION",
            Self::SystemTableAccess => "SYSTEM_TABLE_ACCESS",
            Self::ParamCountMismatch => "PARAM_COUNT_MISMATCH",
            Self::InvalidPlaceholder => "INVALID_PLACEHOLDER",
            Self::ParamTypeError => "PARAM_TYPE_ERROR",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::Timeout => "TIMEOUT",
            Self::ExecutionError => "EXECUTION_ERROR",
            Self::DuplicateColumn => "DUPLICATE_COLUMN",
            Self::RateLimit => "RATE_LIMIT",
            Self::Overloaded => "OVERLOADED",
            Self::InternalError => "INTERNAL_ERROR",
        }
    }
}

/// A string that names no code of PROTOCOL.md section 3.
///
/// # Examples
///
/// ```
/// let err = "NOPE".parse::<sql_core::ErrorCode>().unwrap_err();
/// assert_eq!(err.to_string(), r#"unknown error code "NOPE""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "PARAM_ERROR" {
            return Ok(Self::ParamTypeError);
        }
        ALL_ERROR_CODES
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for code in ALL_ERROR_CODES {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }
}
