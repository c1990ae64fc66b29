//! Rows: the untyped [`Row`] and the [`SqlRow`] trait that turns a row into a plugin's own
//! type.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::__private::read;
use crate::decode::{Expected, FromSqlValue};

/// A type built from one result row.
///
/// `#[derive(SqlRow)]` (from the `sql!` work) implements it for structs; [`Row`] implements
/// it for untyped access, so `select::<Row>` works without a struct.
///
/// # Examples
///
/// ```
/// use sql_client::{Row, RowError, SqlRow};
///
/// struct Event {
///     id: i64,
///     name: String,
/// }
///
/// impl SqlRow for Event {
///     fn from_row(row: &Row) -> Result<Self, RowError> {
///         Ok(Self { id: row.get("id")?, name: row.get("name")? })
///     }
/// }
/// # let row = Row::new(vec!["id".into(), "name".into()].into(), vec![1.into(), "login".into()]);
/// # let event = Event::from_row(&row)?;
/// # assert_eq!((event.id, event.name.as_str()), (1, "login"));
/// # Ok::<(), RowError>(())
/// ```
pub trait SqlRow: Sized {
    /// The columns `from_row` needs, each with the message `sql!(as Self, ...)` shows when
    /// the select list lacks it. The derive fills it in; hand-written impls may leave it
    /// empty, which turns that check off.
    #[doc(hidden)]
    const REQUIRED_COLUMNS: &'static [(&'static str, &'static str)] = &[];

    /// Each field's column and what its type reads, for `sql!(as Self, ...)`'s type check
    /// against the schema. The derive fills it in; empty turns the check off.
    #[doc(hidden)]
    const FIELDS: &'static [(&'static str, crate::__private::Reads)] = &[];

    /// Builds `Self` from `row`.
    ///
    /// # Errors
    ///
    /// [`RowError`] naming the column, the expected type and the value found.
    ///
    /// # Examples
    ///
    /// [`SqlClient::select`](crate::SqlClient::select) calls it for each row; by hand:
    ///
    /// ```
    /// use sql_client::{Row, RowError, SqlRow};
    ///
    /// #[derive(SqlRow, Debug, PartialEq)]
    /// struct Event {
    ///     id: i64,
    ///     name: String,
    /// }
    ///
    /// let row = Row::new(vec!["id".into(), "name".into()].into(), vec![7.into(), "login".into()]);
    /// assert_eq!(Event::from_row(&row)?, Event { id: 7, name: "login".into() });
    ///
    /// let partial = Row::new(vec!["id".into()].into(), vec![7.into()]);
    /// assert!(matches!(Event::from_row(&partial), Err(RowError::MissingColumn { .. })));
    /// # Ok::<(), RowError>(())
    /// ```
    fn from_row(row: &Row) -> Result<Self, RowError>;
}

/// Why a row could not become the requested type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RowError {
    /// The result has no such column.
    #[error("the result has no column '{column}'; it has: {available}")]
    MissingColumn {
        /// The column asked for.
        column: String,
        /// The columns present, comma-separated.
        available: String,
    },
    /// The column's value does not fit the expected type.
    #[error("column '{column}': expected {expected}, found {found}")]
    WrongType {
        /// The column.
        column: String,
        /// The Rust type asked for.
        expected: String,
        /// The JSON value found, shortened.
        found: String,
    },
    /// A text value read into a type that reads only blobs, such as `Vec<u8>`. Blobs and
    /// text both arrive as JSON strings; the reply tells which values are blobs
    /// (PROTOCOL.md section 3, `blob_columns`), so text is never base64-decoded by mistake.
    #[error("column '{column}' holds text, not a blob")]
    NotABlob {
        /// The column.
        column: String,
    },
    /// A blob read into a type that does not read blobs, such as `String`, which would
    /// otherwise get the blob's base64 text.
    #[error("column '{column}' holds a blob; read it into Vec<u8>")]
    UnexpectedBlob {
        /// The column.
        column: String,
    },
    /// A custom conversion failed.
    #[error("column '{column}': {message}")]
    Custom {
        /// The column.
        column: String,
        /// What went wrong.
        message: String,
    },
}

/// One result row: column names in select-list order and their values as JSON
/// (PROTOCOL.md section 4: exact integers, base64 blobs, `null` for NULL), and which of
/// them are blobs when the reply tells (section 3).
///
/// # Examples
///
/// ```
/// use sql_client::Row;
///
/// let row = Row::new(vec!["id".into(), "score".into()].into(), vec![7.into(), serde_json::Value::Null]);
/// assert_eq!(row.get::<i64>("id")?, 7);
/// assert_eq!(row.get::<Option<f64>>("score")?, None);
/// assert!(row.get::<String>("id").is_err());
/// # Ok::<(), sql_client::RowError>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
    blobs: Blobs,
}

