//! Encoding result rows into the reply as they are read, within `max_rows` and the
//! NATS payload budget, so the handler never holds more than one reply's worth of rows.

use serde::Serialize;
use serde_json::Value;
use sql_core::wire::{RowFormat, TruncatedReason};

/// A column value the sink writes as JSON: `serde_json::Value`, or a backend's own
/// borrowed form that saves building one per value.
pub(crate) trait CellValue: Serialize {
    /// Whether the value is SQL NULL.
    fn is_null(&self) -> bool;
}

impl CellValue for Value {
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }
}

/// Whether the reader should fetch another row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Room for more.
    More,
    /// Stop reading: the reply is full.
    Stop,
}

/// How the sink learns which values are blobs, for the reply's `blob_columns` and
/// `blob_values` (PROTOCOL.md section 3).
#[derive(Debug)]
pub(crate) enum BlobSource {
    /// From the result's column types, before any row: these columns hold blobs
    /// (PostgreSQL's bytea). Rows are added with [`RowSink::push`].
    ByType(Vec<usize>),
    /// Value by value, as each one has its own storage class (SQLite). Rows are added
    /// with [`RowSink::push_stored`].
    ByValue,
}

/// Accumulates encoded rows for one reply.
#[derive(Debug)]
pub(crate) struct RowSink {
    format: RowFormat,
    columns: Vec<String>,
    /// Column names pre-encoded as JSON strings, for the objects format.
    encoded_keys: Vec<String>,
    max_rows: usize,
    byte_budget: usize,
    /// What the column names and the largest `blob_columns` take in the reply.
    names_bytes: usize,
    /// The budget given, for the next chunk of a stream ([`RowSink::take_chunk`]).
    initial_budget: usize,
    /// The inside of the JSON `rows` array.
    buf: Vec<u8>,
    count: usize,
    truncated: Option<TruncatedReason>,
    blobs: Blobs,
}

/// What the sink knows of the blobs among the accepted rows.
#[derive(Debug)]
enum Blobs {
    ByType(Vec<usize>),
    ByValue(Tally),
}

/// The blob values of a result whose values each carry their own storage class.
#[derive(Debug)]
struct Tally {
    columns: Vec<ColumnTally>,
    /// What the reply's `blob_values` field takes now, in bytes (0 while no column is
    /// mixed): it counts against the byte budget like the rows.
    listed_bytes: usize,
}

#[derive(Debug, Default)]
struct ColumnTally {
    /// An accepted row holds a blob in this column.
    blob: bool,
    /// An accepted row holds another non-null value in this column.
    other: bool,
    /// The rows of its blob values, listed one by one should the column be mixed.
    rows: Vec<u32>,
    /// What their `blob_values` entries would take, in bytes.
    entry_bytes: usize,
}

/// `,"blob_values":[]`, the field around the entries, less one: the first entry has no
/// comma before it, and [`entry_bytes`] counts one for each.
const BLOB_VALUES_FIELD_BYTES: usize = 16;
/// `,"blob_columns":[]`.
const BLOB_COLUMNS_FIELD_BYTES: usize = 18;
/// A result's fields besides its rows and names (`row_count`, `execution_time_ms`,
/// `truncated`, ...), at their longest, in a transaction's `results`.
const RESULT_ENVELOPE_BYTES: usize = 160;

/// The bytes of `n` in decimal.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The bytes of a `[row,column]` entry of `blob_values` with its separating comma.
fn entry_bytes(row: usize, column: usize) -> usize {
    digits(row) + digits(column) + 4
}

impl Tally {
    /// What `blob_values` would take with one more row, `values` with the blob flags
    /// `is_blob`: a blob in a column that holds other values is listed, and so are the
    /// blobs so far of a column that this row makes mixed.
    fn listed_bytes_with(&self, row: usize, values: &[impl CellValue], is_blob: &[bool]) -> usize {
        let mut total = self.listed_bytes;
        for (i, (value, column)) in values.iter().zip(&self.columns).enumerate() {
            if is_blob.get(i).copied().unwrap_or(false) {
                if column.other {
                    total += entry_bytes(row, i);
                }
            } else if column.blob && !column.other && !value.is_null() {
                total += column.entry_bytes;
            }
        }
        if self.listed_bytes == 0 && total > 0 {
            total += BLOB_VALUES_FIELD_BYTES;
        }
        total
    }

    /// Records an accepted row; `listed_bytes` is what [`Tally::listed_bytes_with`] said.
    fn add(
        &mut self,
        row: usize,
        values: &[impl CellValue],
        is_blob: &[bool],
        listed_bytes: usize,
    ) {
        for (i, (value, column)) in values.iter().zip(&mut self.columns).enumerate() {
            if is_blob.get(i).copied().unwrap_or(false) {
                column.blob = true;
                // Rows are at most max_rows + 1, which PROTOCOL.md bounds at 100,001.
                column.rows.push(u32::try_from(row).unwrap_or(u32::MAX));
                column.entry_bytes += entry_bytes(row, i);
            } else if !value.is_null() {
                column.other = true;
            }
        }
        self.listed_bytes = listed_bytes;
    }

