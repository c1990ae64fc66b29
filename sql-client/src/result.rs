//! The full result of a statement.

use std::sync::Arc;

use serde_json::Value;
use sql_core::wire::{SuccessReply, TruncatedReason, WireRow};

use crate::row::{Blobs, Row, RowError, SqlRow};

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
    /// A stream's chunk: where it stands.
    stream: Option<sql_core::wire::StreamPosition>,
}

impl SqlResult {
    pub(crate) fn from_reply(reply: SuccessReply<WireRow>) -> Result<Self, String> {
        let columns: Arc<[String]> = if reply.columns.is_empty() {
            columns_from_keys(&reply.rows)?.into()
        } else {
            reply.columns.into()
        };
        let blobs = row_blobs(
            reply.blob_columns,
            reply.blob_values,
            columns.len(),
            reply.rows.len(),
        )?;
        let rows = reply
            .rows
            .into_iter()
            .zip(blobs)
            .map(|(row, blobs)| {
                let values = match row {
                    WireRow::Values(values) if values.len() == columns.len() => values,
                    WireRow::Fields(fields) => in_column_order(&columns, fields),
                    WireRow::Values(values) => {
                        return Err(format!(
                            "a row holds {} values; the result has {} columns",
                            values.len(),
                            columns.len()
                        ));
                    }
                };
                Ok(Row::with_blobs(Arc::clone(&columns), values, blobs))
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
            stream: reply.stream,
        })
    }

    /// A stream's chunk: where it stands.
    pub(crate) fn stream_position(&self) -> Option<&sql_core::wire::StreamPosition> {
        self.stream.as_ref()
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
        let reply: SuccessReply<WireRow> =
            serde_json::from_value(value).map_err(|e| e.to_string())?;
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

    /// The row count, as the specification's `__len__`: [`SqlResult::row_count`], rows
    /// returned for reads and rows affected for writes. `rows().len()` counts the rows that
    /// came back (those of a write's `RETURNING` clause; fewer than the count when the
    /// result was [truncated](SqlResult::truncated)).
    ///
    /// # Examples
    ///
    /// ```
    /// // An UPDATE of three rows, without RETURNING.
    /// let update = sql_client::SqlResult::from_json(serde_json::json!({"rows": [], "row_count": 3,
    ///     "execution_time_ms": 0.2, "truncated": false, "columns": []}))?;
    /// assert_eq!(update.len(), 3);
    /// assert_eq!(update.rows().len(), 0);
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        usize::try_from(self.row_count).unwrap_or(usize::MAX)
    }

    /// Whether the row count is 0: no row returned by a read, none affected by a write.
    ///
    /// # Examples
    ///
    /// ```
    /// let none = sql_client::SqlResult::from_json(serde_json::json!({"rows": [], "row_count": 0,
    ///     "execution_time_ms": 0.2, "truncated": false, "columns": ["id"]}))?;
    /// assert!(none.is_empty());
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.row_count == 0
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

/// The columns of a reply that does not name them (a peer from before the `columns` ext):
/// the keys of its object rows in the order sent, each once, first seen first.
///
/// # Errors
///
/// Array rows with values, which cannot be named.
fn columns_from_keys(rows: &[WireRow]) -> Result<Vec<String>, String> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        match row {
            WireRow::Fields(fields) => {
                for (key, _) in fields {
                    if !columns.contains(key) {
                        columns.push(key.clone());
                    }
                }
            }
            WireRow::Values(values) if values.is_empty() => {}
            WireRow::Values(_) => {
                return Err("the reply has rows as arrays but no columns to name them".into());
            }
        }
    }
    Ok(columns)
}

/// An object row's values in the order of `columns`; NULL for a column it lacks.
fn in_column_order(columns: &[String], fields: Vec<(String, Value)>) -> Vec<Value> {
    let in_order = fields.len() == columns.len()
        && fields
            .iter()
            .zip(columns)
            .all(|((key, _), column)| key == column);
    if in_order {
        return fields.into_iter().map(|(_, value)| value).collect();
    }
    let mut fields: Vec<Option<(String, Value)>> = fields.into_iter().map(Some).collect();
    columns
        .iter()
        .map(|column| {
            fields
                .iter_mut()
                .find(|field| field.as_ref().is_some_and(|(key, _)| key == column))
                .and_then(Option::take)
                .map_or(Value::Null, |(_, value)| value)
        })
        .collect()
}