/// Which values of a row are blobs, as its reply told (PROTOCOL.md section 3).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Blobs {
    /// The reply did not say (a handler from before `blob_columns`): every string reads
    /// as before, into `Vec<u8>` as base64.
    Untold,
    /// The reply said.
    Told {
        /// Per column, whether every non-null value of the result's column is a blob;
        /// shared by all rows of the result.
        columns: Arc<[bool]>,
        /// The other columns whose value in this row is a blob (`blob_values`), usually
        /// none.
        values: Box<[usize]>,
    },
}

/// What a row's value is, as far as the reply told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// Unknown: the reply did not say.
    Untold,
    /// A blob (base64 text in the reply).
    Blob,
    /// Anything else.
    NotBlob,
}

impl Blobs {
    fn at(&self, index: usize) -> Stored {
        match self {
            Self::Untold => Stored::Untold,
            Self::Told { columns, values } => {
                if columns.get(index).copied().unwrap_or(false) || values.contains(&index) {
                    Stored::Blob
                } else {
                    Stored::NotBlob
                }
            }
        }
    }
}

impl Row {
    /// A row from its columns and values (equal lengths).
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::Row;
    /// let row = Row::new(vec!["id".into()].into(), vec![1.into()]);
    /// assert_eq!(row.columns(), ["id"]);
    /// ```
    #[must_use]
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self::with_blobs(columns, values, Blobs::Untold)
    }

    /// A row of a reply that told which of its values are blobs.
    pub(crate) fn with_blobs(columns: Arc<[String]>, values: Vec<Value>, blobs: Blobs) -> Self {
        Self {
            columns,
            values,
            blobs,
        }
    }

    /// The column names.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::Row;
    /// # let row = Row::new(vec!["id".into(), "name".into()].into(), vec![7.into(), "login".into()]);
    /// assert_eq!(row.columns(), ["id", "name"]);
    /// ```
    #[must_use]
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The values, aligned with [`Row::columns`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::Row;
    /// # let row = Row::new(vec!["id".into(), "name".into()].into(), vec![7.into(), "login".into()]);
    /// assert_eq!(row.values()[0], 7);
    /// ```
    #[must_use]
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The raw value of `column`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::Row;
    /// # let row = Row::new(vec!["id".into(), "name".into()].into(), vec![7.into(), "login".into()]);
    /// assert_eq!(row.value("name"), Some(&serde_json::json!("login")));
    /// assert_eq!(row.value("nope"), None);
    /// ```
    #[must_use]
    pub fn value(&self, column: &str) -> Option<&Value> {
        self.position(column).and_then(|i| self.values.get(i))
    }

    fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    /// `column` converted to `T` (`Option<T>` for a nullable column, `bool` from 0/1,
    /// `Vec<u8>` from a blob).
    ///
    /// When the reply tells which values are blobs (PROTOCOL.md section 3), a text value
    /// read into `Vec<u8>` and a blob read into `String` (or any type that does not read
    /// blobs) are errors; a reply from an older handler reads as before.
    ///
    /// # Errors
    ///
    /// [`RowError::MissingColumn`], [`RowError::WrongType`], [`RowError::NotABlob`] or
    /// [`RowError::UnexpectedBlob`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::Row;
    /// # let row = Row::new(vec!["id".into(), "name".into()].into(), vec![7.into(), "login".into()]);
    /// let id: i64 = row.get("id")?;
    /// assert_eq!(id, 7);
    /// # Ok::<(), sql_client::RowError>(())
    /// ```
    pub fn get<T: FromSqlValue>(&self, column: &str) -> Result<T, RowError> {
        let value = self.require(column)?;
        self.check_blob::<T>(column, value)?;
        T::from_sql_value(value).map_err(|Expected(expected)| RowError::WrongType {
            column: column.to_owned(),
            expected: expected.to_owned(),
            found: shorten(value),
        })
    }

    /// `column`'s JSON (or JSON text, as SQLite stores it) deserialized into `T`.
    ///
    /// # Errors
    ///
    /// [`RowError::MissingColumn`], or [`RowError::WrongType`] with serde's explanation.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::Row;
    /// let row = Row::new(vec!["tags".into()].into(), vec![r#"["a","b"]"#.into()]);
    /// let tags: Vec<String> = row.get_json("tags")?;
    /// assert_eq!(tags, ["a", "b"]);
    /// # Ok::<(), sql_client::RowError>(())
    /// ```
    pub fn get_json<T: DeserializeOwned>(&self, column: &str) -> Result<T, RowError> {
        let value = self.require(column)?;
        let parsed = match value {
            Value::String(text) => serde_json::from_str(text),
            other => T::deserialize(other),
        };
        parsed.map_err(|e| RowError::WrongType {
            column: column.to_owned(),
            expected: format!("JSON for {} ({e})", std::any::type_name::<T>()),
            found: shorten(value),
        })
    }

    /// Refuses a text value for a type that reads only blobs, and a blob for a type that
    /// reads no blobs, by what `T` declares it reads (`READS`, the same declaration the
    /// schema check of `sql!` uses). Types that read anything (`serde_json::Value`, a
    /// plugin's own types) get every value as it is.
    fn check_blob<T: FromSqlValue>(&self, column: &str, value: &Value) -> Result<(), RowError> {
        if value.is_null() {
            return Ok(());
        }
        let reads = T::READS.types;
        let stored = self
            .position(column)
            .map_or(Stored::Untold, |index| self.blobs.at(index));
        match stored {
            Stored::Blob if reads & read::BLOB == 0 => Err(RowError::UnexpectedBlob {
                column: column.to_owned(),
            }),
            Stored::NotBlob if reads == read::BLOB && value.is_string() => {
                Err(RowError::NotABlob {
                    column: column.to_owned(),
                })
            }
            _ => Ok(()),
        }
    }

    fn require(&self, column: &str) -> Result<&Value, RowError> {
        self.value(column).ok_or_else(|| RowError::MissingColumn {
            column: column.to_owned(),
            available: self.columns.join(", "),
        })
    }

    /// Pairs of column name and value.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::Row;
    /// # let row = Row::new(vec!["id".into(), "name".into()].into(), vec![7.into(), "login".into()]);
    /// let names: Vec<&str> = row.iter().map(|(column, _)| column).collect();
    /// assert_eq!(names, ["id", "name"]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.columns.iter().map(String::as_str).zip(&self.values)
    }

    /// The row as a JSON object.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::Row;
    /// # let row = Row::new(vec!["id".into(), "name".into()].into(), vec![7.into(), "login".into()]);
    /// assert_eq!(serde_json::Value::Object(row.to_json()), serde_json::json!({"id": 7, "name": "login"}));
    /// ```
    #[must_use]
    pub fn to_json(&self) -> Map<String, Value> {
        self.iter()
            .map(|(c, v)| (c.to_owned(), v.clone()))
            .collect()
    }

    /// The whole row deserialized into `T` (a serde type whose fields are the columns).
    ///
    /// # Errors
    ///
    /// [`RowError::Custom`] with serde's explanation.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_client::Row;
    /// # let row = Row::new(vec!["id".into(), "name".into()].into(), vec![7.into(), "login".into()]);
    /// #[derive(serde::Deserialize)]
    /// struct Event { id: i64, name: String }
    /// let event: Event = row.deserialize()?;
    /// assert_eq!((event.id, event.name.as_str()), (7, "login"));
    /// # Ok::<(), sql_client::RowError>(())
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, RowError> {
        serde_json::from_value(Value::Object(self.to_json())).map_err(|e| RowError::Custom {
            column: String::new(),
            message: e.to_string(),
        })
    }
}