    /// `blob_columns` and `blob_values`: a column whose non-null values are all blobs is
    /// listed as a column, the blobs of a mixed column one by one, in row order.
    fn finish(self) -> (Vec<usize>, Vec<[usize; 2]>) {
        let mut columns = Vec::new();
        let mut values = Vec::new();
        for (i, column) in self.columns.into_iter().enumerate() {
            match (column.blob, column.other) {
                (true, false) => columns.push(i),
                (true, true) => values.extend(column.rows.iter().map(|&row| [row as usize, i])),
                _ => {}
            }
        }
        values.sort_unstable();
        (columns, values)
    }
}

/// One reply's rows, encoded, and what the reply says about them besides.
#[derive(Debug)]
pub(crate) struct EncodedRows {
    /// The rows as the body of a JSON array (without brackets).
    pub(crate) rows: Vec<u8>,
    pub(crate) columns: Vec<String>,
    pub(crate) truncated: Option<TruncatedReason>,
    /// The columns whose every non-null value is a blob.
    pub(crate) blob_columns: Vec<usize>,
    /// `[row, column]` of the blob values of columns that also hold other values.
    pub(crate) blob_values: Vec<[usize; 2]>,
}

impl RowSink {
    /// A sink for rows with `columns`, holding at most `max_rows` rows and `byte_budget`
    /// bytes of encoded rows, told which values are blobs by `blobs`.
    pub(crate) fn new(
        format: RowFormat,
        columns: Vec<String>,
        max_rows: usize,
        byte_budget: usize,
        blobs: BlobSource,
    ) -> Self {
        let encoded_keys: Vec<String> = columns
            .iter()
            .map(|c| Value::String(c.clone()).to_string())
            .collect();
        // The reply repeats the column names in `columns`, and may list every column in
        // `blob_columns`.
        let names_bytes: usize = encoded_keys.iter().map(|k| k.len() + 1).sum();
        let blob_columns_bytes =
            BLOB_COLUMNS_FIELD_BYTES + (0..columns.len()).map(|i| digits(i) + 1).sum::<usize>();
        let blobs = match blobs {
            BlobSource::ByType(columns) => Blobs::ByType(columns),
            BlobSource::ByValue => Blobs::ByValue(Tally {
                columns: (0..columns.len()).map(|_| ColumnTally::default()).collect(),
                listed_bytes: 0,
            }),
        };
        Self {
            format,
            columns,
            encoded_keys,
            max_rows,
            byte_budget: byte_budget.saturating_sub(names_bytes + blob_columns_bytes),
            names_bytes: names_bytes + blob_columns_bytes,
            initial_budget: byte_budget,
            buf: Vec::new(),
            count: 0,
            truncated: None,
            blobs,
        }
    }