/// Each row's [`Blobs`], in row order, from the reply's `blob_columns` and `blob_values`
/// (PROTOCOL.md section 3): all [`Blobs::Untold`] from a handler that does not tell.
///
/// # Errors
///
/// An index outside the result, or `blob_values` without `blob_columns`.
fn row_blobs(
    blob_columns: Option<Vec<usize>>,
    blob_values: Vec<[usize; 2]>,
    column_count: usize,
    row_count: usize,
) -> Result<Vec<Blobs>, String> {
    let Some(blob_columns) = blob_columns else {
        if !blob_values.is_empty() {
            return Err("the reply has blob_values but no blob_columns".to_owned());
        }
        return Ok(vec![Blobs::Untold; row_count]);
    };
    let mut flags = vec![false; column_count];
    for index in blob_columns {
        *flags.get_mut(index).ok_or_else(|| {
            format!("blob_columns names column {index}; the result has {column_count}")
        })? = true;
    }
    let columns: Arc<[bool]> = flags.into();
    // Usually none: only a column that mixes blobs with other values lists its blobs.
    let mut per_row = vec![Vec::new(); row_count];
    for [row, column] in blob_values {
        if column >= column_count {
            return Err(format!(
                "blob_values names column {column}; the result has {column_count}"
            ));
        }
        per_row
            .get_mut(row)
            .ok_or_else(|| format!("blob_values names row {row}; the result has {row_count}"))?
            .push(column);
    }
    Ok(per_row
        .into_iter()
        .map(|values| Blobs::Told {
            columns: Arc::clone(&columns),
            values: values.into_boxed_slice(),
        })
        .collect())
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
    use sql_core::wire::RowFormat;

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
            err.contains("a row holds 3 values; the result has 1 columns"),
            "{err}"
        );
    }

    /// A reply without `columns`, as an older handler sends: the columns are the object
    /// rows' keys in the order sent, which `from_json`'s sorted `Value` cannot show.
    #[test]
    fn a_reply_without_columns_is_read_from_its_keys_in_order() {
        let body =
            br#"{"rows": [{"zeta": 1, "alpha": "a"}, {"zeta": 2, "alpha": "b", "extra": true}],
            "row_count": 2, "execution_time_ms": 1.5, "truncated": false}"#;
        let reply: SuccessReply<WireRow> = serde_json::from_slice(body).unwrap();
        let result = SqlResult::from_reply(reply).unwrap();
        assert_eq!(result.columns(), ["zeta", "alpha", "extra"]);
        assert_eq!(
            result.rows()[0].values(),
            &[json!(1), json!("a"), Value::Null]
        );
        assert_eq!(result.rows()[1].get::<String>("alpha").unwrap(), "b");
        assert!(result.rows()[1].get::<bool>("extra").unwrap());
        assert_eq!(result.len(), 2);

        let arrays =
            br#"{"rows": [[1]], "row_count": 1, "execution_time_ms": 1.5, "truncated": false}"#;
        let reply: SuccessReply<WireRow> = serde_json::from_slice(arrays).unwrap();
        let err = SqlResult::from_reply(reply).unwrap_err();
        assert!(err.contains("arrays but no columns"), "{err}");
    }

    /// A reply of three columns: text, blobs (and a NULL), and one that mixes them, as
    /// SQLite can; in either row format.
    fn with_blobs(format: RowFormat) -> SqlResult {
        let rows = match format {
            RowFormat::Arrays => json!([["abcd", "AAH/", "text"], ["efgh", null, "AAE="]]),
            _ => json!([
                {"name": "abcd", "payload": "AAH/", "mixed": "text"},
                {"name": "efgh", "payload": null, "mixed": "AAE="}
            ]),
        };
        SqlResult::from_json(
            json!({"rows": rows, "row_count": 2, "execution_time_ms": 0.1,
            "truncated": false, "columns": ["name", "payload", "mixed"],
            "blob_columns": [1], "blob_values": [[1, 2]]}),
        )
        .unwrap()
    }

    #[test]
    fn marked_blobs_read_into_bytes_and_text_does_not() {
        for format in [RowFormat::Objects, RowFormat::Arrays] {
            let result = with_blobs(format);
            let (first, second) = (&result.rows()[0], &result.rows()[1]);

            let err = first.get::<Vec<u8>>("name").unwrap_err();
            assert_eq!(
                err,
                RowError::NotABlob {
                    column: "name".into()
                },
                "{format:?}"
            );
            assert_eq!(err.to_string(), "column 'name' holds text, not a blob");
            assert!(first.get::<Option<Vec<u8>>>("name").is_err(), "{format:?}");
            assert_eq!(first.get::<String>("name").unwrap(), "abcd");

            assert_eq!(first.get::<Vec<u8>>("payload").unwrap(), [0, 1, 255]);
            assert_eq!(second.get::<Option<Vec<u8>>>("payload").unwrap(), None);
            let err = first.get::<String>("payload").unwrap_err();
            assert_eq!(
                err.to_string(),
                "column 'payload' holds a blob; read it into Vec<u8>"
            );
            assert!(matches!(err, RowError::UnexpectedBlob { .. }), "{format:?}");
            assert!(first.get::<Option<String>>("payload").is_err());
            assert!(first.get::<f64>("payload").is_err());
            // Raw access still sees the base64 text.
            assert_eq!(first.get::<Value>("payload").unwrap(), json!("AAH/"));

            // The mixed column: each value as it is.
            assert_eq!(first.get::<String>("mixed").unwrap(), "text");
            assert!(matches!(
                first.get::<Vec<u8>>("mixed"),
                Err(RowError::NotABlob { .. })
            ));
            assert_eq!(second.get::<Vec<u8>>("mixed").unwrap(), [0, 1]);
            assert!(matches!(
                second.get::<String>("mixed"),
                Err(RowError::UnexpectedBlob { .. })
            ));
        }
        assert_eq!(
            with_blobs(RowFormat::Objects),
            with_blobs(RowFormat::Arrays)
        );
    }

    #[test]
    fn replies_without_blob_marks_decode_as_before() {
        let result = SqlResult::from_json(json!({"rows": [["abcd", "AAH/"]], "row_count": 1,
            "execution_time_ms": 0.1, "truncated": false, "columns": ["name", "payload"]}))
        .unwrap();
        let row = result.first().unwrap();
        // The old, silent reading: text that happens to be base64 becomes bytes.
        assert_eq!(row.get::<Vec<u8>>("name").unwrap(), [105, 183, 29]);
        assert_eq!(row.get::<Vec<u8>>("payload").unwrap(), [0, 1, 255]);
        assert_eq!(row.get::<String>("payload").unwrap(), "AAH/");
    }

    #[test]
    fn an_empty_blob_columns_means_no_blobs() {
        let result = SqlResult::from_json(json!({"rows": [["abcd"]], "row_count": 1,
            "execution_time_ms": 0.1, "truncated": false, "columns": ["name"],
            "blob_columns": []}))
        .unwrap();
        assert!(matches!(
            result.first().unwrap().get::<Vec<u8>>("name"),
            Err(RowError::NotABlob { .. })
        ));
    }

    #[test]
    fn blob_marks_outside_the_result_are_refused() {
        let reply = |marks: Value| {
            let mut body = json!({"rows": [["a", "AA=="]], "row_count": 1,
                "execution_time_ms": 0.1, "truncated": false, "columns": ["name", "payload"]});
            body.as_object_mut()
                .unwrap()
                .extend(marks.as_object().unwrap().clone());
            SqlResult::from_json(body)
        };
        for (marks, message) in [
            (json!({"blob_columns": [2]}), "blob_columns names column 2"),
            (
                json!({"blob_columns": [], "blob_values": [[0, 2]]}),
                "blob_values names column 2",
            ),
            (
                json!({"blob_columns": [], "blob_values": [[1, 1]]}),
                "blob_values names row 1",
            ),
            (
                json!({"blob_values": [[0, 1]]}),
                "blob_values but no blob_columns",
            ),
        ] {
            let err = reply(marks.clone()).unwrap_err();
            assert!(err.contains(message), "{marks}: {err}");
        }
        assert!(reply(json!({"blob_columns": [1], "blob_values": [[0, 0]]})).is_ok());
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
