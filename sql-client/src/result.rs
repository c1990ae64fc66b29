//! The full result of a statement.

use std::sync::Arc;

use serde_json::Value;
use sql_core::wire::{SuccessReply, TruncatedReason};

use crate::row::{Row, RowError, SqlRow};

/// What a statement returned: rows (reads, or writes with `RETURNING`), the row count
/// (rows returned for reads, rows affected for writes), time in the database and whether
/// rows were left out.
///
/// # Examples
///
/// ```
/// # use sql_client::SqlResult;
/// # let result = SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
/// #     "execution_time_ms": 0.1, "truncated": false, "columns": ["id"]}))?;
/// assert_eq!(result.len(), 2);
/// let first = result.first().expect("a row");
/// assert_eq!(first.get::<i64>("id")?, 1);
/// let ids: Vec<i64> = result.iter().map(|row| row.get("id")).collect::<Result<_, _>>()?;
/// assert_eq!(ids, [1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SqlResult {
    rows: Vec<Row>,
    row_count: u64,
    execution_time_ms: f64,
    truncated: Option<TruncatedReason>,
    columns: Arc<[String]>,
    correlation_id: String,
}

impl SqlResult {
    pub(crate) fn from_reply(reply: SuccessReply) -> Result<Self, String> {
        let columns: Arc<[String]> = reply.columns.into();
        let rows = reply
            .rows
            .into_iter()
            .map(|row| match row {
                Value::Array(values) if values.len() == columns.len() => {
                    Ok(Row::new(Arc::clone(&columns), values))
                }
                Value::Object(mut map) => {
                    let values = columns
                        .iter()
                        .map(|c| map.remove(c).unwrap_or(Value::Null))
                        .collect();
                    Ok(Row::new(Arc::clone(&columns), values))
                }
                other => Err(format!(
                    "a row is neither an object nor an array of {} values: {other}",
                    columns.len()
                )),
            })
            .collect::<Result<_, _>>()?;
        let truncated = if reply.truncated {
            Some(reply.truncated_reason.unwrap_or(TruncatedReason::MaxRows))
        } else {
            None
        };
        Ok(Self {
            rows,
            row_count: reply.row_count,
            execution_time_ms: reply.execution_time_ms,
            truncated,
            columns,
            correlation_id: String::new(),
        })
    }

    pub(crate) fn with_correlation_id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.correlation_id);
        self
    }

    /// The id this query carried; both the client's and the handler's audit records hold
    /// it.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// // Set by the client for each query; empty for a result built by hand.
    /// assert!(result.correlation_id().is_empty());
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }

    /// Parses a success reply body given as JSON, as the handler sends it.
    ///
    /// # Errors
    ///
    /// The reason the JSON is not a success reply.
    ///
    /// # Examples
    ///
    /// ```
    /// let result = sql_client::SqlResult::from_json(serde_json::json!(
    ///     {"rows": [[1]], "row_count": 1, "execution_time_ms": 0.1, "truncated": false, "columns": ["id"]}))?;
    /// assert_eq!(result.len(), 1);
    /// # Ok::<(), String>(())
    /// ```
    pub fn from_json(value: Value) -> Result<Self, String> {
        let reply: SuccessReply = serde_json::from_value(value).map_err(|e| e.to_string())?;
        Self::from_reply(reply)
    }

    /// The rows.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert_eq!(result.rows().len(), 2);
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Rows returned for reads; rows affected for writes.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert_eq!(result.row_count(), 2);
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn row_count(&self) -> u64 {
        self.row_count
    }

    /// Time the handler spent in the database.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert!(result.execution_time_ms() > 0.0);
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn execution_time_ms(&self) -> f64 {
        self.execution_time_ms
    }

    /// Whether more rows existed than were returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert!(result.truncated());
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.truncated.is_some()
    }

    /// Why rows were left out, when they were.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert_eq!(result.truncated_reason(), Some(sql_client::core::wire::TruncatedReason::MaxRows));
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn truncated_reason(&self) -> Option<TruncatedReason> {
        self.truncated
    }

    /// Result column names in select-list order.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert_eq!(result.columns(), ["id"]);
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of rows returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert_eq!(result.len(), 2);
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row was returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert!(!result.is_empty());
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The first row.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert_eq!(result.first().map(|row| row.values()[0].clone()), Some(1.into()));
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn first(&self) -> Option<&Row> {
        self.rows.first()
    }

    /// Iterates over the rows.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// assert_eq!(result.iter().count(), 2);
    /// # Ok::<(), String>(())
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, Row> {
        self.rows.iter()
    }

    /// Every row converted to `T`.
    ///
    /// # Errors
    ///
    /// The first row that does not convert.
    ///
    /// # Examples
    ///
    /// ```
    /// # let result = sql_client::SqlResult::from_json(serde_json::json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
    /// #     "execution_time_ms": 0.25, "truncated": true, "truncated_reason": "max_rows", "columns": ["id"]}))?;
    /// #[derive(sql_client::SqlRow)]
    /// struct Id { id: i64 }
    /// let ids: Vec<Id> = result.rows_as().map_err(|e| e.to_string())?;
    /// assert_eq!(ids[1].id, 2);
    /// # Ok::<(), String>(())
    /// ```
    pub fn rows_as<T: SqlRow>(&self) -> Result<Vec<T>, RowError> {
        self.rows.iter().map(T::from_row).collect()
    }
}

impl IntoIterator for SqlResult {
    type Item = Row;
    type IntoIter = std::vec::IntoIter<Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.into_iter()
    }
}

impl<'a> IntoIterator for &'a SqlResult {
    type Item = &'a Row;
    type IntoIter = std::slice::Iter<'a, Row>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_row_formats_become_rows_in_column_order() {
        let objects = SqlResult::from_json(json!({"rows": [{"b": 2, "a": 1}], "row_count": 1,
            "execution_time_ms": 0.5, "truncated": true, "truncated_reason": "max_bytes", "columns": ["b", "a"]}))
        .unwrap();
        let arrays = SqlResult::from_json(json!({"rows": [[2, 1]], "row_count": 1,
            "execution_time_ms": 0.5, "truncated": true, "truncated_reason": "max_bytes", "columns": ["b", "a"]}))
        .unwrap();
        assert_eq!(objects, arrays);
        assert_eq!(objects.first().unwrap().values(), &[json!(2), json!(1)]);
        assert_eq!(objects.truncated_reason(), Some(TruncatedReason::MaxBytes));
        assert!(objects.truncated());
    }

    #[test]
    fn malformed_rows_are_refused() {
        let err = SqlResult::from_json(
            json!({"rows": [[1, 2, 3]], "row_count": 1, "execution_time_ms": 0.5,
            "truncated": false, "columns": ["a"]}),
        )
        .unwrap_err();
        assert!(
            err.contains("neither an object nor an array of 1 values"),
            "{err}"
        );
    }

    #[test]
    fn typed_rows() {
        let result = SqlResult::from_json(json!({"rows": [{"id": 1}, {"id": 2}], "row_count": 2,
            "execution_time_ms": 0.1, "truncated": false, "columns": ["id"]}))
        .unwrap();
        let rows: Vec<Row> = result.rows_as().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(result.clone().into_iter().count(), 2);
        assert_eq!((&result).into_iter().count(), 2);
        assert!(!result.is_empty());
    }
}