    /// Adds one row, or marks the result truncated when the row does not fit.
    ///
    /// The reader stops at `max_rows + 1` rows: the extra row only proves that more exist.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "the PostgreSQL engine's")
    )]
    pub(crate) fn push(&mut self, values: &[Value]) -> Flow {
        self.push_stored(values, &[])
    }

    /// [`RowSink::push`] for a sink told blobs [`BlobSource::ByValue`]: `is_blob` says,
    /// aligned with `values`, which of them are blobs.
    pub(crate) fn push_stored(&mut self, values: &[impl CellValue], is_blob: &[bool]) -> Flow {
        if self.truncated.is_some() {
            return Flow::Stop;
        }
        if self.count == self.max_rows {
            self.truncated = Some(TruncatedReason::MaxRows);
            return Flow::Stop;
        }
        let row = self.count;
        let listed_bytes = match &self.blobs {
            Blobs::ByValue(tally) => tally.listed_bytes_with(row, values, is_blob),
            Blobs::ByType(_) => 0,
        };
        let mark = self.buf.len();
        if self.count > 0 {
            self.buf.push(b',');
        }
        self.encode(values);
        if self.buf.len() + listed_bytes > self.byte_budget {
            self.buf.truncate(mark);
            self.truncated = Some(TruncatedReason::MaxBytes);
            return Flow::Stop;
        }
        if let Blobs::ByValue(tally) = &mut self.blobs {
            tally.add(row, values, is_blob, listed_bytes);
        }
        self.count += 1;
        Flow::More
    }

    fn encode(&mut self, values: &[impl CellValue]) {
        // Writing JSON into a Vec cannot fail; the results are ignored on that ground.
        match self.format {
            RowFormat::Arrays => {
                let _ = serde_json::to_writer(&mut self.buf, values);
            }
            _ => {
                self.buf.push(b'{');
                for (i, (key, value)) in self.encoded_keys.iter().zip(values).enumerate() {
                    if i > 0 {
                        self.buf.push(b',');
                    }
                    self.buf.extend_from_slice(key.as_bytes());
                    self.buf.push(b':');
                    let _ = serde_json::to_writer(&mut self.buf, value);
                }
                self.buf.push(b'}');
            }
        }
    }

    /// About the bytes this result takes in a reply: its rows, column names and blob
    /// marks, and its envelope (a transaction's results share one reply).
    pub(crate) fn reply_bytes(&self) -> usize {
        let listed = match &self.blobs {
            Blobs::ByValue(tally) => tally.listed_bytes,
            Blobs::ByType(_) => 0,
        };
        self.names_bytes + self.buf.len() + listed + RESULT_ENVELOPE_BYTES
    }

    /// The rows so far, as one chunk of a stream, leaving an empty sink for the next
    /// chunk: the same columns, limit and budget.
    pub(crate) fn take_chunk(&mut self) -> Self {
        let blobs = match &self.blobs {
            Blobs::ByType(columns) => BlobSource::ByType(columns.clone()),
            Blobs::ByValue(_) => BlobSource::ByValue,
        };
        let next = Self::new(
            self.format,
            self.columns.clone(),
            self.max_rows,
            self.initial_budget,
            blobs,
        );
        std::mem::replace(self, next)
    }

    /// Rows accepted so far.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The column names, for tests.
    #[cfg(test)]
    pub(crate) fn columns_for_test(&self) -> &[String] {
        &self.columns
    }

    /// Why rows were left out, if any were.
    pub(crate) fn truncated(&self) -> Option<TruncatedReason> {
        self.truncated
    }

    /// The encoded rows and what the reply says about them.
    pub(crate) fn finish(self) -> EncodedRows {
        let (blob_columns, blob_values) = match self.blobs {
            Blobs::ByType(columns) => (columns, Vec::new()),
            Blobs::ByValue(tally) => tally.finish(),
        };
        EncodedRows {
            rows: self.buf,
            columns: self.columns,
            truncated: self.truncated,
            blob_columns,
            blob_values,
        }
    }
}