fn shorten(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 60 {
        text
    } else {
        format!("{}...", text.chars().take(57).collect::<String>())
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl SqlRow for Row {
    fn from_row(row: &Row) -> Result<Self, RowError> {
        Ok(row.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Row {
        Row::new(
            vec!["id".into(), "name".into(), "score".into()].into(),
            vec![json!(1), json!("a"), json!(null)],
        )
    }

    #[test]
    fn typed_access_names_the_column_and_the_value() {
        let row = row();
        assert_eq!(row.get::<String>("name").unwrap(), "a");
        let err = row.get::<i64>("name").unwrap_err();
        assert_eq!(
            err.to_string(),
            "column 'name': expected i64 (an integer in range), found \"a\""
        );
        let err = row.get::<i64>("nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the result has no column 'nope'; it has: id, name, score"
        );
        assert_eq!(row.get::<Option<f64>>("score").unwrap(), None);
    }

    #[test]
    fn raw_access_and_iteration() {
        let row = row();
        assert_eq!(row.value("id"), Some(&json!(1)));
        assert_eq!(row.value("nope"), None);
        let pairs: Vec<(&str, &Value)> = row.iter().collect();
        assert_eq!(pairs[1], ("name", &json!("a")));
        assert_eq!(
            Value::Object(row.to_json()),
            json!({"id": 1, "name": "a", "score": null})
        );
        assert_eq!(Row::from_row(&row).unwrap(), row);
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let row = Row::new(vec!["t".into()].into(), vec![json!("y".repeat(200))]);
        let err = row.get::<i64>("t").unwrap_err().to_string();
        assert!(err.ends_with("...") && err.len() < 120, "{err}");
    }

    #[test]
    fn rows_deserialize_into_serde_types() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct E {
            id: i64,
            name: String,
            score: Option<f64>,
        }
        assert_eq!(
            row().deserialize::<E>().unwrap(),
            E {
                id: 1,
                name: "a".into(),
                score: None
            }
        );
        assert_eq!(
            format!("{:?}", row()),
            r#"{"id": Number(1), "name": String("a"), "score": Null}"#
        );
    }
}