/// The first column name that appears twice, which the objects format cannot represent.
pub(crate) fn first_duplicate(columns: &[String]) -> Option<String> {
    let mut seen = std::collections::HashSet::with_capacity(columns.len());
    columns.iter().find(|c| !seen.insert(c.as_str())).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows_json(sink: RowSink) -> Value {
        let text = format!("[{}]", String::from_utf8(sink.finish().rows).unwrap());
        serde_json::from_str(&text).unwrap()
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    /// `blob_columns` and `blob_values` as the pipeline writes them after the rows.
    fn marks_json(encoded: &EncodedRows) -> String {
        let mut text = format!(
            ",\"blob_columns\":{}",
            serde_json::to_string(&encoded.blob_columns).unwrap()
        );
        if !encoded.blob_values.is_empty() {
            text.push_str(&format!(
                ",\"blob_values\":{}",
                serde_json::to_string(&encoded.blob_values).unwrap()
            ));
        }
        text
    }

    #[test]
    fn objects_keep_column_order_and_escape_keys() {
        let mut sink = RowSink::new(
            RowFormat::Objects,
            names(&["b", "a\"q"]),
            10,
            1000,
            BlobSource::ByType(Vec::new()),
        );
        assert_eq!(sink.push(&[json!(1), json!("x")]), Flow::More);
        let text = String::from_utf8(sink.buf.clone()).unwrap();
        assert_eq!(text, r#"{"b":1,"a\"q":"x"}"#);
        assert_eq!(rows_json(sink), json!([{"b": 1, "a\"q": "x"}]));
    }

    #[test]
    fn stops_at_max_rows() {
        let mut sink = RowSink::new(
            RowFormat::Arrays,
            names(&["n"]),
            2,
            1000,
            BlobSource::ByType(Vec::new()),
        );
        assert_eq!(sink.push(&[json!(1)]), Flow::More);
        assert_eq!(sink.push(&[json!(2)]), Flow::More);
        assert_eq!(sink.push(&[json!(3)]), Flow::Stop);
        assert_eq!(sink.truncated(), Some(TruncatedReason::MaxRows));
        assert_eq!(rows_json(sink), json!([[1], [2]]));
    }

    #[test]
    fn stops_before_the_byte_budget() {
        // 40 bytes, less 4 for the name and 20 for the longest `blob_columns`: 16 for rows.
        let mut sink = RowSink::new(
            RowFormat::Arrays,
            names(&["s"]),
            100,
            40,
            BlobSource::ByValue,
        );
        assert_eq!(sink.push(&[json!("0123456789")]), Flow::More);
        assert_eq!(sink.push(&[json!("0123456789")]), Flow::Stop);
        assert_eq!(sink.len(), 1);
        assert_eq!(sink.truncated(), Some(TruncatedReason::MaxBytes));
        assert_eq!(rows_json(sink), json!([["0123456789"]]));
    }

    #[test]
    fn columns_known_by_type_are_blob_columns_with_or_without_rows() {
        let sink = RowSink::new(
            RowFormat::Arrays,
            names(&["id", "payload"]),
            10,
            1000,
            BlobSource::ByType(vec![1]),
        );
        let encoded = sink.finish();
        assert_eq!(encoded.blob_columns, [1]);
        assert!(encoded.blob_values.is_empty());
    }

    #[test]
    fn values_told_one_by_one_mark_pure_columns_and_list_mixed_ones() {
        // Columns: text only; blobs and NULL; text then blobs; blobs then an integer.
        let mut sink = RowSink::new(
            RowFormat::Objects,
            names(&["name", "payload", "late", "early"]),
            10,
            10_000,
            BlobSource::ByValue,
        );
        let rows: [([Value; 4], [bool; 4]); 4] = [
            (
                [json!("a"), json!("AAE="), json!("t"), json!("AA==")],
                [false, true, false, true],
            ),
            (
                [json!("b"), json!(null), json!(null), json!("AQ==")],
                [false, false, false, true],
            ),
            (
                [json!("c"), json!("AP8="), json!("Ag=="), json!(7)],
                [false, true, true, false],
            ),
            (
                [json!(null), json!("AAA="), json!("Aw=="), json!(null)],
                [false, true, true, false],
            ),
        ];
        for (values, is_blob) in &rows {
            assert_eq!(sink.push_stored(values, is_blob), Flow::More);
        }
        let encoded = sink.finish();
        assert_eq!(encoded.blob_columns, [1]);
        assert_eq!(encoded.blob_values, [[0, 3], [1, 3], [2, 2], [3, 2]]);
    }

    #[test]
    fn a_refused_row_leaves_the_marks_as_they_were() {
        let mut sink = RowSink::new(
            RowFormat::Arrays,
            names(&["v"]),
            1,
            1000,
            BlobSource::ByValue,
        );
        assert_eq!(sink.push_stored(&[json!("AAE=")], &[true]), Flow::More);
        // Past max_rows: not added, so the column is not mixed by it.
        assert_eq!(sink.push_stored(&[json!("text")], &[false]), Flow::Stop);
        let encoded = sink.finish();
        assert_eq!(encoded.blob_columns, [0]);
        assert!(encoded.blob_values.is_empty());
    }

    #[test]
    fn listed_blob_values_count_against_the_byte_budget() {
        // Blobs in rows 0..n, then text: the text row would list every blob one by one.
        let blobs = 40;
        let budget_for = |rows_bytes: usize| rows_bytes + 4 + 20;
        let blob_rows_bytes = blobs * 9 - 1; // `["AA=="]` and commas
        let text_row_bytes = 1 + 8; // `,["text"]`
        let tight = budget_for(blob_rows_bytes + text_row_bytes);
        let mut sink = RowSink::new(
            RowFormat::Arrays,
            names(&["v"]),
            100,
            tight,
            BlobSource::ByValue,
        );
        for _ in 0..blobs {
            assert_eq!(sink.push_stored(&[json!("AA==")], &[true]), Flow::More);
        }
        // The row itself fits, but not with the list it brings: refused, marks unchanged.
        assert_eq!(sink.push_stored(&[json!("text")], &[false]), Flow::Stop);
        assert_eq!(sink.truncated(), Some(TruncatedReason::MaxBytes));
        let encoded = sink.finish();
        assert_eq!(encoded.blob_columns, [0]);
        assert!(encoded.blob_values.is_empty());

        // With room for the list, the row is taken, and rows and marks together stay
        // within the budget.
        let listed = format!(
            ",\"blob_values\":{}",
            serde_json::to_string(&(0..blobs).map(|r| [r, 0]).collect::<Vec<_>>()).unwrap()
        );
        let roomy = tight + listed.len();
        let mut sink = RowSink::new(
            RowFormat::Arrays,
            names(&["v"]),
            100,
            roomy,
            BlobSource::ByValue,
        );
        for _ in 0..blobs {
            assert_eq!(sink.push_stored(&[json!("AA==")], &[true]), Flow::More);
        }
        assert_eq!(sink.push_stored(&[json!("text")], &[false]), Flow::More);
        let encoded = sink.finish();
        assert!(encoded.blob_columns.is_empty());
        assert_eq!(encoded.blob_values.len(), blobs);
        let used = encoded.rows.len() + 4 + marks_json(&encoded).len();
        assert!(used <= roomy, "{used} > {roomy}");
    }
}
